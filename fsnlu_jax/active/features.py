"""Hashed word n-gram features as static-shape index arrays (host-side NumPy).

An utterance becomes the set of hash buckets of its word 1..n-grams: a row of
``F`` int32 ids and a mask. Scoring a linear model is then a gather-and-sum
(:func:`fsnlu_jax.kernels.hashed_scores`) and no ``[P, H]`` matrix exists.
Hashing is CRC-32 (stable across processes and Python versions, unlike
``hash``); a collision merges two n-grams into one bucket, as in Vowpal Wabbit.

Shapes: ``P`` rows, ``F`` features per row, ``L`` tokens, ``G`` features per token.
"""

from __future__ import annotations

import dataclasses
import zlib
from typing import Sequence

import numpy as np

DEFAULT_BUCKETS = 1 << 18
# Row widths are rounded up to a multiple of this, so pools of similar
# utterances share one compiled shape.
WIDTH_MULTIPLE = 16


@dataclasses.dataclass(frozen=True)
class HashedRows:
  """Hashed features of ``P`` rows.

  Attributes:
    ids: ``[P, F]`` int32 bucket ids in ``[0, num_buckets)``; 0 where masked.
    mask: ``[P, F]`` bool, True on real features.
    num_buckets: ``H``.
  """

  ids: np.ndarray
  mask: np.ndarray
  num_buckets: int

  def __len__(self) -> int:
    return self.ids.shape[0]

  def take(self, index: np.ndarray) -> "HashedRows":
    return HashedRows(self.ids[index], self.mask[index], self.num_buckets)

  def packed(self, capacity: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(ids [N], rows [N])`` int32: the real features only, row after row
    (:func:`fsnlu_jax.kernels.packed_hashed_scores`), padded to ``capacity``
    with id 0 in row ``P`` (counted nowhere); None: ``N`` = the real ones."""
    rows, _ = np.nonzero(self.mask)  # row-major: rows non-decreasing
    ids = self.ids[self.mask]
    pad = 0 if capacity is None else capacity - len(ids)
    if pad < 0:
      raise ValueError(f"{len(ids)} features do not fit capacity={capacity}")
    return (np.pad(ids, (0, pad)).astype(np.int32),
            np.pad(rows, (0, pad), constant_values=len(self)).astype(np.int32))


def bucket(feature: str, num_buckets: int) -> int:
  """The bucket of one feature string."""
  return zlib.crc32(feature.encode("utf-8")) % num_buckets


def ngrams(tokens: Sequence[str], max_n: int = 3) -> list[str]:
  """Word 1..``max_n``-grams of lower-cased tokens, ``n:``-prefixed, in order."""
  words = [t.lower() for t in tokens]
  return [f"{n}:" + " ".join(words[i:i + n])
          for n in range(1, max_n + 1) for i in range(len(words) - n + 1)]


def _pack(rows: list[list[int]], num_buckets: int, width: int | None) -> HashedRows:
  longest = max((len(r) for r in rows), default=0)
  if width is None:
    width = max(WIDTH_MULTIPLE, -(-longest // WIDTH_MULTIPLE) * WIDTH_MULTIPLE)
  elif longest > width:
    raise ValueError(f"a row has {longest} features, more than width={width}")
  ids = np.zeros((len(rows), width), np.int32)
  mask = np.zeros((len(rows), width), bool)
  for i, row in enumerate(rows):
    ids[i, :len(row)] = row
    mask[i, :len(row)] = True
  return HashedRows(ids, mask, num_buckets)


def hash_ngrams(utterances: Sequence[Sequence[str]], *, max_n: int = 3,
                num_buckets: int = DEFAULT_BUCKETS, width: int | None = None) -> HashedRows:
  """Binary hashed word 1..``max_n``-gram features of tokenised utterances.

  A bucket hit twice in one utterance counts once (binary features, as the
  paper's linear classifiers use), so rows hold distinct ids.

  >>> rows = hash_ngrams([["play", "jazz"]], num_buckets=1 << 10)
  >>> int(rows.mask.sum()), rows.ids.shape
  (3, (1, 16))

  Args:
    utterances: ``P`` token sequences.
    max_n: the longest n-gram.
    num_buckets: ``H``.
    width: ``F``; default the longest row rounded up to a multiple of 16.

  Returns:
    :class:`HashedRows`.
  """
  rows = [sorted({bucket(g, num_buckets) for g in ngrams(tokens, max_n)})
          for tokens in utterances]
  return _pack(rows, num_buckets, width)


def token_features(tokens: Sequence[str]) -> list[list[str]]:
  """Per-token context features for a slot tagger: word, neighbours, bigrams, affixes, shape."""
  words = [t.lower() for t in tokens]
  padded = ["<s>"] + words + ["</s>"]
  out = []
  for i, word in enumerate(words):
    prev, nxt = padded[i], padded[i + 2]
    shape = "d" if word.isdigit() else ("a" if word.isalpha() else "x")
    out.append([f"w:{word}", f"p:{prev}", f"n:{nxt}", f"pw:{prev} {word}", f"wn:{word} {nxt}",
                f"pre:{word[:3]}", f"suf:{word[-3:]}", f"shape:{shape}", "bias"])
  return out


def hash_tokens(utterances: Sequence[Sequence[str]], *, length: int,
                num_buckets: int = DEFAULT_BUCKETS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Hashed per-token features of utterances padded to ``length`` tokens.

  Returns:
    ``(ids, feature_mask, token_mask)``: ``[P, L, G]`` int32, ``[P, L, G]``
    bool and ``[P, L]`` bool (True on real tokens).

  Raises:
    ValueError: an utterance is longer than ``length`` (nothing is truncated).
  """
  per_token = len(token_features(["x"])[0])
  ids = np.zeros((len(utterances), length, per_token), np.int32)
  token_mask = np.zeros((len(utterances), length), bool)
  for i, tokens in enumerate(utterances):
    if len(tokens) > length:
      raise ValueError(f"utterance {i} has {len(tokens)} tokens, more than length={length}")
    for t, features in enumerate(token_features(tokens)):
      ids[i, t] = [bucket(f, num_buckets) for f in features]
    token_mask[i, :len(tokens)] = True
  return ids, np.broadcast_to(token_mask[..., None], ids.shape).copy(), token_mask


def compact(ids: np.ndarray, mask: np.ndarray, *, multiple: int = 1024
            ) -> tuple[np.ndarray, np.ndarray]:
  """Renumbers the buckets a training set uses as ``0..U-1``, to train on a ``[U]`` table.

  A bucket no training row uses gets no gradient, and from a zero start with
  an L2 penalty (and Adam, whose update is 0 for a zero gradient) its weight
  stays exactly 0; so training the compact table and scattering it back into
  the ``[H]`` table gives the same model as training the full table, for a
  fraction of the work.

  Args:
    ids: ``[..., F]`` bucket ids.
    mask: the same shape, True on real features.
    multiple: ``U`` is rounded up to a power of two of at least this, so
      rounds of similar size share a compile.

  Returns:
    ``(local_ids, buckets)``: ids in ``[0, U)`` (0 where masked), and ``[U]``
    int32 the original bucket of each local id (-1 for the padding, which no
    row uses).
  """
  used, inverse = np.unique(np.where(mask, ids, -1), return_inverse=True)
  inverse = inverse.reshape(ids.shape)
  if used.size and used[0] == -1:  # the masked slots
    used, inverse = used[1:], inverse - 1
  size = max(multiple, 1 << max(int(used.size) - 1, 0).bit_length())
  buckets = np.full(size, -1, np.int32)
  buckets[:used.size] = used
  return np.where(mask, inverse, 0).astype(np.int32), buckets


def expand(weights: np.ndarray, buckets: np.ndarray, num_buckets: int) -> np.ndarray:
  """The ``[..., H]`` table of a ``[..., U]`` compact one (:func:`compact`): zeros elsewhere."""
  weights = np.asarray(weights)
  full = np.zeros(weights.shape[:-1] + (num_buckets,), weights.dtype)
  real = buckets >= 0
  full[..., buckets[real]] = weights[..., real]
  return full
