"""The preference rule, abstention thresholds and the rewrite metrics.

* **both**: the personal candidate wins when its score reaches
  ``threshold_personal``, else the global one when it reaches
  ``threshold_global``, else there is no rewrite (abstain).

Thresholds are chosen on validation pairs (:func:`choose_threshold`,
:func:`choose_thresholds`).

Metrics (:func:`rewrite_metrics`): a pair's rewrite is **correct** when it
equals the intended utterance (for an uncorrupted pair, that is the request
itself); **precision** = correct / outputs (abstentions are not outputs);
**recall** = correct / all pairs (pairs whose target is in no trie count too:
a constrained system cannot reach them, which is the price of the constraint).

Shapes: ``B`` pairs.

References:
  Ahmadvand et al., "Constrained generation framework for query rewriting in
  conversational AI", EMNLP 2022 (industry track).
"""

from __future__ import annotations

from typing import Callable, Literal, Sequence

import numpy as np

Words = tuple[str, ...]
Objective = Literal["f1", "precision_at_recall"]
ABSTAIN, PERSONAL, GLOBAL = 0, 1, 2  # what combine() picked per pair
NEG_INF_SCORE = -1.0e9  # the score of "no candidate": the beam search's, and retrieval's


def combine(personal_scores: np.ndarray, global_scores: np.ndarray, *,
            threshold_personal: float, threshold_global: float) -> np.ndarray:
  """CGF's preference rule: which candidate each pair outputs.

  Args:
    personal_scores, global_scores: ``[B]``, the candidates' scores
      (``-1e9`` where there is none).
    threshold_personal, threshold_global: the least score output.

  Returns:
    ``[B]`` int: :data:`PERSONAL` when the personal score reaches its
    threshold, else :data:`GLOBAL` when the global one does, else
    :data:`ABSTAIN`.

  >>> combine(np.array([-1., -5., -5.]), np.array([-2., -1., -9.]),
  ...         threshold_personal=-3., threshold_global=-4.).tolist()
  [1, 2, 0]
  """
  personal = np.asarray(personal_scores) >= threshold_personal
  glob = np.asarray(global_scores) >= threshold_global
  return np.where(personal, PERSONAL, np.where(glob, GLOBAL, ABSTAIN))


def precision_recall_f1(correct_out: np.ndarray, outputs: np.ndarray, total: int):
  """Precision, recall, F1 arrays from counts (0 where undefined); ``total``: all pairs."""
  precision = np.where(outputs > 0, correct_out / np.maximum(outputs, 1), 0.0)
  recall = correct_out / max(total, 1)
  f1 = np.where(precision + recall > 0, 2 * precision * recall
                / np.maximum(precision + recall, 1e-12), 0.0)
  return precision, recall, f1


def _pick(precision, recall, f1, objective: Objective, recall_floor: float) -> int:
  if objective == "f1":
    return int(np.argmax(f1))
  if objective != "precision_at_recall":
    raise ValueError(f"objective must be 'f1' or 'precision_at_recall', got {objective!r}")
  ok = recall >= recall_floor
  # No threshold reaches the floor: the one with the most recall.
  return int(np.argmax(np.where(ok, precision, -1.0))) if ok.any() else int(np.argmax(recall))


def choose_threshold(scores: np.ndarray, correct: np.ndarray, *, objective: Objective = "f1",
                     recall_floor: float = 0.5) -> float:
  """The abstention threshold of one system, chosen on validation pairs.

  Every distinct score is tried (outputs: pairs with ``score >= t``); the
  objective is the F1 of correct rewrites (precision over outputs, recall over
  all pairs), or, with ``"precision_at_recall"``, precision among thresholds
  whose recall is at least ``recall_floor``.

  Args:
    scores: ``[B]`` candidate scores (``-1e9`` or ``-inf``: no candidate).
    correct: ``[B]`` bool, whether the candidate equals the target.

  Returns:
    The threshold (``inf`` when no candidate is right: always abstain).

  >>> choose_threshold(np.array([-1., -2., -3., -4.]), np.array([True, True, False, False]))
  -2.0
  """
  scores, correct = np.asarray(scores, np.float64), np.asarray(correct, bool)
  live = scores > NEG_INF_SCORE / 2
  if not (correct & live).any():
    return float("inf")
  order = np.argsort(-scores[live], kind="stable")
  s, c = scores[live][order], correct[live][order]
  # A threshold at s[i] outputs every pair scoring >= s[i]: the last of a run of ties.
  last = np.r_[s[1:] != s[:-1], True]
  outputs, correct_out = np.arange(1, len(s) + 1)[last], np.cumsum(c)[last]
  best = _pick(*precision_recall_f1(correct_out, outputs, len(scores)), objective, recall_floor)
  return float(s[last][best])


