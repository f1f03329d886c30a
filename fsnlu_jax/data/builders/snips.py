"""SNIPS (2017-06 custom intent engines): 7 intents, 39 slot types.

Each SNIPS intent is its own domain (``domain == intent``), which is what makes
it the usual "train on 6, adapt to the 7th" few-shot slot-tagging benchmark.
Labels are checked against the 7 intents. Two configs:

* ``bio`` (default): the tokenised, BIO-tagged joint split of Slot-Gated SLU
  (Goo et al., 2018), splits ``train``/``validation``/``test``
  (13084/700/700). ``seq.in``, ``seq.out`` and ``label`` are line-aligned; the
  tokens are ``seq.in`` split on whitespace, kept as given (already
  lower-cased and tokenised, so not re-tokenised: the tags are aligned to
  them). Records are located as ``snips/bio_slotgated/<split>/seq.in:<line>``.
* ``raw``: the canonical span-annotated JSON of the Snips release, splits
  ``train_full`` (13784), ``train_small`` (2100, the pool the benchmark drew
  its 10-70-shot samples from) and ``validation`` (700). An utterance is the
  concatenation of its ``data`` chunks; chunks with an ``entity`` are slot
  values, turned into character spans and then BIO tags over the project
  tokenizer's tokens. Records are located as
  ``snips/raw_2017-06-custom-intent-engines/<Intent>/<file>:<Intent>[<i>]``.

Known defects (SOURCE.md, and measured on the real files), kept and counted,
never dropped:

* ``replacement_character`` (bio, 1: train line 8427): the mis-encoded emoji
  survives as six U+FFFD characters, one token; kept as the split has it.
* ``whitespace_normalised`` (bio, 3769): ``seq.in`` lines carry trailing and
  double spaces where punctuation was removed upstream; collapsed by the base
  class (the tokens are the same either way).
* ``non_utf8_emoji`` (raw, 1: ``PlayMusic/train_PlayMusic_full.json``, record
  461): an emoji (U+1F355) stored as a CESU-8 surrogate pair, which strict
  UTF-8 rejects. The file is decoded with ``surrogatepass`` and the pair
  re-joined into the real character, counted per affected record.
* ``missing_space_between_slots`` (raw, 6, e.g. ``closest`` + ``cinema``
  written "closestcinema"): two adjacent entity values with no space between
  them would make one token with two labels; the lost space is put back.
* ``slot_value_whitespace_trimmed`` (raw, 10): an entity chunk with spaces
  around its value; the span is trimmed to the value, so the spaces are not
  mistaken for a boundary inside a token.
* ``span_boundary_inside_token`` (raw, 86): an entity boundary falls inside a
  token (e.g. "5" in "5pm"); the whole token is tagged.
* ``embedded_newline`` (raw, 144: utterances ending in a newline) and
  ``whitespace_normalised`` (raw, 669): collapsed by the base class.
* ``duplicate_within_split/*``, ``cross_split_duplicate/*``: repeated
  utterances (bio train: 225 repeats once whitespace is collapsed, 189 exact
  repeated lines), counted by the base class; dropping them would change the
  published split sizes.

Malformed rows (under the ``on_error`` policy): ``line_count_mismatch`` (one
bio file a line short: the gap is located by the rows whose tags stop fitting
their tokens or their label's slot types, and blamed on the short file at that
line; the unpaired row is dropped, and so is any row whose pairing is in doubt,
so no label shifts onto another row), ``empty_file``,
``slot_token_mismatch`` and ``invalid_bio_tag`` (a ``seq.out`` line whose tags
do not fit its ``seq.in`` line, located in ``seq.out``), ``unknown_label``
(located in ``label``), ``bad_encoding``,
``bad_json``, ``bad_record`` (a raw record of the wrong shape),
``slot_span_mismatch`` (an entity that covers no token or overlaps another),
plus the base checks (``empty_utterance``, ``unknown_label``).
"""

from __future__ import annotations

import pathlib
import re
from typing import Any, Mapping

import tensorflow_datasets as tfds

from fsnlu_jax.data import bio
from fsnlu_jax.data.builders import _readers
from fsnlu_jax.data.builders._base import NLUBuilder, Splits
from fsnlu_jax.data.schema import Example, OUTSIDE
from fsnlu_jax.data.tokenize import tokenize_with_offsets

INTENTS = ("AddToPlaylist", "BookRestaurant", "GetWeather", "PlayMusic", "RateBook",
           "SearchCreativeWork", "SearchScreeningEvent")

# The slot types of each intent (bio splits, all three): used only to locate a
# line missing from one of the line-aligned bio files, never to reject a row.
SLOT_TYPES = {
    "AddToPlaylist": {"artist", "entity_name", "music_item", "playlist", "playlist_owner"},
    "BookRestaurant": {"city", "country", "cuisine", "facility", "party_size_description",
                       "party_size_number", "poi", "restaurant_name", "restaurant_type",
                       "served_dish", "sort", "spatial_relation", "state", "timeRange"},
    "GetWeather": {"city", "condition_description", "condition_temperature", "country",
                   "current_location", "geographic_poi", "spatial_relation", "state",
                   "timeRange"},
    "PlayMusic": {"album", "artist", "genre", "music_item", "playlist", "service", "sort",
                  "track", "year"},
    "RateBook": {"best_rating", "object_name", "object_part_of_series_type", "object_select",
                 "object_type", "rating_unit", "rating_value"},
    "SearchCreativeWork": {"object_name", "object_type"},
    "SearchScreeningEvent": {"location_name", "movie_name", "movie_type", "object_location_type",
                             "object_type", "spatial_relation", "timeRange"},
}

