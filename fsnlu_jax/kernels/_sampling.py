"""Batched ancestral sampling in one ``lax.while_loop``: temperature, top-k, top-p, a constraint.

The model enters as in :func:`fsnlu_jax.kernels.beam_search`:
``tokens_to_logits(tokens [B], cache, step) -> (logits [B, V], cache)``, and so
does the token constraint (a :class:`~fsnlu_jax.kernels.Constraint`, built for
one "beam": ``constraint.init(B, 1)``, state leaves ``[B, 1, ...]``). Every
row draws its own sequence; data generation wants many diverse outputs, not
the single best one. Call it inside your own ``jax.jit`` with the model
parameters, the constraint's arrays and the key as arguments: every shape is
static, so it compiles once per ``(B, L, V)``, cache and constraint shapes,
``top_k`` and whether ``top_p`` and ``temperature`` are used.

Each step, in this order: the constraint's disallowed tokens get ``-inf``;
the logits are divided by ``temperature``; all but the ``top_k`` largest get
``-inf`` (ties with the k-th are kept); all but the smallest set of the most
likely tokens whose probability (under the masked, tempered, top-k
distribution) reaches ``top_p`` get ``-inf`` (the most likely token is always
kept); then :func:`categorical` draws the token. A row stops when it
draws ``eos_id`` (finished), when nothing is left to draw (no allowed token,
or only tokens the model gives log-probability below
:data:`~fsnlu_jax.kernels._beam_search.DEAD_BELOW`: dead, unfinished) or at
``max_length`` tokens (unfinished). The loop ends early when every row has
stopped. A row's ``logprobs`` is the sum of the model's own log-probabilities
of its tokens (untempered, unmasked: comparable across settings and
constraints, as the beam search's scores).

Shapes: ``B`` batch (one sample per row; tile a source row to draw several),
``L`` max length (tokens drawn, EOS included), ``V`` vocab.

References: Holtzman et al., "The Curious Case of Neural Text Degeneration",
ICLR 2020 (top-p); Fan et al., "Hierarchical Neural Story Generation", ACL
2018 (top-k).
"""

from __future__ import annotations

import numbers
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from fsnlu_jax.kernels._beam_search import DEAD_BELOW, NEG_INF, Constraint, PyTree, top_blocks


class SampleState(NamedTuple):
  """The ``lax.while_loop`` carry of :func:`sample`."""

  step: jax.Array  # int32 [] tokens drawn so far by the rows still going
  last: jax.Array  # int32 [B] each row's latest token (BOS before the first)
  sequences: jax.Array  # int32 [B, L] tokens drawn, 0 beyond
  logprobs: jax.Array  # float32 [B] sum of the model's log-probs of the drawn tokens
  alive: jax.Array  # bool [B] still drawing
  finished: jax.Array  # bool [B] drew EOS
  cache: PyTree  # the model's cache, leaves [B, ...]
  constraint_state: PyTree  # leaves [B, 1, ...] (None without a constraint)


class SampleResult(NamedTuple):
  """One sampled sequence per row."""

  sequences: jax.Array  # int32 [B, L] EOS last, 0 after; all 0 when not finished
  lengths: jax.Array  # int32 [B] tokens including EOS, 0 when not finished
  logprobs: jax.Array  # float32 [B] the model's log-prob of the sequence, NEG_INF when not finished
  finished: jax.Array  # bool [B]


def filter_logits(logits: jax.Array, *, temperature: float | jax.Array = 1.0, top_k: int = 0,
                  top_p: float | jax.Array = 1.0) -> jax.Array:
  """The logits :func:`sample` draws from: tempered, then top-k, then top-p.

  Both filters are thresholds found by bisection over the 2**32 float32 values
  (:func:`kth_largest`, :func:`nucleus_threshold`), never a sort: inside a
  loop XLA:CPU lowers ``lax.top_k`` to a full sort of the row (about 7 ms a row of
  30k per step, against 0.17 ms here with top-k 50 and top-p). With ``top_k``, both bisections read
  only the ``top_k`` chunks of :data:`CHUNK` values with the largest maxima,
  which hold every value above the k-th largest and the k-th itself.

  Args:
    logits: ``[B, V]`` float32, ``-inf`` on tokens already excluded (constraint).
    temperature: > 0; divides the logits (a scalar or ``[B, 1]``).
    top_k: keep the ``k`` largest (and ties with the k-th); 0: all.
    top_p: keep the most likely tokens until their probability reaches
      ``top_p`` (the first always, and ties with the last kept; with
      ``top_k``, probabilities under the top-k distribution); 1: all (a scalar
      or ``[B, 1]``).

  Returns:
    ``[B, V]``: kept tokens' tempered logits, ``-inf`` elsewhere.
  """
  x = logits / temperature
  vocab = x.shape[-1]
  nucleus = not (isinstance(top_p, numbers.Real) and top_p >= 1.0)
  if 0 < top_k < vocab:
    pool = _top_chunks(x, top_k)  # --> [B, top_k * CHUNK] (or x itself when not smaller)
    threshold = kth_largest(pool, top_k)
    x = jnp.where(x >= threshold, x, -jnp.inf)
    if nucleus:
      # Values above the threshold are all in the pool; ties with it outside
      # the pool count in the total, as they do in x.
      log_total = jax.nn.logsumexp(x, axis=-1, keepdims=True)
      kept = jnp.where(pool >= threshold, pool, -jnp.inf)
      x = jnp.where(x >= nucleus_threshold(kept, top_p, log_total=log_total), x, -jnp.inf)
  elif nucleus:
    x = jnp.where(x >= nucleus_threshold(x, top_p), x, -jnp.inf)
  return x


