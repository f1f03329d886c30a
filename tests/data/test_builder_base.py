"""The malformed-row policy, defect metadata and source resolution of NLUBuilder.

Every case builds a tiny dataset in temporary files, so these tests need no
real data: one defect per case, checked under both ``on_error`` policies.
"""

from __future__ import annotations

import json
import pathlib

import pytest

from fsnlu_jax.data.builders import resolve_source_dir
from fsnlu_jax.data.defects import MalformedRowError
from fsnlu_jax.data.loading import get_builder, prepare, read_split

_CATEGORIES = ["card_arrival", "lost_or_stolen_card"]
_GOOD_TRAIN = [
    "text,category",
    "I am still waiting on my card?,card_arrival",
    "My card was stolen,lost_or_stolen_card",
    "When will my card arrive?,card_arrival",
]
_GOOD_TEST = [
    "text,category",
    "Where is my card?,card_arrival",
    "I lost my card,lost_or_stolen_card",
]


def _write(path: pathlib.Path, text: str) -> None:
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_text(text, encoding="utf-8")


def _banking(root: pathlib.Path, train_lines: list[str]) -> pathlib.Path:
  folder = root / "banking77"
  _write(folder / "train.csv", "\n".join(train_lines) + "\n")
  _write(folder / "test.csv", "\n".join(_GOOD_TEST) + "\n")
  _write(folder / "categories.json", json.dumps(_CATEGORIES))
  return root


def _clinc(root: pathlib.Path, data_text: str) -> pathlib.Path:
  folder = root / "clinc150"
  _write(folder / "data_full.json", data_text)
  _write(folder / "domains.json", json.dumps({"travel": ["book_flight"], "meta": ["greeting"]}))
  return root


def _clinc_data() -> dict:
  return {
      "train": [["book me a flight", "book_flight"], ["hello there", "greeting"]],
      "val": [["i need a flight to rome", "book_flight"]],
      "test": [["hi", "greeting"]],
      "oos_train": [["what is the meaning of life", "oos"]],
      "oos_val": [["sing a song", "oos"]],
      "oos_test": [["how tall is everest", "oos"]],
  }


_SNIPS_GOOD = {  # seq.in, seq.out, label: two aligned rows per split
    "seq.in": ["play some jazz", "will it rain in paris"],
    "seq.out": ["O O B-genre", "O O O O B-city"],
    "label": ["PlayMusic", "GetWeather"],
}


def _snips(root: pathlib.Path, train: dict[str, list[str]]) -> pathlib.Path:
  for split in ("train", "valid", "test"):
    files = train if split == "train" else _SNIPS_GOOD
    for name, lines in files.items():
      _write(root / "snips" / "bio_slotgated" / split / name, "\n".join(lines) + "\n")
  return root


_INTENTS = ("AddToPlaylist", "BookRestaurant", "GetWeather", "PlayMusic", "RateBook",
            "SearchCreativeWork", "SearchScreeningEvent")


def _snips_raw(root: pathlib.Path, replace: dict[str, str]) -> pathlib.Path:
  """One record per file for the 7 intents x 3 files; ``replace``: name -> text."""
  for intent in _INTENTS:
    for name in (f"train_{intent}_full.json", f"train_{intent}.json", f"validate_{intent}.json"):
      record = {"data": [{"text": "please "}, {"text": intent.lower(), "entity": "thing"}]}
      text = replace.get(name, json.dumps({intent: [record]}))
      _write(root / "snips" / "raw_2017-06-custom-intent-engines" / intent / name, text)
  return root


def _with(lines: list[str], index: int, line: str) -> list[str]:
  """``lines`` with ``lines[index]`` replaced."""
  return lines[:index] + [line] + lines[index + 1:]


