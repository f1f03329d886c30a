"""Pretraining, fine-tuning and from-scratch jobs of the multitask bi-LSTM, and their workdirs.

A config (``configs/multitask_*.py``, read into a
:class:`~fsnlu_jax.transfer.config.TransferConfig`) names a dataset, a domain
filter, model sizes, the optimizer and the loop lengths. A job writes into
its ``workdir``:

* ``config.json``, ``model_config.json``: what was run, to rebuild the model;
* ``vocab.json``, ``intents.json``, ``tags.json``: the word and label ids;
* ``checkpoints/``: orbax checkpoints; a rerun resumes from the latest one;
* ``metrics.jsonl``: the loop's records (:mod:`fsnlu_jax.train.loop`);
* ``learning_curve.png`` when matplotlib (the ``plot`` extra) is installed.

:func:`load_model` brings a workdir's model back; it is how few-shot (its
encoder) and selection (its base model) use this capability.

Data order: :func:`fsnlu_jax.train.epoch_rows`; the last batch of an epoch is
padded with rows the loss skips (:func:`~fsnlu_jax.transfer.data.padded_batch`).

References:
  Goyal, Metallinou & Matsoukas, "Fast and Scalable Expansion of Natural
  Language Understanding Functionality for Intelligent Agents", NAACL 2018.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import pathlib
from typing import Any, Mapping

import jax
from flax import nnx

from fsnlu_jax import _plotting as plotting
from fsnlu_jax import models
from fsnlu_jax.config import from_dict, job_config, record_config
from fsnlu_jax.data import Vocab
from fsnlu_jax.parallel import make_data_mesh
from fsnlu_jax.train import jsonl
from fsnlu_jax.train import (BestMetric, LoopResult, epoch_rows, init_train_state,
                             make_train_step, restore_model, train)
from fsnlu_jax.transfer import data as data_lib
from fsnlu_jax.transfer import model as model_lib
from fsnlu_jax.transfer.config import FinetuneConfig, OptimConfig, TrainConfig, TransferConfig

_log = logging.getLogger(__name__)


def train_model(model: models.MultitaskBiLSTM, data: data_lib.TransferData, *,
                optim: OptimConfig, loop: TrainConfig, seed: int, workdir: pathlib.Path,
                mesh: jax.sharding.Mesh | None = None, desc: str = "train",
                keep_best: bool = False) -> LoopResult:
  """Trains ``model`` on ``data.train`` (resuming from ``workdir``), evaluating on ``data.eval``.

  The state kept is the last step's; the result also holds the best
  evaluation by SemER, and with ``keep_best`` the state that scored it
  (``LoopResult.best_state``; step 0 is a candidate, see
  :func:`fsnlu_jax.train.train`).
  """
  mesh = make_data_mesh() if mesh is None else mesh
  if loop.batch_size % mesh.size:
    raise ValueError(f"batch_size {loop.batch_size} must divide by the {mesh.size} devices")
  optimizer = model_lib.make_optimizer(model, optim)
  graphdef, state = init_train_state(model, optimizer, jax.random.key(seed), mesh)
  step = make_train_step(graphdef, model_lib.loss_fn(optim.slot_weight), optimizer, mesh)
  n = len(data.train)

  def batch(s: int):
    return data_lib.padded_batch(data.train, epoch_rows(s, n, loop.batch_size, seed),
                                 loop.batch_size)

  def evaluate(state) -> dict[str, float]:
    return model_lib.evaluate(nnx.merge(graphdef, state.params, state.rest), data.eval,
                              data.eval_examples, data.intents, data.tags, loop.eval_batch_size,
                              pieces=data.eval_pieces)

  result = train(state, step, batch, mesh=mesh, config=loop, workdir=workdir,
                 data_order=dict(order="epoch_permutation", seed=seed, n_train=n),
                 evaluate=evaluate, best_metric=BestMetric("semer", "min"),
                 summarize=model_lib.summarize, desc=desc, keep_best=keep_best)
  plot_learning_curve(workdir / "metrics.jsonl", workdir / "learning_curve.png")
  return result


def write_setup(workdir: pathlib.Path, config: Any,
                model_config: models.MultitaskConfig, data: data_lib.TransferData) -> None:
  """What :func:`load_model` needs: the job config (typed; its ``optim``), the model config,
  vocabularies."""
  record_config(workdir, config)
  if jax.process_index() == 0:  # one writer: the processes share the folder
    (workdir / "model_config.json").write_text(json.dumps(dataclasses.asdict(model_config)))
    data.vocab.save(workdir / "vocab.json")
    data.intents.save(workdir / "intents.json")
    data.tags.save(workdir / "tags.json")


def load_model(workdir: str | os.PathLike, *, finished: bool = False, units: str = "words",
               tokenizer: str | None = None) -> tuple[models.MultitaskBiLSTM, Vocab]:
  """The model of a multitask workdir's latest checkpoint, and its vocabulary.

  Any workdir :func:`write_setup` wrote: ``fsnlu pretrain`` / ``finetune`` /
  ``scratch``, a few-shot job's ``encoder/``, a selection job's ``base/``.

  Args:
    workdir: the job's folder.
    finished: refuse a run that stopped before its last step (a killed
      pretraining is not a pretrained model).
    units: the tokens the caller feeds (``data.units``): a model of word
      pieces fed words (or the reverse) would read nearly every token as
      ``<unk>``, so that is refused.
    tokenizer: (pieces) the caller's ``data.tokenizer``, which must be the model's.
  """
  root = pathlib.Path(workdir)
  if not (root / "model_config.json").is_file():
    raise FileNotFoundError(f"{root} is not a multitask workdir (no model_config.json)")
  config = json.loads((root / "config.json").read_text())
  data = config.get("data", {})
  model_units = data.get("units", "words")
  if model_units != units:
    raise ValueError(f"the model in {root} reads {model_units} (data.units); this caller gives "
                     f"it {units}")
  if units == "pieces" and tokenizer is not None and data.get("tokenizer") != tokenizer:
    raise ValueError(f"{root} was trained on the pieces of {data.get('tokenizer')}, not "
                     f"{tokenizer} (data.tokenizer)")
  optim = from_dict(OptimConfig, config["optim"], path="optim")
  model_config = models.MultitaskConfig(**json.loads((root / "model_config.json").read_text()))
  # Abstract: no random initialisation to compute (restore_model's docs).
  model = nnx.eval_shape(lambda: models.MultitaskBiLSTM(model_config, rngs=nnx.Rngs(0)))
  model, step = restore_model(root / "checkpoints", model,
                              model_lib.make_optimizer(model, optim))
  if finished and step < config["train"]["steps"]:
    raise ValueError(f"the run in {root} stopped at step {step} of {config['train']['steps']}: "
                     "rerun its command to finish it, or pass a finished workdir")
  _log.info("multitask model from %s at step %d", root, step)
  return model, Vocab.load(root / "vocab.json")


def plot_learning_curve(metrics_path: pathlib.Path, out: pathlib.Path) -> bool:
  """Writes train loss and eval metrics against step; False without matplotlib."""
  plt = plotting.pyplot("learning curve")
  if plt is None or jax.process_index() != 0:
    return False
  records = jsonl.read(metrics_path)
  train_records = [r for r in records if r["kind"] == "train"]
  evals = [r for r in records if r["kind"] == "eval"]
  run = out.parent.name
  fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
  plotting.line(left, [r["step"] for r in train_records], [r["loss"] for r in train_records],
                label="train loss", markersize=2)
  plotting.finish(left, title=f"{run}: training loss", xlabel="step",
                  ylabel="loss per example (intent + slots)")
  for key in ("intent_acc", "slot_f1", "semer"):
    plotting.line(right, [r["step"] for r in evals], [r[key] for r in evals], label=key)
  plotting.finish(right, title=f"{run}: evaluation", xlabel="step",
                  ylabel="intent accuracy, slot F1, SemER")
  plotting.save(plt, fig, out)
  return True


def plot_comparison(runs: Mapping[str, str | os.PathLike], out: str | os.PathLike, *,
                    metric: str = "semer") -> bool:
  """One evaluation metric against step for several runs (e.g. fine-tuned vs from scratch).

  Args:
    runs: ``{label: workdir}`` of multitask runs (their ``metrics.jsonl``).
    out: the PNG to write.
    metric: ``semer``, ``intent_acc`` or ``slot_f1``.

  Returns:
    False (nothing drawn) without matplotlib.
  """
  plt = plotting.pyplot("transfer comparison")
  if plt is None or jax.process_index() != 0:
    return False
  fig, ax = plt.subplots(figsize=(6, 4))
  for label, workdir in runs.items():
    evals = [r for r in jsonl.read(pathlib.Path(workdir) / "metrics.jsonl") if r["kind"] == "eval"]
    plotting.line(ax, [r["step"] for r in evals], [r[metric] for r in evals], label=label)
  plotting.finish(ax, title=f"transfer: {metric} on the new domain", xlabel="step",
                  ylabel=metric)
  plotting.save(plt, fig, out)
  return True


# --------------------------------------------------------------------- jobs


def _summary(result: LoopResult) -> dict[str, Any]:
  """The CLI's printed result: the final step, where it resumed, the final and best evaluations."""
  return dict(step=int(result.state.step), resumed_from=result.resumed_from,
              eval=result.final, best_eval=result.best, best_step=result.best_step)


