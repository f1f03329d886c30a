"""HWU64 (NLU-Evaluation-Data): 64 intents in 18 scenarios, with slots.

Two configs, the same 64 ``<scenario>_<intent>`` labels; the domain of an
example is its scenario (the intent up to the first underscore).

* ``crossval`` (default): the authors' 10-fold cross-validation data with
  entity annotations, splits ``fold_1`` .. ``fold_10`` (1076 utterances each
  for folds 1-9, 1352 for fold 10; 11036 in all; 54 slot types). Entities are
  character spans, turned into BIO tags over the project tokenizer's tokens.
  To reproduce the authors' fold k, train on the other nine folds and test on
  fold k (:func:`crossval_fold`). Records are located as
  ``hwu64/crossval/KFold_<k>_testset.json:rasa_nlu_data.common_examples[<i>]``.
* ``standard``: the intent-only train/valid/test split popularised by
  DialoGLUE, splits ``train``/``validation``/``test`` (8954/1076/1076), slots
  all ``O``. Records are located as ``hwu64/standard_split/{train,valid,test}/seq.in:<line>``.

Known defects (SOURCE.md), kept and counted, never dropped:

* ``span_boundary_inside_token`` (crossval, 219 on the real data): an entity
  boundary falls inside a token (e.g. the entity "5" in "5am"); the whole
  token is tagged, because splitting it would change the tokenisation.
* ``cross_split_duplicate/same_label`` (crossval, 3): utterances in two folds
  that differ only in letter case ("Speak louder please" / "speak louder
  please"); SOURCE.md calls the folds disjoint because it compares exact text.
* ``duplicate_within_split/validation`` (70) and ``duplicate_within_split/train``
  (3) (standard): repeated lines in the upstream files, counted by the base
  class; dropping them would change the published split sizes.

Malformed rows (under the ``on_error`` policy): ``bad_json`` (a fold file
that does not parse, located by its JSON line), ``bad_record`` (a record of
the wrong shape), ``slot_span_mismatch`` (an entity whose ``text[start:end]``
differs from its value, that covers no token or that overlaps another),
``line_count_mismatch`` (``seq.in`` and ``label`` of different lengths:
nothing in a line tells which line is missing, so every row is dropped rather
than paired with its neighbour's label), ``bad_encoding`` (that line only),
``empty_file``, plus the base checks (``empty_utterance``, ``unknown_label``,
blamed on the ``label`` line). An empty split is an error under ``raise``;
under ``skip`` it is left out, counted as ``empty_split/<split>``.
"""

from __future__ import annotations

import pathlib
from typing import Any, Mapping, Sequence

import tensorflow_datasets as tfds

from fsnlu_jax.data import bio
from fsnlu_jax.data.builders import _readers
from fsnlu_jax.data.builders._base import NLUBuilder, Splits
from fsnlu_jax.data.schema import Example
from fsnlu_jax.data.tokenize import tokenize, tokenize_with_offsets

_CROSSVAL_URL = (
    "https://raw.githubusercontent.com/xliuhw/NLU-Evaluation-Data/master/CrossValidation/"
    "out4RasaReal/rasa_json_2018_03_22-13_01_25_169_80Train/CrossValidation/KFold_{k}/"
    "mergedTestset/RasaNluTestset_Merged_2018_03_22-13_01_25_169.json")
_STANDARD_URL = ("https://raw.githubusercontent.com/jianguoz/Few-Shot-Intent-Detection/main/"
                 "Datasets/HWU64/{split}/{file}")

N_FOLDS = 10
_RECORDS_KEY = "rasa_nlu_data.common_examples"

# upstream folder -> split name
_STANDARD_SPLITS = {"train": "train", "valid": "validation", "test": "test"}

CROSSVAL_FILES = {
    f"crossval/KFold_{k}_testset.json": _CROSSVAL_URL.format(k=k) for k in range(1, N_FOLDS + 1)
}
STANDARD_FILES = {
    f"standard_split/{split}/{file}": _STANDARD_URL.format(split=split, file=file)
    for split in _STANDARD_SPLITS for file in ("seq.in", "label")
}


def scenario_of(intent: str) -> str:
  """The scenario of a ``<scenario>_<intent>`` label (the whole label without ``_``)."""
  return intent.partition("_")[0]


def fold_split(k: int) -> str:
  """The split name of cross-validation fold ``k`` (1-based)."""
  return f"fold_{k}"


def crossval_fold(splits: Mapping[str, Sequence[Example]],
                  k: int) -> tuple[list[Example], list[Example]]:
  """The authors' fold ``k``: train on the other nine folds, test on fold ``k``.

  Args:
    splits: the ``crossval`` config's splits (``fold_1`` .. ``fold_10``), e.g.
      from ``load("hwu64/crossval")``.
    k: the held-out fold, 1..10.

  Returns:
    ``(train_examples, test_examples)``; train keeps fold order 1..10.
  """
  if not 1 <= k <= N_FOLDS:
    raise ValueError(f"fold must be in 1..{N_FOLDS}, got {k}")
  missing = [fold_split(i) for i in range(1, N_FOLDS + 1) if fold_split(i) not in splits]
  if missing:
    raise KeyError(f"not the hwu64/crossval splits: missing {', '.join(missing)}")
  train = [e for i in range(1, N_FOLDS + 1) if i != k for e in splits[fold_split(i)]]
  return train, list(splits[fold_split(k)])


