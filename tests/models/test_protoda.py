"""ProtoNet / ProtoDA model: vmapped batch = loop, augmentation semantics, encoder path."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from fsnlu_jax import kernels, models


def _config(**kw):
  base = dict(input_dim=6, proto_dim=4, proto_hidden=8, n_synthetic=3, noise_dim=2,
              generator_hidden=5)
  return models.ProtoDAConfig(**{**base, **kw})


def _batch(seed=0, e=3, n=4, k=3, q=2, d=6):
  rng = np.random.default_rng(seed)
  support_mask = np.zeros((e, n, k), bool)
  way_mask = np.zeros((e, n), bool)
  for i in range(e):
    ways = rng.integers(2, n + 1)
    way_mask[i, :ways] = True
    for w in range(ways):
      support_mask[i, w, :rng.integers(1, k + 1)] = True
  query_mask = way_mask[..., None] & (np.arange(q) < q)
  return dict(support=rng.normal(size=(e, n, k, d)).astype(np.float32),
              support_mask=support_mask,
              query=rng.normal(size=(e, n, q, d)).astype(np.float32),
              query_mask=query_mask, way_mask=way_mask, augment=np.ones(e, bool),
              noise_seed=np.arange(e, dtype=np.uint32) + 10)


@pytest.mark.parametrize("augment,placement,generator", [
    ("none", "proto", "shot"), ("gaussian", "proto", "shot"), ("generator", "proto", "shot"),
    ("generator", "sentence", "shot"), ("generator", "proto", "class")])
def test_vmapped_episode_loss_equals_a_loop(augment, placement, generator):
  model = models.FewShotModel(_config(augment=augment, placement=placement, noise_scale=0.5,
                                      generator=generator), rngs=nnx.Rngs(0))
  batch = _batch()
  loss_sum, aux = models.episodic_loss(model, batch, nnx.Rngs(7))
  keys = [jax.random.fold_in(jax.random.key(0), s) for s in batch["noise_seed"]]
  want_sum, want_count = 0.0, 0
  for e in range(3):
    q = batch["query"][e].reshape(-1, 6)
    logits = models.episode_logits(model, batch["support"][e], batch["support_mask"][e], q,
                                   batch["way_mask"][e], True, keys[e])
    mask = batch["query_mask"][e].reshape(-1)
    s, c = kernels.protonet_loss(logits, kernels.query_labels(batch["query_mask"][e]), mask)
    want_sum, want_count = want_sum + float(s), want_count + int(c)
  np.testing.assert_allclose(loss_sum, want_sum, rtol=1e-5)
  assert int(aux["count"]) == want_count


def test_padded_ways_and_shots_do_not_change_the_logits():
  model = models.FewShotModel(_config(augment="generator"), rngs=nnx.Rngs(0))
  b = _batch(1)
  key = jax.random.key(0)
  base = models.batch_logits(model, b, key)
  noisy = dict(b)
  pad = ~b["support_mask"][..., None]
  noisy["support"] = np.where(pad, 1e3, b["support"]).astype(np.float32)
  np.testing.assert_allclose(models.batch_logits(model, noisy, key), base, rtol=1e-5)


def test_generator_starts_as_identity_and_augment_off_is_plain_protonet():
  c = _config(augment="generator")
  model = models.FewShotModel(c, rngs=nnx.Rngs(0))
  x, z = jnp.arange(4.0), jnp.ones(2)
  np.testing.assert_allclose(model.generator(x, z), x)  # zero-initialised output layer
  plain = models.FewShotModel(_config(augment="none"), rngs=nnx.Rngs(0))
  nnx.update(plain.protonet, nnx.state(model.protonet))
  b = _batch(2)
  off = dict(b, augment=np.zeros(3, bool))
  key = jax.random.key(1)
  np.testing.assert_allclose(models.batch_logits(model, off, key),
                             models.batch_logits(plain, b, key), rtol=1e-6)


def test_synthetic_samples_carry_their_class():
  """A synthetic sample changes only its own way's prototype."""
  model = models.FewShotModel(_config(augment="gaussian", noise_scale=1.0), rngs=nnx.Rngs(0))
  b = _batch(3, e=1)
  s = model.protonet(b["support"][0])
  key = jax.random.key(2)
  noise = jax.random.normal(key, (4, 3, 4))
  synth, synth_mask = kernels.synthesize(model.make_sample, s, b["support_mask"][0], noise)
  for n in range(4):
    seeds = np.asarray(s[n])[b["support_mask"][0, n]]
    if not len(seeds):
      continue
    # Each sample is its way's seed plus unit-scale noise, never another way's shot.
    offsets = np.asarray(synth[n])[:, None, :] - seeds[None]
    nearest = np.abs(offsets - np.asarray(noise[n])[:, None, :]).sum(-1).min(-1)
    np.testing.assert_allclose(nearest, 0.0, atol=1e-5)