_BIO_URL = "https://raw.githubusercontent.com/MiuLab/SlotGated-SLU/master/data/snips/{split}/{file}"
_RAW_URL = ("https://raw.githubusercontent.com/sonos/nlu-benchmark/master/"
            "2017-06-custom-intent-engines/{intent}/{file}")
_BIO_DIR = "bio_slotgated"
_RAW_DIR = "raw_2017-06-custom-intent-engines"

# upstream folder -> split name
_BIO_SPLITS = {"train": "train", "valid": "validation", "test": "test"}
# split name -> raw file name pattern
_RAW_SPLITS = {
    "train_full": "train_{intent}_full.json",
    "train_small": "train_{intent}.json",
    "validation": "validate_{intent}.json",
}

BIO_FILES = {
    f"{_BIO_DIR}/{split}/{file}": _BIO_URL.format(split=split, file=file)
    for split in _BIO_SPLITS for file in ("seq.in", "seq.out", "label")
}
RAW_FILES = {
    f"{_RAW_DIR}/{intent}/{pattern.format(intent=intent)}":
        _RAW_URL.format(intent=intent, file=pattern.format(intent=intent))
    for pattern in _RAW_SPLITS.values() for intent in INTENTS
}

_SURROGATE = re.compile("[\ud800-\udfff]")
_REPLACEMENT = "\ufffd"


