"""The standard NLU metrics, computed host-side in NumPy.

Intent accuracy and macro-F1, slot micro-F1 over BIO spans (conlleval rules),
semantic error rate (SemER), episode means with t-distribution confidence
intervals, and relative error reduction. Arrays may be NumPy or JAX: everything
goes through ``np.asarray`` first, so no device work happens here.
"""

from __future__ import annotations

import collections
import dataclasses
import math
from typing import Any, Hashable, Iterable, Sequence

import numpy as np

from fsnlu_jax.data.bio import bio_to_spans
from fsnlu_jax.data.schema import OUTSIDE

__all__ = [
    "EpisodeStats",
    "SemanticErrors",
    "SlotScores",
    "SpanCounts",
    "corpus_semantic_errors",
    "intent_accuracy",
    "macro_f1",
    "mean_confidence_interval",
    "relative_error_reduction",
    "semantic_error_rate",
    "semantic_errors",
    "slot_f1",
    "slot_items",
    "student_t_quantile",
]


# ------------------------------------------------------------------ intents


def _paired_labels(pred: Any, gold: Any, ignore: Any) -> tuple[np.ndarray, np.ndarray]:
  """Flat ``[N]`` predictions and gold labels, rows with ``gold == ignore`` removed."""
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


# -------------------------------------------------------------------- slots


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


# ------------------------------------------------------------------- SemER

SlotItem = tuple[str, tuple[str, ...]]  # (slot type, value as tokens)


def slot_items(tokens: Sequence[str], tags: Sequence[str]) -> list[SlotItem]:
  """The ``(type, value tokens)`` slots of one tagged utterance, for SemER.

  >>> slot_items(["fly", "to", "new", "york"], ["O", "O", "B-city", "I-city"])
  [('city', ('new', 'york'))]
  """
  if len(tokens) != len(tags):
    raise ValueError(f"slot_items: {len(tokens)} tokens but {len(tags)} tags")
  return [(t, tuple(tokens[a:b])) for t, a, b in bio_to_spans(tags)]


@dataclasses.dataclass(frozen=True)
class SemanticErrors:
  """Substitutions, deletions and insertions against ``n_ref`` reference items."""

  substitutions: int = 0
  deletions: int = 0
  insertions: int = 0
  n_ref: int = 0

  @property
  def errors(self) -> int:
    return self.substitutions + self.deletions + self.insertions

  @property
  def rate(self) -> float:
    """SemER ``(S + D + I) / n_ref``; can exceed 1 through insertions."""
    if not self.n_ref:
      raise ValueError("SemER: no reference items")
    return self.errors / self.n_ref

  def __add__(self, other: SemanticErrors) -> SemanticErrors:
    return SemanticErrors(self.substitutions + other.substitutions,
                          self.deletions + other.deletions,
                          self.insertions + other.insertions,
                          self.n_ref + other.n_ref)


def _slot_value(value: str | Sequence[str]) -> tuple[str, ...]:
  # Values are compared as token sequences: a string is split on whitespace so
  # "new  york" and ("new", "york") are the same value.
  return tuple(value.split()) if isinstance(value, str) else tuple(value)


def semantic_errors(
    ref: tuple[Hashable, Iterable[tuple[str, str | Sequence[str]]]],
    hyp: tuple[Hashable, Iterable[tuple[str, str | Sequence[str]]]],
) -> SemanticErrors:
  """SemER error counts of one utterance.

  The intent is one item: a wrong intent is one substitution. Slots are
  ``(type, value)`` pairs, values compared as token sequences (position in
  the utterance is ignored). Matching rule, per slot type ``t`` with reference
  values ``R_t`` and hypothesis values ``H_t`` (multisets):

  1. exact matches ``m = |R_t ∩ H_t|`` are correct;
  2. of the rest, ``s = min(|R_t| - m, |H_t| - m)`` pairs are substitutions
     (right type, wrong value);
  3. reference slots left over are deletions, hypothesis slots left over are
     insertions.

  So a slot with the right value but the wrong type is a deletion plus an
  insertion, and the number of reference items is ``1 + len(ref slots)``.

  Args:
    ref: ``(intent, slots)`` of the reference.
    hyp: ``(intent, slots)`` of the hypothesis.

  Returns:
    :class:`SemanticErrors` of this utterance.

  References:
    Goyal, Metallinou & Matsoukas, "Fast and Scalable Expansion of Natural
    Language Understanding Functionality for Intelligent Agents", NAACL-HLT
    2018 (industry track); the slot error rate of Makhoul et al., "Performance
    measures for information extraction", DARPA Broadcast News Workshop 1999.

  >>> semantic_errors(("play", [("artist", "adele")]),
  ...                 ("play", [("artist", "adel"), ("room", "kitchen")]))
  SemanticErrors(substitutions=1, deletions=0, insertions=1, n_ref=2)
  """
  ref_intent, ref_slots = ref
  hyp_intent, hyp_slots = hyp
  ref_by_type: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
  hyp_by_type: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
  for slot_type, value in ref_slots:
    ref_by_type[slot_type][_slot_value(value)] += 1
  for slot_type, value in hyp_slots:
    hyp_by_type[slot_type][_slot_value(value)] += 1
  subs = int(ref_intent != hyp_intent)
  dels = ins = 0
  n_ref = 1
  for slot_type in set(ref_by_type) | set(hyp_by_type):
    r, h = ref_by_type[slot_type], hyp_by_type[slot_type]
    n_r, n_h = sum(r.values()), sum(h.values())
    matched = sum((r & h).values())
    s = min(n_r - matched, n_h - matched)
    subs += s
    dels += n_r - matched - s
    ins += n_h - matched - s
    n_ref += n_r
  return SemanticErrors(subs, dels, ins, n_ref)


