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
kept); then ``jax.random.categorical`` draws the token. A row stops when it
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

from fsnlu_jax.kernels._beam_search import DEAD_BELOW, NEG_INF, Constraint, PyTree


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

  Args:
    logits: ``[B, V]`` float32, ``-inf`` on tokens already excluded (constraint).
    temperature: > 0; divides the logits (a scalar or ``[B, 1]``).
    top_k: keep the ``k`` largest (and ties with the k-th); 0: all.
    top_p: keep the most likely tokens until their probability reaches
      ``top_p`` (the first always; with ``top_k``, the probabilities of the
      ``k`` largest); 1: all (a scalar or ``[B, 1]``).

  Returns:
    ``[B, V]``: kept tokens' tempered logits, ``-inf`` elsewhere.
  """
  x = logits / temperature
  vocab = x.shape[-1]
  k = top_k if 0 < top_k < vocab else 0
  nucleus = not (isinstance(top_p, numbers.Real) and top_p >= 1.0)
  if not (k or nucleus):
    return x
  # Only the top-k can survive: one partial sort serves both filters.
  ranked = lax.top_k(x, k or vocab)[0]  # --> [B, K] descending
  if k:
    x = jnp.where(x >= ranked[:, -1:], x, -jnp.inf)
  if nucleus:
    probs = jax.nn.softmax(ranked, axis=-1)
    before = jnp.cumsum(probs, axis=-1) - probs  # mass of the more likely ones
    kept = ((before < top_p) & (ranked > -jnp.inf)).at[:, 0].set(True)
    threshold = jnp.min(jnp.where(kept, ranked, jnp.inf), axis=-1, keepdims=True)  # --> [B, 1]
    x = jnp.where(x >= threshold, x, -jnp.inf)
  return x


def _body(state: SampleState, tokens_to_logits, constraint, *, rng, eos_id, temperature, top_k,
          top_p) -> SampleState:
  logits, cache = tokens_to_logits(state.last, state.cache, state.step)
  logprobs = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)  # --> [B, V]
  ok = logprobs > DEAD_BELOW  # also False for NaN and -inf
  if constraint is not None:
    ok &= constraint.allowed(state.constraint_state)[:, 0]
  drawable = filter_logits(jnp.where(ok, logits.astype(jnp.float32), -jnp.inf),
                           temperature=temperature, top_k=top_k, top_p=top_p)
  tokens = jax.random.categorical(jax.random.fold_in(rng, state.step), drawable).astype(jnp.int32)
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
