"""How fast a run converges, read from its evaluation curve, and how transfer compares with scratch.

A *curve* is a run's evaluations in step order: ``[{"step": int, "semer": float}, ...]``
(the ``kind="eval"`` records of ``metrics.jsonl``; other keys are ignored).

Two measures (EVALUATION.md, TL):

* **own convergence**: the first step whose SemER is within ``within`` of the
  run's own best (:func:`run_convergence`);
* **reaching scratch's best**: the first step at which the transfer run's
  SemER is at most the from-scratch run's best, against the first step at
  which the from-scratch run got there (:func:`pair_convergence`); their ratio
  is the speed-up.

A run that *never learns* must not count as fast: its flat curve is "within
``within`` of its best" at the first evaluation. A run learned when its best
SemER is at least ``min_gain`` below its first evaluation's. The first
evaluation comes ``eval_every`` steps after freshly drawn output layers, so a
run already at its best there is also reported apart (a conservative rule for
transfer: such a run would otherwise show the largest speed-up). Pairs are
reported apart, by reason, whenever a ratio would not mean "faster":
:data:`PAIR_STATUSES`.
"""

from __future__ import annotations

import statistics
from typing import Any, Iterable, Mapping, Sequence

Curve = Sequence[Mapping[str, Any]]

WITHIN = 0.01  # absolute SemER: "within 0.01 of its own best" (EVALUATION.md)
MIN_GAIN = 0.05  # absolute SemER a run must gain over its first evaluation to have learned

# "ok": both learned and transfer reached scratch's best, a speed-up is defined.
PAIR_STATUSES = ("ok", "scratch_never_learned", "transfer_never_learned", "never_reached")


def first_step_at_most(curve: Curve, target: float) -> int | None:
  """The first evaluation step whose SemER is at most ``target``; None if none is."""
  return next((int(r["step"]) for r in curve if r["semer"] <= target), None)


def run_convergence(curve: Curve, *, within: float = WITHIN,
                    min_gain: float = MIN_GAIN) -> dict[str, Any]:
  """One run's convergence.

  Returns:
    ``best`` SemER, ``best_step`` (its first step), ``converged_step`` (first
    step within ``within`` of the best), ``first`` (SemER of the first
    evaluation) and ``learned`` (``first - best >= min_gain``).

  Raises:
    ValueError: an empty curve.
  """
  if not curve:
    raise ValueError("a convergence needs at least one evaluation")
  best = min(r["semer"] for r in curve)
  first = curve[0]["semer"]
  return dict(best=best, best_step=first_step_at_most(curve, best),
              converged_step=first_step_at_most(curve, best + within), first=first,
              learned=bool(first - best >= min_gain))


def pair_convergence(transfer: Curve, scratch: Curve, *, within: float = WITHIN,
                     min_gain: float = MIN_GAIN) -> dict[str, Any]:
  """Transfer against scratch trained on the same utterances.

  Returns:
    ``status`` (one of :data:`PAIR_STATUSES`, checked in that order after
    "ok": a scratch run that never learned makes the pair meaningless
    whatever transfer did); ``reach_step``: the first step of transfer at
    or below scratch's best SemER (None: never); ``scratch_best_step``;
    ``speedup``: ``scratch_best_step / reach_step`` when ``status == "ok"``,
    else None; ``own_ratio``: the ratio of the two runs' own convergence
    steps (within ``within`` of their own best) when both learned, else
    None; and each run's :func:`run_convergence` as ``transfer`` / ``scratch``.
  """
  t = run_convergence(transfer, within=within, min_gain=min_gain)
  s = run_convergence(scratch, within=within, min_gain=min_gain)
  reach = first_step_at_most(transfer, s["best"])
  if not s["learned"]:
    status = "scratch_never_learned"
  elif not t["learned"]:
    status = "transfer_never_learned"
  elif reach is None:
    status = "never_reached"
  else:
    status = "ok"
  both = s["learned"] and t["learned"]
  return dict(status=status, reach_step=reach, scratch_best_step=s["best_step"],
              speedup=s["best_step"] / reach if status == "ok" else None,
              own_ratio=s["converged_step"] / t["converged_step"] if both else None,
              transfer=t, scratch=s)


def summarize_pairs(pairs: Iterable[Mapping[str, Any]], *, goal: float = 3.0
                    ) -> dict[str, Any]:
  """Counts per status, and the speed-ups of the "ok" pairs only.

  Returns:
    ``pairs``, ``counts`` (per status), ``speedup_mean`` / ``_median`` /
    ``_min`` over "ok" pairs (None if none), ``at_least_goal``: how many "ok"
    pairs reach ``goal``, and ``own_ratio_mean`` / ``_median`` over the pairs
    where both runs learned.
  """
  pairs = list(pairs)
  counts = {st: sum(p["status"] == st for p in pairs) for st in PAIR_STATUSES}
  speedups = [p["speedup"] for p in pairs if p["status"] == "ok"]
  own = [p["own_ratio"] for p in pairs if p["own_ratio"] is not None]

  def stat(fn, xs):
    return float(fn(xs)) if xs else None

  return dict(pairs=len(pairs), counts=counts,
              speedup_mean=stat(statistics.mean, speedups),
              speedup_median=stat(statistics.median, speedups),
              speedup_min=stat(min, speedups), goal=goal,
              at_least_goal=sum(x >= goal for x in speedups),
              own_ratio_mean=stat(statistics.mean, own),
              own_ratio_median=stat(statistics.median, own))