# Each case: (dataset name, writer of the tiny data dir, malformed reason,
# file and line the error must name, examples expected to survive "skip").
_CASES = {
    "unknown_label": (
        "banking77",
        lambda root: _banking(root, _with(_GOOD_TRAIN, 2, "My card was stolen,stolen_card")),
        "unknown_label", "banking77/train.csv:3", {"train": 2, "test": 2}),
    "empty_utterance": (
        "banking77",
        lambda root: _banking(root, _with(_GOOD_TRAIN, 3, '"   ",card_arrival')),
        "empty_utterance", "banking77/train.csv:4", {"train": 2, "test": 2}),
    "bad_csv_record": (
        "banking77",
        lambda root: _banking(root, _with(_GOOD_TRAIN, 1, "waiting,on my card,card_arrival")),
        "bad_record", "banking77/train.csv:2", {"train": 2, "test": 2}),
    "bad_json": (
        "snips/raw",
        # A missing comma on line 3 of one of the 21 files: that file is lost.
        lambda root: _snips_raw(root, {"validate_PlayMusic.json": '{\n"PlayMusic": []\n"x": 1\n}'}),
        "bad_json", "snips/raw_2017-06-custom-intent-engines/PlayMusic/validate_PlayMusic.json:3",
        {"train_full": 7, "train_small": 7, "validation": 6}),
    "bad_clinc_record": (
        "clinc150",
        lambda root: _clinc(
            root, json.dumps({**_clinc_data(), "test": [["hi"], ["hi", "greeting"]]})),
        "bad_record", "clinc150/data_full.json:test[0]", {"train": 2, "test": 1}),
    "bad_bio_tag": (
        "snips",
        lambda root: _snips(root, {**_SNIPS_GOOD, "seq.out": ["O O B-genre", "O O O O X-city"]}),
        "invalid_bio_tag", "snips/bio_slotgated/train/seq.out:2", {"train": 1, "test": 2}),
    "token_count_mismatch": (
        "snips",
        lambda root: _snips(root, {**_SNIPS_GOOD, "seq.out": ["O O", "O O O O B-city"]}),
        "slot_token_mismatch", "snips/bio_slotgated/train/seq.out:1", {"train": 1, "test": 2}),
    "line_count_mismatch": (
        "snips",
        lambda root: _snips(
            root, {**_SNIPS_GOOD, "label": ["PlayMusic", "GetWeather", "RateBook"]}),
        "line_count_mismatch", "snips/bio_slotgated/train/label:3", {"train": 2, "test": 2}),
}


@pytest.mark.parametrize("case", sorted(_CASES))
def test_raise_names_file_and_line(case, tmp_path):
  name, write, reason, where, _ = _CASES[case]
  data_dir = write(tmp_path / "data")
  with pytest.raises(MalformedRowError) as caught:
    prepare(name, data_dir=data_dir, cache_dir=tmp_path / "cache", on_error="raise")
  assert caught.value.reason == reason
  assert where in str(caught.value)


@pytest.mark.parametrize("case", sorted(_CASES))
def test_skip_counts_and_builds_the_rest(case, tmp_path):
  name, write, reason, where, sizes = _CASES[case]
  data_dir = write(tmp_path / "data")
  builder = prepare(name, data_dir=data_dir, cache_dir=tmp_path / "cache", on_error="skip")
  defects = builder.info.metadata["defects"]
  assert defects[f"malformed/{reason}"] == 1
  assert builder.info.metadata["defect_examples"][f"malformed/{reason}"] == [where]
  for split, size in sizes.items():
    assert builder.info.splits[split].num_examples == size, split
  assert builder.info.metadata["on_error"] == "skip"


def test_bad_json_in_the_only_file_raises_then_refuses_an_empty_dataset(tmp_path):
  # A missing comma on line 3: nothing of the one CLINC150 document can be trusted.
  data_dir = _clinc(tmp_path / "data", '{\n"train": [["book me a flight", "book_flight"]]\n'
                                       '"val": []\n}\n')
  with pytest.raises(MalformedRowError,
                     match=r"clinc150/data_full\.json:3: malformed row \(bad_json\)"):
    prepare("clinc150", data_dir=data_dir, cache_dir=tmp_path / "cache", on_error="raise")
  # Under "skip" every split is empty: a clear error, not TFDS's "No examples were yielded".
  with pytest.raises(ValueError, match=r"no examples left in any split.*'malformed/bad_json': 1"):
    prepare("clinc150", data_dir=data_dir, cache_dir=tmp_path / "cache", on_error="skip")


