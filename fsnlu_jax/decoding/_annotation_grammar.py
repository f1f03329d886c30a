"""The annotated-utterance grammar of LINGUIST as a beam-search / sampling constraint.

An output such as ``what ' s the weather in [ 1 boston ] [ 2 this weekend ]``
(word pieces) is well formed when brackets are balanced and never nested, each
``[`` is followed by the number of a slot the row may use, each slot appears at
most once, a *required* slot appears exactly once, a slot with a fixed value
copies that value's pieces exactly (slots may share a number: a label requested
twice; ``[ n`` then opens the first unused slot of number ``n``, so values come
in slot order), a span holds at least one word, ``##``
continuation pieces only continue a word, and the utterance has a word. This
module holds that automaton as static-shape arrays, one row per prompt, so a
batch of prompts with different slots decodes in one compiled function.

It also keeps a **length budget**: a token is allowed only if what the row must
still write (the open span's close, every unused required slot as ``[ n value
]``, EOS) fits in the ``L`` tokens left, so every beam and every sample
finishes within ``L``: with this constraint a malformed or unfinished output is
impossible, not merely unlikely.

State per beam (leaves ``[B, W]``): ``mode`` (see the ``OUT``... constants),
``slot`` (the open span's slot index), ``pos`` (pieces of a fixed value
written), ``used`` (bit ``s`` set once slot ``s`` is written), ``words`` (words
written, capped), ``last_word`` (the last piece was a word piece, so ``##`` may
follow), ``emitted`` (tokens written).

Shapes: ``B`` batch (prompts), ``W`` beam (1 when sampling), ``V`` vocab, ``S``
slots per prompt (padding slots have number id -1), ``M`` longest fixed value in
pieces.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from fsnlu_jax.kernels import Constraint

OUT, AFTER_OPEN, IN_WILD_EMPTY, IN_WILD, IN_FIXED, DONE, DEAD = range(7)
MAX_SLOTS = 31  # slots are bits of an int32


class PieceClasses(NamedTuple):
  """What each vocabulary piece can be in an output (host or device arrays).

  Attributes:
    word: bool ``[V]``, a piece that starts a word (not special, not a bracket,
      not ``##``).
    cont: bool ``[V]``, a ``##`` piece that continues a word.
    open_id, close_id, eos_id: int32 ``[]`` ids of ``[``, ``]`` and the end token.
  """

  word: jax.Array
  cont: jax.Array
  open_id: jax.Array
  close_id: jax.Array
  eos_id: jax.Array


class SlotArrays(NamedTuple):
  """The slots each prompt may or must write (host or device arrays).

  Attributes:
    number_ids: int32 ``[B, S]``, the piece id of slot ``s``'s number, -1 for padding.
    required: bool ``[B, S]``, the slot must be written (else it may be).
    value_ids: int32 ``[B, S, M]``, a fixed value's pieces, -1 after its end.
    value_len: int32 ``[B, S]``, pieces in the fixed value; 0: any words (wildcard).
  """

  number_ids: jax.Array
  required: jax.Array
  value_ids: jax.Array
  value_len: jax.Array


class GrammarState(NamedTuple):
  """The automaton's state per beam; leaves ``[B, W]``."""

  mode: jax.Array
  slot: jax.Array
  pos: jax.Array
  used: jax.Array
  words: jax.Array
  last_word: jax.Array
  emitted: jax.Array


def min_length(slots: SlotArrays) -> np.ndarray:
  """Fewest tokens (EOS included) that satisfy each prompt: int ``[B]`` (host side).

  A required slot costs ``[``, its number, its value (one word for a
  wildcard) and ``]``; then EOS; an utterance with no required slot needs one word.
  """
  valid = np.asarray(slots.number_ids) >= 0
  required = np.asarray(slots.required) & valid
  cost = 3 + np.maximum(np.asarray(slots.value_len), 1)
  total = (cost * required).sum(-1)
  return total + 1 + (total == 0)


def _bits(n: int) -> jax.Array:
  return (jnp.int32(1) << jnp.arange(n, dtype=jnp.int32))  # --> [S]


def _first_unused_of_number(number_ids: jax.Array, free: jax.Array) -> jax.Array:
  """bool ``[B, W, S]``: slot ``s`` is unused and no earlier unused slot has its number.

  Args:
    number_ids: int32 ``[B, S]``.
    free: bool ``[B, W, S]``, slots not yet written.
  """
  num_slots = number_ids.shape[-1]
  same = number_ids[:, :, None] == number_ids[:, None, :]  # [B, S(s), S(t)]
  earlier = jnp.arange(num_slots)[None, :] < jnp.arange(num_slots)[:, None]  # t < s
  blocked = jnp.any(same[:, None] & earlier & free[:, :, None, :], -1)  # --> [B, W, S]
  return free & ~blocked


def annotation_constraint(pieces: PieceClasses, slots: SlotArrays, *, max_length: int
                          ) -> Constraint:
  """The grammar of annotated outputs for ``B`` prompts, one per batch row.

  Build it inside the jitted decode function from arrays that are arguments of
  that function, so new prompts of the same shapes reuse the compiled code.

  Args:
    pieces: the vocabulary's :class:`PieceClasses`.
    slots: the prompts' :class:`SlotArrays` (``B`` rows).
    max_length: ``L``, the decoder's most tokens (EOS included), as given to
      the search; every prompt must fit (:func:`min_length` ``<= L``: check it
      on the host, the constraint cannot raise).

  Returns:
    A :class:`~fsnlu_jax.kernels.Constraint` with :class:`GrammarState` leaves ``[B, W]``.
  """
  pieces, slots = jax.tree.map(jnp.asarray, (pieces, slots))
  num_slots = slots.number_ids.shape[1]
  if num_slots > MAX_SLOTS:
    raise ValueError(f"at most {MAX_SLOTS} slots per prompt, got {num_slots}")
  vocab_size = pieces.word.shape[0]
  valid = slots.number_ids >= 0  # --> [B, S]
  required = slots.required & valid
  optional = valid & ~slots.required
  cost = 3 + jnp.maximum(slots.value_len, 1)  # [ n value ] --> [B, S]
  bits = _bits(num_slots)

  def init(batch_size: int, beam_size: int) -> GrammarState:
    zeros = jnp.zeros((batch_size, beam_size), jnp.int32)
    return GrammarState(mode=zeros + OUT, slot=zeros, pos=zeros, used=zeros, words=zeros,
                        last_word=zeros.astype(bool), emitted=zeros)

  def unused(state):  # --> [B, W, S] slots not yet written
    return (state.used[..., None] & bits) == 0

  def allowed(state: GrammarState) -> jax.Array:
    free = unused(state)
    todo = jnp.sum(jnp.where(required[:, None] & free, cost[:, None], 0), -1)  # U --> [B, W]
    room = max_length - (state.emitted + 1)  # tokens that may follow the next one
    can_option = jnp.any(optional[:, None] & free, -1)
    mode = state.mode
    out, after_open = mode == OUT, mode == AFTER_OPEN
    wild_empty, wild, fixed = mode == IN_WILD_EMPTY, mode == IN_WILD, mode == IN_FIXED
    # Extra words only while the rest still fits; the shortest completion always fits.
    word_ok = (out & (todo + 1 <= room)) | wild_empty | (wild & (todo + 2 <= room))
    cont_ok = state.last_word & ((out & (todo + 1 <= room)) | (wild & (todo + 2 <= room)))
    mask = ((pieces.word[None, None, :] & word_ok[..., None])
            | (pieces.cont[None, None, :] & cont_ok[..., None]))  # --> [B, W, V]
    open_ok = out & ((todo > 0) | (can_option & (todo + 4 <= room)))
    value_len = jnp.take_along_axis(slots.value_len[:, None, :], state.slot[..., None], -1)[..., 0]
    close_ok = wild | (fixed & (state.pos >= value_len))
    eos_ok = (out & (todo == 0) & (state.words > 0)) | (mode == DONE)
    batch, beams = mode.shape
    flat = mask.reshape(batch * beams, vocab_size)
    rows = jnp.arange(batch * beams)
    for token, ok in ((pieces.open_id, open_ok), (pieces.close_id, close_ok),
                      (pieces.eos_id, eos_ok)):
      flat = flat.at[rows, token].set(ok.reshape(-1))
    # After '[': the number of an unused slot; an optional one only if it still fits.
    number_ok = after_open[..., None] & free & (required[:, None]
                                               | (optional[:, None] & (todo[..., None] + 3 <= room[..., None])))
    # Slots sharing a number: the piece is allowed if the first unused one of them
    # (the one `advance` opens) is; sum, not set, so a used twin cannot clear it.
    number_ok = number_ok & _first_unused_of_number(slots.number_ids, free)
    number_ids = jnp.broadcast_to(slots.number_ids[:, None], free.shape)
    numbers = jnp.zeros(flat.shape, jnp.int32).at[
        rows[:, None], jnp.where(number_ids >= 0, number_ids, vocab_size).reshape(batch * beams, -1)
    ].add(number_ok.reshape(batch * beams, -1).astype(jnp.int32), mode="drop") > 0
    # Inside a fixed value: exactly its next piece.
    value_ids = jnp.take_along_axis(slots.value_ids[:, None], state.slot[..., None, None], 2
                                    )[:, :, 0]  # --> [B, W, M]
    pos = jnp.minimum(state.pos, value_ids.shape[-1] - 1)
    next_piece = jnp.take_along_axis(value_ids, pos[..., None], -1)[..., 0]
    piece_ok = fixed & (state.pos < value_len) & (next_piece >= 0)
    forced = jnp.zeros_like(flat).at[rows, jnp.where(piece_ok, next_piece, vocab_size).reshape(-1)
                                     ].set(True, mode="drop")
    return (flat | numbers | forced).reshape(batch, beams, vocab_size)

  def advance(state: GrammarState, tokens: jax.Array) -> GrammarState:
    is_open, is_close = tokens == pieces.open_id, tokens == pieces.close_id
    is_eos = tokens == pieces.eos_id
    is_cont = pieces.cont[tokens]
    is_word = pieces.word[tokens] | is_cont
    # The first unused slot with this number (several when a label is requested twice).
    match = (slots.number_ids[:, None, :] == tokens[..., None]) & unused(state)  # --> [B, W, S]
    picked = jnp.argmax(match, -1).astype(jnp.int32)
    picked_len = jnp.take_along_axis(slots.value_len[:, None, :], picked[..., None], -1)[..., 0]
    mode = state.mode
    value_len = jnp.take_along_axis(slots.value_len[:, None, :], state.slot[..., None], -1)[..., 0]
    fixed_piece = (mode == IN_FIXED) & (state.pos < value_len) & ~is_close
    new_mode = jnp.select(
        [mode == DONE,
         (mode == OUT) & is_open, (mode == OUT) & is_eos, (mode == OUT) & is_word,
         (mode == AFTER_OPEN) & jnp.any(match, -1),
         ((mode == IN_WILD_EMPTY) | (mode == IN_WILD)) & is_word,
         (mode == IN_WILD) & is_close,
         fixed_piece,
         (mode == IN_FIXED) & is_close],
        [DONE, AFTER_OPEN, DONE, OUT,
         jnp.where(picked_len > 0, IN_FIXED, IN_WILD_EMPTY),
         IN_WILD, OUT, IN_FIXED, OUT],
        DEAD)
    opened = mode == AFTER_OPEN
    return GrammarState(
        mode=new_mode.astype(jnp.int32),
        slot=jnp.where(opened, picked, state.slot),
        pos=jnp.where(opened, 0, state.pos + fixed_piece.astype(jnp.int32)),
        used=jnp.where(opened, state.used | (jnp.int32(1) << picked), state.used),
        words=jnp.minimum(state.words + (is_word & ~is_cont), 1 << 20),
        last_word=is_word,
        emitted=state.emitted + 1)

  return Constraint(init=init, allowed=allowed, advance=advance)
