"""LSTM recurrence over padded batches: one direction, and both.

Shapes: ``B`` batch, ``L`` padded length, ``D`` input width, ``H`` hidden
width. Batches are right-padded: ``mask[b]`` is True on a prefix of
``lengths[b]`` positions and False after it (as
:func:`fsnlu_jax.data.arrays.pad_batch` builds it). The kernels cannot check
this inside ``jit``; a mask with holes or left padding gives wrong results in
the reverse direction.

Gates are packed in PyTorch's order ``i, f, g, o`` (input, forget, cell
candidate, output) along the last axis of ``w_ih``, ``w_hh`` and ``b``, so a
``torch.nn.LSTM`` ports as ``w_ih = weight_ih_l0.T``, ``w_hh = weight_hh_l0.T``,
``b = bias_ih_l0 + bias_hh_l0`` (``*_reverse`` for the backward direction).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp


class LSTMParams(NamedTuple):
  """Weights of one LSTM direction, gates packed ``i, f, g, o``."""

  w_ih: jax.Array  # [D, 4H] input-to-gates.
  w_hh: jax.Array  # [H, 4H] hidden-to-gates.
  b: jax.Array  # [4H] gate bias (PyTorch's two biases summed).


class LSTMState(NamedTuple):
  """The recurrent state carried by :func:`jax.lax.scan`; unpacks as ``(h, c)``."""

  h: jax.Array  # [B, H] hidden state (the output at a real position).
  c: jax.Array  # [B, H] cell state.


def _reverse_within_length(a: jax.Array, lengths: jax.Array) -> jax.Array:
  """Reverses each row's first ``lengths[b]`` steps; padding stays in place.

  The permutation ``t -> lengths - 1 - t`` is its own inverse, so the same
  call un-reverses.

  Args:
    a: ``[B, L, ...]``.
    lengths: ``[B]`` int, real steps per row.

  Returns:
    ``[B, L, ...]``.
  """
  t = jnp.arange(a.shape[1])[None, :]  # --> [1, L]
  idx = jnp.where(t < lengths[:, None], lengths[:, None] - 1 - t, t)  # --> [B, L]
  idx = idx.reshape(idx.shape + (1,) * (a.ndim - 2))
  return jnp.take_along_axis(a, idx, axis=1)


def _cell(w_hh: jax.Array, state: LSTMState, xp_t: jax.Array, m_t: jax.Array):
  """One time step: ``(state, h_t [B, H], gates [B, 4H], tanh(c_t) [B, H])``.

  ``gates`` are the activated ``i, f, g, o``: with ``tanh(c_t)`` and the state
  before the step they are all the backward pass needs.
  """
  z = xp_t + state.h @ w_hh  # --> [B, 4H]
  scale, shift = _gate_affine(w_hh)
  # sigmoid(v) = tanh(v / 2) / 2 + 1/2: all four gates in one elementwise pass.
  gates = jnp.tanh(z * scale) * scale + shift  # --> [B, 4H]
  i, f, g, o = jnp.split(gates, 4, axis=-1)  # --> 4 x [B, H]
  c = f * state.c + i * g
  tanh_c = jnp.tanh(c)
  h = o * tanh_c
  # A padded step must not move the state, so the final state is the one at
  # the last real token whatever the padded length.
  m = m_t[:, None]  # --> [B, 1]
  new = LSTMState(h=jnp.where(m, h, state.h), c=jnp.where(m, c, state.c))
  out = jnp.where(m, h, jnp.zeros_like(h))
  return new, out, gates, tanh_c


def _gate_affine(w_hh: jax.Array) -> tuple[jax.Array, jax.Array]:
  """``(scale, shift)`` ``[4H]``: gates are ``tanh(z * scale) * scale + shift``.

  0.5 and 0.5 on the sigmoid gates ``i, f, o``, 1 and 0 on the candidate ``g``.
  """
  h = w_hh.shape[-2]
  is_g = (jnp.arange(4 * h) // h) == 2
  return jnp.where(is_g, 1.0, 0.5).astype(w_hh.dtype), jnp.where(is_g, 0.0, 0.5).astype(w_hh.dtype)


def _step(w_hh: jax.Array, state: LSTMState, inputs: tuple[jax.Array, jax.Array]):
  """One time step: ``(state, (xp_t [B, 4H], m_t [B])) -> (state, h_t [B, H])``."""
  new, out, _, _ = _cell(w_hh, state, *inputs)
  return new, out


@functools.partial(jax.custom_vjp, nondiff_argnums=(4,))
def _recurrence(xp: jax.Array, mask_t: jax.Array, w_hh: jax.Array, initial: LSTMState,
                unroll: int) -> tuple[jax.Array, LSTMState]:
  """The scan over time: ``xp [L, B, 4H]``, ``mask_t [L, B]`` -> ``(out [L, B, H], final)``.

  Its gradient is written by hand (:func:`_recurrence_bwd`) rather than
  derived: autodiff of the scan stores about 16 ``[B, H]`` residuals per step
  and accumulates ``d w_hh`` with a ``[H, B] x [B, 4H]`` product inside the
  loop; the hand-written pass stores 7 and forms ``d w_hh`` with one
  ``[H, L*B] x [L*B, 4H]`` product after it. (Reverse mode only: ``jax.jvp``
  of a ``custom_vjp`` is not defined.)
  """
  step = lambda s, inp: _step(w_hh, s, inp)
  final, out = jax.lax.scan(step, initial, (xp, mask_t), unroll=unroll)
  return out, final


def _recurrence_fwd(xp, mask_t, w_hh, initial, unroll):
  def step(state, inputs):
    new, out, gates, tanh_c = _cell(w_hh, state, *inputs)
    return new, (out, gates, tanh_c, state)

  final, (out, gates, tanh_c, before) = jax.lax.scan(step, initial, (xp, mask_t), unroll=unroll)
  xp_dtype = jnp.zeros((0,), xp.dtype)  # residuals must be arrays; this one carries a dtype
  return (out, final), (mask_t, w_hh, gates, tanh_c, before, xp_dtype, initial)


def _backward_step(w_hh: jax.Array, carry: LSTMState, inputs):
  """One step back: ``carry`` holds ``(dL/dh, dL/dc)`` after the step; returns
  them before it, and ``dL/dz`` ``[B, 4H]`` (zero at padding)."""
  d_out, gates, tanh_c, c_before, m_t = inputs
  i, f, g, o = jnp.split(gates, 4, axis=-1)  # --> 4 x [B, H]
  m = m_t[:, None]  # --> [B, 1]
  dh = carry.h + d_out  # the output is h itself at a real step
  dc = carry.c + dh * o * (1 - tanh_c * tanh_c)
  scale, shift = _gate_affine(w_hh)
  # d gates / d z = scale^2 - (gates - shift)^2: s (1 - s) for a sigmoid, 1 - g^2 for g.
  dz = jnp.concatenate([dc * g, dc * c_before, dc * i, dh * tanh_c], axis=-1) * (
      scale * scale - jnp.square(gates - shift))
  dz = jnp.where(m, dz, jnp.zeros_like(dz))  # --> [B, 4H]
  # A padded step passed the state through unchanged, so it passes the
  # gradient through unchanged.
  back = LSTMState(h=jnp.where(m, dz @ w_hh.T, carry.h), c=jnp.where(m, dc * f, carry.c))
  return back, dz


def _recurrence_bwd(unroll, residuals, cotangents):
  mask_t, w_hh, gates, tanh_c, before, xp_dtype, initial = residuals
  d_out, d_final = cotangents
  # Same carry typing as in _scan_forward, for shard_map.
  zero = jnp.zeros_like(tanh_c[0]) + jnp.zeros_like(w_hh[:1, :w_hh.shape[0]])  # --> [B, H]
  zero = zero + jnp.zeros_like(d_out[0])
  carry = LSTMState(*(d.astype(zero.dtype) + zero for d in d_final))
  step = lambda s, inp: _backward_step(w_hh, s, inp)
  d_initial, dz = jax.lax.scan(step, carry, (d_out, gates, tanh_c, before.c, mask_t),
                               reverse=True, unroll=unroll)  # dz: [L, B, 4H]
  d_w_hh = jnp.einsum("lbh,lbg->hg", before.h, dz).astype(w_hh.dtype)  # --> [H, 4H]
  d_initial = LSTMState(*(d.astype(s.dtype) for d, s in zip(d_initial, initial)))
  return dz.astype(xp_dtype.dtype), None, d_w_hh, d_initial


_recurrence.defvjp(_recurrence_fwd, _recurrence_bwd)


def _scan_forward(params: LSTMParams, x: jax.Array, mask: jax.Array,
                  initial: LSTMState, unroll: int) -> tuple[jax.Array, LSTMState]:
  """Left-to-right recurrence; see :func:`lstm_scan` for shapes."""
  # Hoisted: one [L*B, D] x [D, 4H] matmul instead of L small ones. Moving
  # time first on x (D wide), not on the product (4H wide), is the cheaper copy.
  xp = jnp.einsum("lbd,dg->lbg", jnp.swapaxes(x, 0, 1), params.w_ih) + params.b  # --> [L, B, 4H]
  return _scan_projected(xp, mask, params.w_hh, initial, unroll)


def _scan_projected(xp: jax.Array, mask: jax.Array, w_hh: jax.Array, initial: LSTMState,
                    unroll: int) -> tuple[jax.Array, LSTMState]:
  """The recurrence from time-major projections ``xp`` ``[L, B, 4H]`` -> ``([B, L, H], final)``."""
  # Under shard_map the carry turns device-varying after one step (inputs and
  # weights are); zeros_like keeps that type, so adding them types the
  # initial carry the same way (a no-op outside shard_map), else scan refuses.
  h = w_hh.shape[-2]
  zero = jnp.zeros_like(xp[0, :, :h]) + jnp.zeros_like(w_hh[:1, :h])  # --> [B, H]
  initial = jax.tree.map(lambda s: s + zero.astype(s.dtype), initial)
  out, final = _recurrence(xp, mask.T, w_hh, initial, unroll)  # out: [L, B, H]
  return jnp.swapaxes(out, 0, 1), final  # --> [B, L, H]


def _zero_state(x: jax.Array, w_hh: jax.Array) -> LSTMState:
  """Zeros ``[B, H]`` in the dtype the step computes in, so the carry type is stable."""
  zeros = jnp.zeros((x.shape[0], w_hh.shape[-2]), dtype=jnp.result_type(x, w_hh))
  return LSTMState(h=zeros, c=zeros)


def lstm_scan(x: jax.Array, mask: jax.Array, w_ih: jax.Array, w_hh: jax.Array,
              b: jax.Array, *, reverse: bool = False,
              initial: tuple[jax.Array, jax.Array] | None = None,
              unroll: int = 1) -> tuple[jax.Array, LSTMState]:
  """Runs one LSTM direction over a right-padded batch.

  The input projection ``x @ w_ih + b`` is computed for all steps at once;
  the :func:`jax.lax.scan` over time does only ``h @ w_hh``. Where ``mask``
  is False the state is carried unchanged and the output is zero, so a padded
  row gives exactly the result of its unpadded sequence. With
  ``reverse=True`` each row runs from its own last real token back to its
  first (not from the padded end).

  >>> import jax.numpy as jnp
  >>> x, mask = jnp.ones((2, 3, 4)), jnp.array([[1, 1, 1], [1, 1, 0]], bool)
  >>> w_ih, w_hh, b = jnp.full((4, 8), 0.1), jnp.full((2, 8), 0.1), jnp.zeros(8)
  >>> out, (h, c) = lstm_scan(x, mask, w_ih, w_hh, b, reverse=True)
  >>> out.shape, h.shape, float(out[1, 2, 0])
  ((2, 3, 2), (2, 2), 0.0)

  Args:
    x: ``[B, L, D]`` inputs.
    mask: ``[B, L]`` bool, True on real positions, a prefix of each row.
    w_ih: ``[D, 4H]`` input-to-gates weights, gates ``i, f, g, o``.
    w_hh: ``[H, 4H]`` hidden-to-gates weights.
    b: ``[4H]`` gate bias.
    reverse: run each sequence from its last real token to its first.
    initial: ``(h0, c0)``, each ``[B, H]``; zeros when None. In reverse it is
      the state before the last real token.
    unroll: steps per loop iteration of the scan (a speed knob, same result).

  Returns:
    ``(outputs, (h, c))``: ``outputs`` ``[B, L, H]``, zero at padding, in the
    input's time order; ``h``, ``c`` ``[B, H]``, the state after the last
    step the direction processed (the last real token forwards, the first
    token in reverse).

  References:
    Hochreiter & Schmidhuber, "Long Short-Term Memory", Neural Computation 1997.
  """
  mask = mask.astype(bool)
  params = LSTMParams(w_ih=w_ih, w_hh=w_hh, b=b)
  state = _zero_state(x, w_hh) if initial is None else LSTMState(*initial)
  if not reverse:
    return _scan_forward(params, x, mask, state, unroll)
  lengths = mask.sum(axis=1)  # --> [B]
  # Reversing within length keeps the mask a prefix, so the reversed batch is
  # an ordinary forward problem.
  out, final = _scan_forward(params, _reverse_within_length(x, lengths), mask, state, unroll)
  return _reverse_within_length(out, lengths), final


def bilstm(x: jax.Array, mask: jax.Array, params_fwd: LSTMParams, params_bwd: LSTMParams,
           *, unroll: int = 1) -> tuple[jax.Array, tuple[LSTMState, LSTMState]]:
  """Runs a bidirectional LSTM layer and concatenates the two directions.

  Both directions run in one scan (vmapped over a leading direction axis),
  so the layer costs ``L`` sequential steps rather than ``2L``. The results
  equal two :func:`lstm_scan` calls.

  >>> import jax.numpy as jnp
  >>> p = LSTMParams(jnp.full((4, 8), 0.1), jnp.full((2, 8), 0.1), jnp.zeros(8))
  >>> out, (fwd, bwd) = bilstm(jnp.ones((2, 3, 4)), jnp.ones((2, 3), bool), p, p)
  >>> out.shape, fwd.h.shape
  ((2, 3, 4), (2, 2))

  Args:
    x: ``[B, L, D]`` inputs.
    mask: ``[B, L]`` bool, True on real positions, a prefix of each row.
    params_fwd: :class:`LSTMParams` of the left-to-right direction.
    params_bwd: :class:`LSTMParams` of the right-to-left direction.
    unroll: steps per loop iteration of the scan.

  Returns:
    ``(outputs, (fwd, bwd))``: ``outputs`` ``[B, L, 2H]``, forward features
    first, zero at padding; ``fwd``, ``bwd`` the final :class:`LSTMState`
    of each direction (each ``[B, H]``), as in :func:`lstm_scan`. The
    sentence vector of Goyal et al. is ``concat([fwd.h, bwd.h], -1)``.

  References:
    Goyal, Metallinou & Matsoukas, "Fast and Scalable Expansion of Natural
    Language Understanding Functionality for Intelligent Agents", NAACL 2018.
  """
  mask = mask.astype(bool)
  lengths = mask.sum(axis=1)  # --> [B]
  xs = jnp.stack([x, _reverse_within_length(x, lengths)])  # --> [2, B, L, D]
  params = jax.tree.map(lambda f, b: jnp.stack([f, b]), LSTMParams(*params_fwd),
                        LSTMParams(*params_bwd))  # each --> [2, ...]
  state = _zero_state(x, params.w_hh)
  run = lambda p, xd: _scan_forward(p, xd, mask, state, unroll)
  return _join_directions(*jax.vmap(run)(params, xs), lengths)


def _join_directions(out: jax.Array, final: LSTMState, lengths: jax.Array):
  """``out`` ``[2, B, L, H]`` (backward reversed within length) -> :func:`bilstm`'s results."""
  out_bwd = _reverse_within_length(out[1], lengths)
  fwd, bwd = jax.tree.map(lambda a: a[0], final), jax.tree.map(lambda a: a[1], final)
  return jnp.concatenate([out[0], out_bwd], axis=-1), (fwd, bwd)  # --> [B, L, 2H]


