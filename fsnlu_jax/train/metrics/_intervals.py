"""Episode statistics: means with t-distribution confidence intervals, relative error reduction."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np


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
