"""Tests for the BERT2BERT encoder-decoder: incremental decoding, masks, warm start, search, loss.

Tiny configs, everything jitted with few distinct shapes (on CPU each eager op
and each new shape costs a compile); one test reads the real MiniLM.
"""

from __future__ import annotations

import dataclasses
import functools
import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from fsnlu_jax import parallel, train
from fsnlu_jax.kernels import beam_search, expand_to_beams
from fsnlu_jax.models import (BertConfig, BertEncoder, BertSeq2Seq, Seq2SeqConfig, load_encoder,
                              seq2seq_loss, seq2seq_tokens_to_logits, warm_start_seq2seq)
from fsnlu_jax.models._architectures import bert2bert_names, bert_names

V, D, LS, LT, ROWS = 50, 16, 9, 7, 4
PAD, BOS, EOS = 0, 2, 3
BERT = BertConfig(vocab_size=V, hidden_size=D, num_hidden_layers=2, num_attention_heads=2,
                  intermediate_size=32, max_position_embeddings=16)


def _config(**kwargs) -> Seq2SeqConfig:
  return Seq2SeqConfig(**{**dict(encoder=BERT, max_target_len=LT, bos_id=BOS, eos_id=EOS,
                                 pad_id=PAD), **kwargs})


def _batch(rows: int = ROWS, seed: int = 0) -> dict[str, jnp.ndarray]:
  """Random pairs, ragged source and target lengths, padded: the loss's batch layout."""
  rng = np.random.default_rng(seed)
  src_mask = np.arange(LS)[None] < rng.integers(2, LS + 1, rows)[:, None]
  tgt_len = rng.integers(1, LT, rows)  # target tokens; + EOS fits in LT
  tgt_len[:2] = LT - 1  # two rows without target padding
  words = rng.integers(5, V, (rows, LT))
  tgt_mask = np.arange(LT)[None] < (tgt_len + 1)[:, None]
  tgt_in = np.where(tgt_mask, np.concatenate([np.full((rows, 1), BOS), words[:, :-1]], 1), PAD)
  tgt_out = np.where(np.arange(LT)[None] < tgt_len[:, None], words, EOS) * tgt_mask
  return dict(src_ids=jnp.asarray(np.where(src_mask, rng.integers(4, V, (rows, LS)), PAD)),
              src_mask=jnp.asarray(src_mask), tgt_in=jnp.asarray(tgt_in, jnp.int32),
              tgt_out=jnp.asarray(tgt_out, jnp.int32), tgt_mask=jnp.asarray(tgt_mask))


def _write_tiny_bert(folder):
  """A BERT checkpoint folder as Hugging Face writes one, random weights from NumPy
  (no JAX initialisation: on CPU each eager op costs a compile)."""
  from safetensors.numpy import save_file  # pylint: disable=g-import-not-at-top
  abstract = nnx.eval_shape(lambda: BertEncoder(BERT, rngs=nnx.Rngs(0)))
  shapes = {p: v.shape for p, v in nnx.to_flat_state(nnx.state(abstract, nnx.Param))}
  rng = np.random.default_rng(5)
  tensors = {"pooler.dense.bias": np.zeros(D, np.float32)}  # ignored, as in real checkpoints
  for path, name, transpose in bert_names(BERT):
    shape = shapes[path][::-1] if transpose else shapes[path]
    tensors[name] = ((path[-1] == "scale") + 0.3 * rng.standard_normal(shape)).astype(np.float32)
  folder.mkdir()
  save_file(tensors, str(folder / "model.safetensors"))
  config = {**dataclasses.asdict(BERT), "model_type": "bert"}
  (folder / "config.json").write_text(json.dumps(config))
  return folder


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
  return _write_tiny_bert(tmp_path_factory.mktemp("seq2seq") / "bert")


@pytest.fixture(scope="module")
def model(folder) -> BertSeq2Seq:
  """Warm-started from the tiny checkpoint, with label smoothing; a non-zero output
  bias, as after training, favouring EOS so that searches finish."""
  m = warm_start_seq2seq(folder, max_target_len=LT, label_smoothing=0.1, bos_id=BOS, eos_id=EOS,
                         pad_id=PAD, rngs=nnx.Rngs(0))
  m.output_bias[...] = jnp.linspace(-1.0, 1.0, V).at[EOS].set(2.5)
  return m


@functools.partial(jax.jit, static_argnums=0)
def _forward(graphdef, state, batch):
  """``(encoded [B, LS, D], logits [B, LT, V], (loss_sum, aux))``, deterministic.

  The logits under the target mask, as the loss computes them: XLA then
  compiles one encoder-decoder, not two.
  """
  m = nnx.merge(graphdef, state)
  return (m.encode(batch["src_ids"], batch["src_mask"]),
          m(batch["src_ids"], batch["src_mask"], batch["tgt_in"], tgt_mask=batch["tgt_mask"]),
          seq2seq_loss(m, batch))


