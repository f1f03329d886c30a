"""Selection strategies behind one interface: a priority per pool row (lowest annotated first).

Every strategy maps the round's :class:`PoolView` (the committee's scores and
the target model's predictions on the pool) to ``(priority, eligible)``:
``priority`` ``[P]`` float, lowest first; ``eligible`` ``[P]`` bool, the rows a
filter keeps (all True without a filter; when fewer than ``k`` are eligible
the rest of the batch is filled from the others by the same priority).

References:
  Peshterliev et al., "Active Learning for New Domains in Natural Language
  Understanding", NAACL 2019: Majority-|Sigma|, Majority-CRF (and two
  variants of ours: the joint intent-and-labelling confidence, the product rule).
  Settles, "Active Learning Literature Survey", 2009: least confidence, margin,
  query-by-committee with vote entropy.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Protocol

import jax.numpy as jnp
import numpy as np

from fsnlu_jax import kernels


class ModelView(Protocol):
  intent_probs: np.ndarray  # [R, C] the target model's intent distribution
  crf_confidence: np.ndarray  # [R] the CRF's probability of its Viterbi labelling


@dataclasses.dataclass(frozen=True)
class PoolView:
  """What a strategy may look at for the ``P`` rows of the pool.

  Attributes:
    committee_scores: ``[P, M]`` raw scores of the binary committee.
    logistic_member: which column of ``committee_scores`` is the logistic one.
    model: the target model's predictions on the given pool rows (``[R]``
      int indices; keyword ``crf=False`` for intents only), called only by
      the strategies that need them, on the rows they need (Majority-CRF: the
      majority-positive rows only).
    rng: host randomness (random selection).
  """

  committee_scores: np.ndarray
  logistic_member: int
  model: Callable[..., ModelView]
  rng: np.random.Generator

  def __len__(self) -> int:
    return self.committee_scores.shape[0]

  def everywhere(self, *, crf: bool = True) -> ModelView:
    """The model on every pool row; ``crf=False``: intent probabilities only (cheaper)."""
    return self.model(np.arange(len(self)), crf=crf)


Strategy = Callable[[PoolView], tuple[np.ndarray, np.ndarray]]


def _all(view: PoolView) -> np.ndarray:
  return np.ones(len(view), bool)


def random(view: PoolView):
  """Uniformly at random."""
  return view.rng.random(len(view)), _all(view)


def least_confidence(view: PoolView):
  """The target model's least confident intent predictions first."""
  probs = jnp.asarray(view.everywhere(crf=False).intent_probs)
  return np.asarray(kernels.least_confidence(probs)), _all(view)


def margin(view: PoolView):
  """The smallest gap between the target model's two best intents first."""
  return np.asarray(kernels.margin(jnp.asarray(view.everywhere(crf=False).intent_probs))), _all(view)


def vote_entropy(view: PoolView):
  """Query by committee: the members' highest vote entropy first, only where some member dissents."""
  scores = jnp.asarray(view.committee_scores)
  dissent = np.asarray(kernels.vote_entropy(jnp.asarray(scores > 0, jnp.int32), 2))
  # Among equal vote entropies, the less sure committee (smaller |sum|) first.
  tie = np.asarray(kernels.summed_score_magnitude(scores))
  return -dissent + 1e-6 * tie / (1.0 + tie), dissent > 0


def _majority(view: PoolView) -> tuple[np.ndarray, np.ndarray]:
  scores = jnp.asarray(view.committee_scores)
  return (np.asarray(kernels.majority_positive(scores)),
          np.asarray(kernels.summed_score_magnitude(scores), np.float64))


def majority_sigma(view: PoolView):
  """Majority-|Sigma|: majority-positive rows, the smallest ``|sum of scores|`` first."""
  eligible, magnitude = _majority(view)
  return magnitude, eligible


def _majority_then(view: PoolView, confidence: Callable[[ModelView], np.ndarray]):
  """The majority-positive rows, ranked by the target model's ``confidence`` on them (lowest first).

  Rows outside the filter (used only to fill a short batch) follow by ``|sum|``.
  """
  eligible, magnitude = _majority(view)
  priority = 1.0 + magnitude  # confidences are <= 1, so filtered rows come first
  rows = np.flatnonzero(eligible)
  if rows.size:
    priority[rows] = confidence(view.model(rows))
  return priority, eligible


def majority_crf(view: PoolView):
  """Majority-CRF: majority-positive rows, the CRF's least confident labelling first."""
  return _majority_then(view, lambda predictions: predictions.crf_confidence)


def majority_joint(view: PoolView):
  """Majority-CRF with the whole parse's confidence: ``p(intent) x p(CRF labelling)``, lowest first.

  A variant: the target model is an intent-and-slot model, and SemER counts a
  wrong intent as an error like a wrong slot, so the utterances whose intent
  is doubtful are as informative as those whose labelling is.
  """
  return _majority_then(
      view, lambda predictions: predictions.intent_probs.max(-1) * predictions.crf_confidence)


def product_rule(view: PoolView):
  """p(domain) x (1 - p(CRF labelling)) highest first: likely in the domain, doubtfully labelled.

  A soft form of Majority-CRF: the logistic member's probability of the target
  domain takes the place of the majority filter.
  """
  p_domain = 1.0 / (1.0 + np.exp(-view.committee_scores[:, view.logistic_member]))
  return -(p_domain * (1.0 - view.everywhere().crf_confidence)), _all(view)


STRATEGIES: dict[str, Strategy] = {
    "random": random,
    "least_confidence": least_confidence,
    "margin": margin,
    "vote_entropy": vote_entropy,
    "majority_sigma": majority_sigma,
    "majority_crf": majority_crf,
    "majority_joint": majority_joint,
    "product_rule": product_rule,
}


def get_strategy(name: str) -> Strategy:
  if name not in STRATEGIES:
    raise ValueError(f"unknown strategy {name!r}; known: {', '.join(STRATEGIES)}")
  return STRATEGIES[name]
