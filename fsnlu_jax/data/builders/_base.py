"""The base TFDS builder shared by every fsnlu_jax dataset.

A subclass names the raw files it reads (``FILES``: path relative to the
dataset's folder -> public download address) and turns them into
:class:`~fsnlu_jax.data.schema.Example` lists per split (``_read_splits``). This
base does the rest, once for all datasets:

* finds the raw files: ``source_dir`` (a folder holding one sub-folder per
  dataset, like ``../shared/data``), else ``$FSNLU_DATA_DIR``, else downloads
  ``FILES`` from their public addresses;
* validates every example (empty utterance, unknown label, malformed BIO) under
  the ``on_error`` policy, and normalises whitespace, counting each repair;
* counts duplicates within a split and across splits (with the same or a
  conflicting label) -- kept, never dropped, and reported;
* writes array_record files (no TensorFlow needed) in file order, with the
  defect counts stored in the dataset's metadata.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import pathlib
import socket
import urllib.parse
from typing import Any, Iterable, Iterator, Mapping, Sequence

import tensorflow_datasets as tfds

from fsnlu_jax.data import bio
from fsnlu_jax.data.builders import _readers
from fsnlu_jax.data.defects import DefectLog, MalformedRowError, OnError, ON_ERROR_POLICIES
from fsnlu_jax.data.schema import Example, OUTSIDE, tfds_features

_LOG = logging.getLogger(__name__)
DATA_DIR_ENV = "FSNLU_DATA_DIR"

Splits = dict[str, list[Example]]


def resolve_source_dir(source_dir: str | os.PathLike | None, folder: str) -> pathlib.Path | None:
  """The local folder holding one dataset's raw files, or None to download.

  Args:
    source_dir: a folder with one sub-folder per dataset (``clinc150/``, ...);
      falls back to ``$FSNLU_DATA_DIR``.
    folder: the dataset's sub-folder name.

  Raises:
    FileNotFoundError: a root was given but has no such sub-folder.
  """
  root = source_dir if source_dir is not None else os.environ.get(DATA_DIR_ENV)
  if not root:
    return None
  path = pathlib.Path(root).expanduser() / folder
  if not path.is_dir():
    raise FileNotFoundError(
        f"no {folder!r} folder under data dir {root!r} (set --data-dir or"
        f" ${DATA_DIR_ENV} to a folder holding {folder}/, or unset both to"
        " download from the public address)")
  return path


class DataNotFoundError(FileNotFoundError):
  """No local raw files were given and the public address cannot be reached."""


def check_reachable(name: str, folder: str, urls: Iterable[str], timeout: float = 3.0) -> None:
  """Fails fast, in one line, when no data dir is set and the download host is unreachable.

  Without this, an offline download spends minutes in retries before a long
  traceback.
  """
  host = urllib.parse.urlparse(next(iter(urls))).hostname
  try:
    socket.create_connection((host, 443), timeout=timeout).close()
  except OSError as error:
    raise DataNotFoundError(
        f"{name}: no local raw files (--data-dir not given, ${DATA_DIR_ENV} not set) and"
        f" the download from {host} failed ({error.__class__.__name__}: {error}); set"
        f" --data-dir or ${DATA_DIR_ENV} to a folder holding {folder}/") from None


def normalise_text(text: str) -> str:
  """The key used to find duplicates: lower-cased word tokens."""
  return " ".join(text.lower().split())


class NLUBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """Base class of the fsnlu_jax dataset builders (see the module docstring)."""

  VERSION = tfds.core.Version("1.0.0")
  FOLDER: str = ""  # sub-folder of the data dir
  FILES: Mapping[str, str] = {}  # relative path -> public URL
  HOMEPAGE = ""
  CITATION = ""
  DESCRIPTION = ""
  OUT_OF_SCOPE: str | None = None  # the label of out-of-scope queries, if any
  # The record type of the splits (its ``to_record``/``from_record`` and TFDS
  # features): Example for intents and slots; ParseExample for trees (PIZZA).
  RECORD: type = Example

  def __init__(self, *, source_dir: str | os.PathLike | None = None,
               on_error: OnError = "raise", **kwargs):
    if on_error not in ON_ERROR_POLICIES:
      raise ValueError(f"on_error must be one of {ON_ERROR_POLICIES}, got {on_error!r}")
    self.source_dir = self.resolve_source(source_dir)
    self.on_error = on_error
    self.defects = DefectLog()
    kwargs.setdefault("file_format", "array_record")
    super().__init__(**kwargs)

  @classmethod
  def resolve_source(cls, source_dir: str | os.PathLike | None) -> pathlib.Path | None:
    """This dataset's raw-file folder (see :func:`resolve_source_dir`)."""
    return resolve_source_dir(source_dir, cls.FOLDER)

  # ---- what subclasses provide -------------------------------------------

  def _files(self) -> Mapping[str, str]:
    """Files this builder (config) reads (see :meth:`config_files`)."""
    return self.config_files(self.builder_config.name if self.builder_config else None)

  def _read_splits(self, files: Mapping[str, pathlib.Path]) -> Splits:
    """Reads the raw files into examples per split (use :meth:`_example`)."""
    raise NotImplementedError

  def _source_label(self) -> str:
    """Where the raw data came from, as recorded in the dataset's metadata."""
    return str(self.source_dir or "download")

  def _extra_checks(self, splits: Splits) -> None:
    """Dataset-specific defect counts over the finished splits."""

  def _known_intents(self, files: Mapping[str, pathlib.Path]) -> set[str] | None:
    """The closed label set, when the dataset publishes one."""
    return None

  def _features(self):
    """The TFDS features of :attr:`RECORD`."""
    return tfds_features()

  def _duplicate_label(self, example) -> str:
    """The label that tells a same-label duplicate from a conflicting one."""
    return example.intent

  # ---- TFDS plumbing -------------------------------------------------------

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self,
        description=self.DESCRIPTION or (self.__doc__ or "").strip(),
        features=self._features(),
        homepage=self.HOMEPAGE,
        citation=self.CITATION,
        disable_shuffling=True,  # keep file order, so `source` lines read in order
        metadata=tfds.core.MetadataDict(),
    )

  def _split_generators(self, dl_manager):
    splits = self.read_examples(self._fetch(dl_manager))
    self.info.metadata["defects"] = self.defects.as_dict()
    self.info.metadata["defect_examples"] = dict(self.defects.where)
    self.info.metadata["dropped"] = self.defects.dropped()
    self.info.metadata["source"] = self._source_label()
    self.info.metadata["on_error"] = self.on_error
    return {name: self._generate_examples(examples) for name, examples in splits.items()}

  def read_examples(self, files: Mapping[str, pathlib.Path] | None = None) -> Splits:
    """Reads, checks and counts the raw files without writing anything.

    What a build writes (and what ``fsnlu data validate`` checks): the splits
    with at least one example, the defects counted in :attr:`defects`.

    Args:
      files: relative path -> local file; default: the files under the
        builder's source folder.

    Raises:
      ValueError: under ``on_error="raise"``, a split without examples; under
        either policy, no examples in any split.
    """
    if files is None:
      if self.source_dir is None and self.FILES:
        raise ValueError(f"{self.name}: reading without a build needs local raw files"
                         f" (--data-dir or ${DATA_DIR_ENV})")
      files = self._fetch(None)
    self._intents = self._known_intents(files)
    splits = self._read_splits(files)
    self._count_duplicates(splits)
    self._extra_checks(splits)
    # An empty split is data lost: an error under "raise" (the reader has
    # usually named the empty file already); under "skip" it is left out
    # (TFDS cannot write a split without examples), counted and logged.
    for split in [name for name, examples in splits.items() if not examples]:
      if self.on_error == "raise":
        raise ValueError(f"{self.name}: split {split!r} has no examples (raw files in"
                         f" {self._source_label()}); defects: {self.defects.as_dict()}")
      del splits[split]
      self.defects.add(f"empty_split/{split}")
      _LOG.warning("%s: split %r has no examples left and is dropped (on_error=skip)",
                   self.name, split)
    if not splits:
      where = {k: v for k, v in self.defects.where.items() if k.startswith("malformed/")}
      raise ValueError(f"{self.name}: no examples left in any split; defects:"
                       f" {self.defects.as_dict()}; at {where}")
    return splits

  def _generate_examples(self, examples: Sequence[Example]):
    for index, example in enumerate(examples):
      yield index, example.to_record()

  def _fetch(self, dl_manager) -> dict[str, pathlib.Path]:
    files = self._files()
    if self.source_dir is None:
      check_reachable(self.name, self.FOLDER, files.values())
      downloaded = dl_manager.download(dict(files))
      return {rel: pathlib.Path(path) for rel, path in downloaded.items()}
    paths = {rel: self.source_dir / rel for rel in files}
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
      raise FileNotFoundError(f"{self.name}: missing raw files: {', '.join(missing)}")
    return paths

  @classmethod
  def config_files(cls, config: str | None) -> Mapping[str, str]:
    """The files config ``config`` (None: the default) reads: relative path -> URL."""
    return cls.FILES

  @classmethod
  def extra_sources(cls, source_dir: pathlib.Path) -> list[pathlib.Path]:
    """Files outside ``config_files`` whose contents change the build."""
    return []

  # ---- helpers for subclasses ---------------------------------------------

  def _relpath(self, path: pathlib.Path) -> str:
    """``folder/relative/path`` of a raw file, as shown in errors and sources."""
    root = self.source_dir if self.source_dir is not None else path.parent
    try:
      return f"{self.FOLDER}/{path.relative_to(root)}"
    except ValueError:
      return f"{self.FOLDER}/{path.name}"

  def _where(self, path: pathlib.Path, line: int | str) -> str:
    return f"{self._relpath(path)}:{line}"

  def _malformed(self, path: pathlib.Path, line: int | str, reason: str,
                 detail: str = "", rows: int | None = 1) -> None:
    """Applies the on_error policy to a malformed row (raises or counts).

    ``rows``: the rows skipping it drops (None: the whole file is lost).
    """
    self.defects.malformed(MalformedRowError(self._relpath(path), line, reason, detail, rows),
                           self.on_error)

  def _report(self, path: pathlib.Path, problem: _readers.Problem) -> None:
    """:meth:`_malformed` for a problem found by a reader."""
    self._malformed(path, problem.line, problem.reason, problem.detail, problem.rows)

  def _read_json(self, path: pathlib.Path, *, required: bool = False,
                 errors: str = "strict") -> Any:
    """A JSON document, or None when it cannot be read (reported).

    ``required``: a file the whole dataset depends on (a label list, a domain
    map) raises :class:`MalformedRowError` whatever the policy.
    """
    data, problem = _readers.read_json(path, errors=errors)
    if problem is not None:
      if required:
        raise MalformedRowError(self._relpath(path), problem.line, problem.reason,
                                problem.detail, rows=None)
      self._report(path, problem)
    return data

  def _read_lines(self, path: pathlib.Path) -> list[str | None]:
    """The lines of a text file; an undecodable line is reported and read as None."""
    lines, problems = _readers.read_lines(path)
    for problem in problems:
      self._report(path, problem)
    return lines

  def _read_json_lines(self, path: pathlib.Path) -> Iterator[tuple[int, Any]]:
    """``(line number, record)`` for each JSON line of ``path``.

    Reported, never silent: an undecodable line (by :meth:`_read_lines`), a
    blank line (counted), a line that is not JSON (malformed), and a file with
    no record at all (malformed, the whole file lost; nothing is yielded).
    """
    lines = self._read_lines(path)
    if all(raw is not None and not raw.strip() for raw in lines):
      self._malformed(path, 1, "empty_file", f"{len(lines)} lines, no records", rows=None)
      return
    for line, raw in enumerate(lines, start=1):
      if raw is None:
        continue
      if not raw.strip():
        self.defects.add("blank_line", self._where(path, line))
        continue
      try:
        record = json.loads(raw)
      except json.JSONDecodeError as error:
        self._malformed(path, line, "bad_json", f"{error.msg} (column {error.colno})")
        continue
      yield line, record

  def _example(self, path: pathlib.Path, line: int | str, *, text: str, tokens: Iterable[str],
               intent: str, domain: str, slots: Iterable[str] | None = None,
               label_at: tuple[pathlib.Path, int | str] | None = None) -> Example | None:
    """Validates and builds one example; None when the row was skipped.

    Repairs that keep the example (whitespace inside or around the text) are
    counted; problems that make it unusable go through :meth:`_malformed`.
    ``label_at``: where the label was read, when not at ``path:line`` (a
    separate label file), so a bad label is blamed on its own file and line.
    """
    where = self._where(path, line)
    tokens = tuple(tokens)
    clean = " ".join(text.split())
    if not clean or not tokens:
      return self._malformed(path, line, "empty_utterance", repr(text))
    if clean != text:
      self.defects.add("embedded_newline" if "\n" in text else "whitespace_normalised", where)
    intent = intent.strip()
    if not intent or (self._intents is not None and intent not in self._intents):
      return self._malformed(*(label_at or (path, line)), "unknown_label", repr(intent))
    slots = tuple(slots) if slots is not None else (OUTSIDE,) * len(tokens)
    if len(slots) != len(tokens):
      return self._malformed(path, line, "slot_token_mismatch",
                             f"{len(tokens)} tokens, {len(slots)} tags")
    bad = bio.invalid_bio_tags(slots)
    if any(not (t == OUTSIDE or (len(t) > 2 and t[:2] in ("B-", "I-"))) for t in slots):
      return self._malformed(path, line, "invalid_bio_tag", " ".join(slots))
    if bad:  # an I-x without its B-x: kept as conlleval reads it, but counted
      self.defects.add("bio_inside_without_begin", where)
    return Example(text=clean, tokens=tokens, intent=intent, slots=slots, domain=domain,
                   source=where)

  def _count_duplicates(self, splits: Splits) -> None:
    """Counts repeated utterances within and across splits (all kept)."""
    seen: dict[str, dict[str, set[str]]] = collections.defaultdict(dict)
    for split, examples in splits.items():
      counts = collections.Counter(normalise_text(e.text) for e in examples)
      repeats = sum(c - 1 for c in counts.values() if c > 1)
      if repeats:
        self.defects.add(f"duplicate_within_split/{split}", n=repeats)
      for example in examples:
        seen[normalise_text(example.text)].setdefault(split, set()).add(
            self._duplicate_label(example))
    for text, by_split in seen.items():
      if len(by_split) > 1:
        labels = set().union(*by_split.values())
        kind = "same_label" if len(labels) == 1 else "conflicting_label"
        self.defects.add(f"cross_split_duplicate/{kind}", text)
