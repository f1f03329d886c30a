"""THE training loop: every job's steps, checkpoints, logs and evaluations.

A job builds its model, optimizer, jitted step (:func:`~fsnlu_jax.train.make_train_step`)
and a pure ``batch(step)`` function; :func:`train` does the rest, the same way
for every job:

* **resume**: the latest checkpoint of ``workdir/checkpoints`` replaces the
  fresh state, if there is one; a checkpoint written for another data order
  (another seed, another training set size) is an error, not a silent mix;
* **data order**: the batch of step ``s`` is ``batch(s)``, a pure function of
  the step, so a resumed run trains on exactly the batches a killed one would
  have (kill and resume equals an uninterrupted run);
* **placement**: each host batch goes to the mesh with
  :func:`~fsnlu_jax.train.batching.to_global` (several processes: each its rows);
* **logs**: ``workdir/metrics.jsonl`` gets one ``kind="train"`` record every
  ``log_every`` steps, whose values are over *all the steps since the previous
  record* (sums of the step's metrics, turned into means by ``summarize``),
  and one ``kind="eval"`` record per evaluation; records after the resumed
  step are dropped first (the killed run logged steps it will redo);
* **evaluation**: ``evaluate(state) -> {name: float}`` every ``eval_every``
  steps and at the last one; the best by ``best_metric`` is tracked; the
  evaluations (and the unlogged part of the current log window) travel inside
  the checkpoints, so a finished run, rerun, still returns them (no job reads
  its own log back), and a resumed run's records equal an uninterrupted run's;
* **model selection** (``keep_best=True``): the starting state is evaluated
  too (step 0 is a candidate: training that only hurts keeps the start), and
  each new best state is saved to ``workdir/best``; ``LoopResult.best_state``
  is that state, the one a job should evaluate (few-shot systems whose
  validation accuracy peaks and then falls while their episodes are solved);
* **progress**: labelled ``desc`` on stderr (:mod:`fsnlu_jax._progress`: a bar on a
  terminal, a plain line every few seconds elsewhere).

Shapes: ``B`` global batch.
"""

from __future__ import annotations

import dataclasses
import logging
import pathlib
from typing import Any, Callable, Literal, Mapping

import jax

from fsnlu_jax._progress import progress
from fsnlu_jax.train import batching, jsonl
from fsnlu_jax.train.checkpoint import Checkpointer
from fsnlu_jax.train.step import TrainState

_log = logging.getLogger(__name__)

Metrics = dict[str, float]


@dataclasses.dataclass(frozen=True)
class LoopConfig:
  """How long to train and how often to log, evaluate and save (a job's ``train`` config).

  Attributes:
    steps: updates in all.
    log_every: steps per ``kind="train"`` record.
    eval_every: steps per evaluation (and the last step).
    checkpoint_every: steps per checkpoint (and the last step).
  """

  steps: int
  log_every: int
  eval_every: int
  checkpoint_every: int

  def __post_init__(self):
    for name in ("steps", "log_every", "eval_every", "checkpoint_every"):
      if getattr(self, name) < 1:
        raise ValueError(f"train.{name} must be at least 1, got {getattr(self, name)}")


@dataclasses.dataclass(frozen=True)
class BestMetric:
  """Which evaluation is the best: the ``name`` entry, ``mode`` ``"max"`` or ``"min"``."""

  name: str
  mode: Literal["max", "min"] = "max"

  def better(self, new: Mapping[str, float], old: Mapping[str, float] | None) -> bool:
    if old is None:
      return True
    return new[self.name] > old[self.name] if self.mode == "max" else (
        new[self.name] < old[self.name])


@dataclasses.dataclass(frozen=True)
class LoopResult:
  """What :func:`train` returns.

  Attributes:
    state: the state after the last step (jobs keep this one).
    resumed_from: the step a checkpoint resumed at, None for a fresh start.
    final: the evaluation at the last step (None without ``evaluate``).
    best: the best evaluation by ``best_metric`` (None without either).
    best_step: the step of ``best``.
    best_state: the state at ``best_step`` (``keep_best=True`` only, else None).
  """

  state: TrainState
  resumed_from: int | None
  final: Metrics | None
  best: Metrics | None
  best_step: int | None
  best_state: TrainState | None = None


