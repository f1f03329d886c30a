"""SetFit-style contrastive pairs and the logistic head (host-side units; no encoder training)."""

from __future__ import annotations

import numpy as np
import pytest

from fsnlu_jax.fewshot import contrastive


def test_pair_batches_have_static_shapes_no_self_pairs_and_right_targets():
  labels = np.array(["a", "a", "a", "b", "b", "c"])  # "c" has one example: no positive
  pairs = contrastive.pair_batches(labels, iterations=3, batch_size=4, seed=0)
  s, b = pairs.left.shape
  assert pairs.right.shape == pairs.target.shape == pairs.weight.shape == (s, b)
  assert b == 4 and pairs.left.dtype == np.int32 and pairs.target.dtype == np.float32
  real = pairs.weight > 0
  # Per iteration: a positive for each of the 5 examples with a partner, a negative for all 6.
  assert real.sum() == 3 * (5 + 6) and s == -(-33 // 4)
  assert (pairs.weight[~real] == 0).all() and not real.reshape(-1)[-(s * b - 33):].any()
  left, right, target = pairs.left[real], pairs.right[real], pairs.target[real]
  assert (left != right).all()  # never an example with itself
  np.testing.assert_array_equal(target, (labels[left] == labels[right]).astype(np.float32))
  assert target.sum() == 3 * 5  # positives: every example but "c", each iteration
  # Every example leads its pairs, each iteration.
  assert np.bincount(left, minlength=6).tolist() == [6, 6, 6, 6, 6, 3]
  # The same seed, the same batches (a resumed run trains the same pairs).
  again = contrastive.pair_batches(labels, iterations=3, batch_size=4, seed=0)
  for x, y in zip(pairs, again):
    np.testing.assert_array_equal(x, y)


def test_pair_batches_cap_steps_and_refuse_nothing_to_pair():
  capped = contrastive.pair_batches(np.arange(10) % 2, iterations=5, batch_size=8, seed=1,
                                    max_steps=3)
  assert capped.left.shape == (3, 8) and capped.weight.all()
  with pytest.raises(ValueError, match="no contrastive pair"):
    contrastive.pair_batches(["a"], iterations=2, batch_size=4, seed=0)


def test_logistic_head_classifies_separated_clusters():
  rng = np.random.default_rng(0)
  centers = rng.normal(size=(3, 6)) * 4
  labels = np.repeat(["x", "y", "z"], 4)
  vectors = (centers[np.repeat(np.arange(3), 4)] + rng.normal(size=(12, 6))).astype(np.float32)
  head = contrastive.fit_head(vectors, labels, contrastive.ContrastiveConfig())
  assert head.classes == ("x", "y", "z") and head.weight.shape == (6, 3)
  test = (centers + 0.1 * rng.normal(size=(3, 6))).astype(np.float32)
  assert np.argmax(head.logits(test), -1).tolist() == [0, 1, 2]
