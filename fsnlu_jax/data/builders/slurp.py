"""SLURP text annotations, devel and test only: 18 scenarios, intents and slots.

Splits ``devel`` (2033) and ``test`` (2974) from the JSON-lines files; there is
no training split (its file is not available, see SOURCE.md). Intent is the
record's ``intent`` (``<scenario>_<action>``), domain its ``scenario``.
Tokens are SLURP's own token ``surface`` forms, lower-cased, rather than the
project tokenizer's, because entity spans are token ids and must stay valid.
Records are located as ``slurp/<split>.jsonl:<line>`` (1-based).

Known defects (SOURCE.md), kept and counted, never dropped:

* ``duplicate_within_split/devel`` and ``duplicate_within_split/test`` (1
  each): counted by the base class.
* ``hwu64_overlap/devel`` (905) and ``hwu64_overlap/test`` (1274): sentences
  also in the HWU64 cross-validation data (same collection), matched after
  lower-casing, replacing every run of non-alphanumerics by one space and
  trimming -- this reproduces SOURCE.md's counts exactly. Checked only when a
  ``hwu64/crossval`` folder lies beside the ``slurp`` folder; otherwise every
  sentence is counted as ``hwu64_overlap/unchecked``. De-duplicate before
  training on one dataset and testing on the other.

Malformed rows (under the ``on_error`` policy): ``bad_json``, ``bad_record``
(a record of the wrong shape), ``slot_span_mismatch`` (an entity span that is
empty, not contiguous, names a token id that does not exist, or overlaps
another), plus the base checks (``empty_utterance``, ``unknown_label``).
``bad_encoding`` (bytes that are not UTF-8: that line only), ``empty_file``.
Blank lines hold no record and are counted as ``blank_line``. An empty split
is an error under ``raise``; under ``skip`` it is left out, counted as
``empty_split/<split>``.
"""

from __future__ import annotations

import json
import pathlib
import re
from typing import Any

from fsnlu_jax.data import bio
from fsnlu_jax.data.builders._base import NLUBuilder, Splits
from fsnlu_jax.data.schema import Example

_URL = "https://raw.githubusercontent.com/pswietojanski/slurp/master/dataset/slurp/"
SPLITS = ("devel", "test")
_HWU64_FOLDER = "hwu64"

_NON_ALNUM = re.compile(r"[^0-9a-z]+")


def overlap_key(text: str) -> str:
  """The case/punctuation-normalised form used to match SLURP with HWU64.

  >>> overlap_key("Wake me up at 5 a.m., please!")
  'wake me up at 5 a m please'
  """
  return " ".join(_NON_ALNUM.sub(" ", text.lower()).split())


class Slurp(NLUBuilder, skip_registration=False):
  """SLURP intents and slots, text only (Bastianelli et al., 2020)."""

  name = "slurp"
  FOLDER = "slurp"
  FILES = {f"{split}.jsonl": f"{_URL}{split}.jsonl" for split in SPLITS}
  HOMEPAGE = "https://github.com/pswietojanski/slurp"
  CITATION = ("Bastianelli et al. 2020. SLURP: A Spoken Language Understanding Resource"
              " Package. EMNLP.")

  def _read_splits(self, files) -> Splits:
    return {split: self._read_jsonl(files[f"{split}.jsonl"]) for split in SPLITS}

  @classmethod
  def extra_sources(cls, source_dir: pathlib.Path) -> list[pathlib.Path]:
    """The sibling HWU64 folds: they decide the ``hwu64_overlap`` counts."""
    return sorted((source_dir.parent / _HWU64_FOLDER / "crossval").glob("KFold_*_testset.json"))

  def _read_jsonl(self, path: pathlib.Path) -> list[Example]:
    examples = (self._read_record(path, line, record)
                for line, record in self._read_json_lines(path))
    return [e for e in examples if e is not None]

  def _read_record(self, path: pathlib.Path, line: int, record: Any) -> Example | None:
    if not _is_slurp_record(record):
      return self._malformed(path, line, "bad_record", repr(record)[:80])
    tokens = [t["surface"].lower() for t in record["tokens"]]
    if not tokens:  # reported by _example as an empty utterance, not as a span error
      return self._example(path, line, text=record["sentence"], tokens=tokens,
                           intent=record["intent"], domain=record["scenario"])
    # Spans name token ids; map them to positions rather than assume id == index.
    position = {t["id"]: i for i, t in enumerate(record["tokens"])}
    spans = []
    for entity in record["entities"]:
      ids = entity["span"]
      first = position.get(ids[0]) if ids else None
      if first is None or [position.get(i) for i in ids] != list(range(first, first + len(ids))):
        return self._malformed(path, line, "slot_span_mismatch",
                               f"{entity['type']!r} span {ids} is not a run of token ids"
                               f" 0..{len(tokens) - 1}")
      spans.append((entity["type"], first, first + len(ids)))
    try:
      slots = bio.token_spans_to_bio(len(tokens), spans)
    except bio.SpanAlignmentError as error:
      return self._malformed(path, line, "slot_span_mismatch", str(error))
    return self._example(path, line, text=record["sentence"], tokens=tokens,
                         intent=record["intent"], domain=record["scenario"], slots=slots)

  def _extra_checks(self, splits: Splits) -> None:
    hwu64 = self._hwu64_keys()
    for split, examples in splits.items():
      for example in examples:
        if hwu64 is None:
          self.defects.add("hwu64_overlap/unchecked", split)
        elif overlap_key(example.text) in hwu64:
          self.defects.add(f"hwu64_overlap/{split}", example.source)

  def _hwu64_keys(self) -> set[str] | None:
    """Normalised HWU64 cross-validation sentences, or None when unavailable.

    Read straight from the sibling raw files (not through the HWU64 builder) so
    that checking SLURP never builds, or fails on, another dataset.
    """
    if self.source_dir is None:
      return None
    folder = self.source_dir.parent / _HWU64_FOLDER / "crossval"
    paths = sorted(folder.glob("KFold_*_testset.json")) if folder.is_dir() else []
    if not paths:
      return None
    keys = set()
    for path in paths:
      try:
        with open(path, encoding="utf-8") as f:
          records = json.load(f)["rasa_nlu_data"]["common_examples"]
        keys.update(overlap_key(r["text"]) for r in records)
      except (ValueError, KeyError, TypeError):  # bad JSON or bytes, or another shape
        return None  # a partial set would under-count; say "unchecked" instead
    return keys


def _is_slurp_record(record: Any) -> bool:
  """Whether ``record`` has the fields this builder reads, with their types."""
  if not (isinstance(record, dict)
          and all(isinstance(record.get(k), str) for k in ("sentence", "intent", "scenario"))
          and isinstance(record.get("tokens"), list)
          and isinstance(record.get("entities"), list)):
    return False
  tokens_ok = all(isinstance(t, dict) and isinstance(t.get("surface"), str)
                  and isinstance(t.get("id"), int) for t in record["tokens"])
  entities_ok = all(isinstance(e, dict) and isinstance(e.get("type"), str)
                    and isinstance(e.get("span"), list)
                    and all(isinstance(i, int) for i in e["span"])
                    for e in record["entities"])
  return tokens_ok and entities_ok