def corpus_semantic_errors(refs: Sequence[Any], hyps: Sequence[Any]) -> SemanticErrors:
  """:func:`semantic_errors` summed over utterances (``refs[i]`` vs ``hyps[i]``)."""
  if len(refs) != len(hyps):
    raise ValueError(f"SemER: {len(refs)} references but {len(hyps)} hypotheses")
  return sum((semantic_errors(r, h) for r, h in zip(refs, hyps)), SemanticErrors())


def semantic_error_rate(refs: Sequence[Any], hyps: Sequence[Any]) -> float:
  """Corpus SemER: all errors over all reference items (not a mean of rates).

  Args:
    refs: ``(intent, slots)`` per utterance, slots ``[(type, value), ...]``.
    hyps: the same for the hypotheses, aligned with ``refs``.

  Returns:
    ``sum(S + D + I) / sum(1 + len(ref slots))``, see :func:`semantic_errors`.

  References:
    Goyal, Metallinou & Matsoukas, NAACL-HLT 2018 (industry track).

  >>> semantic_error_rate([("wake", [("time", "7 am")]), ("stop", [])],
  ...                     [("wake", [("time", "7 am")]), ("play", [])])
  0.3333333333333333
  """
  return corpus_semantic_errors(refs, hyps).rate


# ------------------------------------------------------ episode statistics


def _betacf(a: float, b: float, x: float) -> float:
  """Continued fraction of the incomplete beta function (modified Lentz)."""
  tiny, eps = 1e-300, 1e-15
  qab, qap, qam = a + b, a + 1.0, a - 1.0
  c, d = 1.0, 1.0 - qab * x / qap
  d = 1.0 / (d if abs(d) > tiny else tiny)
  h = d
  for m in range(1, 1000):
    m2 = 2 * m
    for num in (m * (b - m) * x / ((qam + m2) * (a + m2)),
                -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
      d = 1.0 + num * d
      d = 1.0 / (d if abs(d) > tiny else tiny)
      c = 1.0 + num / c
      c = c if abs(c) > tiny else tiny
      h *= d * c
    if abs(d * c - 1.0) < eps:
      break
  return h


def _regularized_beta(a: float, b: float, x: float) -> float:
  """``I_x(a, b)``, the regularised incomplete beta function."""
  if x <= 0.0:
    return 0.0
  if x >= 1.0:
    return 1.0
  log_front = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
               + a * math.log(x) + b * math.log1p(-x))
  # The continued fraction converges fast only for x < (a+1)/(a+b+2); use the
  # symmetry I_x(a, b) = 1 - I_{1-x}(b, a) on the other side.
  if x < (a + 1.0) / (a + b + 2.0):
    return math.exp(log_front) * _betacf(a, b, x) / a
  return 1.0 - math.exp(log_front) * _betacf(b, a, 1.0 - x) / b


def _t_upper_tail(t: float, df: float) -> float:
  """``P(T > t)`` for ``t >= 0`` and Student's t with ``df`` degrees of freedom."""
  return 0.5 * _regularized_beta(df / 2.0, 0.5, df / (df + t * t))


def student_t_quantile(p: float, df: float) -> float:
  """Quantile of Student's t distribution (inverse CDF), without scipy.

  Inverts ``P(T <= t) = 1 - I_{df/(df+t^2)}(df/2, 1/2) / 2`` by bisection, to
  about 1e-12 relative accuracy.

  Args:
    p: probability in (0, 1).
    df: degrees of freedom, > 0.

  References:
    Abramowitz & Stegun, Handbook of Mathematical Functions, 26.5.27 and
    26.7.1; Press et al., Numerical Recipes (3rd ed.), section 6.4 (betacf).

  >>> round(student_t_quantile(0.975, 4), 3)
  2.776
  """
  if not 0.0 < p < 1.0:
    raise ValueError(f"student_t_quantile: p={p} not in (0, 1)")
  if not df > 0:
    raise ValueError(f"student_t_quantile: df={df} must be > 0")
  if p == 0.5:
    return 0.0
  tail = min(p, 1.0 - p)
  hi = 1.0
  while _t_upper_tail(hi, df) > tail:
    hi *= 2.0
  lo = 0.0
  for _ in range(200):
    mid = 0.5 * (lo + hi)
    if _t_upper_tail(mid, df) > tail:
      lo = mid
    else:
      hi = mid
    if hi - lo <= 1e-13 * hi:
      break
  t = 0.5 * (lo + hi)
  return t if p > 0.5 else -t


