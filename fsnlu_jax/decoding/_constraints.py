"""Constraints for :func:`fsnlu_jax.kernels.beam_search`: the trie of known-good utterances.

A constraint is any state machine over tokens (:class:`fsnlu_jax.kernels.Constraint`);
here its state is one trie state per beam, int32 ``[B, W]``, and its mask is
:func:`fsnlu_jax.kernels.allowed_tokens`. With a forest of personal tries, each
batch row starts at the root of its own trie, so global and personal decoding
share one compiled function.

Shapes: ``B`` batch, ``W`` beam, ``V`` vocab, ``R`` tries in the forest.

References: CGF, EMNLP 2022 industry track.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from fsnlu_jax.kernels import Constraint, TrieArrays, advance, allowed_tokens, root_states


def trie_constraint(trie: TrieArrays, *, vocab_size: int,
                    trie_ids: jax.Array | None = None) -> Constraint:
  """Restricts every beam to paths of a trie, so each finished output is a stored utterance.

  Build it inside the jitted decode function from a ``trie`` that is an
  argument of that function (not a constant closed over), so a new trie of the
  same shapes reuses the compiled code.

  Args:
    trie: the trie or forest (device arrays).
    vocab_size: ``V`` (static).
    trie_ids: int ``[B]``, the trie of the forest each batch row decodes in
      (e.g. the user's personal trie); None: trie 0 for every row.

  Returns:
    A :class:`~fsnlu_jax.kernels.Constraint` whose state is int32 ``[B, W]``.
  """

  def init(batch_size: int, beam_size: int) -> jax.Array:
    ids = jnp.zeros(batch_size, jnp.int32) if trie_ids is None else trie_ids
    if jnp.shape(ids) != (batch_size,):
      raise ValueError(f"trie_ids must be [B] = ({batch_size},), got {jnp.shape(ids)}")
    return root_states(trie, ids, beam_size)  # --> [B, W]

  return Constraint(init=init,
                    allowed=lambda states: allowed_tokens(trie, states, vocab_size),
                    advance=lambda states, tokens: advance(trie, states, tokens))
