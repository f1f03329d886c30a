"""The SNIPS builder: both configs on the real files, and its repairs on tiny files."""

from __future__ import annotations

import json
import pathlib

import pytest

from fsnlu_jax.data import bio
from fsnlu_jax.data.builders import BUILDERS
from fsnlu_jax.data.builders.snips import BIO_FILES, INTENTS, RAW_FILES, Snips
from fsnlu_jax.data.defects import MalformedRowError
from fsnlu_jax.data.loading import prepare, read_split

PIZZA = "\U0001F355"
_RAW = "raw_2017-06-custom-intent-engines"


def _slot_types(examples):
  return set().union(*(e.slot_types for e in examples))


@pytest.fixture(scope="module")
def snips_bio(real_dataset):
  return real_dataset("snips")


@pytest.fixture(scope="module")
def snips_raw(real_dataset):
  return real_dataset("snips/raw")


def test_registered_with_real_public_files():
  assert BUILDERS["snips"] is Snips
  assert len(BIO_FILES) == 9 and len(RAW_FILES) == 21
  assert BIO_FILES["bio_slotgated/valid/seq.out"] == (
      "https://raw.githubusercontent.com/MiuLab/SlotGated-SLU/master/data/snips/valid/seq.out")
  assert RAW_FILES[f"{_RAW}/PlayMusic/train_PlayMusic_full.json"] == (
      "https://raw.githubusercontent.com/sonos/nlu-benchmark/master/"
      "2017-06-custom-intent-engines/PlayMusic/train_PlayMusic_full.json")


# ---- bio, real data ---------------------------------------------------------


def test_bio_is_the_default_config_with_the_published_sizes(snips_bio):
  builder, splits = snips_bio
  assert builder.builder_config.name == "bio"
  assert {s: len(e) for s, e in splits.items()} == {"train": 13084, "validation": 700,
                                                    "test": 700}
  for split, examples in splits.items():
    assert {e.intent for e in examples} == set(INTENTS), split
    assert len(_slot_types(examples)) == 39, split
    assert all(e.domain == e.intent for e in examples)
    assert all(not bio.invalid_bio_tags(e.slots) for e in examples)


def test_bio_keeps_the_upstream_tokens_and_tags(snips_bio, shared_data):
  _, splits = snips_bio
  folder = shared_data / "snips" / "bio_slotgated" / "test"
  line = 123
  tokens = (folder / "seq.in").read_text(encoding="utf-8").split("\n")[line - 1].split()
  tags = (folder / "seq.out").read_text(encoding="utf-8").split("\n")[line - 1].split()
  label = (folder / "label").read_text(encoding="utf-8").split("\n")[line - 1]
  example = splits["test"][line - 1]
  assert example.source == f"snips/bio_slotgated/test/seq.in:{line}"
  assert example.tokens == tuple(tokens) and example.slots == tuple(tags)
  assert example.intent == label and example.text == " ".join(tokens)


def test_bio_defects(snips_bio):
  builder, splits = snips_bio
  defects = builder.info.metadata["defects"]
  print("snips/bio defects:", defects)
  assert defects["replacement_character"] == 1
  assert builder.info.metadata["defect_examples"]["replacement_character"] == [
      "snips/bio_slotgated/train/seq.in:8427"]
  emoji = splits["train"][8426]
  assert "\ufffd" * 6 in emoji.tokens and emoji.intent == "PlayMusic"
  # Kept, never dropped: 225 repeats in train once whitespace is collapsed
  # (SOURCE.md: 189 byte-identical lines), 5 in validation, 1 in test.
  assert defects["duplicate_within_split/train"] == 225
  assert defects["duplicate_within_split/validation"] == 5
  assert defects["duplicate_within_split/test"] == 1
  assert defects["cross_split_duplicate/same_label"] == 40
  assert defects["whitespace_normalised"] == 3769
  assert not [kind for kind in defects if kind.startswith("malformed/")]


# ---- raw, real data ---------------------------------------------------------


def test_raw_sizes_intents_and_slot_types(snips_raw):
  _, splits = snips_raw
  assert {s: len(e) for s, e in splits.items()} == {"train_full": 13784, "train_small": 2100,
                                                    "validation": 700}
  for split, examples in splits.items():
    assert {e.intent for e in examples} == set(INTENTS), split
    assert len(_slot_types(examples)) == 39, split
    assert all(not bio.invalid_bio_tags(e.slots) for e in examples)


def test_raw_slot_types_match_bio(snips_raw, snips_bio):
  assert _slot_types(snips_raw[1]["train_full"]) == _slot_types(snips_bio[1]["train"])