CHUNK = 32  # values per chunk of a row in the top-k pre-selection


def _top_chunks(x: jax.Array, k: int) -> jax.Array:
  """``[B, V]`` -> ``[B, k * CHUNK]``: the ``k`` chunks with the largest maxima, flattened.

  Exact for the k-th largest: at most ``k - 1`` chunks have a maximum above
  the k-th largest chunk maximum ``m``, so every value above ``m`` is in the
  pool, and the pool's k-th largest is at least ``m`` and at most the row's.
  """
  vocab = x.shape[-1]
  chunks = -(-vocab // CHUNK)
  if 2 * k >= chunks:
    return x
  rows = jnp.pad(x, ((0, 0), (0, chunks * CHUNK - vocab)), constant_values=-jnp.inf)
  return top_blocks(rows, k, CHUNK)[1]


def _ordered_keys(x: jax.Array) -> jax.Array:
  """float32 ``[...]`` -> uint32 ``[...]`` in the same order (-0.0 made +0.0)."""
  bits = lax.bitcast_convert_type(jnp.where(x == 0, 0.0, x).astype(jnp.float32), jnp.uint32)
  # IEEE-754 is sign-magnitude: flip every bit of a negative, the sign bit of a positive.
  return jnp.where(bits >> 31 == 1, ~bits, bits | jnp.uint32(1 << 31))


def _key_value(key: jax.Array) -> jax.Array:
  """The inverse of :func:`_ordered_keys`."""
  bits = jnp.where(key >> 31 == 1, key & jnp.uint32((1 << 31) - 1), ~key)
  return lax.bitcast_convert_type(bits, jnp.float32)


def kth_largest(x: jax.Array, k: int) -> jax.Array:
  """``[B, V]`` float32 -> ``[B, 1]``: each row's k-th largest value (ties counted).

  Equal to ``lax.top_k(x, k)[0][:, -1:]``: the largest ``t`` with at least
  ``k`` values ``>= t``, found by bisection on the ordered bit patterns.
  """
  keys = _ordered_keys(x)

  def halve(_, bounds):  # invariant: count(keys >= lo) >= k, the answer in [lo, hi]
    lo, hi = bounds
    mid = hi - ((hi - lo) >> 1)  # the upper middle, without overflow
    enough = jnp.sum(keys >= mid, axis=-1, keepdims=True) >= k
    return jnp.where(enough, mid, lo), jnp.where(enough, hi, mid - 1)

  bounds = (jnp.zeros(x.shape[:-1] + (1,), jnp.uint32),
            jnp.full(x.shape[:-1] + (1,), 0xFFFFFFFF, jnp.uint32))
  return _key_value(lax.fori_loop(0, 32, halve, bounds)[0])


def nucleus_threshold(x: jax.Array, top_p: float | jax.Array, *,
                      log_total: jax.Array | None = None) -> jax.Array:
  """``[B, V]`` logits -> ``[B, 1]``: the smallest kept value of the top-p filter.

  The smallest ``t`` among the row's values whose more likely tokens (``> t``)
  hold less than ``top_p`` of the probability; keeping ``x >= t`` keeps the
  most likely tokens until their mass reaches ``top_p``, as the sorted
  cumulative sum would, and the tokens tied with the last one. In float32, as
  that sum: a ``top_p`` of 1 can drop tokens of probability under about 1e-7.
  ``log_total`` (``[B, 1]``): the log of the normaliser when ``x`` is part of
  a row (default: ``logsumexp(x)``).
  """
  keys = _ordered_keys(x)
  if log_total is None:
    log_total = jax.nn.logsumexp(x, axis=-1, keepdims=True)
  probs = jnp.exp(x - log_total)

  def halve(_, bounds):  # invariant: mass(keys > hi) < top_p, the answer in [lo, hi]
    lo, hi = bounds
    mid = lo + ((hi - lo) >> 1)
    small = jnp.sum(jnp.where(keys > mid, probs, 0.0), axis=-1, keepdims=True) < top_p
    return jnp.where(small, lo, mid + 1), jnp.where(small, mid, hi)

  # From the row's own smallest value: a total mass that rounds below top_p = 1 keeps all.
  bounds = (jnp.min(keys, axis=-1, keepdims=True), jnp.max(keys, axis=-1, keepdims=True))
  return _key_value(lax.fori_loop(0, 32, halve, bounds)[1])


def categorical(key: jax.Array, logits: jax.Array) -> jax.Array:
  """``[B, V]`` logits (``-inf``: never) -> ``[B]`` int32 tokens, by the inverse CDF in two levels.

  One uniform per row picks a chunk of :data:`CHUNK` tokens by the chunks'
  cumulative mass, then a token inside it: the same distribution as
  ``jax.random.categorical``, which draws a Gumbel per token (``B x V``
  threefry draws: 71 ms a step at B = 64, V = 30k on one core, against 2 ms
  here). A row with no finite logit gets token 0 (callers stop such rows).
  """
  b, vocab = logits.shape
  chunks = -(-vocab // CHUNK)
  probs = jnp.exp(logits - jnp.max(logits, axis=-1, keepdims=True))  # unnormalised, 0 on -inf
  probs = jnp.pad(probs, ((0, 0), (0, chunks * CHUNK - vocab))).reshape(b, chunks, CHUNK)
  probs = jnp.where(jnp.isnan(probs), 0.0, probs)  # rows of -inf only
  mass = jnp.sum(probs, axis=-1)  # --> [B, C]
  cdf = jnp.cumsum(mass, axis=-1)
  u = jax.random.uniform(key, (b, 1)) * cdf[:, -1:]  # --> [B, 1], in [0, total)
  # Rounding can put u at or past the total: never beyond the last chunk with mass.
  last = jnp.max(jnp.where(mass > 0, jnp.arange(chunks), 0), axis=-1)
  chunk = jnp.minimum(jnp.sum(cdf <= u, axis=-1), last)  # --> [B]
  inside = jnp.take_along_axis(probs, chunk[:, None, None], axis=1)[:, 0]  # --> [B, CHUNK]
  before = jnp.take_along_axis(cdf - mass, chunk[:, None], axis=1)  # mass of earlier chunks
  offset = jnp.sum(jnp.cumsum(inside, axis=-1) <= u - before, axis=-1)
  # ... nor onto a zero-mass token at either end of the chunk.
  position = jnp.arange(CHUNK)
  offset = jnp.clip(offset, jnp.min(jnp.where(inside > 0, position, CHUNK - 1), axis=-1),
                    jnp.max(jnp.where(inside > 0, position, 0), axis=-1))
  return (chunk * CHUNK + offset).astype(jnp.int32)


def _body(state: SampleState, tokens_to_logits, constraint, *, rng, eos_id, temperature, top_k,
          top_p) -> SampleState:
  logits, cache = tokens_to_logits(state.last, state.cache, state.step)
  logprobs = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)  # --> [B, V]
  ok = logprobs > DEAD_BELOW  # also False for NaN and -inf
  if constraint is not None:
    ok &= constraint.allowed(state.constraint_state)[:, 0]
  drawable = filter_logits(jnp.where(ok, logits.astype(jnp.float32), -jnp.inf),
                           temperature=temperature, top_k=top_k, top_p=top_p)
  tokens = categorical(jax.random.fold_in(rng, state.step), drawable)
  going = state.alive & ok.any(axis=-1)  # rows with something to draw
  tokens = jnp.where(going, tokens, 0)
  chosen = jnp.take_along_axis(logprobs, tokens[:, None], axis=-1)[:, 0]
  at_step = jnp.arange(state.sequences.shape[1]) == state.step
  ends = going & (tokens == eos_id)
  constraint_state = state.constraint_state
  if constraint is not None:
    advanced = constraint.advance(constraint_state, tokens[:, None])
    # Rows that stopped keep their state (a stopped row's token is no move).
    constraint_state = jax.tree.map(
        lambda new, old: jnp.where(going.reshape((-1,) + (1,) * (new.ndim - 1)), new, old),
        advanced, constraint_state)
  return SampleState(
      step=state.step + 1, last=jnp.where(going, tokens, state.last),
      sequences=jnp.where(going[:, None] & at_step, tokens[:, None], state.sequences),
      logprobs=state.logprobs + jnp.where(going, chosen, 0.0), alive=going & ~ends,
      finished=state.finished | ends, cache=cache, constraint_state=constraint_state)


def sample(tokens_to_logits: Callable[[jax.Array, PyTree, jax.Array], tuple[jax.Array, PyTree]],
           cache: PyTree, *, rng: jax.Array, batch_size: int, max_length: int, vocab_size: int,
           bos_id: int, eos_id: int, temperature: float | jax.Array = 1.0, top_k: int = 0,
           top_p: float | jax.Array = 1.0, constraint: Constraint | None = None) -> SampleResult:
  """One sequence per row, drawn token by token under the constraint (module docs).

  Args:
    tokens_to_logits: ``(tokens [B] int32 last tokens, cache, step int32 []) ->
      (logits [B, V], cache)``; called once per step, starting with ``bos_id``.
    cache: the model's decoding cache, leaves ``[B, ...]`` (scalars passed through).
    rng: a PRNG key; step ``t`` draws with ``fold_in(rng, t)``.
    batch_size: ``B``.
    max_length: ``L``, most tokens per sequence, EOS included.
    vocab_size: ``V``.
    bos_id: the first input token.
    eos_id: the token that finishes a sequence.
    temperature: > 0; below 1 sharpens, above 1 flattens. A scalar or one per
      row (``[B, 1]``); may be traced (no recompilation for new values).
    top_k: static; 0: off.
    top_p: in (0, 1]; 1: off. A scalar or ``[B, 1]``; may be traced (a Python
      1.0 skips the sort).
    constraint: masks the tokens each row may draw (``init(B, 1)``); None: none.

  Returns:
    :class:`SampleResult`; rows that did not finish (no token left to draw, or
    ``L`` tokens without EOS) have ``finished`` False, zero sequences and
    lengths, and ``logprobs`` :data:`~fsnlu_jax.kernels._beam_search.NEG_INF`.

  >>> table = jnp.log(jnp.array([[.1, .6, .3], [.1, .1, .8], [.1, .8, .1]]))
  >>> step = lambda tokens, cache, i: (table[tokens], cache)
  >>> out = sample(step, None, rng=jax.random.key(0), batch_size=2, max_length=4,
  ...              vocab_size=3, bos_id=0, eos_id=1, top_k=1)
  >>> out.sequences.tolist(), out.lengths.tolist()
  ([[1, 0, 0, 0], [1, 0, 0, 0]], [1, 1])
  """
  if isinstance(temperature, numbers.Real) and not temperature > 0:
    raise ValueError(f"temperature must be > 0, got {temperature}")
  if isinstance(top_p, numbers.Real) and not 0 < top_p <= 1:
    raise ValueError(f"top_p must be in (0, 1], got {top_p}")
  if top_k < 0:
    raise ValueError(f"top_k must be >= 0 (0: off), got {top_k}")
  if not 0 <= eos_id < vocab_size:
    raise ValueError(f"eos_id {eos_id} is not in [0, vocab_size={vocab_size})")
  for path, leaf in jax.tree_util.tree_leaves_with_path(cache):
    if jnp.ndim(leaf) and jnp.shape(leaf)[0] != batch_size:
      raise ValueError(f"cache leaf {jax.tree_util.keystr(path)} has shape {jnp.shape(leaf)}; "
                       f"its leading dim must be B = {batch_size}")
  init = SampleState(
      step=jnp.zeros((), jnp.int32), last=jnp.full((batch_size,), bos_id, jnp.int32),
      sequences=jnp.zeros((batch_size, max_length), jnp.int32),
      logprobs=jnp.zeros((batch_size,), jnp.float32), alive=jnp.ones((batch_size,), bool),
      finished=jnp.zeros((batch_size,), bool), cache=cache,
      constraint_state=None if constraint is None else constraint.init(batch_size, 1))
  state = lax.while_loop(
      lambda s: (s.step < max_length) & s.alive.any(),
      lambda s: _body(s, tokens_to_logits, constraint, rng=rng, eos_id=eos_id,
                      temperature=temperature, top_k=top_k, top_p=top_p),
      init)
  done = state.finished
  sequences = jnp.where(done[:, None], state.sequences, 0)
  lengths = jnp.where(done, jnp.argmax(sequences == eos_id, axis=-1) + 1, 0).astype(jnp.int32)
  return SampleResult(sequences=sequences, lengths=lengths,
                      logprobs=jnp.where(done, state.logprobs, NEG_INF), finished=done)
