"""Intent metrics: accuracy and macro-F1 (scikit-learn's convention)."""

from __future__ import annotations

from typing import Any, Hashable, Sequence

import numpy as np


def _paired_labels(pred: Any, gold: Any, ignore: Any) -> tuple[np.ndarray, np.ndarray]:
  """Flat (1-D) predictions and gold labels, rows with ``gold == ignore`` removed."""
  pred, gold = np.asarray(pred).reshape(-1), np.asarray(gold).reshape(-1)
  if pred.shape != gold.shape:
    raise ValueError(f"pred has {pred.size} labels but gold has {gold.size}")
  if ignore is not None:
    keep = np.array([g != ignore for g in gold.tolist()], dtype=bool)
    pred, gold = pred[keep], gold[keep]
  return pred, gold


def intent_accuracy(pred: Any, gold: Any, *, ignore: Any = -1) -> float:
  """Fraction of utterances whose predicted intent equals the gold one.

  Args:
    pred: ``[B]`` predicted intent ids (or names).
    gold: ``[B]`` gold intent ids (or names); rows equal to ``ignore`` (padding
      in a fixed-size batch) are left out of numerator and denominator.
    ignore: gold value marking a row to skip; ``None`` keeps every row.

  Returns:
    Accuracy in [0, 1].

  Raises:
    ValueError: shapes differ, or no row is left to score (an accuracy of 0/0
      is a bug upstream, not a number to log).

  >>> intent_accuracy([1, 2, 3, 0], [1, 2, 0, -1])
  0.6666666666666666
  """
  pred, gold = _paired_labels(pred, gold, ignore)
  if gold.size == 0:
    raise ValueError("intent_accuracy: no labelled rows to score")
  return float(np.mean(pred == gold))


def macro_f1(
    pred: Any,
    gold: Any,
    *,
    n_classes: int | None = None,
    labels: Sequence[Hashable] | None = None,
    ignore: Any = -1,
) -> float:
  """Unweighted mean of per-class F1 (scikit-learn's ``average="macro"``).

  Per class ``c``: ``F1_c = 2 tp / (2 tp + fp + fn)``, and 0 when ``c`` is
  neither predicted nor gold (scikit-learn's ``zero_division=0``). The classes
  averaged over are, as in ``sklearn.metrics.f1_score(average="macro")``,
  the union of the labels present in ``gold`` and in ``pred`` (after dropping
  ignored rows) -- so a class never predicted and never seen counts nowhere,
  while a wrongly predicted class that has no gold example counts as F1 0.
  Pass ``labels`` to average over a fixed set instead (e.g. all N classes of
  an episode, so that episodes are comparable); predictions of classes outside
  ``labels`` still count as misses of their gold class.

  Args:
    pred: ``[B]`` predicted class ids (or names).
    gold: ``[B]`` gold class ids (or names).
    n_classes: when given, ids must lie in ``[0, n_classes)``; it only checks
      the input and does not change which classes are averaged.
    labels: the classes to average over, overriding the union rule.
    ignore: gold value marking a row to skip; ``None`` keeps every row.

  Returns:
    Macro-F1 in [0, 1].

  Raises:
    ValueError: shapes differ, an id is outside ``[0, n_classes)``, or nothing
      is left to average over.

  References:
    scikit-learn ``f1_score`` (``average="macro"``, ``zero_division=0``).

  >>> round(macro_f1([0, 0, 1, 2], [0, 1, 1, 1]), 4)  # (2/3 + 1/2 + 0) / 3
  0.3889
  """
  pred, gold = _paired_labels(pred, gold, ignore)
  if n_classes is not None:
    for name, values in (("pred", pred), ("gold", gold)):
      bad = [v for v in values.tolist() if not 0 <= v < n_classes]
      if bad:
        raise ValueError(f"macro_f1: {name} id {bad[0]} outside [0, {n_classes})")
  if labels is None:
    classes = sorted(set(gold.tolist()) | set(pred.tolist()))
  else:
    classes = list(labels)
  if not classes:
    raise ValueError("macro_f1: no class to average over")
  f1s = []
  for c in classes:
    tp = int(np.sum((pred == c) & (gold == c)))
    fp = int(np.sum((pred == c) & (gold != c)))
    fn = int(np.sum((pred != c) & (gold == c)))
    denom = 2 * tp + fp + fn
    f1s.append(2 * tp / denom if denom else 0.0)
  return float(np.mean(f1s))
