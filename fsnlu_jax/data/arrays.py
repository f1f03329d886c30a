"""Examples to static-shape NumPy arrays, padded to a few length buckets.

A jitted model compiles once per input shape, so sequence lengths are rounded
up to one of a few buckets (:data:`DEFAULT_BUCKETS`) rather than padded to
each batch's own maximum. :func:`encode_split` pads a whole split to the one
bucket that fits its longest example; :func:`encode_buckets` groups examples
by bucket, so short utterances are not padded to the longest one at inference.

Nothing is dropped or changed silently: examples longer than the largest
bucket are truncated and counted, out-of-vocabulary words and unknown labels
are counted in :class:`EncodeStats`.

Shapes: ``B`` examples, ``L`` padded length (a bucket), ``B_L`` examples in bucket ``L``.
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Mapping, Sequence

import numpy as np

from fsnlu_jax.data.schema import Example
from fsnlu_jax.data.vocab import (IGNORE_INDEX, PAD_ID, UNK_ID, UNKNOWN_LABEL_POLICIES,
                                  LabelVocab, UnknownLabel, Vocab)

DEFAULT_BUCKETS = (8, 16, 32, 64)


def _check_buckets(buckets: Sequence[int]) -> tuple[int, ...]:
  buckets = tuple(int(b) for b in buckets)
  if not buckets:
    raise ValueError("buckets must not be empty")
  if any(b < 1 for b in buckets) or list(buckets) != sorted(set(buckets)):
    raise ValueError(f"buckets must be positive and strictly increasing, got {buckets}")
  return buckets


def _effective_buckets(buckets: Sequence[int], max_length: int | None) -> tuple[int, ...]:
  """``buckets`` capped at ``max_length``, which becomes the largest bucket."""
  buckets = _check_buckets(buckets)
  if max_length is None:
    return buckets
  if max_length < 1:
    raise ValueError(f"max_length must be >= 1, got {max_length}")
  return tuple(b for b in buckets if b < max_length) + (int(max_length),)


def bucket_for(length: int, buckets: Sequence[int] = DEFAULT_BUCKETS) -> int:
  """The smallest bucket ``>= length``; the largest one when none is long enough.

  A result smaller than ``length`` means the sequence must be truncated; the
  encoders below do so and count it in :attr:`EncodeStats.truncated`.

  >>> bucket_for(5), bucket_for(8), bucket_for(9), bucket_for(100)
  (8, 8, 16, 64)

  Raises:
    ValueError: ``length`` is negative or ``buckets`` is empty or unsorted.
  """
  buckets = _check_buckets(buckets)
  if length < 0:
    raise ValueError(f"length must be >= 0, got {length}")
  for bucket in buckets:
    if bucket >= length:
      return bucket
  return buckets[-1]


def pad_batch(sequences: Sequence[Sequence[int]], length: int,
              pad_id: int = PAD_ID) -> tuple[np.ndarray, np.ndarray]:
  """Right-pads integer sequences to ``length``.

  >>> ids, mask = pad_batch([[5, 6, 7], [8]], 4)
  >>> ids.tolist(), mask.astype(int).tolist()
  ([[5, 6, 7, 0], [8, 0, 0, 0]], [[1, 1, 1, 0], [1, 0, 0, 0]])

  Args:
    sequences: ``B`` sequences of ints, each at most ``length`` long.
    length: ``L``, the padded length.
    pad_id: the value written after each sequence (``PAD_ID`` for tokens,
      ``IGNORE_INDEX`` for labels).

  Returns:
    ``(ids, mask)``: ``ids`` ``[B, L]`` int32; ``mask`` ``[B, L]`` bool, True
    on real positions.

  Raises:
    ValueError: a sequence is longer than ``length`` (truncation is the
      caller's decision, and is counted there).
  """
  ids = np.full((len(sequences), length), pad_id, dtype=np.int32)
  mask = np.zeros((len(sequences), length), dtype=bool)
  for row, seq in enumerate(sequences):
    n = len(seq)
    if n > length:
      raise ValueError(f"sequence {row} has {n} items, longer than length {length}")
    ids[row, :n] = seq
    mask[row, :n] = True
  return ids, mask


@dataclasses.dataclass(frozen=True)
class EncodeStats:
  """What encoding a split counted. Token counts are over the tokens kept.

  Attributes:
    examples: ``B``.
    truncated: examples longer than the largest bucket, cut to it.
    truncated_tokens: tokens dropped by that truncation.
    unknown_intent: intents not in the intent set (-1 in ``intent``).
    unknown_slot: slot tags not in the tag set (-1 in ``slots``).
    oov_tokens: tokens that mapped to ``<unk>``.
    total_tokens: tokens kept, ``== mask.sum()``.
  """

  examples: int = 0
  truncated: int = 0
  truncated_tokens: int = 0
  unknown_intent: int = 0
  unknown_slot: int = 0
  oov_tokens: int = 0
  total_tokens: int = 0

  @property
  def oov_rate(self) -> float:
    """Share of kept tokens that are out of vocabulary (0.0 for no tokens)."""
    return self.oov_tokens / self.total_tokens if self.total_tokens else 0.0

  def __add__(self, other: "EncodeStats") -> "EncodeStats":
    return EncodeStats(*(getattr(self, f.name) + getattr(other, f.name)
                         for f in dataclasses.fields(self)))

  def as_dict(self) -> dict[str, int]:
    return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True, eq=False)
class EncodedSplit:
  """Examples as padded arrays.

  Attributes:
    token_ids: ``[B, L]`` int32 word ids, ``PAD_ID`` after each example.
    mask: ``[B, L]`` bool, True on real tokens.
    lengths: ``[B]`` int32 tokens kept per example (``== mask.sum(1)``).
    intent: ``[B]`` int32 intent ids, -1 for unknown intents under "ignore".
    slots: ``[B, L]`` int32 tag ids, -1 at padding and for unknown tags.
    index: ``[B]`` int32 position of each row in the examples given.
    stats: counts of truncation, unknown labels and OOV tokens.
  """

  token_ids: np.ndarray
  mask: np.ndarray
  lengths: np.ndarray
  intent: np.ndarray
  slots: np.ndarray
  index: np.ndarray
  stats: EncodeStats

  def __len__(self) -> int:
    return self.token_ids.shape[0]

  @property
  def length(self) -> int:
    """``L``, the padded length (a bucket)."""
    return self.token_ids.shape[1]


def _check_examples(examples: Sequence[Example], unknown_label: str) -> None:
  if unknown_label not in UNKNOWN_LABEL_POLICIES:
    raise ValueError(
        f"unknown_label must be one of {UNKNOWN_LABEL_POLICIES}, got {unknown_label!r}")
  for example in examples:
    if not example.tokens:
      raise ValueError(f"{example.source}: example has no tokens (text {example.text!r})")


def _encode_at(examples: Sequence[Example], index: np.ndarray, length: int, vocab: Vocab,
               intents: LabelVocab, slot_tags: LabelVocab,
               unknown_label: UnknownLabel) -> EncodedSplit:
  """Encodes ``examples`` (already checked) at padded length ``length``."""
  token_rows, slot_rows = [], []
  intent = np.empty(len(examples), dtype=np.int32)
  counts = collections.Counter()
  for row, example in enumerate(examples):
    n = len(example.tokens)
    if n > length:
      counts["truncated"] += 1
      counts["truncated_tokens"] += n - length
    tokens, tags = example.tokens[:length], example.slots[:length]
    ids = vocab.encode(tokens)
    counts["oov_tokens"] += int(np.count_nonzero(ids == UNK_ID))
    counts["total_tokens"] += len(tokens)
    try:
      intent[row] = intents.encode(example.intent, unknown=unknown_label)
      tag_ids = slot_tags.encode_all(tags, unknown=unknown_label)
    except KeyError as error:
      # Name the example, so the bad record can be found in the raw file.
      raise KeyError(f"{example.source}: {error.args[0]}") from error
    counts["unknown_intent"] += int(intent[row] == IGNORE_INDEX)
    counts["unknown_slot"] += int(np.count_nonzero(tag_ids == IGNORE_INDEX))
    token_rows.append(ids)
    slot_rows.append(tag_ids)
  token_ids, mask = pad_batch(token_rows, length, PAD_ID)
  slots, _ = pad_batch(slot_rows, length, IGNORE_INDEX)
  return EncodedSplit(
      token_ids=token_ids, mask=mask, lengths=mask.sum(axis=1, dtype=np.int32),
      intent=intent, slots=slots, index=np.asarray(index, dtype=np.int32),
      stats=EncodeStats(examples=len(examples), **counts))


def encode_split(examples: Sequence[Example], vocab: Vocab, intents: LabelVocab,
                 slot_tags: LabelVocab, *, buckets: Sequence[int] = DEFAULT_BUCKETS,
                 max_length: int | None = None,
                 unknown_label: UnknownLabel = "raise") -> EncodedSplit:
  """A whole split as arrays of one static length ``L``.

  ``L`` is the bucket that fits the split's longest example, so a jitted model
  sees one shape per split. Examples longer than the largest bucket are
  truncated to it and counted.

  >>> from fsnlu_jax.data.schema import Example
  >>> ex = [Example("wake me at 5am", ("wake", "me", "at", "5am"), "set_alarm",
  ...               ("O", "O", "O", "B-time"), "alarm", "doc:1")]
  >>> vocab = Vocab.build([e.tokens for e in ex])
  >>> intents = LabelVocab.build([e.intent for e in ex])
  >>> tags = LabelVocab.build_bio([e.slots for e in ex])
  >>> enc = encode_split(ex, vocab, intents, tags)
  >>> enc.token_ids.shape, enc.lengths.tolist(), enc.slots[0, :6].tolist()
  ((1, 8), [4], [0, 0, 0, 1, -1, -1])

  Args:
    examples: ``B`` examples, each with at least one token.
    vocab: word ids; unseen words map to ``<unk>`` and are counted.
    intents: intent ids.
    slot_tags: BIO tag ids (for intent-only data, ``build_bio`` of all-"O"
      tags gives ``("O",)``).
    buckets: allowed padded lengths, strictly increasing.
    max_length: truncate longer examples to this many tokens; it replaces the
      buckets above it as the largest bucket (default: the largest bucket).
    unknown_label: ``"raise"`` on an intent or tag outside its set, or
      ``"ignore"``: write -1 and count it.

  Returns:
    An :class:`EncodedSplit` in the order given (``index == arange(B)``).

  Raises:
    ValueError: an example has no tokens (naming its ``source``), or bad
      ``buckets`` / ``max_length`` / ``unknown_label``.
    KeyError: an unknown label under ``"raise"``, naming the example's source.
  """
  buckets = _effective_buckets(buckets, max_length)
  _check_examples(examples, unknown_label)
  longest = max((len(e.tokens) for e in examples), default=0)
  return _encode_at(examples, np.arange(len(examples)), bucket_for(longest, buckets),
                    vocab, intents, slot_tags, unknown_label)


def encode_buckets(examples: Sequence[Example], vocab: Vocab, intents: LabelVocab,
                   slot_tags: LabelVocab, *, buckets: Sequence[int] = DEFAULT_BUCKETS,
                   max_length: int | None = None,
                   unknown_label: UnknownLabel = "raise") -> dict[int, EncodedSplit]:
  """Examples grouped by length bucket, each group padded to its own bucket.

  For batched inference: short utterances are not padded to the longest one,
  and the model still compiles once per bucket. ``result[L].index`` maps each
  row back to its position in ``examples`` (see :func:`unbucket`).

  >>> from fsnlu_jax.data.schema import Example
  >>> ex = [Example(" ".join(t), t, "i", ("O",) * len(t), "d", f"doc:{n}")
  ...       for n, t in enumerate([("a",) * 20, ("b",), ("c",) * 9])]
  >>> vocab = Vocab.build([e.tokens for e in ex])
  >>> enc = encode_buckets(ex, vocab, LabelVocab(("i",)), LabelVocab(("O",)))
  >>> {length: split.index.tolist() for length, split in enc.items()}
  {8: [1], 16: [2], 32: [0]}

  Arguments and errors are those of :func:`encode_split`.

  Returns:
    ``{L: EncodedSplit}`` for the buckets holding at least one example, by
    increasing ``L``; rows keep their relative order within a bucket.
  """
  buckets = _effective_buckets(buckets, max_length)
  _check_examples(examples, unknown_label)
  groups: dict[int, list[int]] = collections.defaultdict(list)
  for i, example in enumerate(examples):
    groups[bucket_for(len(example.tokens), buckets)].append(i)
  return {
      length: _encode_at([examples[i] for i in groups[length]], np.asarray(groups[length]),
                         length, vocab, intents, slot_tags, unknown_label)
      for length in sorted(groups)
  }


def unbucket(encoded: Mapping[int, EncodedSplit],
             values: Mapping[int, np.ndarray]) -> np.ndarray:
  """Per-example results of each bucket, back in the original example order.

  Args:
    encoded: the result of :func:`encode_buckets`.
    values: ``{L: array [B_L, ...]}``, one row per example of bucket ``L``
      (e.g. predicted intents); trailing dimensions must agree across buckets.

  Returns:
    ``[B, ...]`` with row ``encoded[L].index[r]`` equal to ``values[L][r]``.

  Raises:
    ValueError: the buckets of ``values`` and ``encoded`` differ, or a bucket's
      row count does not match.
  """
  if set(values) != set(encoded):
    raise ValueError(f"values has buckets {sorted(values)}, encoded has {sorted(encoded)}")
  for length, split in encoded.items():
    if len(values[length]) != len(split):
      raise ValueError(
          f"bucket {length}: {len(values[length])} values for {len(split)} examples")
  if not encoded:
    return np.zeros((0,))
  index = np.concatenate([encoded[length].index for length in sorted(encoded)])
  stacked = np.concatenate([np.asarray(values[length]) for length in sorted(encoded)])
  out = np.empty_like(stacked)
  out[index] = stacked
  return out
