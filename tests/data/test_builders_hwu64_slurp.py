"""Tests of the HWU64 and SLURP builders: real counts, slot spans, defects, malformed rows."""

from __future__ import annotations

import collections
import json
import pathlib
import re

import pytest

from fsnlu_jax.data import bio
from fsnlu_jax.data.builders.hwu64 import crossval_fold
from fsnlu_jax.data.builders.slurp import overlap_key
from fsnlu_jax.data.defects import MalformedRowError
from fsnlu_jax.data.loading import load, prepare, read_split

_FOLD_SIZES = {f"fold_{k}": 1076 for k in range(1, 10)} | {"fold_10": 1352}


def _built(name, **kwargs):
  """(splits, defect counts) of a prepared dataset."""
  builder = prepare(name, **kwargs)
  splits = {split: read_split(builder, split) for split in builder.info.splits.keys()}
  return splits, dict(builder.info.metadata["defects"])


def _compact(text: str) -> str:
  """Text with everything but letters and digits removed, to compare across tokenisations."""
  return re.sub(r"\W", "", text.lower())


# ---- real data ----------------------------------------------------------------


@pytest.fixture(scope="module")
def crossval(shared_data, cache_dir):
  return _built("hwu64/crossval", data_dir=shared_data, cache_dir=cache_dir)


@pytest.fixture(scope="module")
def standard(shared_data, cache_dir):
  return _built("hwu64/standard", data_dir=shared_data, cache_dir=cache_dir)


@pytest.fixture(scope="module")
def slurp(shared_data, cache_dir):
  return _built("slurp", data_dir=shared_data, cache_dir=cache_dir)


def test_crossval_is_the_default_config(shared_data, cache_dir, crossval):
  splits = load("hwu64", data_dir=shared_data, cache_dir=cache_dir)
  assert {k: len(v) for k, v in splits.items()} == _FOLD_SIZES


def test_crossval_counts(crossval):
  splits, _ = crossval
  assert {k: len(v) for k, v in splits.items()} == _FOLD_SIZES
  examples = [e for fold in splits.values() for e in fold]
  assert len(examples) == 11036
  assert len({e.intent for e in examples}) == 64
  assert len({e.domain for e in examples}) == 18
  assert len(set().union(*(e.slot_types for e in examples))) == 54
  assert sum(1 for e in examples if e.slot_types) == 6381
  assert sum(len(bio.bio_to_spans(e.slots)) for e in examples) == 9133
  assert all(e.domain == e.intent.split("_")[0] for e in examples)
  for fold in splits.values():  # every fold holds every intent (SOURCE.md)
    assert len({e.intent for e in fold}) == 64


def test_crossval_slot_spans_round_trip(shared_data, crossval):
  """Tags read back as spans cover tokens spelling each raw entity's value.

  The only spans whose tokens spell more than the value are those with a
  boundary inside a token, and there are exactly as many as were counted.
  """
  splits, defects = crossval
  longer = 0
  for k in range(1, 11):
    raw_path = shared_data / "hwu64" / "crossval" / f"KFold_{k}_testset.json"
    raw = json.loads(raw_path.read_text(encoding="utf-8"))["rasa_nlu_data"]["common_examples"]
    examples = splits[f"fold_{k}"]
    assert len(examples) == len(raw)
    for index, (example, record) in enumerate(zip(examples, raw)):
      assert example.source == (f"hwu64/crossval/KFold_{k}_testset.json:"
                                f"rasa_nlu_data.common_examples[{index}]")
      assert example.text == " ".join(record["text"].split())
      entities = sorted(record["entities"], key=lambda e: e["start"])
      spans = bio.bio_to_spans(example.slots)
      assert [s[0] for s in spans] == [e["entity"] for e in entities], example.source
      for (_, first, stop), entity in zip(spans, entities):
        covered = _compact("".join(example.tokens[first:stop]))
        value = _compact(entity["value"])
        assert value in covered, (example.source, entity)
        longer += covered != value
  assert longer == defects["span_boundary_inside_token"] == 219


def test_crossval_defects(crossval):
  _, defects = crossval
  # The folds are disjoint as written; three utterances differ only in case.
  assert defects == {"span_boundary_inside_token": 219, "cross_split_duplicate/same_label": 3}


def test_crossval_fold(crossval):
  splits, _ = crossval
  train, test = crossval_fold(splits, 10)
  assert (len(train), len(test)) == (9684, 1352)
  assert test == splits["fold_10"]
  assert not {e.source for e in train} & {e.source for e in test}
  train, test = crossval_fold(splits, 1)
  assert (len(train), len(test)) == (9960, 1076)
  assert train[0] == splits["fold_2"][0]
  with pytest.raises(ValueError, match="1..10"):
    crossval_fold(splits, 0)
  with pytest.raises(KeyError, match="fold_3"):
    crossval_fold({k: v for k, v in splits.items() if k != "fold_3"}, 1)


