"""The Flax BERT encoder against the original sentence-transformers model."""

import json
import pathlib
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from fsnlu_jax.models import BertConfig, BertEncoder, SentenceEncoder, load_bert, save_bert

FIXTURE = pathlib.Path(__file__).parents[1] / "fixtures" / "minilm_reference.npz"


@pytest.fixture(scope="module")
def minilm(minilm_dir) -> SentenceEncoder:
  return SentenceEncoder.from_pretrained(minilm_dir)


def test_reproduces_sentence_transformers_embeddings(minilm):
  ref = np.load(FIXTURE)
  sentences = [str(s) for s in ref["sentences"]]
  ours = minilm.embed(sentences, batch_size=3)  # several buckets and filler rows
  np.testing.assert_allclose(ours, ref["vectors"], atol=1e-4, rtol=0)
  assert minilm.tokenizer.stats.truncated == 1  # the 300-word sentence
  assert minilm.tokenizer.stats.empty == 1


def test_embed_is_order_and_batch_independent_and_compiles_once_per_bucket(minilm):
  texts = ["set a timer", "what is on my calendar for the rest of the week", "hi"] * 3
  a = minilm.embed(texts, batch_size=4)
  traces_before = minilm._jitted._cache_size()
  b = minilm.embed(texts[::-1], batch_size=4)[::-1]
  np.testing.assert_allclose(a, b, atol=1e-6)
  assert minilm._jitted._cache_size() == traces_before  # same buckets: no new compile


def _tiny_encoder() -> BertEncoder:
  cfg = BertConfig(vocab_size=40, hidden_size=8, num_hidden_layers=2, num_attention_heads=2,
                   intermediate_size=16, max_position_embeddings=16, hidden_dropout_prob=0.0,
                   attention_probs_dropout_prob=0.0)
  return BertEncoder(cfg, rngs=nnx.Rngs(0))


def test_padding_does_not_change_sentence_vectors_and_jit_equals_eager():
  enc = _tiny_encoder()
  ids = jnp.array([[2, 7, 9, 3]])
  mask = jnp.ones((1, 4), bool)
  padded_ids = jnp.array([[2, 7, 9, 3, 0, 0, 0]])
  padded_mask = jnp.array([[1, 1, 1, 1, 0, 0, 0]], bool)
  np.testing.assert_allclose(enc.encode(ids, mask), enc.encode(padded_ids, padded_mask),
                             atol=1e-6)
  jitted = nnx.jit(lambda m, i, k: m.encode(i, k))
  np.testing.assert_allclose(jitted(enc, padded_ids, padded_mask),
                             enc.encode(padded_ids, padded_mask), atol=1e-6)
  assert np.isfinite(np.asarray(jax.grad(
      lambda x: nnx.merge(*nnx.split(enc)).encode(ids, mask).sum() * x)(1.0)))


def _copy_model(src: pathlib.Path, dst: pathlib.Path) -> pathlib.Path:
  dst.mkdir()
  for name in ("config.json", "tokenizer.json"):
    shutil.copy(src / name, dst / name)
  (dst / "model.safetensors").symlink_to(src / "model.safetensors")
  return dst


def test_clear_errors_for_missing_files_shapes_and_architectures(minilm_dir, tmp_path):
  with pytest.raises(FileNotFoundError, match="no model folder"):
    load_bert(tmp_path / "nowhere")
  folder = _copy_model(minilm_dir, tmp_path / "m")
  (folder / "model.safetensors").unlink()
  with pytest.raises(FileNotFoundError, match="missing model.safetensors"):
    load_bert(folder)
  (folder / "model.safetensors").symlink_to(minilm_dir / "model.safetensors")
  config = json.loads((folder / "config.json").read_text())
  (folder / "config.json").write_text(json.dumps(dict(config, intermediate_size=1000)))
  with pytest.raises(ValueError, match=r"intermediate.dense.weight has shape \(1536, 384\)"):
    load_bert(folder)
  (folder / "config.json").write_text(json.dumps(dict(config, num_hidden_layers=7)))
  with pytest.raises(ValueError, match="missing tensor encoder.layer.6"):
    load_bert(folder)
  (folder / "config.json").write_text(json.dumps(dict(config, model_type="gpt2")))
  with pytest.raises(ValueError, match="unsupported architecture"):
    load_bert(folder)


def test_save_then_load_round_trips(tmp_path):
  enc = _tiny_encoder()
  save_bert(enc, tmp_path / "tiny")
  back = load_bert(tmp_path / "tiny", normalize=True)
  ids, mask = jnp.array([[2, 7, 9, 3]]), jnp.ones((1, 4), bool)
  np.testing.assert_array_equal(back.encode(ids, mask), enc.encode(ids, mask))


def _tiny_folder(tmp_path: pathlib.Path) -> pathlib.Path:
  """A complete tiny model folder: random BERT weights and a word-level tokenizer.json."""
  from tokenizers import Tokenizer, models as tok_models, pre_tokenizers, processors  # pylint: disable=g-import-not-at-top
  words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "play", "some", "jazz", "a", "b", "c"]
  tokenizer = Tokenizer(tok_models.WordLevel({w: i for i, w in enumerate(words)},
                                             unk_token="[UNK]"))
  tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
  tokenizer.post_processor = processors.TemplateProcessing(
      single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
  folder = save_bert(_tiny_encoder(), tmp_path / "tiny")
  tokenizer.save(str(folder / "tokenizer.json"))
  return folder


def test_a_string_is_one_utterance_not_one_vector_per_character(tmp_path):
  # Issue 19: embed("a string") returned one vector per character.
  encoder = SentenceEncoder.from_pretrained(_tiny_folder(tmp_path))
  one = encoder.embed("play some jazz")
  assert one.shape == (8,)
  np.testing.assert_allclose(one, encoder.embed(["play some jazz"])[0], atol=1e-6)
  with pytest.raises(TypeError, match="embed takes utterances as strings, got a int"):
    encoder.embed(["play", 3])


def test_broken_model_files_are_errors_naming_the_file(tmp_path):
  folder = _tiny_folder(tmp_path)
  weights = (folder / "model.safetensors").read_bytes()
  (folder / "model.safetensors").write_bytes(weights[:len(weights) // 2])  # truncated
  with pytest.raises(ValueError, match=rf"{folder / 'model.safetensors'}: cannot read"):
    load_bert(folder)
  (folder / "model.safetensors").write_bytes(weights)
  config = (folder / "config.json").read_text()
  (folder / "config.json").write_text(config[:-10])
  with pytest.raises(ValueError, match=rf"{folder / 'config.json'}: not valid JSON"):
    load_bert(folder)
  (folder / "config.json").write_text(config)
  (folder / "tokenizer.json").write_text('{"version": "1.0", "model":')
  with pytest.raises(ValueError, match=rf"{folder / 'tokenizer.json'}: not a readable"):
    SentenceEncoder.from_pretrained(folder)


def test_a_bilstm_workdir_given_as_a_transformer_folder_is_named(tmp_path):
  # Issue 19: `fsnlu fewshot --config fewshot:tiny+minilm --pretrained <bi-LSTM workdir>`.
  workdir = tmp_path / "pre"
  (workdir / "checkpoints").mkdir(parents=True)
  (workdir / "config.json").write_text(json.dumps({"job": "pretrain"}))
  (workdir / "model_config.json").write_text("{}")
  with pytest.raises(ValueError, match="is a multitask bi-LSTM workdir .* not a BERT-family"):
    SentenceEncoder.from_pretrained(workdir)
