"""``selection.png``: what each strategy's selected utterances bought, against the base model."""

from __future__ import annotations

import pathlib
import re
from typing import Any, Mapping

from fsnlu_jax import _plotting as plotting

_RUN = re.compile(r"^(?P<strategy>.+)_k(?P<k>\d+)$")


def plot_selection(results: Mapping[str, Any], out: pathlib.Path) -> bool:
  """Test intent error and SemER against the budget, one line per strategy.

  Budget 0 is the base model (trained on the labelled set alone), shared by
  every strategy's line, so a one-budget run still draws a visible segment.

  Args:
    results: the job's ``results.json`` content (``base`` and ``runs``).
    out: the PNG to write.

  Returns:
    False (nothing drawn) without matplotlib.
  """
  plt = plotting.pyplot("selection plot")
  if plt is None:
    return False
  curves: dict[str, list[tuple[int, Mapping[str, Any]]]] = {}
  for name, run in results["runs"].items():
    match = _RUN.match(name)
    if match:
      curves.setdefault(match["strategy"], []).append((int(match["k"]), run))
  fig, axes = plt.subplots(1, 2, figsize=(10, 4))
  for ax, key, label in ((axes[0], "intent_error", "intent error rate (test)"),
                         (axes[1], "semer", "SemER (test)")):
    for strategy, points in sorted(curves.items()):
      points = [(0, results["base"]), *sorted(points, key=lambda p: p[0])]
      plotting.line(ax, [k for k, _ in points], [r[key] for _, r in points], label=strategy)
    plotting.finish(ax, title=f"selection: {key} by budget", xlabel="utterances added (budget)",
                    ylabel=label)
  plotting.save(plt, fig, out)
  return True
