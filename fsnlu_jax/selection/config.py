"""The typed config of the selection job (``configs/select.py``)."""

from __future__ import annotations

import dataclasses
from typing import Literal

from fsnlu_jax.transfer import ModelConfig, OptimConfig, TrainConfig


@dataclasses.dataclass(frozen=True)
class SelectionDataConfig:
  """The dataset, its splits, the domain filter and the labelled share.

  Attributes:
    name: the dataset (``NAME/CONFIG``).
    train_splits: the labelled set and the pool are drawn from these.
    validation_split: where the base model's errors are found.
    test_split: where every model is scored.
    domains: keep only these domains; None keeps all.
    train_fraction: the share of ``train_splits`` labelled at the start.
    max_length: the one padded length of every model's arrays.
  """

  name: str
  train_splits: tuple[str, ...]
  validation_split: str
  test_split: str
  domains: tuple[str, ...] | None
  train_fraction: float
  max_length: int


@dataclasses.dataclass(frozen=True)
class IGConfig:
  """Integrated gradients of the errors: steps, chunk of steps, errors per call, output."""

  steps: int
  chunk_size: int
  batch_size: int
  output: Literal["probability", "logit"] = "probability"


@dataclasses.dataclass(frozen=True)
class SelectConfig:
  """The selection itself (see :mod:`fsnlu_jax.selection.job`).

  ``retrains``: models trained per (strategy, budget), each with its own
  training seed (:func:`fsnlu_jax.selection.job.retrain_config`); the first
  keeps the job's seed.
  """

  budgets: tuple[int, ...]
  targets: tuple[Literal["intent", "slot"], ...]
  ig: IGConfig
  max_errors: int | None
  min_confidence: float
  keep_checkpoints: bool
  retrains: int = 1

  def __post_init__(self):
    if self.retrains < 1:
      raise ValueError(f"select.retrains must be at least 1, got {self.retrains}")


@dataclasses.dataclass(frozen=True)
class SelectionConfig:
  """A selection job: the multitask model's keys plus ``select``."""

  job: str
  seed: int
  data: SelectionDataConfig
  model: ModelConfig
  optim: OptimConfig
  train: TrainConfig
  select: SelectConfig