def _train_new_model(config: TransferConfig, workdir: pathlib.Path, train_examples,
                     evals, *, labels_from_eval: bool) -> dict[str, Any]:
  """A randomly initialised model, vocab from ``train_examples`` (in ``config.data.units``),
  labels from them (and from ``evals`` with ``labels_from_eval``)."""
  train_examples, evals, eval_pieces = data_lib.in_units(config.data, train_examples, evals)
  vocab = Vocab.build([e.tokens for e in train_examples])
  intents, tags = data_lib.label_vocabs([*train_examples, *(evals if labels_from_eval else [])])
  data = data_lib.encode(vocab, intents, tags, train_examples, evals,
                         max_length=config.data.max_length, eval_pieces=eval_pieces)
  model_config = model_lib.model_config_for(config.model, vocab, intents, tags)
  write_setup(workdir, config, model_config, data)
  model = models.MultitaskBiLSTM(model_config, rngs=nnx.Rngs(config.seed))
  return _summary(train_model(model, data, optim=config.optim, loop=config.train,
                              seed=config.seed, workdir=workdir, desc=config.job))


def _read(config: Mapping[str, Any] | TransferConfig, *jobs: str) -> TransferConfig:
  return job_config(TransferConfig, config, jobs=jobs)


def run_pretrain(config: Mapping[str, Any] | TransferConfig, workdir: str | os.PathLike, *,
                 data_dir=None, cache_dir=None) -> dict[str, Any]:
  """Builds vocab and labels from the filtered data and trains from scratch."""
  config = _read(config, "pretrain", "encoder")  # "encoder": the few-shot job's
  record_config(workdir, config)  # first: a rerun of another config loads no data
  train_examples, evals = data_lib.load_examples(config.data, data_dir, cache_dir)
  return _train_new_model(config, pathlib.Path(workdir), train_examples, evals,
                          labels_from_eval=False)