def choose_thresholds(personal_scores: np.ndarray, personal_correct: np.ndarray,
                      global_scores: np.ndarray, global_correct: np.ndarray, *,
                      objective: Objective = "f1", recall_floor: float = 0.5,
                      grid: int = 64) -> tuple[float, float]:
  """``(threshold_personal, threshold_global)`` of the preference rule, on validation.

  A grid search over ``grid`` quantiles of each system's scores (and "never"),
  scoring :func:`combine`'s outputs with the objective of :func:`choose_threshold`.
  """
  ps, gs = np.asarray(personal_scores, np.float64), np.asarray(global_scores, np.float64)
  pc, gc = np.asarray(personal_correct, bool), np.asarray(global_correct, bool)

  def candidates(s):
    live = s[s > NEG_INF_SCORE / 2]
    qs = np.quantile(live, np.linspace(0, 1, grid)) if live.size else np.zeros(0)
    return np.r_[np.unique(qs), np.inf]

  if not ((pc & (ps > NEG_INF_SCORE / 2)).any() or (gc & (gs > NEG_INF_SCORE / 2)).any()):
    return float("inf"), float("inf")  # nothing right to output: always abstain
  tp, tg = candidates(ps), candidates(gs)
  use_p = ps[None, :] >= tp[:, None]  # --> [len(tp), B]
  use_g = gs[None, :] >= tg[:, None]  # --> [len(tg), B]
  # Personal wins where it passes; global only where personal does not.
  outputs = use_p.sum(1)[:, None] + (~use_p).astype(np.int64) @ use_g.T.astype(np.int64)
  correct_out = (use_p & pc).sum(1)[:, None] + (~use_p).astype(np.int64) @ (
      use_g & gc).T.astype(np.int64)  # --> [len(tp), len(tg)]
  metrics = precision_recall_f1(correct_out.ravel(), outputs.ravel(), len(ps))
  i, j = np.unravel_index(_pick(*metrics, objective, recall_floor), outputs.shape)
  return float(tp[i]), float(tg[j])


def rewrite_metrics(outputs: Sequence[Words | None], targets: Sequence[Words],
                    allowed: Sequence[Callable[[Words], bool]] | Callable[[Words, int], bool]
                    | None = None) -> dict[str, float]:
  """Precision, recall, F1 and output rate of rewrites (module docs), and how
  many outputs fall outside the known-good utterances.

  Args:
    outputs: per pair, the rewrite or None (abstained).
    targets: per pair, the intended utterance.
    allowed: ``allowed(words, i) -> bool``, whether pair ``i``'s output is a
      known-good utterance (global or its user's); None: not measured.

  Returns:
    ``pairs``, ``outputs``, ``correct``, ``precision``, ``recall``, ``f1``,
    ``output_rate`` and (with ``allowed``) ``outside_trie`` (share of outputs).
  """
  made = [i for i, o in enumerate(outputs) if o is not None]
  correct = sum(tuple(outputs[i]) == tuple(targets[i]) for i in made)
  p, r, f = (float(x) for x in precision_recall_f1(np.array(correct), np.array(len(made)),
                                                   len(targets)))
  out = dict(pairs=len(targets), outputs=len(made), correct=int(correct), precision=p, recall=r,
             f1=f, output_rate=len(made) / max(len(targets), 1))
  if allowed is not None:
    outside = sum(not allowed(tuple(outputs[i]), i) for i in made)
    out["outside_trie"] = outside / max(len(made), 1)
  return out


def apply_threshold(candidates: Sequence[Words | None], scores: np.ndarray, threshold: float
                    ) -> list[Words | None]:
  """The candidates scoring at least ``threshold``; None (abstain) for the others."""
  return [c if c is not None and s >= threshold else None for c, s in zip(candidates, scores)]
