"""The retrieval baseline: the nearest known-good utterance by character n-gram TF-IDF.

:class:`NgramIndex` returns the nearest known-good utterance by cosine
similarity of character n-gram TF-IDF vectors; its threshold is chosen as the
rewriter's (:mod:`fsnlu_jax.rewrite.scoring`).

Shapes: ``Q`` queries, ``U`` indexed utterances, ``G`` character n-grams.
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
    q = len(queries)
    if not self.utterances:
      return np.full(q, -1), np.full(q, -1.0)
    best, sims = np.zeros(q, np.int64), np.zeros(q, np.float64)
    for start in range(0, q, chunk):
      part = self._vectors([char_ngrams(w, self.n) for w in queries[start:start + chunk]])
      sim = (part @ self.matrix.T).toarray()  # --> [Q', U]
      best[start:start + len(sim)] = sim.argmax(1)
      sims[start:start + len(sim)] = sim.max(1)
    return best, sims


def retrieve(index: NgramIndex, queries: Sequence[Words]) -> tuple[list[Words | None], np.ndarray]:
  """``(nearest utterance per query, similarity [Q])`` (None, -1e9 when the index is empty)."""
  best, sims = index.nearest(queries)
  words = [index.utterances[b] if b >= 0 else None for b in best]
  return words, np.where(best >= 0, sims, NEG_INF_SCORE)


def retrieve_personal(personal: Callable[[int], Iterable[Words]], users: Sequence[int],
                      queries: Sequence[Words], idf: dict[str, float]
                      ) -> tuple[list[Words | None], np.ndarray]:
  """:func:`retrieve` in each query's own user's utterances ``personal(user)``."""
  out: list[Words | None] = [None] * len(queries)
  sims = np.full(len(queries), NEG_INF_SCORE, np.float64)
  by_user = collections.defaultdict(list)
  for i, u in enumerate(users):
    by_user[int(u)].append(i)
  for u, rows in by_user.items():
    words, s = retrieve(NgramIndex(personal(u), idf=idf), [queries[i] for i in rows])
    for i, w, x in zip(rows, words, s):
      out[i], sims[i] = w, x
  return out, sims
