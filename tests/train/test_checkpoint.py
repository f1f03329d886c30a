"""Orbax checkpoints: round trip, retention, and a SIGKILLed run resumed exactly."""

from __future__ import annotations

import signal
import subprocess
import sys

import jax
import numpy as np
import optax
import pytest

from fsnlu_jax import parallel, train
from . import _toy


def _state(seed: int):
  mesh = parallel.make_data_mesh()
  opt = optax.adam(1e-2)
  graphdef, state = train.init_train_state(_toy.make_model(seed), opt, jax.random.key(seed), mesh)
  return graphdef, opt, mesh, state


def test_save_every_n_keep_last_and_restore_into_same_shardings(tmp_path):
  graphdef, opt, mesh, state = _state(0)
  step = train.make_train_step(graphdef, _toy.loss_fn, opt, mesh)
  gen, data = np.random.default_rng(5), _toy.dataset()
  with train.Checkpointer(tmp_path, every=2, max_to_keep=2, async_save=False) as ckpt:
    for _ in range(5):
      state, _ = step(state, jax.device_put(_toy.next_batch(gen, data), parallel.data_sharding(mesh)))
      ckpt.save(state, {"rng": train.generator_state(gen), "epoch": 0})
    assert ckpt.all_steps() == [2, 4]
    saved_at_4 = train.generator_state(gen)  # not the same: step 5 drew one more batch
    _, _, _, fresh = _state(1)  # other values, same structure
    restored, data_state = train.restore_or_init(ckpt, fresh, {"rng": None})
  assert int(restored.step) == 4 and data_state["epoch"] == 0
  assert data_state["rng"] != saved_at_4
  assert jax.random.key_impl(restored.key) == jax.random.key_impl(state.key)
  np.testing.assert_array_equal(jax.random.key_data(restored.key), jax.random.key_data(state.key))
  for got, like in zip(jax.tree.leaves(restored), jax.tree.leaves(fresh)):
    assert got.sharding == like.sharding
  # Continuing from the restored step 4 with the restored generator redoes step 5.
  again, _ = step(restored, jax.device_put(
      _toy.next_batch(train.generator_from_state(data_state["rng"]), data),
      parallel.data_sharding(mesh)))
  for a, b in zip(jax.tree.leaves(again.params), jax.tree.leaves(state.params)):
    np.testing.assert_array_equal(a, b)


def test_restore_or_init_without_checkpoint_returns_the_fresh_state(tmp_path):
  _, _, _, state = _state(0)
  with train.Checkpointer(tmp_path, every=1) as ckpt:
    got, data_state = train.restore_or_init(ckpt, state, {"rng": 1})
  assert got is state and data_state == {"rng": 1}


def _script(tmp_path, name: str, delay: float) -> list[str]:
  return [sys.executable, _toy.__file__, "--ckpt", str(tmp_path / name), "--out",
          str(tmp_path / f"{name}.npz"), "--steps", "12", "--every", "3", "--delay", str(delay)]


def test_sigkilled_run_resumes_to_the_uninterrupted_result(tmp_path):
  whole = subprocess.Popen(_script(tmp_path, "whole", 0.0), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
  # The delay keeps the victim from finishing before the kill lands.
  victim = subprocess.Popen(_script(tmp_path, "killed", 0.3), stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
  for line in victim.stdout:
    if line.strip() == "done 7":
      victim.send_signal(signal.SIGKILL)
      break
  victim.wait(timeout=60)
  assert victim.returncode == -signal.SIGKILL
  assert not (tmp_path / "killed.npz").exists()

  resumed = subprocess.run(_script(tmp_path, "killed", 0.0), capture_output=True, text=True,
                           timeout=120, check=True)
  start = int(resumed.stdout.splitlines()[0].split()[1])
  assert start in (3, 6), resumed.stdout  # 6, or 3 if the kill hit step 6's async save
  out, _ = whole.communicate(timeout=120)
  assert whole.returncode == 0, out[-3000:]
  expected, got = np.load(tmp_path / "whole.npz"), np.load(tmp_path / "killed.npz")
  assert sorted(got) == sorted(expected)
  for name in expected:
    np.testing.assert_array_equal(got[name], expected[name])


def test_a_checkpoint_of_another_model_size_is_a_clear_error(tmp_path):
  # Issue 19: a rerun with another model size failed with orbax's "strict=False".
  _, _, _, state = _state(0)
  wider = state._replace(params=jax.tree.map(  # the same model, every matrix one column wider
      lambda x: np.zeros((*x.shape[:-1], x.shape[-1] + 1), x.dtype) if x.ndim == 2 else x,
      state.params))
  with train.Checkpointer(tmp_path, every=1, async_save=False) as ckpt:
    ckpt.save(state, {}, force=True)
    with pytest.raises(ValueError, match=r"/0 does not fit this model: it was written for "
                       r"another model size"):
      ckpt.restore(wider)
