"""Summaries that can decide between few-shot systems: spread, intervals, paired differences.

Every system is scored on the same episodes (FS-unseen) or samplings
(FS-full), and every trained system with the same training seeds, so a
score is an array ``[S, E]`` (``S`` training seeds, ``E`` episodes; a system
without training, e.g. the softmax baseline, repeats its ``[E]`` row for each
seed). Two systems are then compared by their *paired* per-episode
differences, which removes the episodes' own difficulty from the spread (2-3x
tighter intervals than comparing two unpaired means), and the training seeds'
variance shows in an interval over the ``S`` per-seed means.

Shapes: ``S`` training seeds, ``E`` episodes or samplings.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from fsnlu_jax.train import metrics as metrics_lib

# The comparisons the ProtoDA paper makes: (new, baseline).
PAIRS = (("protoda", "gaussian"), ("protonet", "softmax"), ("protoda", "protonet"),
         ("protonet", "centroid"), ("softmax", "centroid"), ("contrastive", "softmax"))


def summary(values: np.ndarray, *, confidence: float = 0.95) -> dict[str, float]:
  """``{mean, sd, half_width, n, confidence}`` of ``values`` (``[S, E]`` or ``[E]``).

  ``sd`` and the t interval are over all ``S * E`` values; with ``S >= 2``
  also ``seed_sd`` and ``seed_half_width``: over the ``S`` per-seed means
  (the training seeds' variance).

  >>> s = summary(np.array([[0.8, 0.9, 1.0]]))
  >>> round(s["mean"], 3), round(s["sd"], 3), round(s["half_width"], 3), s["n"]
  (0.9, 0.1, 0.248, 3)
  """
  x = np.asarray(values, np.float64)
  x = x.reshape(1, -1) if x.ndim == 1 else x
  mean, half = metrics_lib.mean_confidence_interval(x.reshape(-1), confidence=confidence)
  out = dict(mean=mean, sd=float(x.std(ddof=1)), half_width=half, n=int(x.size),
             confidence=confidence)
  if x.shape[0] >= 2:
    seed_means = x.mean(1)
    _, seed_half = metrics_lib.mean_confidence_interval(seed_means, confidence=confidence)
    out.update(seeds=int(x.shape[0]), seed_means=seed_means.tolist(),
               seed_sd=float(seed_means.std(ddof=1)), seed_half_width=seed_half)
  return out


def paired_differences(scores: Mapping[str, Mapping[str, np.ndarray]], *,
                       pairs=PAIRS, metrics=("accuracy", "macro_f1")) -> dict[str, dict]:
  """``{"new-base": {metric: summary(new - base)}}`` for each pair both present.

  Args:
    scores: system -> metric -> ``[S, E]`` (or ``[1, E]``, broadcast over
      seeds) per-episode values on the same episodes.
  """
  out = {}
  for new, base in pairs:
    if new in scores and base in scores:
      out[f"{new}-{base}"] = {m: summary(np.subtract(*np.broadcast_arrays(scores[new][m],
                                                                          scores[base][m])))
                              for m in metrics}
  return out
