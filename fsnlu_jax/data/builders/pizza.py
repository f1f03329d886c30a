"""PIZZA: pizza and drink orders parsed into trees (Arkoudas et al., 2022).

Splits ``dev`` (348: the CLASP training set) and ``test`` (1357), one JSON
object a line with keys ``<split>.SRC`` (the utterance, lower-cased),
``<split>.TOP`` (a tree over the utterance's own words), ``<split>.EXR`` (the
executable tree, entities resolved) and ``<split>.PCFG_ERR`` (``"True"`` when
the authors' grammar-based generator could not produce the utterance). The
records are :class:`~fsnlu_jax.data.parses.ParseExample` (trees, not intents
and BIO tags), located as ``pizza/PIZZA_<split>.json:<line>`` (1-based).

The entity catalogues (``catalogs/*.txt``) are read too and kept in the
build's metadata (``catalogues``), so a downloaded build carries them:
:func:`catalogues_of` returns them as :class:`~fsnlu_jax.data.catalogues.Catalogues`.
The metadata also holds ``pcfg_err``: the ``PCFG_ERR=True`` count per split.

**License: CC BY-NC 4.0** (non-commercial, evaluation and research only):
read it from a data folder or its public address, never ship it.

Checks, each malformed row named by file and line (``on_error`` policy):
``bad_json``, ``bad_record`` (not an object with the four keys of its split,
or a ``PCFG_ERR`` other than ``"True"``/``"False"``), ``bad_top`` and
``bad_exr`` (a tree that does not parse: unbalanced brackets, an empty node,
...; the detail names the :class:`~fsnlu_jax.data.trees.TreeSyntaxError`
reason), ``top_text_mismatch`` (the TOP tree's words are not the utterance's
words), ``empty_utterance``, ``bad_encoding``, ``empty_file``. Repairs,
counted: ``whitespace_normalised`` (spaces collapsed in the utterance),
``blank_line``. Duplicates are counted by the base class (a "conflicting"
duplicate has a different EXR tree). A malformed catalogue line is an error
under either policy (every row depends on the catalogues).

The published files have none of these defects (``fsnlu data validate pizza``).
"""

from __future__ import annotations

import pathlib
from typing import Any

from fsnlu_jax.data.builders._base import NLUBuilder, Splits
from fsnlu_jax.data.catalogues import CATALOGUE_FILES, Catalogues, Entry
from fsnlu_jax.data.defects import MalformedRowError
from fsnlu_jax.data.parses import ParseExample
from fsnlu_jax.data.trees import TreeSyntaxError, parse_tree

COMMIT = "74790010c48b24bdca62211d95e9df0beea3c773"
_URL = f"https://raw.githubusercontent.com/amazon-research/pizza-semantic-parsing-dataset/{COMMIT}/"
SPLITS = ("dev", "test")
CATALOGUE_FOLDER = "catalogs"
_PCFG = {"True": True, "False": False}


class Pizza(NLUBuilder, skip_registration=False):
  """PIZZA semantic parsing: utterances with TOP and EXR trees."""

  name = "pizza"
  FOLDER = "pizza"
  FILES = {
      **{f"PIZZA_{split}.json": f"{_URL}data/PIZZA_{split}.json" for split in SPLITS},
      **{f"{CATALOGUE_FOLDER}/{name}": f"{_URL}utils/catalogs/{name}" for name in CATALOGUE_FILES},
  }
  HOMEPAGE = "https://github.com/amazon-research/pizza-semantic-parsing-dataset"
  CITATION = ("Arkoudas et al. 2022. PIZZA: A new benchmark for complex end-to-end"
              " task-oriented parsing. arXiv:2212.00265.")
  RECORD = ParseExample

  def _features(self):
    return ParseExample.tfds_features()

  def _duplicate_label(self, example: ParseExample) -> str:
    return example.exr

  def _split_generators(self, dl_manager):
    generators = super()._split_generators(dl_manager)
    self.info.metadata["pcfg_err"] = self._pcfg_counts
    self.info.metadata["catalogues"] = {
        label: [[e.surface, e.value, e.where] for e in entries]
        for label, entries in self._catalogues.entries.items()}
    return generators

  def _read_splits(self, files) -> Splits:
    self._catalogues = self._read_catalogues(files)
    splits = {split: self._read_jsonl(files[f"PIZZA_{split}.json"], split) for split in SPLITS}
    self._pcfg_counts = {split: sum(e.pcfg_err for e in examples)
                         for split, examples in splits.items()}
    return splits

  def _read_catalogues(self, files) -> Catalogues:
    lines = {}
    for name in CATALOGUE_FILES:
      path = files[f"{CATALOGUE_FOLDER}/{name}"]
      read = self._read_lines(path)
      bad = next((i for i, line in enumerate(read, start=1) if line is None), None)
      if bad is not None:  # _read_lines reported it under "skip"; a catalogue must be whole
        raise MalformedRowError(self._relpath(path), bad, "bad_encoding",
                                "a catalogue line is not UTF-8", rows=None)
      lines[self._relpath(path)] = read
    return Catalogues.from_lines(lines)

  def _read_jsonl(self, path: pathlib.Path, split: str) -> list[ParseExample]:
    examples = (self._read_record(path, line, split, record)
                for line, record in self._read_json_lines(path))
    return [e for e in examples if e is not None]

  def _read_record(self, path: pathlib.Path, line: int, split: str,
                   record: Any) -> ParseExample | None:
    keys = {field: f"{split}.{field}" for field in ("SRC", "TOP", "EXR", "PCFG_ERR")}
    if not (isinstance(record, dict) and set(record) == set(keys.values())
            and all(isinstance(record[k], str) for k in keys.values())):
      shape = sorted(record) if isinstance(record, dict) else type(record).__name__
      return self._malformed(path, line, "bad_record",
                             f"expected string fields {sorted(keys.values())}, got {shape}")
    if record[keys["PCFG_ERR"]] not in _PCFG:
      return self._malformed(path, line, "bad_record",
                             f"PCFG_ERR is {record[keys['PCFG_ERR']]!r}, not 'True' or 'False'")
    where = self._where(path, line)
    text = record[keys["SRC"]]
    clean = " ".join(text.split())
    if not clean:
      return self._malformed(path, line, "empty_utterance", repr(text))
    trees = {}
    for field, reason in (("TOP", "bad_top"), ("EXR", "bad_exr")):
      try:
        trees[field] = parse_tree(record[keys[field]])
      except TreeSyntaxError as error:
        return self._malformed(path, line, reason, f"{field}: {error}")
    tokens = tuple(clean.split())
    if trees["TOP"].words != tokens:
      return self._malformed(path, line, "top_text_mismatch",
                             f"TOP words {' '.join(trees['TOP'].words)!r} are not the"
                             f" utterance {clean!r}")
    if clean != text:
      self.defects.add("whitespace_normalised", where)
    return ParseExample(text=clean, tokens=tokens, top=record[keys["TOP"]],
                        exr=record[keys["EXR"]], pcfg_err=_PCFG[record[keys["PCFG_ERR"]]],
                        source=where)


def catalogues_of(builder: NLUBuilder) -> Catalogues:
  """The entity catalogues a prepared PIZZA build carries in its metadata."""
  stored = builder.info.metadata.get("catalogues")
  if not stored:
    raise ValueError(f"{builder.name}: the build holds no catalogues (not a PIZZA build?)")
  return Catalogues({label: tuple(Entry(surface, value, where)
                                  for surface, value, where in entries)
                     for label, entries in stored.items()})
