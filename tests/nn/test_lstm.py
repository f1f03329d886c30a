"""Tests for the BiLSTM NNX layer: shapes, init, determinism, the kernel
behind it, and the split/merge functional pattern under ``jax.jit``."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from fsnlu_jax.data.arrays import pad_batch
from fsnlu_jax.kernels import LSTMParams, bilstm
from fsnlu_jax.nn import BiLSTM

D, H, L = 5, 3, 7
LENGTHS = (7, 4, 1)


def _batch(seed=0):
  x = np.random.default_rng(seed).normal(size=(len(LENGTHS), L, D)).astype(np.float32)
  _, mask = pad_batch([[1] * n for n in LENGTHS], L)
  return x, mask


def _params(layer: BiLSTM) -> list[np.ndarray]:
  return [np.asarray(p[...]) for p in jax.tree.leaves(nnx.state(layer, nnx.Param),
                                                       is_leaf=lambda v: isinstance(v, nnx.Param))]


def test_shapes_and_final_states():
  layer = BiLSTM(D, H, rngs=nnx.Rngs(0))
  assert layer.fwd.w_ih[...].shape == (D, 4 * H)
  assert layer.bwd.w_hh[...].shape == (H, 4 * H)
  assert layer.fwd.b[...].shape == (4 * H,)
  x, mask = _batch()
  out, final = layer(x, mask)
  assert out.shape == (len(LENGTHS), L, 2 * H) and final.shape == (len(LENGTHS), 2 * H)
  for row, n in enumerate(LENGTHS):
    # Forward half: state at the last real token; backward half: at the first.
    np.testing.assert_array_equal(final[row, :H], out[row, n - 1, :H])
    np.testing.assert_array_equal(final[row, H:], out[row, 0, H:])
    np.testing.assert_array_equal(out[row, n:], 0.0)


@pytest.mark.parametrize("forget_bias", [1.0, 0.0])
def test_init_bounds_and_forget_bias(forget_bias):
  layer = BiLSTM(D, H, forget_bias=forget_bias, rngs=nnx.Rngs(0))
  bound = 1.0 / math.sqrt(H)
  for direction in (layer.fwd, layer.bwd):
    assert np.all(np.abs(direction.w_ih[...]) <= bound)
    assert np.all(np.abs(direction.w_hh[...]) <= bound)
    b = np.asarray(direction.b[...])
    offset = np.zeros(4 * H)
    offset[H:2 * H] = forget_bias
    assert np.all(np.abs(b - offset) <= bound)
  assert len(_params(layer)) == 6  # w_ih, w_hh, b per direction.


def test_deterministic_from_seed():
  same = zip(_params(BiLSTM(D, H, rngs=nnx.Rngs(3))), _params(BiLSTM(D, H, rngs=nnx.Rngs(3))))
  for a, b in same:
    np.testing.assert_array_equal(a, b)
  other = zip(_params(BiLSTM(D, H, rngs=nnx.Rngs(3))), _params(BiLSTM(D, H, rngs=nnx.Rngs(4))))
  assert all(not np.array_equal(a, b) for a, b in other)
  # The directions (and each weight) get different draws.
  layer = BiLSTM(D, H, rngs=nnx.Rngs(3))
  assert not np.array_equal(layer.fwd.w_ih[...], layer.bwd.w_ih[...])


def test_delegates_to_kernel_and_ported_weights_are_used():
  layer = BiLSTM(D, H, rngs=nnx.Rngs(1))
  rng = np.random.default_rng(1)
  # Porting weights (e.g. from torch) is a write through ``v[...]``.
  layer.bwd.w_hh[...] = jnp.asarray(rng.normal(size=(H, 4 * H)), jnp.float32)
  x, mask = _batch()
  out, final = layer(x, mask)
  read = lambda d: LSTMParams(d.w_ih[...], d.w_hh[...], d.b[...])
  want, (fwd, bwd) = bilstm(x, mask, read(layer.fwd), read(layer.bwd))
  np.testing.assert_array_equal(out, want)
  np.testing.assert_array_equal(final, np.concatenate([fwd.h, bwd.h], -1))


def test_split_merge_inside_plain_jit_step():
  layer = BiLSTM(D, H, rngs=nnx.Rngs(2))
  x, mask = _batch()
  target = np.random.default_rng(2).normal(size=(len(LENGTHS), 2 * H)).astype(np.float32)
  eager_out, _ = layer(x, mask)
  graphdef, state = nnx.split(layer)
  traces = []

  def loss_fn(state, x, mask):
    _, final = nnx.merge(graphdef, state)(x, mask)
    return jnp.mean((final - target)**2)

  def step(state, x, mask):
    traces.append(1)
    loss, grads = jax.value_and_grad(loss_fn)(state, x, mask)
    return jax.tree.map(lambda p, g: p - 0.5 * g, state, grads), loss

  step = jax.jit(step, donate_argnums=0)
  losses = []
  for _ in range(5):
    state, loss = step(state, x, mask)
    losses.append(float(loss))
  assert len(traces) == 1  # Compiled once for all five steps.
  assert all(np.isfinite(losses)) and losses[-1] < losses[0]
  nnx.update(layer, state)
  _, final = layer(x, mask)
  np.testing.assert_allclose(jnp.mean((final - target)**2), loss_fn(state, x, mask), rtol=1e-6)
  # Forward under jit through merge equals eager on the untrained weights.
  fresh = BiLSTM(D, H, rngs=nnx.Rngs(2))
  g2, s2 = nnx.split(fresh)
  jit_out, _ = jax.jit(lambda s, x, m: nnx.merge(g2, s)(x, m))(s2, x, mask)
  np.testing.assert_allclose(jit_out, eager_out, atol=1e-6)


def test_bfloat16_params():
  layer = BiLSTM(D, H, param_dtype=jnp.bfloat16, rngs=nnx.Rngs(0))
  x, mask = _batch()
  out, final = layer(jnp.asarray(x, jnp.bfloat16), mask)
  assert out.dtype == jnp.bfloat16 and final.dtype == jnp.bfloat16
  assert np.all(np.isfinite(np.asarray(out, np.float32)))
