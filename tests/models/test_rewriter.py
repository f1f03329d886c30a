"""Tests for the CGF rewriter: shapes, incremental decoding, loss, overfitting, one compile.

Everything runs jitted with few distinct shapes: on CPU each eager op and each
new shape costs a compile, which would dominate these tests' time.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from fsnlu_jax import parallel, train
from fsnlu_jax.models import (KVCache, Rewriter, RewriterConfig, rewriter_loss,
                              tokens_to_logits_fn)
from fsnlu_jax.models._rewriter import Positional, sinusoidal_table

V, LS, LT, D, ROWS = 40, 10, 8, 32, 4


def _config(**kwargs):
  sizes = dict(vocab_size=V, d_model=D, n_heads=4, n_encoder_layers=1, n_decoder_layers=2,
               d_ff=64, max_source_len=LS, max_target_len=LT, dropout=0.0)
  return RewriterConfig(**{**sizes, **kwargs})


def _batch(rows: int = ROWS, seed: int = 0) -> dict[str, jnp.ndarray]:
  """Random pairs with ragged source and target lengths, as encode_pairs lays them out."""
  rng = np.random.default_rng(seed)
  src_len = rng.integers(2, LS + 1, rows)
  tgt_len = rng.integers(1, LT, rows)  # words; + EOS fits in LT
  src_mask = np.arange(LS)[None] < src_len[:, None]
  words = rng.integers(5, V, (rows, LT))
  tgt_mask = np.arange(LT)[None] < (tgt_len + 1)[:, None]
  target_in = np.where(tgt_mask, np.concatenate([np.full((rows, 1), 2), words[:, :-1]], 1), 0)
  target_out = np.where(np.arange(LT)[None] < tgt_len[:, None], words, 3) * tgt_mask
  return dict(source_ids=jnp.asarray(np.where(src_mask, rng.integers(4, V, (rows, LS)), 0)),
              source_mask=jnp.asarray(src_mask), target_in=jnp.asarray(target_in, jnp.int32),
              target_out=jnp.asarray(target_out, jnp.int32), target_mask=jnp.asarray(tgt_mask))


@pytest.fixture(scope="module")
def model():
  """Dropout on: only the train-mode loss below draws it; the rest runs deterministically."""
  return Rewriter(_config(dropout=0.2), rngs=nnx.Rngs(0))


@functools.partial(jax.jit, static_argnums=0)
def _teacher_forced(graphdef, state, batch):
  """``(encoded [B, LS, D], logits [B, LT, V], loss_sum, aux)``."""
  model = nnx.merge(graphdef, state)
  loss_sum, aux = rewriter_loss(model, batch)
  return (model.encode(batch["source_ids"], batch["source_mask"]),
          model(batch["source_ids"], batch["source_mask"], batch["target_in"]), loss_sum, aux)


@functools.partial(jax.jit, static_argnums=0)
def _decode_step(graphdef, state, tokens, cache, step, encoded, src_mask, src_ids=None):
  model = nnx.merge(graphdef, state)
  return tokens_to_logits_fn(model, encoded, src_mask, src_ids)(tokens, cache, step)


def _step_by_step(model, batch, encoded):
  """Logits ``[B, LT, V]`` from decode_step fed the teacher-forced inputs one at a time."""
  graphdef, state = nnx.split(model)
  cache = model.init_cache(batch["target_in"].shape[0], LT)
  ids = batch["source_ids"] if model.config.copy else None
  out = []
  for t in range(LT):
    logits, cache = _decode_step(graphdef, state, batch["target_in"][:, t], cache, jnp.int32(t),
                                 encoded, batch["source_mask"], ids)
    out.append(logits)
  return jnp.stack(out, axis=1)


def test_shapes_and_incremental_decoding_equals_teacher_forcing(model):
  batch = _batch()
  encoded, full, _, _ = _teacher_forced(*nnx.split(model), batch)
  assert encoded.shape == (ROWS, LS, D)
  assert full.shape == (ROWS, LT, V) and full.dtype == jnp.float32
  compiles = _decode_step._cache_size()  # pylint: disable=protected-access
  np.testing.assert_allclose(_step_by_step(model, batch, encoded), full, atol=1e-5, rtol=0)
  # The step is traced once for all LT steps (step is an argument, not a constant).
  assert _decode_step._cache_size() == compiles + 1  # pylint: disable=protected-access


def test_copying_mixes_a_distribution_over_the_source_words_and_steps_like_teacher_forcing():
  model = Rewriter(_config(copy=True), rngs=nnx.Rngs(1))
  batch = _batch(seed=2)
  encoded, full, _, _ = _teacher_forced(*nnx.split(model), batch)
  np.testing.assert_allclose(_step_by_step(model, batch, encoded), full, atol=1e-5, rtol=0)
  probs = np.exp(np.asarray(full, np.float64))  # log-probabilities, not logits
  np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-5)
  # Brute force, one row and step: the gate mixes the vocabulary softmax with the
  # copy shares summed per source word.
  b, t = 1, 2
  h = model.dec_norm(_decoder_states(model, batch))[b, t]
  vocab = jax.nn.softmax(h @ model.embed.embedding[...].T / np.sqrt(D))
  mask, ids = np.asarray(batch["source_mask"][b]), np.asarray(batch["source_ids"][b])
  keys = model.copy_key(encoded[b])
  scores = np.where(mask, np.asarray(keys @ model.copy_query(h)) / np.sqrt(D), -np.inf)
  share = np.exp(scores - scores.max()) / np.exp(scores - scores.max()).sum()
  gate = jax.nn.sigmoid(model.copy_gate(jnp.concatenate([h, share @ np.asarray(encoded[b])])))
  copied = np.zeros(V)
  for s, word in enumerate(ids):
    copied[word] += share[s]
  np.testing.assert_allclose(probs[b, t], gate * np.asarray(vocab) + (1 - gate) * copied,
                             atol=2e-5)
  with pytest.raises(ValueError, match="source ids"):
    model.decode_step(jnp.array([2]), model.init_cache(1, LT), 0, encoded[:1],
                      batch["source_mask"][:1])


def _decoder_states(model, batch):
  """The decoder stack's output ``[B, LT, D]`` before the final norm (eager)."""
  encoded = model.encode(batch["source_ids"], batch["source_mask"])
  length = batch["target_in"].shape[1]
  causal = jnp.tril(jnp.ones((length, length), bool))[None, None]
  cross = jnp.asarray(batch["source_mask"], bool)[:, None, None, :]
  x = model.embed(batch["target_in"]) + model.dec_pos(0, length)
  for layer in model.decoder:
    x, _ = layer(x, causal, encoded, cross, True, None)
  return x


