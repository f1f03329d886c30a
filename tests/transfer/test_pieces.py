"""Word pieces as the bi-LSTM's tokens: the alignment, word-level scoring, and the jobs end to end."""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest

from fsnlu_jax import cli
from fsnlu_jax import transfer
from fsnlu_jax.data import LabelVocab, loading
from fsnlu_jax.data.arrays import EncodedSplit
from fsnlu_jax.data.subword import SubwordTokenizer
from fsnlu_jax.transfer import model as model_lib

_CONFIGS = pathlib.Path(__file__).resolve().parents[2] / "configs"


@pytest.fixture(scope="module")
def hwu64_pieces(shared_data, minilm_dir, cache_dir):
  examples = loading.load("hwu64", splits=["fold_10"], data_dir=shared_data, cache_dir=cache_dir,
                          progress=False)["fold_10"][:400]
  return examples, transfer.to_pieces(examples, SubwordTokenizer(minilm_dir / "tokenizer.json"))


def test_every_word_starts_a_piece_with_its_tag_and_its_span_goes_on(hwu64_pieces):
  words, out = hwu64_pieces
  assert out.words == words and out.empty_words == 0
  split = 0
  for w, p, first in zip(words, out.examples, out.first):
    assert len(first) == len(w.tokens) and first[0] == 0 and (np.diff(first) >= 1).all()
    assert [p.slots[i] for i in first] == list(w.slots)
    ends = [*first[1:], len(p.tokens)]
    for word, tag, a, b in zip(w.tokens, w.slots, first, ends):
      # The pieces spell the word (the tokenizer lower-cases and keeps punctuation as pieces).
      assert "".join(t.removeprefix("##") for t in p.tokens[a:b]) == word.lower()
      assert all(t == ("O" if tag == "O" else "I-" + tag[2:]) for t in p.slots[a + 1:b])
      split += b - a > 1
    assert transfer.word_tags(p.slots, first, len(p.tokens)) == list(w.slots)
  assert split > 100  # real data: many words are split


def _encoded(pieces: transfer.PieceExamples, tags: LabelVocab, intents: LabelVocab):
  n = max(len(e.tokens) for e in pieces.examples)
  slots = np.zeros((len(pieces.examples), n), np.int32)
  for r, e in enumerate(pieces.examples):
    slots[r, :len(e.tokens)] = [tags.encode(t) for t in e.slots]
  lengths = np.array([len(e.tokens) for e in pieces.examples])
  intent = np.array([intents.encode(e.intent) for e in pieces.examples])
  return slots, lengths, intent


def test_scores_are_read_on_words_from_first_pieces(hwu64_pieces):
  words, out = hwu64_pieces
  intents, tags = transfer.label_vocabs(out.examples)
  gold, lengths, intent = _encoded(out, tags, intents)
  mask = np.arange(gold.shape[1])[None] < lengths[:, None]
  data = EncodedSplit(token_ids=np.zeros_like(gold), mask=mask, lengths=lengths, intent=intent,
                      slots=gold, index=np.arange(len(gold)), stats=None)
  perfect = model_lib._evaluate_on_words(intent, gold, data, out, intents, tags)
  assert perfect == dict(intent_acc=1.0, slot_f1=1.0, semer=0.0)
  # Continuation pieces predicted "O": every word still starts with its tag: still perfect.
  sloppy = np.where(np.isin(gold, [tags.encode(t) for t in tags.labels if t.startswith("I-")]),
                    tags.encode("O"), gold)
  for r, first in enumerate(out.first):
    sloppy[r, first] = gold[r, first]
  assert model_lib._evaluate_on_words(intent, sloppy, data, out, intents, tags) == perfect
  # A wrong first piece is a word-level error.
  wrong = gold.copy()
  r = next(r for r, w in enumerate(words) if "B-" in "".join(w.slots))
  i = out.first[r][[t.startswith("B-") for t in words[r].slots].index(True)]
  wrong[r, i] = tags.encode("O")
  assert model_lib._evaluate_on_words(intent, wrong, data, out, intents, tags)["semer"] > 0


def test_pretrain_and_finetune_on_pieces_and_refuse_mixing_units(tiny_pretrain, minilm_dir,
                                                                 cache_dir, tmp_path):
  units = ["--set", "data.units=pieces", "--set", f"data.tokenizer={minilm_dir}"]
  pre = tmp_path / "pre"
  assert cli.main(["pretrain", "--config", f"{_CONFIGS / 'multitask_pretrain.py'}:tiny",
                   *units, "--workdir", str(pre), "--cache-dir", str(cache_dir)]) == 0
  vocab = json.loads((pre / "vocab.json").read_text())
  assert any(t.startswith("##") for t in vocab)  # its tokens are pieces
  first = [json.loads(line) for line in (pre / "metrics.jsonl").read_text().splitlines()
           if "semer" in line][-1]
  assert 0.0 <= first["semer"] <= 1.0
  finetune = ["finetune", "--config", f"{_CONFIGS / 'multitask_finetune.py'}:tiny",
              "--cache-dir", str(cache_dir), "--pretrained"]
  assert cli.main([*finetune, str(pre), *units, "--workdir", str(tmp_path / "ft")]) == 0
  with pytest.raises(ValueError, match="reads pieces"):
    transfer.run_finetune(json.loads((tmp_path / "ft" / "config.json").read_text()) | dict(
        data=dict(json.loads((tmp_path / "ft" / "config.json").read_text())["data"],
                  units="words")), tmp_path / "ft_words", pre, cache_dir=cache_dir)
  with pytest.raises(ValueError, match="reads words"):
    transfer.load_model(tiny_pretrain, units="pieces")
  with pytest.raises(ValueError, match="reads pieces"):
    transfer.load_model(pre)  # a caller that feeds words (serving, few-shot, selection)