def mean_confidence_interval(values: Any, *, confidence: float = 0.95) -> tuple[float, float]:
  """Mean and half-width of its two-sided t confidence interval.

  ``half_width = t_{(1+confidence)/2, n-1} * s / sqrt(n)`` with ``s`` the
  sample standard deviation (``ddof=1``): the "mean ± 95% CI over 600
  episodes" of few-shot papers.

  Args:
    values: ``[n]`` per-episode values, ``n >= 2``.
    confidence: coverage of the interval, in (0, 1).

  Returns:
    ``(mean, half_width)``.

  Raises:
    ValueError: fewer than two values, or a non-finite one.

  References:
    Krone, Zhang & Diab, "Learning to Classify Intents and Slot Labels Given a
    Handful of Examples", 2020 (the FS-unseen protocol's reporting).

  >>> m, h = mean_confidence_interval([1.0, 2.0, 3.0, 4.0, 5.0])
  >>> round(m, 3), round(h, 3)  # 2.776 * sqrt(2.5) / sqrt(5)
  (3.0, 1.963)
  """
  x = np.asarray(values, dtype=np.float64).reshape(-1)
  if x.size < 2:
    raise ValueError(f"mean_confidence_interval: needs >= 2 values, got {x.size}")
  if not np.all(np.isfinite(x)):
    raise ValueError("mean_confidence_interval: values contain NaN or inf")
  if not 0.0 < confidence < 1.0:
    raise ValueError(f"mean_confidence_interval: confidence={confidence} not in (0, 1)")
  t = student_t_quantile(0.5 + confidence / 2.0, x.size - 1)
  return float(x.mean()), float(t * x.std(ddof=1) / math.sqrt(x.size))


@dataclasses.dataclass
class EpisodeStats:
  """Collects per-episode metrics and summarises them as mean ± t interval.

  >>> stats = EpisodeStats()
  >>> for acc in (0.8, 0.9, 1.0):
  ...   stats.add(accuracy=acc)
  >>> s = stats.summary()["accuracy"]
  >>> round(s["mean"], 3), round(s["half_width"], 3), s["n"]
  (0.9, 0.248, 3)
  """

  values: dict[str, list[float]] = dataclasses.field(default_factory=dict)

  def add(self, **metrics: float) -> None:
    """Records one episode's value of each named metric."""
    for name, value in metrics.items():
      self.values.setdefault(name, []).append(float(value))

  def mean_ci(self, name: str, *, confidence: float = 0.95) -> tuple[float, float]:
    """``(mean, half_width)`` of one metric, see :func:`mean_confidence_interval`."""
    if name not in self.values:
      raise KeyError(f"EpisodeStats: no metric {name!r}; have {sorted(self.values)}")
    return mean_confidence_interval(self.values[name], confidence=confidence)

  def summary(self, *, confidence: float = 0.95) -> dict[str, dict[str, float]]:
    """``{metric: {"mean", "half_width", "n", "confidence"}}``, JSON-ready."""
    out: dict[str, dict[str, float]] = {}
    for name, vals in self.values.items():
      mean, half = mean_confidence_interval(vals, confidence=confidence)
      out[name] = {"mean": mean, "half_width": half, "n": len(vals),
                   "confidence": confidence}
    return out


def relative_error_reduction(baseline_error: float, new_error: float) -> float:
  """``(e_base - e_new) / e_base``: the share of the baseline's errors removed.

  Errors are e.g. ``1 - F1`` or SemER; a negative result means the new system
  is worse.

  Raises:
    ValueError: ``baseline_error`` is not positive (nothing to reduce).

  References:
    Kumar et al., "ProtoDA: Efficient Transfer Learning for Few-Shot Intent
    Classification", IEEE SLT 2021, which reports "8.4% fewer F1 errors".

  >>> round(relative_error_reduction(0.20, 0.1832), 3)  # F1 0.80 -> 0.8168
  0.084
  """
  if not baseline_error > 0:
    raise ValueError(
        f"relative_error_reduction: baseline_error={baseline_error} must be > 0")
  return (baseline_error - new_error) / baseline_error
