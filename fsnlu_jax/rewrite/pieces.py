"""The sub-word rewriter's data: utterances as word pieces of a pretrained tokenizer, and back.

:class:`PieceVocab` stands where the word-level rewriter's
:class:`~fsnlu_jax.data.vocab.Vocab` stands: ``encode(words)`` gives the word
pieces of an utterance (no special pieces), ``decode(ids)`` its words again
(:func:`detokenize`), ``len`` the tokenizer's vocabulary. So the tries, the
candidates and every system of :mod:`fsnlu_jax.rewrite.systems` take either.

**Round trip.** The simulation's utterances are normalised
(:func:`fsnlu_jax.data.rewrite.normalise`: lower case, punctuation only inside
a word). BERT's uncased tokenizer splits every punctuation character into a
piece of its own and marks the rest of a split word with ``##``, so
:func:`detokenize` glues ``##`` pieces and punctuation pieces to their
neighbours, which undoes it exactly; what it cannot undo (accents stripped,
characters outside the vocabulary as ``[UNK]``: 1043 of the 94244 distinct
utterances of the SNIPS + HWU64 simulation, ~1.1%, nearly all Spanish playlist
names) is counted by :func:`round_trip_failures`, and
:meth:`PieceVocab.remember` keeps those known-good utterances' words by their
pieces, so a rewrite into the tries decodes to the utterance exactly (two
utterances with the same pieces, e.g. ``café`` and ``cafe``, share one path of
the trie: counted as ``ambiguous``, the first in sorted order kept).

Sources are ``[CLS] previous [SEP] request [SEP]`` (BERT's pair rendering,
segment 0 throughout); targets ``[CLS]`` + pieces as decoder input and pieces
+ ``[SEP]`` as output, the seq2seq's BOS and EOS.

Shapes: ``B`` pairs, ``Ls`` source length, ``Lt`` target length (pieces).
"""

from __future__ import annotations

import json
import os
import pathlib
import unicodedata
from typing import Iterable, Sequence

import numpy as np

from fsnlu_jax.data import rewrite as rw
from fsnlu_jax.data.arrays import pad_batch

Words = tuple[str, ...]


def _is_punctuation(piece: str) -> bool:
  """BERT's BasicTokenizer rule: ASCII non-alphanumerics and Unicode ``P*`` are split off."""
  if len(piece) != 1:
    return False
  cp = ord(piece)
  if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
    return True
  return unicodedata.category(piece).startswith("P")


def detokenize(pieces: Iterable[str]) -> Words:
  """Words of word pieces: ``##`` pieces and punctuation pieces join their neighbours.

  >>> detokenize(["what", "'", "s", "the", "wi", "-", "fi", "pass", "##word"])
  ("what's", 'the', 'wi-fi', 'password')
  """
  words: list[str] = []
  glue = False  # the previous piece was punctuation: the next one continues its word
  for p in pieces:
    if p.startswith("##") and words:
      words[-1] += p[2:]
      glue = False
    elif _is_punctuation(p) and words:
      words[-1] += p
      glue = True
    elif glue:
      words[-1] += p
      glue = False
    else:
      words.append(p[2:] if p.startswith("##") else p)
      glue = _is_punctuation(p)
  return tuple(words)


