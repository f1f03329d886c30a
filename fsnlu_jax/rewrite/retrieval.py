"""The retrieval baseline: the nearest known-good utterance by character n-gram TF-IDF.

:class:`NgramIndex` returns the nearest known-good utterance by cosine
similarity of character n-gram TF-IDF vectors; its threshold is chosen as the
rewriter's (:mod:`fsnlu_jax.rewrite.scoring`). :func:`candidates` gives the
``k`` nearest (what the rewriter rescores in the combined system).

**Retrieval that reads the previous turn** (``context_weight > 0``): the ``k``
nearest to the heard request, re-ranked by ``sim(heard) + context_weight *
sim(previous turn)``. A sanity check that a simulation gives the context
value (it knows that related turns share words), not a method of the paper.

Shapes: ``Q`` queries, ``U`` indexed utterances, ``G`` character n-grams,
``K`` candidates per query.
"""

from __future__ import annotations

import collections
from typing import Callable, Iterable, Sequence

import numpy as np

from fsnlu_jax.rewrite.scoring import NEG_INF_SCORE, Words


def char_ngrams(words: Sequence[str], n: int = 3) -> list[str]:
  """Character ``n``-grams of the words joined by spaces, padded with a space each side.

  >>> char_ngrams(("ab", "c"))
  [' ab', 'ab ', 'b c', ' c ']
  """
  text = f" {' '.join(words)} "
  return [text[i:i + n] for i in range(len(text) - n + 1)]


class NgramIndex:
  """Nearest known-good utterance by cosine similarity of character n-gram TF-IDF.

  Vectors are ``(1 + log tf) * idf``, L2-normalised; the IDF is fitted on the
  indexed utterances (or passed, to share one across indexes). Host-side NumPy
  with ``scipy.sparse`` (a JAX dependency).

  >>> index = NgramIndex([("play", "leon", "bridges"), ("set", "an", "alarm")])
  >>> best, sim = index.nearest([("play", "alien", "bridges")])
  >>> index.utterances[best[0]], round(float(sim[0]), 2)
  (('play', 'leon', 'bridges'), 0.81)
  """

  def __init__(self, utterances: Iterable[Words], *, n: int = 3,
               idf: dict[str, float] | None = None):
    from scipy import sparse  # pylint: disable=g-import-not-at-top

    self._sparse = sparse
    self.utterances = tuple(sorted(set(map(tuple, utterances))))
    self.n = n
    grams = [char_ngrams(u, n) for u in self.utterances]
    if idf is None:
      df = collections.Counter(g for gs in grams for g in set(gs))
      total = max(len(grams), 1)
      idf = {g: float(np.log((1 + total) / (1 + c)) + 1.0) for g, c in df.items()}
    self.idf = idf
    self._column = {g: i for i, g in enumerate(sorted(idf))}
    self.matrix = self._vectors(grams)  # --> [U, G]

  def _vectors(self, grams: Sequence[Sequence[str]]):
    rows, cols, vals = [], [], []
    for r, gs in enumerate(grams):
      for g, tf in collections.Counter(gs).items():
        if g in self._column:
          rows.append(r)
          cols.append(self._column[g])
          vals.append((1.0 + np.log(tf)) * self.idf[g])
    m = self._sparse.csr_matrix((np.asarray(vals, np.float32), (rows, cols)),
                                shape=(len(grams), len(self._column)))
    norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
    return self._sparse.diags(1.0 / np.maximum(norms, 1e-12)).astype(np.float32) @ m

  def nearest(self, queries: Sequence[Words], *, chunk: int = 512
              ) -> tuple[np.ndarray, np.ndarray]:
    """``(index [Q] int, cosine similarity [Q])`` of each query's nearest utterance
    (index -1 and similarity -1 when the index is empty)."""
    if not self.utterances:
      return np.full(len(queries), -1), np.full(len(queries), -1.0)
    best, sims = self.top_k(queries, 1, chunk=chunk)
    return best[:, 0], sims[:, 0]

  def top_k(self, queries: Sequence[Words], k: int, *, chunk: int = 512
            ) -> tuple[np.ndarray, np.ndarray]:
    """``(index [Q, k] int, cosine similarity [Q, k])``: each query's ``k`` nearest
    utterances, best first (ties: index order); index -1 and similarity
    ``NEG_INF_SCORE`` past the index's size."""
    q, kept = len(queries), min(k, len(self.utterances))
    best, sims = np.full((q, k), -1, np.int64), np.full((q, k), NEG_INF_SCORE)
    for start in range(0, q if kept else 0, chunk):
      part = self._vectors([char_ngrams(w, self.n) for w in queries[start:start + chunk]])
      sim = (part @ self.matrix.T).toarray()  # --> [Q', U]
      top = np.argsort(-sim, axis=1, kind="stable")[:, :kept]
      best[start:start + len(sim), :kept] = top
      sims[start:start + len(sim), :kept] = np.take_along_axis(sim, top, 1)
    return best, sims

  def similarity(self, queries: Sequence[Words], others: Sequence[Words | None]) -> np.ndarray:
    """``[Q]`` cosine similarity of each query to its other utterance (indexed or
    not) under this index's IDF (0 where the other is None or empty).

    >>> index = NgramIndex([("play", "leon", "bridges"), ("set", "an", "alarm")])
    >>> index.similarity([("play", "alien", "bridges")] * 2,
    ...                  [("play", "leon", "bridges"), None]).round(2).tolist()
    [0.81, 0.0]
    """
    a = self._vectors([char_ngrams(q, self.n) for q in queries])
    b = self._vectors([char_ngrams(o, self.n) if o else [] for o in others])
    return np.asarray(a.multiply(b).sum(axis=1), np.float64).ravel()

  def cosine(self, queries: Sequence[Words], index: np.ndarray) -> np.ndarray:
    """``[Q, K]`` cosine similarity of query ``q`` to utterance ``index[q, j]`` (0 where -1)."""
    index = np.asarray(index)
    rows = self.matrix[np.maximum(index, 0).ravel()]  # --> [Q*K, G]
    vectors = self._vectors([char_ngrams(w, self.n) if w else [] for w in queries])
    vectors = vectors[np.repeat(np.arange(len(queries)), index.shape[1])]
    sim = np.asarray(rows.multiply(vectors).sum(axis=1)).reshape(index.shape)
    return np.where(index >= 0, sim, 0.0)


