"""Linear-chain CRF: path score, forward algorithm, marginals, Viterbi, BIO masks.

Convention: ``transitions[i, j]`` scores moving from tag ``i`` on one token to
tag ``j`` on the next real token; ``start[j]`` scores tag ``j`` on the first
real token and ``end[i]`` tag ``i`` on the last. A path ``y`` over ``n`` real
tokens scores::

  start[y_0] + sum_t emissions[t, y_t] + sum_{t>0} transitions[y_{t-1}, y_t]
  + end[y_{n-1}]

and ``p(y | x) = exp(score(y)) / sum_y' exp(score(y'))``.

Padding: ``mask`` ``[B, L]`` is True on real tokens. A step where it is False
leaves the recursion state unchanged, so a padded row gives exactly the result
of the same row unpadded, whatever its padded emissions and tags hold. The mask
need not be left-aligned: a row's real tokens, in order, form its sequence. A
row with no real token has one empty path, of score 0.

Shapes: ``B`` batch, ``L`` length, ``T`` tags. Arithmetic runs in at least
float32, so bfloat16 emissions do not lose the partition function.
"""

from __future__ import annotations

import functools
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

# Finite stand-in for log(0) on forbidden transitions; see masked_transitions.
DEFAULT_PENALTY = -1e4


class _ChainState(NamedTuple):
  """State of the forward (log-sum-exp) or Viterbi (max) recursion."""

  score: jax.Array  # [B, T] log-sum-exp / max of the scores of paths ending in each tag
  started: jax.Array  # [B] bool, whether the row has had a real token yet


def _prepare(emissions, mask, transitions, start, end):
  """Checks shapes, promotes to >= float32, fills absent start/end with zeros."""
  emissions = jnp.asarray(emissions)
  emissions = emissions.astype(jnp.promote_types(emissions.dtype, jnp.float32))
  if emissions.ndim != 3:
    raise ValueError(f"emissions must be [B, L, T], got shape {emissions.shape}")
  batch, length, num_tags = emissions.shape
  mask = jnp.asarray(mask, bool)
  if mask.shape != (batch, length):
    raise ValueError(f"mask must be [B, L] = {(batch, length)}, got {mask.shape}")
  transitions = jnp.asarray(transitions, emissions.dtype)
  if transitions.shape != (num_tags, num_tags):
    raise ValueError(
        f"transitions must be [T, T] = {(num_tags, num_tags)}, got {transitions.shape}")

  def edge(vector, name):
    if vector is None:
      return jnp.zeros(num_tags, emissions.dtype)
    vector = jnp.asarray(vector, emissions.dtype)
    if vector.shape != (num_tags,):
      raise ValueError(f"{name} must be [T] = {(num_tags,)}, got {vector.shape}")
    return vector

  return emissions, mask, transitions, edge(start, "start"), edge(end, "end")


def _init_state(emissions: jax.Array) -> _ChainState:
  # zeros_like, not zeros: under shard_map it keeps the emissions' device-varying
  # type, which the carry takes on after one step (scan needs them equal).
  first = emissions[:, 0, :]  # --> [B, T]
  return _ChainState(score=jnp.zeros_like(first), started=jnp.zeros_like(first[:, 0], bool))


def _time_major(emissions: jax.Array, mask: jax.Array):
  return jnp.swapaxes(emissions, 0, 1), jnp.swapaxes(mask, 0, 1)  # --> [L, B, T], [L, B]


def _advance(state: _ChainState, moved, start, emit, real) -> _ChainState:
  """The next state: ``moved`` after a transition, ``start`` on a row's first token."""
  new = jnp.where(state.started[:, None], moved, start[None, :]) + emit
  # A padded step keeps the old state; that is what makes padding exact.
  score = jnp.where(real[:, None], new, state.score)
  return _ChainState(score=score, started=state.started | real)


def _logsumexp(x: jax.Array, axis: int) -> jax.Array:
  """``log(sum(exp(x), axis))``, shifted by the (finite) max for stability.

  Leaner than :func:`jax.nn.logsumexp` (no ``b``/sign handling), which matters
  inside the forward scan: ``x`` is ``[B, T, T]`` at every step.
  """
  m = lax.stop_gradient(jnp.max(x, axis=axis, keepdims=True))
  m = jnp.where(jnp.isfinite(m), m, jnp.zeros_like(m))  # an all -inf slice gives -inf, not NaN
  return jnp.log(jnp.sum(jnp.exp(x - m), axis=axis)) + jnp.squeeze(m, axis)


def _forward_step(transitions, start, state: _ChainState, inputs):
  emit, real = inputs  # [B, T], [B]
  moved = _logsumexp(state.score[:, :, None] + transitions[None], axis=1)  # --> [B, T]
  return _advance(state, moved, start, emit, real), None


