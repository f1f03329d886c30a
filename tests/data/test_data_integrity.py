"""Data that cannot silently change or vanish (issue 19, problems 1, 2, 3, 6 and 7).

Each test builds a tiny dataset in temporary files: a stale cache, an empty
or missing split, an unterminated quote, a missing SNIPS label line, bytes
that are not UTF-8, a broken label file, a split-name typo, an offline run
without a data dir, and ``fsnlu data validate`` / ``clear-cache``.
"""

from __future__ import annotations

import json
import pathlib
import socket

import pytest
import tensorflow_datasets as tfds

from fsnlu_jax import cli
from fsnlu_jax.data import loading
from fsnlu_jax.data.defects import MalformedRowError

_CATEGORIES = ["card_arrival", "lost_or_stolen_card"]
_TRAIN = [
    "text,category",
    "I am still waiting on my card?,card_arrival",
    "My card was stolen,lost_or_stolen_card",
    "When will my card arrive?,card_arrival",
]
_TEST = ["text,category", "Where is my card?,card_arrival", "I lost my card,lost_or_stolen_card"]


def _banking(root: pathlib.Path, train: list[str] | bytes = _TRAIN,
             test: list[str] | bytes = _TEST) -> pathlib.Path:
  folder = root / "banking77"
  folder.mkdir(parents=True, exist_ok=True)
  for name, lines in (("train.csv", train), ("test.csv", test)):
    data = lines if isinstance(lines, bytes) else ("\n".join(lines) + "\n").encode()
    (folder / name).write_bytes(data)
  (folder / "categories.json").write_text(json.dumps(_CATEGORIES, indent=1))
  return root


def _read(name: str, root: pathlib.Path, on_error: str = "raise"):
  """Reads and checks the raw files without a TFDS build: ``(splits, builder)``."""
  builder = loading.get_builder(name, data_dir=root, cache_dir=root / "cache", on_error=on_error)
  return builder.read_examples(), builder


# ---- 1. the cache follows the raw files' contents ------------------------------------


def test_cache_rebuilds_after_a_row_is_fixed_and_one_appended(tmp_path):
  cache = tmp_path / "cache"
  root = _banking(tmp_path, _TRAIN[:2] + ["My card was stolen,stolen_card"] + _TRAIN[3:])
  first = loading.prepare("banking77", data_dir=root, cache_dir=cache, on_error="skip")
  assert first.info.splits["train"].num_examples == 2
  assert first.info.metadata["defects"]["malformed/unknown_label"] == 1
  # Fix the row and append one, in the same folder, under the same policy.
  _banking(root, _TRAIN + ["Someone took my card,lost_or_stolen_card"])
  second = loading.prepare("banking77", data_dir=root, cache_dir=cache, on_error="skip")
  assert second.data_dir != first.data_dir
  assert second.info.splits["train"].num_examples == 4
  assert "malformed/unknown_label" not in second.info.metadata["defects"]
  assert loading.read_split(second, "train")[-1].text == "Someone took my card"
  # What it was built from is recorded beside the build.
  manifest = json.loads((pathlib.Path(second.data_dir_root) / "manifest.json").read_text())
  assert set(manifest["files"]) == {"train.csv", "test.csv", "categories.json"}
  # clear-cache removes every build of the dataset, and nothing else.
  (cache / "unrelated").mkdir()
  assert cli.main(["data", "clear-cache", "banking77", "--cache-dir", str(cache)]) == 0
  assert sorted(p.name for p in cache.iterdir()) == ["unrelated"]


# ---- 2. an empty or missing split is never dropped silently ---------------------------


@pytest.mark.parametrize("content, detail", [(b"text,category\n", "a header and no rows"),
                                             (b"", "0 bytes")])
def test_an_empty_csv_is_an_error_under_raise_and_a_named_drop_under_skip(tmp_path, content,
                                                                          detail):
  root = _banking(tmp_path, test=content)
  with pytest.raises(MalformedRowError, match=rf"banking77/test\.csv:1: .*empty_file.*{detail}"):
    _read("banking77", root)
  splits, builder = _read("banking77", root, "skip")
  assert set(splits) == {"train"}
  assert builder.defects.as_dict()["empty_split/test"] == 1
  assert builder.defects.where["malformed/empty_file"] == ["banking77/test.csv:1"]
  assert builder.defects.dropped() == {"rows": 0, "files": ["banking77/test.csv"]}


def test_an_empty_jsonl_split_is_an_error(tmp_path):
  folder = tmp_path / "slurp"
  folder.mkdir()
  (folder / "devel.jsonl").write_text("")
  (folder / "test.jsonl").write_text(json.dumps({
      "sentence": "wake me up", "intent": "alarm_set", "scenario": "alarm",
      "tokens": [{"surface": w, "id": i} for i, w in enumerate("wake me up".split())],
      "entities": []}) + "\n")
  with pytest.raises(MalformedRowError, match=r"slurp/devel\.jsonl:1: .*empty_file"):
    _read("slurp", tmp_path)


