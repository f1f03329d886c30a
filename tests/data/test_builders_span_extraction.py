"""Tests of the span-extraction builder: fixtures, malformed rows, the real Restaurants-8k and DSTC8 counts."""

from __future__ import annotations

import json
import pathlib
import re
import shutil

import pytest

from fsnlu_jax.data import bio, defects as defects_lib
from fsnlu_jax.data.builders import BUILDERS
from fsnlu_jax.data.builders.span_extraction import SUB_DATASETS, SpanExtraction
from fsnlu_jax.data.defects import MalformedRowError
from fsnlu_jax.data.loading import load

# Hand-made files in the real format (tests/fixtures/span_extraction/dstc8/Buses_1).
_FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures"
_BUSES = "span_extraction/dstc8/Buses_1"


def _read(root, config="buses", on_error="raise"):
  """(splits, defect counts, builder) read without a TFDS build (cheap)."""
  builder = SpanExtraction(source_dir=root, config=config, on_error=on_error,
                           data_dir=root / "_unused")
  splits = builder.read_examples()
  return splits, builder.defects.as_dict(), builder


@pytest.fixture
def data_root(tmp_path) -> pathlib.Path:
  """A writable copy of the fixture folder (one folder per dataset under it)."""
  shutil.copytree(_FIXTURES / "span_extraction", tmp_path / "span_extraction")
  return tmp_path


def _record_lines(text: str) -> list[int]:
  """The line each record of a 4-space-indented JSON list starts on."""
  return [i for i, line in enumerate(text.splitlines(), start=1) if line == "    {"]


# ---- the fixture files --------------------------------------------------------------


def test_registered():
  assert BUILDERS["span_extraction"] is SpanExtraction
  assert [c.name for c in SpanExtraction.BUILDER_CONFIGS] == [*SUB_DATASETS, "all"]


def test_fixture_examples(data_root):
  splits, defects, _ = _read(data_root)
  assert {k: len(v) for k, v in splits.items()} == {
      "train": 7, "test": 3, "train_1of2": 4, "train_1of4": 3, "train_1of8": 2,
      "train_1of16": 1, "train_1of32": 1}
  train = splits["train"]
  raw = (data_root / _BUSES / "train_0.json").read_text()
  assert [e.source for e in train] == [f"{_BUSES}/train_0.json:{n}" for n in _record_lines(raw)]
  assert {(e.intent, e.domain) for split in splits.values() for e in split} == {("buses", "buses")}
  by_text = {e.text: e for e in train}
  assert by_text["I need a bus from Fresno to Los Angeles."].slots == (
      "O", "O", "O", "O", "O", "B-from_location", "O", "B-to_location", "I-to_location", "O")
  assert by_text["Yes, that works for me."].slot_types == set()
  # Both indices omitted: the whole text.
  assert by_text["Sacramento"].slots == ("B-to_location",)
  # "Fresno" of the token "fresno's": the whole token is tagged, and counted.
  assert by_text["Leaving from Fresno's main station"].slots == (
      "O", "O", "B-from_location", "O", "O")
  # "Friday" (to_location) inside "next Friday" (leaving_date): the longer is kept.
  assert by_text["Portland to Seattle next Friday"].slots == (
      "B-from_location", "O", "B-to_location", "B-leaving_date", "I-leaving_date")
  # "Anaheim " with its trailing space: trimmed, so no boundary inside a token.
  assert by_text["Going to Anaheim please"].slots == ("O", "O", "B-to_location", "O")
  assert defects == {
      "span_boundary_inside_token": 1, "overlapping_span_dropped": 1,
      "slot_value_whitespace_trimmed": 1,
      # 2 in train, 2 in test, 6 in the subsets (their rows are counted where they are)
      "ignored_field/context.requestedSlots": 10,
  }
  assert {defects_lib.classify(k) for k in defects if k.startswith("ignored_field/")} == {
      "observed"}


