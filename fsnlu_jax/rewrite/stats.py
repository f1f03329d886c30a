"""Paired comparisons of rewriting systems over training seeds and test pairs.

Every system of a run is scored on the same test pairs, and runs that differ
only in the training seed score the same pairs too (the evaluation pairs
depend on ``data.seed`` alone), so two systems are compared by their
per-pair outcomes (:func:`fsnlu_jax.rewrite.systems.outcomes`: ``a``
abstained, ``w`` wrong, ``c`` correct). Precision is a ratio of sums
(correct / outputs), not a mean over pairs, so its interval comes from a
paired bootstrap over the test pairs (the same resampled pairs for both
systems and every seed), beside a t interval over the training seeds' own
differences.

Shapes: ``S`` training seeds, ``B`` test pairs, ``R`` bootstrap resamples.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from fsnlu_jax.rewrite.scoring import precision_recall_f1
from fsnlu_jax.train import metrics as metrics_lib

METRICS = ("precision", "recall", "f1")


def outcome_arrays(codes: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
  """``(output [S, B] bool, correct [S, B] bool)`` of one outcome string per seed."""
  chars = np.array([list(c) for c in codes])
  if chars.ndim != 2 or not np.isin(chars, list("awc")).all():
    raise ValueError("outcomes: one string of 'a'/'w'/'c' per seed, all of one length")
  return chars != "a", chars == "c"


def prf(output: np.ndarray, correct: np.ndarray) -> dict[str, np.ndarray]:
  """Precision, recall and F1 over the last axis (``[..., B]`` -> ``[...]``).

  >>> r = prf(np.array([True, True, False, True]), np.array([True, False, False, True]))
  >>> [round(float(r[m]), 3) for m in METRICS]
  [0.667, 0.5, 0.571]
  """
  return dict(zip(METRICS, precision_recall_f1(correct.sum(-1), output.sum(-1),
                                                output.shape[-1])))


def compare(new: Sequence[str], base: Sequence[str], *, resamples: int = 2000, seed: int = 0,
            confidence: float = 0.95) -> dict[str, dict]:
  """``new`` - ``base`` in precision, recall and F1, paired.

  Args:
    new, base: one outcome string per training seed, all over the same ``B``
      pairs; a system without training (retrieval) may give one string,
      repeated for every seed of the other.
    resamples: bootstrap resamples of the pairs.

  Returns:
    Per metric: ``new`` and ``base`` (seed means), ``difference`` (their
    difference), ``seed_differences`` (per seed), ``seed_sd`` and
    ``seed_half_width`` (t interval over the seeds; ``None`` with one seed),
    ``pairs_interval`` (percentile interval of the seed-averaged difference
    over bootstrap resamples of the pairs); for precision also
    ``relative`` (``difference / base``, the paper's kind of figure).
  """
  (no, nc), (bo, bc) = outcome_arrays(new), outcome_arrays(base)
  if no.shape[1] != bo.shape[1]:
    raise ValueError(f"outcomes over {no.shape[1]} and {bo.shape[1]} pairs: not the same pairs")
  seeds = max(len(no), len(bo))
  if {len(no), len(bo)} - {1, seeds}:
    raise ValueError(f"{len(no)} and {len(bo)} seeds: give as many, or one for an untrained system")
  no, nc, bo, bc = (np.broadcast_to(x, (seeds, x.shape[1])) for x in (no, nc, bo, bc))
  point_new, point_base = prf(no, nc), prf(bo, bc)  # [S] each
  rng = np.random.default_rng(seed)
  rows = rng.integers(0, no.shape[1], size=(resamples, no.shape[1]))  # [R, B]
  boot_new, boot_base = prf(no[:, rows], nc[:, rows]), prf(bo[:, rows], bc[:, rows])  # [S, R]
  tail = 100 * (1 - confidence) / 2
  out = {}
  for m in METRICS:
    diff = point_new[m] - point_base[m]  # [S]
    boot = (boot_new[m] - boot_base[m]).mean(0)  # [R]
    half = (metrics_lib.mean_confidence_interval(diff, confidence=confidence)[1]
            if seeds > 1 else None)
    out[m] = dict(new=float(point_new[m].mean()), base=float(point_base[m].mean()),
                  difference=float(diff.mean()), seed_differences=diff.tolist(),
                  seed_sd=float(diff.std(ddof=1)) if seeds > 1 else None,
                  seed_half_width=half,
                  pairs_interval=[float(np.percentile(boot, tail)),
                                  float(np.percentile(boot, 100 - tail))])
  base_p = out["precision"]["base"]
  out["precision"]["relative"] = out["precision"]["difference"] / base_p if base_p else None
  return out
