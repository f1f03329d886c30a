"""Every plot has a title, axis labels, and markers on its curves (issue 19, problem 10).

The figures are caught before they are written (``_plotting.save``) and read
back through matplotlib's own API, so no image is compared.
"""

from __future__ import annotations

import json

import pytest

from fsnlu_jax import _plotting as plotting
from fsnlu_jax import transfer
from fsnlu_jax.fewshot import report
from fsnlu_jax.rewrite import plots as rewrite_plots
from fsnlu_jax.selection import plots as selection_plots


@pytest.fixture
def figures(monkeypatch):
  """The figures the plot functions would have written, by file name."""
  caught = {}

  def save(plt, fig, path):
    caught[path.name] = fig

  monkeypatch.setattr(plotting, "save", save)
  yield caught
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  for fig in caught.values():
    plt.close(fig)


def _write_run(folder, evals: int) -> None:
  """A run's metrics.jsonl: 3 train records, ``evals`` eval records (1: a one-point curve)."""
  folder.mkdir(parents=True)
  records = [dict(kind="train", step=s, loss=1.0 / s) for s in (2, 4, 6)]
  records += [dict(kind="eval", step=6 * (i + 1), intent_acc=0.5, slot_f1=0.4, semer=0.6,
                   accuracy=0.7, macro_f1=0.6) for i in range(evals)]
  (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


def _check(fig) -> None:
  for ax in fig.axes:
    if ax.get_label() == "<colorbar>":
      continue
    assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel(), ax
    for line in ax.get_lines():
      # A one-point curve drawn as a line alone is invisible: every curve has markers.
      assert line.get_marker() not in (None, "None", "", " "), line.get_label()


def test_learning_curves_and_comparisons_are_labelled_and_marked(tmp_path, figures):
  _write_run(tmp_path / "base", evals=1)  # select/base: one evaluation, at the last step
  _write_run(tmp_path / "scratch", evals=2)
  assert transfer.plot_learning_curve(tmp_path / "base" / "metrics.jsonl",
                                      tmp_path / "base" / "learning_curve.png")
  assert transfer.plot_comparison({"fine-tuned": tmp_path / "base",
                                   "from scratch": tmp_path / "scratch"}, tmp_path / "cmp.png")
  fewshot = tmp_path / "fewshot"
  _write_run(fewshot / "protonet", evals=1)
  assert report.plot_learning_curves(fewshot, ["protonet"])
  assert report.plot_confusion(fewshot, dict(intents=["a", "b"], counts=[[3, 1], [0, 4]]))
  assert set(figures) == {"learning_curve.png", "cmp.png", "confusion.png"}
  for fig in figures.values():
    _check(fig)
  one_point = figures["cmp.png"].axes[0].get_lines()[0]
  assert len(one_point.get_xdata()) == 1


def test_rewriting_and_selection_results_are_plotted(tmp_path, figures):
  systems = {name: dict(precision=p, recall=r, f1=f) for name, p, r, f in
             (("global", 0.5, 0.4, 0.44), ("both", 0.0, 0.0, 0.0), ("copy", 0.1, 0.1, 0.1))}
  assert rewrite_plots.plot_results(dict(test=systems), tmp_path / "results.png")
  run = lambda e: dict(intent_error=e, semer=e + 0.1)
  assert selection_plots.plot_selection(
      dict(base=run(0.3), runs={"ig_k12": run(0.25), "random_k12": run(0.28)}),
      tmp_path / "selection.png")
  for name in ("results.png", "selection.png"):
    _check(figures[name])
  bars = figures["results.png"].axes[0].patches
  assert len(bars) == 9  # 3 systems x precision, recall, F1
  lines = figures["selection.png"].axes[0].get_lines()
  assert sorted(line.get_label() for line in lines) == ["ig", "random"]
  assert [list(line.get_xdata()) for line in lines] == [[0, 12], [0, 12]]  # base at budget 0