def test_fixture_builds_and_loads(data_root, cache_dir):
  splits = load("span_extraction/buses", data_dir=data_root, cache_dir=cache_dir, progress=False)
  read, _, _ = _read(data_root)
  assert splits == read


def test_fsnlu_data_validate(data_root, tmp_path, capsys):
  from fsnlu_jax import cli  # pylint: disable=g-import-not-at-top

  argv = ["-q", "data", "validate", "span_extraction/buses", "--data-dir", str(data_root),
          "--cache-dir", str(tmp_path / "cache")]
  assert cli.main(argv) == 1  # the fixture's overlap, boundary and trimmed span are repairs
  out = capsys.readouterr().out
  assert "repaired overlapping_span_dropped: 1" in out and f"{_BUSES}/train_0.json:" in out
  assert "ignored_field" not in out.split("dropped rows")[1]  # an observation, not a failure
  assert cli.main([*argv, "--allow-repairs"]) == 0


def test_subset_outside_train_is_counted(data_root):
  path = data_root / _BUSES / "train_5.json"
  records = json.loads(path.read_text())
  records[0]["userInput"]["text"] = "A turn that train does not have."
  path.write_text(json.dumps(records, indent=4))
  _, defects, _ = _read(data_root)
  assert defects["subset_not_in_train/train_1of32"] == 1
  assert defects_lib.classify("subset_not_in_train/train_1of32") == "observed"


def test_unknown_fields_and_duplicate_spans_are_counted(data_root):
  path = data_root / _BUSES / "test.json"
  records = json.loads(path.read_text())
  records[0]["userInput"]["lang"] = "en"
  records[0]["labels"].append(dict(records[0]["labels"][0]))
  path.write_text(json.dumps(records, indent=4))
  splits, defects, _ = _read(data_root)
  assert defects["ignored_field/userInput.lang"] == 1
  assert defects["duplicate_span"] == 1
  assert splits["test"][0].slots == ("O",) * 5 + ("B-to_location", "I-to_location", "O")


# ---- malformed rows: the file and line are named; skipped rows are counted ----------


def _span(slot, start, end):
  return {"slot": slot, "valueSpan": {"startIndex": start, "endIndex": end}}


_GOOD = {"userInput": {"text": "To Fresno."}, "labels": [_span("to_location", 3, 9)]}
_CASES = {
    # case -> (the second of test.json's two records, reason)
    "no_text": ({"userInput": {}, "labels": []}, "bad_record"),
    "labels_not_a_list": ({"userInput": {"text": "hi"}, "labels": {"slot": "x"}}, "bad_record"),
    "index_not_an_integer": ({"userInput": {"text": "To Fresno."},
                              "labels": [_span("to_location", "3", 9)]}, "bad_record"),
    "unknown_slot": ({"userInput": {"text": "To Fresno."}, "labels": [_span("city", 3, 9)]},
                     "unknown_slot"),
    "span_past_the_end": ({"userInput": {"text": "To Fresno."},
                           "labels": [_span("to_location", 3, 40)]}, "slot_span_mismatch"),
    "empty_span": ({"userInput": {"text": "To Fresno."},
                    "labels": [_span("to_location", 3, 3)]}, "slot_span_mismatch"),
    "blank_span": ({"userInput": {"text": "To  Fresno."},
                    "labels": [_span("to_location", 2, 4)]}, "slot_span_mismatch"),
    "empty_utterance": ({"userInput": {"text": "  "}}, "empty_utterance"),
}


@pytest.mark.parametrize("case", sorted(_CASES))
def test_malformed_row(case, data_root):
  bad, reason = _CASES[case]
  text = json.dumps([_GOOD, bad], indent=4)
  (data_root / _BUSES / "test.json").write_text(text)
  line = _record_lines(text)[1]
  with pytest.raises(MalformedRowError,
                     match=rf"{_BUSES}/test\.json:{line}: malformed row \({reason}\)"):
    _read(data_root)
  splits, defects, builder = _read(data_root, on_error="skip")
  assert defects[f"malformed/{reason}"] == 1
  assert builder.defects.dropped() == {"rows": 1, "files": []}
  assert [e.slots for e in splits["test"]] == [("O", "B-to_location", "O")]