class PieceVocab:
  """A ``tokenizer.json``'s word pieces as the rewriter's vocabulary (module docs).

  Attributes:
    path: the ``tokenizer.json``.
    bos_id, eos_id, pad_id, unk_id: ``[CLS]``, ``[SEP]``, ``[PAD]``, ``[UNK]``.
  """

  def __init__(self, path: str | os.PathLike):
    import tokenizers  # pylint: disable=import-outside-toplevel

    path = pathlib.Path(path)
    self.path = path / "tokenizer.json" if path.is_dir() else path
    if not self.path.is_file():
      raise FileNotFoundError(f"no tokenizer file: {self.path}")
    self._tokenizer = tokenizers.Tokenizer.from_file(str(self.path))
    self._tokenizer.no_padding()
    self._tokenizer.no_truncation()
    ids = {}
    for name, piece in (("bos_id", "[CLS]"), ("eos_id", "[SEP]"), ("pad_id", "[PAD]"),
                        ("unk_id", "[UNK]")):
      ids[name] = self._tokenizer.token_to_id(piece)
      if ids[name] is None:
        raise ValueError(f"{self.path}: no {piece} piece (a BERT word-piece tokenizer is needed)")
    self.bos_id, self.eos_id, self.pad_id, self.unk_id = (
        ids["bos_id"], ids["eos_id"], ids["pad_id"], ids["unk_id"])
    if self.pad_id != 0:
      # Padding is 0 in every array of the job (pad_batch, the tries, candidates).
      raise ValueError(f"{self.path}: [PAD] is {self.pad_id}, the rewriter needs 0")
    self._cache: dict[Words, np.ndarray] = {}
    self.known: dict[tuple[int, ...], Words] = {}  # pieces -> words, where detokenize fails

  def remember(self, utterances: Iterable[Words]) -> dict[str, int]:
    """Keeps the words of every utterance that :func:`detokenize` does not give back.

    Returns:
      counts: ``utterances`` (distinct), ``not_round_trip`` (kept here),
      ``ambiguous`` (pieces of another utterance too; the first kept).
    """
    utterances = sorted(set(utterances))
    by_pieces: dict[tuple[int, ...], Words] = {}
    failed = ambiguous = 0
    for u, ids in zip(utterances, self.encode_all(utterances)):
      key = tuple(int(i) for i in ids)
      if key in by_pieces:
        ambiguous += 1
        continue
      by_pieces[key] = u
      if detokenize(self.pieces(key)) != u:
        self.known[key] = u
        failed += 1
    return dict(utterances=len(utterances), not_round_trip=failed, ambiguous=ambiguous)

  def save_known(self, path: str | os.PathLike) -> None:
    """Writes :attr:`known` as JSON (``[[piece ids], words]`` rows)."""
    rows = [[list(k), list(w)] for k, w in sorted(self.known.items())]
    pathlib.Path(path).write_text(json.dumps(rows))

  def load_known(self, path: str | os.PathLike) -> "PieceVocab":
    """Reads :meth:`save_known`'s file into :attr:`known`; returns self."""
    self.known = {tuple(k): tuple(w) for k, w in json.loads(pathlib.Path(path).read_text())}
    return self

  def __len__(self) -> int:
    return self._tokenizer.get_vocab_size()

  def encode(self, words: Sequence[str]) -> np.ndarray:
    """``[n]`` int32 piece ids of the utterance ``words``, no special pieces."""
    words = tuple(words)
    if words not in self._cache:
      enc = self._tokenizer.encode(" ".join(words), add_special_tokens=False)
      self._cache[words] = np.asarray(enc.ids, np.int32)
    return self._cache[words]

  def encode_all(self, utterances: Sequence[Sequence[str]]) -> list[np.ndarray]:
    """:meth:`encode` of many utterances (one batched call to the tokenizer)."""
    todo = sorted({tuple(u) for u in utterances} - self._cache.keys())
    for words, enc in zip(todo, self._tokenizer.encode_batch(
        [" ".join(w) for w in todo], add_special_tokens=False)):
      self._cache[words] = np.asarray(enc.ids, np.int32)
    return [self._cache[tuple(u)] for u in utterances]

  def pieces(self, ids: Iterable[int]) -> list[str]:
    """The pieces of ``ids`` as strings."""
    return [self._tokenizer.id_to_token(int(i)) for i in ids]

  def decode(self, ids: Iterable[int]) -> list[str]:
    """The words of piece ids (:func:`detokenize`); padding and special pieces are skipped."""
    special = (self.bos_id, self.eos_id, self.pad_id)
    key = tuple(int(i) for i in ids if int(i) not in special)
    return list(self.known.get(key) or detokenize(self.pieces(key)))


def round_trip_failures(vocab: PieceVocab, utterances: Iterable[Words]) -> list[Words]:
  """The utterances whose pieces do not decode back to them (module docs): with
  :meth:`PieceVocab.remember` of the same utterances, only the ambiguous ones."""
  utterances = sorted(set(utterances))
  return [u for u, ids in zip(utterances, vocab.encode_all(utterances))
          if tuple(vocab.decode(ids)) != u]


