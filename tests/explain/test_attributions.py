"""IG word attributions of the multitask bi-LSTM: completeness, padding, targets, one compile."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from fsnlu_jax.explain import (aggregate_to_words, intent_target, slot_target,
                               token_attributions)
from fsnlu_jax.explain._attributions import _attribute
from fsnlu_jax.models import MultitaskBiLSTM, MultitaskConfig

TAGS = ("O", "B-a", "I-a", "B-b", "I-b")


@functools.lru_cache(maxsize=None)  # building a model eagerly takes seconds
def _model(decoder: str = "crf") -> MultitaskBiLSTM:
  cfg = MultitaskConfig(vocab_size=30, n_intents=4, n_tags=len(TAGS), tag_names=TAGS,
                        embed_dim=8, shared_hidden=6, task_hidden=5, slot_decoder=decoder)
  return MultitaskBiLSTM(cfg, rngs=nnx.Rngs(0))


@functools.partial(jax.jit, static_argnums=0)
def _forward(graphdef, state, ids, mask):
  return nnx.merge(graphdef, state)(ids, mask)


def _outputs(model, ids, mask):
  """``model(ids, mask)``, jitted (eager bi-LSTMs take seconds)."""
  return _forward(*nnx.split(model), ids, mask)


def _batch():
  """Three rows of lengths 5, 3, 1, right-padded to 6."""
  lengths = np.array([5, 3, 1])
  mask = np.arange(6)[None, :] < lengths[:, None]
  ids = np.where(mask, np.random.default_rng(0).integers(2, 30, (3, 6)), 0)
  return jnp.asarray(ids), jnp.asarray(mask), lengths


def _check_completeness(att, rtol=1e-3):
  delta = att.value - att.baseline_value
  np.testing.assert_allclose(att.gap, att.scores.sum(1) - delta, atol=1e-5)
  np.testing.assert_array_less(np.abs(att.gap), rtol * np.abs(delta) + 1e-6)


INTENTS = jnp.array([0, 3, 1])
IG = dict(steps=64, chunk_size=16)  # one compiled function shared by the intent-logit tests


def test_intent_logit_completeness_padding_and_value():
  model, (ids, mask, _) = _model(), _batch()
  att = token_attributions(model, ids, mask, intent_target(INTENTS), **IG)
  assert att.scores.shape == (3, 6)
  np.testing.assert_array_equal(np.where(mask, 0.0, att.scores), 0.0)
  _check_completeness(att)
  logits = _outputs(model, ids, mask).intent_logits
  np.testing.assert_allclose(att.value, logits[jnp.arange(3), INTENTS], rtol=1e-5)

  # Rows do not interact, and what lies under the padding does not matter.
  perm, garbage = jnp.array([2, 0, 1]), jnp.where(mask, ids, 17)
  moved = token_attributions(model, garbage[perm], mask[perm], intent_target(INTENTS[perm]), **IG)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a[perm], b, rtol=1e-5, atol=1e-6),
               att, moved)


def test_a_padded_row_equals_the_row_alone():
  model, (ids, mask, lengths) = _model(), _batch()
  target = intent_target(jnp.array([2, 2, 0]), output="probability")
  batched = token_attributions(model, ids, mask, target, **IG)
  _check_completeness(batched)
  probs = jax.nn.softmax(_outputs(model, ids, mask).intent_logits)
  np.testing.assert_allclose(batched.value, probs[jnp.arange(3), target.label], rtol=1e-5)
  n = lengths[1]
  alone = token_attributions(model, ids[1:2, :n], mask[1:2, :n],
                             intent_target(target.label[1:2], output="probability"), **IG)
  np.testing.assert_allclose(batched.scores[1, :n], alone.scores[0], rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(batched.gap[1], alone.gap[0], atol=1e-6)


@pytest.mark.parametrize("decoder,output", [("crf", "probability"), ("softmax", "logit")])
def test_slot_targets(decoder, output):
  model, (ids, mask, _) = _model(decoder), _batch()
  tag, position = jnp.array([1, 0, 3]), jnp.array([4, 1, 0])
  att = token_attributions(model, ids, mask, slot_target(tag, position, output=output), **IG)
  _check_completeness(att)
  emissions = _outputs(model, ids, mask).slot_logits
  want = model.crf.marginals(emissions, mask) if decoder == "crf" else emissions
  np.testing.assert_allclose(att.value, want[jnp.arange(3), position, tag], rtol=1e-4)
  np.testing.assert_array_equal(np.where(mask, 0.0, att.scores), 0.0)


def test_second_call_does_not_retrace():
  ids, mask, _ = _batch()
  token_attributions(_model(), ids, mask, intent_target(INTENTS), **IG)
  size = _attribute._cache_size()  # pylint: disable=protected-access
  # Another model of the same sizes, other ids and labels: the compiled function is reused.
  graphdef, state = nnx.split(_model())
  other = nnx.merge(graphdef, jax.tree.map(lambda w: 1.5 * w, state))
  att = token_attributions(other, (ids * 7) % 30 * mask, mask,
                           intent_target(jnp.array([3, 3, 1])), **IG)
  assert _attribute._cache_size() == size  # pylint: disable=protected-access
  _check_completeness(att)


def test_projection_path_equals_the_embedding_path():
  """The bi-LSTM's affine first step is hoisted out of the path: same attributions."""
  model, (ids, mask, _) = _model("softmax"), _batch()

  class EmbeddingsOnly(nnx.Module):  # the model without project/from_projection
    def __init__(self, inner):
      self.inner, self.crf = inner, inner.crf

    def embed(self, ids):
      return self.inner.embed(ids)

    def from_embeddings(self, x, mask):
      return self.inner.from_embeddings(x, mask)

  x = model.embed(ids)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6),
               model.from_projection(model.project(x), mask), _outputs(model, ids, mask))
  target = slot_target(jnp.array([1, 0, 3]), jnp.array([4, 1, 0]), output="probability")
  hoisted = token_attributions(model, ids, mask, target, steps=16)
  plain = token_attributions(EmbeddingsOnly(model), ids, mask, target, steps=16)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6),
               hoisted, plain)


