"""Building the trie of known-good utterances as arrays, on the host, vectorised.

Utterances become rows of an int32 matrix ``[U, 1 + Lmax]``: column 0 holds the
trie (user) the row belongs to, then the tokens shifted by one, EOS included,
then 0-padding. One ``np.lexsort`` brings rows with a common prefix together;
a prefix is a new trie state where the sorted row differs from the row above in
some column up to that depth (``np.diff`` then a running OR along the row).
States are numbered breadth first (depth-major ``np.cumsum``), so edges come out
grouped by parent and sorted by token, which is exactly the compressed-row layout
of :class:`fsnlu_jax.kernels.TrieArrays`. There is no Python loop per utterance
apart from reading the input lists (``np.fromiter``).

Bad input is counted, and never silent: an utterance with a token outside
``[0, V)`` (``trie/out_of_vocab``), an EOS before its end (``trie/eos_inside``),
nothing before EOS (``trie/empty``), longer than ``max_length`` tokens with EOS
(``trie/too_long``) is dropped; repeats are merged (``trie/duplicate``). The
counts go to an optional :class:`~fsnlu_jax.data.defects.DefectLog` and to the
``logging`` module; a drop is, by ``on_drop``, a logged warning (the default),
a ``ValueError`` naming the first dropped utterance (``"raise"``), or only
counted (``"count"``, for a caller that reports the log itself). A trailing
EOS in the input is accepted and not doubled.

Shapes: ``U`` utterances, ``R`` tries, ``S`` states, ``A`` edges (arcs), ``F`` fan-out
kept sparse, ``V`` vocab, ``Lmax`` tokens of the longest utterance.

This module imports :class:`TrieArrays` (a NamedTuple) from ``fsnlu_jax.kernels``
so that host and device share one definition; the arrays it returns are NumPy.
"""

from __future__ import annotations

import itertools
import logging
from typing import Iterable, Sequence

import numpy as np

from fsnlu_jax._progress import progress
from fsnlu_jax.data.defects import DefectLog
from fsnlu_jax.kernels import TrieArrays, pad_trie

DEFAULT_DENSE_FANOUT = 32  # states with more children get a dense bit row (see benchmarks)

_log = logging.getLogger(__name__)