def run_scratch(config: Mapping[str, Any] | TransferConfig, workdir: str | os.PathLike, *,
                data_dir=None, cache_dir=None) -> dict[str, Any]:
  """The from-scratch baseline of :func:`run_finetune`: same data, random start.

  The examples are selected as a fine-tuning config selects them and the label
  sets are built the same way (the new domain's train *and* eval examples), so
  both runs score the same labels with output layers of the same sizes. The
  vocabulary is the training subset's own: a model that was not pretrained has
  seen no other words. Model sizes come from ``config.model``; give them the
  pretrained model's to compare like with like.
  """
  config = _read(config, "scratch")
  record_config(workdir, config)  # first: a rerun of another config loads no data
  train_examples, evals = data_lib.load_examples(config.data, data_dir, cache_dir)
  return _train_new_model(config, pathlib.Path(workdir), train_examples, evals,
                          labels_from_eval=True)


def run_finetune(config: Mapping[str, Any] | TransferConfig, workdir: str | os.PathLike,
                 pretrained: str | os.PathLike, *, data_dir=None, cache_dir=None
                 ) -> dict[str, Any]:
  """Moves a pretrained model to the config's domain and trains it.

  The vocabulary is the pretrained one extended with the new domain's
  training words (``finetune.extend_vocab``, default): the new domain's own
  words get embedding rows of their own, as the from-scratch baseline's
  vocabulary has them, and the pretrained rows are kept bit-identical. With
  ``extend_vocab=False`` the pretrained vocabulary is kept and new words are
  ``<unk>`` (counted). The word dropout rate is ``model.word_dropout`` of this
  config. The label sets are the new domain's, over its train *and* eval
  examples, so an intent missing from a few-shot training subset is scored as
  an error rather than left out of the metrics.
  """
  config, workdir = _read(config, "finetune"), pathlib.Path(workdir)
  finetune = config.finetune if config.finetune is not None else FinetuneConfig()
  pre_model, vocab = load_model(pretrained, finished=True, units=config.data.units,
                                tokenizer=config.data.tokenizer)
  record_config(workdir, config)  # after the pretrained check: a refused run writes nothing
  train_examples, evals = data_lib.load_examples(config.data, data_dir, cache_dir)
  train_examples, evals, eval_pieces = data_lib.in_units(config.data, train_examples, evals)
  if finetune.extend_vocab:
    extended = vocab.extend([e.tokens for e in train_examples], min_count=finetune.min_count)
    _log.info("vocabulary extended by %d words of the new domain (%d -> %d)",
              len(extended) - len(vocab), len(vocab), len(extended))
    pre_model = models.extend_vocabulary(pre_model, len(extended), init=finetune.new_rows,
                                         rngs=nnx.Rngs(params=config.seed))
    vocab = extended
  intents, tags = data_lib.label_vocabs([*train_examples, *evals])
  data = data_lib.encode(vocab, intents, tags, train_examples, evals,
                         max_length=config.data.max_length, eval_pieces=eval_pieces)
  model = models.replace_heads(pre_model, n_intents=len(intents), n_tags=len(tags),
                               tag_names=tags.labels, rngs=nnx.Rngs(config.seed),
                               reinit_task_lstms=finetune.reinit_task_lstms,
                               word_dropout=config.model.word_dropout)
  write_setup(workdir, config, model.config, data)
  return _summary(train_model(model, data, optim=config.optim, loop=config.train,
                              seed=config.seed, workdir=workdir, desc=config.job))
