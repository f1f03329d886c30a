"""Word-piece tokenisation for pretrained transformers, batched into length buckets.

A thin host-side wrapper over the ``tokenizers`` package's ``tokenizer.json``:
its own padding is switched off (we pad to a few bucket lengths so a jitted
encoder compiles once per bucket), truncation is to the encoder's longest input
and counted, and each piece keeps the index of the word it came from, so
attributions over pieces can be summed back to words.

Shapes: ``B`` batch, ``L`` padded length (a bucket).
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
from typing import Iterator, Sequence

import numpy as np

DEFAULT_BUCKETS = (16, 32, 64, 128, 256, 512)


@dataclasses.dataclass
class SubwordStats:
  """What tokenisation had to change, counted rather than hidden.

  Attributes:
    texts: utterances tokenised.
    empty: utterances with no word piece (encoded as ``[CLS] [SEP]`` or ``<s> </s>`` alone).
    truncated: utterances longer than ``max_length`` pieces, cut to it.
    unknown_pieces: ``[UNK]`` pieces produced.
  """

  texts: int = 0
  empty: int = 0
  truncated: int = 0
  unknown_pieces: int = 0


@dataclasses.dataclass(frozen=True)
class PieceBatch:
  """Padded word pieces of a batch of utterances.

  Attributes:
    token_ids: ``[B, L]`` int32 piece ids, the pad id after each row's end.
    mask: ``[B, L]`` bool, True on real pieces (including special ones such as ``[CLS]``).
    word_ids: ``[B, L]`` int32, the word each piece belongs to, -1 for special
      pieces and padding.
    rows: ``[B]`` int, index of each row in the input list; -1 for filler rows.
  """

  token_ids: np.ndarray
  mask: np.ndarray
  word_ids: np.ndarray
  rows: np.ndarray


class SubwordTokenizer:
  """``tokenizer.json`` word pieces with counted truncation and length buckets.

  Args:
    path: a ``tokenizer.json`` file (or a folder holding one).
    max_length: the longest input in pieces, special pieces included.
    buckets: padded lengths to choose from (those above ``max_length`` are dropped
      and ``max_length`` added).
  """

  def __init__(self, path: str | os.PathLike, *, max_length: int = 512,
               buckets: Sequence[int] = DEFAULT_BUCKETS):
    import tokenizers  # pylint: disable=import-outside-toplevel

    path = pathlib.Path(path)
    if path.is_dir():
      path = path / "tokenizer.json"
    if not path.is_file():
      raise FileNotFoundError(f"no tokenizer file: {path}")
    self.path = path
    try:
      self._tokenizer = tokenizers.Tokenizer.from_file(str(path))
    except Exception as e:  # tokenizers raises a bare Exception for a broken file
      raise ValueError(f"{path}: not a readable tokenizer.json ({e})") from e
    # The file's own padding names its pad piece ([PAD] in BERT's, <pad> in MPNet's).
    padding = self._tokenizer.padding
    self._tokenizer.no_padding()
    self._tokenizer.enable_truncation(max_length)
    self.max_length = max_length
    self.buckets = tuple(sorted({b for b in buckets if b < max_length} | {max_length}))
    self.pad_id = padding["pad_id"] if padding else self._id("[PAD]", self._id("<pad>", 0))
    self.unk_id = self._id(getattr(self._tokenizer.model, "unk_token", "[UNK]"), -1)
    self.stats = SubwordStats()

  def _id(self, piece: str, default: int) -> int:
    found = self._tokenizer.token_to_id(piece)
    return default if found is None else found

  @property
  def vocab_size(self) -> int:
    """``V``, special pieces included."""
    return self._tokenizer.get_vocab_size()

  def id_to_piece(self, piece_id: int) -> str:
    """The piece string of an id (``"##ing"``, ``"[SEP]"``)."""
    return self._tokenizer.id_to_token(piece_id)

  def text_pieces(self) -> np.ndarray:
    """``[V]`` bool: the pieces text is made of; False on specials (``[PAD]``,
    ``[unused7]``: a bracketed name) and on a bare ``##``."""
    mask = np.zeros(self.vocab_size, bool)
    for i in range(self.vocab_size):
      piece = self.id_to_piece(i)
      mask[i] = piece is not None and piece != "##" and not (
          len(piece) > 2 and piece[0] == "[" and piece[-1] == "]")
    return mask

  def piece_id(self, piece: str) -> int:
    """The id of a piece string.

    Raises:
      KeyError: a piece not in the vocabulary.
    """
    found = self._tokenizer.token_to_id(piece)
    if found is None:
      raise KeyError(f"{piece!r} is not a piece of {self.path}")
    return found

  def pieces(self, text: str) -> list[int]:
    """Piece ids of ``text`` without special pieces (as they appear inside a longer input)."""
    enc = self._tokenizer.encode(text, add_special_tokens=False)
    self.stats.truncated += bool(enc.overflowing)  # cut at max_length: counted, as encode does
    return list(enc.ids)

  def bucket(self, length: int) -> int:
    """The smallest bucket that holds ``length`` pieces."""
    return next(b for b in self.buckets if b >= length)

  def encode(self, texts: Sequence[str]) -> list[tuple[list[int], list[int]]]:
    """``(piece ids, word ids)`` per text, counting empty and truncated texts."""
    encodings = self._tokenizer.encode_batch(list(texts))
    out = []
    for enc in encodings:
      words = [-1 if w is None else w for w in enc.word_ids]
      self.stats.texts += 1
      self.stats.empty += all(w < 0 for w in words)
      self.stats.truncated += bool(enc.overflowing)
      self.stats.unknown_pieces += sum(i == self.unk_id for i in enc.ids)
      out.append((list(enc.ids), words))
    return out

  def pad(self, encoded: Sequence[tuple[list[int], list[int]]], rows: np.ndarray,
          batch_size: int, length: int | None = None) -> PieceBatch:
    """Rows ``rows`` of ``encoded`` padded to ``[batch_size, length]``.

    ``length`` defaults to the bucket of the longest row. Filler rows (to reach
    ``batch_size``) are all padding with ``rows == -1``.
    """
    if length is None:
      length = self.bucket(max((len(encoded[r][0]) for r in rows), default=1))
    ids = np.full((batch_size, length), self.pad_id, np.int32)
    word_ids = np.full((batch_size, length), -1, np.int32)
    for i, r in enumerate(rows):
      piece_ids, words = encoded[r]
      ids[i, :len(piece_ids)] = piece_ids[:length]
      word_ids[i, :len(words)] = words[:length]
    lengths = np.zeros(batch_size, np.int64)
    lengths[:len(rows)] = [min(len(encoded[r][0]), length) for r in rows]
    mask = np.arange(length)[None, :] < lengths[:, None]  # --> [B, L]
    out_rows = np.full(batch_size, -1, np.int64)
    out_rows[:len(rows)] = rows
    return PieceBatch(ids, mask, word_ids, out_rows)

  def batches(self, encoded: Sequence[tuple[list[int], list[int]]], batch_size: int
              ) -> Iterator[PieceBatch]:
    """All of ``encoded`` (from :meth:`encode`) in padded batches of ``batch_size``
    rows, shortest first.

    Sorting by length keeps padding small; each batch's length is a bucket, so
    a jitted encoder sees at most ``len(self.buckets)`` shapes.
    """
    order = np.argsort([len(ids) for ids, _ in encoded], kind="stable")
    for start in range(0, len(order), batch_size):
      yield self.pad(encoded, order[start:start + batch_size], batch_size)