def mean_loss(sums: Mapping[str, float]) -> Metrics:
  """The default ``summarize``: the loss per item over the logged steps."""
  return dict(loss=sums["loss_sum"] / max(sums["count"], 1))


def train(state: TrainState, train_step: Callable, batch: Callable[[int], Any], *,
          mesh: jax.sharding.Mesh, config: LoopConfig, workdir: str | pathlib.Path,
          data_order: Mapping[str, Any], evaluate: Callable[[TrainState], Metrics] | None = None,
          best_metric: BestMetric | None = None,
          summarize: Callable[[Mapping[str, float]], Metrics] = mean_loss,
          desc: str = "train", keep_best: bool = False, max_checkpoints: int = 3) -> LoopResult:
  """Trains ``state`` to ``config.steps`` updates, resuming from ``workdir`` if it can.

  Args:
    state: a fresh state (:func:`~fsnlu_jax.train.init_train_state`); also
      the template a checkpoint is restored into.
    train_step: ``step(state, batch) -> (state, metrics)`` (donates ``state``).
    batch: ``batch(step) -> host pytree of [B, ...]``, a pure function of the
      step (module docs).
    mesh: the job's data mesh (built once per job).
    config: the loop lengths.
    workdir: holds ``checkpoints/`` and ``metrics.jsonl``.
    data_order: JSON-able description of what ``batch`` draws from (seed,
      sizes); a checkpoint written for another one is refused.
    evaluate: ``evaluate(state) -> {name: float}``; None: no evaluation.
    best_metric: which evaluation is the best; None: none is tracked.
    summarize: turns the summed step metrics of a log window (every
      ``aux`` sum of the loss, and ``loss_sum``) into the record's values.
    desc: the stage label progress is reported under (:mod:`fsnlu_jax._progress`).
    keep_best: evaluate step 0 too and keep the best state (module docs);
      needs ``evaluate`` and ``best_metric``.
    max_checkpoints: the newest checkpoints kept in ``checkpoints/``.

  Raises:
    ValueError: the checkpoint's data order is not ``data_order``, or
      ``keep_best`` without ``evaluate`` and ``best_metric``.
  """
  if keep_best and (evaluate is None or best_metric is None):
    raise ValueError("keep_best needs evaluate and best_metric")
  workdir = pathlib.Path(workdir)
  workdir.mkdir(parents=True, exist_ok=True)
  data_order = dict(data_order)
  with Checkpointer(workdir / "checkpoints", every=config.checkpoint_every,
                    max_to_keep=max_checkpoints) as checkpointer:
    fresh = dict(data_order=data_order, evaluations=dict(final=None, best=None, best_step=None),
                 window=None)
    if checkpointer.latest_step is None:
      saved = fresh
    else:
      state, saved = checkpointer.restore(state)
      if "data_order" not in saved:  # a checkpoint from before this loop: the order alone
        saved = dict(fresh, data_order=saved)
      saved = dict(fresh, **saved)
    if saved["data_order"] != data_order:
      raise ValueError(f"{workdir} holds a checkpoint of data {saved['data_order']}, "
                       f"this run has {data_order}; use a new workdir or --overwrite")
    start = int(state.step)
    tracker = _Tracker(best_metric, **saved["evaluations"])
    best = _BestKeeper(workdir / "best") if keep_best else None
    if best is not None and start == 0:
      jsonl.truncate_after(workdir / "metrics.jsonl", -1)  # a killed run's records, step 0 too
      _evaluate(state, 0, evaluate, tracker, workdir, desc, best)
    if start < config.steps:
      state = _run(state, train_step, batch, start, saved["window"], mesh=mesh, config=config,
                   workdir=workdir, evaluate=evaluate, tracker=tracker, summarize=summarize,
                   desc=desc, should_save=checkpointer.should_save, best=best,
                   save=lambda s, step, window: checkpointer.save(
                       s, dict(data_order=data_order, evaluations=tracker.as_dict(),
                               window=window), step=step, force=True))
    elif tracker.final is None and evaluate is not None:
      tracker.add(start, evaluate(state))  # an older finished run, without its evaluations
    best_state = None
    if best is not None:
      best_state = best.restore(state, tracker.best_step)
      best.close()
  return LoopResult(state=state, resumed_from=start or None, final=tracker.final,
                    best=tracker.best, best_step=tracker.best_step, best_state=best_state)