def source_ids(previous: Sequence[int], current: Sequence[int], vocab: PieceVocab,
               max_length: int) -> tuple[np.ndarray, bool]:
  """``[CLS] previous [SEP] current [SEP]`` (piece ids), at most ``max_length``; and
  whether it was cut: the previous turn loses its start first, then the request its end."""
  room = max_length - 3
  keep_prev = max(0, min(len(previous), room - len(current)))
  ids = np.concatenate([[vocab.bos_id], previous[len(previous) - keep_prev:], [vocab.eos_id],
                        current[:max(room, 0)], [vocab.eos_id]]).astype(np.int32)
  return ids[:max_length], len(previous) + len(current) > room


def encode_pairs(pairs: Sequence[rw.RewritePair], vocab: PieceVocab, *, max_source_len: int,
                 max_target_len: int) -> tuple[dict[str, np.ndarray], rw.PairEncodeStats]:
  """The arrays of :func:`fsnlu_jax.data.rewrite.encode_pairs`, in word pieces.

  Returns:
    ``(arrays, stats)``: ``source_ids``/``source_mask`` ``[B, Ls]``; ``target_in``
    (``[CLS]`` + pieces), ``target_out`` (pieces + ``[SEP]``), ``target_mask``
    ``[B, Lt]``; ``user``, ``target_in_global``, ``target_in_personal`` ``[B]``.
    ``stats`` counts cut sources and targets and ``[UNK]`` pieces.
  """
  texts = [u for p in pairs for u in (p.previous, p.source, p.target)]
  encoded = iter(vocab.encode_all(texts))
  sources, targets, cut_src, cut_tgt = [], [], 0, 0
  for _ in pairs:
    prev, cur, target = next(encoded), next(encoded), next(encoded)
    ids, cut = source_ids(prev, cur, vocab, max_source_len)
    sources.append(ids)
    cut_src += cut
    cut_tgt += len(target) + 1 > max_target_len
    targets.append(target)
  src, src_mask = pad_batch(sources, max_source_len)
  # A target too long for Lt keeps its first pieces and loses its EOS (counted).
  tgt_in, tgt_mask = pad_batch([np.concatenate([[vocab.bos_id], t])[:max_target_len]
                                for t in targets], max_target_len)
  tgt_out, _ = pad_batch([np.concatenate([t, [vocab.eos_id]])[:max_target_len] for t in targets],
                         max_target_len)
  arrays = dict(source_ids=src, source_mask=src_mask, target_in=tgt_in, target_out=tgt_out,
                target_mask=tgt_mask,
                user=np.array([p.user for p in pairs], np.int32),
                target_in_global=np.array([p.target_in_global for p in pairs], bool),
                target_in_personal=np.array([p.target_in_personal for p in pairs], bool))
  stats = rw.PairEncodeStats(len(pairs), cut_src, cut_tgt,
                             int(((src == vocab.unk_id) & src_mask).sum()),
                             int(sum((t == vocab.unk_id).sum() for t in targets)))
  return arrays, stats


def trim(batch: dict[str, np.ndarray], buckets: Sequence[int] = (16, 32, 48, 64, 96, 128)
         ) -> dict[str, np.ndarray]:
  """``batch`` with its source and target columns cut to the smallest bucket (or the
  full width) holding its longest row: most utterances are far shorter than the
  longest allowed, and a few buckets keep the compiled shapes few."""
  out = dict(batch)
  for ids, mask, keys in (("source_ids", "source_mask", ("source_ids", "source_mask")),
                          ("target_in", "target_mask", ("target_in", "target_out",
                                                         "target_mask"))):
    width = batch[ids].shape[1]
    longest = int(batch[mask].sum(1).max()) if len(batch[mask]) else 0
    length = min(next((b for b in buckets if b >= longest), width), width)
    for k in keys:
      out[k] = batch[k][:, :length]
  return out