def test_encoder_path_trains_the_encoder():
  encoder = models.MultitaskBiLSTM(models.MultitaskConfig(
      vocab_size=30, n_intents=2, n_tags=1, embed_dim=4, shared_hidden=3, task_hidden=3,
      dropout=0.0), rngs=nnx.Rngs(0))
  model = models.FewShotModel(_config(input_dim=6, augment="generator"), encoder=encoder,
                              rngs=nnx.Rngs(1))
  rng = np.random.default_rng(0)
  b = _batch(4)
  for name, lead in (("support", (3, 4, 3)), ("query", (3, 4, 2))):
    b[name] = rng.integers(4, 30, size=(*lead, 5)).astype(np.int32)
    b[name + "_tokens"] = np.ones((*lead, 5), bool)
  graphdef, params, rest = nnx.split(model, nnx.Param, ...)
  grads = jax.jit(jax.grad(lambda p: models.episodic_loss(nnx.merge(graphdef, p, rest), b,
                                                          None)[0]))(params)
  emb = grads["encoder"]["embedder"]["embedding"][...]
  assert float(jnp.abs(emb).sum()) > 0.0 and bool(jnp.isfinite(emb).all())


def test_softmax_baseline_separates_separable_episodes_and_vmaps():
  rng = np.random.default_rng(0)
  centers = rng.normal(size=(3, 5)) * 5
  support = (centers[:, None] + 0.1 * rng.normal(size=(3, 4, 5))).astype(np.float32)
  query = (centers[:, None] + 0.1 * rng.normal(size=(3, 2, 5))).astype(np.float32)
  mask, qmask, way_mask = np.ones((3, 4), bool), np.ones((3, 2), bool), np.ones(3, bool)
  scores = models.softmax_baseline_scores(support[None], mask[None], query[None], qmask[None],
                                          way_mask[None], steps=50)
  assert float(scores["accuracy"][0]) == 1.0
  one = models.fit_softmax_classifier(support, mask, way_mask, query.reshape(6, 5), steps=50)
  np.testing.assert_array_equal(scores["pred"][0], np.argmax(one, -1))


def test_config_rejects_bad_choices():
  with pytest.raises(ValueError, match="augment"):
    _config(augment="mixup")
  with pytest.raises(ValueError, match="placement"):
    _config(placement="logits")
  with pytest.raises(ValueError, match="n_synthetic"):
    _config(augment="gaussian", n_synthetic=0)


def test_class_aware_generator_starts_as_identity_and_its_samples_carry_their_class():
  """Samples of the class-aware generator stay nearer their own prototype, whatever its weights."""
  c = _config(augment="generator", generator="class", placement="sentence", n_synthetic=6)
  model = models.FewShotModel(c, rngs=nnx.Rngs(0))
  rng = np.random.default_rng(0)
  # 4 ways, prototypes 28 apart, shots within ~4 of them: a sample within
  # 2 radii of its prototype is nearer it than any other.
  centers = np.eye(4, 6, dtype=np.float32) * 20
  support = (centers[:, None] + rng.normal(size=(4, 3, 6))).astype(np.float32)
  mask = np.array([[1, 1, 1], [1, 1, 0], [1, 0, 0], [1, 1, 1]], bool)
  on, key = jnp.asarray(True), jax.random.key(3)
  start, _ = models._protoda._augment(model, jnp.asarray(support), jnp.asarray(mask), on, key)
  seeds = [np.asarray(support[n])[mask[n]] for n in range(4)]
  for n in range(4):  # untrained: each sample duplicates one of its way's shots
    dup = np.abs(np.asarray(start[n, 3:])[:, None] - seeds[n][None]).sum(-1).min(-1)
    np.testing.assert_allclose(dup, 0.0, atol=1e-5)
  # Any weights (here large random ones): the move is bounded by the class's spread.
  state = nnx.state(model.generator, nnx.Param)
  nnx.update(model.generator, jax.tree.map(
      lambda p: 5.0 * jax.random.normal(jax.random.key(p.size), p.shape), state))
  full, full_mask = models._protoda._augment(model, jnp.asarray(support), jnp.asarray(mask), on,
                                             key)
  synthetic = np.asarray(full[:, 3:])  # --> [N, Ks, D]
  assert np.asarray(full_mask[:, 3:]).all()
  assert not np.allclose(synthetic, np.asarray(start[:, 3:]))  # the weights do move them
  protos = np.stack([s.mean(0) for s in seeds])
  dist = np.linalg.norm(synthetic[:, :, None] - protos[None, None], axis=-1)  # --> [N, Ks, N]
  assert (dist.argmin(-1) == np.arange(4)[:, None]).all()
  one_shot = np.asarray(full[2, 3:])  # way 2 has one shot: no spread, a copy
  np.testing.assert_allclose(one_shot, np.broadcast_to(seeds[2][0], one_shot.shape), atol=1e-5)
