"""Optional plots: matplotlib (the ``plot`` extra) with a headless backend, or nothing."""

from __future__ import annotations

import logging

_log = logging.getLogger(__name__)


def pyplot(what: str):
  """``matplotlib.pyplot`` on the Agg backend, or None (logged) when not installed.

  Args:
    what: the plot a caller would have drawn, for the log line.
  """
  try:
    import matplotlib  # pylint: disable=g-import-not-at-top
    matplotlib.use("Agg")  # jobs run headless
    from matplotlib import pyplot as plt  # pylint: disable=g-import-not-at-top
  except ImportError:
    _log.info("matplotlib not installed (extra 'plot'): no %s written", what)
    return None
  return plt


def line(ax, xs, ys, *, label: str | None = None, **kwargs) -> None:
  """One curve, always with markers: a one-point curve (a run of one evaluation) stays visible."""
  points = [(x, y) for x, y in zip(xs, ys) if y is not None]  # null: a non-finite value
  kwargs.setdefault("marker", "o")
  kwargs.setdefault("markersize", 4)
  ax.plot([x for x, _ in points], [y for _, y in points], label=label, **kwargs)


def finish(ax, *, title: str, xlabel: str, ylabel: str, legend: bool = True) -> None:
  """Every plot's title, axis labels and (when there are labelled lines) legend."""
  ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
  if legend and ax.get_legend_handles_labels()[0]:
    ax.legend(fontsize="small")


def save(plt, fig, path) -> None:
  """Lays out, writes and closes ``fig``."""
  fig.tight_layout()
  fig.savefig(path)
  plt.close(fig)
