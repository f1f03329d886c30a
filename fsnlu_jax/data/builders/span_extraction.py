"""Span extraction for dialogue (Span-ConveRT): Restaurants-8k and four DSTC8 domains, slots only.

PolyAI's ``span_extraction`` sets (Coope et al., ACL 2020): single user turns
with character spans of slot values and the slots the system had just asked
for. One config per sub-dataset, and ``all`` for the five together
(config: folder under ``span_extraction/`` -> intent and domain of its turns):

* ``restaurant8k`` (default): ``restaurant8k/`` -> ``restaurant_booking``;
  splits ``train``, ``test``, ``train_1of2`` .. ``train_1of256``.
* ``buses``: ``dstc8/Buses_1/`` -> ``buses``; ``events``:
  ``dstc8/Events_1/`` -> ``events``; ``homes``: ``dstc8/Homes_1/`` ->
  ``homes``; ``rental_cars``: ``dstc8/RentalCars_1/`` -> ``rental_cars``;
  splits ``train``, ``test``, ``train_1of2`` .. ``train_1of32``.
* ``all``: the five sets' ``train`` and ``test`` together, each turn with its
  own set's intent and domain (17 slot types: ``date`` is a slot of both
  restaurant8k and events).

``train`` is ``train_0.json``, ``test`` is ``test.json`` and ``train_1of<2^i>``
is ``train_<i>.json``, the authors' nested 1/2^i subsets of ``train`` for
few-shot curves (kept as separate splits, not re-drawn).

**No intents.** The turns carry no intent label, so the convention here is:
the intent of every turn is its sub-dataset's domain (above), and so is its
``domain``; an intent classifier has nothing to learn within one config, and in
``all`` the intent says which of the five a turn came from. Records are
located as ``span_extraction/<folder>/<file>:<line>``, the line the record's
``{`` is on.

Slots: ``valueSpan`` ``startIndex`` (omitted: 0) and ``endIndex`` (omitted:
the text's length, end exclusive) are character offsets into
``userInput.text``; they become BIO tags over the project tokenizer's tokens
through :func:`fsnlu_jax.data.bio.char_spans_to_bio`. Slot names are checked
against each sub-dataset's slot types (SOURCE.md). What is not kept, by
design: ``context.requestedSlots`` (the slots the system just asked for; the
:class:`~fsnlu_jax.data.schema.Example` has no field for dialogue context, and
the label of a bare "13" depends on it), counted per turn that has any as
``ignored_field/context.requestedSlots``; ``id`` and ``splitKey`` (DSTC8
bookkeeping, not counted); any other field, counted as
``ignored_field/<dotted key>``.

Known defects (measured on the real ``train``/``test`` files; each
``train_1of*`` row is a row of its own file, so a config's totals count a
defect again in every subset that repeats the row), kept and counted:

* ``overlapping_span_dropped`` (restaurant8k only: 59 spans in train, 18 in
  test, e.g. "in an hour" labelled both ``date`` and ``time``, "7:30 tonight"
  as ``time`` with "tonight" inside it as ``date``): BIO gives a token one tag,
  so the longest span is kept, ties in file order, and each span sharing a
  token with a kept one is dropped and counted; the turn is kept
  (:func:`fsnlu_jax.data.bio.drop_overlapping_spans`).
* ``span_boundary_inside_token`` (restaurant8k 6 + 6, homes 1 in train: e.g.
  ``13:00`` in "13:00pm", "San Jose" in "San Jose's"): the whole token is tagged.
* ``slot_value_whitespace_trimmed`` (restaurant8k 4 + 1): a span with spaces at
  its ends is trimmed to its value.
* ``duplicate_span`` (none): the same slot and range twice in one turn; kept once.
* ``whitespace_normalised`` (restaurant8k 170 + 72) and ``embedded_newline``
  (2 + 1, a ``\\r\\n`` inside a turn): collapsed by the base class.
* ``duplicate_within_split/*``, ``cross_split_duplicate/*``: repeated turns
  (short answers like "13" recur), counted over ``train`` and ``test`` only
  (the ``train_1of*`` splits are copies of ``train`` rows by construction).
* ``subset_not_in_train/<split>``: a ``train_1of*`` turn (text and tags) not in
  ``train``; none in the real files.
* ``ignored_field/context.requestedSlots``: turns whose requested slots are
  not kept (4402 of the 19311 train and test turns).

Malformed rows (under the ``on_error`` policy): ``bad_record`` (a record of the
wrong shape: no ``userInput.text`` string, ``labels`` not a list of
``{slot, valueSpan}``, an index that is not an integer, ...),
``unknown_slot``, ``slot_span_mismatch`` (a span outside the text, empty,
blank, or covering no token), ``empty_utterance`` (base class); and, losing the
whole file: ``bad_json``, ``bad_encoding``, ``empty_file`` (no bytes, or an
empty list), ``bad_record`` (a document that is not a list). An empty split is
an error under ``raise``.
"""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Any, Mapping

import tensorflow_datasets as tfds

