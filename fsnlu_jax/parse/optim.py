"""The parser's optimizer: frozen parts, warm-up and cosine decay (the teacher job's recipe).

The same recipe as :mod:`fsnlu_jax.teach`'s job, restated here: capabilities
do not import one another.
"""

from __future__ import annotations

import json
import os
import pathlib

import jax
import optax
from flax import nnx

from fsnlu_jax.config import job_config
from fsnlu_jax.parse.config import ParseConfig, ParserModelConfig, ParserOptimConfig


def trainable_labels(params: nnx.State, model: ParserModelConfig, encoder_layers: int):
  """``"train"`` or ``"freeze"`` for every parameter leaf (the config's frozen parts)."""
  first_trained = 0 if model.train_encoder_layers is None else max(
      encoder_layers - model.train_encoder_layers, 0)

  def label(path, _):
    keys = [getattr(k, "key", getattr(k, "idx", k)) for k in path]
    if keys[:2] == ["encoder", "layers"]:
      return "train" if int(keys[2]) >= first_trained else "freeze"
    if keys[:2] == ["encoder", "embeddings"] and keys[2] != "norm":
      return "train" if model.train_embeddings else "freeze"
    return "train"

  return jax.tree_util.tree_map_with_path(label, params)


def make_optimizer(optim: ParserOptimConfig, steps: int, labels=None
                   ) -> optax.GradientTransformation:
  """AdamW with linear warm-up then cosine decay to ``end_factor`` of the peak, and
  clipping; parameters labelled ``"freeze"`` are not updated."""
  schedule = optax.warmup_cosine_decay_schedule(
      0.0, optim.learning_rate, min(optim.warmup_steps, max(steps - 1, 1)), max(steps, 2),
      end_value=optim.learning_rate * optim.end_factor)
  adamw = optax.chain(optax.clip_by_global_norm(optim.clip_norm),
                      optax.adamw(schedule, weight_decay=optim.weight_decay))
  if labels is None:
    return adamw
  return optax.multi_transform(dict(train=adamw, freeze=optax.set_to_zero()), labels)


def optimizer_for_config(config: ParseConfig, model: nnx.Module) -> optax.GradientTransformation:
  labels = trainable_labels(nnx.state(model, nnx.Param), config.model,
                            model.config.encoder.num_hidden_layers)
  return make_optimizer(config.optim, config.train.steps, labels)


def optimizer_for(workdir: str | os.PathLike, model: nnx.Module) -> optax.GradientTransformation:
  """The optimizer a workdir's checkpoints were saved with (their state's structure)."""
  config = job_config(ParseConfig, json.loads((pathlib.Path(workdir) / "config.json").read_text()),
                      jobs=("parse",))
  return optimizer_for_config(config, model)
