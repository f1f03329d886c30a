"""Oracle tests for the LSTM scan kernels: a NumPy per-step loop, per-sequence
runs without padding, and ``torch.nn.LSTM`` (its outputs stored in
tests/fixtures/lstm_reference.npz, so no torch is needed here)."""

from __future__ import annotations

import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fsnlu_jax.data.arrays import pad_batch
from fsnlu_jax.kernels import (LSTMParams, LSTMState, bilstm, bilstm_from_projection,
                               bilstm_projection, lstm_scan)

FIXTURES = pathlib.Path(__file__).parents[1] / "fixtures"
D, H = 3, 4
LENGTHS = (6, 3, 1, 0, 5)  # One full row, one empty row.
L = 6


def _params(seed: int) -> LSTMParams:
  rng = np.random.default_rng(seed)
  draw = lambda *shape: rng.uniform(-0.8, 0.8, shape).astype(np.float32)
  return LSTMParams(w_ih=draw(D, 4 * H), w_hh=draw(H, 4 * H), b=draw(4 * H))


def _batch(lengths=LENGTHS, length=L, seed=0):
  """``x [B, L, D]`` float32 with nonzero padding, ``mask [B, L]`` right-padded."""
  rng = np.random.default_rng(seed)
  # Padding holds garbage on purpose: the kernel must not read it.
  x = rng.normal(size=(len(lengths), length, D)).astype(np.float32)
  _, mask = pad_batch([[1] * n for n in lengths], length)
  return x, mask


def _oracle(x, params, reverse=False, h0=None, c0=None):
  """Plain loop over one unpadded sequence ``x [T, D]`` in float64."""
  w_ih, w_hh, b = (np.asarray(a, np.float64) for a in params)
  sig = lambda v: 1.0 / (1.0 + np.exp(-v))
  h = np.zeros(H) if h0 is None else np.asarray(h0, np.float64)
  c = np.zeros(H) if c0 is None else np.asarray(c0, np.float64)
  out = np.zeros((len(x), H))
  for t in (reversed(range(len(x))) if reverse else range(len(x))):
    z = x[t] @ w_ih + h @ w_hh + b
    i, f, g, o = z[:H], z[H:2 * H], z[2 * H:3 * H], z[3 * H:]
    c = sig(f) * c + sig(i) * np.tanh(g)
    h = sig(o) * np.tanh(c)
    out[t] = h
  return out, h, c


@pytest.mark.parametrize("reverse", [False, True])
def test_padded_batch_matches_loop_oracle(reverse):
  params, (x, mask) = _params(1), _batch()
  out, (h, c) = lstm_scan(x, mask, *params, reverse=reverse)
  for row, n in enumerate(LENGTHS):
    want, want_h, want_c = _oracle(x[row, :n], params, reverse=reverse)
    np.testing.assert_allclose(out[row, :n], want, atol=1e-5)
    np.testing.assert_array_equal(out[row, n:], 0.0)  # Exactly zero at padding.
    np.testing.assert_allclose(h[row], want_h, atol=1e-5)
    np.testing.assert_allclose(c[row], want_c, atol=1e-5)


@pytest.mark.parametrize("reverse", [False, True])
def test_padded_rows_equal_each_sequence_alone(reverse):
  params, (x, mask) = _params(2), _batch()
  out, (h, c) = lstm_scan(x, mask, *params, reverse=reverse)
  for row, n in enumerate(LENGTHS):
    if n == 0:
      continue
    alone, (h1, c1) = lstm_scan(x[row:row + 1, :n], np.ones((1, n), bool), *params,
                                reverse=reverse)
    np.testing.assert_allclose(out[row, :n], alone[0], atol=1e-6)
    np.testing.assert_allclose(h[row], h1[0], atol=1e-6)
    np.testing.assert_allclose(c[row], c1[0], atol=1e-6)


@pytest.mark.parametrize("reverse", [False, True])
def test_final_state_is_state_at_last_real_token(reverse):
  params, (x, mask) = _params(3), _batch()
  out, (h, _) = lstm_scan(x, mask, *params, reverse=reverse)
  for row, n in enumerate(LENGTHS):
    last = 0 if reverse else n - 1
    np.testing.assert_array_equal(h[row], out[row, last] if n else np.zeros(H))
  # More padding changes nothing.
  x_long = np.concatenate([x, np.ones_like(x)], axis=1)
  mask_long = np.concatenate([mask, np.zeros_like(mask)], axis=1)
  out_long, (h_long, _) = lstm_scan(x_long, mask_long, *params, reverse=reverse)
  np.testing.assert_allclose(out_long[:, :L], out, atol=1e-6)
  np.testing.assert_allclose(h_long, h, atol=1e-6)