_FILE_CASES = {
    # case -> (test.json bytes, reason, line)
    "bad_json": (b'[\n    {"userInput": {"text": "to Fresno"}},\n    {"userInput": oops}\n]',
                 "bad_json", 3),
    "not_a_list": (b'{"userInput": {"text": "to Fresno"}}', "bad_record", 1),
    "empty_list": (b"[]\n", "empty_file", 1),
    "no_bytes": (b"", "empty_file", 1),
    "bad_encoding": (b'[\n    {"userInput": {"text": "to Fres\xffno"}}\n]', "bad_encoding", 2),
}


@pytest.mark.parametrize("case", sorted(_FILE_CASES))
def test_malformed_file_is_lost_whole_and_its_split_is_an_error(case, data_root):
  raw, reason, line = _FILE_CASES[case]
  (data_root / _BUSES / "test.json").write_bytes(raw)
  with pytest.raises(MalformedRowError,
                     match=rf"{_BUSES}/test\.json:{line}: malformed row \({reason}\)"):
    _read(data_root)
  splits, defects, builder = _read(data_root, on_error="skip")
  assert defects[f"malformed/{reason}"] == 1 and defects["empty_split/test"] == 1
  assert builder.defects.dropped() == {"rows": 0, "files": [f"{_BUSES}/test.json"]}
  assert "test" not in splits and len(splits["train"]) == 7


def test_a_subset_that_loses_every_row_is_left_out_and_counted(data_root):
  (data_root / _BUSES / "train_5.json").write_text(json.dumps([{"userInput": {"text": " "}}]))
  with pytest.raises(MalformedRowError, match=r"train_5\.json:1: .*empty_utterance"):
    _read(data_root)
  splits, defects, _ = _read(data_root, on_error="skip")
  assert "train_1of32" not in splits and defects["empty_split/train_1of32"] == 1


def test_read_json_list_gives_the_line_each_record_opens_on(tmp_path):
  from fsnlu_jax.data.builders import _readers  # pylint: disable=g-import-not-at-top

  path = tmp_path / "x.json"
  cases = {
      '[{"a": 1}, {"a": 2}]': [(1, {"a": 1}), (1, {"a": 2})],
      '\n[\n\n  {"a":\n 1}\n  ,\n{"b": [2,\n3]}, 4\n]\n': [(4, {"a": 1}), (7, {"b": [2, 3]}),
                                                          (8, 4)],
      " [ ] ": [],
  }
  for text, expected in cases.items():
    path.write_text(text)
    assert _readers.read_json_list(path) == (expected, None), text
  for text, reason, line in (("[1,]", "bad_json", 1), ("[1\n2]", "bad_json", 2),
                             ("[1] 2", "bad_json", 1), ('"a"', "bad_record", 1)):
    path.write_text(text)
    items, problem = _readers.read_json_list(path)
    assert items is None and (problem.reason, problem.line, problem.rows) == (reason, line, None)


def test_drop_overlapping_spans_keeps_the_longest_then_the_first():
  from fsnlu_jax.data.tokenize import tokenize_with_offsets  # pylint: disable=g-import-not-at-top

  tokens = tokenize_with_offsets("in an hour at 7:30 tonight")
  spans = [(0, 10, "date"), (0, 10, "time"), (14, 26, "time"), (19, 26, "date")]
  kept, dropped = bio.drop_overlapping_spans(tokens, spans)
  assert kept == [(0, 10, "date"), (14, 26, "time")]
  assert dropped == [(0, 10, "time"), (19, 26, "date")]
  # Spans in different characters of one token ("5" and "p" of "5pm") also clash.
  tokens = tokenize_with_offsets("at 5pm")
  assert bio.drop_overlapping_spans(tokens, [(3, 4, "time"), (4, 5, "x")]) == (
      [(3, 4, "time")], [(4, 5, "x")])