class Snips(NLUBuilder, skip_registration=False):
  """SNIPS intents and slots (Coucke et al., 2018); see the module docstring."""

  name = "snips"
  FOLDER = "snips"
  FILES = {**BIO_FILES, **RAW_FILES}
  BUILDER_CONFIGS = [
      tfds.core.BuilderConfig(
          name="bio",
          description="The Slot-Gated SLU BIO split, train/validation/test (13084/700/700)."),
      tfds.core.BuilderConfig(
          name="raw",
          description="The canonical span-annotated JSON, train_full/train_small/validation"
                      " (13784/2100/700)."),
  ]
  HOMEPAGE = "https://github.com/sonos/nlu-benchmark"
  CITATION = ("Coucke et al. 2018. Snips Voice Platform: an embedded Spoken Language"
              " Understanding system for private-by-design voice interfaces. arXiv:1805.10190.")

  @classmethod
  def config_files(cls, config: str | None) -> Mapping[str, str]:
    return RAW_FILES if config == "raw" else BIO_FILES

  def _known_intents(self, files):
    return set(INTENTS)

  def _read_splits(self, files) -> Splits:
    if self.builder_config.name == "bio":
      return {split: self._read_bio({name: files[f"{_BIO_DIR}/{folder}/{name}"]
                                     for name in ("seq.in", "seq.out", "label")})
              for folder, split in _BIO_SPLITS.items()}
    splits: Splits = {}
    for split, pattern in _RAW_SPLITS.items():
      splits[split] = []
      for intent in INTENTS:
        name = pattern.format(intent=intent)
        splits[split].extend(self._read_raw(files[f"{_RAW_DIR}/{intent}/{name}"], intent))
    return splits

  # ---- bio ----------------------------------------------------------------

  def _read_bio(self, paths: Mapping[str, pathlib.Path]) -> list[Example]:
    lines = {name: self._read_lines(path) for name, path in paths.items()}
    text_path, tag_path, label_path = paths["seq.in"], paths["seq.out"], paths["label"]
    for name, found in lines.items():
      if not found:
        self._malformed(paths[name], 1, "empty_file", "0 lines",
                        rows=max(len(f) for f in lines.values()))
        return []
    # A line lost from one file would pair every later row with its
    # neighbour's lines: located by the rows that stop making sense (see
    # _contradicts), and only the rows that cannot be paired surely are dropped.
    rows, problem = _readers.align(lines, _contradicts)
    if problem is not None:
      self._report(paths[problem.file], problem)
    examples = []
    for row in rows:
      text, tags, intent = (lines[name][row[name]] for name in ("seq.in", "seq.out", "label"))
      if text is None or tags is None or intent is None:
        continue  # an undecodable line, already reported by _read_lines
      line, tag_line = row["seq.in"] + 1, row["seq.out"] + 1
      tokens, slots = text.split(), tags.split()
      # Checked here, not only in _example, to blame seq.out (seq.in defines the tokens).
      if len(tokens) != len(slots):
        self._malformed(tag_path, tag_line, "slot_token_mismatch",
                        f"{len(slots)} tags for the {len(tokens)} tokens of"
                        f" {self._where(text_path, line)}")
        continue
      bad = [t for t in slots if not (t == OUTSIDE or (len(t) > 2 and t[:2] in ("B-", "I-")))]
      if bad:
        self._malformed(tag_path, tag_line, "invalid_bio_tag", " ".join(bad))
        continue
      example = self._example(text_path, line, text=text, tokens=tokens, intent=intent,
                              domain=intent.strip(), slots=slots,
                              label_at=(label_path, row["label"] + 1))
      if example is None:
        continue
      if _REPLACEMENT in text:
        self.defects.add("replacement_character", example.source)
      examples.append(example)
    return examples

  # ---- raw ----------------------------------------------------------------

  def _read_raw(self, path: pathlib.Path, intent: str) -> list[Example]:
    # surrogatepass: lone surrogates (CESU-8) are kept for _read_record to repair.
    data = self._read_json(path, errors="surrogatepass")
    if data is None:
      return []
    records = data.get(intent) if isinstance(data, dict) else None
    if not isinstance(records, list):
      self._malformed(path, 1, "bad_record", f"no {intent!r} list", rows=None)
      return []
    if not records:
      self._malformed(path, 1, "empty_file", f"no records in the {intent!r} list", rows=None)
      return []
    examples = []
    for index, record in enumerate(records):
      example = self._read_record(path, f"{intent}[{index}]", intent, record)
      if example is not None:
        examples.append(example)
    return examples

  def _read_record(self, path: pathlib.Path, line: str, intent: str,
                   record: Any) -> Example | None:
    if not _is_snips_record(record):
      return self._malformed(path, line, "bad_record", repr(record)[:80])
    chunks, repaired, glued = [], False, 0
    for chunk in record["data"]:
      value, entity = chunk["text"], chunk.get("entity")
      if _SURROGATE.search(value):
        try:
          # The surrogate pair becomes the real character via UTF-16, where
          # such a pair is exactly how that character is written.
          value = value.encode("utf-16", "surrogatepass").decode("utf-16")
        except UnicodeDecodeError as error:  # an unpaired surrogate
          return self._malformed(path, line, "bad_encoding", str(error))
        repaired = True
      if not value:
        continue  # an empty chunk holds nothing (one sits between two glued values)
      if entity is not None and chunks and chunks[-1][1] is not None and _glued(
          chunks[-1][0], value):
        # Two slot values written with no space between them ("closestcinema")
        # would become one token with two labels; the space the template
        # lost is put back, so both keep their label.
        chunks.append((" ", None))
        glued += 1
      chunks.append((value, entity))
    where = self._where(path, line)
    if repaired:
      self.defects.add("non_utf8_emoji", where)
    if glued:
      self.defects.add("missing_space_between_slots", where, n=glued)
    text = "".join(value for value, _ in chunks)
    tokens = tokenize_with_offsets(text)
    slots = None
    if tokens:  # an empty utterance is reported by _example, not as a span error
      spans, start, trimmed = [], 0, 0
      for value, entity in chunks:
        end = start + len(value)
        if entity is not None:
          # Spaces around a value are not part of it; left in, they would read
          # as a span boundary inside a token.
          lead, trail = len(value) - len(value.lstrip()), len(value) - len(value.rstrip())
          trimmed += bool(lead or trail)
          if lead < len(value):
            spans.append((start + lead, end - trail, entity))
          else:
            return self._malformed(path, line, "slot_span_mismatch",
                                   f"entity {entity!r} has a blank value {value!r}")
        start = end
      try:
        slots, partial = bio.char_spans_to_bio(tokens, spans)
      except bio.SpanAlignmentError as error:
        return self._malformed(path, line, "slot_span_mismatch", str(error))
      if trimmed:
        self.defects.add("slot_value_whitespace_trimmed", where, n=trimmed)
      if partial:
        self.defects.add("span_boundary_inside_token", where, n=partial)
    return self._example(path, line, text=text, tokens=[t.text for t in tokens],
                         intent=intent, domain=intent, slots=slots)


def _contradicts(row: Mapping[str, str]) -> bool:
  """Whether the lines of one bio row cannot belong together.

  Tags must match tokens one for one, and slot types must belong to the
  label's intent (:data:`SLOT_TYPES`); a label that is no intent says nothing.
  """
  tokens, tags, intent = row["seq.in"].split(), row["seq.out"].split(), row["label"].strip()
  if len(tokens) != len(tags):
    return True
  allowed = SLOT_TYPES.get(intent)
  return allowed is not None and any(t[2:] not in allowed for t in tags if t != OUTSIDE)


def _glued(left: str, right: str) -> bool:
  """Whether the tokenizer would join the end of ``left`` and the start of ``right``."""
  cut = len(left)
  return any(t.start < cut < t.end for t in tokenize_with_offsets(left + right, lower=False))


def _is_snips_record(record: Any) -> bool:
  """Whether ``record`` is ``{"data": [{"text": str, "entity"?: str}, ...]}``."""
  if not (isinstance(record, dict) and isinstance(record.get("data"), list)):
    return False
  return all(
      isinstance(chunk, dict) and isinstance(chunk.get("text"), str)
      and isinstance(chunk.get("entity", ""), str)
      for chunk in record["data"])