def bilstm_projection(x: jax.Array, params_fwd: LSTMParams, params_bwd: LSTMParams) -> jax.Array:
  """Both directions' input projections ``x @ w_ih + b``, token by token.

  The only part of a bi-LSTM layer that is affine in its input:
  ``bilstm_from_projection(bilstm_projection(x, f, b), mask, f.w_hh, b.w_hh)``
  equals ``bilstm(x, mask, f, b)``. Integrated gradients uses the split to
  pay for the projection once per example instead of once per path step
  (:func:`fsnlu_jax.kernels.integrated_gradients`, ``prefix``).

  Args:
    x: ``[B, L, D]`` inputs.
    params_fwd, params_bwd: :class:`LSTMParams` of the two directions.

  Returns:
    ``[B, L, 2, 4H]``: forward then backward direction, in the input's time order.
  """
  w = jnp.stack([params_fwd.w_ih, params_bwd.w_ih], axis=1)  # --> [D, 2, 4H]
  b = jnp.stack([params_fwd.b, params_bwd.b])  # --> [2, 4H]
  return jnp.einsum("bld,dkg->blkg", x, w) + b  # --> [B, L, 2, 4H]


def bilstm_from_projection(xp: jax.Array, mask: jax.Array, w_hh_fwd: jax.Array,
                           w_hh_bwd: jax.Array, *, unroll: int = 1
                           ) -> tuple[jax.Array, tuple[LSTMState, LSTMState]]:
  """:func:`bilstm` from :func:`bilstm_projection`'s output.

  Args:
    xp: ``[B, L, 2, 4H]`` input projections of both directions.
    mask: ``[B, L]`` bool, True on real positions, a prefix of each row.
    w_hh_fwd, w_hh_bwd: ``[H, 4H]`` hidden-to-gates weights of each direction.
    unroll: steps per loop iteration of the scan.

  Returns:
    As :func:`bilstm`.
  """
  mask = mask.astype(bool)
  lengths = mask.sum(axis=1)  # --> [B]
  xps = jnp.stack([xp[:, :, 0], _reverse_within_length(xp[:, :, 1], lengths)])  # --> [2, B, L, 4H]
  xps = jnp.swapaxes(xps, 1, 2)  # --> [2, L, B, 4H]
  w_hh = jnp.stack([w_hh_fwd, w_hh_bwd])  # --> [2, H, 4H]
  state = _zero_state(xp, w_hh)
  run = lambda w, xd: _scan_projected(xd, mask, w, state, unroll)
  return _join_directions(*jax.vmap(run)(w_hh, xps), lengths)