class Hwu64(NLUBuilder, skip_registration=False):
  """HWU64 intents and slots (Liu et al., 2019); see the module docstring."""

  name = "hwu64"
  FOLDER = "hwu64"
  FILES = {**CROSSVAL_FILES, **STANDARD_FILES}
  BUILDER_CONFIGS = [
      tfds.core.BuilderConfig(
          name="crossval",
          description="The authors' 10 cross-validation folds, intents and slots."),
      tfds.core.BuilderConfig(
          name="standard",
          description="The intent-only train/validation/test split (8954/1076/1076)."),
  ]
  HOMEPAGE = "https://github.com/xliuhw/NLU-Evaluation-Data"
  CITATION = ("Liu et al. 2019. Benchmarking Natural Language Understanding Services for"
              " building Conversational Agents. IWSDS.")

  @classmethod
  def config_files(cls, config: str | None) -> Mapping[str, str]:
    return STANDARD_FILES if config == "standard" else CROSSVAL_FILES

  def _read_splits(self, files) -> Splits:
    if self.builder_config.name == "crossval":
      return {fold_split(k): self._read_fold(files[f"crossval/KFold_{k}_testset.json"])
              for k in range(1, N_FOLDS + 1)}
    return {split: self._read_standard(files[f"standard_split/{folder}/seq.in"],
                                       files[f"standard_split/{folder}/label"])
            for folder, split in _STANDARD_SPLITS.items()}

  # ---- crossval -----------------------------------------------------------

  def _read_fold(self, path: pathlib.Path) -> list[Example]:
    data = self._read_json(path)
    if data is None:
      return []
    nlu_data = data.get("rasa_nlu_data") if isinstance(data, dict) else None
    records = nlu_data.get("common_examples") if isinstance(nlu_data, dict) else None
    if not isinstance(records, list):
      self._malformed(path, 1, "bad_record", f"no {_RECORDS_KEY} list", rows=None)
      return []
    if not records:
      self._malformed(path, 1, "empty_file", f"no records in {_RECORDS_KEY}", rows=None)
      return []
    examples = []
    for index, record in enumerate(records):
      example = self._read_record(path, f"{_RECORDS_KEY}[{index}]", record)
      if example is not None:
        examples.append(example)
    return examples

  def _read_record(self, path: pathlib.Path, line: str, record: Any) -> Example | None:
    if not _is_rasa_record(record):
      return self._malformed(path, line, "bad_record", repr(record)[:80])
    text, intent = record["text"], record["intent"]
    tokens = tokenize_with_offsets(text)
    slots = None
    if tokens:  # an empty utterance is reported by _example, not as a span error
      spans = []
      for entity in record.get("entities", []):
        start, end, value = entity["start"], entity["end"], entity["value"]
        # Checked before slicing: a negative offset would slice from the end.
        if not 0 <= start < end <= len(text) or text[start:end] != value:
          return self._malformed(path, line, "slot_span_mismatch",
                                 f"text[{start}:{end}] is {text[start:end]!r}, value {value!r}")
        spans.append((start, end, entity["entity"]))
      try:
        slots, partial = bio.char_spans_to_bio(tokens, spans)
      except bio.SpanAlignmentError as error:
        return self._malformed(path, line, "slot_span_mismatch", str(error))
      if partial:
        self.defects.add("span_boundary_inside_token", self._where(path, line), n=partial)
    return self._example(path, line, text=text, tokens=[t.text for t in tokens],
                         intent=intent, domain=scenario_of(intent.strip()), slots=slots)

  # ---- standard -----------------------------------------------------------

  def _read_standard(self, text_path: pathlib.Path, label_path: pathlib.Path) -> list[Example]:
    texts, labels = self._read_lines(text_path), self._read_lines(label_path)
    for path, lines in ((text_path, texts), (label_path, labels)):
      if not lines:
        self._malformed(path, 1, "empty_file", "0 lines", rows=max(len(texts), len(labels)))
        return []
    # Nothing in a line of text tells its label: a line missing from one file
    # cannot be located, so every row that might pair wrongly is dropped.
    rows, problem = _readers.align({"seq.in": texts, "label": labels})
    if problem is not None:
      self._report(text_path if problem.file == "seq.in" else label_path, problem)
    examples = []
    for row in rows:
      text, intent = texts[row["seq.in"]], labels[row["label"]]
      if text is None or intent is None:
        continue  # an undecodable line, already reported
      example = self._example(text_path, row["seq.in"] + 1, text=text, tokens=tokenize(text),
                              intent=intent, domain=scenario_of(intent.strip()),
                              label_at=(label_path, row["label"] + 1))
      if example is not None:
        examples.append(example)
    return examples


def _is_rasa_record(record: Any) -> bool:
  """Whether ``record`` has the Rasa shape (``entities`` may be absent)."""
  if not (isinstance(record, dict) and isinstance(record.get("text"), str)
          and isinstance(record.get("intent"), str)
          and isinstance(record.get("entities", []), list)):
    return False
  return all(
      isinstance(e, dict) and isinstance(e.get("entity"), str) and isinstance(e.get("value"), str)
      and all(isinstance(e.get(key), int) and not isinstance(e.get(key), bool)
              for key in ("start", "end"))
      for e in record.get("entities", []))