def test_length_groups_equal_one_call():
  model = _model("softmax")
  rng = np.random.default_rng(3)
  lengths = np.array([2, 9, 5, 1, 7, 9, 3])  # 7 rows: groups of 3 leave one short group
  mask = np.arange(10)[None, :] < lengths[:, None]
  ids = np.where(mask, rng.integers(2, 30, mask.shape), 0)
  target = intent_target(jnp.array([0, 1, 2, 3, 0, 1, 2]))
  whole = token_attributions(model, ids, mask, target, **IG)
  grouped = token_attributions(model, ids, mask, target, length_groups=3, **IG)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6),
               grouped, whole)
  # Sorted groups of 3: lengths (1 2 3) (5 7 9) (9), padded to 4 and 10 (the last two run together).
  size = _attribute._cache_size()  # pylint: disable=protected-access
  again = token_attributions(model, (ids * 3) % 30 * mask, mask, target, length_groups=3, **IG)
  assert _attribute._cache_size() == size  # pylint: disable=protected-access
  _check_completeness(again)
  with pytest.raises(ValueError, match="length_groups"):
    token_attributions(model, ids, mask, target, length_groups=0, **IG)


def test_length_groups_with_a_scalar_baseline_and_an_empty_batch():
  model = _model("softmax")
  ids, mask, _ = _batch()
  target, small = intent_target(INTENTS), dict(steps=4, chunk_size=None)
  whole = token_attributions(model, ids, mask, target, baseline=0.1, **small)
  grouped = token_attributions(model, ids, mask, target, baseline=0.1, length_groups=2, **small)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6),
               grouped, whole)
  empty = token_attributions(model, ids[:0], mask[:0], intent_target(INTENTS[:0]),
                             length_groups=2, **small)
  assert empty.scores.shape == (0, 6) and empty.gap.shape == (0,)


def test_aggregate_to_words():
  scores = jnp.array([[0.5, 1.0, -2.0, 4.0], [3.0, 0.0, 0.0, 0.0]])
  mask = jnp.array([[True, True, True, True], [True, False, False, False]])
  identity = jnp.where(mask, jnp.arange(4), -1)
  np.testing.assert_array_equal(aggregate_to_words(scores, identity), scores * mask)
  pieces = jnp.array([[0, 0, 1, -1], [0, -1, -1, -1]])  # "un ##do it [SEP]"
  np.testing.assert_allclose(aggregate_to_words(scores, pieces, n_words=3),
                             [[1.5, -2.0, 0.0], [3.0, 0.0, 0.0]])


def test_bad_output_is_refused():
  with pytest.raises(ValueError, match="output"):
    intent_target(jnp.array([0]), output="log_probability")
