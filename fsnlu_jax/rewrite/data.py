"""The rewriting job's data: simulated pairs and tries, encoded, and training batches.

Shapes: ``B`` batch, ``Ls`` source length, ``Lt`` target length.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Mapping

import numpy as np

from fsnlu_jax.data import rewrite as rw
from fsnlu_jax.data.vocab import Vocab
from fsnlu_jax.rewrite import pieces, subword
from fsnlu_jax.rewrite.config import RewriteConfig

_log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, eq=False)
class RewriteJobData:
  """The dataset, its vocabulary (words, or a :class:`~fsnlu_jax.rewrite.pieces.PieceVocab`
  for the sub-word rewriter) and the train / validation / test arrays."""

  dataset: rw.RewriteDataset
  vocab: Vocab | pieces.PieceVocab
  arrays: dict[str, dict[str, np.ndarray]]  # split -> encode_pairs arrays
  pairs: dict[str, tuple[rw.RewritePair, ...]]  # split -> the pairs of `arrays`


def build_data(config: RewriteConfig, *, data_dir=None, cache_dir=None) -> RewriteJobData:
  """The pairs and tries of ``config.data``; evaluation splits subsampled (seeded)
  to ``data.max_eval_pairs`` pairs when set."""
  d = config.data
  corpus = rw.load_corpus(d.datasets, data_dir=data_dir, cache_dir=cache_dir)
  dataset = rw.build_rewrite_dataset(corpus, d.simulation_config())
  if config.model.kind == "subword":
    vocab, encode = subword.vocab_for(config), pieces.encode_pairs
    # Known-good utterances decode back to their words exactly (pieces.py).
    _log.info("word pieces: %s", vocab.remember(_utterances(dataset)))
  else:
    vocab, encode = rw.build_vocab(dataset), rw.encode_pairs
  pairs, arrays = {}, {}
  for split, items in dataset.splits.items():
    limit = d.max_eval_pairs
    if split != "train" and limit and len(items) > limit:
      # By the data's seed: runs of other training seeds score the same pairs (paired).
      keep = np.sort(np.random.default_rng([d.seed, 7]).permutation(len(items))[:limit])
      items = tuple(items[i] for i in keep)
    pairs[split] = items
    arrays[split], stats = encode(items, vocab, max_source_len=d.max_source_len,
                                           max_target_len=d.max_target_len)
    _log.info("%s: %s", split, stats)
  return RewriteJobData(dataset, vocab, arrays, pairs)


def _utterances(dataset: rw.RewriteDataset) -> set[rw.Words]:
  """Every known-good utterance: the global trie and every user's."""
  out = set(dataset.global_trie)
  for u in dataset.users:
    out |= u.personal_trie
  return out


def batch(arrays: Mapping[str, np.ndarray], rows: np.ndarray, batch_size: int
          ) -> dict[str, np.ndarray]:
  """The rows as a ``[B, ...]`` batch; filler rows repeat row 0 with no target tokens.

  Filler rows have no target tokens, so the loss sums (and an evaluation's)
  skip them.
  """
  pad = batch_size - len(rows)
  take = np.concatenate([rows, np.full(pad, rows[0])]) if pad else rows
  keys = ("source_ids", "source_mask", "target_in", "target_out", "target_mask")
  out = {k: arrays[k][take] for k in keys}
  if pad:
    out["target_mask"] = out["target_mask"].copy()
    out["target_mask"][len(rows):] = False
  return out