# ---- the real files (../shared/data/span_extraction) ----------------------------------

# SOURCE.md: config -> (test, train, the train_1of* subsets, labelled train / test, slot types)
_COUNTS = {
    "restaurant8k": (3731, 8198, (4099, 2049, 1024, 512, 256, 128, 64, 32), (5223, 2379),
                     {"date", "first_name", "last_name", "people", "time"}),
    "buses": (377, 1133, (566, 283, 141, 70, 35), (328, 106),
              {"from_location", "leaving_date", "to_location"}),
    "events": (521, 1498, (749, 374, 187, 93, 47), (418, 117),
               {"city_of_event", "date", "event_name", "subcategory"}),
    "homes": (587, 2064, (1032, 516, 258, 129, 65), (525, 148), {"area", "visit_date"}),
    "rental_cars": (328, 874, (437, 218, 109, 54, 27), (279, 110),
                    {"dropoff_date", "pickup_city", "pickup_date", "pickup_time"}),
}


@pytest.fixture(scope="module")
def real(shared_data):
  """config -> (splits, defect counts), read without a TFDS build."""
  if not (shared_data / "span_extraction").is_dir():
    pytest.skip(f"no span_extraction folder in {shared_data}")
  return {config: _read(shared_data, config)[:2] for config in [*SUB_DATASETS, "all"]}


def test_real_counts(real):
  for config, (n_test, n_train, subsets, labelled, slot_types) in _COUNTS.items():
    splits, defects = real[config]
    expected = {"train": n_train, "test": n_test} | {
        f"train_1of{2 ** i}": n for i, n in enumerate(subsets, start=1)}
    assert {k: len(v) for k, v in splits.items()} == expected, config
    assert (sum(1 for e in splits["train"] if e.slot_types),
            sum(1 for e in splits["test"] if e.slot_types)) == labelled, config
    assert set().union(*(e.slot_types for e in splits["train"])) == slot_types, config
    assert not any(k.startswith(("subset_not_in_train/", "malformed/")) for k in defects)
  test_slots = set().union(*(e.slot_types for e in real["events"][0]["test"]))
  assert "event_name" not in test_slots  # SOURCE.md: train only
  # `all` is the five sets' train and test, in config order.
  all_splits, _ = real["all"]
  for split in ("train", "test"):
    assert all_splits[split] == [e for c in SUB_DATASETS for e in real[c][0][split]]


def test_real_defects(real):
  _, defects = real["all"]
  assert {k: v for k, v in defects.items() if not k.startswith(("duplicate", "cross"))} == {
      "ignored_field/context.requestedSlots": 4402, "overlapping_span_dropped": 77,
      "span_boundary_inside_token": 13, "slot_value_whitespace_trimmed": 5,
      "whitespace_normalised": 242, "embedded_newline": 3,
  }


def test_real_sources_and_spans(shared_data, real):
  """Each source names the line its record opens on; kept spans spell the raw values."""
  splits, _ = real["restaurant8k"]
  lines = (shared_data / "span_extraction/restaurant8k/test.json").read_text().splitlines()
  records = json.loads("\n".join(lines))
  assert len(records) == len(splits["test"])
  kept = 0
  for example, record in zip(splits["test"], records):
    path, line = example.source.rsplit(":", 1)
    assert path == "span_extraction/restaurant8k/test.json" and lines[int(line) - 1] == "    {"
    text = record["userInput"]["text"]
    assert example.text == " ".join(text.split())
    values = {re.sub(r"\W", "", text[s["valueSpan"].get("startIndex", 0):
                                     s["valueSpan"].get("endIndex", len(text))].lower())
              for s in record.get("labels", [])}
    for _, first, stop in bio.bio_to_spans(example.slots):
      covered = re.sub(r"\W", "", "".join(example.tokens[first:stop]))
      assert any(v and v in covered for v in values), example.source
      kept += 1
  raw_spans = sum(len(r.get("labels", [])) for r in records)
  assert raw_spans - kept == 18  # the overlapping spans dropped from test