def _first_argmax(x: jax.Array, axis: int) -> jax.Array:
  """``argmax(x, axis)`` as int32, ties to the lowest index, as a max and a min.

  XLA:CPU runs ``argmax`` (a variadic value-and-index reduce) about 40x slower
  than these two plain reductions on the ``[B, T, T]`` Viterbi candidates.
  """
  best = jnp.max(x, axis=axis, keepdims=True)
  shape = [1] * x.ndim
  shape[axis] = x.shape[axis]
  index = jnp.arange(x.shape[axis], dtype=jnp.int32).reshape(shape)
  first = jnp.min(jnp.where(x == best, index, x.shape[axis]), axis=axis)
  return jnp.minimum(first, x.shape[axis] - 1)  # a NaN slice matches nothing; stay in range


def crf_log_partition(emissions: jax.Array, mask: jax.Array, transitions: jax.Array, *,
                      start: jax.Array | None = None,
                      end: jax.Array | None = None) -> jax.Array:
  """log Z(x), the log-sum-exp of all tag paths' scores (the forward algorithm).

  >>> import jax.numpy as jnp
  >>> emissions, mask = jnp.zeros((1, 2, 3)), jnp.ones((1, 2), bool)
  >>> round(float(crf_log_partition(emissions, mask, jnp.zeros((3, 3)))[0]), 4)  # log 9
  2.1972

  Args:
    emissions: ``[B, L, T]`` per-token tag scores (unnormalised log-potentials).
    mask: ``[B, L]`` bool, True on real tokens.
    transitions: ``[T, T]``, ``[i, j]`` scores tag ``i`` followed by tag ``j``.
    start: ``[T]`` scores of the first tag, or None for zeros.
    end: ``[T]`` scores of the last tag, or None for zeros.

  Returns:
    ``[B]`` log partition per row; 0 for a row without real tokens.

  References:
    Lafferty, McCallum, Pereira, "Conditional Random Fields", ICML 2001.
  """
  emissions, mask, transitions, start, end = _prepare(emissions, mask, transitions, start, end)
  # Rematerialised: differentiating the scan would otherwise store the
  # [B, T, T] scores of every step; recomputing them is about twice as fast.
  step = jax.checkpoint(functools.partial(_forward_step, transitions, start))
  final, _ = lax.scan(step, _init_state(emissions), _time_major(emissions, mask))
  total = jax.nn.logsumexp(final.score + end[None, :], axis=-1)
  return jnp.where(final.started, total, 0.0)


def crf_path_score(emissions: jax.Array, tags: jax.Array, mask: jax.Array,
                   transitions: jax.Array, *, start: jax.Array | None = None,
                   end: jax.Array | None = None) -> jax.Array:
  """The unnormalised score of the tag path ``tags`` (see the module docstring).

  >>> import jax.numpy as jnp
  >>> emissions = jnp.array([[[1.0, 0.0], [0.0, 2.0]]])
  >>> transitions = jnp.array([[0.0, 0.5], [0.0, 0.0]])
  >>> float(crf_path_score(emissions, jnp.array([[0, 1]]), jnp.ones((1, 2), bool), transitions)[0])
  3.5

  Args:
    emissions: ``[B, L, T]``; mask, transitions, start, end: as in
      :func:`crf_log_partition`.
    tags: ``[B, L]`` int tag ids in ``[0, T)`` on real tokens; padded positions
      are ignored and may hold anything (e.g. -1).

  Returns:
    ``[B]`` path scores.

  References:
    Lafferty, McCallum, Pereira, "Conditional Random Fields", ICML 2001.
  """
  emissions, mask, transitions, start, end = _prepare(emissions, mask, transitions, start, end)
  batch, length, _ = emissions.shape
  tags = jnp.where(mask, jnp.asarray(tags, jnp.int32), 0)  # padding may hold -1
  emit = jnp.take_along_axis(emissions, tags[..., None], axis=-1)[..., 0]  # --> [B, L]
  positions = jnp.broadcast_to(jnp.arange(length), (batch, length))
  # Index of the latest real token strictly before each position, -1 if none.
  latest = lax.cummax(jnp.where(mask, positions, -1), axis=1)
  previous = jnp.pad(latest[:, :-1], ((0, 0), (1, 0)), constant_values=-1)
  prev_tags = jnp.take_along_axis(tags, jnp.maximum(previous, 0), axis=1)
  last = jnp.max(jnp.where(mask, positions, -1), axis=1, keepdims=True)
  terms = (emit + jnp.where(previous >= 0, transitions[prev_tags, tags], start[tags])
           + jnp.where(positions == last, end[tags], 0.0))
  return jnp.sum(jnp.where(mask, terms, 0.0), axis=1)