from fsnlu_jax.data import bio
from fsnlu_jax.data.builders import _readers
from fsnlu_jax.data.builders._base import NLUBuilder, Splits
from fsnlu_jax.data.schema import Example
from fsnlu_jax.data.tokenize import tokenize_with_offsets

# The commit SOURCE.md's sha256 sums were taken at.
_URL = ("https://raw.githubusercontent.com/PolyAI-LDN/task-specific-datasets/"
        "57ec275d8078af65b7731c2a98be812d844a6d6b/span_extraction/")


@dataclasses.dataclass(frozen=True)
class SubDataset:
  """One span-extraction set: where it is, its label, its slots, its subsets."""

  folder: str  # under span_extraction/
  domain: str  # also the intent of every turn (the sets have no intents)
  n_subsets: int  # train_1.json .. train_<n>.json, each half the one before
  slot_types: frozenset[str]


SUB_DATASETS = {
    "restaurant8k": SubDataset("restaurant8k", "restaurant_booking", 8, frozenset(
        {"date", "first_name", "last_name", "people", "time"})),
    "buses": SubDataset("dstc8/Buses_1", "buses", 5, frozenset(
        {"from_location", "leaving_date", "to_location"})),
    "events": SubDataset("dstc8/Events_1", "events", 5, frozenset(
        {"city_of_event", "date", "event_name", "subcategory"})),
    "homes": SubDataset("dstc8/Homes_1", "homes", 5, frozenset({"area", "visit_date"})),
    "rental_cars": SubDataset("dstc8/RentalCars_1", "rental_cars", 5, frozenset(
        {"dropoff_date", "pickup_city", "pickup_date", "pickup_time"})),
}
ALL = "all"

# Record fields read, and those known and deliberately not kept (not counted).
_FIELDS = {"userInput", "context", "labels"}
_BOOKKEEPING = {"id", "splitKey"}


def subset_split(i: int) -> str:
  """The split name of ``train_<i>.json``: ``train_1of<2^i>`` (``train`` for i = 0)."""
  return f"train_1of{2 ** i}" if i else "train"


def _split_files(config: str) -> dict[str, str]:
  """Split name -> file (relative to span_extraction/) of one config."""
  if config == ALL:
    return {f"{split}/{name}": f"{sub.folder}/{file}" for name, sub in SUB_DATASETS.items()
            for split, file in (("train", "train_0.json"), ("test", "test.json"))}
  sub = SUB_DATASETS[config]
  files = {"train": f"{sub.folder}/train_0.json", "test": f"{sub.folder}/test.json"}
  for i in range(1, sub.n_subsets + 1):
    files[subset_split(i)] = f"{sub.folder}/train_{i}.json"
  return files


class _BadRow(Exception):
  """A record that cannot become an example: ``(reason, detail)``."""


