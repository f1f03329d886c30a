"""The selection job's examples: the labelled set, the pool, and the ids every model shares.

Shapes: ``U`` utterances, ``L`` padded length.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from fsnlu_jax import transfer
from fsnlu_jax.data import Example, LabelVocab, Vocab, loading, pad_batch
from fsnlu_jax.selection.config import SelectionConfig


@dataclasses.dataclass
class SelectionData:
  """The job's examples and the label and word ids every model of it shares."""

  train: list[Example]  # the labelled fraction
  pool: list[Example]  # the rest; labels read only once selected
  validation: list[Example]  # where the base model's errors are found
  test: list[Example]  # where every model is scored
  vocab: Vocab
  intents: LabelVocab
  tags: LabelVocab


def split_pool(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
  """``(train_rows, pool_rows)``, sorted: ``round(fraction * n)`` rows drawn for training."""
  if not 0 < fraction < 1:
    raise ValueError(f"train_fraction must be in (0, 1), got {fraction}")
  perm = np.random.default_rng([seed, 0]).permutation(n)
  k = max(1, round(fraction * n))
  return np.sort(perm[:k]), np.sort(perm[k:])


def load_data(config: SelectionConfig, data_dir=None, cache_dir=None) -> SelectionData:
  """Reads the config's splits, applies its domain filter and draws the labelled set.

  The vocabulary is built from all the training splits' text (unlabelled text
  is at hand), the intents and tags from all their labels (the label
  inventory), so every model of the job has the same sizes.
  """
  d = config.data
  names = [*d.train_splits, d.validation_split, d.test_split]
  splits = loading.load(d.name, splits=names, data_dir=data_dir, cache_dir=cache_dir,
                        progress=False)

  def keep(examples: Sequence[Example]) -> list[Example]:
    return [e for e in examples if d.domains is None or e.domain in d.domains]

  everything = keep([e for s in d.train_splits for e in splits[s]])
  train_rows, pool_rows = split_pool(len(everything), d.train_fraction, config.seed)
  intents, tags = transfer.label_vocabs(everything)
  return SelectionData(
      train=[everything[i] for i in train_rows], pool=[everything[i] for i in pool_rows],
      validation=keep(splits[d.validation_split]), test=keep(splits[d.test_split]),
      vocab=Vocab.build([e.tokens for e in everything]), intents=intents, tags=tags)


def token_arrays(examples: Sequence[Example], vocab: Vocab, max_length: int
                 ) -> tuple[np.ndarray, np.ndarray]:
  """Word ids ``[U, max_length]`` and mask of ``examples``' tokens; labels are not read."""
  return pad_batch([vocab.encode(e.tokens[:max_length]) for e in examples], max_length)
