"""Oracle tests for the active-learning kernels: dense products, loops and path enumeration."""

from __future__ import annotations

import collections
import itertools
import math

import jax
import numpy as np
import pytest

from fsnlu_jax import kernels


def _sparse_problem(seed, pool=7, width=5, buckets=11, members=3):
  rng = np.random.default_rng(seed)
  ids = rng.integers(0, buckets, (pool, width)).astype(np.int32)
  mask = rng.random((pool, width)) < 0.7
  weights = rng.normal(size=(members, buckets)).astype(np.float32)
  bias = rng.normal(size=members).astype(np.float32)
  return ids, mask, weights, bias


def test_hashed_scores_equal_the_dense_product():
  ids, mask, weights, bias = _sparse_problem(0)
  dense = np.zeros((ids.shape[0], weights.shape[1]))
  for row in range(ids.shape[0]):
    for col in range(ids.shape[1]):
      if mask[row, col]:
        dense[row, ids[row, col]] += 1.0  # a repeated id counts twice, as in the gather
  expected = dense @ weights.T + bias
  got = kernels.hashed_scores(weights, bias, ids, mask)
  np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
  jitted = jax.jit(kernels.hashed_scores)
  np.testing.assert_allclose(jitted(weights, bias, ids, mask), got, rtol=1e-6, atol=1e-6)
  jitted(weights * 2, bias, ids, mask)
  assert jitted._cache_size() == 1  # pylint: disable=protected-access
  # Packed: the same scores from the real features alone; padding entries (row P) count nowhere.
  row_of = np.nonzero(mask)[0]
  packed = jax.jit(kernels.packed_hashed_scores, static_argnames="num_rows")
  for pad in (0, 7):
    np.testing.assert_allclose(
        packed(weights, bias, np.pad(ids[mask], (0, pad)),
               np.pad(row_of, (0, pad), constant_values=len(ids)), num_rows=len(ids)),
        expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", kernels.LOSSES)
def test_margin_losses_match_their_definitions(name):
  z = np.linspace(-3.0, 3.0, 13, dtype=np.float32)
  for y in (-1.0, 1.0):
    yz = y * z
    expected = {
        "hinge": np.maximum(0.0, 1.0 - yz),
        "squared_error": 0.5 * (y - z) ** 2,
        "log_loss": np.log1p(np.exp(-yz)),
        "modified_huber": np.where(yz >= -1, np.maximum(0.0, 1.0 - yz) ** 2, -4.0 * yz),
    }[name]
    index = kernels.loss_indices([name])[0]
    np.testing.assert_allclose(kernels.margin_loss(index, z, np.full_like(z, y)), expected,
                               rtol=1e-5, atol=1e-6)
  with pytest.raises(ValueError, match="unknown committee losses"):
    kernels.loss_indices(["hinge", "perceptron"])


def test_committee_filters_and_ranks_against_loops():
  scores = np.random.default_rng(1).normal(size=(20, 4)).astype(np.float32)
  scores[0] = [1, 1, 1, 1]  # all positive passes the majority filter (QBC would drop it)
  scores[1] = [1, 1, -1, -1]  # a tie is not a majority
  majority = [sum(s > 0 for s in row) > 2 for row in scores]
  np.testing.assert_array_equal(kernels.majority_positive(scores), majority)
  np.testing.assert_allclose(kernels.summed_score_magnitude(scores),
                             [abs(sum(row)) for row in scores], rtol=1e-5, atol=1e-6)


def test_uncertainty_scores_against_loops():
  probs = np.random.default_rng(2).dirichlet(np.ones(4), size=9).astype(np.float32)
  probs[0] = [1.0, 0.0, 0.0, 0.0]  # 0 log 0 = 0
  top = [sorted(row, reverse=True) for row in probs]
  np.testing.assert_allclose(kernels.least_confidence(probs), [t[0] for t in top], rtol=1e-6)
  np.testing.assert_allclose(kernels.margin(probs), [t[0] - t[1] for t in top], rtol=1e-5,
                             atol=1e-6)
  expected = [-sum(p * math.log(p) for p in row if p > 0) for row in probs]
  np.testing.assert_allclose(kernels.entropy(probs), expected, rtol=1e-5, atol=1e-6)


def test_vote_entropy_against_a_counting_loop():
  votes = np.random.default_rng(3).integers(0, 3, (15, 5)).astype(np.int32)
  expected = []
  for row in votes:
    counts = collections.Counter(row.tolist())
    expected.append(-sum(c / 5 * math.log(c / 5) for c in counts.values()))
  got = kernels.vote_entropy(votes, 3)
  np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(jax.jit(kernels.vote_entropy, static_argnums=1)(votes, 3), got,
                             rtol=1e-6, atol=1e-6)


def _enumerate(emissions, transitions, start, end):
  """Every path of one unpadded sequence: (paths, probabilities) in float64."""
  n, tags = emissions.shape
  paths = np.array(list(itertools.product(range(tags), repeat=n)))
  scores = (start[paths[:, 0]] + end[paths[:, -1]] + emissions[np.arange(n), paths].sum(1)
            + transitions[paths[:, :-1], paths[:, 1:]].sum(1))
  probs = np.exp(scores - np.logaddexp.reduce(scores))
  return paths, probs


def test_crf_confidences_against_path_enumeration():
  rng = np.random.default_rng(4)
  batch, length, tags = 4, 4, 3
  emissions = rng.normal(size=(batch, length, tags)).astype(np.float32) * 2
  transitions, start, end = (rng.normal(size=s).astype(np.float32) for s in
                             ((tags, tags), (tags,), (tags,)))
  lengths = [4, 2, 1, 0]
  mask = np.arange(length)[None, :] < np.array(lengths)[:, None]

  @jax.jit  # one compile for both (the CRF kernels' own tests check jit against eager)
  def confidences(emissions, mask, transitions, start, end):
    viterbi, best_tags = kernels.crf_viterbi_confidence(emissions, mask, transitions,
                                                        start=start, end=end)
    marginal = kernels.crf_marginal_confidence(emissions, mask, transitions, start=start, end=end)
    return viterbi, best_tags, marginal

  viterbi, tags_out, marginal = confidences(emissions, mask, transitions, start, end)
  for row, n in enumerate(lengths):
    if n == 0:
      assert float(viterbi[row]) == pytest.approx(1.0) and float(marginal[row]) == 1.0
      continue
    paths, probs = _enumerate(emissions[row, :n].astype(np.float64), transitions, start, end)
    best = paths[np.argmax(probs)]
    assert float(viterbi[row]) == pytest.approx(probs.max(), rel=1e-4)
    np.testing.assert_array_equal(tags_out[row, :n], best)
    token_marginals = [probs[paths[:, t] == best[t]].sum() for t in range(n)]
    assert float(marginal[row]) == pytest.approx(min(token_marginals), rel=1e-4)