@pytest.mark.parametrize("reverse", [False, True])
def test_initial_state(reverse):
  params, (x, mask) = _params(4), _batch()
  rng = np.random.default_rng(4)
  h0, c0 = (rng.normal(size=(len(LENGTHS), H)).astype(np.float32) for _ in range(2))
  out, (h, c) = lstm_scan(x, mask, *params, reverse=reverse, initial=(h0, c0))
  for row, n in enumerate(LENGTHS):
    want, want_h, want_c = _oracle(x[row, :n], params, reverse, h0[row], c0[row])
    np.testing.assert_allclose(out[row, :n], want, atol=1e-5)
    np.testing.assert_allclose(h[row], want_h, atol=1e-5)
    np.testing.assert_allclose(c[row], want_c, atol=1e-5)


def test_masked_steps_are_skipped_in_both_directions():
  """Left padding and holes: a masked step leaves the state as it was, so each
  direction sees exactly the row's real tokens in order (the reverse direction
  runs over the flipped row, not a per-row reversal that assumes right padding)."""
  params, (x, _) = _params(5), _batch()
  masks = np.zeros((2, L), bool)
  masks[0, L - 3:] = True  # left padding
  masks[1, [0, 2, 3, L - 1]] = True  # holes
  for reverse in (False, True):
    out, (h, _) = lstm_scan(x[:2], masks, *params, reverse=reverse)
    for row in range(2):
      real = np.flatnonzero(masks[row])
      want, want_h, _ = _oracle(x[row, real], params, reverse=reverse)
      np.testing.assert_allclose(out[row, real], want, atol=1e-5)
      np.testing.assert_allclose(h[row], want_h, atol=1e-5)
      np.testing.assert_array_equal(out[row, ~masks[row]], 0.0)


def test_bilstm_is_two_directions_concatenated():
  p_fwd, p_bwd, (x, mask) = _params(6), _params(7), _batch()
  out, (fwd, bwd) = bilstm(x, mask, p_fwd, p_bwd)
  want_f, want_fs = lstm_scan(x, mask, *p_fwd)
  want_b, want_bs = lstm_scan(x, mask, *p_bwd, reverse=True)
  assert out.shape == (len(LENGTHS), L, 2 * H)
  np.testing.assert_allclose(out, np.concatenate([want_f, want_b], -1), atol=1e-6)
  for got, want in ((fwd, want_fs), (bwd, want_bs)):
    assert isinstance(got, LSTMState)
    np.testing.assert_allclose(got.h, want.h, atol=1e-6)
    np.testing.assert_allclose(got.c, want.c, atol=1e-6)


def test_bilstm_from_its_projection_equals_bilstm():
  p_fwd, p_bwd, (x, mask) = _params(6), _params(7), _batch()
  xp = bilstm_projection(x, p_fwd, p_bwd)
  assert xp.shape == (len(LENGTHS), L, 2, 4 * H)
  # Affine token by token: the map integrated gradients relies on.
  np.testing.assert_allclose(xp[:, :, 0], x @ p_fwd.w_ih + p_fwd.b, rtol=1e-6, atol=1e-6)
  np.testing.assert_allclose(xp[:, :, 1], x @ p_bwd.w_ih + p_bwd.b, rtol=1e-6, atol=1e-6)
  got = bilstm_from_projection(xp, mask, p_fwd.w_hh, p_bwd.w_hh)
  want = bilstm(x, mask, p_fwd, p_bwd)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-6), got, want)
  # And its gradient to the projection, through the hand-written backward pass.
  loss = lambda xp: jnp.sum(jnp.sin(bilstm_from_projection(xp, mask, p_fwd.w_hh, p_bwd.w_hh)[0]))
  want_loss = lambda x: jnp.sum(jnp.sin(bilstm(x, mask, p_fwd, p_bwd)[0]))
  g_xp = jax.grad(loss)(xp)  # --> [B, L, 2, 4H]
  g_x = jnp.einsum("blg,dg->bld", g_xp[:, :, 0], p_fwd.w_ih) + jnp.einsum(
      "blg,dg->bld", g_xp[:, :, 1], p_bwd.w_ih)
  np.testing.assert_allclose(g_x, jax.grad(want_loss)(x), rtol=1e-5, atol=1e-6)


def test_matches_torch_bidirectional_packed():
  """Against ``torch.nn.LSTM`` on a packed batch (tests/fixtures/make_lstm_reference.py)."""
  ref = np.load(FIXTURES / "lstm_reference.npz")
  port = lambda s: LSTMParams(ref[f"weight_ih_l0{s}"].T, ref[f"weight_hh_l0{s}"].T,
                              ref[f"bias_ih_l0{s}"] + ref[f"bias_hh_l0{s}"])
  p_fwd, p_bwd = port(""), port("_reverse")
  x = ref["x"]
  _, mask = pad_batch([[1] * n for n in ref["lengths"]], x.shape[1])
  assert (~mask).any() and np.abs(x[~mask]).min() > 0  # torch's padding holds garbage
  out, (fwd, bwd) = bilstm(x, mask, p_fwd, p_bwd)
  np.testing.assert_allclose(out, ref["zero_out"], atol=1e-5)
  np.testing.assert_allclose(np.stack([fwd.h, bwd.h]), ref["zero_h"], atol=1e-5)
  np.testing.assert_allclose(np.stack([fwd.c, bwd.c]), ref["zero_c"], atol=1e-5)
  # torch's (h0, c0) is [direction, B, H]; each direction starts from its own.
  for d, (params, reverse) in enumerate(((p_fwd, False), (p_bwd, True))):
    h_size = params.w_hh.shape[0]
    out, (h, c) = lstm_scan(x, mask, *params, reverse=reverse,
                            initial=(ref["h0"][d], ref["c0"][d]))
    np.testing.assert_allclose(out, ref["initial_out"][..., d * h_size:(d + 1) * h_size],
                               atol=1e-5)
    np.testing.assert_allclose(h, ref["initial_h"][d], atol=1e-5)
    np.testing.assert_allclose(c, ref["initial_c"][d], atol=1e-5)


