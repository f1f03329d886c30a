"""Retrieval and generation together: the rewriter scores retrieval's candidates too.

CGF's framework lets the constrained decoder rank any known-good candidate: here
each pair's candidates are its constrained beam search's best output and
retrieval's ``K`` nearest known-good utterances to the heard request, all scored
alike by the rewriter (the beam search's length-penalised log-probability;
retrieval's teacher-forced, :meth:`~fsnlu_jax.rewrite.decoder.RewriteDecoder.score`).
The best-scoring one is the pair's candidate, and one threshold rule decides
whether to output it (:mod:`fsnlu_jax.rewrite.scoring`). Every output is a
constrained beam or a retrieved utterance, so never outside the tries; with
``K = 0`` it is generation alone.

**Fused** (:func:`fuse`): the same candidates ranked by the rewriter's score
plus ``weight`` times the candidate's character n-gram similarity to the heard
request, so spelling (which a word-level rewriter cannot read) and the
context (which retrieval cannot) both count; ``weight = 0`` is the combined
system above, a large one retrieval's ranking. The weight is chosen on
validation pairs (:mod:`fsnlu_jax.rewrite.systems`).

Shapes: ``B`` pairs, ``K`` retrieved candidates per pair, ``L`` output length.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from fsnlu_jax.rewrite.decoder import RewriteDecoder, candidate_arrays
from fsnlu_jax.rewrite.scoring import Words


def best_of(beam: Sequence[Words | None], beam_scores: np.ndarray,
            retrieved: Sequence[Sequence[Words]], retrieved_scores: np.ndarray
            ) -> tuple[list[Words | None], np.ndarray]:
  """Per pair, the best-scoring of its beam output and its retrieved candidates.

  Args:
    beam: ``[B]`` the beam search's output (None: none) and ``beam_scores`` ``[B]``.
    retrieved: per pair its candidates, with ``retrieved_scores`` ``[B, K]``
      (``-1e9`` past a pair's list).

  Returns:
    ``(candidate per pair, its score [B])``; the beam's on a tie.

  >>> words, scores = best_of([("a",), None], np.array([-1., -1e9]), [[("b",)], [("c",), ("d",)]],
  ...                        np.array([[-2., -1e9], [-3., -0.5]]))
  >>> words, scores.tolist()
  ([('a',), ('d',)], [-1.0, -0.5])
  """
  words, scores = list(beam), np.asarray(beam_scores, np.float64).copy()
  if retrieved_scores.size:
    j = np.argmax(retrieved_scores, axis=1)
    best = retrieved_scores[np.arange(len(j)), j]
    for i in np.flatnonzero(best > scores):
      words[i], scores[i] = tuple(retrieved[i][j[i]]), best[i]
  return words, scores


def fuse(beam: Sequence[Words | None], beam_scores: np.ndarray, beam_similarity: np.ndarray,
         retrieved: Sequence[Sequence[Words]], retrieved_scores: np.ndarray,
         retrieved_similarity: np.ndarray, weight: float
         ) -> tuple[list[Words | None], np.ndarray]:
  """:func:`best_of` with every score raised by ``weight`` times its candidate's
  similarity to the heard request (``[B]`` and ``[B, K]``, as the scores).

  >>> words, scores = fuse([("a",)], np.array([-1.]), np.array([0.2]), [[("b",)]],
  ...                      np.array([[-2.]]), np.array([[0.9]]), weight=2.)
  >>> words, scores.round(2).tolist()
  ([('b',)], [-0.2])
  """
  return best_of(beam, np.asarray(beam_scores) + weight * np.asarray(beam_similarity),
                 retrieved, np.asarray(retrieved_scores) + weight * np.asarray(
                     retrieved_similarity))


def score_retrieved(decoder: RewriteDecoder, params, rest, source_ids: np.ndarray,
                    source_mask: np.ndarray, retrieved: Sequence[Sequence[Words]], vocab
                    ) -> tuple[list[list[Words]], np.ndarray]:
  """``retrieved``'s candidates scored by the rewriter, teacher-forced.

  Args:
    decoder, params, rest: the rewriter (:class:`RewriteDecoder`) and its variables.
    source_ids, source_mask: ``[B, Ls]`` the pairs' inputs.
    retrieved: per pair, retrieval's candidates (at most ``K``, best first).
    vocab: the rewriter's vocabulary.

  Returns:
    ``(candidates, scores [B, K])``: the lists padded with ``()`` to ``K``
    (scored ``-1e9``).
  """
  k = max((len(c) for c in retrieved), default=0)
  ids = candidate_arrays(retrieved, vocab, k=k, max_length=decoder.max_length,
                         eos_id=decoder.eos_id)
  scores = decoder.score(params, rest, source_ids, source_mask, ids)  # --> [B, K]
  return [list(c) + [()] * (k - len(c)) for c in retrieved], scores


def generate_and_retrieve(decoder: RewriteDecoder, params, rest, source_ids: np.ndarray,
                          source_mask: np.ndarray, beam: Sequence[Words | None],
                          beam_scores: np.ndarray, retrieved: Sequence[Sequence[Words]], vocab
                          ) -> tuple[list[Words | None], np.ndarray]:
  """:func:`best_of` the beam outputs (``beam``, ``beam_scores`` ``[B]``) and
  ``retrieved``'s candidates scored by the rewriter (:func:`score_retrieved`)."""
  return best_of(beam, beam_scores, *score_retrieved(decoder, params, rest, source_ids,
                                                     source_mask, retrieved, vocab))
