"""Hashed features, the batch step and the strategies, against loops on tiny inputs."""

from __future__ import annotations

import numpy as np
import pytest

from fsnlu_jax import active
from fsnlu_jax.active import features, strategies


def test_hashed_ngrams_are_the_distinct_buckets_of_1_to_3_grams():
  rows = features.hash_ngrams([["Play", "some", "jazz"], ["play", "play"], []], num_buckets=1 << 20)
  assert rows.ids.shape == (3, 16) and rows.ids.dtype == np.int32
  grams = ["1:play", "1:some", "1:jazz", "2:play some", "2:some jazz", "3:play some jazz"]
  expected = sorted({features.bucket(g, 1 << 20) for g in grams})
  assert rows.ids[0][rows.mask[0]].tolist() == expected
  assert rows.mask[1].sum() == 2  # "1:play" twice counts once, plus "2:play play"
  assert not rows.mask[2].any()
  with pytest.raises(ValueError, match="more than width"):
    features.hash_ngrams([[str(i) for i in range(10)]], width=4)


def test_compact_then_expand_is_lossless():
  ids = np.array([[7, 3, 9], [3, 11, 0]], np.int32)
  mask = np.array([[True, True, False], [True, True, True]])
  local, buckets = features.compact(ids, mask, multiple=8)
  assert len(buckets) == 8
  np.testing.assert_array_equal(np.where(mask, buckets[local], -1), np.where(mask, ids, -1))
  weights = np.arange(8, dtype=np.float32)[None] + 1
  full = features.expand(weights, buckets, 16)
  used = sorted({0, 3, 7, 11})
  assert np.flatnonzero(full[0]).tolist() == used
  np.testing.assert_array_equal(full[0, buckets[:4]], weights[0, :4])


def _rows(token_lists):
  return features.hash_ngrams(token_lists, num_buckets=1 << 16)


def test_batch_takes_eligible_rows_by_priority_and_removes_duplicates():
  tokens = [["set", "an", "alarm", "for", "seven"], ["Set", "an", "alarm", "for", "seven"],
            ["set", "an", "alarm", "for", "seven", "please"], ["what", "is", "the", "weather"],
            ["play", "jazz"], ["call", "mom"]]
  priority = np.array([0.1, 0.2, 0.3, 0.4, 0.0, 0.5])
  eligible = np.array([True, True, True, True, False, True])
  picked, report = active.select_batch(priority, eligible, tokens, _rows(tokens),
                                       active.BatchConfig(k=3, near_duplicate=0.6))
  # 0 first; 1 is its exact duplicate (case); 2 a near-duplicate; then 3, 5; 4 is ineligible.
  assert picked.tolist() == [0, 3, 5]
  assert (report.exact_duplicates, report.near_duplicates, report.eligible) == (1, 1, 5)
  picked, report = active.select_batch(priority, eligible, tokens, _rows(tokens),
                                       active.BatchConfig(k=5, near_duplicate=0.6))
  assert picked.tolist() == [0, 3, 5, 4] and report.filled_from_ineligible == 1
  picked, _ = active.select_batch(priority, eligible, tokens, _rows(tokens),
                                  active.BatchConfig(k=2), seen={"set an alarm for seven"})
  assert 0 not in picked and 1 not in picked


def test_diversity_prefers_rows_far_from_those_taken():
  tokens = [["play", "jazz", "music"], ["play", "jazz", "songs"], ["call", "my", "mother"]]
  priority, eligible = np.array([0.0, 0.1, 0.2]), np.ones(3, bool)
  plain, _ = active.select_batch(priority, eligible, tokens, _rows(tokens),
                                 active.BatchConfig(k=2, near_duplicate=1.0))
  diverse, _ = active.select_batch(priority, eligible, tokens, _rows(tokens),
                                   active.BatchConfig(k=2, near_duplicate=1.0, diversity=2.0))
  assert plain.tolist() == [0, 1] and diverse.tolist() == [0, 2]


class _Model:
  def __init__(self, probs, confidence):
    self.probs, self.confidence, self.calls = probs, confidence, []

  def __call__(self, rows, crf=True):
    self.calls.append((rows.tolist(), crf))
    return strategies_view(self.probs[rows], self.confidence[rows])


def strategies_view(probs, confidence):
  return type("View", (), {"intent_probs": probs, "crf_confidence": confidence})()


def test_strategies_rank_as_their_definitions_say():
  scores = np.array([[2.0, 1.0, 0.5, 0.1],     # all positive, sure
                     [0.2, 0.1, 0.3, -0.4],    # majority positive, |sum| small
                     [-1.0, -2.0, -1.0, 1.0],  # majority negative, one dissent
                     [-1.0, -1.0, -2.0, -1.0]])
  probs = np.array([[0.9, 0.1], [0.6, 0.4], [0.5, 0.5], [0.99, 0.01]], np.float32)
  confidence = np.array([0.2, 0.9, 0.1, 0.5])
  model = _Model(probs, confidence)
  view = active.PoolView(scores, 2, model, np.random.default_rng(0))
  order = lambda name: np.lexsort((np.arange(4), strategies.STRATEGIES[name](view)[0],
                                   ~strategies.STRATEGIES[name](view)[1]))[:2].tolist()
  assert order("majority_sigma") == [1, 0]
  model.calls.clear()
  assert order("majority_crf") == [0, 1]
  assert all(rows == [0, 1] for rows, _ in model.calls)  # the CRF runs on filtered rows only
  assert order("least_confidence")[0] == 2 and order("margin")[0] == 2
  assert order("vote_entropy") == [1, 2]  # dissent first; the all-agreeing rows are filtered out
  assert order("majority_joint") == [0, 1]  # 0.9 x 0.2 < 0.6 x 0.9
  model.confidence = np.array([0.2, 0.25, 0.1, 0.5])
  assert order("majority_crf") == [0, 1] and order("majority_joint") == [1, 0]  # 0.6 x 0.25 < 0.9 x 0.2
  model.confidence = confidence
  p_domain = 1 / (1 + np.exp(-scores[:, 2]))
  assert order("product_rule")[0] == int(np.argmax(p_domain * (1 - confidence)))
  with pytest.raises(ValueError, match="unknown strategy"):
    strategies.get_strategy("oracle")