def test_jit_equals_eager_and_compiles_once():
  p_fwd, p_bwd, (x, mask) = _params(8), _params(9), _batch()
  traces = []

  def run(x, mask, p_fwd, p_bwd):
    traces.append(1)  # Runs only while tracing.
    return bilstm(x, mask, p_fwd, p_bwd)

  jitted = jax.jit(run)
  got = jitted(x, mask, p_fwd, p_bwd)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-6), got,
               bilstm(x, mask, p_fwd, p_bwd))
  _, mask2 = _batch(lengths=(1, 2, 3, 4, 5))  # Same shapes, other values.
  jitted(x + 1.0, mask2, p_bwd, p_fwd)
  assert len(traces) == 1
  assert jitted._cache_size() == 1  # pylint: disable=protected-access

  scan = jax.jit(lstm_scan, static_argnames=("reverse", "unroll"))
  for reverse in (False, True):
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-6),
                 scan(x, mask, *p_fwd, reverse=reverse, unroll=2),
                 lstm_scan(x, mask, *p_fwd, reverse=reverse))


def test_gradients_finite_and_blind_to_padding():
  p_fwd, p_bwd, (x, mask) = _params(10), _params(11), _batch()

  def loss(x, p_fwd, p_bwd):
    out, (fwd, bwd) = bilstm(x, mask, p_fwd, p_bwd)
    return jnp.sum(out**2) + jnp.sum(fwd.h * bwd.h) + jnp.sum(fwd.c + bwd.c)

  g_x, g_fwd, g_bwd = jax.jit(jax.grad(loss, argnums=(0, 1, 2)))(x, p_fwd, p_bwd)
  for g in jax.tree.leaves((g_x, g_fwd, g_bwd)):
    assert np.all(np.isfinite(g)) and np.any(g != 0)
  # Nothing flows to padded inputs: they never touch the result.
  np.testing.assert_array_equal(np.asarray(g_x)[~mask], 0.0)


@pytest.mark.parametrize("kind", ["forward", "reverse", "bilstm"])
def test_hand_written_gradient_matches_autodiff_of_the_scan(kind, monkeypatch):
  """The recurrence's custom VJP equals autodiff of a plain ``lax.scan`` of ``_step``,
  for one direction (with an initial state) and for both in one loop."""
  from fsnlu_jax.kernels import _lstm  # pylint: disable=g-import-not-at-top
  params, (x, mask) = _params(12), _batch()
  rng = np.random.default_rng(12)
  h0, c0 = (rng.normal(size=(len(LENGTHS), H)).astype(np.float32) for _ in range(2))
  w = rng.normal(size=(len(LENGTHS), L, 2 * H if kind == "bilstm" else H)).astype(np.float32)
  p_bwd = _params(13)

  # Unused arguments (p_bwd for one direction; h0, c0 for bilstm, which has no
  # initial state) get zero gradients on both sides.
  def loss(x, params, h0, c0, p_bwd):
    if kind == "bilstm":
      out, (fwd, bwd) = bilstm(x, mask, params, p_bwd)
      h, c = fwd.h + bwd.h, fwd.c * bwd.c
    else:
      out, (h, c) = lstm_scan(x, mask, *params, reverse=kind == "reverse", initial=(h0, c0))
    return jnp.sum(out * w) + jnp.sum(h * c) + jnp.sum(jnp.sin(c))

  grad = jax.jit(jax.grad(loss, argnums=(0, 1, 2, 3, 4)))
  got = grad(x, params, h0, c0, p_bwd)

  def plain(xp, mask_t, w_hh, b, initial, unroll):
    def step(states, inputs):  # autodiff of the scan, no custom_vjp
      return tuple(zip(*(_lstm._step(w, bias, s, inp)  # pylint: disable=protected-access
                         for w, bias, s, inp in zip(w_hh, b, states, inputs))))
    final, out = jax.lax.scan(step, initial, tuple(zip(xp, mask_t)), unroll=unroll)
    return out, final

  monkeypatch.setattr(_lstm, "_recurrence", plain)
  want = jax.grad(loss, argnums=(0, 1, 2, 3, 4))(x, params, h0, c0, p_bwd)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5), got, want)
