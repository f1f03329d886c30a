"""The typed config of the few-shot job (``configs/fewshot.py``)."""

from __future__ import annotations

import dataclasses
from typing import Literal

from fsnlu_jax.train.loop import LoopConfig
from fsnlu_jax.transfer import ModelConfig, OptimConfig, TrainConfig


@dataclasses.dataclass(frozen=True)
class FewshotDataConfig:
  """The dataset, the utterance length, and intents left out of the job (data errors)."""

  name: str
  max_length: int = 32
  exclude_intents: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class SplitConfig:
  """The FS-unseen intent split: whole domains (``n_domains``) or intents (``fractions``)."""

  by: Literal["domain", "intent"]
  seed: int = 0
  n_domains: tuple[int, int, int] | None = None
  fractions: tuple[float, float, float] | None = None


@dataclasses.dataclass(frozen=True)
class EncoderConfig:
  """The sentence encoder.

  Attributes:
    kind: ``"bilstm"``: a multitask bi-LSTM trained on the train intents
      (``model``, ``optim``, ``train``) through :mod:`fsnlu_jax.transfer`;
      ``"pretrained"``: a BERT-family checkpoint (``path``).
    path: the pretrained folder or hub name (``--pretrained`` overrides it).
    batch_size: rows per encoder call (pretrained).
    max_length: word pieces kept (pretrained; None: the model's limit).
    finetune: train the encoder (bi-LSTM or pretrained) inside the episodes,
      with the episodic loss; the state kept is the best validation step's
      (step 0, the untouched encoder, included): early stopping by selection.
    learning_rate: the fine-tuned encoder's own learning rate (None: the
      episodes' rate).
  """

  kind: Literal["bilstm", "pretrained"] = "bilstm"
  model: ModelConfig | None = None
  optim: OptimConfig | None = None
  train: TrainConfig | None = None
  path: str | None = None
  batch_size: int = 64
  max_length: int | None = None
  finetune: bool = False
  learning_rate: float | None = None


@dataclasses.dataclass(frozen=True)
class ProtonetConfig:
  """The sizes of :class:`fsnlu_jax.models.ProtoDAConfig` other than the input and the system's."""

  proto_dim: int
  proto_hidden: int
  placement: Literal["proto", "sentence"] = "proto"
  n_synthetic: int = 5
  noise_dim: int = 32
  generator_hidden: int = 256
  generator: Literal["shot", "class"] = "shot"
  metric: Literal["euclidean", "cosine"] = "euclidean"
  scale: float = 1.0
  proto_init: Literal["lecun", "identity"] = "lecun"


@dataclasses.dataclass(frozen=True)
class EpisodesConfig(LoopConfig):
  """Episodic training: the loop's lengths plus the episodes' shape and the optimizer.

  Attributes:
    n_way, k_shot, q_query: ``N``, ``K``, ``Q`` of a training episode.
    per_step: ``E``, episodes per step (divisible by the devices).
    query_split: the split training queries come from.
    generator_warmup: ProtoNet-only steps before synthetic samples join.
    learning_rate: Adam's.
    eval_episodes: validation episodes per evaluation.
  """

  n_way: int = 5
  k_shot: int = 5
  q_query: int = 5
  per_step: int = 8
  query_split: str = "validation"
  generator_warmup: int = 0
  learning_rate: float = 1e-3
  eval_episodes: int = 200


@dataclasses.dataclass(frozen=True)
class SoftmaxConfig:
  """The softmax transfer baseline's per-episode fit."""

  steps: int = 100
  learning_rate: float = 0.05
  weight_decay: float = 1e-3


@dataclasses.dataclass(frozen=True)
class FsFullConfig:
  """FS-full over the test intents: ``K`` train examples of each, ``samplings`` draws."""

  k_shot: tuple[int, ...]
  samplings: int = 3


@dataclasses.dataclass(frozen=True)
class EvaluationConfig:
  """The test episodes: every ``(N, K)`` of ``n_way`` x ``k_shot`` (``"all"``: every test intent)."""

  n_way: tuple[int | Literal["all"], ...]
  k_shot: tuple[int, ...]
  q_query: int = 5
  episodes: int = 600
  seed: int = 1234
  fs_full: FsFullConfig | None = None


@dataclasses.dataclass(frozen=True)
class FewshotConfig:
  """The few-shot job.

  Attributes:
    seed: the encoder's, the intent split's order and the first training seed.
    training_seeds: every episodic system is trained once per seed (None:
      ``(seed,)``) and scored on the same episodes, so that comparisons
      are paired and the seeds' variance is in the intervals.
  """

  job: str
  seed: int
  data: FewshotDataConfig
  split: SplitConfig
  encoder: EncoderConfig
  protonet: ProtonetConfig
  systems: tuple[Literal["softmax", "protonet", "gaussian", "protoda"], ...]
  gaussian_noise_scales: tuple[float, ...]
  episodes: EpisodesConfig
  softmax: SoftmaxConfig
  evaluation: EvaluationConfig
  training_seeds: tuple[int, ...] | None = None
