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
  return warmup_cosine_adamw(config.optim, config.train.steps,
                             seq2seq_trainable_labels(model, config.model))


def optimizer_for(workdir: str | os.PathLike, model: nnx.Module) -> optax.GradientTransformation:
  """The optimizer a workdir's checkpoints were saved with (their state's structure)."""
  config = job_config(ParseConfig, json.loads((pathlib.Path(workdir) / "config.json").read_text()),
                      jobs=("parse",))
  return optimizer_for_config(config, model)
