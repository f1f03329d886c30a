"""The typed configs of the multitask bi-LSTM jobs (pretrain, fine-tune, from scratch).

``configs/multitask_*.py`` return dicts of this shape; a job reads one with
:func:`fsnlu_jax.config.from_dict` at its entry (an unknown or missing key is
an error naming it).
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from fsnlu_jax.train.loop import LoopConfig


@dataclasses.dataclass(frozen=True)
class DataConfig:
  """Which examples a job trains and evaluates on.

  Attributes:
    name: the dataset (``NAME`` or ``NAME/CONFIG``).
    train_splits: splits whose examples are trained on.
    eval_split: the split evaluated during training.
    domains: keep only these domains; None keeps all.
    exclude_domains: drop these domains.
    intents: keep only these intents (a few-shot encoder's train intents);
      None keeps all.
    max_train: a seeded subset of this many training examples; None: all.
    subset_seed: the seed of that subset.
    max_length: longest utterance in tokens (longer ones are cut, counted).
    units: the model's tokens: ``"words"`` (the dataset's), or ``"pieces"``,
      the word pieces of ``tokenizer`` (:mod:`fsnlu_jax.transfer.pieces`;
      ``max_length`` then counts pieces; slots are still scored on words).
    tokenizer: (pieces) the model folder whose ``tokenizer.json`` splits words.
  """

  name: str
  train_splits: tuple[str, ...]
  eval_split: str
  domains: tuple[str, ...] | None = None
  exclude_domains: tuple[str, ...] = ()
  intents: tuple[str, ...] | None = None
  max_train: int | None = None
  subset_seed: int = 0
  max_length: int = 32
  units: Literal["words", "pieces"] = "words"
  tokenizer: str = "all-MiniLM-L6-v2"


@dataclasses.dataclass(frozen=True)
class ModelConfig:
  """The sizes of :class:`fsnlu_jax.models.MultitaskBiLSTM` (its label sizes come from the data).

  ``word_dropout``: the training-time rate at which a token becomes ``<unk>``
  (:class:`fsnlu_jax.models.MultitaskConfig`); a fine-tuning job applies its
  own config's rate to the pretrained model.
  """

  embed_dim: int
  shared_hidden: int
  task_hidden: int
  slot_decoder: Literal["crf", "softmax"]
  dropout: float
  pooling: Literal["final", "mean", "max"]
  word_dropout: float = 0.0


@dataclasses.dataclass(frozen=True)
class OptimConfig:
  """Adam's learning rate, the frozen sub-modules and the slot loss weight."""

  learning_rate: float
  freeze: tuple[str, ...] = ()
  slot_weight: float = 1.0


@dataclasses.dataclass(frozen=True)
class TrainConfig(LoopConfig):
  """The loop's lengths plus the global batch and the evaluation chunk size."""

  batch_size: int = 32
  eval_batch_size: int = 256


@dataclasses.dataclass(frozen=True)
class FinetuneConfig:
  """What fine-tuning keeps and adds.

  Attributes:
    reinit_task_lstms: re-draw the task bi-LSTMs.
    extend_vocab: append the new domain's training words the pretrained
      vocabulary lacks (:meth:`fsnlu_jax.data.Vocab.extend`), with new
      embedding rows; the pretrained rows are kept bit-identical. False keeps
      the pretrained vocabulary (new words are ``<unk>``, as before).
    new_rows: how the new rows start: ``"random"`` (N(0, 1), a from-scratch
      word), ``"mean"`` (the mean pretrained word vector) or ``"unk"`` (the
      ``<unk>`` vector); see :func:`fsnlu_jax.models.new_embedding_rows`.
    min_count: a new word is added when it occurs at least this often in the
      fine-tuning utterances.
  """

  reinit_task_lstms: bool = False
  extend_vocab: bool = True
  new_rows: Literal["random", "mean", "unk"] = "mean"
  min_count: int = 1


@dataclasses.dataclass(frozen=True)
class TransferConfig:
  """A pretraining, fine-tuning or from-scratch job."""

  job: str
  seed: int
  data: DataConfig
  model: ModelConfig
  optim: OptimConfig
  train: TrainConfig
  finetune: FinetuneConfig | None = None
