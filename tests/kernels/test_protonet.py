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
