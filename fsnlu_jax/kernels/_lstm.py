"""LSTM recurrence over padded batches: one direction, and both.

Shapes: ``B`` batch, ``L`` padded length, ``D`` input width, ``H`` hidden
width. ``mask[b]`` is True on row ``b``'s real positions; a masked step leaves
the state as it was and outputs zero, in both directions, so a row gives the
result of its real tokens alone whatever the padding (right padding, as
:func:`fsnlu_jax.data.arrays.pad_batch` builds it, is the usual case).

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


def _cell(w_hh: jax.Array, b: jax.Array, state: LSTMState, xp_t: jax.Array, m_t: jax.Array):
  """One time step: ``(state, h_t [B, H], gates [B, 4H], tanh(c_t) [B, H])``.

  ``xp_t`` is the input projection without the bias ``b`` ``[4H]``, added
  here where it fuses with the step's other elementwise work (added to the
  hoisted projection it costs a second ``[L, B, 4H]`` array). ``gates`` are
  the activated ``i, f, g, o``: with the state before the step they are all
  the backward pass needs.
  """
  z = xp_t + b + state.h @ w_hh  # --> [B, 4H]
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


def _step(w_hh: jax.Array, b: jax.Array, state: LSTMState, inputs: tuple[jax.Array, jax.Array]):
  """One time step: ``(state, (xp_t [B, 4H], m_t [B])) -> (state, h_t [B, H])``."""
  new, out, _, _ = _cell(w_hh, b, state, *inputs)
  return new, out


# The recurrence runs K independent directions (K = 1 for lstm_scan, 2 for
# bilstm) side by side in one loop: each argument is a K-tuple, one entry per
# direction, and each direction reads its own time-major inputs in loop order.
# Directions are kept as separate arrays, not stacked on an axis: stacked
# (vmapped) weights make every matmul a batched one, which XLA:CPU runs at
# about half the rate of two plain ones (measured: the input projection at 46
# against 100 GFLOP/s), and the stacking itself copies the projections.


@functools.partial(jax.custom_vjp, nondiff_argnums=(5,))
def _recurrence(xp: tuple[jax.Array, ...], mask_t: tuple[jax.Array, ...],
                w_hh: tuple[jax.Array, ...], b: tuple[jax.Array, ...],
                initial: tuple[LSTMState, ...],
                unroll: int) -> tuple[tuple[jax.Array, ...], tuple[LSTMState, ...]]:
  """The scan over time of K directions: each ``xp [L, B, 4H]`` (no bias),
  ``mask_t [L, B]``, ``w_hh [H, 4H]``, ``b [4H]``, ``initial`` ``[B, H]`` pair
  -> ``(outs [L, B, H], finals)``.

  Its gradient is written by hand (:func:`_recurrence_bwd`) rather than
  derived: autodiff of the scan stores about 16 ``[B, H]`` residuals per step
  and accumulates ``d w_hh`` with a ``[H, B] x [B, 4H]`` product inside the
  loop; the hand-written pass stores 6 (the activated gates and the state
  before the step; ``tanh(c)`` is recomputed) and forms ``d w_hh`` with one
  ``[H, L*B] x [L*B, 4H]`` product after it. (Reverse mode only: ``jax.jvp``
  of a ``custom_vjp`` is not defined.)
  """
  def step(states, inputs):
    news, outs = zip(*(_step(w, bias, s, inp)
                       for w, bias, s, inp in zip(w_hh, b, states, inputs)))
    return news, outs

  final, out = jax.lax.scan(step, initial, tuple(zip(xp, mask_t)), unroll=unroll)
  return out, final


def _recurrence_fwd(xp, mask_t, w_hh, b, initial, unroll):
  def step(states, inputs):
    news, saved = [], []
    for w, bias, state, (xp_t, m_t) in zip(w_hh, b, states, inputs):
      new, out, gates, _ = _cell(w, bias, state, xp_t, m_t)
      news.append(new)
      saved.append((out, gates, state))
    return tuple(news), tuple(saved)

  final, saved = jax.lax.scan(step, initial, tuple(zip(xp, mask_t)), unroll=unroll)
  out = tuple(s[0] for s in saved)
  residuals = tuple(s[1:] for s in saved)  # per direction: gates [L, B, 4H], state before
  # xp is kept only as storage: the backward loop writes dL/dz over it.
  return (out, final), (mask_t, w_hh, b, residuals, xp, initial)


def _backward_step(w_hh: jax.Array, carry: LSTMState, inputs):
  """One step back: ``carry`` holds ``(dL/dh, dL/dc)`` after the step; returns
  them before it, and ``dL/dz`` ``[B, 4H]`` (zero at padding)."""
  d_out, gates, c_before, m_t = inputs
  i, f, g, o = jnp.split(gates, 4, axis=-1)  # --> 4 x [B, H]
  # Recomputed, not stored: one [B, H] tanh per step against a stored [L, B, H].
  tanh_c = jnp.tanh(f * c_before + i * g)
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
  mask_t, w_hh, b, saved, xp, initial = residuals
  d_out, d_final = cotangents
  carries = []
  for w, (gates, _), d_o, d_f in zip(w_hh, saved, d_out, d_final):
    # Same carry typing as in _scan_projected, for shard_map.
    zero = jnp.zeros_like(gates[0, :, :w.shape[0]]) + jnp.zeros_like(w[:1, :w.shape[0]])  # --> [B, H]
    zero = zero + jnp.zeros_like(d_o[0])
    carries.append(LSTMState(*(d.astype(zero.dtype) + zero for d in d_f)))

  # dL/dz[t] is written over the projection xp[t], dead since the forward
  # loop: scan outputs would be a new [L, B, 4H] array per direction, which
  # XLA zero-fills before the forward loop, so both live at once. (XLA:CPU
  # allocates a call's temporaries afresh on every call, and above 32 MiB
  # glibc maps them from the kernel page by page: a byte saved is a page
  # fault saved.) The buffer is only written, so XLA updates it in place.
  def step(carry, inputs):
    states, buffers = carry
    t, per_direction = inputs
    backs, written = [], []
    for w, state, buf, inp in zip(w_hh, states, buffers, per_direction):
      back, dz = _backward_step(w, state, inp)
      backs.append(back)
      written.append(jax.lax.dynamic_update_index_in_dim(buf, dz.astype(buf.dtype), t, 0))
    return (tuple(backs), tuple(written)), None

  inputs = (jnp.arange(xp[0].shape[0]),
            tuple((d_o, gates, before.c, m) for d_o, (gates, before), m in zip(d_out, saved, mask_t)))
  (d_initial, dz), _ = jax.lax.scan(step, (tuple(carries), xp), inputs, reverse=True,
                                    unroll=unroll)  # each dz: [L, B, 4H]
  # 2-D products over the L*B rows (see _project).
  d_w_hh = tuple((_rows(before.h).T @ _rows(d)).astype(w.dtype)  # --> [H, 4H]
                 for (_, before), d, w in zip(saved, dz, w_hh))
  d_b = tuple(jnp.sum(_rows(d), axis=0).astype(bias.dtype) for d, bias in zip(dz, b))  # --> [4H]
  d_initial = tuple(LSTMState(*(d.astype(s.dtype) for d, s in zip(di, init)))
                    for di, init in zip(d_initial, initial))
  return dz, None, d_w_hh, d_b, d_initial  # dz is dL/dxp


_recurrence.defvjp(_recurrence_fwd, _recurrence_bwd)


def _rows(a: jax.Array) -> jax.Array:
  """``[L, B, W]`` -> ``[L*B, W]`` (a bitcast, no copy)."""
  return a.reshape(-1, a.shape[-1])


def _project(x_t: jax.Array, w_ih: jax.Array) -> jax.Array:
  """Time-major input projection ``x_t [L, B, D]`` -> ``[L, B, 4H]``, without the
  bias (the loop adds it, see :func:`_cell`).

  Hoisted out of the loop: one ``[L*B, D] x [D, 4H]`` matmul instead of L
  small ones. Moving time first on x (D wide), not on the product (4H wide),
  is the cheaper copy.
  """
  # As a 2-D matmul over L*B rows: with (l, b) left as two contracting
  # dimensions, XLA:CPU orders them (b, l) in the gradient and transposes
  # the [L, B, 4H] cotangent to match.
  xp = _rows(x_t) @ w_ih  # --> [L*B, 4H]
  return xp.reshape(x_t.shape[:2] + xp.shape[-1:])


def _scan_projected(xp: tuple[jax.Array, ...], mask_t: tuple[jax.Array, ...],
                    w_hh: tuple[jax.Array, ...], b: tuple[jax.Array, ...],
                    initial: tuple[LSTMState, ...],
                    unroll: int) -> tuple[tuple[jax.Array, ...], tuple[LSTMState, ...]]:
  """K directions' recurrences from time-major projections, each ``xp [L, B, 4H]``
  (bias ``b [4H]`` apart) and ``mask_t [L, B]`` -> ``(outs [L, B, H] in loop
  order, finals)``."""
  # Under shard_map the carry turns device-varying after one step (inputs and
  # weights are); zeros_like keeps that type, so adding them types the
  # initial carry the same way (a no-op outside shard_map), else scan refuses.
  typed = []
  for a, w, state in zip(xp, w_hh, initial):
    h = w.shape[-2]
    zero = jnp.zeros_like(a[0, :, :h]) + jnp.zeros_like(w[:1, :h])  # --> [B, H]
    typed.append(jax.tree.map(lambda s, z=zero: s + z.astype(s.dtype), state))
  return _recurrence(tuple(xp), tuple(mask_t), tuple(w_hh), tuple(b), tuple(typed), unroll)


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
    mask: ``[B, L]`` bool, True on real positions (masked steps are skipped).
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
  state = _zero_state(x, w_hh) if initial is None else LSTMState(*initial)
  x_t, mask_t = jnp.swapaxes(x, 0, 1), mask.T  # --> [L, B, D], [L, B]
  if reverse:
    # Running over the time-flipped padded rows meets each row's padding first:
    # masked steps leave the state as it was, so the direction starts at the
    # row's last real token, and no per-row gather is needed.
    x_t, mask_t = x_t[::-1], mask_t[::-1]
  xp = _project(x_t, w_ih)  # --> [L, B, 4H]
  (out,), (final,) = _scan_projected((xp,), (mask_t,), (w_hh,), (b,), (state,), unroll)
  if reverse:
    out = out[::-1]
  return jnp.swapaxes(out, 0, 1), final  # --> [B, L, H]


def bilstm(x: jax.Array, mask: jax.Array, params_fwd: LSTMParams, params_bwd: LSTMParams,
           *, unroll: int = 1) -> tuple[jax.Array, tuple[LSTMState, LSTMState]]:
  """Runs a bidirectional LSTM layer and concatenates the two directions.

  Both directions run in one scan, so the layer costs ``L`` sequential steps
  rather than ``2L``. The results equal two :func:`lstm_scan` calls.

  >>> import jax.numpy as jnp
  >>> p = LSTMParams(jnp.full((4, 8), 0.1), jnp.full((2, 8), 0.1), jnp.zeros(8))
  >>> out, (fwd, bwd) = bilstm(jnp.ones((2, 3, 4)), jnp.ones((2, 3), bool), p, p)
  >>> out.shape, fwd.h.shape
  ((2, 3, 4), (2, 2))

  Args:
    x: ``[B, L, D]`` inputs.
    mask: ``[B, L]`` bool, True on real positions (masked steps are skipped).
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
  x_t = jnp.swapaxes(x, 0, 1)  # --> [L, B, D]
  # The backward direction runs over the time-flipped padded rows (see lstm_scan).
  xp = (_project(x_t, params_fwd.w_ih), _project(x_t[::-1], params_bwd.w_ih))  # each --> [L, B, 4H]
  return _bidirectional(xp, mask, (params_fwd.w_hh, params_bwd.w_hh), (params_fwd.b, params_bwd.b),
                        unroll)


