"""Word scores made visible: an HTML page of coloured words and a PNG heat map.

Red means the word pushed *toward* the explained output (positive
attribution), blue away from it; the strength of the colour is the score over
the largest absolute score on the page, so rows of one page compare.

Shapes: ``Y`` rows (explained outputs), ``Lw`` words.
"""

from __future__ import annotations

import html
import os
from typing import Sequence

import numpy as np

from fsnlu_jax import _plotting as plotting

_RED, _BLUE = (214, 39, 40), (31, 119, 180)


def _rows(words: Sequence[str], scores, row_labels: Sequence[str] | None
          ) -> tuple[np.ndarray, list[str]]:
  """``scores`` as ``[Y, Lw]`` floats and ``Y`` row labels, checked against ``words``."""
  scores = np.asarray(scores, dtype=np.float64)
  scores = scores[None] if scores.ndim == 1 else scores  # --> [Y, Lw]
  if scores.ndim != 2 or scores.shape[1] != len(words):
    raise ValueError(f"scores of shape {scores.shape} do not fit {len(words)} words")
  labels = [""] * len(scores) if row_labels is None else [str(x) for x in row_labels]
  if len(labels) != len(scores):
    raise ValueError(f"{len(labels)} row labels for {len(scores)} rows of scores")
  return scores, labels


def _scale(scores: np.ndarray) -> float:
  peak = float(np.max(np.abs(scores))) if scores.size else 0.0
  return peak if peak > 0 else 1.0


def score_colour(score: float, scale: float) -> str:
  """CSS colour of one score: red (positive) or blue (negative), opacity ``|score| / scale``.

  >>> score_colour(0.5, 1.0), score_colour(-2.0, 1.0)
  ('rgba(214, 39, 40, 0.500)', 'rgba(31, 119, 180, 1.000)')
  """
  r, g, b = _RED if score >= 0 else _BLUE
  alpha = min(abs(score) / scale, 1.0) if scale > 0 else 0.0
  return f"rgba({r}, {g}, {b}, {alpha:.3f})"


def words_html(words: Sequence[str], scores, *, row_labels: Sequence[str] | None = None,
               title: str = "Word attributions", note: str = "") -> str:
  """A standalone HTML page: one line of coloured words per explained output.

  Each word's tooltip holds its score.

  >>> page = words_html(["tell", "us", "a", "story"], [0.1, 0.0, -0.2, 0.9],
  ...                   row_labels=["play_audiobook"])
  >>> "rgba(214, 39, 40, 1.000)" in page and ">story<" in page
  True

  Args:
    words: ``Lw`` words (escaped here).
    scores: ``[Lw]`` or ``[Y, Lw]`` scores.
    row_labels: ``Y`` labels, e.g. the explained intent of each row.
    title: the page's heading.
    note: a line under the heading (escaped), e.g. the prediction.

  Returns:
    The page as a string.
  """
  scores, labels = _rows(words, scores, row_labels)
  scale = _scale(scores)
  lines = []
  for label, row in zip(labels, scores):
    spans = " ".join(
        f'<span class="w" style="background:{score_colour(s, scale)}" title="{s:+.4f}">'
        f"{html.escape(w)}</span>" for w, s in zip(words, row))
    lines.append(f'<tr><th>{html.escape(label)}</th><td>{spans}</td></tr>')
  return "\n".join([
      "<!DOCTYPE html>", '<html><head><meta charset="utf-8">',
      f"<title>{html.escape(title)}</title>",
      "<style>body{font-family:sans-serif} th{text-align:right;padding-right:1em;"
      "font-weight:normal;color:#555} .w{padding:2px 4px;margin:1px;border-radius:3px;"
      "line-height:2em}</style></head><body>",
      f"<h3>{html.escape(title)}</h3>",
      f"<p>{html.escape(note)}</p>" if note else "",
      f"<p>red: pushed toward the row's output; blue: away from it; full colour = "
      f"{scale:.4g}</p>",
      "<table>", *lines, "</table></body></html>", ""])


def heatmap_png(path: str | os.PathLike, words: Sequence[str], scores, *,
                row_labels: Sequence[str] | None = None,
                title: str = "Word attributions") -> bool:
  """Writes a heat map (rows: explained outputs, columns: words) with the scores in the cells.

  Needs matplotlib (the ``plot`` extra).

  Args:
    path: the PNG file.
    words, scores, row_labels, title: as in :func:`words_html`.

  Returns:
    True when written, False without matplotlib (logged).
  """
  scores, labels = _rows(words, scores, row_labels)
  plt = plotting.pyplot("word-importance heat map")
  if plt is None:
    return False
  scale = _scale(scores)
  fig, ax = plt.subplots(figsize=(1.0 + 0.9 * len(words), 1.2 + 0.5 * len(labels)))
  image = ax.imshow(scores, cmap="RdBu_r", vmin=-scale, vmax=scale, aspect="auto")
  ax.set_xticks(range(len(words)), labels=list(words), rotation=30, ha="right")
  ax.set_yticks(range(len(labels)), labels=labels)
  for (r, c), s in np.ndenumerate(scores):
    ax.text(c, r, f"{s:.2f}", ha="center", va="center", fontsize=8,
            color="white" if abs(s) > 0.6 * scale else "black")
  ax.set_title(title)
  fig.colorbar(image, ax=ax, fraction=0.03)
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)
  return True
