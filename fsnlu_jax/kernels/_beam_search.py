"""Beam search in one ``lax.while_loop``, with a pluggable token constraint (t5x style).

A pure kernel: the model enters as ``tokens_to_logits(tokens [B*W], cache,
step) -> (logits [B*W, V], cache)`` and a constraint (any state machine over
tokens: a trie, an output grammar) as a :class:`Constraint`. Call it inside your
own ``jax.jit`` with the model parameters and the constraint's arrays (e.g. the
trie) as arguments of the jitted function: every shape is static, so it
compiles once per ``(B, W, L, V)`` and cache/trie shapes.

Scores are the model's log-probabilities, not renormalised over the allowed
tokens, so they stay comparable across constraints and against an abstention
threshold; a finished beam scores ``log p / ((5 + n) / 6) ** alpha`` with ``n``
its length, EOS included (GNMT, t5x). A disallowed token, a beam with no allowed
token and a token of log-probability below :data:`DEAD_BELOW` are dead ends:
their candidates get :data:`NEG_INF` and can never finish, so under a trie every
finished sequence is a trie path. A beam that reaches ``L`` tokens without EOS
does not finish.

Shapes: ``B`` batch, ``W`` beam, ``L`` max length (tokens emitted, EOS
included), ``V`` vocab, ``W'`` beams picked in a gather (``W`` or ``2W``).

References: Wu et al. 2016 (GNMT length penalty); t5x ``decoding.beam_search``;
CGF, EMNLP 2022 industry track.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

PyTree = Any
NEG_INF = -1.0e9  # finite stand-in for log(0): dead beams and empty finished slots
DEAD_BELOW = NEG_INF / 2  # a score below this is dead, whatever was added to it


class Constraint(NamedTuple):
  """A state machine over tokens that masks the logits of every beam.

  Attributes:
    init: ``(batch_size, beam_size) -> state``, leaves ``[B, W, ...]``.
    allowed: ``state -> bool [B, W, V]``, True where the token may come next.
    advance: ``(state, tokens [B, W]) -> state`` after each beam emits its token.
  """

  init: Callable[[int, int], PyTree]
  allowed: Callable[[PyTree], jax.Array]
  advance: Callable[[PyTree, jax.Array], PyTree]


def shortlist_constraint(constraint: Constraint, output_ids: jax.Array) -> Constraint:
  """``constraint`` (over the ``V`` pieces) for a search over ``V'`` output positions.

  A model with an output shortlist scores only the pieces ``output_ids
  [V']``; its search emits positions in that list. The mask is the
  constraint's own at those pieces and each emitted position advances the
  constraint by its piece, so the search allows exactly the shortlisted
  pieces the constraint allows.

  >>> import jax.numpy as jnp
  >>> only_5 = Constraint(init=lambda b, w: jnp.zeros((b, w), jnp.int32),
  ...                     allowed=lambda s: (jnp.arange(8) == 5 + s[..., None]),
  ...                     advance=lambda s, t: s + (t == 5))
  >>> short = shortlist_constraint(only_5, jnp.array([2, 5, 6]))
  >>> state = short.init(1, 1)
  >>> short.allowed(state).tolist(), short.allowed(short.advance(state, jnp.array([[1]]))).tolist()
  ([[[False, True, False]]], [[[False, False, True]]])
  """
  output_ids = jnp.asarray(output_ids, jnp.int32)
  return Constraint(init=constraint.init,
                    allowed=lambda state: constraint.allowed(state)[..., output_ids],
                    advance=lambda state, tokens: constraint.advance(state, output_ids[tokens]))


def row_masked_constraint(constraint: Constraint, row_mask: jax.Array) -> Constraint:
  """``constraint`` that also forbids, in batch row ``b``, the tokens where ``row_mask[b]``
  (bool ``[B, V]``) is False: a per-input restriction on top of a shared automaton.

  >>> import jax.numpy as jnp
  >>> free = Constraint(init=lambda b, w: jnp.zeros((b, w), jnp.int32),
  ...                   allowed=lambda s: jnp.ones(s.shape + (3,), bool), advance=lambda s, t: s)
  >>> c = row_masked_constraint(free, jnp.array([[True, False, True], [False, True, True]]))
  >>> c.allowed(c.init(2, 1)).astype(int).tolist()
  [[[1, 0, 1]], [[0, 1, 1]]]
  """
  row_mask = jnp.asarray(row_mask, bool)
  return Constraint(init=constraint.init,
                    allowed=lambda state: constraint.allowed(state) & row_mask[:, None, :],
                    advance=constraint.advance)


def all_of(*constraints: Constraint) -> Constraint:
  """Every constraint at once: a token is allowed where all allow it; each keeps its state.

  >>> import jax.numpy as jnp
  >>> not_0 = Constraint(lambda b, w: jnp.zeros((b, w)), lambda s: jnp.arange(3) != 0,
  ...                    lambda s, t: s)
  >>> not_2 = Constraint(lambda b, w: jnp.zeros((b, w)), lambda s: jnp.arange(3) != 2,
  ...                    lambda s, t: s)
  >>> both = all_of(not_0, not_2)
  >>> both.allowed(both.init(1, 1)).tolist()
  [False, True, False]
  """
  def allowed(states):
    masks = [c.allowed(s) for c, s in zip(constraints, states)]
    out = masks[0]
    for mask in masks[1:]:
      out = out & mask
    return out

  return Constraint(init=lambda b, w: tuple(c.init(b, w) for c in constraints),
                    allowed=allowed,
                    advance=lambda states, tokens: tuple(
                        c.advance(s, tokens) for c, s in zip(constraints, states)))


class BeamState(NamedTuple):
  """The ``lax.while_loop`` carry of :func:`beam_search`."""

  cur_index: jax.Array  # int32 [] tokens emitted so far by the live beams (the step)
  live_seqs: jax.Array  # int32 [B, W, L] live beams' tokens, 0 from cur_index on
  live_logprobs: jax.Array  # float32 [B, W] live beams' log-probs, NEG_INF when dead
  finished_seqs: jax.Array  # int32 [B, W, L] finished sequences, EOS last, 0 after
  finished_scores: jax.Array  # float32 [B, W] length-penalised scores, NEG_INF when empty
  finished_flags: jax.Array  # bool [B, W] whether the finished slot holds a sequence
  cache: PyTree  # the model's cache, leaves [B*W, ...] in live-beam order
  constraint_state: PyTree  # the constraint's state, leaves [B, W, ...] (None without one)


class BeamResult(NamedTuple):
  """Finished sequences, best first."""

  sequences: jax.Array  # int32 [B, W, L] without BOS, EOS last, 0 after; all 0 when not finished
  scores: jax.Array  # float32 [B, W] length-penalised log-prob, NEG_INF when not finished
  lengths: jax.Array  # int32 [B, W] tokens including EOS, 0 when not finished
  finished: jax.Array  # bool [B, W]


def length_penalty(length: jax.Array, alpha: float) -> jax.Array:
  """GNMT's ``((5 + length) / 6) ** alpha``."""
  return ((5.0 + jnp.asarray(length, jnp.float32)) / 6.0) ** alpha


def expand_to_beams(tree: PyTree, beam_size: int) -> PyTree:
  """Repeats each batch row ``W`` times: leaves ``[B, ...] -> [B*W, ...]`` (scalars kept).

  Row ``b * W + w`` is beam ``w`` of batch row ``b``, the layout
  :func:`beam_search` expects for the cache.
  """
  return jax.tree.map(lambda x: x if jnp.ndim(x) == 0 else jnp.repeat(x, beam_size, axis=0), tree)


def _gather_beams(tree: PyTree, parents: jax.Array, *, flat: bool) -> PyTree:
  """Picks beams ``parents [B, W']`` from leaves ``[B, W, ...]`` (or ``[B*W, ...]`` when flat)."""
  batch, width = parents.shape

  def gather(x):
    if not flat:
      return jax.vmap(lambda row, idx: row[idx])(x, parents)  # --> [B, W', ...]
    if jnp.ndim(x) == 0:  # e.g. a shared cache index: the same for every beam
      return x
    beams = x.shape[0] // batch
    rows = (jnp.arange(batch)[:, None] * beams + parents).reshape(batch * width)
    return x[rows]  # --> [B*W', ...]

  return jax.tree.map(gather, tree)


# Block widths tried for blocked_top_k, in order: the first that divides the row is used.
# Measured on XLA:CPU (one Zen 4 core): the block max runs at 0.1 ns per element for
# these widths, while 48, or any width that needs padding (a copy), ran 5-10x slower.
_TOP_K_BLOCKS = (64, 60, 50, 80, 75, 100, 120, 125, 128)


def blocked_top_k(x: jax.Array, k: int) -> tuple[jax.Array, jax.Array]:
  """``lax.top_k(x, k)`` over the last axis, the same values and indices, faster on
  long rows: ``x [..., N]`` -> ``([..., k], [..., k])``.

  The row is cut into contiguous blocks of ``b`` (``b`` divides ``N``); the ``k``
  blocks with the largest maxima hold the ``k`` largest elements (any element of
  another block has ``k`` elements at least as large before it: each chosen
  block's maximum, larger, or equal and at a lower index, since ties between
  block maxima go to the lower block). Those ``k * b`` candidates, kept in index
  order, give the answer with ``lax.top_k``'s tie rule (equal values: lower index
  first). XLA:CPU's TopK costs ~1.4 ns per element; a block max ~0.1: at
  ``[32, 4 x 30k]``, k = 8, 5.4 ms -> 0.55 ms. Falls back to ``lax.top_k`` where
  no width of :data:`_TOP_K_BLOCKS` divides ``N`` or the row has fewer than
  ``4 k`` blocks.
  """
  n = x.shape[-1]
  block = next((b for b in _TOP_K_BLOCKS if n % b == 0 and n // b >= 4 * k), None)
  if block is None:
    return lax.top_k(x, k)
  chosen, candidates = top_blocks(x, k, block)
  values, position = lax.top_k(candidates, k)
  index = jnp.take_along_axis(chosen, position // block, axis=-1) * block + position % block
  return values, index


def top_blocks(x: jax.Array, k: int, block: int) -> tuple[jax.Array, jax.Array]:
  """The ``k`` contiguous blocks of ``block`` values with the largest maxima:
  ``x [..., N]`` (``block`` divides ``N``) -> ``(chosen [..., k], candidates
  [..., k * block])``, blocks in index order (ties between maxima: the lower
  block). Every value above the k-th largest block maximum is in them."""
  lead, n = x.shape[:-1], x.shape[-1]
  blocks = x.reshape(*lead, n // block, block)  # --> [..., N / b, b]
  _, chosen = lax.top_k(blocks.max(axis=-1), k)  # --> [..., k]
  chosen = jnp.sort(chosen, axis=-1)  # index order, so candidates keep lax.top_k's tie rule
  candidates = jnp.take_along_axis(blocks, chosen[..., None], axis=-2)  # --> [..., k, b]
  return chosen, candidates.reshape(*lead, k * block)


def _init(cache, constraint, *, batch_size, beam_size, max_length) -> BeamState:
  seqs = jnp.zeros((batch_size, beam_size, max_length), jnp.int32)
  # Only beam 0 is alive at first, else W identical beams would fill the beam.
  first = jnp.full((batch_size, beam_size), NEG_INF, jnp.float32).at[:, 0].set(0.0)
  return BeamState(
      cur_index=jnp.zeros((), jnp.int32), live_seqs=seqs, live_logprobs=first,
      finished_seqs=seqs, finished_scores=jnp.full((batch_size, beam_size), NEG_INF, jnp.float32),
      finished_flags=jnp.zeros((batch_size, beam_size), bool), cache=cache,
      constraint_state=None if constraint is None else constraint.init(batch_size, beam_size))


def _cond(state: BeamState, *, max_length, alpha) -> jax.Array:
  """Go on while some row has a live beam that could still beat its worst finished one."""
  best_live = jnp.max(state.live_logprobs, axis=1)  # --> [B]
  # Log-probs only fall, and the penalty only grows with length (alpha >= 0):
  # dividing by the largest penalty bounds every live beam's final score.
  bound = best_live / length_penalty(max_length, alpha)
  worst_finished = jnp.min(state.finished_scores, axis=1)
  done = (best_live < DEAD_BELOW) | (jnp.all(state.finished_flags, axis=1) & (worst_finished > bound))
  return (state.cur_index < max_length) & ~jnp.all(done)


def _step_logprobs(state, tokens_to_logits, constraint, *, bos_id, vocab_size):
  """Candidate log-probs ``[B, W, V]`` (dead ends at NEG_INF) and the new cache."""
  batch, beams, _ = state.live_seqs.shape
  cur = state.cur_index
  previous = lax.dynamic_index_in_dim(state.live_seqs, jnp.maximum(cur - 1, 0), 2, keepdims=False)
  last = jnp.where(cur == 0, bos_id, previous).astype(jnp.int32)  # --> [B, W]
  logits, cache = tokens_to_logits(last.reshape(batch * beams), state.cache, cur)
  logprobs = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
  candidates = state.live_logprobs[:, :, None] + logprobs.reshape(batch, beams, vocab_size)
  ok = candidates > DEAD_BELOW  # also False for NaN and -inf
  if constraint is not None:
    ok &= constraint.allowed(state.constraint_state)
  return jnp.where(ok, candidates, NEG_INF), cache


def _update_finished(state, seqs, logprobs, tokens, *, eos_id, alpha, beam_size):
  """Merges the candidates ending in EOS into the W best finished sequences."""
  ends = (tokens == eos_id) & (logprobs > DEAD_BELOW)
  scores = jnp.where(ends, logprobs / length_penalty(state.cur_index + 1, alpha), NEG_INF)
  all_seqs = jnp.concatenate([state.finished_seqs, seqs], axis=1)  # --> [B, 3W, L]
  all_scores = jnp.concatenate([state.finished_scores, scores], axis=1)
  all_flags = jnp.concatenate([state.finished_flags, ends], axis=1)
  best, pick = lax.top_k(all_scores, beam_size)  # --> [B, W]
  flags = jnp.take_along_axis(all_flags, pick, axis=1)
  return _gather_beams(all_seqs, pick, flat=False), jnp.where(flags, best, NEG_INF), flags


def _body(state: BeamState, tokens_to_logits, constraint, *, beam_size, vocab_size, bos_id,
          eos_id, alpha) -> BeamState:
  candidates, cache = _step_logprobs(state, tokens_to_logits, constraint, bos_id=bos_id,
                                     vocab_size=vocab_size)
  batch = candidates.shape[0]
  # 2W candidates: even if W of them end in EOS, W can stay live (t5x).
  top_lp, top_index = blocked_top_k(candidates.reshape(batch, beam_size * vocab_size),
                                    min(2 * beam_size, beam_size * vocab_size))  # --> [B, 2W]
  parents, tokens = top_index // vocab_size, (top_index % vocab_size).astype(jnp.int32)
  seqs = _gather_beams(state.live_seqs, parents, flat=False)  # --> [B, 2W, L]
  at_cur = jnp.arange(seqs.shape[-1]) == state.cur_index
  seqs = jnp.where(at_cur, tokens[:, :, None], seqs)
  fin_seqs, fin_scores, fin_flags = _update_finished(
      state, seqs, top_lp, tokens, eos_id=eos_id, alpha=alpha, beam_size=beam_size)
  stay = jnp.where((tokens != eos_id) & (top_lp > DEAD_BELOW), top_lp, NEG_INF)
  live_lp, pick = lax.top_k(stay, beam_size)  # --> [B, W]
  live_parents = jnp.take_along_axis(parents, pick, axis=1)
  live_tokens = jnp.take_along_axis(tokens, pick, axis=1)
  constraint_state = state.constraint_state
  if constraint is not None:
    constraint_state = _gather_beams(constraint_state, live_parents, flat=False)
    constraint_state = constraint.advance(constraint_state, live_tokens)
  return BeamState(
      cur_index=state.cur_index + 1, live_seqs=_gather_beams(seqs, pick, flat=False),
      live_logprobs=live_lp, finished_seqs=fin_seqs, finished_scores=fin_scores,
      finished_flags=fin_flags, cache=_gather_beams(cache, live_parents, flat=True),
      constraint_state=constraint_state)


def _search(tokens_to_logits, cache, *, batch_size, beam_size, max_length, vocab_size, bos_id,
            eos_id, alpha, constraint) -> BeamState:
  """The final :class:`BeamState` (tests read its ``cur_index`` to see the early exit)."""
  if alpha < 0:
    raise ValueError(f"alpha must be >= 0 (the early exit relies on it), got {alpha}")
  if not 0 <= eos_id < vocab_size:
    raise ValueError(f"eos_id {eos_id} is not in [0, vocab_size={vocab_size})")
  for path, leaf in jax.tree_util.tree_leaves_with_path(cache):
    if jnp.ndim(leaf) and jnp.shape(leaf)[0] != batch_size * beam_size:
      raise ValueError(f"cache leaf {jax.tree_util.keystr(path)} has shape {jnp.shape(leaf)}; "
                       f"its leading dim must be B*W = {batch_size * beam_size} "
                       "(see expand_to_beams)")
  state = _init(cache, constraint, batch_size=batch_size, beam_size=beam_size,
                max_length=max_length)
  return lax.while_loop(
      lambda s: _cond(s, max_length=max_length, alpha=alpha),
      lambda s: _body(s, tokens_to_logits, constraint, beam_size=beam_size,
                      vocab_size=vocab_size, bos_id=bos_id, eos_id=eos_id, alpha=alpha),
      state)


def beam_search(tokens_to_logits: Callable[[jax.Array, PyTree, jax.Array], tuple[jax.Array, PyTree]],
                cache: PyTree, *, batch_size: int, beam_size: int, max_length: int,
                vocab_size: int, bos_id: int, eos_id: int, alpha: float = 0.6,
                constraint: Constraint | None = None) -> BeamResult:
  """The ``W`` best finished sequences of each batch row, best first.

  Args:
    tokens_to_logits: ``(tokens [B*W] int32 last tokens, cache, step int32 []) ->
      (logits [B*W, V], cache)``; called once per step, starting with ``bos_id``.
    cache: the model's decoding cache, leaves ``[B*W, ...]`` (tile a ``[B, ...]``
      cache with :func:`expand_to_beams`); leaves are reordered by parent beam
      each step; scalar leaves are passed through.
    batch_size: ``B``.
    beam_size: ``W``.
    max_length: ``L``, most tokens per sequence, EOS included.
    vocab_size: ``V``.
    bos_id: the first input token.
    eos_id: the token that finishes a sequence.
    alpha: length-penalty exponent (>= 0; 0: plain log-probs).
    constraint: masks the tokens each beam may emit; None: unconstrained.

  Returns:
    :class:`BeamResult`: ``sequences [B, W, L]``, ``scores [B, W]``, ``lengths
    [B, W]``, ``finished [B, W]``; slots with no finished sequence have
    ``finished`` False and score :data:`NEG_INF`.

  >>> table = jnp.log(jnp.array([[.1, .6, .3], [.1, .1, .8], [.1, .8, .1]]))
  >>> step = lambda tokens, cache, i: (table[tokens], cache)
  >>> out = beam_search(step, None, batch_size=1, beam_size=2, max_length=3, vocab_size=3,
  ...                   bos_id=0, eos_id=1, alpha=0.0)
  >>> out.sequences[0, 0].tolist(), out.lengths[0].tolist()
  ([1, 0, 0], [1, 2])
  """
  state = _search(tokens_to_logits, cache, batch_size=batch_size, beam_size=beam_size,
                  max_length=max_length, vocab_size=vocab_size, bos_id=bos_id, eos_id=eos_id,
                  alpha=alpha, constraint=constraint)
  flags = state.finished_flags
  seqs = jnp.where(flags[:, :, None], state.finished_seqs, 0)
  is_eos = seqs == eos_id
  lengths = jnp.where(flags, jnp.argmax(is_eos, axis=-1) + 1, 0).astype(jnp.int32)
  return BeamResult(sequences=seqs, scores=jnp.where(flags, state.finished_scores, NEG_INF),
                    lengths=lengths, finished=flags)