def test_a_split_that_loses_every_row_is_left_out_and_counted(tmp_path):
  data = {**_clinc_data(), "oos_val": [["sing a song", "greeting"]]}  # in-scope label in oos
  data_dir = _clinc(tmp_path / "data", json.dumps(data))
  builder = prepare("clinc150", data_dir=data_dir, cache_dir=tmp_path / "cache", on_error="skip")
  assert "oos_validation" not in builder.info.splits
  assert builder.info.splits["oos_test"].num_examples == 1
  defects = builder.info.metadata["defects"]
  assert defects["empty_split/oos_validation"] == 1
  assert defects["malformed/unknown_label"] == 1


def test_skipped_rows_leave_the_others_in_file_order(tmp_path):
  data_dir = _banking(tmp_path / "data", _with(_GOOD_TRAIN, 2, "My card was stolen,stolen_card"))
  builder = prepare("banking77", data_dir=data_dir, cache_dir=tmp_path / "cache",
                    on_error="skip")
  train = read_split(builder, "train")
  assert [e.source for e in train] == ["banking77/train.csv:2", "banking77/train.csv:4"]
  assert [e.intent for e in train] == ["card_arrival", "card_arrival"]


def test_defect_counts_survive_a_reload_without_rebuild(tmp_path, monkeypatch):
  train = _GOOD_TRAIN + ['"  When will my card\narrive?  ",card_arrival',
                         "My card was stolen,lost_or_stolen_card"]
  data_dir = _banking(tmp_path / "data", train)
  first = prepare("banking77", data_dir=data_dir, cache_dir=tmp_path / "cache")
  counts = dict(first.info.metadata["defects"])
  assert counts["embedded_newline"] == 1
  # "when will my card arrive?" and "my card was stolen", each once more.
  assert counts["duplicate_within_split/train"] == 2

  # A rebuild would read the raw files again: make that fail loudly.
  def no_rebuild(self, files):
    raise AssertionError("rebuilt instead of reading the cached dataset")

  monkeypatch.setattr(type(first), "_read_splits", no_rebuild)
  second = prepare("banking77", data_dir=data_dir, cache_dir=tmp_path / "cache")
  assert second.defects.as_dict() == {}  # nothing was counted in this process
  assert dict(second.info.metadata["defects"]) == counts
  assert second.info.metadata["defect_examples"]["embedded_newline"] == ["banking77/train.csv:5"]
  assert read_split(second, "train")[3].text == "When will my card arrive?"


def test_resolve_source_dir_without_the_dataset_folder(tmp_path, monkeypatch):
  (tmp_path / "clinc150").mkdir()
  assert resolve_source_dir(tmp_path, "clinc150") == tmp_path / "clinc150"
  with pytest.raises(FileNotFoundError, match=r"no 'snips' folder under data dir"):
    resolve_source_dir(tmp_path, "snips")
  with pytest.raises(FileNotFoundError, match=str(tmp_path)):
    get_builder("snips", data_dir=tmp_path)
  monkeypatch.delenv("FSNLU_DATA_DIR", raising=False)
  assert resolve_source_dir(None, "snips") is None  # nothing given: download
  monkeypatch.setenv("FSNLU_DATA_DIR", str(tmp_path))
  with pytest.raises(FileNotFoundError, match="snips"):
    resolve_source_dir(None, "snips")


def test_missing_raw_file_is_named(tmp_path):
  data_dir = _banking(tmp_path / "data", _GOOD_TRAIN)
  (data_dir / "banking77" / "test.csv").unlink()
  with pytest.raises(FileNotFoundError, match="test.csv"):
    prepare("banking77", data_dir=data_dir, cache_dir=tmp_path / "cache")


def test_unknown_policy_is_refused(tmp_path):
  data_dir = _banking(tmp_path / "data", _GOOD_TRAIN)
  with pytest.raises(ValueError, match="on_error"):
    get_builder("banking77", data_dir=data_dir, cache_dir=tmp_path / "cache", on_error="ignore")
