"""The few-shot job's report: the results table, learning curves and the confusion of test intents.

Shapes: ``C`` intents.
"""

from __future__ import annotations

import pathlib
from typing import Any, Mapping

import numpy as np

from fsnlu_jax import _plotting as plotting
from fsnlu_jax.train import jsonl


def format_table(results: Mapping[str, Any]) -> str:
  """A text table: one row per setting, accuracy / macro-F1 (mean ± 95% CI) per
  system; FS-full rows follow when ``results`` has them."""
  protocol = "FS-full" if results.get("protocol") == "fs_full" else "FS-unseen"
  lines = _table_lines(f"{results.get('dataset', '')} {protocol}", results["settings"])
  if "fs_full" in results:
    lines += _table_lines(f"{results.get('dataset', '')} FS-full (test intents)",
                          results["fs_full"]["settings"])
  return "\n".join(lines)


def _table_lines(title: str, settings) -> list[str]:
  systems = list(settings[0]["systems"]) if settings else []
  seeds = settings[0].get("training_seeds", 1) if settings else 1
  lines = [f"{title}: accuracy / macro-F1 (%), mean ± 95% CI ({seeds} training seed(s))",
           f"{'N':>4} {'K':>3}  " + "  ".join(f"{s:^27}" for s in systems)]
  for st in settings:
    cells = []
    for s in systems:
      a, f = st["systems"][s]["accuracy"], st["systems"][s]["macro_f1"]
      cells.append(f"{100 * a['mean']:5.1f}±{100 * a['half_width']:3.1f} / "
                   f"{100 * f['mean']:5.1f}±{100 * f['half_width']:3.1f}")
    lines.append(f"{st['n_way']:>4} {st['k_shot']:>3}  " + "  ".join(f"{c:^27}" for c in cells))
  pairs = list(settings[0].get("paired_differences", {})) if settings else []
  if pairs:
    lines.append("  paired per-episode differences (points; mean ± 95% CI over seeds x episodes"
                 + (", [± CI over the seeds' means]" if seeds > 1 else "") + "):")
    lines.append(f"{'N':>4} {'K':>3}  " + "  ".join(f"{p:^34}" for p in pairs))
    for st in settings:
      cells = [_difference_cell(st["paired_differences"][p]) for p in pairs]
      lines.append(f"{st['n_way']:>4} {st['k_shot']:>3}  " + "  ".join(f"{c:^34}" for c in cells))
  return lines


def _difference_cell(diff) -> str:
  cells = []
  for metric in ("accuracy", "macro_f1"):
    d = diff[metric]
    cell = f"{100 * d['mean']:+5.1f}±{100 * d['half_width']:3.1f}"
    if "seed_half_width" in d:
      cell += f"[{100 * d['seed_half_width']:3.1f}]"
    cells.append(cell)
  return " / ".join(cells)


def plot_learning_curves(workdir: pathlib.Path, systems) -> bool:
  """``learning_curve.png``: each run's train loss and validation accuracy.

  Returns False (and draws nothing) without matplotlib.
  """
  plt = plotting.pyplot("learning curve")
  if plt is None:
    return False
  fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
  for run in sorted(p.parent for p in workdir.glob("*/metrics.jsonl")):
    if run.name == "encoder":
      continue
    records = jsonl.read(run / "metrics.jsonl")
    for axis, kind, key in ((left, "train", "loss"), (right, "eval", "accuracy")):
      rows = [r for r in records if r["kind"] == kind]
      plotting.line(axis, [r["step"] for r in rows], [r[key] for r in rows], label=run.name,
                    markersize=2 if kind == "train" else 4)
  plotting.finish(left, title="few-shot systems: training", xlabel="step",
                  ylabel="episode loss (train)", legend=False)
  plotting.finish(right, title="few-shot systems: validation", xlabel="step",
                  ylabel="accuracy (validation intents)")
  plotting.save(plt, fig, workdir / "learning_curve.png")
  return True


def plot_confusion(workdir: pathlib.Path, view: Mapping[str, Any]) -> bool:
  """``confusion.png``: row-normalised confusion of the test intents; False without matplotlib."""
  plt = plotting.pyplot("confusion plot")
  if plt is None:
    return False
  counts = np.asarray(view["counts"], float)
  rates = counts / np.maximum(counts.sum(1, keepdims=True), 1)
  size = max(4.0, 0.25 * len(view["intents"]))
  fig, ax = plt.subplots(figsize=(size + 2, size))
  image = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
  ax.set_xticks(range(len(view["intents"])), view["intents"], rotation=90, fontsize=6)
  ax.set_yticks(range(len(view["intents"])), view["intents"], fontsize=6)
  ax.set(xlabel="predicted", ylabel="gold", title="ProtoDA, test intents")
  fig.colorbar(image, label="share of the gold intent's queries")
  plotting.save(plt, fig, workdir / "confusion.png")
  return True


def top_confusions(view: Mapping[str, Any], k: int = 10) -> list[dict[str, Any]]:
  """The ``k`` most frequent (gold, predicted) pairs of different intents."""
  counts = np.asarray(view["counts"])
  off = counts * (1 - np.eye(len(counts), dtype=counts.dtype))
  order = np.argsort(off, axis=None)[::-1][:k]
  pairs = [np.unravel_index(i, off.shape) for i in order]
  return [dict(gold=view["intents"][g], predicted=view["intents"][p], count=int(off[g, p]))
          for g, p in pairs if off[g, p] > 0]


def write_confusion(workdir: pathlib.Path, view: Mapping[str, Any]) -> None:
  """``confusion.json`` (counts and the top confusions) and ``confusion.png``."""
  jsonl.write(workdir / "confusion.json", dict(view, top_confusions=top_confusions(view)))
  plot_confusion(workdir, view)
