"""A token constraint under which every finished sequence mentions every required phrase.

Parse -> utterance generation must say every entity of the parse: each row
gets ``K`` phrases (an entity's words as pieces, e.g. ``green peppers`` ->
``green pepper ##s``), and EOS is allowed only once each has been emitted as
contiguous pieces. So that a row can always finish within ``L`` tokens, the
constraint takes over near the end: when the tokens left barely cover the
pieces still owed (the phrase with the most progress finished, then the
others whole), only the next piece of that phrase is allowed, and once all
are said only EOS. Any model, any sampling: every finished sequence holds every
phrase, and a row whose phrases fit (``sum of lengths + 1 <= L``) always finishes.

Matching is conservative: a phrase's progress advances on its next piece and
otherwise restarts (at 1 on its first piece, else 0), so a phrase counts as
said only after all its pieces came in a row (a partial overlap may be missed,
never invented).

Shapes: ``B`` rows, ``W`` beams (1 when sampling), ``K`` phrases per row,
``P`` most pieces per phrase, ``V`` vocabulary.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from fsnlu_jax.kernels import Constraint


class MentionState(NamedTuple):
  progress: jax.Array  # int32 [B, W, K] pieces of each phrase matched in a row so far
  done: jax.Array  # bool [B, W, K] phrase said (padding phrases: True from the start)
  emitted: jax.Array  # int32 [B, W] tokens emitted so far
  said: jax.Array  # int32 [B, W, K] times each phrase was said


def phrase_arrays(phrases: Sequence[Sequence[Sequence[int]]], *, max_phrases: int | None = None,
                  max_pieces: int | None = None) -> tuple[np.ndarray, np.ndarray]:
  """``(pieces int32 [B, K, P] padded with -1, lengths int32 [B, K], 0 for padding)``."""
  k = max_phrases or max((len(row) for row in phrases), default=0) or 1
  p = max_pieces or max((len(x) for row in phrases for x in row), default=0) or 1
  pieces = np.full((len(phrases), k, p), -1, np.int32)
  lengths = np.zeros((len(phrases), k), np.int32)
  for b, row in enumerate(phrases):
    if len(row) > k:
      raise ValueError(f"row {b} has {len(row)} phrases; at most {k}")
    for i, phrase in enumerate(row):
      if not 0 < len(phrase) <= p:
        raise ValueError(f"row {b} phrase {i} has {len(phrase)} pieces; 1 to {p} allowed")
      pieces[b, i, :len(phrase)] = phrase
      lengths[b, i] = len(phrase)
  return pieces, lengths


def mention_constraint(pieces: jax.Array, lengths: jax.Array, *, vocab_size: int, eos_id: int,
                       max_length: int, usable: jax.Array | None = None,
                       in_order: bool = False, caps: jax.Array | None = None) -> Constraint:
  """The constraint of the module docstring (build it inside the jitted function).

  Args:
    pieces: int32 ``[B, K, P]``, each row's phrases (-1 padding); from :func:`phrase_arrays`.
    lengths: int32 ``[B, K]``, 0 for padding phrases.
    vocab_size: ``V``.
    eos_id: the token that ends a sequence.
    max_length: ``L``, the search's most tokens (EOS included).
    usable: bool ``[V]``, the pieces free text may use (e.g.
      :meth:`~fsnlu_jax.data.subword.SubwordTokenizer.text_pieces`: no ``[PAD]``
      or ``[unused7]``); None: every piece. A phrase still owed may start or go
      on with its own pieces anywhere, usable or not.
    in_order: a phrase may start only once every phrase before it is said
      (the placeholders of :mod:`fsnlu_jax.parse.placeholders`, said in
      increasing order).
    caps: int32 ``[B, K]``, the most times each phrase may be said (0: no
      limit): the piece that would complete a phrase said that often is
      forbidden. The parser caps each value at the times its utterance
      mentions it, which stops a beam from writing one value over and over.
  """
  pieces, lengths = jnp.asarray(pieces, jnp.int32), jnp.asarray(lengths, jnp.int32)
  usable = jnp.ones(vocab_size, bool) if usable is None else jnp.asarray(usable, bool)
  # The piece that completes each phrase: [B, K].
  last = jnp.take_along_axis(pieces, (lengths - 1).clip(0)[..., None], -1)[..., 0]

  def init(batch_size: int, beam_size: int) -> MentionState:
    shape = (batch_size, beam_size, pieces.shape[1])
    done = jnp.broadcast_to((lengths == 0)[:, None, :], shape)
    return MentionState(jnp.zeros(shape, jnp.int32), done,
                        jnp.zeros((batch_size, beam_size), jnp.int32), jnp.zeros(shape, jnp.int32))

  def _owed(state: MentionState):
    """``(pieces owed [B, W], the phrase to finish first [B, W], its progress [B, W])``."""
    undone = ~state.done
    total = jnp.where(undone, lengths[:, None, :], 0).sum(-1)
    progress = jnp.where(undone, state.progress, -1)
    first = jnp.argmax(progress, axis=-1)  # --> [B, W]
    best = jnp.maximum(jnp.take_along_axis(progress, first[..., None], -1)[..., 0], 0)
    return total - best, first, best

  def allowed(state: MentionState) -> jax.Array:
    owed, first, best = _owed(state)
    all_done = state.done.all(-1)  # --> [B, W]
    left = max_length - state.emitted  # tokens still allowed, EOS included
    forced = left <= owed + best + 1
    row_pieces = jnp.broadcast_to(pieces[:, None], state.progress.shape + pieces.shape[2:])
    phrase = jnp.take_along_axis(row_pieces, first[..., None, None], 2)[:, :, 0]  # --> [B, W, P]
    next_piece = jnp.take_along_axis(phrase, jnp.minimum(best, pieces.shape[2] - 1)[..., None],
                                     -1)[..., 0]  # --> [B, W]
    vocab = jnp.arange(vocab_size)
    # A phrase still owed may go on (or start) anywhere, even with pieces free text may not
    # use (a placeholder such as [unused0], :mod:`fsnlu_jax.parse.placeholders`); once said,
    # such a piece is closed again, so it is written exactly once.
    width = pieces.shape[2]
    ahead = jnp.take_along_axis(row_pieces, jnp.minimum(state.progress, width - 1)[..., None],
                                -1)[..., 0]  # --> [B, W, K]
    may_start = ~state.done
    if in_order:  # only the first phrase not yet said
      may_start &= jnp.cumsum(~state.done, axis=-1) == 1
    ahead = jnp.where(state.progress > 0, ahead, -1)  # a phrase going on
    starts = jnp.where(may_start, row_pieces[..., 0], -1)
    due_pieces = jnp.where(state.done[..., None], -1,
                           jnp.stack([ahead, starts], -1))  # --> [B, W, K, 2]
    due = (due_pieces.reshape(due_pieces.shape[:2] + (-1, 1)) == vocab).any(2)  # --> [B, W, V]
    free = ((usable | due) & (vocab != eos_id)) | (all_done[..., None] & (vocab == eos_id))
    only = jnp.where(all_done, eos_id, next_piece)[..., None] == vocab
    out = jnp.where(forced[..., None], only, free)
    if caps is not None:
      # The piece that would complete a phrase already said caps[k] times.
      full = (caps[:, None, :] > 0) & (state.said >= caps[:, None, :])  # --> [B, W, K]
      blocked = jnp.where(full & (state.progress == lengths[:, None, :] - 1), last[:, None], -1)
      out &= ~(blocked[..., None] == vocab).any(2)
    return out

  def advance(state: MentionState, tokens: jax.Array) -> MentionState:
    row_pieces = pieces[:, None]  # --> [B, 1, K, P]
    width = pieces.shape[2]
    expected = jnp.take_along_axis(
        jnp.broadcast_to(row_pieces, state.progress.shape + (width,)),
        jnp.minimum(state.progress, width - 1)[..., None], -1)[..., 0]  # --> [B, W, K]
    token = tokens[..., None]
    restart = jnp.where(token == row_pieces[..., 0], 1, 0)
    progress = jnp.where(token == expected, state.progress + 1, restart)
    complete = (progress >= lengths[:, None, :]) & (lengths[:, None, :] > 0)
    done = state.done | complete
    # A said phrase is still matched (counted in said); the owed-piece logic skips it.
    return MentionState(jnp.where(complete, 0, progress), done, state.emitted + 1,
                        state.said + complete)

  return Constraint(init=init, allowed=allowed, advance=advance)