def candidates(index: NgramIndex, queries: Sequence[Words], k: int, *,
               previous: Sequence[Words] | None = None, context_weight: float = 0.0
               ) -> tuple[list[list[Words]], np.ndarray]:
  """Each query's ``k`` nearest utterances, best first, and their scores ``[Q, k]``.

  The score is the cosine similarity, plus ``context_weight`` times the
  candidate's similarity to the query's ``previous`` turn when given (then
  re-ranked: module docs). Lists are shorter than ``k`` when the index is
  (scores ``NEG_INF_SCORE`` past their end).
  """
  best, sims = index.top_k(queries, k)
  if previous is not None and context_weight:
    sims = np.where(best >= 0, sims + context_weight * index.cosine(previous, best), sims)
    order = np.argsort(-sims, axis=1, kind="stable")
    best, sims = np.take_along_axis(best, order, 1), np.take_along_axis(sims, order, 1)
  return [[index.utterances[b] for b in row if b >= 0] for row in best], sims


def personal_candidates(personal: Callable[[int], Iterable[Words]], users: Sequence[int],
                        queries: Sequence[Words], idf: dict[str, float], k: int, *,
                        previous: Sequence[Words] | None = None, context_weight: float = 0.0
                        ) -> tuple[list[list[Words]], np.ndarray]:
  """:func:`candidates` in each query's own user's utterances ``personal(user)``."""
  out: list[list[Words]] = [[] for _ in queries]
  sims = np.full((len(queries), k), NEG_INF_SCORE, np.float64)
  by_user = collections.defaultdict(list)
  for i, u in enumerate(users):
    by_user[int(u)].append(i)
  for u, rows in by_user.items():
    prev = None if previous is None else [previous[i] for i in rows]
    words, s = candidates(NgramIndex(personal(u), idf=idf), [queries[i] for i in rows], k,
                          previous=prev, context_weight=context_weight)
    for i, w, x in zip(rows, words, s):
      out[i], sims[i] = w, x
  return out, sims


def _first(found: tuple[list[list[Words]], np.ndarray]) -> tuple[list[Words | None], np.ndarray]:
  words, sims = found
  return [w[0] if w else None for w in words], sims[:, 0]


def retrieve(index: NgramIndex, queries: Sequence[Words], *,
             previous: Sequence[Words] | None = None, context_weight: float = 0.0, k: int = 10
             ) -> tuple[list[Words | None], np.ndarray]:
  """``(nearest utterance per query, similarity [Q])`` (None, -1e9 when the index is empty);
  with ``previous`` and ``context_weight``, the best of the ``k`` nearest re-ranked
  by the previous turn too (module docs)."""
  context = previous is not None and context_weight
  return _first(candidates(index, queries, k if context else 1, previous=previous,
                           context_weight=context_weight))


def retrieve_personal(personal: Callable[[int], Iterable[Words]], users: Sequence[int],
                      queries: Sequence[Words], idf: dict[str, float], *,
                      previous: Sequence[Words] | None = None, context_weight: float = 0.0,
                      k: int = 10) -> tuple[list[Words | None], np.ndarray]:
  """:func:`retrieve` in each query's own user's utterances ``personal(user)``."""
  context = previous is not None and context_weight
  return _first(personal_candidates(personal, users, queries, idf, k if context else 1,
                                    previous=previous, context_weight=context_weight))