def test_a_dropped_split_is_named_when_asked_for(tmp_path):
  root = _banking(tmp_path, test=b"")
  builder = loading.prepare("banking77", data_dir=root, cache_dir=tmp_path / "cache",
                            on_error="skip")
  with pytest.raises(loading.UnknownSplitError, match=r"no split 'test' \(it was dropped"):
    loading.load("banking77", splits=["train", "test"], data_dir=root,
                 cache_dir=tmp_path / "cache", on_error="skip")
  assert builder.info.metadata["dropped"] == {"rows": 0, "files": ["banking77/test.csv"]}


def test_an_unterminated_quote_is_named_and_swallows_no_rows(tmp_path):
  # Line 3 opens a quote it never closes; the csv module would read lines 3-6
  # as one field. A real multi-line field (line 7-8) must still be read as one.
  train = (_TRAIN[:2] + ['"My card was stolen,lost_or_stolen_card'] + _TRAIN[3:]
           + ["Where is my card?,card_arrival", "I lost my card,lost_or_stolen_card",
              '"When will my', 'card arrive?",card_arrival'])
  root = _banking(tmp_path, train)
  with pytest.raises(MalformedRowError, match=r"banking77/train\.csv:3: .*unterminated_quote"):
    _read("banking77", root)
  splits, builder = _read("banking77", root, "skip")
  assert [e.source for e in splits["train"]] == [
      "banking77/train.csv:2", "banking77/train.csv:4", "banking77/train.csv:5",
      "banking77/train.csv:6", "banking77/train.csv:7"]
  assert splits["train"][-1].text == "When will my card arrive?"
  assert builder.defects.as_dict()["malformed/unterminated_quote"] == 1
  assert builder.defects.dropped() == {"rows": 1, "files": []}


_SNIPS_ROWS = [  # seq.in, seq.out, label: slot types tell the intents apart
    ("play some jazz", "O O B-genre", "PlayMusic"),
    ("will it rain in paris", "O O O O B-city", "GetWeather"),
    ("add this to my road trip playlist", "O O O B-playlist_owner B-playlist I-playlist O",
     "AddToPlaylist"),
    ("rate this book five stars", "O B-object_select B-object_type B-rating_value B-rating_unit",
     "RateBook"),
    ("book a table for two", "O O B-restaurant_type O B-party_size_number", "BookRestaurant"),
    ("find the movie schedule", "O O B-movie_type O", "SearchScreeningEvent"),
    ("play the song yesterday", "O O B-music_item B-track", "PlayMusic"),
    ("find the tv show friends", "O O B-object_type I-object_type B-object_name",
     "SearchCreativeWork"),
]


def _snips(root: pathlib.Path, drop_label: int | None = None) -> pathlib.Path:
  for split in ("train", "valid", "test"):
    folder = root / "snips" / "bio_slotgated" / split
    folder.mkdir(parents=True, exist_ok=True)
    for column, name in enumerate(("seq.in", "seq.out", "label")):
      lines = [row[column] for row in _SNIPS_ROWS]
      if split == "train" and name == "label" and drop_label is not None:
        del lines[drop_label - 1]
      (folder / name).write_text("\n".join(lines) + "\n")
  return root


def test_a_missing_snips_label_line_is_located_and_shifts_no_intent(tmp_path):
  root = _snips(tmp_path, drop_label=4)
  with pytest.raises(MalformedRowError,
                     match=r"snips/bio_slotgated/train/label:4: .*line_count_mismatch"):
    _read("snips", root)
  splits, builder = _read("snips", root, "skip")
  train = splits["train"]
  assert [e.source.rpartition(":")[2] for e in train] == ["1", "2", "3", "5", "6", "7", "8"]
  expected = [row[2] for i, row in enumerate(_SNIPS_ROWS) if i != 3]
  assert [e.intent for e in train] == expected
  assert builder.defects.dropped() == {"rows": 1, "files": []}


# ---- 3. bytes that are not UTF-8 are named by file and line, in every builder ---------


def _slurp_line(sentence: str) -> bytes:
  words = sentence.split()
  return json.dumps({"sentence": sentence, "intent": "alarm_set", "scenario": "alarm",
                     "tokens": [{"surface": w, "id": i} for i, w in enumerate(words)],
                     "entities": []}).encode()


def _bad_banking(root: pathlib.Path) -> str:
  lines = [line.encode() for line in _TRAIN]
  lines[2] = b"My card was \xffstolen,lost_or_stolen_card"
  _banking(root, b"\n".join(lines) + b"\n")
  return "banking77/train.csv:3"