def test_standard_counts_and_duplicates(standard):
  splits, defects = standard
  assert {k: len(v) for k, v in splits.items()} == {"train": 8954, "validation": 1076, "test": 1076}
  for examples in splits.values():
    assert len({e.intent for e in examples}) == 64
    assert all(set(e.slots) == {"O"} for e in examples)
    assert all(e.domain == e.intent.split("_")[0] for e in examples)
  assert splits["validation"][0].source == "hwu64/standard_split/valid/seq.in:1"
  # Repeated lines are kept (the split sizes above include them) and counted.
  assert defects == {"duplicate_within_split/train": 3, "duplicate_within_split/validation": 70}
  repeats = collections.Counter(e.text for e in splits["validation"])
  assert sum(c - 1 for c in repeats.values()) == 70


def test_slurp_counts(slurp):
  splits, _ = slurp
  assert {k: len(v) for k, v in splits.items()} == {"devel": 2033, "test": 2974}
  for examples, n_intents in ((splits["devel"], 71), (splits["test"], 77)):
    assert len({e.intent for e in examples}) == n_intents
    assert len({e.domain for e in examples}) == 18
    assert len(set().union(*(e.slot_types for e in examples))) == 53
  assert sum(len(bio.bio_to_spans(e.slots)) for e in splits["devel"]) == 2022
  assert sum(len(bio.bio_to_spans(e.slots)) for e in splits["test"]) == 2823
  union = splits["devel"] + splits["test"]
  assert len({e.intent for e in union}) == 81
  assert len(set().union(*(e.slot_types for e in union))) == 55