def _ragged(sequences: Iterable[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
  """``(flat tokens [sum(lengths)] int64, lengths [U])`` of a list of token sequences."""
  sequences = sequences if isinstance(sequences, Sequence) else list(sequences)
  lengths = np.fromiter(map(len, sequences), np.int64, count=len(sequences))
  flat = np.fromiter(itertools.chain.from_iterable(sequences), np.int64, count=int(lengths.sum()))
  return flat, lengths


def _row_any(flags: np.ndarray, rows: np.ndarray, num_rows: int) -> np.ndarray:
  out = np.zeros(num_rows, bool)
  out[rows[flags]] = True
  return out


ON_DROP = ("warn", "raise", "count")


def _validate(flat, lengths, *, vocab_size, eos_id, max_length, log, on_drop="warn"):
  """Drops bad utterances (counting them); returns ``(flat, lengths, kept)`` without EOS."""
  num = lengths.shape[0]
  rows = np.repeat(np.arange(num, dtype=np.int32), lengths)
  ends = np.cumsum(lengths) - 1
  trailing = (lengths > 0) & (flat[np.maximum(ends, 0)] == eos_id) if flat.size else lengths < 0
  keep_token = np.ones(flat.shape, bool)
  keep_token[ends[trailing]] = False  # a given final EOS is ours to add
  flat, rows = flat[keep_token], rows[keep_token]
  lengths = lengths - trailing
  oov = _row_any((flat < 0) | (flat >= vocab_size), rows, num)
  eos_inside = _row_any(flat == eos_id, rows, num) & ~oov
  empty = lengths == 0
  too_long = (lengths + 1 > max_length) & ~(oov | eos_inside | empty) if max_length else empty & False
  dropped = []
  for kind, bad in (("out_of_vocab", oov), ("eos_inside", eos_inside), ("empty", empty),
                    ("too_long", too_long)):
    if bad.any():
      first = int(np.flatnonzero(bad)[0])
      log.add(f"trie/{kind}", f"utterance {first}", int(bad.sum()))
      dropped.append(f"{int(bad.sum())} {kind} (first: utterance {first})")
  if dropped:
    message = (f"trie: {int((oov | eos_inside | empty | too_long).sum())} of "
               f"{num} utterances dropped: {', '.join(dropped)}")
    if on_drop == "raise":
      raise ValueError(message + f" (vocab_size {vocab_size}, eos_id {eos_id}, "
                       f"max_length {max_length})")
    if on_drop == "warn":
      _log.warning("%s; on_drop='count' to only count them, 'raise' to refuse", message)
  kept = ~(oov | eos_inside | empty | too_long)
  return flat[kept[rows]], lengths[kept], kept


def _padded(flat, lengths, groups, eos_id) -> np.ndarray:
  """``[U, 1 + Lmax + 1]`` int32: group, tokens + 1, EOS + 1, then 0."""
  num = lengths.shape[0]
  width = 2 + int(lengths.max(initial=0))
  matrix = np.zeros((num, width), np.int32)
  matrix[:, 0] = groups
  rows = np.repeat(np.arange(num, dtype=np.int32), lengths)
  cols = 1 + np.arange(flat.shape[0]) - np.repeat(np.cumsum(lengths) - lengths, lengths)
  matrix[rows, cols] = flat + 1
  matrix[np.arange(num), 1 + lengths] = eos_id + 1
  return matrix


def _number_states(matrix: np.ndarray):
  """Per sorted row and depth: is the prefix new, and its breadth-first state id
  (``[2 + Lmax, U]``)."""
  cols = matrix.T  # --> [2 + Lmax, U], one row per depth
  differs = np.ones(cols.shape, bool)
  differs[:, 1:] = cols[:, 1:] != cols[:, :-1]
  valid = cols != 0  # 0 pads after EOS; the group column (depth 0) is always valid
  valid[0] = True
  new = np.logical_or.accumulate(differs, axis=0) & valid
  state = np.cumsum(new.ravel(), dtype=np.int32).reshape(new.shape) - 1
  # A repeated prefix has the id of the new one above it: a running max per depth.
  state[~new] = -1
  np.maximum.accumulate(state, axis=1, out=state)
  return new, state


def _dense_bits(parents, tokens, dense_row, num_dense, vocab_size) -> np.ndarray:
  words = -(-vocab_size // 32)
  bits = np.zeros((num_dense + 1, words), np.uint32)
  row = dense_row[parents]
  on = row > 0
  np.bitwise_or.at(bits, (row[on], tokens[on] >> 5), np.uint32(1) << (tokens[on] & 31).astype(np.uint32))
  return bits


def _arrays(matrix, num_groups, *, vocab_size, dense_fanout, log) -> TrieArrays:
  """The trie of the sorted rows of ``matrix`` (see :func:`_padded`)."""
  new, state = _number_states(matrix)
  duplicates = int((~new[1:].any(axis=0)).sum()) if matrix.shape[0] else 0
  if duplicates:
    log.add("trie/duplicate", n=duplicates)
  num_states = int(new.sum())
  num_roots = int(new[0].sum())
  roots = np.full(num_groups, -1, np.int32)
  roots[matrix[new[0], 0]] = state[0, new[0]]
  # Depth by depth (a loop over <= Lmax + 1 depths, not over utterances): the
  # new prefixes in row order are exactly the next child ids.
  news = [np.flatnonzero(new[d]) for d in range(1, new.shape[0])]
  parents = np.concatenate([state[d - 1, r] for d, r in enumerate(news, 1)] or [[]]).astype(np.int32)
  edge_tokens = np.concatenate([matrix[r, d] - 1 for d, r in enumerate(news, 1)] or [[]])
  edge_child = np.concatenate([state[d, r] for d, r in enumerate(news, 1)] or [[]])
  assert not edge_child.size or (edge_child[0] == num_roots and edge_child[-1] == num_states - 1
                                 and (np.diff(edge_child) == 1).all()), "not breadth first"
  fanout = np.bincount(parents, minlength=num_states)
  offsets = np.concatenate([[0], np.cumsum(fanout)]).astype(np.int32)
  dense = fanout > dense_fanout
  dense_row = np.where(dense, np.cumsum(dense), 0).astype(np.int32)
  return TrieArrays(
      offsets=offsets, edge_tokens=edge_tokens.astype(np.int32), edge_child=edge_child,
      dense_row=dense_row,
      dense_bits=_dense_bits(parents, edge_tokens, dense_row, int(dense.sum()), vocab_size),
      roots=roots, window=np.arange(dense_fanout, dtype=np.int32))


def _sorted_matrix(groups, *, vocab_size, eos_id, max_length, log, on_drop):
  """The valid utterances of all groups as sorted rows (:func:`_padded`), and which were kept."""
  # Reading the Python lists is the slow part of a forest of many users' tries.
  ragged = [_ragged(g) for g in (progress(groups, desc="trie building", unit="trie", leave=False)
                                 if len(groups) > 1 else groups)]
  flat = np.concatenate([f for f, _ in ragged] or [np.zeros(0, np.int64)])
  lengths = np.concatenate([n for _, n in ragged] or [np.zeros(0, np.int64)])
  group_of = np.repeat(np.arange(len(ragged), dtype=np.int32), [n.shape[0] for _, n in ragged])
  del ragged  # the input copies can go before the matrix is made
  flat, lengths, kept = _validate(flat, lengths, vocab_size=vocab_size, eos_id=eos_id,
                                  max_length=max_length, log=log, on_drop=on_drop)
  matrix = _padded(flat, lengths, group_of[kept], eos_id)
  return matrix[np.lexsort(matrix.T[::-1])], kept


def build_forest(groups: Sequence[Iterable[Sequence[int]]], *, vocab_size: int, eos_id: int,
                 dense_fanout: int = DEFAULT_DENSE_FANOUT, max_length: int | None = None,
                 log: DefectLog | None = None, on_drop: str = "warn") -> TrieArrays:
  """One trie per group of utterances (e.g. per user), concatenated into one forest.

  Args:
    groups: ``R`` lists of utterances, each a sequence of token ids (without EOS;
      a trailing EOS is accepted).
    vocab_size: ``V``; tokens must lie in ``[0, V)``.
    eos_id: the end-of-sequence token, appended to every utterance.
    dense_fanout: ``F``; states with more children get a dense bit row.
    max_length: drop utterances longer than this many tokens, EOS included.
    log: where dropped and merged utterances are counted.
    on_drop: a dropped utterance (out of vocabulary, EOS inside, empty, too
      long) is a logged warning (``"warn"``), a ``ValueError`` (``"raise"``)
      or only counted in ``log`` (``"count"``); see the module docs.

  Returns:
    :class:`TrieArrays` with NumPy leaves; ``roots[r]`` is trie ``r``'s root
    state, -1 when none of its utterances was kept.
  """
  if not 0 <= eos_id < vocab_size:
    raise ValueError(f"eos_id {eos_id} is not in [0, vocab_size={vocab_size})")
  if dense_fanout < 1:
    raise ValueError(f"dense_fanout must be >= 1, got {dense_fanout}")
  if on_drop not in ON_DROP:
    raise ValueError(f"on_drop must be one of {ON_DROP}, got {on_drop!r}")
  log = DefectLog() if log is None else log
  before = dict(log.counts)
  matrix, kept = _sorted_matrix(groups, vocab_size=vocab_size, eos_id=eos_id,
                                max_length=max_length, log=log, on_drop=on_drop)
  trie = _arrays(matrix, len(groups), vocab_size=vocab_size, dense_fanout=dense_fanout, log=log)
  changed = {k: v - before.get(k, 0) for k, v in log.counts.items() if v != before.get(k, 0)}
  _log.info("trie: %d utterances kept of %d, %d states, %d edges, %d dense rows, %.1f MiB; %s",
            int(kept.sum()), kept.shape[0], trie.num_states, trie.num_edges,
            trie.dense_bits.shape[0] - 1, trie.nbytes / 2**20, changed or "no defects")
  # At least one state and one edge, so that gathers never index an empty array.
  return pad_trie(trie, num_states=max(trie.num_states, 1), num_edges=max(trie.num_edges, 1),
                  num_dense=trie.dense_bits.shape[0] - 1)


def build_trie(sequences: Iterable[Sequence[int]], *, vocab_size: int, eos_id: int,
               dense_fanout: int = DEFAULT_DENSE_FANOUT, max_length: int | None = None,
               log: DefectLog | None = None, on_drop: str = "warn") -> TrieArrays:
  """The trie of one set of utterances (a forest of one: ``roots == [0]``).

  Args:
    sequences: ``U`` utterances as sequences of token ids (without EOS; a
      trailing EOS is accepted and not doubled).
    vocab_size: ``V``.
    eos_id: the end-of-sequence token.
    dense_fanout: ``F``, the largest fan-out stored sparse.
    max_length: drop utterances longer than this many tokens, EOS included.
    log: where dropped and merged utterances are counted.
    on_drop: ``"warn"`` (default), ``"raise"`` or ``"count"``: what a dropped
      utterance (e.g. a token id outside ``[0, V)``) does besides being counted.

  Returns:
    :class:`TrieArrays` with NumPy leaves (``jax.device_put`` them once).

  Raises:
    ValueError: with ``on_drop="raise"``, any dropped utterance.

  >>> trie = build_trie([[4, 5], [4, 6], [7]], vocab_size=8, eos_id=3)
  >>> trie.num_states, trie.edge_tokens.tolist()
  (8, [4, 7, 5, 6, 3, 3, 3])
  """
  return build_forest([sequences], vocab_size=vocab_size, eos_id=eos_id,
                      dense_fanout=dense_fanout, max_length=max_length, log=log,
                      on_drop=on_drop)
