"""The softmax transfer baseline on padded episodes: padding must change nothing.

Each test builds a padded episode whose padding is adversarial -- padded shots
sit on another way's cluster, a padded way's support and queries sit where an
unmasked extra class would win -- checks that premise against a fit that
reads the padding, and then asks for exactly the result of the unpadded episode.
"""

from __future__ import annotations

import numpy as np
from fsnlu_jax import models

D, WAYS, SHOTS, Q = 4, 3, 2, 3  # the real episode
CENTERS = (np.eye(WAYS, D) * 6).astype(np.float32)
# A query of way 0 on the far side of the other clusters: still way 0 among
# the real ways, but a learned unlabelled extra class (pushed away from all
# supports) outscores them there.
OUTLIER = 0.5 * CENTERS[0] - CENTERS.sum(0)


def _real_episode(seed=0):
  """Unpadded ``support [N, K, D]`` and ``query [N, Q, D]``, ways well apart."""
  rng = np.random.default_rng(seed)
  support = CENTERS[:, None] + 0.3 * rng.normal(size=(WAYS, SHOTS, D))
  query = CENTERS[:, None] + 0.3 * rng.normal(size=(WAYS, Q, D))
  query[0, -1] = OUTLIER
  return support.astype(np.float32), query.astype(np.float32)


def _pad_shots(support, k, shots=None):
  """Pads to ``k`` shots; way ``n``'s padded shots hold way ``n + 1``'s cluster.

  ``shots[n]`` real shots are kept per way (all of them by default).
  """
  n = len(support)
  shots = [support.shape[1]] * n if shots is None else shots
  padded = np.zeros((n, k, D), np.float32)
  mask = np.arange(k)[None, :] < np.asarray(shots)[:, None]
  for w in range(n):
    padded[w, :shots[w]] = support[w, :shots[w]]
    padded[w, shots[w]:] = CENTERS[(w + 1) % n]  # trained on, these flip way w + 1
  return padded, mask


def _fit(support, mask, way_mask, query):
  return np.asarray(models.fit_softmax_classifier(support, mask, way_mask,
                                                  query.reshape(-1, D)))


def test_padded_shots_are_not_trained_on():
  support, query = _real_episode()
  all_ways = np.ones(WAYS, bool)
  want = _fit(support, np.ones((WAYS, SHOTS), bool), all_ways, query)
  padded, mask = _pad_shots(support, SHOTS + 3)  # three adversarial rows per way
  # The premise: a fit that reads the padded rows predicts other ways.
  leaky = _fit(padded, np.ones_like(mask), all_ways, query)
  assert (leaky.argmax(-1) != want.argmax(-1)).any()
  np.testing.assert_allclose(_fit(padded, mask, all_ways, query), want, rtol=1e-4, atol=1e-4)


def test_ragged_shots_ignore_whatever_the_padding_holds():
  support, query = _real_episode(1)
  padded, mask = _pad_shots(support, 5, shots=[1, 2, 2])
  all_ways = np.ones(WAYS, bool)
  zeroed = np.where(mask[..., None], padded, 0.0).astype(np.float32)
  want = _fit(zeroed, mask, all_ways, query)
  assert (_fit(padded, np.ones_like(mask), all_ways, query).argmax(-1) != want.argmax(-1)).any()
  np.testing.assert_allclose(_fit(padded, mask, all_ways, query), want, rtol=1e-4, atol=1e-4)
  assert (want.argmax(-1) == np.repeat(np.arange(WAYS), Q)).all()


def _pad_ways(support, query, n):
  """Pads to ``n`` ways whose support and queries sit where an extra class would win."""
  extra = n - len(support)
  garbage = np.broadcast_to(-CENTERS.sum(0), (extra, *support.shape[1:]))
  padded_support = np.concatenate([support, garbage]).astype(np.float32)
  padded_query = np.concatenate([query, np.broadcast_to(-CENTERS.sum(0),
                                                         (extra, *query.shape[1:]))])
  way_mask = np.arange(n) < len(support)
  shot_mask = np.broadcast_to(way_mask[:, None], (n, support.shape[1]))  # padded ways: no shots
  return padded_support, shot_mask, padded_query.astype(np.float32), way_mask


def test_padded_ways_are_never_predicted_and_change_nothing():
  support, query = _real_episode(2)
  want = _fit(support, np.ones((WAYS, SHOTS), bool), np.ones(WAYS, bool), query)
  p_support, p_mask, p_query, way_mask = _pad_ways(support, query, WAYS + 2)
  # The premise: unmasked, a padded way wins the outlier and its own padded queries.
  leaky = _fit(p_support, p_mask, np.ones_like(way_mask), p_query)
  assert not way_mask[leaky.argmax(-1)].all()
  assert not way_mask[leaky[:WAYS * Q].argmax(-1)].all()  # a real query among them
  got = _fit(p_support, p_mask, way_mask, p_query)
  assert (got[:, ~way_mask] <= -1e8).all(), f"a padded way's logit is {got[:, ~way_mask].max()}"
  assert way_mask[got.argmax(-1)].all(), f"predicted ways {got.argmax(-1)}, real {way_mask}"
  np.testing.assert_allclose(got[:WAYS * Q, :WAYS], want, rtol=1e-4, atol=1e-4)


def test_scores_of_a_padded_batch_equal_those_of_its_unpadded_episodes():
  """Padded ways and padded shots together, vmapped over two episodes.

  Episode 1 is ragged (way 1 has one shot), so its reference keeps a mask too,
  but with no padding beyond its real shots' width and no adversarial rows.
  """
  episodes = [_real_episode(3), _real_episode(4)]
  n, k = WAYS + 1, SHOTS + 3
  batch = {name: [] for name in ("support", "support_mask", "query", "query_mask", "way_mask")}
  for e, (support, query) in enumerate(episodes):
    padded, mask = _pad_shots(support, k, shots=[SHOTS, SHOTS - e, SHOTS])
    p_support, _, p_query, way_mask = _pad_ways(padded, query, n)
    p_mask = np.concatenate([mask, np.zeros((n - WAYS, k), bool)])
    for name, value in zip(batch, (p_support, p_mask, p_query,
                                   np.broadcast_to(way_mask[:, None], (n, Q)), way_mask)):
      batch[name].append(value)
  batch = {name: np.stack(values) for name, values in batch.items()}
  got = models.softmax_baseline_scores(**batch, steps=60)
  pred = np.asarray(got["pred"])
  assert np.take_along_axis(batch["way_mask"], pred, axis=1).all(), f"padded way predicted: {pred}"
  for e, (support, query) in enumerate(episodes):
    shots = [SHOTS, SHOTS - e, SHOTS]
    real_mask = np.arange(SHOTS)[None, :] < np.asarray(shots)[:, None]
    want = models.softmax_baseline_scores(
        support[None], real_mask[None], query[None], np.ones((1, WAYS, Q), bool),
        np.ones((1, WAYS), bool), steps=60)
    np.testing.assert_array_equal(np.asarray(got["pred"][e, :WAYS * Q]), want["pred"][0])
    for name in ("accuracy", "macro_f1"):
      np.testing.assert_allclose(got[name][e], want[name][0], rtol=1e-6)
