"""The data-parallel step: 8 devices = 1 device = plain JAX, compiles once, multi-process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import jax
import numpy as np
import optax
import pytest
from flax import nnx

from fsnlu_jax import parallel, train
from . import _toy


def _deterministic(model, batch, rngs):
  del rngs  # no dropout, so every device layout draws the same function
  return _toy.loss_fn(model, batch, None)


def _padded_batches(steps: int):
  """Batches whose padding (weight 0) piles up on the first devices' rows."""
  gen, data = np.random.default_rng(0), _toy.dataset()
  batches = []
  for _ in range(steps):
    batch = _toy.next_batch(gen, data)
    batch["weight"][:5] = 0.0  # devices 0-2 of 8 hold 2, 2, 1 padding rows
    batches.append(batch)
  return batches


def _train(devices: int, batches):
  mesh = parallel.make_data_mesh(devices)
  opt = optax.adam(1e-2)
  graphdef, state = train.init_train_state(_toy.make_model(), opt, jax.random.key(0), mesh)
  step = train.make_train_step(graphdef, _deterministic, opt, mesh)
  losses = []
  for batch in batches:
    state, metrics = step(state, jax.device_put(batch, parallel.data_sharding(mesh)))
    losses.append(float(metrics["loss"]))
  return state, losses


def _reference(batches):
  """Single-device, no shard_map: Adam on the global weighted mean loss."""
  graphdef, params = nnx.split(_toy.make_model(), nnx.Param)
  opt = optax.adam(1e-2)
  opt_state, losses = opt.init(params), []

  def mean_loss(params, batch):
    loss_sum, aux = _toy.loss_fn(nnx.merge(graphdef, params), batch, None)
    return loss_sum / aux["count"]

  for batch in batches:
    loss, grads = jax.value_and_grad(mean_loss)(params, batch)
    updates, opt_state = opt.update(grads, opt_state, params)
    params, losses = optax.apply_updates(params, updates), losses + [float(loss)]
  return params, losses


def test_eight_devices_match_one_device_and_plain_jax():
  batches = _padded_batches(3)
  one, one_losses = _train(1, batches)
  eight, eight_losses = _train(8, batches)
  ref_params, ref_losses = _reference(batches)
  assert len(eight.params["head"]["kernel"][...].sharding.device_set) == 8
  np.testing.assert_allclose(eight_losses, one_losses, rtol=1e-6)
  np.testing.assert_allclose(eight_losses, ref_losses, rtol=1e-6)
  for a, b, c in zip(jax.tree.leaves(eight.params), jax.tree.leaves(one.params),
                     jax.tree.leaves(ref_params)):
    np.testing.assert_allclose(a, b, atol=1e-6)
    np.testing.assert_allclose(a, c, atol=1e-6)
  assert int(eight.step) == 3


def test_step_traces_once_and_donates_the_state():
  traces = []

  def counting_loss(model, batch, rngs):
    traces.append(1)  # a Python side effect: runs only while tracing
    return _toy.loss_fn(model, batch, rngs)

  mesh = parallel.make_data_mesh()
  opt = optax.sgd(0.1)
  graphdef, state = train.init_train_state(_toy.make_model(), opt, jax.random.key(0), mesh)
  step = train.make_train_step(graphdef, counting_loss, opt, mesh)
  for batch in _padded_batches(4):
    old = state
    state, _ = step(state, jax.device_put(batch, parallel.data_sharding(mesh)))
  assert len(traces) == 1
  assert jax.tree.leaves(old.params)[0].is_deleted()  # donated, buffers reused


def test_dropout_key_differs_per_device_and_per_step():

  def drawing_loss(model, batch, rngs):
    loss_sum, aux = _toy.loss_fn(model, batch, rngs)
    device = jax.lax.axis_index(parallel.DATA_AXIS)
    # One uniform draw per device, at its own slot, so the psum gathers them.
    aux["draws"] = jax.nn.one_hot(device, 8) * jax.random.uniform(rngs.dropout())
    return loss_sum, aux

  mesh = parallel.make_data_mesh()
  opt = optax.sgd(0.1)
  graphdef, state = train.init_train_state(_toy.make_model(), opt, jax.random.key(0), mesh)
  step = train.make_train_step(graphdef, drawing_loss, opt, mesh)
  batch = jax.device_put(_padded_batches(1)[0], parallel.data_sharding(mesh))
  state, first = step(state, batch)
  state, second = step(state, batch)
  assert len(set(np.asarray(first["draws"]).tolist())) == 8
  assert not np.any(np.asarray(first["draws"]) == np.asarray(second["draws"]))


def test_eval_step_is_the_global_weighted_mean():
  mesh = parallel.make_data_mesh()
  opt = optax.sgd(0.1)
  model = _toy.make_model()
  batch = _padded_batches(1)[0]
  expected_sum, expected_aux = _toy.loss_fn(model, batch, None)
  graphdef, state = train.init_train_state(model, opt, jax.random.key(0), mesh)
  metrics = train.make_eval_step(graphdef, _toy.loss_fn, mesh)(
      state, jax.device_put(batch, parallel.data_sharding(mesh)))
  np.testing.assert_allclose(metrics["loss"], expected_sum / 11.0, rtol=1e-6)
  assert float(metrics["count"]) == 11.0
  assert float(metrics["correct"]) == float(expected_aux["correct"])


def test_initialize_distributed_is_a_noop_in_one_process():
  assert not parallel.initialize_distributed(env={})
  assert not parallel.initialize_distributed(env={"SLURM_NTASKS": "1"})
  with pytest.raises(ValueError, match="FSNLU_PROCESS_ID"):
    parallel.initialize_distributed(env={"FSNLU_COORDINATOR": "localhost:1",
                                         "FSNLU_NUM_PROCESSES": "2"})


def test_global_batch_from_local_in_one_process_is_the_whole_batch():
  mesh = parallel.make_data_mesh()
  local = {"x": np.arange(16 * 2, dtype=np.float32).reshape(16, 2)}
  glob = parallel.global_batch_from_local(local, mesh)
  assert glob["x"].shape == (16, 2) and glob["x"].sharding == parallel.data_sharding(mesh)
  np.testing.assert_array_equal(glob["x"], local["x"])


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def test_two_processes_of_four_devices_match_one_process_of_eight(tmp_path):
  port, procs = _free_port(), []
  for i in range(2):
    env = dict(os.environ, FSNLU_COORDINATOR=f"localhost:{port}", FSNLU_NUM_PROCESSES="2",
               FSNLU_PROCESS_ID=str(i))
    procs.append(subprocess.Popen(
        [sys.executable, _toy.__file__, "--ckpt", str(tmp_path / "mp"), "--out",
         str(tmp_path / "mp.npz"), "--devices", "4", "--steps", "6", "--every", "3"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
  for p in procs:
    out, _ = p.communicate(timeout=120)
    assert p.returncode == 0, out[-3000:]
  # Same global batches, same device indices for the dropout keys.
  expected = _toy.run(str(tmp_path / "one"), steps=6, every=3)
  got = np.load(tmp_path / "mp.npz")
  assert sorted(got) == sorted(expected)
  for name, value in expected.items():
    np.testing.assert_allclose(got[name], value, atol=1e-6)