def _bidirectional(xp: tuple[jax.Array, jax.Array], mask: jax.Array,
                   w_hh: tuple[jax.Array, jax.Array], b: tuple[jax.Array, jax.Array],
                   unroll: int):
  """Both recurrences in one loop from time-major projections ``(fwd, bwd)``, each
  ``[L, B, 4H]``, the backward one in flipped time; ``w_hh`` and ``b`` are
  ``(fwd, bwd)`` pairs -> :func:`bilstm`'s results."""
  mask_t = mask.T  # --> [L, B]
  initial = tuple(_zero_state(a[0], w) for a, w in zip(xp, w_hh))
  (out_fwd, out_bwd), (fwd, bwd) = _scan_projected(
      xp, (mask_t, mask_t[::-1]), w_hh, b, initial, unroll)
  out = jnp.concatenate([out_fwd, out_bwd[::-1]], axis=-1)  # --> [L, B, 2H]
  return jnp.swapaxes(out, 0, 1), (fwd, bwd)  # --> [B, L, 2H]


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
    mask: ``[B, L]`` bool, True on real positions (masked steps are skipped).
    w_hh_fwd, w_hh_bwd: ``[H, 4H]`` hidden-to-gates weights of each direction.
    unroll: steps per loop iteration of the scan.

  Returns:
    As :func:`bilstm`.
  """
  mask = mask.astype(bool)
  xp_t = jnp.swapaxes(xp, 0, 1)  # --> [L, B, 2, 4H]
  no_bias = jnp.zeros(xp.shape[-1:], xp.dtype)  # the projection holds it
  return _bidirectional((xp_t[:, :, 0], xp_t[::-1, :, 1]), mask, (w_hh_fwd, w_hh_bwd),
                        (no_bias, no_bias), unroll)
