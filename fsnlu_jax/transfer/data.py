"""The multitask jobs' data: filtered examples, label sets, encoded splits, padded batches.

Shapes: ``B`` global batch, ``L`` padded length (``L'`` of the evaluation split),
``Ut`` training rows, ``Ue`` evaluation rows.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Mapping, Sequence

import numpy as np

from fsnlu_jax.data import (IGNORE_INDEX, EncodedSplit, Example, LabelVocab, Vocab,
                            encode_split, loading)
from fsnlu_jax.transfer.config import DataConfig
from fsnlu_jax.transfer.pieces import UNKNOWN_PIECE, PieceExamples, load_tokenizer, to_pieces

_log = logging.getLogger(__name__)


@dataclasses.dataclass
class TransferData:
  """Everything a multitask training run reads about its data."""

  vocab: Vocab
  intents: LabelVocab
  tags: LabelVocab
  train: EncodedSplit  # [Ut, L] training arrays
  eval: EncodedSplit  # [Ue, L'] evaluation arrays
  eval_examples: list[Example]  # the Ue evaluation examples, for SemER
  # data.units == "pieces": the evaluation examples' words and piece alignment
  # (eval_examples are then pieces; slots are scored on the words).
  eval_pieces: PieceExamples | None = None


def select_examples(splits: Mapping[str, Sequence[Example]], data: DataConfig
                    ) -> tuple[list[Example], list[Example]]:
  """``(train, eval)`` examples after the config's split, domain and intent filters.

  Raises:
    KeyError: a split the dataset does not have.
    ValueError: the filters leave no training or no evaluation example.
  """

  def keep(e: Example) -> bool:
    return ((data.domains is None or e.domain in data.domains)
            and e.domain not in data.exclude_domains
            and (data.intents is None or e.intent in data.intents))

  for split in [*data.train_splits, data.eval_split]:
    if split not in splits:
      raise KeyError(f"dataset {data.name!r} has no split {split!r}; has {sorted(splits)}")
  train = [e for s in data.train_splits for e in splits[s] if keep(e)]
  evals = [e for e in splits[data.eval_split] if keep(e)]
  if not train or not evals:
    raise ValueError(f"domain filter leaves {len(train)} train / {len(evals)} eval examples")
  if data.max_train is not None and data.max_train < len(train):
    rows = np.random.default_rng(data.subset_seed).choice(len(train), data.max_train,
                                                          replace=False)
    train = [train[i] for i in sorted(rows)]
  return train, evals


def load_examples(data: DataConfig, data_dir=None, cache_dir=None
                  ) -> tuple[list[Example], list[Example]]:
  """Reads the config's dataset and applies :func:`select_examples`."""
  splits = loading.load(data.name, splits=[*data.train_splits, data.eval_split],
                        data_dir=data_dir, cache_dir=cache_dir, progress=False)
  train, evals = select_examples(splits, data)
  _log.info("%s: %d train, %d eval examples", data.name, len(train), len(evals))
  return train, evals


def in_units(data: DataConfig, train: Sequence[Example], evals: Sequence[Example]
             ) -> tuple[list[Example], list[Example], PieceExamples | None]:
  """``(train, eval, eval alignment)`` in the config's units: the words as loaded
  (alignment None), or word pieces of ``data.tokenizer`` (:mod:`.pieces`)."""
  if data.units == "words":
    return list(train), list(evals), None
  tokenizer = load_tokenizer(data.tokenizer)
  train_pieces, eval_pieces = to_pieces(train, tokenizer), to_pieces(evals, tokenizer)
  lengths = [len(e.tokens) for e in train_pieces.examples]
  _log.info("word pieces of %s: %.2f per word in training, %d words without a piece (as %s)",
            data.tokenizer, sum(lengths) / max(sum(len(e.tokens) for e in train), 1),
            train_pieces.empty_words + eval_pieces.empty_words, UNKNOWN_PIECE)
  return train_pieces.examples, eval_pieces.examples, eval_pieces


def label_vocabs(examples: Sequence[Example]) -> tuple[LabelVocab, LabelVocab]:
  """Intent and BIO tag sets of ``examples``."""
  return (LabelVocab.build([e.intent for e in examples]),
          LabelVocab.build_bio([e.slots for e in examples]))


def encode(vocab: Vocab, intents: LabelVocab, tags: LabelVocab, train: Sequence[Example],
           evals: Sequence[Example], *, max_length: int,
           buckets: tuple[int, ...] | None = None,
           eval_pieces: PieceExamples | None = None) -> TransferData:
  """Training and evaluation arrays; an evaluation label the training data lacks is -1, counted.

  ``buckets``: the padded lengths allowed (default: the encoder's buckets).
  ``eval_pieces``: ``evals``' words and alignment when they are word pieces.
  """
  kwargs = dict(max_length=max_length, **({} if buckets is None else dict(buckets=buckets)))
  enc_train = encode_split(list(train), vocab, intents, tags, **kwargs)
  enc_eval = encode_split(list(evals), vocab, intents, tags, unknown_label="ignore", **kwargs)
  _log.info("train encoding %s; eval encoding %s", enc_train.stats.as_dict(),
            enc_eval.stats.as_dict())
  return TransferData(vocab, intents, tags, enc_train, enc_eval, list(evals), eval_pieces)


def padded_batch(data: EncodedSplit, rows: np.ndarray, batch_size: int) -> dict[str, np.ndarray]:
  """The rows of ``data`` as a ``[B, ...]`` training batch.

  Filler rows are all padding (mask False, labels -1): the loss skips them,
  so a short last batch of an epoch trains exactly its real rows.
  """
  pad = batch_size - len(rows)

  def take(x: np.ndarray, fill) -> np.ndarray:
    out = x[rows]
    return np.concatenate([out, np.full((pad, *x.shape[1:]), fill, x.dtype)]) if pad else out

  return dict(token_ids=take(data.token_ids, 0), mask=take(data.mask, False),
              intent=take(data.intent, IGNORE_INDEX), slots=take(data.slots, IGNORE_INDEX))
