"""Tests for the multitask bi-LSTM: shapes, padding, training, transfer, freezing."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from fsnlu_jax.data import LabelVocab, Vocab, encode_split
from fsnlu_jax.data.synthetic import generate_corpus
from fsnlu_jax.models import (MultitaskBiLSTM, MultitaskConfig, decode_output, multitask_loss,
                              predict, replace_heads, trainable_filter, trainable_mask)
from fsnlu_jax.parallel import make_data_mesh
from fsnlu_jax.train import init_train_state

# ``generate_corpus(0, ...)`` is exactly the ``synthetic/tiny`` dataset (see
# tests/data/test_synthetic.py), without a TFDS build.
TINY = {"train": 20, "validation": 10, "test": 10}


@pytest.fixture(scope="module")
def data():
  train = generate_corpus(0, TINY)["train"][:24]
  vocab = Vocab.build([e.tokens for e in train])
  intents = LabelVocab.build([e.intent for e in train])
  tags = LabelVocab.build_bio([e.slots for e in train])
  enc = encode_split(train, vocab, intents, tags, buckets=(8, 16, 32))
  batch = {k: jnp.asarray(getattr(enc, k)) for k in ("token_ids", "mask", "intent", "slots")}
  return vocab, intents, tags, batch


def _config(data, decoder="crf", **kwargs):
  vocab, intents, tags, _ = data
  sizes = {**dict(embed_dim=16, shared_hidden=8, task_hidden=12), **kwargs}
  return MultitaskConfig(vocab_size=len(vocab), n_intents=len(intents), n_tags=len(tags),
                         tag_names=tags.labels, slot_decoder=decoder, **sizes)


@functools.partial(jax.jit, static_argnums=0)
def _run(graphdef, state, batch):
  """Outputs, predictions and loss terms, jitted: eager scans are slow."""
  model = nnx.merge(graphdef, state)
  out = model(batch["token_ids"], batch["mask"])
  return out, predict(model, batch["token_ids"], batch["mask"]), multitask_loss(model, batch)[1]


def run(model, batch):
  return _run(*nnx.split(model), batch)


def _train_step(graphdef, rest, tx, traces):
  """A functional step: plain jax.jit over (params, opt_state), merge inside."""

  @functools.partial(jax.jit, donate_argnums=(0, 1))
  def step(params, opt_state, batch, key):
    traces.append(1)  # runs once per trace, not per call

    def loss_fn(p):
      model = nnx.merge(graphdef, p, rest)
      return multitask_loss(model, batch, rngs=nnx.Rngs(dropout=key))

    (loss, _), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss

  return step


def test_shapes_and_encoder(data):
  *_, batch = data
  cfg = _config(data, task_hidden=384)
  model = MultitaskBiLSTM(cfg, rngs=nnx.Rngs(0))
  out, (intent, tags), _ = run(model, batch)
  b, length = batch["token_ids"].shape
  assert out.intent_logits.shape == (b, cfg.n_intents)
  assert out.slot_logits.shape == (b, length, cfg.n_tags)
  assert out.sentence.shape == (b, 768)
  encode = jax.jit(lambda g, s, x, m: nnx.merge(g, s).encode(x, m))
  np.testing.assert_allclose(encode(*nnx.split(model), batch["token_ids"], batch["mask"]),
                             out.sentence, atol=1e-6)
  assert intent.shape == (b,) and tags.shape == (b, length)
  np.testing.assert_array_equal(tags < 0, ~np.asarray(batch["mask"]))


def test_training_needs_dropout_rngs(data):
  *_, batch = data
  model = MultitaskBiLSTM(_config(data), rngs=nnx.Rngs(0))
  with pytest.raises(ValueError, match="rngs"):
    model(batch["token_ids"], batch["mask"], deterministic=False)


@pytest.mark.parametrize("decoder,pooling", [("crf", "final"), ("softmax", "mean"),
                                              ("crf", "max")])
def test_padding_invariance_end_to_end(data, decoder, pooling):
  *_, batch = data
  model = MultitaskBiLSTM(_config(data, decoder, pooling=pooling), rngs=nnx.Rngs(1))
  sub = {k: v[:3] for k, v in batch.items()}
  # Extra padding on top of the bucket must change nothing.
  wide = dict(token_ids=jnp.pad(sub["token_ids"], ((0, 0), (0, 5))),
              mask=jnp.pad(sub["mask"], ((0, 0), (0, 5))),
              slots=jnp.pad(sub["slots"], ((0, 0), (0, 5)), constant_values=-1),
              intent=sub["intent"])
  out, (intent, tags), aux = run(model, wide)
  slot_sum = 0.0
  for b in range(3):
    n = int(sub["mask"][b].sum())
    alone = {k: v[b:b + 1, :n] if v.ndim == 2 else v[b:b + 1] for k, v in sub.items()}
    one, (i1, t1), aux1 = run(model, alone)
    np.testing.assert_allclose(out.intent_logits[b], one.intent_logits[0], atol=1e-5)
    np.testing.assert_allclose(out.sentence[b], one.sentence[0], atol=1e-5)
    np.testing.assert_allclose(out.slot_logits[b, :n], one.slot_logits[0], atol=1e-5)
    assert int(intent[b]) == int(i1[0])
    np.testing.assert_array_equal(tags[b, :n], t1[0])
    np.testing.assert_array_equal(tags[b, n:], -1)
    slot_sum += float(aux1["slot_sum"])
  np.testing.assert_allclose(aux["slot_sum"], slot_sum, rtol=1e-5)


@pytest.mark.parametrize("decoder", ["crf", "softmax"])
def test_loss_decreases_with_jitted_step_that_compiles_once(data, decoder):
  *_, batch = data
  model = MultitaskBiLSTM(_config(data, decoder, dropout=0.1), rngs=nnx.Rngs(0))
  total = lambda aux: float(aux["intent_loss"] + aux["slot_loss"])
  before = total(run(model, batch)[2])
  graphdef, params, rest = nnx.split(model, nnx.Param, ...)
  tx = optax.adam(1e-2)
  opt_state = tx.init(params)
  traces = []
  step = _train_step(graphdef, rest, tx, traces)
  key = jax.random.key(0)
  for i in range(30):
    params, opt_state, loss = step(params, opt_state, batch, jax.random.fold_in(key, i))
    assert np.isfinite(float(loss))
  assert len(traces) == 1, "the second call of the step recompiled"
  after = total(run(nnx.merge(graphdef, params, rest), batch)[2])
  assert after < 0.6 * before, (before, after)


def test_jit_equals_eager(data):
  *_, batch = data
  model = MultitaskBiLSTM(_config(data), rngs=nnx.Rngs(2))
  eager_loss, eager_aux = multitask_loss(model, batch)
  mask = jnp.asarray(batch["mask"], bool)
  eager_pred = decode_output(model, model(batch["token_ids"], mask), mask)  # op by op
  # Eager gradients cost seconds of op-by-op dispatch; the forward pass is
  # what jit could change, and the trained step checks gradients work.
  _, (jit_intent, jit_tags), jit_aux = run(model, batch)
  np.testing.assert_allclose(jit_aux["intent_loss"] + jit_aux["slot_loss"], eager_loss,
                             rtol=1e-5)
  for key in ("intent_sum", "slot_sum", "intent_count", "slot_count"):
    np.testing.assert_allclose(jit_aux[key], eager_aux[key], rtol=1e-5)
  np.testing.assert_array_equal(jit_intent, eager_pred[0])
  np.testing.assert_array_equal(jit_tags, eager_pred[1])


def test_predict_outside_jit_on_a_model_laid_out_over_the_training_mesh(data):
  # A train state merged back into a model (its arrays replicated over the
  # 8-device data mesh, typed with its explicit axis) met plain inputs outside
  # any mesh context: "Length of device assignment 1 is not equal to the size
  # of the mesh 8" (an AbstractMesh error on other JAX versions).
  *_, batch = data
  model = MultitaskBiLSTM(_config(data), rngs=nnx.Rngs(2))
  expected = predict(model, batch["token_ids"], batch["mask"])
  mesh = make_data_mesh()
  graphdef, state = init_train_state(model, optax.sgd(0.1), jax.random.key(0), mesh)
  merged = nnx.merge(graphdef, state.params, state.rest)
  got = predict(merged, np.asarray(batch["token_ids"]), np.asarray(batch["mask"]))
  np.testing.assert_array_equal(got[0], expected[0])
  np.testing.assert_array_equal(got[1], expected[1])
  with jax.set_mesh(mesh):  # inside the mesh's context too
    np.testing.assert_array_equal(predict(merged, batch["token_ids"], batch["mask"])[1],
                                  expected[1])


def _leaves(module):
  return [np.asarray(x) for x in jax.tree.leaves(nnx.state(module))]


@pytest.mark.parametrize("reinit", [False, True])
def test_replace_heads_keeps_lower_layers(data, reinit):
  old = MultitaskBiLSTM(_config(data), rngs=nnx.Rngs(0))
  before = {n: _leaves(getattr(old, n)) for n in ("embedder", "shared", "intent_lstm",
                                                   "intent_out", "crf")}
  new = replace_heads(old, n_intents=5, n_tags=3, tag_names=("O", "B-x", "I-x"),
                      rngs=nnx.Rngs(7), reinit_task_lstms=reinit)
  for name in ("embedder", "shared"):
    for a, b in zip(_leaves(getattr(new, name)), before[name]):
      np.testing.assert_array_equal(a, b)
  same_task = all(np.array_equal(a, b)
                  for a, b in zip(_leaves(new.intent_lstm), before["intent_lstm"]))
  assert same_task != reinit
  assert new.intent_out.kernel.shape == (24, 5) and new.slot_out.kernel.shape == (24, 3)
  assert new.crf.transitions.shape == (3, 3) and new.config.n_intents == 5
  assert new.crf.allowed is not None and not new.crf.allowed[0, 2]
  # The old model is untouched, and its buffers are not shared with the new one.
  for name in ("embedder", "shared", "intent_out", "crf"):
    for a, b in zip(_leaves(getattr(old, name)), before[name]):
      np.testing.assert_array_equal(a, b)
  assert new.embedder.embedding[...] is not old.embedder.embedding[...]
  *_, batch = data
  out, _, _ = run(new, batch)
  assert out.intent_logits.shape[-1] == 5 and out.slot_logits.shape[-1] == 3


def test_freezing_filter_leaves_frozen_params_unchanged(data):
  *_, batch = data
  model = MultitaskBiLSTM(_config(data, dropout=0.0), rngs=nnx.Rngs(0))
  graphdef, train, frozen = nnx.split(model, trainable_filter(model), ...)
  frozen_paths = {p[0] for p, _ in nnx.to_flat_state(frozen)}
  assert frozen_paths == {"embedder", "shared"}
  tx = optax.sgd(0.1)
  opt_state = tx.init(train)
  grads = jax.jit(jax.grad(
      lambda t: multitask_loss(nnx.merge(graphdef, t, frozen), batch)[0]))(train)
  new_train = optax.apply_updates(train, tx.update(grads, opt_state, train)[0])
  new_model = nnx.merge(graphdef, new_train, frozen)
  for name in ("embedder", "shared"):
    for a, b in zip(_leaves(getattr(new_model, name)), _leaves(getattr(model, name))):
      np.testing.assert_array_equal(a, b)
  assert not np.array_equal(new_model.intent_out.kernel[...], model.intent_out.kernel[...])

  # The same through one parameter tree and optax.multi_transform.
  params = nnx.state(model, nnx.Param)
  labels = jax.tree.map(lambda t: "train" if t else "freeze", trainable_mask(model))
  tx = optax.multi_transform({"train": optax.sgd(0.1), "freeze": optax.set_to_zero()}, labels)
  gdef, _, rest = nnx.split(model, nnx.Param, ...)
  grads = jax.jit(jax.grad(
      lambda p: multitask_loss(nnx.merge(gdef, p, rest), batch)[0]))(params)
  updated = nnx.merge(gdef, optax.apply_updates(params, tx.update(grads, tx.init(params),
                                                                  params)[0]), rest)
  for a, b in zip(_leaves(updated.shared), _leaves(model.shared)):
    np.testing.assert_array_equal(a, b)
  assert not np.array_equal(updated.slot_out.kernel[...], model.slot_out.kernel[...])

  with pytest.raises(ValueError, match="embeder"):
    trainable_filter(model, freeze=("embeder",))


@pytest.mark.parametrize("decoder", ["crf", "softmax"])
def test_ignore_index_labels_contribute_nothing(data, decoder):
  *_, batch = data
  model = MultitaskBiLSTM(_config(data, decoder), rngs=nnx.Rngs(3))
  sub = {k: v[:4] for k, v in batch.items()}
  loss_terms = lambda b: run(model, b)[2]
  full = loss_terms(sub)

  # An unknown intent drops its row from the intent mean.
  unknown = dict(sub, intent=sub["intent"].at[0].set(-1))
  aux = loss_terms(unknown)
  rest = loss_terms({k: v[1:] for k, v in sub.items()})
  np.testing.assert_allclose(aux["intent_sum"], rest["intent_sum"], rtol=1e-5)
  assert int(aux["intent_count"]) == 3
  np.testing.assert_allclose(aux["intent_loss"], rest["intent_sum"] / 3, rtol=1e-5)

  # A row with no known tag drops out of the slot mean.
  untagged = dict(sub, slots=sub["slots"].at[0].set(-1))
  aux = loss_terms(untagged)
  np.testing.assert_allclose(aux["slot_sum"], rest["slot_sum"], rtol=1e-5)
  assert int(aux["slot_count"]) == 3

  # One unknown tag: softmax drops exactly that token's cross-entropy; the CRF
  # marginalises over it, so its loss lies strictly between none and all.
  one = loss_terms(dict(sub, slots=sub["slots"].at[0, 1].set(-1)))
  logits = run(model, sub)[0].slot_logits
  token_ce = -jax.nn.log_softmax(logits[0, 1])[sub["slots"][0, 1]]
  if decoder == "softmax":
    np.testing.assert_allclose(one["slot_sum"], full["slot_sum"] - token_ce, rtol=1e-5)
  else:
    assert 0.0 < float(full["slot_sum"] - one["slot_sum"])
    assert int(one["slot_count"]) == 4
