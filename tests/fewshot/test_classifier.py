"""A classifier from a user's labelled file: reading the file, and the checkpoint a predict loads."""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest
from flax import nnx

from fsnlu_jax import models
from fsnlu_jax.config import load_config
from fsnlu_jax.fewshot import classifier, contrastive

CONFIG = pathlib.Path(__file__).resolve().parents[2] / "configs" / "fewshot_classifier.py"


def test_read_labelled_reads_csv_and_json_lines_and_names_bad_lines(tmp_path):
  csv = tmp_path / "a.csv"
  csv.write_text('text,label,note\nwake me at 7,alarm,x\n"play ""jazz"", loud",music,\n\n')
  assert classifier.read_labelled(csv) == (["wake me at 7", 'play "jazz", loud'],
                                           ["alarm", "music"])
  lines = tmp_path / "a.jsonl"
  lines.write_text('{"text": "hi", "label": "greet"}\n\n{"text": "bye", "label": "leave"}\n')
  assert classifier.read_labelled(lines) == (["hi", "bye"], ["greet", "leave"])
  lines.write_text('{"text": "hi", "label": "greet"}\n{"text": "", "label": "x"}\n')
  with pytest.raises(ValueError, match="a.jsonl:2"):
    classifier.read_labelled(lines)
  lines.write_text('{"text": "hi", "label": "greet"}\n{not json\n')
  with pytest.raises(ValueError, match="a.jsonl:2: not JSON"):
    classifier.read_labelled(lines)
  csv.write_text("utterance,intent\nhi,greet\n")
  with pytest.raises(ValueError, match="a.csv:1: the CSV header"):
    classifier.read_labelled(csv)
  csv.write_text("text,label\n")
  with pytest.raises(ValueError, match="no labelled rows"):
    classifier.read_labelled(csv)


def test_a_saved_classifier_loads_and_predicts_the_same(tmp_path, minilm_dir):
  """The checkpoint format round trip (no training: the contrastive step is the benchmark's)."""
  cfg = models.BertConfig(vocab_size=30522, hidden_size=8, num_hidden_layers=1,
                          num_attention_heads=2, intermediate_size=16, max_position_embeddings=32)
  folder = models.save_bert(models.BertEncoder(cfg, rngs=nnx.Rngs(0)), tmp_path / "bert")
  (folder / "tokenizer.json").symlink_to(minilm_dir / "tokenizer.json")
  encoder = models.SentenceEncoder.from_pretrained(folder)
  texts = ["wake me up at seven", "set an alarm for six", "play some jazz", "hello there"]
  labels = ["alarm", "alarm", "music", "greet"]
  head = contrastive.fit_head(encoder.embed(texts), labels,
                              contrastive.ContrastiveConfig(head_steps=10))
  out = classifier.save_classifier(tmp_path / "clf", encoder, folder, head, dict(examples=4))
  meta = json.loads((out / "classifier.json").read_text())
  assert meta["format"] == classifier.FORMAT and meta["labels"] == ["alarm", "greet", "music"]
  loaded = classifier.load_classifier(out)
  p = loaded.probabilities(texts)
  assert p.shape == (4, 3) and np.allclose(p.sum(-1), 1.0, atol=1e-5)
  np.testing.assert_allclose(p, classifier.Classifier(encoder, head).probabilities(texts),
                             rtol=1e-5, atol=1e-6)
  assert loaded.predict(texts) == [loaded.labels[i] for i in p.argmax(-1)]
  meta["version"] = 99
  (out / "classifier.json").write_text(json.dumps(meta))
  with pytest.raises(ValueError, match="version 1"):
    classifier.load_classifier(out)


def test_config_needs_the_file():
  assert load_config(f"{CONFIG}:tiny:x.csv")["data"]["train_file"] == "x.csv"
  with pytest.raises(ValueError, match="labelled file"):
    load_config(str(CONFIG))


def test_a_public_datasets_own_format_reads_with_its_fields_and_shots(tmp_path):
  """BANKING77's CSV and SLURP's JSON lines, as the config's FORMATS variants read them."""
  bank = tmp_path / "train.csv"
  bank.write_text("text,category\nwhere is my card,card_arrival\ncard not here,card_arrival\n"
                  "rate?,exchange_rate\nstill no card,card_arrival\n")
  config = load_config(f"fewshot_classifier:banking77:{bank}")
  assert config["data"]["label_field"] == "category"
  data = config["data"]
  texts, labels = classifier.read_labelled(bank, text_field=data["text_field"],
                                           label_field=data["label_field"])
  assert classifier.first_per_label(texts, labels, 2) == (
      ["where is my card", "card not here", "rate?"],
      ["card_arrival", "card_arrival", "exchange_rate"])
  slurp = tmp_path / "devel.jsonl"
  slurp.write_bytes(b'{"slurp_id": 1, "sentence": "wake me at six", "intent": "alarm_set"}\n'
                    b'{"slurp_id": 2, "sentence": "caf\xe9", "intent": "x"}\n')
  data = load_config(f"fewshot_classifier:slurp:{slurp}")["data"]
  with pytest.raises(ValueError, match="devel.jsonl:2: not UTF-8"):
    classifier.read_labelled(slurp, text_field=data["text_field"], label_field=data["label_field"])
  slurp.write_text('{"slurp_id": 1, "sentence": "wake me at six", "intent": "alarm_set"}\n'
                   '{"slurp_id": 2, "text": "no sentence", "intent": "x"}\n')
  with pytest.raises(ValueError, match="devel.jsonl:2: needs a non-empty string sentence"):
    classifier.read_labelled(slurp, text_field=data["text_field"], label_field=data["label_field"])
  with pytest.raises(ValueError, match="per_label must be >= 1"):
    classifier.first_per_label(texts, labels, 0)
