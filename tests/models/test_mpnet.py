"""The Flax MPNet encoder against a small random MPNet run by Hugging Face's code.

tests/fixtures/make_mpnet_reference.py made the model folder (tiny_mpnet/) and
the outputs of ``transformers``' ``MPNetModel`` and sentence-transformers
(mpnet_reference.npz).
"""

import json
import logging
import pathlib
import re
import shutil

import jax.numpy as jnp
import numpy as np
import pytest

from fsnlu_jax.models import (MPNetEncoder, SentenceEncoder, load_encoder, mean_pool,
                              relative_position_bucket, save_encoder)

FIXTURES = pathlib.Path(__file__).parents[1] / "fixtures"
FOLDER = FIXTURES / "tiny_mpnet"


@pytest.fixture(scope="module")
def ref():
  return dict(np.load(FIXTURES / "mpnet_reference.npz"))


@pytest.fixture(scope="module")
def mpnet() -> SentenceEncoder:
  return SentenceEncoder.from_pretrained(FOLDER)


def test_reproduces_transformers_and_sentence_transformers(mpnet, ref):
  sentences = [str(s) for s in ref["sentences"]]
  pieces = mpnet.tokenizer.encode(sentences)
  for (ids, _), want, real in zip(pieces, ref["token_ids"], ref["mask"]):
    assert ids == want[real].tolist()  # <s> ... </s>, lower-cased, [UNK]s, cut at 150
  assert mpnet.tokenizer.pad_id == 1 and mpnet.tokenizer.max_length == 150
  assert mpnet.tokenizer.stats.truncated == 1 and mpnet.tokenizer.stats.empty == 1
  assert mpnet.tokenizer.stats.unknown_pieces > 0
  ours = mpnet.embed_pieces(pieces, batch_size=6)  # buckets 32 and 150, filler rows
  np.testing.assert_allclose(ours, ref["vectors"], atol=1e-4, rtol=0)
  compiled = mpnet._jitted._cache_size()
  again = mpnet.embed(sentences[:6][::-1], batch_size=6)[::-1]
  np.testing.assert_allclose(again, ours[:6], atol=1e-6)
  assert mpnet._jitted._cache_size() == compiled  # same bucket: no new compile


def test_token_states_jit_equals_eager_and_padding_invariance(mpnet, ref):
  ids, mask = ref["token_ids"][:6], ref["mask"][:6]  # the short rows, padded to 150
  assert mask[:, 32:].sum() == 0
  states = mpnet.model(jnp.asarray(ids[:, :32]), jnp.asarray(mask[:, :32]))  # eager
  real = mask[:, :32]
  np.testing.assert_allclose(np.asarray(states)[real], ref["states"][:6, :32][real],
                             atol=1e-4, rtol=0)
  eager = mean_pool(states, jnp.asarray(real))
  short = mpnet._encode(ids[:, :32], mask[:, :32])  # jitted, as SentenceEncoder runs it
  np.testing.assert_allclose(short, eager, atol=1e-6)
  np.testing.assert_allclose(mpnet._encode(ids, mask), short, atol=1e-5)  # 118 more pads


def test_relative_position_buckets_match_transformers(ref):
  np.testing.assert_array_equal(relative_position_bucket(jnp.asarray(ref["relative"])),
                                ref["buckets"])


def _copy(tmp_path: pathlib.Path) -> pathlib.Path:
  folder = tmp_path / "m"
  shutil.copytree(FOLDER, folder)
  return folder


def test_clear_errors_for_tensors_files_and_configs(tmp_path, caplog):
  folder = _copy(tmp_path)
  config = json.loads((folder / "config.json").read_text())
  (folder / "config.json").write_text(json.dumps(dict(config, num_hidden_layers=3)))
  with pytest.raises(ValueError, match="missing tensor encoder.layer.2.attention.attn.q.weight"):
    load_encoder(folder)
  (folder / "config.json").write_text(json.dumps(dict(config, intermediate_size=48)))
  with pytest.raises(ValueError, match=r"encoder.layer.0.intermediate.dense.weight has shape "
                                       r"\(64, 32\), config.json implies \(48, 32\)"):
    load_encoder(folder)
  (folder / "config.json").write_text(json.dumps(dict(config, relative_attention_num_buckets=16)))
  with pytest.raises(ValueError, match="buckets relative positions into 32"):
    load_encoder(folder)
  (folder / "config.json").write_text(json.dumps(config))
  weights = (folder / "model.safetensors").read_bytes()
  (folder / "model.safetensors").write_bytes(weights[:len(weights) // 2])
  unreadable = re.escape(f"{folder / 'model.safetensors'}: cannot read")
  with pytest.raises(ValueError, match=unreadable):
    load_encoder(folder)
  extra = _with_extra_tensor(FOLDER / "model.safetensors", "mpnet.encoder.extra.weight")
  (folder / "model.safetensors").write_bytes(extra)
  with caplog.at_level(logging.WARNING):
    load_encoder(folder)  # the task model's "mpnet." prefix is stripped
  assert "1 checkpoint tensors not used: encoder.extra.weight" in caplog.text


def _with_extra_tensor(path: pathlib.Path, name: str) -> bytes:
  from safetensors.numpy import load_file, save  # pylint: disable=import-outside-toplevel
  tensors = {f"mpnet.{k}": v for k, v in load_file(str(path)).items()}
  return save(dict(tensors, **{name: np.zeros(3, np.float32)}))


def test_save_writes_hugging_face_names_and_round_trips(mpnet, tmp_path):
  from safetensors.numpy import load_file  # pylint: disable=import-outside-toplevel
  folder = save_encoder(mpnet.model, tmp_path / "saved")
  assert json.loads((folder / "config.json").read_text())["model_type"] == "mpnet"
  saved = load_file(str(folder / "model.safetensors"))
  original = load_file(str(FOLDER / "model.safetensors"))
  assert sorted(saved) == sorted(k for k in original if not k.startswith("pooler."))
  for name, value in saved.items():
    np.testing.assert_array_equal(value, original[name], err_msg=name)
  back = load_encoder(folder, normalize=True)
  assert isinstance(back, MPNetEncoder) and back.config == mpnet.model.config
  assert back.config.max_length == 158  # 160 positions less 0 (unused) and 1 (padding)