class SpanExtraction(NLUBuilder, skip_registration=False):
  """Restaurants-8k and DSTC8 span extraction (Coope et al., 2020); see the module docstring."""

  name = "span_extraction"
  FOLDER = "span_extraction"
  FILES = {rel: _URL + rel for config in [*SUB_DATASETS, ALL]
           for rel in _split_files(config).values()}
  BUILDER_CONFIGS = [
      *(tfds.core.BuilderConfig(
          name=name,
          description=f"{sub.folder}: train, test and the 1/2^i train subsets train_1of2 .."
                      f" train_1of{2 ** sub.n_subsets}; every turn's intent and domain is"
                      f" {sub.domain!r}.")
        for name, sub in SUB_DATASETS.items()),
      tfds.core.BuilderConfig(
          name=ALL, description="The five sets' train and test splits together; the intent"
                                " names the set."),
  ]
  HOMEPAGE = "https://github.com/PolyAI-LDN/task-specific-datasets"
  CITATION = ("Coope, Farghly, Gerz, Vulić and Henderson. 2020. Span-ConveRT: Few-shot Span"
              " Extraction for Dialog with Pretrained Conversational Representations. ACL.")

  @classmethod
  def config_files(cls, config: str | None) -> Mapping[str, str]:
    return {rel: cls.FILES[rel]
            for rel in _split_files(config or cls.BUILDER_CONFIGS[0].name).values()}

  def _sub_datasets(self) -> dict[str, SubDataset]:
    name = self.builder_config.name
    return dict(SUB_DATASETS) if name == ALL else {name: SUB_DATASETS[name]}

  def _known_intents(self, files):
    return {sub.domain for sub in self._sub_datasets().values()}

  def _read_splits(self, files) -> Splits:
    name = self.builder_config.name
    splits: Splits = {}
    for key, rel in _split_files(name).items():
      split, _, sub_name = key.partition("/")
      sub = SUB_DATASETS[sub_name or name]
      splits.setdefault(split, []).extend(self._read_file(files[rel], sub))
    return splits

  def _read_file(self, path: pathlib.Path, sub: SubDataset) -> list[Example]:
    records, problem = _readers.read_json_list(path)
    if problem is not None:
      self._report(path, problem)
      return []
    if not records:
      self._malformed(path, 1, "empty_file", "an empty list, no records", rows=None)
      return []
    examples = []
    for line, record in records:
      try:
        example = self._read_record(path, line, record, sub)
      except _BadRow as error:
        self._malformed(path, line, *error.args)
        continue
      if example is not None:
        examples.append(example)
    return examples

  def _read_record(self, path: pathlib.Path, line: int, record: Any,
                   sub: SubDataset) -> Example | None:
    where = self._where(path, line)
    text, labels, requested, ignored = _parse_record(record)
    # Counted once the row is known to be kept, so a dropped row adds only its drop.
    found = [f"ignored_field/{key}" for key in ignored]
    if requested:
      found.append("ignored_field/context.requestedSlots")
    tokens = tokenize_with_offsets(text)
    if not tokens:  # reported by _example as an empty utterance, not as a span error
      return self._example(path, line, text=text, tokens=[], intent=sub.domain,
                           domain=sub.domain)
    spans = []
    for slot, start, end in labels:
      if slot not in sub.slot_types:
        raise _BadRow("unknown_slot", f"{slot!r} is not a slot of {sub.folder}"
                                      f" ({', '.join(sorted(sub.slot_types))})")
      start = 0 if start is None else start
      end = len(text) if end is None else end
      if not 0 <= start < end <= len(text):
        raise _BadRow("slot_span_mismatch", f"{slot!r} span [{start}, {end}) is empty or"
                                            f" outside the text's {len(text)} characters")
      value = text[start:end]
      if not value.strip():
        raise _BadRow("slot_span_mismatch", f"{slot!r} span [{start}, {end}) is blank")
      # Spaces at a value's ends are not part of it; left in, they would read
      # as a span boundary inside a token.
      lead, trail = len(value) - len(value.lstrip()), len(value) - len(value.rstrip())
      if lead or trail:
        found.append("slot_value_whitespace_trimmed")
      span = (start + lead, end - trail, slot)
      if span in spans:
        found.append("duplicate_span")
        continue
      spans.append(span)
    spans, dropped = bio.drop_overlapping_spans(tokens, spans)
    found += ["overlapping_span_dropped"] * len(dropped)
    try:
      slots, partial = bio.char_spans_to_bio(tokens, spans)
    except bio.SpanAlignmentError as error:
      raise _BadRow("slot_span_mismatch", str(error)) from None
    found += ["span_boundary_inside_token"] * partial
    example = self._example(path, line, text=text, tokens=[t.text for t in tokens],
                            intent=sub.domain, domain=sub.domain, slots=slots)
    if example is not None:
      for kind in found:
        self.defects.add(kind, where)
    return example

  def _count_duplicates(self, splits: Splits) -> None:
    # The train_1of* splits repeat train's rows by construction: counting them
    # as cross-split duplicates would say nothing; containment is checked instead.
    super()._count_duplicates({k: v for k, v in splits.items() if k in ("train", "test")})

  def _extra_checks(self, splits: Splits) -> None:
    train = {(e.text, e.slots) for e in splits.get("train", [])}
    for split, examples in splits.items():
      if split.startswith("train_1of"):
        for example in examples:
          if (example.text, example.slots) not in train:
            self.defects.add(f"subset_not_in_train/{split}", example.source)


def _parse_record(record: Any) -> tuple[str, list[tuple[str, int | None, int | None]],
                                        list[str], list[str]]:
  """``(text, [(slot, start, end)], requested slots, ignored field names)`` of a record.

  Raises:
    _BadRow: ``bad_record``, the record has the wrong shape.
  """

  def bad(detail: str) -> _BadRow:
    return _BadRow("bad_record", f"{detail}: {repr(record)[:80]}")

  if not isinstance(record, dict):
    raise bad("not an object")
  ignored = [key for key in record if key not in _FIELDS | _BOOKKEEPING]
  user = record.get("userInput")
  if not isinstance(user, dict) or not isinstance(user.get("text"), str):
    raise bad("no userInput.text string")
  ignored += [f"userInput.{key}" for key in user if key != "text"]
  context = record.get("context", {})
  if not isinstance(context, dict):
    raise bad("context is not an object")
  requested = context.get("requestedSlots", [])
  if not (isinstance(requested, list) and all(isinstance(s, str) for s in requested)):
    raise bad("context.requestedSlots is not a list of strings")
  ignored += [f"context.{key}" for key in context if key != "requestedSlots"]
  labels = record.get("labels", [])
  if not isinstance(labels, list):
    raise bad("labels is not a list")
  spans = []
  for label in labels:
    if not (isinstance(label, dict) and isinstance(label.get("slot"), str) and label["slot"]
            and isinstance(label.get("valueSpan"), dict)):
      raise bad("a label is not {slot: string, valueSpan: object}")
    value_span = label["valueSpan"]
    indices = [value_span.get(k) for k in ("startIndex", "endIndex")]
    if any(i is not None and (isinstance(i, bool) or not isinstance(i, int)) for i in indices):
      raise bad(f"{label['slot']!r} valueSpan indices are not integers")
    ignored += [f"labels.{key}" for key in label if key not in ("slot", "valueSpan")]
    ignored += [f"labels.valueSpan.{key}" for key in value_span
                if key not in ("startIndex", "endIndex")]
    spans.append((label["slot"], *indices))
  return user["text"], spans, requested, ignored
