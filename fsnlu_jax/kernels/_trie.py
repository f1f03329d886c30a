"""A trie of token sequences held as arrays: allowed-token masks and state advance.

The trie stores utterances (token ids ending in EOS) as a forest of one or more
tries; ``roots[r]`` is the root state of trie ``r`` (one global trie, or many
personal ones concatenated), so one compiled function serves both. Memory grows
with the number of edges ``A``, not with ``S x V``:

* the children of state ``s`` are the edges ``offsets[s]:offsets[s + 1]``
  (compressed sparse rows), their tokens sorted ascending in ``edge_tokens``
  and their states in ``edge_child``;
* a state with more than ``F`` children (the root, a few frequent prefixes) has
  a dense bit row ``dense_bits[dense_row[s]]`` of ``V`` bits; row 0 is empty
  and stands for "not dense".

A mask is one gather of a bit row plus one scatter of at most ``F`` window
tokens per beam; advancing is a binary search in the state's edge range. State
``-1`` is dead: it allows nothing and advances to itself, as does any token
that is not a child.

Shapes: ``B`` batch, ``W`` beam, ``V`` vocab, ``S`` trie states, ``A`` edges
(arcs; ``S - 1`` for one trie), ``F`` largest fan-out kept sparse, ``Sd`` dense
states, ``R`` tries in the forest, ``Sf`` states looked up (``states``
flattened). The arrays are built on the host by
:func:`fsnlu_jax.decoding.build_trie` (NumPy leaves); ``jax.device_put`` them
once, then pass them as arguments of jitted code (never close over them, or they
become compile-time constants).

References: De Cao et al. 2021, "Autoregressive Entity Retrieval" (GENRE
prefix-trie constraint); CGF, EMNLP 2022 industry track.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

DEAD = -1  # the state of a beam that has left the trie
_WORD = 32  # bits per dense_bits word


class TrieArrays(NamedTuple):
  """A forest of tries as arrays (a pytree; see the module docstring)."""

  offsets: jax.Array  # int32 [S + 1] children of state s are edges offsets[s]:offsets[s+1]
  edge_tokens: jax.Array  # int32 [A] token of each edge, ascending within a state's range
  edge_child: jax.Array  # int32 [A] the state an edge leads to
  dense_row: jax.Array  # int32 [S] row of dense_bits for a state with > F children, else 0
  dense_bits: jax.Array  # uint32 [Sd + 1, ceil(V / 32)] allowed-token bits; row 0 all zero
  roots: jax.Array  # int32 [R] root state of each trie of the forest, -1 for an empty one
  window: jax.Array  # int32 [F] arange(F): its length F is static, so masks compile once

  @property
  def num_states(self) -> int:
    return self.offsets.shape[0] - 1

  @property
  def num_edges(self) -> int:
    return self.edge_tokens.shape[0]

  @property
  def nbytes(self) -> int:
    """Bytes held by all the arrays."""
    return sum(int(np.prod(x.shape)) * np.dtype(x.dtype).itemsize for x in self)


def _check_vocab(trie: TrieArrays, vocab_size: int) -> None:
  words = trie.dense_bits.shape[1]
  if not (words - 1) * _WORD < vocab_size <= words * _WORD:
    raise ValueError(f"vocab_size {vocab_size} does not match a trie built for "
                     f"{(words - 1) * _WORD + 1}..{words * _WORD} tokens")


def _lookup(trie: TrieArrays, states: jax.Array):
  """``(safe state, live, first edge, child count)``, all ``[Sf]``; dead states have no children."""
  live = states >= 0
  safe = jnp.where(live, states, 0)
  start = trie.offsets[safe]
  count = jnp.where(live, trie.offsets[safe + 1] - start, 0)
  return safe, live, start, count


def root_states(trie: TrieArrays, trie_ids: jax.Array, beam_size: int) -> jax.Array:
  """Root states of the given tries, one per batch row, repeated over the beam.

  Args:
    trie: the forest.
    trie_ids: int ``[B]``, which trie of the forest each batch row decodes in.
    beam_size: ``W``.

  Returns:
    int32 ``[B, W]`` start states (-1 where that trie is empty).
  """
  roots = trie.roots[jnp.asarray(trie_ids, jnp.int32)]  # --> [B]
  return jnp.broadcast_to(roots[:, None], (roots.shape[0], beam_size)).astype(jnp.int32)


def allowed_tokens(trie: TrieArrays, states: jax.Array, vocab_size: int) -> jax.Array:
  """Which tokens continue each state along a trie path.

  Args:
    trie: the forest.
    states: int ``[...]`` (e.g. ``[B, W]``), trie states; -1 is dead.
    vocab_size: ``V`` (static).

  Returns:
    bool ``[..., V]``, True where the token is an edge out of the state.

  >>> from fsnlu_jax.decoding import build_trie
  >>> trie = build_trie([[4, 5], [4, 6]], vocab_size=8, eos_id=3)
  >>> np.flatnonzero(allowed_tokens(trie, jnp.array([0]), 8)[0]).tolist()
  [4]
  """
  _check_vocab(trie, vocab_size)
  flat = jnp.asarray(states, jnp.int32).reshape(-1)  # --> [Sf]
  safe, live, start, count = _lookup(trie, flat)
  row = jnp.where(live, trie.dense_row[safe], 0)
  words = trie.dense_bits[row]  # --> [Sf, V/32]
  shifts = jnp.arange(_WORD, dtype=jnp.uint32)
  bits = (words[:, :, None] >> shifts) & 1  # --> [Sf, V/32, 32], bit k of word w is token 32w+k
  mask = bits.reshape(flat.shape[0], -1)[:, :vocab_size].astype(bool)  # --> [Sf, V]
  # Sparse states: scatter their (at most F) child tokens; dense ones scatter none.
  slot = trie.window[None, :]  # --> [1, F]
  in_range = (slot < count[:, None]) & (row == 0)[:, None]
  edge = jnp.clip(start[:, None] + slot, 0, trie.num_edges - 1)  # --> [Sf, F]
  tokens = jnp.where(in_range, trie.edge_tokens[edge], vocab_size)  # V: dropped below
  rows = jnp.arange(flat.shape[0])[:, None]
  mask = mask.at[rows, tokens].set(True, mode="drop")
  return mask.reshape(*jnp.shape(states), vocab_size)


def advance(trie: TrieArrays, states: jax.Array, tokens: jax.Array) -> jax.Array:
  """The state reached from each state by its token (-1 when there is no such edge).

  Args:
    trie: the forest.
    states: int ``[...]`` (e.g. ``[B, W]``); -1 is dead and stays dead.
    tokens: int, same shape as ``states``.

  Returns:
    int32, same shape: the child states.
  """
  shape = jnp.shape(states)
  flat = jnp.asarray(states, jnp.int32).reshape(-1)
  want = jnp.asarray(tokens, jnp.int32).reshape(-1)
  _, live, start, count = _lookup(trie, flat)
  lo, hi = start, start + count
  last = max(trie.num_edges - 1, 0)
  # Lower bound of `want` in edge_tokens[lo:hi]; a fan-out is at most V, so
  # log2(V) + 1 halvings always suffice (static, unrolled, no data-dependent loop).
  for _ in range((trie.dense_bits.shape[1] * _WORD).bit_length()):
    mid = (lo + hi) // 2
    right = (lo < hi) & (trie.edge_tokens[jnp.minimum(mid, last)] < want)
    lo, hi = jnp.where(right, mid + 1, lo), jnp.where(right, hi, mid)
  at = jnp.minimum(lo, last)
  found = live & (lo < start + count) & (trie.edge_tokens[at] == want)
  return jnp.where(found, trie.edge_child[at], DEAD).reshape(shape)


def pad_trie(trie: TrieArrays, *, num_states: int, num_edges: int, num_dense: int,
             num_roots: int | None = None) -> TrieArrays:
  """Pads a trie with unreachable states, edges and dense rows to fixed sizes.

  Tries padded to the same sizes (and built with the same ``F`` and ``V``) have
  the same shapes, so jitted code that takes them compiles once. Host-side
  (NumPy); the paths of the trie are unchanged.

  Args:
    trie: the forest.
    num_states: ``S`` after padding (>= the trie's).
    num_edges: ``A`` after padding.
    num_dense: ``Sd`` after padding (dense rows besides the empty row 0).
    num_roots: ``R`` after padding (extra tries are empty); default unchanged.

  Returns:
    The padded :class:`TrieArrays` with NumPy leaves.
  """
  t = TrieArrays(*(np.asarray(x) for x in trie))
  num_roots = t.roots.shape[0] if num_roots is None else num_roots
  extra = (num_states - t.num_states, num_edges - t.num_edges,
           num_dense + 1 - t.dense_bits.shape[0], num_roots - t.roots.shape[0])
  if min(extra) < 0:
    have = (t.num_states, t.num_edges, t.dense_bits.shape[0] - 1, t.roots.shape[0])
    raise ValueError(f"cannot pad a trie of (S, A, Sd, R) = {have} to "
                     f"{(num_states, num_edges, num_dense, num_roots)}")
  # Padded states have no children: their offsets repeat the last one.
  return TrieArrays(
      offsets=np.pad(t.offsets, (0, extra[0]), mode="edge"),
      edge_tokens=np.pad(t.edge_tokens, (0, extra[1]), constant_values=np.iinfo(np.int32).max),
      edge_child=np.pad(t.edge_child, (0, extra[1]), constant_values=DEAD),
      dense_row=np.pad(t.dense_row, (0, extra[0])),
      dense_bits=np.pad(t.dense_bits, ((0, extra[2]), (0, 0))),
      roots=np.pad(t.roots, (0, extra[3]), constant_values=DEAD),
      window=t.window)
