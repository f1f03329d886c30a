"""The CLINC150 and BANKING77 builders on the real files (counts from SOURCE.md)."""

from __future__ import annotations

import collections
import csv
import json

import pytest


@pytest.fixture(scope="module")
def clinc(real_dataset):
  return real_dataset("clinc150")


@pytest.fixture(scope="module")
def banking(real_dataset):
  return real_dataset("banking77")


# ---- CLINC150 -----------------------------------------------------------------


def test_clinc_sizes_with_oos_kept_apart(clinc):
  _, splits = clinc
  assert {s: len(e) for s, e in splits.items()} == {
      "train": 15000, "validation": 3000, "test": 4500,
      "oos_train": 100, "oos_validation": 100, "oos_test": 1000}
  for split in ("oos_train", "oos_validation", "oos_test"):
    assert {(e.intent, e.domain) for e in splits[split]} == {("oos", "oos")}
  for split in ("train", "validation", "test"):
    assert "oos" not in {e.intent for e in splits[split]}


def test_clinc_150_intents_in_10_domains(clinc, shared_data):
  _, splits = clinc
  with open(shared_data / "clinc150" / "domains.json", encoding="utf-8") as f:
    domains = json.load(f)
  for split in ("train", "validation", "test"):
    intents = collections.Counter(e.intent for e in splits[split])
    assert len(intents) == 150 and len(set(intents.values())) == 1, split
    assert len({e.domain for e in splits[split]}) == 10
  assert all(e.intent in domains[e.domain] for e in splits["train"])
  assert set().union(*(e.slot_types for e in splits["train"])) == set()


def test_clinc_sources_point_into_the_json(clinc, shared_data):
  _, splits = clinc
  with open(shared_data / "clinc150" / "data_full.json", encoding="utf-8") as f:
    data = json.load(f)
  example = splits["validation"][1234]
  assert example.source == "clinc150/data_full.json:val[1234]"
  assert [example.text, example.intent] == data["val"][1234]


def test_clinc_cross_split_duplicates(clinc):
  builder, _ = clinc
  defects = builder.info.metadata["defects"]
  print("clinc150 defects:", defects)
  assert defects["cross_split_duplicate/conflicting_label"] == 4
  assert defects["cross_split_duplicate/same_label"] == 1
  assert builder.info.metadata["defect_examples"]["cross_split_duplicate/same_label"] == [
      "hey what's up"]
  assert "what is on my to do list" in (
      builder.info.metadata["defect_examples"]["cross_split_duplicate/conflicting_label"])
  assert not [kind for kind in defects if kind.startswith(("malformed/", "duplicate_within"))]


# ---- BANKING77 ----------------------------------------------------------------


def test_banking_sizes_and_77_intents(banking):
  _, splits = banking
  assert {s: len(e) for s, e in splits.items()} == {"train": 10003, "test": 3080}
  for split, examples in splits.items():
    assert len({e.intent for e in examples}) == 77, split
    assert {e.domain for e in examples} == {"banking"}
    assert all(set(e.slots) == {"O"} for e in examples)
  assert collections.Counter(e.intent for e in splits["test"]).most_common()[-1][1] == 40


def test_banking_embedded_newlines(banking, shared_data):
  builder, splits = banking
  defects = builder.info.metadata["defects"]
  print("banking77 defects:", defects)
  # SOURCE.md: 10 train rows and 3 test rows hold newlines inside quoted fields.
  assert defects["embedded_newline"] == 13
  # The source line is where the row starts, and the CSV reader agrees on the row.
  where = builder.info.metadata["defect_examples"]["embedded_newline"][0]
  path, line = where.rsplit(":", 1)
  assert path == "banking77/train.csv"
  raw_lines = (shared_data / path).read_text(encoding="utf-8").split("\n")
  assert raw_lines[int(line) - 1].startswith('"')
  [example] = [e for e in splits["train"] if e.source == where]
  rows = list(csv.reader((shared_data / path).open(encoding="utf-8", newline="")))
  assert any("\n" in text and " ".join(text.split()) == example.text for text, _ in rows[1:])
  assert all("\n" not in e.text and e.text == e.text.strip() for e in splits["train"])


def test_banking_test_train_overlap(banking):
  builder, _ = banking
  defects = builder.info.metadata["defects"]
  # SOURCE.md counts 6 case-insensitive matches of the stripped text; the base
  # class also collapses inner whitespace, which finds a 7th ("...the uk.  can
  # i still get a card?" with a double space in one split).
  assert defects["cross_split_duplicate/same_label"] == 7
  assert "cross_split_duplicate/conflicting_label" not in defects
  assert "how do i unblock my pin?" in (
      builder.info.metadata["defect_examples"]["cross_split_duplicate/same_label"])
  assert not [kind for kind in defects if kind.startswith("malformed/")]
