"""ProtoNet kernels against loops over episodes, ways and queries."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fsnlu_jax import kernels
from fsnlu_jax.train import metrics


def _episode(seed: int, n=4, k=3, q=5, d=6, ways=3):
  """Support ``[N, K, D]`` with ragged shots, padded ways, and flat queries."""
  rng = np.random.default_rng(seed)
  support = rng.normal(size=(n, k, d)).astype(np.float32)
  mask = np.zeros((n, k), bool)
  for w in range(ways):
    mask[w, :rng.integers(1, k + 1)] = True
  way_mask = np.arange(n) < ways
  query = rng.normal(size=(q, d)).astype(np.float32)
  return support, mask, way_mask, query


def test_prototypes_are_loop_means_and_ignore_padding():
  support, mask, _, _ = _episode(0)
  got = np.asarray(kernels.prototypes(support, mask))
  for n in range(support.shape[0]):
    real = support[n][mask[n]]
    want = real.mean(0) if len(real) else np.zeros(support.shape[-1])
    np.testing.assert_allclose(got[n], want, rtol=1e-5, atol=1e-6)
  # Whatever sits in padded shots does not move a prototype.
  garbage = np.where(mask[..., None], support, 1e6).astype(np.float32)
  np.testing.assert_allclose(kernels.prototypes(garbage, mask), got, rtol=1e-5)


def test_distances_match_brute_force():
  _, _, _, a = _episode(1, q=7)
  b = np.random.default_rng(2).normal(size=(4, a.shape[1])).astype(np.float32)
  sq = np.array([[np.sum((x - y) ** 2) for y in b] for x in a])
  cos = np.array([[x @ y / np.linalg.norm(x) / np.linalg.norm(y) for y in b] for x in a])
  np.testing.assert_allclose(kernels.squared_euclidean(a, b), sq, rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(kernels.cosine_similarity(a, b), cos, rtol=1e-5, atol=1e-6)
  assert float(kernels.squared_euclidean(a, a).min()) >= 0.0  # clamped, never negative


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_logits_loss_and_scores_match_loops(metric):
  support, mask, way_mask, query = _episode(3)
  labels = np.array([0, 1, 2, 2, 0])
  qmask = np.array([True, True, True, True, False])
  protos = kernels.prototypes(support, mask)
  logits = np.asarray(kernels.protonet_logits(query, protos, way_mask, metric=metric, scale=2.0))
  assert (logits[:, ~way_mask] < -1e8).all()  # a padded way never wins
  loss_sum, count = kernels.protonet_loss(logits, labels, qmask)
  want = 0.0
  for i in np.flatnonzero(qmask):
    real = logits[i, way_mask]
    want += np.log(np.exp(real - real.max()).sum()) + real.max() - logits[i, labels[i]]
  np.testing.assert_allclose(loss_sum, want, rtol=1e-5)
  assert int(count) == 4
  pred = logits.argmax(-1)
  np.testing.assert_allclose(kernels.episode_accuracy(logits, labels, qmask),
                             np.mean(pred[qmask] == labels[qmask]))
  np.testing.assert_allclose(
      kernels.episode_macro_f1(logits, labels, qmask, way_mask),
      metrics.macro_f1(pred[qmask], labels[qmask], labels=range(3)), rtol=1e-6)


def _loop_logits(query, support, mask, way_mask, metric, scale):
  """ProtoNet logits the long way, in float64: one query, one way at a time.

  Independent of the kernels (no :func:`kernels.prototypes`, no matmul form
  of the distance), so that a wrong sign or a dropped ``scale`` in
  :func:`kernels.protonet_logits` shows up here rather than cancelling out.
  """
  query, support = np.asarray(query, np.float64), np.asarray(support, np.float64)
  logits = np.full((len(query), len(support)), np.nan)
  for n in np.flatnonzero(way_mask):
    proto = support[n][mask[n]].mean(axis=0)  # real shots only
    for i, x in enumerate(query):
      if metric == "euclidean":
        logits[i, n] = -scale * np.sum((x - proto) ** 2)
      else:
        logits[i, n] = scale * (x @ proto) / (np.linalg.norm(x) * np.linalg.norm(proto))
  return logits


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
@pytest.mark.parametrize("scale", [0.5, 3.0])
def test_logits_match_an_independent_loop(metric, scale):
  support, mask, way_mask, query = _episode(6, n=5, k=4, q=9, d=6, ways=3)
  assert (~mask[way_mask]).any() and (~way_mask).any(), "the episode must pad shots and ways"
  # Padded shots hold huge values: averaging them in would move every prototype.
  support = np.where(mask[..., None], support, 50.0).astype(np.float32)
  # Each query sits near one real prototype, so the real logits are far apart
  # and the arg-max is a real way with a margin.
  protos = np.stack([support[n][mask[n]].mean(0) if mask[n].any() else np.zeros(6)
                     for n in range(5)]).astype(np.float32)
  query = (protos[np.arange(9) % 3] + 0.3 * query).astype(np.float32)
  got = np.asarray(kernels.protonet_logits(query, kernels.prototypes(support, mask), way_mask,
                                           metric=metric, scale=scale))
  want = _loop_logits(query, support, mask, way_mask, metric, scale)
  np.testing.assert_allclose(got[:, way_mask], want[:, way_mask], rtol=1e-4, atol=1e-4)
  # Padded ways: far below every real logit, whatever their (zero) prototype scores.
  assert (got[:, ~way_mask] <= -1e8).all()
  assert way_mask[got.argmax(-1)].all()
  # Nearest prototype wins (Euclidean) / most similar wins (cosine).
  np.testing.assert_array_equal(got.argmax(-1), np.nanargmax(want, -1))


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_padded_ways_never_win_even_where_their_score_would(metric):
  # The padded way's prototype is the zero vector: nearest to the query under
  # Euclidean distance, and its cosine 0 beats the real ways' negative ones.
  support = np.array([[[5., 5., 0.]] * 2, [[0., 5., 5.]] * 2, [[0., 0., 0.]] * 2], np.float32)
  mask = np.array([[True, True], [True, False], [False, False]])
  query = np.full((1, 3), -1.0, np.float32)
  protos = kernels.prototypes(support, mask)
  unmasked = kernels.protonet_logits(query, protos, np.ones(3, bool), metric=metric, scale=2.0)
  assert int(np.argmax(unmasked)) == 2  # the test's premise: unmasked, the padded way wins
  logits = kernels.protonet_logits(query, protos, np.array([True, True, False]), metric=metric,
                                   scale=2.0)
  assert int(np.argmax(logits)) in (0, 1)


def test_batched_over_episodes_equals_a_loop():
  episodes = [_episode(s) for s in range(4)]
  s, m, w, q = (np.stack(parts) for parts in zip(*episodes))
  protos = kernels.prototypes(s, m)  # leading E axis, no vmap needed
  logits = kernels.protonet_logits(q, protos, w)
  for e, (se, me, we, qe) in enumerate(episodes):
    one = kernels.protonet_logits(qe, kernels.prototypes(se, me), we)
    np.testing.assert_allclose(logits[e], one, rtol=1e-5)


def test_jit_equals_eager_and_gradients_are_finite():
  support, mask, way_mask, query = _episode(4)
  labels, qmask = jnp.array([0, 1, 2, 0, 1]), jnp.ones(5, bool)

  def loss(s, q):
    logits = kernels.protonet_logits(q, kernels.prototypes(s, mask), way_mask)
    return kernels.protonet_loss(logits, labels, qmask)[0]

  np.testing.assert_allclose(jax.jit(loss)(support, query), loss(support, query), rtol=1e-6)
  grads = jax.grad(loss, argnums=(0, 1))(support, query)
  assert all(bool(jnp.isfinite(g).all()) for g in grads)
  # Padded shots get no gradient: they are not part of any prototype.
  assert float(jnp.abs(grads[0][~mask]).max()) == 0.0


def test_query_labels_follow_ways():
  np.testing.assert_array_equal(kernels.query_labels(np.ones((2, 3, 2), bool)),
                                [[0, 0, 1, 1, 2, 2]] * 2)


def test_synthetic_samples_carry_their_class_and_cycle_over_real_shots():
  support, mask, _, _ = _episode(5, n=4, k=3, ways=3)
  m, z = 5, 2
  noise = np.random.default_rng(0).normal(size=(4, m, z)).astype(np.float32)
  seed_of = lambda x, _: x  # identity: a synthetic sample *is* its seed
  synth, synth_mask = kernels.synthesize(seed_of, support, mask, noise)
  for n, j in itertools.product(range(4), range(m)):
    shots = int(mask[n].sum())
    if shots == 0:
      assert not synth_mask[n, j]  # a padded way gets no samples
      continue
    assert synth_mask[n, j]
    np.testing.assert_allclose(synth[n, j], support[n, j % shots])
  # The generator sees each sample's own noise: vmapped, not broadcast.
  shifted, _ = kernels.synthesize(lambda x, e: x + e.sum(), support, mask, noise)
  np.testing.assert_allclose(np.asarray(shifted) - np.asarray(synth),
                             np.broadcast_to(noise.sum(-1)[..., None], synth.shape), rtol=1e-5)
