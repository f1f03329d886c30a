"""Tests for the embedder and the CRF layer, against the CRF kernels."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from fsnlu_jax.kernels import bio_transition_mask, crf_log_likelihood, masked_transitions
from fsnlu_jax.nn import CRF, Embedder

TAGS = ("O", "B-city", "I-city", "B-time", "I-time")


def test_embedder_padding_is_zero_and_gets_no_gradient():
  emb = Embedder(7, 3, rngs=nnx.Rngs(0))
  assert not np.any(emb.embedding[...][0])
  ids = jnp.array([[4, 2, 0, 0]])
  out = emb(ids)
  assert out.shape == (1, 4, 3)
  np.testing.assert_array_equal(out[0, 2:], 0.0)
  np.testing.assert_array_equal(out[0, 0], emb.embedding[...][4])

  grads = nnx.grad(lambda m: jnp.sum(m(ids) ** 2 + m(ids)))(emb)
  g = grads["embedding"][...]
  np.testing.assert_array_equal(g[0], 0.0)
  assert np.all(g[4] != 0.0)


def _crf_and_inputs(seed=0, batch=3, length=4):
  crf = CRF(len(TAGS), tag_names=TAGS, rngs=nnx.Rngs(seed))
  emissions = jax.random.normal(jax.random.key(seed + 1), (batch, length, len(TAGS))) * 2
  mask = jnp.arange(length)[None, :] < jnp.array([4, 2, 3])[:batch, None]
  return crf, emissions, mask


def test_crf_mask_is_static_not_a_parameter():
  crf, _, _ = _crf_and_inputs()
  state = nnx.state(crf)
  assert {p[0] for p, _ in nnx.to_flat_state(state)} == {"transitions", "start", "end"}
  allowed, _ = bio_transition_mask(TAGS)
  np.testing.assert_array_equal(crf.allowed, allowed)
  assert CRF(5, rngs=nnx.Rngs(0)).allowed is None


def test_crf_log_likelihood_matches_kernel_with_masked_potentials():
  crf, emissions, mask = _crf_and_inputs()
  tags = jnp.array([[1, 2, 0, 3], [3, 4, -1, -1], [0, 1, 2, -1]])
  allowed, start_allowed = bio_transition_mask(TAGS)
  expected = crf_log_likelihood(
      emissions, tags, mask, masked_transitions(crf.transitions[...], allowed),
      start=masked_transitions(crf.start[...], start_allowed), end=crf.end[...])
  np.testing.assert_allclose(crf.log_likelihood(emissions, tags, mask), expected,
                             rtol=1e-5, atol=1e-5)


def test_crf_unknown_tag_is_marginalised():
  crf, emissions, mask = _crf_and_inputs(batch=1)
  tags = jnp.array([[1, -1, 0, 3]])
  got = crf.log_likelihood(emissions, tags, mask)[0]
  filled = [crf.log_likelihood(emissions, tags.at[0, 1].set(v), mask)[0]
            for v in range(len(TAGS))]
  np.testing.assert_allclose(got, jax.nn.logsumexp(jnp.array(filled)), rtol=1e-5)
  # Nothing known: no supervision at all.
  np.testing.assert_allclose(crf.log_likelihood(emissions, jnp.full((1, 4), -1), mask), 0.0,
                             atol=1e-5)


def test_crf_decode_is_the_best_allowed_path_by_brute_force():
  crf, emissions, mask = _crf_and_inputs(seed=3)
  tags, score = crf.decode(emissions, mask)
  for b, n in enumerate(np.asarray(mask.sum(1))):
    paths = np.array(list(itertools.product(range(len(TAGS)), repeat=int(n))))
    padded = np.full((len(paths), 4), -1)
    padded[:, :n] = paths
    ll = crf.log_likelihood(jnp.repeat(emissions[b:b + 1], len(paths), 0),
                            jnp.asarray(padded), jnp.repeat(mask[b:b + 1], len(paths), 0))
    best = paths[int(jnp.argmax(ll))]
    np.testing.assert_array_equal(tags[b, :n], best)
  assert tags[0, 0] not in (2, 4)  # never starts with I-


def test_crf_marginals_sum_to_one_on_real_tokens():
  crf, emissions, mask = _crf_and_inputs()
  marginals = crf.marginals(emissions, mask)
  np.testing.assert_allclose(marginals.sum(-1), mask.astype(float), atol=1e-5)
  assert float(marginals[:, 0, 2].max()) < 1e-6  # I-city cannot start


def test_crf_rejects_bad_sizes():
  with pytest.raises(ValueError, match="tag_names"):
    CRF(4, tag_names=TAGS, rngs=nnx.Rngs(0))
  with pytest.raises(ValueError, match="allowed"):
    CRF(3, allowed=np.ones((2, 2), bool), rngs=nnx.Rngs(0))