def test_slurp_slot_spans_round_trip(shared_data, slurp):
  """Spans read back from the tags spell the bracketed words of the annotation."""
  splits, _ = slurp
  for split in ("devel", "test"):
    lines = (shared_data / "slurp" / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(splits[split])
    for line, (example, raw) in enumerate(zip(splits[split], lines), start=1):
      record = json.loads(raw)
      assert example.source == f"slurp/{split}.jsonl:{line}"
      assert example.tokens == tuple(t["surface"].lower() for t in record["tokens"])
      annotated = re.findall(r"\[(\w+) : ([^\]]*)\]", record["sentence_annotation"])
      spans = bio.bio_to_spans(example.slots)
      assert [(t, _compact(w)) for t, w in annotated] == [
          (t, _compact("".join(example.tokens[a:b]))) for t, a, b in spans], example.source


def test_slurp_defects(slurp):
  _, defects = slurp
  assert defects == {
      "duplicate_within_split/devel": 1, "duplicate_within_split/test": 1,
      "hwu64_overlap/devel": 905, "hwu64_overlap/test": 1274,
  }


def test_overlap_key():
  assert overlap_key("  What's the TIME, in L.A.? ") == "what s the time in l a"
  assert overlap_key("what's the time in l.a.") == overlap_key("What S the time in L A")
  assert overlap_key("wake me up") != overlap_key("wake me up now")


# ---- malformed input, in temporary folders ----------------------------------------


def _rasa(*records) -> str:
  return json.dumps({"rasa_nlu_data": {"common_examples": list(records)}}, indent=2)


def _good_rasa(k: int) -> dict:
  text = f"wake me up at {k} am"
  start = text.index(str(k))
  return {"text": text, "intent": "alarm_set",
          "entities": [{"start": start, "end": start + len(str(k)), "value": str(k),
                        "entity": "time"}]}


def _write_crossval(root: pathlib.Path, fold_1: str) -> pathlib.Path:
  folder = root / "hwu64" / "crossval"
  folder.mkdir(parents=True)
  (folder / "KFold_1_testset.json").write_text(fold_1, encoding="utf-8")
  for k in range(2, 11):
    (folder / f"KFold_{k}_testset.json").write_text(_rasa(_good_rasa(k)), encoding="utf-8")
  return root


_HWU64_CASES = {
    # case -> (fold 1 file, reason, location in the error, good records left in fold 1)
    "bad_json": ('{\n  "rasa_nlu_data": {\n    "common_examples": [\n      {"text": oops}\n',
                 "bad_json", ":4", 0),
    "span_mismatch": (_rasa(_good_rasa(1), {
        "text": "play jazz please", "intent": "play_music",
        "entities": [{"start": 5, "end": 9, "value": "rock", "entity": "music_genre"}]}),
                      "slot_span_mismatch", ":rasa_nlu_data.common_examples[1]", 1),
    "empty_utterance": (_rasa(_good_rasa(1), {"text": "  ", "intent": "alarm_set",
                                              "entities": []}),
                        "empty_utterance", ":rasa_nlu_data.common_examples[1]", 1),
}


@pytest.mark.parametrize("case", sorted(_HWU64_CASES))
def test_hwu64_malformed(case, tmp_path, cache_dir):
  fold_1, reason, line, left = _HWU64_CASES[case]
  root = _write_crossval(tmp_path, fold_1)
  with pytest.raises(MalformedRowError, match=rf"hwu64/crossval/KFold_1_testset\.json"
                     rf"{re.escape(line)}: malformed row \({reason}\)"):
    prepare("hwu64/crossval", data_dir=root, cache_dir=cache_dir)
  splits, defects = _built("hwu64/crossval", data_dir=root, cache_dir=cache_dir, on_error="skip")
  assert defects[f"malformed/{reason}"] == 1
  assert sum(len(v) for v in splits.values()) == 9 + left
  if left:  # the good record's entity survived as a BIO span over "1"
    assert splits["fold_1"][0].slots == ("O", "O", "O", "O", "B-time", "O")
  else:  # TFDS cannot write an empty split: it is left out, and counted
    assert "fold_1" not in splits and defects["empty_split/fold_1"] == 1


def test_hwu64_standard_line_count_mismatch(tmp_path, cache_dir):
  for folder in ("train", "valid", "test"):
    path = tmp_path / "hwu64" / "standard_split" / folder
    path.mkdir(parents=True)
    (path / "seq.in").write_text("set an alarm\nwhat time is it\n", encoding="utf-8")
    (path / "label").write_text("alarm_set\ndatetime_query\n", encoding="utf-8")
  train = tmp_path / "hwu64" / "standard_split" / "train"
  (train / "seq.in").write_text("set an alarm\nwhat time is it\nplay jazz\n", encoding="utf-8")
  # Nothing in a line of text tells its label, so the extra line could be any
  # of the three: all are blamed, and none is paired with a neighbour's label.
  with pytest.raises(MalformedRowError,
                     match=r"hwu64/standard_split/train/seq\.in:1-3: .*line_count_mismatch"):
    prepare("hwu64/standard", data_dir=tmp_path, cache_dir=cache_dir)
  builder = prepare("hwu64/standard", data_dir=tmp_path, cache_dir=cache_dir, on_error="skip")
  defects = builder.info.metadata["defects"]
  assert defects["malformed/line_count_mismatch"] == 1 and defects["empty_split/train"] == 1
  assert builder.info.metadata["dropped"] == {"rows": 3, "files": []}
  assert "train" not in builder.info.splits
  assert [e.intent for e in read_split(builder, "validation")] == ["alarm_set", "datetime_query"]


def _slurp_record(sentence: str, entities=(), intent="alarm_set") -> dict:
  words = sentence.split()
  return {"slurp_id": 1, "sentence": sentence, "intent": intent, "scenario": intent.split("_")[0],
          "tokens": [{"surface": w, "id": i} for i, w in enumerate(words)],
          "entities": [{"span": list(span), "type": t} for t, span in entities]}


def _write_slurp(root: pathlib.Path, devel_lines: list[str]) -> pathlib.Path:
  folder = root / "slurp"
  folder.mkdir(parents=True)
  (folder / "devel.jsonl").write_text("\n".join(devel_lines) + "\n", encoding="utf-8")
  test = [json.dumps(_slurp_record("Wake me up at Seven", [("time", [4])]))]
  (folder / "test.jsonl").write_text("\n".join(test) + "\n", encoding="utf-8")
  return root


_GOOD_SLURP = json.dumps(_slurp_record("play some jazz", [("music_genre", [2])], "play_music"))

_SLURP_CASES = {
    # case -> (bad line 2 of devel.jsonl, reason)
    "bad_json": ('{"sentence": "play jazz", "intent": ', "bad_json"),
    "span_out_of_range": (json.dumps(_slurp_record("play jazz", [("music_genre", [2])])),
                          "slot_span_mismatch"),
    "span_not_contiguous": (json.dumps(_slurp_record("play jazz now", [("music_genre", [0, 2])])),
                            "slot_span_mismatch"),
    "empty_utterance": (json.dumps(_slurp_record("")), "empty_utterance"),
}


@pytest.mark.parametrize("case", sorted(_SLURP_CASES))
def test_slurp_malformed(case, tmp_path, cache_dir):
  bad, reason = _SLURP_CASES[case]
  root = _write_slurp(tmp_path, [_GOOD_SLURP, bad])
  with pytest.raises(MalformedRowError, match=rf"slurp/devel\.jsonl:2: malformed row \({reason}\)"):
    prepare("slurp", data_dir=root, cache_dir=cache_dir)
  splits, defects = _built("slurp", data_dir=root, cache_dir=cache_dir, on_error="skip")
  assert defects[f"malformed/{reason}"] == 1
  assert [e.text for e in splits["devel"]] == ["play some jazz"]
  assert splits["devel"][0].slots == ("O", "O", "B-music_genre")
  # No hwu64 folder beside slurp: the overlap is reported as not checked.
  assert defects["hwu64_overlap/unchecked"] == 2
  assert not any(k.startswith("hwu64_overlap/devel") for k in defects)


def test_slurp_overlap_with_sibling_hwu64(tmp_path, cache_dir):
  _write_crossval(tmp_path, _rasa({"text": "wake me up at seven.", "intent": "alarm_set",
                                   "entities": []}))
  root = _write_slurp(tmp_path, [_GOOD_SLURP])
  splits, defects = _built("slurp", data_dir=root, cache_dir=cache_dir)
  assert splits["test"][0].tokens == ("wake", "me", "up", "at", "seven")
  assert splits["test"][0].slots == ("O", "O", "O", "O", "B-time")
  assert defects == {"hwu64_overlap/test": 1}