def test_raw_decodes_the_cesu8_emoji(snips_raw):
  builder, splits = snips_raw
  defects = builder.info.metadata["defects"]
  print("snips/raw defects:", defects)
  assert defects["non_utf8_emoji"] == 1
  [pizza] = [e for e in splits["train_full"] if PIZZA in e.text]
  assert pizza.source == f"snips/{_RAW}/PlayMusic/train_PlayMusic_full.json:PlayMusic[461]"
  assert PIZZA in pizza.tokens
  assert pizza.slots[pizza.tokens.index(PIZZA)] == "I-playlist"
  assert not any(c in e.text for e in splits["train_full"] for c in "\ufffd\ud83c\udf55")


def test_raw_repairs_are_counted_not_dropped(snips_raw):
  builder, splits = snips_raw
  defects = builder.info.metadata["defects"]
  assert defects["missing_space_between_slots"] == 6
  assert defects["slot_value_whitespace_trimmed"] == 10
  assert defects["span_boundary_inside_token"] == 86
  assert not [kind for kind in defects if kind.startswith("malformed/")]
  [glued] = [e for e in splits["validation"] if e.source.endswith("GetWeather[29]")]
  assert glued.text == "What kind of weather is forecast around one pm near Vatican?"
  assert bio.bio_to_spans(glued.slots) == [("timeRange", 7, 9), ("spatial_relation", 9, 10),
                                           ("country", 10, 11)]


# ---- raw, tiny files --------------------------------------------------------


def _write_raw(root: pathlib.Path, replace: dict[str, bytes]) -> pathlib.Path:
  """One record per file for the 7 intents x 3 files; ``replace``: name -> bytes."""
  for intent in INTENTS:
    for name in (f"train_{intent}_full.json", f"train_{intent}.json", f"validate_{intent}.json"):
      record = {"data": [{"text": "play "}, {"text": intent.lower(), "entity": "thing"}]}
      path = root / "snips" / _RAW / intent / name
      path.parent.mkdir(parents=True, exist_ok=True)
      path.write_bytes(replace.get(name, json.dumps({intent: [record]}).encode()))
  return root


def _playmusic(*chunks: str) -> bytes:
  data = [{"text": t} if i % 2 == 0 else {"text": t, "entity": "playlist"}
          for i, t in enumerate(chunks)]
  return json.dumps({"PlayMusic": [{"data": data}]}, ensure_ascii=False).encode(
      "utf-8", "surrogatepass")


def test_cesu8_surrogate_pair_becomes_the_real_character(tmp_path):
  # U+1F355 as CESU-8 (ED A0 BC ED BD 95), exactly as in the real file.
  content = _playmusic("play ", "pop punk \ud83c\udf55", " now")
  assert b"\xed\xa0\xbc\xed\xbd\x95" in content
  with pytest.raises(UnicodeDecodeError):
    content.decode("utf-8")
  data_dir = _write_raw(tmp_path / "data", {"train_PlayMusic_full.json": content})
  builder = prepare("snips/raw", data_dir=data_dir, cache_dir=tmp_path / "cache")
  [example] = [e for e in read_split(builder, "train_full") if e.intent == "PlayMusic"]
  assert example.text == f"play pop punk {PIZZA} now"
  assert example.slots == ("O", "B-playlist", "I-playlist", "I-playlist", "O")
  assert builder.info.metadata["defects"]["non_utf8_emoji"] == 1


def test_unpaired_surrogate_is_malformed(tmp_path):
  content = _playmusic("play ", "pop \ud83c", " now")
  data_dir = _write_raw(tmp_path / "data", {"validate_PlayMusic.json": content})
  with pytest.raises(MalformedRowError,
                     match=r"validate_PlayMusic\.json:PlayMusic\[0\].*bad_encoding"):
    prepare("snips/raw", data_dir=data_dir, cache_dir=tmp_path / "cache")


def test_glued_and_padded_slot_values(tmp_path):
  content = json.dumps({"PlayMusic": [{"data": [
      {"text": "play "}, {"text": "jazz", "entity": "genre"}, {"text": ""},
      {"text": "now ", "entity": "time"}, {"text": "on "},
      {"text": " spotify", "entity": "service"},
  ]}]}).encode()
  data_dir = _write_raw(tmp_path / "data", {"train_PlayMusic.json": content})
  builder = prepare("snips/raw", data_dir=data_dir, cache_dir=tmp_path / "cache")
  [example] = [e for e in read_split(builder, "train_small") if e.intent == "PlayMusic"]
  assert example.tokens == ("play", "jazz", "now", "on", "spotify")
  assert example.slots == ("O", "B-genre", "B-time", "O", "B-service")
  defects = builder.info.metadata["defects"]
  assert defects["missing_space_between_slots"] == 1
  assert defects["slot_value_whitespace_trimmed"] == 2
  assert "span_boundary_inside_token" not in defects