def test_sinusoidal_positions_slice_like_learned_ones():
  """Both kinds go through the same slicing, so the incremental test covers both."""
  pos = Positional(LT, 6, "sinusoidal", rngs=nnx.Rngs(0))
  np.testing.assert_allclose(pos(jnp.int32(3), 1), sinusoidal_table(LT, 6)[3:4], atol=1e-7)
  np.testing.assert_allclose(sinusoidal_table(2, 4)[1], [np.sin(1), np.sin(1e-2), np.cos(1),
                                                         np.cos(1e-2)], rtol=1e-6)
  assert "table" not in nnx.state(pos, nnx.Param)  # fixed, not trained


def test_cache_is_a_pytree_with_rows_first(model):
  cache = model.init_cache(ROWS, LT)
  assert len(cache) == 2 and all(isinstance(kv, KVCache) for kv in cache)
  assert all(leaf.shape == (ROWS, LT, 4, D // 4) for leaf in jax.tree.leaves(cache))
  # The beam search's contract: B = 2 encoder outputs tiled to B * W = 4 rows.
  batch = _batch(rows=2)
  tiled = {k: jnp.repeat(v, 2, axis=0) for k, v in batch.items()}
  encoded, _, _, _ = _teacher_forced(*nnx.split(model), tiled)
  logits, new = _decode_step(*nnx.split(model), jnp.full((ROWS,), 2, jnp.int32), cache,
                             jnp.int32(0), encoded, tiled["source_mask"])
  assert logits.shape == (ROWS, V)
  np.testing.assert_allclose(logits[0], logits[1], atol=1e-6)  # two beams of one input
  assert jax.tree.structure(new) == jax.tree.structure(cache)
  assert float(jnp.abs(new[0].key[:, 0]).sum()) > 0
  np.testing.assert_array_equal(new[0].key[:, 1:], 0.0)  # only step 0 written
  with pytest.raises(ValueError, match="max_target_len"):
    model.init_cache(1, LT + 1)


def test_tied_embeddings_and_padding_row(model):
  tables = [p for _, p in nnx.to_flat_state(nnx.state(model, nnx.Param))
            if p[...].shape == (V, D)]
  assert len(tables) == 1  # one table: input and output tied
  assert float(jnp.abs(model.embed.embedding[...][0]).sum()) == 0.0


@functools.partial(jax.jit, static_argnums=0)
def _train_loss(graphdef, state, batch, key):
  model = nnx.merge(graphdef, state)
  return rewriter_loss(model, batch, nnx.Rngs(key), label_smoothing=0.1)


def test_loss_is_finite_and_counts_target_tokens(model):
  batch = _batch()
  _, _, loss_sum, aux = _teacher_forced(*nnx.split(model), batch)
  assert np.isfinite(float(loss_sum)) and int(aux["count"]) == int(batch["target_mask"].sum())
  np.testing.assert_allclose(loss_sum, aux["nll_sum"], rtol=1e-6)
  smoothed, aux = _train_loss(*nnx.split(model), batch, jax.random.key(1))
  assert np.isfinite(float(smoothed)) and float(smoothed) != float(aux["nll_sum"])
  with pytest.raises(ValueError, match="rngs"):
    model.encode(batch["source_ids"], batch["source_mask"], deterministic=False)


def test_overfits_four_pairs_in_50_steps_with_the_trainer_compiling_once():
  """The trainer's data-parallel step (8 simulated devices) drives the loss to ~0.

  Four distinct pairs, each twice, so the batch divides over the devices.
  """
  mesh = parallel.make_data_mesh()
  opt = optax.adam(1e-2)
  small = _config(dropout=0.0, n_decoder_layers=1, positions="sinusoidal")
  graphdef, state = train.init_train_state(Rewriter(small, rngs=nnx.Rngs(0)), opt,
                                           jax.random.key(0), mesh)
  traces = []

  def loss_fn(model, batch, rngs):
    traces.append(1)  # runs once per trace, not per call
    return rewriter_loss(model, batch, rngs)

  step = train.make_train_step(graphdef, loss_fn, opt, mesh)
  pairs = {k: jnp.concatenate([v, v]) for k, v in _batch().items()}
  batch = jax.device_put(pairs, parallel.data_sharding(mesh))
  losses = []
  for _ in range(50):
    state, metrics = step(state, batch)
    losses.append(float(metrics["loss"]))
  assert len(traces) == 1, "a later call of the step retraced"
  assert int(metrics["count"]) == int(pairs["target_mask"].sum())
  assert losses[-1] < 0.05, losses[::10]
  assert int(metrics["exact"]) == 2 * ROWS
