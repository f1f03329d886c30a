"""Every notebook's code runs at tiny settings (``FSNLU_NOTEBOOK_TINY=1``).

The code cells of each ``notebooks/*.ipynb`` are run in order, in this
process, in one namespace per notebook, from ``notebooks/`` (as Jupyter runs
them): no kernel start-up per notebook, and the compilations of one notebook
serve the next where shapes agree. A cell that fails names the notebook and
the cell. The saved outputs are the full-size run's
(``jupyter nbconvert --execute --to notebook --inplace``); this checks the
code still runs against the package, not those outputs.

**Only the cheap part** of a notebook with a code cell tagged ``train`` (cell
metadata ``"tags": ["train"]``) runs here: the cells before the first such
cell. Those are the transfer and rewriting notebooks, whose three bi-LSTM
trainings and rewriter training + five decoders take 15-30 s even at tiny
settings, over this test's budget; their jobs run at the same tiny configs in
tests/transfer and tests/rewrite, and their later cells' imports and module
attributes are checked by tests/test_benchmarks.py.

The active-learning notebook's tiny settings are tests/active/test_loop.py's
(models, seed set and pool sizes): in one pytest run the two share their
compilations, and the notebook costs ~0.1 s.
"""

from __future__ import annotations

import json
import pathlib

import pytest

NOTEBOOKS = pathlib.Path(__file__).resolve().parents[1] / "notebooks"


def code_cells(path: pathlib.Path) -> list[str]:
  """The sources of a notebook's code cells, in order, up to its first ``train`` cell."""
  cells = []
  for c in json.loads(path.read_text(encoding="utf-8"))["cells"]:
    if "train" in c.get("metadata", {}).get("tags", []):
      break
    if c["cell_type"] == "code":
      cells.append("".join(c["source"]))
  return cells


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.stem)
def test_notebook_runs_at_tiny_settings(path, monkeypatch, tmp_path, cache_dir):
  monkeypatch.setenv("FSNLU_NOTEBOOK_TINY", "1")
  monkeypatch.setenv("MPLBACKEND", "Agg")
  monkeypatch.setenv("FSNLU_CACHE_DIR", str(cache_dir))  # the suite's: the corpus built once
  monkeypatch.setattr("tempfile.tempdir", str(tmp_path))  # the notebooks' work folders
  monkeypatch.chdir(NOTEBOOKS)
  namespace = {"__name__": "__main__"}
  cells = code_cells(path)
  assert cells, f"{path.name}: no code cell to run"
  for i, source in enumerate(cells):
    assert not any(line.lstrip().startswith(("!", "%")) for line in source.splitlines()), (
        f"{path.name} cell {i}: shell or magic lines do not run outside Jupyter")
    try:
      exec(compile(source, f"{path.name}[code cell {i}]", "exec"), namespace)  # pylint: disable=exec-used
    except Exception as error:
      raise AssertionError(f"{path.name}, code cell {i} failed: {error!r}") from error