def _evaluate(state, step: int, evaluate, tracker: "_Tracker", workdir: pathlib.Path, desc: str,
              best: "_BestKeeper | None") -> None:
  """Evaluates ``state`` after ``step`` updates: tracked, logged, saved if the best so far."""
  scores = evaluate(state)
  tracker.add(step, scores)
  jsonl.append(workdir / "metrics.jsonl", dict(kind="eval", step=step, **scores))
  _log.info("%s step %d: %s", desc, step, scores)
  if best is not None and tracker.best_step == step:
    best.save(state, step)


class _BestKeeper:
  """The best state so far, one checkpoint in ``directory`` (saved synchronously:
  the next train step donates the state's buffers)."""

  def __init__(self, directory: pathlib.Path):
    self._checkpointer = Checkpointer(directory, every=1, max_to_keep=1, async_save=False)

  def save(self, state: TrainState, step: int) -> None:
    # A run killed after saving its best but before its next regular
    # checkpoint redoes that step and reaches the same state: keep the file.
    if step not in self._checkpointer.all_steps():
      self._checkpointer.save(state, {}, step=step, force=True)

  def restore(self, like: TrainState, step: int | None) -> TrainState | None:
    if step is None or step not in self._checkpointer.all_steps():
      return None  # an older run, finished before it kept its best state
    return self._checkpointer.restore(like, step)[0]

  def close(self) -> None:
    self._checkpointer.close()


def _run(state, train_step, batch, start: int, window, *, mesh, config: LoopConfig, workdir,
         evaluate, tracker: "_Tracker", summarize, desc: str, should_save, save,
         best: "_BestKeeper | None" = None) -> TrainState:
  """Steps ``start`` to ``config.steps``: train, log, evaluate, save.

  ``window``: the summed metrics of the steps since the last train record, as
  the checkpoint resumed from saved them (None: none), so a resumed run's
  records equal an uninterrupted run's.
  """
  metrics_path = workdir / "metrics.jsonl"
  jsonl.truncate_after(metrics_path, start)  # keeps a fresh run's step-0 evaluation
  for step in progress(range(start, config.steps), desc=desc, initial=start,
                       total=config.steps, unit="step"):
    state, metrics = train_step(state, batching.to_global(batch(step), mesh))
    metrics = dict(metrics, loss_sum=metrics["loss"] * metrics["count"])
    # Summed on device: no host sync until a record is written.
    window = metrics if window is None else jax.tree.map(lambda a, b: a + b, window, metrics)
    done = step + 1
    if done % config.log_every == 0 or done == config.steps:
      sums = {k: float(v) for k, v in jax.device_get(window).items()}
      jsonl.append(metrics_path, dict(kind="train", step=done, **summarize(sums)))
      window = None
    if evaluate is not None and (done % config.eval_every == 0 or done == config.steps):
      _evaluate(state, done, evaluate, tracker, workdir, desc, best)
    # Orbax's policy: every `checkpoint_every` steps, and when the cluster
    # announces a preemption. `done`, not state.step: no host sync otherwise.
    if done == config.steps or should_save(done):
      save(state, done, None if window is None else {
          k: float(v) for k, v in jax.device_get(window).items()})
  return state


class _Tracker:
  """The final and the best evaluation so far (saved with each checkpoint)."""

  def __init__(self, best_metric: BestMetric | None, final=None, best=None, best_step=None):
    self.best_metric, self.final, self.best, self.best_step = best_metric, final, best, best_step

  def add(self, step: int, scores: Metrics) -> None:
    self.final = dict(scores, step=step)
    if self.best_metric is not None and self.best_metric.better(scores, self.best):
      self.best, self.best_step = dict(self.final), step

  def as_dict(self) -> dict[str, Any]:
    return dict(final=self.final, best=self.best, best_step=self.best_step)
