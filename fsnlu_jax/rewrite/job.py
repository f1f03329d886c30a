"""The CGF query-rewriting job: data, rewriter training, and every system on test.

A config (``configs/rewrite.py``, read into a
:class:`~fsnlu_jax.rewrite.config.RewriteConfig`) names the datasets the
utterances come from, how users and rewrite pairs are drawn, the rewriter's
sizes, the optimizer and the decoding. :func:`run_rewrite` writes into its
``workdir``:

* ``config.json``, ``vocab.json``, ``tries.json`` (the global trie and every
  user's personal trie, as text): what :func:`fsnlu_jax.rewrite.rewrite_query`
  needs;
* ``checkpoints/``: orbax checkpoints; a rerun resumes from the latest one;
* the sub-word rewriter (``model.kind = "subword"``, :mod:`fsnlu_jax.rewrite.subword`)
  writes ``seq2seq.json``, ``tokenizer.json`` and ``pieces.json`` instead of
  ``vocab.json``, and ``best/``: the state of the best validation NLL, the one
  evaluated (``results.json``'s ``steps`` is its step);
* ``metrics.jsonl``: the loop's records (train, validation ``"eval"``) and the
  final test results (``"test"``);
* ``results.json``: thresholds chosen on validation (``null``: the system
  never outputs; strict JSON has no ``Infinity``), and per system the test
  precision / recall / F1 / output rate / share of outputs outside the
  known-good utterances, also broken down by where the target is
  (:mod:`fsnlu_jax.rewrite.systems`); ``results.png`` draws them. A rerun of a
  finished run writes both again (and replaces its ``"test"`` records);
* ``test_outcomes.json``: per system, one character per test pair (``a``
  abstained, ``w`` wrong, ``c`` correct; :func:`~fsnlu_jax.rewrite.systems.outcomes`),
  and each pair's ``by_target`` groups: paired statistics between systems and
  between runs of other training seeds (the evaluation pairs depend on
  ``data.seed`` only; ``benchmarks/rewrite_seeds.py``).

Data order: :func:`fsnlu_jax.train.epoch_rows`.

Shapes: ``B`` batch.

References:
  Ahmadvand et al., "Constrained generation framework for query rewriting in
  conversational AI", EMNLP 2022 (industry track).
"""

from __future__ import annotations

import json
import os
import pathlib
import time
from typing import Any, Mapping

import jax
import optax
from flax import nnx

from fsnlu_jax.config import job_config, record_config
from fsnlu_jax.data.vocab import Vocab
from fsnlu_jax.models import Rewriter, RewriterConfig, rewriter_loss, seq2seq_trainable_labels
from fsnlu_jax.parallel import make_data_mesh
from fsnlu_jax.rewrite import data as data_lib
from fsnlu_jax.rewrite import pieces
from fsnlu_jax.rewrite import plots
from fsnlu_jax.rewrite import subword
from fsnlu_jax.rewrite import systems
from fsnlu_jax.rewrite.config import RewriteConfig
from fsnlu_jax.train import (BestMetric, epoch_rows, init_train_state, jsonl, make_eval_step,
                             make_train_step, summed_metrics, train, warmup_cosine_adamw)


def model_config(config: RewriteConfig, vocab_size: int) -> RewriterConfig:
  """The rewriter's sizes: the config's, with the vocabulary and the lengths of the data."""
  m = config.model
  return RewriterConfig(vocab_size=vocab_size, max_source_len=config.data.max_source_len,
                        max_target_len=config.data.max_target_len, d_model=m.d_model,
                        n_heads=m.n_heads, n_encoder_layers=m.n_encoder_layers,
                        n_decoder_layers=m.n_decoder_layers, d_ff=m.d_ff, dropout=m.dropout,
                        positions=m.positions, copy=m.copy)


def make_optimizer(config: RewriteConfig, model: nnx.Module) -> optax.GradientTransformation:
  """The rewriter's AdamW (warm-up, cosine decay, clipping); the sub-word model's frozen parts
  (``model.train_encoder_layers``, ``model.train_embeddings``) are not updated."""
  labels = (seq2seq_trainable_labels(model, config.model) if config.model.kind == "subword"
            else None)
  return warmup_cosine_adamw(config.optim, config.train.steps, labels)


def new_model(config: RewriteConfig, vocab_size: int) -> tuple[nnx.Module,
                                                               optax.GradientTransformation]:
  """The rewriter before training and its optimizer: a randomly initialised
  :class:`~fsnlu_jax.models.Rewriter` (``model.kind = "word"``), or the
  encoder-decoder warm-started from ``model.checkpoint`` with its frozen parts
  (``"subword"``, :mod:`fsnlu_jax.rewrite.subword`)."""
  if config.model.kind == "subword":
    model = subword.warm_start(config)
  else:
    model = Rewriter(model_config(config, vocab_size), rngs=nnx.Rngs(config.seed))
  return model, make_optimizer(config, model)


def _loss(config: RewriteConfig, label_smoothing: float):
  if config.model.kind == "subword":  # smoothing is the model's config (warm_start)
    return subword.loss
  return lambda model, batch, rngs: rewriter_loss(model, batch, rngs,
                                                  label_smoothing=label_smoothing)


