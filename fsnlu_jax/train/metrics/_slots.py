"""Slot micro-F1 over BIO spans, by conlleval rules."""

from __future__ import annotations

import collections
import dataclasses
from typing import Any, Sequence

import numpy as np

from fsnlu_jax.data.bio import bio_to_spans


@dataclasses.dataclass(frozen=True)
class SpanCounts:
  """Span counts of one slot type (or of all), with conlleval's ratios.

  conlleval reports precision and recall as 0 when their denominator is 0, so
  an all-O batch scored against all-O gold gives F1 0, not 1.
  """

  tp: int = 0
  n_pred: int = 0
  n_gold: int = 0

  @property
  def precision(self) -> float:
    return self.tp / self.n_pred if self.n_pred else 0.0

  @property
  def recall(self) -> float:
    return self.tp / self.n_gold if self.n_gold else 0.0

  @property
  def f1(self) -> float:
    # Equal to 2PR/(P+R) whenever that is defined, and exact: F1 is 1.0 only
    # when tp == n_pred == n_gold.
    total = self.n_pred + self.n_gold
    return 2 * self.tp / total if total else 0.0

  def __add__(self, other: SpanCounts) -> SpanCounts:
    return SpanCounts(self.tp + other.tp, self.n_pred + other.n_pred,
                      self.n_gold + other.n_gold)


@dataclasses.dataclass(frozen=True)
class SlotScores:
  """Slot micro-F1 over a corpus: totals plus a per-slot-type breakdown."""

  total: SpanCounts
  per_type: dict[str, SpanCounts]

  @property
  def precision(self) -> float:
    return self.total.precision

  @property
  def recall(self) -> float:
    return self.total.recall

  @property
  def f1(self) -> float:
    return self.total.f1

  @property
  def tp(self) -> int:
    return self.total.tp

  @property
  def n_pred(self) -> int:
    return self.total.n_pred

  @property
  def n_gold(self) -> int:
    return self.total.n_gold


def _tag_sequences(
    seqs: Any,
    tag_names: Sequence[str] | None,
    mask: Any,
    lengths: Any,
    what: str,
) -> list[list[str]]:
  """Tag-name sequences from names, or from ``[B, L]`` ids plus a mask/lengths."""
  if tag_names is None:
    if mask is not None or lengths is not None:
      raise ValueError("slot_f1: mask/lengths apply to id arrays; pass tag_names")
    return [list(s) for s in seqs]
  ids = np.asarray(seqs)
  if ids.ndim != 2:
    raise ValueError(f"slot_f1: {what} ids must be [B, L], got shape {ids.shape}")
  if mask is not None and lengths is not None:
    raise ValueError("slot_f1: pass mask or lengths, not both")
  if lengths is not None:
    lengths = np.asarray(lengths).reshape(-1)
    keep = np.arange(ids.shape[1])[None, :] < lengths[:, None]
  elif mask is not None:
    keep = np.asarray(mask, dtype=bool)
  else:
    keep = np.ones(ids.shape, dtype=bool)
  if keep.shape != ids.shape:
    raise ValueError(f"slot_f1: mask shape {keep.shape} != {what} shape {ids.shape}")
  out = []
  for row, row_keep in zip(ids, keep):
    kept = row[row_keep].tolist()
    bad = [i for i in kept if not 0 <= i < len(tag_names)]
    if bad:
      raise ValueError(
          f"slot_f1: {what} tag id {bad[0]} outside [0, {len(tag_names)})")
    out.append([tag_names[i] for i in kept])
  return out


def slot_f1(
    pred: Any,
    gold: Any,
    *,
    tag_names: Sequence[str] | None = None,
    mask: Any = None,
    lengths: Any = None,
) -> SlotScores:
  """Slot micro-F1 over BIO spans, following conlleval.

  A predicted span is correct only when its type, first token and last token
  all match a gold span. Spans are read with :func:`fsnlu_jax.data.bio.bio_to_spans`,
  i.e. conlleval's reading: an ``I-x`` that does not continue an ``x`` span
  (after ``O``, or after a span of another type) starts a new span, and
  ``B-x I-y`` is two spans. Counts are summed over the corpus before the
  ratios are taken (micro average).

  Args:
    pred: predicted tags: a sequence of tag-name sequences, or, with
      ``tag_names``, ``[B, L]`` integer tag ids.
    gold: gold tags in the same form as ``pred``.
    tag_names: ``[T]`` tag name of each id; switches to id-array input.
    mask: ``[B, L]`` bool, which positions are tokens (ids input only).
    lengths: ``[B]`` number of tokens per row, an alternative to ``mask``.

  Returns:
    :class:`SlotScores`: ``precision``, ``recall``, ``f1``, ``tp``,
    ``n_pred``, ``n_gold`` and ``per_type`` (slot type -> :class:`SpanCounts`).

  Raises:
    ValueError: a row has different pred and gold lengths, an id is outside
      ``tag_names``, or shapes disagree.

  References:
    CoNLL-2000 shared task evaluation script ``conlleval`` (Tjong Kim Sang &
    Buchholz, 2000); seqeval's default (non-strict) mode agrees.

  >>> s = slot_f1([["B-city", "O", "I-date"]], [["B-city", "O", "B-date"]])
  >>> (s.tp, s.n_pred, s.n_gold, s.f1)
  (2, 2, 2, 1.0)
  >>> s = slot_f1([[1, 2, 0]], [[1, 0, 0]], tag_names=["O", "B-x", "I-x"],
  ...             lengths=[2])
  >>> (s.tp, s.n_pred, s.n_gold)
  (0, 1, 1)
  """
  pred_tags = _tag_sequences(pred, tag_names, mask, lengths, "pred")
  gold_tags = _tag_sequences(gold, tag_names, mask, lengths, "gold")
  if len(pred_tags) != len(gold_tags):
    raise ValueError(
        f"slot_f1: {len(pred_tags)} predicted sequences but {len(gold_tags)} gold")
  tp: collections.Counter[str] = collections.Counter()
  n_pred: collections.Counter[str] = collections.Counter()
  n_gold: collections.Counter[str] = collections.Counter()
  for row, (p, g) in enumerate(zip(pred_tags, gold_tags)):
    if len(p) != len(g):
      raise ValueError(
          f"slot_f1: row {row} has {len(p)} predicted tags but {len(g)} gold")
    p_spans, g_spans = set(bio_to_spans(p)), set(bio_to_spans(g))
    n_pred.update(s[0] for s in p_spans)
    n_gold.update(s[0] for s in g_spans)
    tp.update(s[0] for s in p_spans & g_spans)
  per_type = {
      t: SpanCounts(tp[t], n_pred[t], n_gold[t])
      for t in sorted(set(n_pred) | set(n_gold))
  }
  total = sum(per_type.values(), SpanCounts())
  return SlotScores(total=total, per_type=per_type)