def crf_log_likelihood(emissions: jax.Array, tags: jax.Array, mask: jax.Array,
                       transitions: jax.Array, *, start: jax.Array | None = None,
                       end: jax.Array | None = None) -> jax.Array:
  """log p(tags | x) = path score - log Z(x); the training loss is its negative mean.

  >>> import jax.numpy as jnp
  >>> emissions, mask = jnp.zeros((1, 2, 2)), jnp.ones((1, 2), bool)
  >>> ll = crf_log_likelihood(emissions, jnp.array([[0, 1]]), mask, jnp.zeros((2, 2)))
  >>> round(float(jnp.exp(ll[0])), 4)  # one of 4 equally likely paths
  0.25

  Args:
    emissions: ``[B, L, T]``; mask, transitions, start, end: as in
      :func:`crf_log_partition`.
    tags: ``[B, L]`` gold tag ids, as in :func:`crf_path_score`.

  Returns:
    ``[B]`` log-likelihoods (<= 0); 0 for a row without real tokens.

  References:
    Lafferty, McCallum, Pereira, "Conditional Random Fields", ICML 2001.
  """
  kwargs = dict(start=start, end=end)
  return (crf_path_score(emissions, tags, mask, transitions, **kwargs)
          - crf_log_partition(emissions, mask, transitions, **kwargs))


def crf_marginals(emissions: jax.Array, mask: jax.Array, transitions: jax.Array, *,
                  start: jax.Array | None = None,
                  end: jax.Array | None = None) -> jax.Array:
  """Per-token tag marginals ``p(y_t = j | x)``, e.g. a CRF's confidence per token.

  Exact, and computed as ``d log Z / d emissions``: the gradient of the forward
  algorithm is the forward-backward algorithm, so no backward pass is written
  by hand.

  >>> import jax.numpy as jnp
  >>> emissions, mask = jnp.zeros((1, 3, 4)), jnp.array([[True, True, False]])
  >>> crf_marginals(emissions, mask, jnp.zeros((4, 4)))[0].sum(-1).tolist()
  [1.0, 1.0, 0.0]

  Args:
    emissions, mask, transitions, start, end: as in :func:`crf_log_partition`.

  Returns:
    ``[B, L, T]`` marginals: each real token's row sums to 1, padded rows are 0.

  References:
    Sutton, McCallum, "An Introduction to Conditional Random Fields", 2012, §4.1.
  """
  emissions = jnp.asarray(emissions)
  emissions = emissions.astype(jnp.promote_types(emissions.dtype, jnp.float32))

  def total_log_partition(e):
    return jnp.sum(crf_log_partition(e, mask, transitions, start=start, end=end))

  return jax.grad(total_log_partition)(emissions)


def _viterbi_step(transitions, start, state: _ChainState, inputs):
  emit, real = inputs  # [B, T], [B]
  moved = jnp.max(state.score[:, :, None] + transitions[None], axis=1)  # --> [B, T]
  # No [B, T] backpointers: the backtrace recomputes the one pointer it follows
  # per row from the state before this step, a [B, T] rather than a [B, T, T]
  # argmax (the same sums, so the same ties).
  return _advance(state, moved, start, emit, real), state


def _backtrace_step(transitions, tag: jax.Array, inputs):
  before, real = inputs  # _ChainState of [B, T] and [B], the state before the step; [B]
  candidates = before.score + transitions.T[tag]  # --> [B, T(from)], into each row's tag
  # A padded step, or a row's first token, keeps the tag, so the backtrace
  # carries it through unchanged.
  previous = jnp.where(real & before.started, _first_argmax(candidates, axis=-1), tag)
  return previous, jnp.where(real, tag, 0)


