"""``results.png``: every rewriting system's test precision, recall and F1 side by side."""

from __future__ import annotations

import pathlib
from typing import Any, Mapping

import numpy as np

from fsnlu_jax import _plotting as plotting

_METRICS = ("precision", "recall", "f1")


def plot_results(results: Mapping[str, Any], out: pathlib.Path) -> bool:
  """Grouped bars: one group per system, one bar per metric (thresholds chosen on validation).

  Args:
    results: the job's ``results.json`` content (its ``test`` entry).
    out: the PNG to write.

  Returns:
    False (nothing drawn) without matplotlib.
  """
  plt = plotting.pyplot("rewriting plot")
  if plt is None:
    return False
  systems = list(results["test"])
  x = np.arange(len(systems))
  width = 0.8 / len(_METRICS)
  fig, ax = plt.subplots(figsize=(max(6.0, 1.2 * len(systems)), 4))
  for i, metric in enumerate(_METRICS):
    values = [results["test"][s][metric] or 0.0 for s in systems]
    bars = ax.bar(x + (i - 1) * width, values, width, label=metric)
    ax.bar_label(bars, fmt="%.2f", fontsize=6)
  ax.set_xticks(x, systems, rotation=20, ha="right", fontsize=8)
  ax.set_ylim(0, 1.05)
  plotting.finish(ax, title="query rewriting on test pairs", xlabel="system",
                  ylabel="precision / recall / F1")
  plotting.save(plt, fig, out)
  return True
