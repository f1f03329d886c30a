"""The one example schema shared by every dataset in fsnlu_jax.

Every builder, real or synthetic, yields :class:`Example` records with the same
fields, so that downstream code (vocabulary, arrays, episodes, models) never
needs to know which dataset it is reading.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import numpy as np

OUTSIDE = "O"


@dataclasses.dataclass(frozen=True)
class Example:
  """One labelled utterance.

  Attributes:
    text: the utterance as the dataset gives it (after on-purpose repairs such
      as stripping surrounding whitespace; repairs are counted as defects).
    tokens: word tokens of ``text``; models read these, never ``text``.
    intent: the intent label (for datasets with scenarios, ``scenario_action``).
    slots: one BIO tag per token (``O``, ``B-type``, ``I-type``); all ``O`` for
      intent-only datasets.
    domain: the domain or scenario the intent belongs to.
    source: where the record came from, ``folder/relative/path:line`` with a
      1-based line for line-based files (CSV, JSON lines, text) and for the
      records of a top-level JSON list (the line each record opens on), or
      ``folder/path:key[index]`` (0-based index into the list under ``key``)
      for a JSON document, so any figure can be traced back to the raw file.
  """

  text: str
  tokens: tuple[str, ...]
  intent: str
  slots: tuple[str, ...]
  domain: str
  source: str

  def __post_init__(self):
    if len(self.tokens) != len(self.slots):
      raise ValueError(
          f"{self.source}: {len(self.tokens)} tokens but {len(self.slots)} slot"
          f" tags in {self.text!r}")

  def to_record(self) -> dict[str, Any]:
    """The TFDS feature dict for this example."""
    return {
        "text": self.text,
        "tokens": list(self.tokens),
        "intent": self.intent,
        "slots": list(self.slots),
        "domain": self.domain,
        "source": self.source,
    }

  @classmethod
  def from_record(cls, record: Mapping[str, Any]) -> "Example":
    """Inverse of :meth:`to_record`; accepts the bytes a TFDS data source returns."""
    return cls(
        text=_str(record["text"]),
        tokens=tuple(_str(t) for t in record["tokens"]),
        intent=_str(record["intent"]),
        slots=tuple(_str(t) for t in record["slots"]),
        domain=_str(record["domain"]),
        source=_str(record["source"]),
    )

  @property
  def slot_types(self) -> set[str]:
    """Slot types mentioned by this example's BIO tags."""
    return {tag[2:] for tag in self.slots if tag != OUTSIDE}


def _str(value: Any) -> str:
  if isinstance(value, (bytes, np.bytes_)):
    return value.decode("utf-8")
  return str(value)


def tfds_features():
  """The TFDS ``FeaturesDict`` matching :class:`Example` (imports TFDS lazily)."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

  text = tfds.features.Text
  return tfds.features.FeaturesDict({
      "text": text(),
      "tokens": tfds.features.Sequence(text()),
      "intent": text(),
      "slots": tfds.features.Sequence(text()),
      "domain": text(),
      "source": text(),
  })
