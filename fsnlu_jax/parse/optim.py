"""The parser's optimizer: the encoder-decoders' recipe (:func:`fsnlu_jax.train.warmup_cosine_adamw`)
over the parts :func:`fsnlu_jax.models.seq2seq_trainable_labels` leaves trainable."""

from __future__ import annotations

import json
import os
import pathlib

import optax
from flax import nnx

from fsnlu_jax.config import job_config
from fsnlu_jax.models import seq2seq_trainable_labels
from fsnlu_jax.parse.config import ParseConfig
from fsnlu_jax.train import warmup_cosine_adamw


def optimizer_for_config(config: ParseConfig, model: nnx.Module) -> optax.GradientTransformation:
  """The parser's AdamW (warm-up, cosine decay, clipping) over its trainable parts."""
  o = config.optim
  labels = seq2seq_trainable_labels(
      nnx.state(model, nnx.Param), encoder_layers=model.config.encoder.num_hidden_layers,
      train_encoder_layers=config.model.train_encoder_layers,
      train_embeddings=config.model.train_embeddings)
  return warmup_cosine_adamw(learning_rate=o.learning_rate, warmup_steps=o.warmup_steps,
                             end_factor=o.end_factor, weight_decay=o.weight_decay,
                             clip_norm=o.clip_norm, steps=config.train.steps, labels=labels)


def optimizer_for(workdir: str | os.PathLike, model: nnx.Module) -> optax.GradientTransformation:
  """The optimizer a workdir's checkpoints were saved with (their state's structure)."""
  config = job_config(ParseConfig, json.loads((pathlib.Path(workdir) / "config.json").read_text()),
                      jobs=("parse",))
  return optimizer_for_config(config, model)