def _bad_slurp(root: pathlib.Path) -> str:
  (root / "slurp").mkdir()
  lines = [_slurp_line("wake me up"), _slurp_line("set an alarm").replace(b"alarm", b"al\xffrm", 1),
           _slurp_line("alarm at seven")]
  (root / "slurp" / "devel.jsonl").write_bytes(b"\n".join(lines) + b"\n")
  (root / "slurp" / "test.jsonl").write_bytes(_slurp_line("wake me up now") + b"\n")
  return "slurp/devel.jsonl:2"


@pytest.mark.parametrize("name, write", [("banking77", _bad_banking), ("slurp", _bad_slurp)])
def test_bad_utf8_is_named_by_file_and_line_and_skippable(tmp_path, name, write):
  where = write(tmp_path)
  with pytest.raises(MalformedRowError, match=rf"{where}: .*bad_encoding.*byte 0xff"):
    _read(name, tmp_path)
  splits, builder = _read(name, tmp_path, "skip")
  assert builder.defects.where["malformed/bad_encoding"] == [where]
  assert builder.defects.dropped() == {"rows": 1, "files": []}
  assert sum(map(len, splits.values())) == {"banking77": 4, "slurp": 3}[name]


def test_bad_utf8_in_a_json_document_names_its_line(tmp_path):
  folder = tmp_path / "clinc150"
  folder.mkdir()
  data = {k: [["book a flight", "book_flight"]] for k in ("train", "val", "test")}
  data.update({k: [["sing", "oos"]] for k in ("oos_train", "oos_val", "oos_test")})
  text = json.dumps(data, indent=4).encode().replace(b"sing", b"s\xffng", 1)
  (folder / "data_full.json").write_bytes(text)
  (folder / "domains.json").write_text(json.dumps({"travel": ["book_flight"]}))
  line = text[:text.index(b"\xff")].count(b"\n") + 1
  with pytest.raises(MalformedRowError, match=rf"clinc150/data_full\.json:{line}: .*bad_encoding"):
    _read("clinc150", tmp_path)


# ---- 6 and 7. clear one-line errors for common mistakes --------------------------------


def test_offline_without_a_data_dir_fails_fast_in_one_line(tmp_path, monkeypatch, capsys):
  monkeypatch.delenv("FSNLU_DATA_DIR", raising=False)

  def offline(*args, **kwargs):
    raise socket.gaierror(-2, "Name or service not known")

  def download(*args, **kwargs):
    raise AssertionError("a download was tried: minutes of retries offline")

  monkeypatch.setattr(socket, "create_connection", offline)
  monkeypatch.setattr(tfds.download.DownloadManager, "download", download)
  code = cli.main(["data", "stats", "banking77", "--cache-dir", str(tmp_path / "cache")])
  err = capsys.readouterr().err.strip()
  assert code == 2 and len(err.splitlines()) == 1, err
  assert "--data-dir" in err and "$FSNLU_DATA_DIR" in err and "banking77/" in err
  assert "raw.githubusercontent.com" in err


def test_a_broken_label_file_is_named_with_its_line(tmp_path):
  root = _banking(tmp_path)
  (root / "banking77" / "categories.json").write_text('[\n "card_arrival"\n "lost"\n]\n')
  for policy in ("raise", "skip"):  # the labels of every row depend on it
    with pytest.raises(MalformedRowError, match=r"banking77/categories\.json:3: .*bad_json"):
      _read("banking77", root, policy)


def test_a_split_name_typo_lists_the_splits(tmp_path, capsys):
  root = _banking(tmp_path)
  with pytest.raises(loading.UnknownSplitError, match=r"no split 'tran'; splits: train, test"):
    loading.load("banking77", splits=["tran"], data_dir=root, cache_dir=tmp_path / "cache")
  code = cli.main(["data", "episode", "banking77", "--split", "tran", "--data-dir", str(root),
                   "--cache-dir", str(tmp_path / "cache")])
  err = capsys.readouterr().err
  assert code == 2 and "no split 'tran'; splits: train, test" in err and "'no split" not in err


# ---- 4. fsnlu data validate ---------------------------------------------------------------


def test_validate_exits_nonzero_on_any_drop_or_repair(tmp_path, capsys):
  def validate(root, *flags):
    code = cli.main(["data", "validate", "banking77", "--data-dir", str(root), "--cache-dir",
                     str(tmp_path / "cache"), *flags])
    return code, capsys.readouterr().out

  clean = _banking(tmp_path / "clean")
  assert validate(clean)[0] == 0
  repaired = _banking(tmp_path / "repaired", _TRAIN + ["  My card is lost  ,lost_or_stolen_card"])
  code, out = validate(repaired)
  assert code == 1 and "whitespace_normalised: 1" in out and "banking77/train.csv:5" in out
  assert validate(repaired, "--allow-repairs")[0] == 0
  dropped = _banking(tmp_path / "dropped", _TRAIN + ["My card is lost"])
  code, out = validate(dropped, "--allow-repairs")
  assert code == 1 and "malformed/bad_record: 1" in out and "dropped rows 1" in out
