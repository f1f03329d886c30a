"""The pool: filters, and the selections of each strategy.

Shapes: ``P`` pool utterances, ``V`` vocabulary, ``Kb`` budget.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import jax.numpy as jnp
import numpy as np

from fsnlu_jax import explain
from fsnlu_jax.data import Vocab
from fsnlu_jax.selection.data import SelectionData

STRATEGIES = ("ig", "random", "ig_rate", "ig_mean")
# The scored strategies and the pool.npz array each one ranks by: ``ig_mean`` is the
# length-normalised ``ig`` (summed word influence per token), beside the summed one.
SCORED = dict(ig="scores", ig_rate="rate_scores", ig_mean="mean_scores")


def pool_filters(data: SelectionData, confidence: np.ndarray, min_confidence: float
                 ) -> tuple[np.ndarray, dict[str, int]]:
  """``eligible`` ``[P]`` bool and the count each filter dropped (applied in order).

  The filters drop utterances that repeat a training utterance or an earlier
  pool one, and those the base model's ``confidence`` puts below
  ``min_confidence`` (a stand-in for the paper's low speech-recognition scores).
  """
  seen = {e.tokens for e in data.train}
  dup_train = np.array([e.tokens in seen for e in data.pool], bool)
  first, dup_pool = set(), np.zeros(len(data.pool), bool)
  for i, e in enumerate(data.pool):
    dup_pool[i] = not dup_train[i] and e.tokens in first
    first.add(e.tokens)
  low = ~dup_train & ~dup_pool & (confidence < min_confidence)
  eligible = ~(dup_train | dup_pool | low)
  return eligible, dict(pool=len(data.pool), duplicate_of_train=int(dup_train.sum()),
                        duplicate_in_pool=int(dup_pool.sum()), low_confidence=int(low.sum()),
                        min_confidence=min_confidence, eligible=int(eligible.sum()))


def select(scores: Mapping[str, np.ndarray], eligible: np.ndarray, budgets: Sequence[int],
           seed: int) -> dict[str, dict[int, list[int]]]:
  """``{strategy: {Kb: pool rows}}``: each scored strategy's top ``Kb``, and ``random``.

  Args:
    scores: ``{strategy: [P] pool scores}`` for the scored strategies given
      (``ig``, ``ig_rate``, ``ig_mean``; see ``SCORED``); each picks its top ``Kb``.
    eligible: ``[P]`` bool, rows that passed the filters.
    budgets: the ``Kb``s.
    seed: draws ``random`` (the same rows whichever scores are given).

  Raises:
    ValueError: fewer eligible utterances than the largest budget.
  """
  k = max(budgets)
  if eligible.sum() < k:
    raise ValueError(f"only {int(eligible.sum())} pool utterances pass the filters; "
                     f"budget {k} asked")
  order = {}
  for strategy, values in scores.items():
    top, _ = explain.top_k_eligible(jnp.asarray(values), jnp.asarray(eligible), k)
    order[strategy] = np.asarray(top)
  order["random"] = np.random.default_rng([seed, 1]).permutation(np.flatnonzero(eligible))
  return {s: {b: order[s][:b].tolist() for b in budgets} for s in STRATEGIES if s in order}


def top_ids(values: np.ndarray, k: int) -> list[int]:
  """The ids of the ``k`` largest positive ``values``, largest first (ties: lower id)."""
  return [int(i) for i in np.argsort(-values, kind="stable")[:k] if values[i] > 0]


def top_words(influence: np.ndarray, vocab: Vocab, k: int) -> list[list]:
  """The ``k`` most influential words as ``[word, influence]``."""
  return [[vocab.id_to_token(i), round(float(influence[i]), 5)] for i in top_ids(influence, k)]
