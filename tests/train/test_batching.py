"""Fixed-size chunks with one padding rule, dispatched before any read-back; the epoch order."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fsnlu_jax import parallel, train


def test_chunks_cover_the_rows_once_and_pad_with_the_chunks_first_row():
  got = list(train.chunks(7, 3))
  assert [c.rows.tolist() for c in got] == [[0, 1, 2], [3, 4, 5], [6, 6, 6]]
  assert [c.real for c in got] == [3, 3, 1]
  assert list(train.chunks(0, 3)) == []
  with pytest.raises(ValueError):
    list(train.chunks(3, 0))


def test_map_in_chunks_equals_one_call_in_order_and_compiles_once():
  traces = []

  @jax.jit
  def fn(chunk):
    traces.append(1)  # runs only while tracing
    x, y = chunk
    return {"sum": x.sum(-1) + y, "rows": x * 2}

  rng = np.random.default_rng(0)
  x, y = rng.normal(size=(11, 3)).astype(np.float32), np.arange(11, dtype=np.float32)
  out = train.map_in_chunks(fn, (x, y), 4)
  np.testing.assert_allclose(out["sum"], x.sum(-1) + y, rtol=1e-6)
  np.testing.assert_array_equal(out["rows"], x * 2)
  assert isinstance(out["sum"], np.ndarray) and len(traces) == 1  # the short chunk was padded
  train.map_in_chunks(fn, (x[:5], y[:5]), 4)
  assert len(traces) == 1  # no recompilation on the second call


def test_map_in_chunks_of_no_rows_gives_empty_outputs_of_the_right_shape():
  out = train.map_in_chunks(lambda c: (jnp.zeros((len(c), 5)), c[:, 0].astype(jnp.int32)),
                            np.zeros((0, 2), np.float32), 4)
  assert out[0].shape == (0, 5) and out[1].shape == (0,) and out[1].dtype == np.int32


def test_epoch_rows_cover_each_epoch_and_depend_only_on_the_step():
  n, b = 10, 4
  epoch = np.concatenate([train.epoch_rows(s, n, b, seed=3) for s in range(3)])
  assert sorted(epoch.tolist()) == list(range(n))
  np.testing.assert_array_equal(train.epoch_rows(4, n, b, seed=3),
                                train.epoch_rows(4, n, b, seed=3))


def test_to_global_shards_the_batch_over_the_mesh():
  mesh = parallel.make_data_mesh()
  batch = train.to_global({"x": np.arange(16).reshape(8, 2)}, mesh)
  assert batch["x"].sharding.spec == parallel.data_sharding(mesh).spec
  np.testing.assert_array_equal(train.to_host(batch["x"]), np.arange(16).reshape(8, 2))