def _summarize(sums: Mapping[str, float]) -> dict[str, float]:
  return dict(nll=sums["nll_sum"] / max(sums["count"], 1),
              token_acc=sums["correct"] / max(sums["count"], 1))


def train_rewriter(data: data_lib.RewriteJobData, config: RewriteConfig, workdir: pathlib.Path,
                   mesh: jax.sharding.Mesh):
  """Trains (or resumes) the rewriter; ``(graphdef, state)`` after the last step.

  Validation: teacher-forced token NLL, token accuracy and exact match; the
  best by NLL is tracked.
  """
  t = config.train
  if t.batch_size % mesh.size:
    raise ValueError(f"batch_size {t.batch_size} must divide by the {mesh.size} devices")
  model, optimizer = new_model(config, len(data.vocab))
  if config.model.kind == "subword" and jax.process_index() == 0:
    subword.write_artefacts(workdir, model, data.vocab)
  graphdef, state = init_train_state(model, optimizer, jax.random.key(config.seed), mesh)
  step = make_train_step(graphdef, _loss(config, config.optim.label_smoothing), optimizer, mesh)
  eval_step = make_eval_step(graphdef, _loss(config, 0.0), mesh)
  arrays = data.arrays["train"]
  n = len(arrays["source_ids"])
  # Word pieces: most batches are far shorter than the longest allowed.
  fit = pieces.trim if config.model.kind == "subword" else (lambda b: b)

  def batch(s: int):
    return fit(data_lib.batch(arrays, epoch_rows(s, n, t.batch_size, config.seed), t.batch_size))

  result = train(state, step, batch, mesh=mesh, config=t, workdir=workdir,
                 data_order=dict(order="epoch_permutation", seed=config.seed, n_train=n),
                 evaluate=lambda s: _teacher_forced(eval_step, s, data, t.batch_size, mesh),
                 best_metric=BestMetric("nll", "min"), summarize=_summarize, desc="rewrite",
                 keep_best=config.model.kind == "subword")
  # The sub-word rewriter is evaluated at its best validation NLL (the word-level
  # one, as before, at its last step).
  return graphdef, result.best_state if result.best_state is not None else result.state


def _teacher_forced(eval_step, state, data: data_lib.RewriteJobData, batch_size: int, mesh
                    ) -> dict[str, float]:
  """Validation token NLL, token accuracy and teacher-forced exact match."""
  arrays = data.arrays["validation"]
  n = len(arrays["source_ids"])
  # Its real rows only: the batch's filler rows carry no target tokens.
  t = summed_metrics(eval_step, state, n,
                     lambda rows: data_lib.batch(arrays, rows, batch_size), batch_size, mesh)
  return dict(nll=t["nll_sum"] / t["count"], token_acc=t["correct"] / t["count"],
              exact_teacher_forced=t["exact"] / n)


def _write_artefacts(workdir: pathlib.Path, data: data_lib.RewriteJobData) -> None:
  if jax.process_index() != 0:  # one writer: the processes share the folder
    return
  if isinstance(data.vocab, Vocab):  # word pieces: subword.write_artefacts
    data.vocab.save(workdir / "vocab.json")
  tries = dict(global_trie=sorted(" ".join(w) for w in data.dataset.global_trie),
               personal={str(u.user_id): sorted(" ".join(w) for w in u.personal_trie)
                         for u in data.dataset.users})
  (workdir / "tries.json").write_text(json.dumps(tries))


def run_rewrite(config: Mapping[str, Any] | RewriteConfig, workdir: str | os.PathLike, *,
                data_dir=None, cache_dir=None) -> dict[str, Any]:
  """Builds the data, trains (resuming) and evaluates; returns and writes ``results.json``."""
  config = job_config(RewriteConfig, config, jobs=("rewrite",))
  workdir = pathlib.Path(workdir)
  record_config(workdir, config)
  began = time.time()
  data = data_lib.build_data(config, data_dir=data_dir, cache_dir=cache_dir)
  _write_artefacts(workdir, data)
  graphdef, state = train_rewriter(data, config, workdir, make_data_mesh())
  trained = time.time()
  results = systems.evaluate(graphdef, state, data, config)
  results.update(null_threshold="a threshold of null (infinite) means the system never "
                 "outputs: no validation candidate of it was right",
                 steps=int(state.step), vocab_size=len(data.vocab),
                 train_pairs=len(data.pairs["train"]),
                 seconds=dict(train=round(trained - began, 1),
                              evaluate=round(time.time() - trained, 1)))
  # Per-pair outcomes (one character per test pair and system) in their own file.
  jsonl.write(workdir / "test_outcomes.json", results.pop("test_outcomes"))
  jsonl.write(workdir / "results.json", results)  # strict JSON: no Infinity
  if jax.process_index() == 0:
    plots.plot_results(results, workdir / "results.png")
  jsonl.drop_kind(workdir / "metrics.jsonl", "test")  # a rerun's test records replace the last
  jsonl.append(workdir / "metrics.jsonl", dict(
      kind="test", step=int(state.step),
      **{s: dict(precision=r["precision"], recall=r["recall"], f1=r["f1"])
         for s, r in results["test"].items()}))
  print(systems.format_table(results))
  return results
