"""THE training loop: window-mean logs, evaluations and the best one, resume, data-order check."""

from __future__ import annotations

import json

import jax
import numpy as np
import optax
import pytest

from fsnlu_jax import parallel, train
from tests.train import _toy


def _setup(seed: int = 3):
  mesh = parallel.make_data_mesh()
  optimizer = optax.adam(1e-2)
  graphdef, state = train.init_train_state(_toy.make_model(), optimizer, jax.random.key(seed),
                                           mesh)
  return mesh, graphdef, state, train.make_train_step(graphdef, _toy.loss_fn, optimizer, mesh)


def _batch(step: int):
  data = _toy.dataset()
  rows = train.epoch_rows(step, _toy.ROWS, _toy.BATCH, seed=5)
  return {k: v[rows] for k, v in data.items()}


def _run(workdir, steps: int, *, evaluate=None, fail_at=None, data_order=None, record=None,
         best=train.BestMetric("accuracy"), keep_best=False):
  mesh, _, state, step = _setup()

  def batch(s):
    if s == fail_at:
      raise KeyboardInterrupt("killed")
    return _batch(s)

  def recording_step(state, batch):
    state, metrics = step(state, batch)
    if record is not None:
      record.append({k: float(v) for k, v in jax.device_get(metrics).items()})
    return state, metrics

  config = train.LoopConfig(steps=steps, log_every=3, eval_every=2, checkpoint_every=2)
  return train.train(state, recording_step, batch, mesh=mesh, config=config, workdir=workdir,
                     data_order=data_order or dict(seed=5, n=_toy.ROWS), evaluate=evaluate,
                     best_metric=best, desc="toy", keep_best=keep_best)


def _accuracy(state) -> dict[str, float]:
  """Training-set accuracy: changes from step to step, so the best one is a real choice."""
  from flax import nnx  # pylint: disable=g-import-not-at-top
  _, graphdef, _, _ = _setup()
  model = nnx.merge(graphdef, state.params, state.rest)
  data = _toy.dataset()
  pred = np.asarray(jax.numpy.argmax(model(data["tokens"]), -1))
  return dict(accuracy=float(np.mean(pred == data["label"])), step_seen=float(state.step))


def _records(workdir):
  return [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]


def test_train_records_are_means_over_their_window_and_the_best_evaluation_is_kept(tmp_path):
  steps = []
  result = _run(tmp_path, 7, evaluate=_accuracy, record=steps)
  records = _records(tmp_path)
  logged = [r for r in records if r["kind"] == "train"]
  assert [r["step"] for r in logged] == [3, 6, 7]
  for record, window in zip(logged, (steps[0:3], steps[3:6], steps[6:7])):
    expected = sum(m["loss"] * m["count"] for m in window) / sum(m["count"] for m in window)
    assert record["loss"] == pytest.approx(expected, rel=1e-6)
  evals = [r for r in records if r["kind"] == "eval"]
  assert [r["step"] for r in evals] == [2, 4, 6, 7]
  assert [r["step_seen"] for r in evals] == [2, 4, 6, 7]  # evaluated on the state of that step
  best = max(evals, key=lambda r: r["accuracy"])  # first of equals: strictly better replaces
  assert result.best_step == best["step"] and result.best["accuracy"] == best["accuracy"]
  assert result.final["step"] == 7 and result.final["accuracy"] == evals[-1]["accuracy"]
  assert int(result.state.step) == 7 and result.resumed_from is None


def test_a_killed_run_resumes_to_the_uninterrupted_result_with_its_evaluations(tmp_path):
  whole = _run(tmp_path / "whole", 6, evaluate=_accuracy)
  with pytest.raises(KeyboardInterrupt):
    _run(tmp_path / "killed", 6, evaluate=_accuracy, fail_at=5)  # after the step-4 checkpoint
  resumed = _run(tmp_path / "killed", 6, evaluate=_accuracy)
  assert resumed.resumed_from == 4
  for a, b in zip(jax.tree.leaves(whole.state.params), jax.tree.leaves(resumed.state.params)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  assert resumed.final == whole.final and resumed.best == whole.best
  # The killed run's records after step 4 were dropped before they were redone.
  assert _records(tmp_path / "killed") == _records(tmp_path / "whole")

  # A finished run, rerun, trains nothing and still returns its evaluations.
  again = _run(tmp_path / "whole", 6, evaluate=_accuracy)
  assert again.resumed_from == 6 and again.final == whole.final and again.best == whole.best
  assert _records(tmp_path / "whole") == _records(tmp_path / "killed")


def test_a_checkpoint_of_another_data_order_is_refused(tmp_path):
  _run(tmp_path, 2)
  with pytest.raises(ValueError, match="checkpoint of data"):
    _run(tmp_path, 4, data_order=dict(seed=6, n=_toy.ROWS))


def test_best_by_a_minimum_and_progress_off_a_terminal(tmp_path, monkeypatch, capsys):
  # Issue 19: with stderr not a terminal (CI, nohup, `| tee`) nothing was printed.
  monkeypatch.setenv("FSNLU_PROGRESS", "lines")
  monkeypatch.setenv("FSNLU_PROGRESS_SECONDS", "0")  # also a line per step
  result = _run(tmp_path, 4, evaluate=lambda s: dict(loss_like=-float(s.step)),
                best=train.BestMetric("loss_like", "min"))
  assert result.best_step == 4 and result.best["loss_like"] == -4.0
  assert "fsnlu: toy: 4/4 steps (100%) in " in capsys.readouterr().err  # labelled by `desc`


def test_keep_best_picks_step_0_when_training_only_hurts_and_returns_that_state(tmp_path):
  # The evaluation falls with every update: the untrained start is the best.
  _, _, start, _ = _setup()
  result = _run(tmp_path, 4, evaluate=lambda s: dict(accuracy=-float(s.step)), keep_best=True)
  assert result.best_step == 0 and result.best["accuracy"] == 0.0
  assert int(result.best_state.step) == 0 and int(result.state.step) == 4
  for a, b in zip(jax.tree.leaves(start.params), jax.tree.leaves(result.best_state.params)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  assert [r["step"] for r in _records(tmp_path) if r["kind"] == "eval"] == [0, 2, 4]
  # A rerun of the finished run returns the same best state from workdir/best.
  again = _run(tmp_path, 4, evaluate=lambda s: dict(accuracy=-float(s.step)), keep_best=True)
  assert again.best_step == 0 and int(again.best_state.step) == 0


def test_keep_best_returns_the_state_of_a_later_best_step(tmp_path):
  peak = lambda s: dict(accuracy=-abs(float(s.step) - 2))  # best after 2 updates
  result = _run(tmp_path, 4, evaluate=peak, keep_best=True)
  assert result.best_step == 2 and int(result.best_state.step) == 2