def viterbi_decode(emissions: jax.Array, mask: jax.Array, transitions: jax.Array, *,
                   start: jax.Array | None = None,
                   end: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
  """The highest-scoring tag path per row (max-product, then a backtrace, on device).

  Both passes are ``lax.scan``s on device. The forward pass keeps the max
  scores ``[L, B, T]``, not backpointers; the backtrace recomputes the one
  pointer it follows per row. Ties go to the lowest tag id.

  >>> import jax.numpy as jnp
  >>> emissions = jnp.array([[[2.0, 0.0], [0.0, 1.0], [9.0, 9.0]]])
  >>> transitions = jnp.array([[0.0, -5.0], [0.0, 0.0]])  # 0 -> 1 is costly
  >>> tags, score = viterbi_decode(emissions, jnp.array([[True, True, False]]), transitions)
  >>> tags.tolist(), float(score[0])
  ([[0, 0, 0]], 2.0)

  Args:
    emissions, mask, transitions, start, end: as in :func:`crf_log_partition`.

  Returns:
    ``(tags, score)``: ``tags`` ``[B, L]`` int32, the best path on real tokens
    and 0 on padded positions; ``score`` ``[B]`` its path score (0 for a row
    without real tokens).

  References:
    Viterbi, "Error bounds for convolutional codes...", IEEE Trans. IT, 1967.
  """
  emissions, mask, transitions, start, end = _prepare(emissions, mask, transitions, start, end)
  step = functools.partial(_viterbi_step, transitions, start)
  emissions_t, mask_t = _time_major(emissions, mask)
  final, before = lax.scan(step, _init_state(emissions), (emissions_t, mask_t))  # [L, B, T]
  last_scores = final.score + end[None, :]
  last_tag = _first_argmax(last_scores, axis=-1)
  back = functools.partial(_backtrace_step, transitions)
  _, tags = lax.scan(back, last_tag, (before, mask_t), reverse=True)  # --> [L, B]
  score = jnp.where(final.started, jnp.max(last_scores, axis=-1), 0.0)
  return jnp.swapaxes(tags, 0, 1), score  # --> [B, L], [B]


def _parse_bio(tag: str) -> tuple[str, str | None]:
  if tag == "O":
    return "O", None
  if isinstance(tag, str) and tag[:2] in ("B-", "I-") and len(tag) > 2:
    return tag[0], tag[2:]
  raise ValueError(f"{tag!r} is not a BIO tag (expected 'O', 'B-type' or 'I-type')")


def bio_transition_mask(tag_names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
  """Which transitions a well-formed BIO sequence may contain (host-side NumPy).

  ``I-x`` may only follow ``B-x`` or ``I-x``: ``O -> I-x``, ``B-y -> I-x`` and
  ``I-y -> I-x`` (y != x) are forbidden, and so is starting with ``I-x``.
  Everything else is allowed; BIO puts no constraint on the last tag.

  >>> allowed, start_allowed = bio_transition_mask(["O", "B-city", "I-city"])
  >>> allowed.astype(int).tolist(), start_allowed.tolist()
  ([[1, 1, 0], [1, 1, 1], [1, 1, 1]], [True, True, False])

  Args:
    tag_names: the ``T`` tag names in id order (e.g. ``LabelVocab.labels``).

  Returns:
    ``(allowed, start_allowed)``: ``[T, T]`` bool, ``[i, j]`` True when tag
    ``j`` may follow tag ``i``; ``[T]`` bool, True when a sequence may start
    with the tag.

  Raises:
    ValueError: no tags, or a name is neither ``O`` nor ``B-type``/``I-type``.

  References:
    Ramshaw, Marcus, "Text Chunking using Transformation-Based Learning", 1995.
  """
  if isinstance(tag_names, str) or not tag_names:
    raise ValueError(f"tag_names must be a non-empty sequence of tags, got {tag_names!r}")
  parsed = [_parse_bio(tag) for tag in tag_names]
  kinds = np.array([kind for kind, _ in parsed])
  types = np.array([slot_type or "" for _, slot_type in parsed], dtype=object)
  continues = (kinds[:, None] != "O") & (types[:, None] == types[None, :])  # --> [T, T]
  allowed = np.where(kinds[None, :] == "I", continues, True)
  return allowed.astype(bool), kinds != "I"


def masked_transitions(transitions: jax.Array, allowed: jax.Array, *,
                       penalty: float = DEFAULT_PENALTY) -> jax.Array:
  """``transitions`` with forbidden entries set to ``penalty``; also for ``start``/``end``.

  The penalty is a large finite negative rather than ``-inf`` so that the loss
  and its gradients stay finite: a gold path through a forbidden transition
  (real data holds a few invalid BIO sequences) would give a log-likelihood of
  ``-inf`` and NaN gradients (``inf - inf``, ``0 * inf``) that poison a whole
  batch. ``exp(-1e4)`` underflows to 0 even in float64, so forbidden paths add
  nothing to the partition function: the result equals the exactly constrained
  CRF. Forbidden entries get zero gradient, so they are never trained.

  >>> import jax.numpy as jnp
  >>> masked_transitions(jnp.zeros((2, 2)), jnp.array([[True, False], [True, True]])).tolist()
  [[0.0, -10000.0], [0.0, 0.0]]

  Args:
    transitions: ``[T, T]`` transition scores, or ``[T]`` start/end scores.
    allowed: bool, same shape (from :func:`bio_transition_mask`).
    penalty: the score of a forbidden entry.

  Returns:
    An array of ``transitions``' shape and dtype.

  References:
    Lample et al., "Neural Architectures for Named Entity Recognition", 2016.
  """
  transitions = jnp.asarray(transitions)
  return jnp.where(jnp.asarray(allowed, bool), transitions,
                   jnp.asarray(penalty, transitions.dtype))
