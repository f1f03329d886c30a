"""The teacher's training job (``fsnlu teach``): instruction pairs -> a warm-started encoder-decoder.

A config (``configs/teach.py``, read into a :class:`~fsnlu_jax.teach.config.TeachConfig`)
names the corpora, the intents to hold out, the checkpoint to warm-start from
and the loop. :func:`run_teach` writes into its ``workdir``:

* ``config.json``: the job's config (a rerun with another config is refused);
* ``teacher.json``: the model's sizes and special ids, and ``tokenizer.json``
  (a copy): with the checkpoints, all :func:`fsnlu_jax.teach.Teacher.load` needs;
* ``data.json``: what the data builder counted (pairs, drops and why);
* ``checkpoints/``, ``metrics.jsonl``: the loop's (resumable); ``best/``: the
  state with the lowest validation NLL, which the teacher uses.

Data order: :func:`fsnlu_jax.train.epoch_rows`.

References:
  Rosenbaum et al., "LINGUIST: Language Model Instruction Tuning to Generate
  Annotated Utterances for Intent Classification and Slot Tagging", COLING 2022.
  Rothe, Narayan & Severyn, "Leveraging Pre-trained Checkpoints for Sequence
  Generation Tasks", TACL 2020.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import time
from typing import Any, Mapping

import jax
import optax
from flax import nnx

from fsnlu_jax.config import job_config, record_config, to_dict
from fsnlu_jax.data.subword import SubwordTokenizer
from fsnlu_jax.models import (resolve_model_dir, seq2seq_loss, seq2seq_trainable_labels,
                              warm_start_seq2seq)
from fsnlu_jax.parallel import make_data_mesh
from fsnlu_jax.teach import data as data_lib
from fsnlu_jax.teach.config import TeachConfig
from fsnlu_jax.train import (BestMetric, epoch_rows, init_train_state, jsonl, make_eval_step,
                             make_train_step, summed_metrics, train, warmup_cosine_adamw)

TEACHER_FILE = "teacher.json"
TOKENIZER_FILE = "tokenizer.json"


def make_optimizer(config: TeachConfig, model: nnx.Module) -> optax.GradientTransformation:
  """The teacher's AdamW (warm-up, cosine decay, clipping) over its trainable parts."""
  return warmup_cosine_adamw(config.optim, config.train.steps,
                             seq2seq_trainable_labels(model, config.model))


def _summarize(sums: Mapping[str, float]) -> dict[str, float]:
  return dict(nll=sums["nll_sum"] / max(sums["count"], 1),
              token_acc=sums["correct"] / max(sums["count"], 1))


def _evaluate(eval_step, state, arrays, batch_size: int, mesh) -> dict[str, float]:
  """Validation token NLL, token accuracy and teacher-forced exact match."""
  n = len(arrays["src_len"])
  t = summed_metrics(eval_step, state, n, lambda rows: data_lib.batch(arrays, rows, batch_size),
                     batch_size, mesh)
  return dict(nll=t["nll_sum"] / t["count"], token_acc=t["correct"] / t["count"],
              exact_teacher_forced=t["exact"] / n)


def run_teach(config: Mapping[str, Any] | TeachConfig, workdir: str | os.PathLike, *,
              data_dir=None, cache_dir=None) -> dict[str, Any]:
  """Builds the instruction pairs, trains (resuming) the teacher, and returns its validation record."""
  config = job_config(TeachConfig, config, jobs=("teach",))
  workdir = pathlib.Path(workdir)
  record_config(workdir, config)
  began = time.time()
  folder = resolve_model_dir(config.model.checkpoint)
  model = warm_start_seq2seq(folder, decoder_layers=config.model.decoder_layers,
                             max_target_len=config.data.max_target_len,
                             label_smoothing=config.optim.label_smoothing,
                             rngs=nnx.Rngs(config.seed))
  c = model.config
  tokenizer = SubwordTokenizer(folder, max_length=c.encoder.max_position_embeddings)
  data = data_lib.build_teacher_data(config.data, tokenizer, seed=config.seed, bos_id=c.bos_id,
                                     eos_id=c.eos_id, pad_id=c.pad_id, data_dir=data_dir,
                                     cache_dir=cache_dir)
  if jax.process_index() == 0:
    (workdir / TEACHER_FILE).write_text(json.dumps(to_dict(c), indent=1))
    shutil.copyfile(tokenizer.path, workdir / TOKENIZER_FILE)
    (workdir / "data.json").write_text(json.dumps(data.stats, indent=1))
  mesh = make_data_mesh()
  t = config.train
  if t.batch_size % mesh.size:
    raise ValueError(f"batch_size {t.batch_size} must divide by the {mesh.size} devices")
  optimizer = make_optimizer(config, model)
  graphdef, state = init_train_state(model, optimizer, jax.random.key(config.seed), mesh)
  step = make_train_step(graphdef, seq2seq_loss, optimizer, mesh)
  eval_step = make_eval_step(graphdef, seq2seq_loss, mesh)
  arrays = data.arrays["train"]
  n = len(arrays["src_len"])
  result = train(
      state, step, lambda s: data_lib.batch(arrays, epoch_rows(s, n, t.batch_size, config.seed),
                                            t.batch_size),
      mesh=mesh, config=t, workdir=workdir,
      data_order=dict(order="epoch_permutation", seed=config.seed, n_train=n),
      evaluate=lambda s: _evaluate(eval_step, s, data.arrays["validation"], t.batch_size, mesh),
      best_metric=BestMetric("nll", "min"), summarize=_summarize, desc="teach", keep_best=True)
  out = dict(steps=int(result.state.step), best_step=result.best_step, best=result.best,
             final=result.final, pairs=data.stats["pairs"],
             seconds=round(time.time() - began, 1))
  jsonl.write(workdir / "results.json", out)
  return out


def teacher_config(workdir: str | os.PathLike) -> dict:
  """The model sizes a teacher workdir was trained with (``teacher.json``)."""
  path = pathlib.Path(workdir) / TEACHER_FILE
  if not path.is_file():
    raise FileNotFoundError(f"{path}: not a teacher workdir (run `fsnlu teach` first)")
  return json.loads(path.read_text())


def optimizer_for(workdir: str | os.PathLike, model: nnx.Module) -> optax.GradientTransformation:
  """The optimizer a workdir's checkpoints were saved with (their state's structure)."""
  config = job_config(TeachConfig, json.loads((pathlib.Path(workdir) / "config.json").read_text()),
                      jobs=("teach",))
  return make_optimizer(config, model)
