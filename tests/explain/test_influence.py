"""Word influence of errors and pool scores: the rule on a hand-made case, loop oracles, ties."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fsnlu_jax.explain import (SPECIAL_IDS, error_token_influence, normalise_influence,
                               occurrence_counts, pool_scores, top_k_eligible, word_influence)


def test_the_rule_on_a_hand_made_error():
  # "play jazz please": gold play_music, predicted play_radio. Toward the
  # prediction, "jazz" pushed +0.3 and "please" -0.1; toward the gold intent,
  # "play" helped (+0.2) and "please" hurt (-0.4). Ids: play 4, jazz 5, please 6.
  attr_pred = jnp.array([[0.05, 0.3, -0.1, 9.0]])  # the 9 sits on padding
  attr_gold = jnp.array([[0.2, 0.0, -0.4, -9.0]])
  mask = jnp.array([[True, True, True, False]])
  harm = error_token_influence(attr_pred, attr_gold, mask)
  np.testing.assert_allclose(harm, [[0.05, 0.3, 0.4, 0.0]], atol=1e-7)
  # A second error, "jazz jazz": each occurrence counts, and <unk> (1) gets nothing.
  harm2 = jnp.array([[0.1, 0.2, 0.7, 0.0]])
  ids = jnp.array([[4, 5, 6, 0], [5, 5, 1, 0]])
  influence = word_influence(jnp.concatenate([harm, harm2]), ids,
                             jnp.array([[True, True, True, False], [True, True, True, False]]),
                             vocab_size=8)
  np.testing.assert_allclose(influence, [0, 0, 0, 0, 0.05, 0.6, 0.4, 0], atol=1e-6)
  # Pool: "play jazz" = 0.65, "please please" = 0.8, "<unk> jazz" = 0.6.
  pool = jnp.array([[4, 5], [6, 6], [1, 5]])
  np.testing.assert_allclose(pool_scores(influence, pool, jnp.ones((3, 2), bool)),
                             [0.65, 0.8, 0.6], atol=1e-6)


def test_word_influence_and_pool_scores_equal_loops():
  rng = np.random.default_rng(0)
  e, l, v = 7, 5, 11
  harm = rng.uniform(0, 1, (e, l)).astype(np.float32)
  ids = rng.integers(0, v, (e, l))
  mask = np.arange(l)[None] < rng.integers(1, l + 1, (e, 1))
  expected = np.zeros(v)
  for i in range(e):
    for j in range(l):
      if mask[i, j] and ids[i, j] not in SPECIAL_IDS:
        expected[ids[i, j]] += harm[i, j]
  got = word_influence(jnp.asarray(harm), jnp.asarray(ids), jnp.asarray(mask), vocab_size=v)
  np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
  scores = pool_scores(got, jnp.asarray(ids), jnp.asarray(mask))
  loop = [sum(expected[ids[i, j]] for j in range(l) if mask[i, j]) for i in range(e)]
  np.testing.assert_allclose(scores, loop, rtol=1e-5, atol=1e-6)
  # Nothing else is excluded when asked so.
  all_ids = word_influence(jnp.asarray(harm), jnp.asarray(ids), jnp.asarray(mask),
                           vocab_size=v, exclude_ids=())
  assert float(all_ids.sum()) == pytest.approx(float(harm[mask].sum()), rel=1e-5)


def test_error_token_influence_is_nonnegative_and_jit_equals_eager():
  rng = np.random.default_rng(1)
  a, b = (jnp.asarray(rng.normal(size=(4, 6)), jnp.float32) for _ in range(2))
  mask = jnp.asarray(rng.uniform(size=(4, 6)) < 0.7)
  eager = error_token_influence(a, b, mask)
  assert float(eager.min()) >= 0.0
  np.testing.assert_allclose(jax.jit(error_token_influence)(a, b, mask), eager)


def test_top_k_breaks_ties_by_index_and_puts_ineligible_last():
  scores = np.array([2.0, 5.0, 2.0, 5.0, 0.0, 9.0])
  eligible = np.array([True, True, True, True, True, False])
  rows, valid = top_k_eligible(jnp.asarray(scores), jnp.asarray(eligible), 6)
  assert rows.tolist() == [1, 3, 0, 2, 4, 5]
  assert valid.tolist() == [True] * 5 + [False]
  oracle = sorted(np.flatnonzero(eligible), key=lambda i: (-scores[i], i))
  assert rows.tolist()[:5] == oracle


def test_rate_rule_equals_loops_over_the_whole_split():
  rng = np.random.default_rng(2)
  n, l, v = 9, 6, 13
  ids = rng.integers(0, v, (n, l))
  mask = np.arange(l)[None] < rng.integers(1, l + 1, (n, 1))
  errors = np.array([1, 4, 4, 7])  # rows of the split that erred; row 4 twice (two slot errors)
  harm = rng.uniform(0, 1, (len(errors), l)).astype(np.float32)
  counts, summed = np.zeros(v), np.zeros(v)
  for i in range(n):  # every utterance counts, right or wrong
    for j in range(l):
      if mask[i, j] and ids[i, j] not in SPECIAL_IDS:
        counts[ids[i, j]] += 1
  for e, i in enumerate(errors):
    for j in range(l):
      if mask[i, j] and ids[i, j] not in SPECIAL_IDS:
        summed[ids[i, j]] += harm[e, j]
  expected = [summed[w] / (counts[w] + 1) for w in range(v)]
  got_counts = occurrence_counts(jnp.asarray(ids), jnp.asarray(mask), vocab_size=v)
  np.testing.assert_array_equal(got_counts, counts)
  influence = word_influence(jnp.asarray(harm), jnp.asarray(ids[errors]),
                             jnp.asarray(mask[errors]), vocab_size=v)
  rate = normalise_influence(influence, got_counts)
  np.testing.assert_allclose(rate, expected, rtol=1e-5, atol=1e-7)
  assert got_counts.dtype == jnp.float32 and float(rate.min()) >= 0.0
  # Nothing excluded when asked so: every real token counted once.
  assert float(occurrence_counts(jnp.asarray(ids), jnp.asarray(mask), vocab_size=v,
                                 exclude_ids=()).sum()) == mask.sum()


def test_rate_rule_demotes_a_word_frequent_in_correct_utterances():
  # "the" (4) harms as much in total as "jazz" (5) but occurs in 9 correct utterances too.
  influence = jnp.array([0, 0, 0, 0, 1.0, 1.0])
  counts = occurrence_counts(jnp.array([[4, 5]] + [[4, 0]] * 9),
                             jnp.array([[True, True]] + [[True, False]] * 9), vocab_size=6)
  rate = normalise_influence(influence, counts)
  np.testing.assert_allclose(rate, [0, 0, 0, 0, 1 / 11, 1 / 2], rtol=1e-6)
  # Under the summed rule "the jazz" and "jazz jazz" tie; under the rate, "jazz jazz" wins.
  pool, ones = jnp.array([[4, 5], [5, 5]]), jnp.ones((2, 2), bool)
  assert pool_scores(influence, pool, ones).tolist() == [2.0, 2.0]
  assert float(np.argmax(pool_scores(rate, pool, ones))) == 1