@functools.partial(jax.jit, static_argnums=0)
def _step(graphdef, state, tokens, cache, step):
  return seq2seq_tokens_to_logits(nnx.merge(graphdef, state))(tokens, cache, step)


@pytest.fixture(scope="module")
def forward(model):
  """The batch, with rows changed in ways that must or must not change the logits,
  stacked into one forward pass (one compile): rows ``k * ROWS + i`` for variant k.

  0: the batch; 1: target token 4 changed; 2: other ids under the source
  padding; 3: source token 0 changed.
  """
  base = _batch()
  src, mask = base["src_ids"], base["src_mask"]
  variants = [base, dict(base, tgt_in=base["tgt_in"].at[:, 4].set(7)),
              dict(base, src_ids=jnp.where(mask, src, 11)),
              dict(base, src_ids=src.at[:, 0].set(13))]
  batch = {k: jnp.concatenate([v[k] for v in variants]) for k in base}
  return base, batch, _forward(*nnx.split(model), batch)


def test_incremental_decoding_equals_teacher_forcing(model, forward):
  batch, _, (encoded, logits, _) = forward
  full = logits[:ROWS]
  assert encoded.shape == (4 * ROWS, LS, D) and full.shape == (ROWS, LT, V)
  assert full.dtype == jnp.float32
  graphdef, state = nnx.split(model)
  cache = model.init_cache(encoded[:ROWS], batch["src_mask"], LT)
  assert cache.self_kv[0].key.shape == (ROWS, 2, LT, D // 2)  # heads first
  assert cache.cross_kv[1].value.shape == (ROWS, 2, LS, D // 2)
  compiles = _step._cache_size()  # pylint: disable=protected-access
  steps = []
  for t in range(LT):
    out, cache = _step(graphdef, state, batch["tgt_in"][:, t], cache, jnp.int32(t))
    steps.append(out)
  # Padding only follows real tokens: the causal steps agree wherever the target is real
  # (every position of rows 0 and 1).
  real = np.asarray(batch["tgt_mask"])
  np.testing.assert_allclose(np.asarray(jnp.stack(steps, 1))[real], np.asarray(full)[real],
                             atol=1e-5, rtol=0)
  assert real[:2].all()
  assert _step._cache_size() == compiles + 1  # pylint: disable=protected-access
  assert float(jnp.abs(cache.self_kv[1].key[:, :, -1]).min()) > 0  # every step written
  with pytest.raises(ValueError, match="max_target_len"):
    model.init_cache(encoded, batch["src_mask"], LT + 1)


def test_decoder_is_causal_and_cross_attention_ignores_source_padding(forward):
  _, _, (_, logits, _) = forward
  base, later, padded, other = (logits[k * ROWS:(k + 1) * ROWS] for k in range(4))
  # A later target token changes only its own and later positions' logits (all of them
  # in rows 0 and 1, which have no target padding).
  np.testing.assert_array_equal(later[:, :4], base[:, :4])
  assert float(jnp.abs(later[:2, 4:] - base[:2, 4:]).max(axis=-1).min()) > 0
  np.testing.assert_allclose(padded, base, atol=1e-6, rtol=0)
  assert float(jnp.abs(other - base).max(axis=(1, 2)).min()) > 1e-5  # float noise: ~1e-7


def test_loss_is_token_cross_entropy_with_label_smoothing(forward):
  _, batch, (_, logits, (loss_sum, aux)) = forward
  lp = np.asarray(jax.nn.log_softmax(logits), np.float64)
  real = np.asarray(batch["tgt_mask"])
  nll = -np.take_along_axis(lp, np.asarray(batch["tgt_out"])[..., None], -1)[..., 0]
  np.testing.assert_allclose(aux["nll_sum"], nll[real].sum(), rtol=1e-5)
  np.testing.assert_allclose(loss_sum, (0.9 * nll - 0.1 * lp.mean(-1))[real].sum(), rtol=1e-5)
  assert int(aux["count"]) == real.sum()
  hits = (lp.argmax(-1) == np.asarray(batch["tgt_out"])) | ~real
  assert int(aux["correct"]) == (hits & real).sum()
  assert int(aux["exact"]) == (hits.all(1) & real.any(1)).sum()


def test_one_tied_embedding_table_and_clear_errors(model):
  tables = [p for _, p in nnx.to_flat_state(nnx.state(model, nnx.Param)) if p[...].shape == (V, D)]
  assert len(tables) == 1
  with pytest.raises(ValueError, match="rngs"):
    model.encode(jnp.ones((1, 3), jnp.int32), jnp.ones((1, 3), bool), deterministic=False)
  with pytest.raises(ValueError, match="max_target_len"):
    _config(max_target_len=17)
  with pytest.raises(ValueError, match="bos_id 101"):
    _config(bos_id=101)


def test_beam_search_over_the_cache_scores_its_outputs_as_teacher_forcing(model, forward):
  """Beams reorder the whole cache (self K/V, cross K/V, source mask): the best
  finished sequence of each row, re-scored teacher-forced, has the beam's score."""
  base, beams = _batch(), 3
  graphdef, state = nnx.split(model)

  @jax.jit
  def search(state, src_ids, src_mask):
    m = nnx.merge(graphdef, state)
    cache = m.init_cache(m.encode(src_ids, src_mask), src_mask, LT)
    return beam_search(seq2seq_tokens_to_logits(m), expand_to_beams(cache, beams),
                       batch_size=ROWS, beam_size=beams, max_length=LT, vocab_size=V,
                       bos_id=BOS, eos_id=EOS, alpha=0.0)

  result = search(state, base["src_ids"], base["src_mask"])
  assert result.sequences.shape == (ROWS, beams, LT) and result.finished.shape == (ROWS, beams)
  finished = np.asarray(result.finished[:, 0])
  assert finished.sum() >= 2, result.finished
  best, n = np.asarray(result.sequences[:, 0]), np.asarray(result.lengths[:, 0])
  # Re-scored in a batch of the forward fixture's shape (no new compile).
  tgt_in = np.concatenate([np.full((ROWS, 1), BOS), best[:, :-1]], axis=1)
  _, rows, _ = forward
  again = dict(rows, tgt_in=jnp.asarray(np.tile(tgt_in, (4, 1)), jnp.int32),
               tgt_mask=jnp.ones_like(rows["tgt_mask"]))
  _, logits, _ = _forward(graphdef, state, again)
  lp = np.take_along_axis(np.asarray(jax.nn.log_softmax(logits[:ROWS])), best[..., None], -1)
  for b in np.flatnonzero(finished):
    np.testing.assert_allclose(result.scores[b, 0], lp[b, :n[b], 0].sum(), rtol=1e-4, atol=1e-4)


def _params(module) -> dict:
  return {k: np.asarray(v[...]) for k, v in nnx.to_flat_state(nnx.state(module, nnx.Param))}


def test_warm_start_copies_the_checkpoint_into_encoder_and_decoder(model, folder):
  encoder = load_encoder(folder, normalize=False)
  want, got = _params(encoder), _params(model.encoder)
  assert want.keys() == got.keys()
  for k in want:
    np.testing.assert_array_equal(got[k], want[k], err_msg=str(k))
  for i in range(2):  # decoder layer i is checkpoint layer i, plus cross-attention
    layer, decoder = _params(encoder.layers[i]), _params(model.decoder[i])
    for k, v in layer.items():
      np.testing.assert_array_equal(decoder[k], v, err_msg=str(k))
    assert {k[0] for k in decoder if k not in layer} == {"cross_attention", "cross_attention_norm"}
    assert 0 < np.std(decoder[("cross_attention", "query", "kernel")]) < 0.05
  names = list(bert2bert_names(BERT, 1))
  assert len(names) == len(list(bert_names(BERT))) + 16  # layer 0 twice: 6 dense + 2 norms
  with pytest.raises(ValueError, match="decoder_layers 3 exceeds"):
    warm_start_seq2seq(folder, decoder_layers=3, max_target_len=LT, bos_id=BOS, eos_id=EOS,
                       rngs=nnx.Rngs(1))
  with pytest.raises(ValueError, match="bos_id 101"):  # no tokenizer.json: MiniLM's defaults
    warm_start_seq2seq(folder, max_target_len=LT, rngs=nnx.Rngs(1))


def test_warm_start_encoder_equals_the_minilm_encoder(minilm_dir):
  model = warm_start_seq2seq(minilm_dir, decoder_layers=2, max_target_len=8, rngs=nnx.Rngs(0))
  c = model.config
  assert (c.bos_id, c.eos_id, c.pad_id, len(model.decoder)) == (101, 102, 0, 2)
  encoder = load_encoder(minilm_dir, normalize=False)
  ids = jnp.array([[101, 2377, 2070, 4166, 102, 0], [101, 2054, 1005, 1055, 1996, 102]])
  run = jax.jit(lambda m, ids: m(ids, ids != 0))
  np.testing.assert_array_equal(run(model.encoder, ids), run(encoder, ids))
  np.testing.assert_array_equal(model.decoder[1].intermediate.kernel[...],
                                encoder.layers[1].intermediate.kernel[...])


def test_orbax_checkpoint_restores_equal_logits(model, forward, tmp_path):
  """Through the trainer's state and :func:`fsnlu_jax.train.restore_model`."""
  mesh, opt = parallel.make_data_mesh(1), optax.adam(1e-3)
  graphdef, state = train.init_train_state(model, opt, jax.random.key(0), mesh)
  with train.Checkpointer(tmp_path / "ckpt", every=1, async_save=False) as ckpt:
    ckpt.save(state, {}, force=True)
  template = nnx.eval_shape(lambda: BertSeq2Seq(model.config, rngs=nnx.Rngs(1)))
  restored, saved_at = train.restore_model(tmp_path / "ckpt", template, opt)
  assert saved_at == 0
  _, batch, (_, logits, _) = forward
  compiles = _forward._cache_size()  # pylint: disable=protected-access
  graphdef, state = nnx.split(restored)
  # Re-placed uncommitted like the fixture's arrays: the compiled forward is reused.
  state = jax.tree.map(lambda x: jnp.asarray(np.asarray(x)), state)
  np.testing.assert_array_equal(_forward(graphdef, state, batch)[1], logits)
  assert _forward._cache_size() == compiles  # pylint: disable=protected-access


def test_an_output_shortlist_scores_and_searches_its_pieces_as_the_masked_full_model(model):
  """With ``output_ids`` the logits are the full model's at those pieces, and a search over
  positions (constraint through ``shortlist_constraint``) is the full model's search when
  every other piece is impossible: the same sequences, as pieces, with the same scores."""
  from fsnlu_jax.kernels import Constraint, shortlist_constraint  # pylint: disable=g-import-not-at-top
  ids = (BOS, EOS, 5, 7, 9, 11, 20, 31)
  short = BertSeq2Seq(_config(output_ids=ids, label_smoothing=0.1), rngs=nnx.Rngs(1))
  nnx.update(short, nnx.state(model))
  bias = model.output_bias[...]
  short.output_bias = nnx.Param(bias[jnp.asarray(ids)])
  masked = BertSeq2Seq(model.config, rngs=nnx.Rngs(1))
  nnx.update(masked, nnx.state(model))
  keep = jnp.zeros(V, bool).at[jnp.asarray(ids)].set(True)
  masked.output_bias = nnx.Param(jnp.where(keep, bias, -1e9))
  base = _batch()
  full_logits = masked(base["src_ids"], base["src_mask"], base["tgt_in"])
  np.testing.assert_allclose(short(base["src_ids"], base["src_mask"], base["tgt_in"]),
                             full_logits[..., jnp.asarray(ids)], atol=1e-5)
  assert short.config.output_index()[9] == 4 and short.config.output_index()[6] == -1
  never_9 = Constraint(init=lambda b, w: jnp.zeros((b, w), jnp.int32),
                       allowed=lambda s: jnp.broadcast_to(jnp.arange(V) != 9, s.shape + (V,)),
                       advance=lambda s, t: s + 1)

  def search(m, constraint, vocab_size, bos, eos):
    cache = m.init_cache(m.encode(base["src_ids"], base["src_mask"]), base["src_mask"], LT)
    return beam_search(seq2seq_tokens_to_logits(m), expand_to_beams(cache, 3), batch_size=ROWS,
                       beam_size=3, max_length=LT, vocab_size=vocab_size, bos_id=bos,
                       eos_id=eos, alpha=0.0, constraint=constraint)

  index = short.config.output_index()
  ours = search(short, shortlist_constraint(never_9, jnp.asarray(ids)), len(ids),
                int(index[BOS]), int(index[EOS]))
  theirs = search(masked, never_9, V, BOS, EOS)
  finished = np.asarray(theirs.finished)
  assert finished.any() and (np.asarray(ours.finished) == finished).all()
  pieces = np.asarray(ids)[np.asarray(ours.sequences)]
  real = np.arange(LT)[None, None] < np.asarray(theirs.lengths)[..., None]
  assert (np.where(real, pieces, 0) == np.where(real, np.asarray(theirs.sequences), 0))[
      finished].all()
  assert 9 not in pieces[real & finished[..., None]]
  np.testing.assert_allclose(np.asarray(ours.scores)[finished],
                             np.asarray(theirs.scores)[finished], atol=1e-4)
  with pytest.raises(ValueError, match="bos_id"):
    _config(output_ids=(EOS, 5))
