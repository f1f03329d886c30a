"""Source / target pairs of word pieces as arrays, and their bucketed batches (host-side NumPy).

One layout for every encoder-decoder job (the LINGUIST teacher, the semantic
parser): sources ``[CLS] ... [SEP]`` as given, targets fed as ``bos + pieces``
and predicted as ``pieces + eos``. A batch is cut to the smallest bucket that
holds its longest source and its longest target, so a jitted step compiles
once per bucket pair.

Shapes: ``N`` pairs, ``B`` batch, ``Ls`` source length, ``Lt`` target length.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np


def pack_pairs(sources: Sequence[Sequence[int]], targets: Sequence[Sequence[int]], *,
               max_source_len: int, max_target_len: int, bos_id: int, eos_id: int,
               pad_id: int) -> dict[str, np.ndarray]:
  """``src_ids [N, Ls]``, ``src_len [N]``, ``tgt_in``, ``tgt_out [N, Lt]`` int32 and
  ``tgt_mask [N, Lt]`` bool; every pair must already fit (the caller drops, and counts,
  those that do not)."""
  n = len(sources)
  arrays = dict(src_ids=np.full((n, max_source_len), pad_id, np.int32),
                src_len=np.array([len(s) for s in sources], np.int32).reshape(n),
                tgt_in=np.full((n, max_target_len), pad_id, np.int32),
                tgt_out=np.full((n, max_target_len), pad_id, np.int32),
                tgt_mask=np.zeros((n, max_target_len), bool))
  for i, (s, t) in enumerate(zip(sources, targets)):
    t = list(t)
    arrays["src_ids"][i, :len(s)] = s
    arrays["tgt_in"][i, :len(t) + 1] = [bos_id] + t
    arrays["tgt_out"][i, :len(t) + 1] = t + [eos_id]
    arrays["tgt_mask"][i, :len(t) + 1] = True
  return arrays


def bucket(length: int, buckets: Sequence[int], width: int) -> int:
  """The smallest of ``buckets`` that holds ``length``, at most ``width``."""
  return min(next((b for b in buckets if b >= length), width), width)


def padded_batch(arrays: Mapping[str, np.ndarray], rows: np.ndarray, batch_size: int, *,
                 source_buckets: Sequence[int], target_buckets: Sequence[int]
                 ) -> dict[str, np.ndarray]:
  """Rows of :func:`pack_pairs` arrays as a ``[B, ...]`` batch cut to the buckets of its
  longest source and target, with ``src_mask``.

  Filler rows (to reach ``B``) repeat row 0 with no target tokens, so losses
  and evaluation sums skip them.
  """
  pad = batch_size - len(rows)
  take = np.concatenate([rows, np.full(pad, rows[0])]) if pad else np.asarray(rows)
  length = bucket(int(arrays["src_len"][take].max()), source_buckets, arrays["src_ids"].shape[1])
  target = bucket(int(arrays["tgt_mask"][take].sum(1).max()), target_buckets,
                  arrays["tgt_mask"].shape[1])
  out = dict(src_ids=arrays["src_ids"][take, :length],
             src_mask=np.arange(length)[None, :] < arrays["src_len"][take][:, None],
             tgt_in=arrays["tgt_in"][take, :target], tgt_out=arrays["tgt_out"][take, :target],
             tgt_mask=arrays["tgt_mask"][take, :target].copy())
  out["tgt_mask"][len(rows):] = False
  return out
