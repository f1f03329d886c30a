"""Turning a strategy's priorities into the next batch: filter, de-duplicate, optionally diversify.

Host-side NumPy: a batch is ``k`` rows, small next to the pool.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from fsnlu_jax.active.features import HashedRows


@dataclasses.dataclass(frozen=True)
class BatchConfig:
  """How a batch is drawn from the ranked pool.

  Attributes:
    k: rows per batch.
    near_duplicate: Jaccard similarity of the n-gram sets at or above which a
      row is a near-duplicate of one already in the batch (1.0 or more: off).
    diversity: 1 = take the first ``k`` in priority order; ``d > 1`` = among
      the first ``d * k``, pick ``k`` greedily farthest apart (max-min Jaccard
      distance), starting from the top one.
  """

  k: int = 50
  near_duplicate: float = 0.8
  diversity: float = 1.0


@dataclasses.dataclass
class BatchReport:
  """Counts of what the batch step passed over (nothing is dropped silently)."""

  eligible: int = 0
  filled_from_ineligible: int = 0
  exact_duplicates: int = 0
  near_duplicates: int = 0


def normalise(tokens: Sequence[str]) -> str:
  """The exact-duplicate key: lower-cased tokens joined by single spaces."""
  return " ".join(t.lower() for t in tokens)


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
  """Jaccard similarity of two id sets."""
  union = len(np.union1d(a, b))
  return len(np.intersect1d(a, b)) / union if union else 1.0


def _row_set(rows: HashedRows, i: int) -> np.ndarray:
  return rows.ids[i][rows.mask[i]]


def _farthest_first(candidates: list[int], rows: HashedRows, k: int) -> list[int]:
  sets = [_row_set(rows, i) for i in candidates]
  chosen = [0]
  nearest = np.array([1.0 - jaccard(sets[0], s) for s in sets])  # distance to the chosen set
  while len(chosen) < min(k, len(candidates)):
    nearest[chosen] = -1.0
    pick = int(np.argmax(nearest))  # ties: the higher-priority row (earlier)
    chosen.append(pick)
    nearest = np.minimum(nearest, [1.0 - jaccard(sets[pick], s) for s in sets])
  return [candidates[i] for i in chosen]


def select_batch(priority: np.ndarray, eligible: np.ndarray, tokens: Sequence[Sequence[str]],
                 rows: HashedRows, config: BatchConfig, *,
                 seen: set[str] = frozenset()) -> tuple[np.ndarray, BatchReport]:
  """The pool rows to annotate next.

  Args:
    priority: ``[P]`` lowest first (ties by row order).
    eligible: ``[P]`` bool; eligible rows come first, the others fill a short batch.
    tokens: the ``P`` utterances (for exact duplicates).
    rows: their hashed n-grams (for near-duplicates and diversity).
    config: :class:`BatchConfig`.
    seen: exact-duplicate keys (:func:`normalise`) already annotated.

  Returns:
    ``(indices, report)``: ``[<=k]`` int64 pool rows in selection order.
  """
  eligible = np.asarray(eligible, bool)
  order = np.lexsort((np.arange(len(priority)), np.asarray(priority), ~eligible))
  report = BatchReport(eligible=int(eligible.sum()))
  want = int(np.ceil(config.k * max(config.diversity, 1.0)))
  keys, picked = set(seen), []
  for i in order:
    key = normalise(tokens[i])
    if key in keys:
      report.exact_duplicates += 1
      continue
    ids = _row_set(rows, i)
    if config.near_duplicate < 1.0 and any(
        jaccard(ids, _row_set(rows, j)) >= config.near_duplicate for j in picked):
      report.near_duplicates += 1
      continue
    keys.add(key)
    picked.append(int(i))
    if len(picked) == want:
      break
  if config.diversity > 1.0:
    picked = _farthest_first(picked, rows, config.k)
  picked = picked[:config.k]
  report.filled_from_ineligible = int((~eligible[picked]).sum()) if picked else 0
  return np.array(picked, np.int64), report
