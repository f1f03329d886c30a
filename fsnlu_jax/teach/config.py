"""The typed config of the teaching jobs (``configs/teach.py``)."""

from __future__ import annotations

import dataclasses

from fsnlu_jax.models import WarmStartConfig
from fsnlu_jax.teach.instructions import InstructionConfig
from fsnlu_jax.train import WarmupCosineConfig
from fsnlu_jax.train.loop import LoopConfig


@dataclasses.dataclass(frozen=True)
class TeachDataConfig(InstructionConfig):
  """Where instruction pairs come from (plus :class:`InstructionConfig`'s draws).

  Attributes:
    datasets: corpora with intents and slots, by loader name (every split is used).
    exclude_intents: intents the teacher must never see (an evaluation's targets).
    max_source_len: most prompt pieces (examples are removed until a prompt fits).
    max_target_len: most output pieces, EOS included (longer targets are dropped, counted).
    validation_pairs: pairs held out (seeded) for validation.
    max_pairs: keep a seeded subset of the training pairs; None: all.
    max_per_dataset: keep a seeded subset of each dataset's examples, so one
      large corpus does not drown the others; None: all.
  """

  datasets: tuple[str, ...] = ("hwu64", "slurp", "synthetic")
  exclude_intents: tuple[str, ...] = ()
  max_source_len: int = 160
  max_target_len: int = 40
  validation_pairs: int = 500
  max_pairs: int | None = None
  max_per_dataset: int | None = None

  def instructions(self) -> InstructionConfig:
    """The fields :func:`fsnlu_jax.teach.instructions.build_instructions` reads."""
    return InstructionConfig(**{f.name: getattr(self, f.name)
                                for f in dataclasses.fields(InstructionConfig)})


@dataclasses.dataclass(frozen=True)
class TeachTrainConfig(LoopConfig):
  """The loop's lengths plus the global batch."""

  batch_size: int = 16


@dataclasses.dataclass(frozen=True)
class SamplingConfig:
  """Constrained sampling (:func:`fsnlu_jax.kernels.sample`).

  Attributes:
    temperature, top_k, top_p: the sampling distribution (``top_k`` 0: off).
    max_length: most output pieces, EOS included.
    batch_size: prompts decoded together (a static shape: one compile).
  """

  temperature: float = 1.0
  top_k: int = 0
  top_p: float = 0.9
  max_length: int = 40
  batch_size: int = 32


@dataclasses.dataclass(frozen=True)
class TeachConfig:
  """The teacher's training job."""

  job: str
  seed: int
  data: TeachDataConfig
  model: WarmStartConfig
  optim: WarmupCosineConfig
  train: TeachTrainConfig
  sampling: SamplingConfig = SamplingConfig()
