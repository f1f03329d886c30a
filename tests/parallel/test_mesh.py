"""The test process sees 8 simulated CPU devices, and batches shard over them."""

import jax
import jax.numpy as jnp
import numpy as np

from fsnlu_jax import parallel


def test_eight_simulated_devices():
  assert jax.device_count() == 8, "tests/conftest.py must set jax_num_cpu_devices before JAX starts"


def test_batch_shards_over_the_data_axis_and_sums_like_one_device():
  mesh = parallel.make_data_mesh()
  batch = np.arange(16 * 3, dtype=np.float32).reshape(16, 3)
  sharded = jax.device_put(batch, parallel.data_sharding(mesh))
  assert len(sharded.addressable_shards) == 8
  assert all(s.data.shape == (2, 3) for s in sharded.addressable_shards)
  weights = jax.device_put(np.ones(3, np.float32), parallel.replicated(mesh))
  total = jax.jit(lambda x, w: jnp.sum(x @ w))(sharded, weights)
  np.testing.assert_allclose(total, (batch @ np.ones(3)).sum())
