"""The typed config of the rewriting job (``configs/rewrite.py``)."""

from __future__ import annotations

import dataclasses
from typing import Literal

from fsnlu_jax.data.rewrite import RewriteDataConfig
from fsnlu_jax.train import WarmupCosineConfig
from fsnlu_jax.train.loop import LoopConfig


@dataclasses.dataclass(frozen=True)
class RewriteJobDataConfig(RewriteDataConfig):
  """The simulation's settings (:class:`~fsnlu_jax.data.rewrite.RewriteDataConfig`, whose
  ``simulation`` picks ``"independent"`` or ``"contextual"`` sessions) plus:

  Attributes:
    datasets: the corpora the utterances come from.
    max_source_len, max_target_len: token lengths (longer ones are cut, counted).
    max_eval_pairs: validation and test pairs kept (a seeded subset); None: all.
  """

  datasets: tuple[str, ...] = ("snips", "hwu64")
  max_source_len: int = 40
  max_target_len: int = 20
  max_eval_pairs: int | None = None

  def simulation_config(self) -> RewriteDataConfig:
    """The fields :func:`fsnlu_jax.data.rewrite.build_rewrite_dataset` reads."""
    return RewriteDataConfig(**{f.name: getattr(self, f.name)
                                for f in dataclasses.fields(RewriteDataConfig)})


@dataclasses.dataclass(frozen=True)
class RewriterModelConfig:
  """The rewriter: its kind, and its sizes (lengths come from ``data``).

  Attributes:
    kind: ``"word"``: a transformer over the simulation's words, trained from
      scratch (:class:`fsnlu_jax.models.RewriterConfig`: ``d_model`` to
      ``positions``); ``"subword"``: word pieces, an encoder-decoder
      warm-started from ``checkpoint`` (:mod:`fsnlu_jax.rewrite.subword`;
      ``data`` lengths then count pieces).
    checkpoint: (subword) a BERT model folder or name.
    n_decoder_layers: decoder blocks (subword: the checkpoint's first n).
    train_encoder_layers: (subword) the encoder's top n blocks are trained,
      the rest frozen (None: all).
    train_embeddings: (subword) train the shared word / position / segment tables.
    copy: (word) copy words of the source into the rewrite (a pointer-generator,
      :class:`fsnlu_jax.models.RewriterConfig`).
  """

  kind: Literal["word", "subword"] = "word"
  checkpoint: str = "all-MiniLM-L6-v2"
  train_encoder_layers: int | None = 2
  train_embeddings: bool = False
  d_model: int = 256
  n_heads: int = 4
  n_encoder_layers: int = 3
  n_decoder_layers: int = 3
  d_ff: int = 1024
  dropout: float = 0.1
  positions: Literal["learned", "sinusoidal"] = "learned"
  copy: bool = False


@dataclasses.dataclass(frozen=True)
class RewriteTrainConfig(LoopConfig):
  """The loop's lengths plus the global batch."""

  batch_size: int = 64


@dataclasses.dataclass(frozen=True)
class DecodeConfig:
  """Beam search, the threshold objective (:mod:`fsnlu_jax.rewrite.scoring`), and:

  Attributes:
    combined_k: retrieval candidates the rewriter scores beside its beam
      (the ``combined_*`` systems, :mod:`fsnlu_jax.rewrite.combined`).
    context_k, context_weight: retrieval that reads the previous turn
      re-ranks the ``context_k`` nearest by ``sim(heard) + context_weight *
      sim(previous)`` (the ``retrieval_context_*`` systems). The defaults
      were the best top-1 accuracy in the global trie on the contextual
      simulation's validation pairs (SNIPS + HWU64, k in {3, 10}, weight in
      {0.25, 0.5, 1}: 0.410 vs 0.405 without the previous turn).
  """

  beam_size: int = 4
  alpha: float = 0.6
  batch_size: int = 100
  objective: Literal["f1", "precision_at_recall"] = "f1"
  recall_floor: float = 0.5
  combined_k: int = 5
  context_k: int = 3
  context_weight: float = 0.25


@dataclasses.dataclass(frozen=True)
class RewriteConfig:
  """The rewriting job."""

  job: str
  seed: int
  data: RewriteJobDataConfig
  model: RewriterModelConfig
  optim: WarmupCosineConfig
  train: RewriteTrainConfig
  decode: DecodeConfig
