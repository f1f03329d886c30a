"""The record of a semantic-parsing dataset: an utterance and its trees.

Intent/slot datasets share :class:`~fsnlu_jax.data.schema.Example`; an
utterance whose meaning is a tree (PIZZA: nested orders, quantities, negation)
cannot be forced into one intent and BIO tags without loss, so it gets its own
record, :class:`ParseExample`, with its own TFDS features. Trees are kept as
the dataset writes them (strings); :func:`fsnlu_jax.data.trees.parse_tree`
reads them (the builder has already checked that they parse).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from fsnlu_jax.data.schema import _str
from fsnlu_jax.data.trees import Tree, parse_tree


@dataclasses.dataclass(frozen=True)
class ParseExample:
  """One utterance with its semantic trees.

  Attributes:
    text: the utterance (PIZZA: lower-cased, whitespace-normalised).
    tokens: its words, exactly the words of the TOP tree, in order.
    top: the TOP tree over the utterance's own words, e.g.
      ``(ORDER i want (PIZZAORDER (NUMBER two ) pizzas ) )``.
    exr: the executable tree with resolved entities, e.g.
      ``(ORDER (PIZZAORDER (NUMBER 2 ) ) )``.
    pcfg_err: PIZZA's ``PCFG_ERR`` flag: True when the authors' grammar-based
      generator could *not* produce this utterance (a harder, more natural row).
    source: ``folder/file:line`` (1-based) of the row.
  """

  text: str
  tokens: tuple[str, ...]
  top: str
  exr: str
  pcfg_err: bool
  source: str

  def top_tree(self) -> Tree:
    return parse_tree(self.top, self.source)

  def exr_tree(self) -> Tree:
    return parse_tree(self.exr, self.source)

  def to_record(self) -> dict[str, Any]:
    """The TFDS feature dict for this example."""
    return {"text": self.text, "tokens": list(self.tokens), "top": self.top, "exr": self.exr,
            "pcfg_err": bool(self.pcfg_err), "source": self.source}

  @classmethod
  def from_record(cls, record: Mapping[str, Any]) -> "ParseExample":
    """Inverse of :meth:`to_record`; accepts the bytes a TFDS data source returns."""
    return cls(text=_str(record["text"]), tokens=tuple(_str(t) for t in record["tokens"]),
               top=_str(record["top"]), exr=_str(record["exr"]),
               pcfg_err=bool(record["pcfg_err"]), source=_str(record["source"]))

  @classmethod
  def tfds_features(cls):
    """The TFDS ``FeaturesDict`` matching this record (imports TFDS lazily)."""
    import numpy as np  # pylint: disable=g-import-not-at-top
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

    text = tfds.features.Text
    return tfds.features.FeaturesDict({
        "text": text(),
        "tokens": tfds.features.Sequence(text()),
        "top": text(),
        "exr": text(),
        "pcfg_err": tfds.features.Scalar(np.bool_),
        "source": text(),
    })
