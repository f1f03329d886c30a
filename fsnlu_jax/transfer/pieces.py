"""Word pieces as the bi-LSTM's tokens (``data.units = "pieces"``), and its tags read back on words.

A new domain's words are often missing from the pretraining vocabulary (HWU64
iot: 14-16% of test words); extending the vocabulary gives them rows, but rows
trained on the new domain's few utterances only. The word pieces of a
pretrained tokenizer (``data.tokenizer``, all-MiniLM-L6-v2's ``tokenizer.json``
by default) split every word into units that the pretraining domains share
(``vacuum`` -> ``va ##cu ##um``), so the new domain's words reach the model
through pieces it has trained.

Tags: a word's first piece keeps the word's tag, the pieces after it continue
its span (``I-x``) or stay ``O``. Evaluation reads each word's tag from its
first piece (:func:`word_tags`), so SemER and slot F1 are computed on the
words, as a word-level run computes them.

Shapes: ``W`` words of an utterance, ``P`` its pieces.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from fsnlu_jax.data import Example
from fsnlu_jax.data.schema import OUTSIDE
from fsnlu_jax.data.subword import SubwordTokenizer
from fsnlu_jax.models import resolve_model_dir

UNKNOWN_PIECE = "[UNK]"


@dataclasses.dataclass(frozen=True)
class PieceExamples:
  """Examples split into word pieces, and where each word starts.

  Attributes:
    examples: the examples with ``tokens`` the pieces (``##`` marks a
      continuation) and ``slots`` one tag per piece.
    first: per example, ``[W]`` int32 index of each word's first piece.
    words: the word-level examples they came from.
    empty_words: words the tokenizer gave no piece (kept as ``[UNK]``).
  """

  examples: list[Example]
  first: list[np.ndarray]
  words: list[Example]
  empty_words: int


def load_tokenizer(name: str) -> SubwordTokenizer:
  """``tokenizer.json`` of the model folder ``name`` (a path or a ``$FSNLU_MODELS_DIR`` name)."""
  return SubwordTokenizer(resolve_model_dir(name) / "tokenizer.json")


def to_pieces(examples: Sequence[Example], tokenizer: SubwordTokenizer) -> PieceExamples:
  """``examples`` in ``tokenizer``'s word pieces (module docs; words are split one by one).

  >>> from fsnlu_jax.data import Example
  >>> class Pieces:  # a stand-in tokenizer: words over 4 letters split after 3
  ...   def pieces(self, word): return [word[:3], "##" + word[3:]] if len(word) > 4 else [word]
  ...   def id_to_piece(self, piece): return piece
  >>> e = Example("wake me at seven", ("wake", "me", "at", "seven"), "alarm_set",
  ...             ("O", "O", "O", "B-time"), "alarm", "x:1")
  >>> out = to_pieces([e], Pieces())
  >>> out.examples[0].tokens, out.examples[0].slots
  (('wake', 'me', 'at', 'sev', '##en'), ('O', 'O', 'O', 'B-time', 'I-time'))
  >>> out.first[0].tolist()
  [0, 1, 2, 3]
  """
  cache: dict[str, list[str]] = {}
  empty = 0

  def split(word: str) -> list[str]:
    nonlocal empty
    if word not in cache:
      cache[word] = [tokenizer.id_to_piece(i) for i in tokenizer.pieces(word)]
    if not cache[word]:  # all its characters dropped by the normaliser: keep the word's place
      empty += 1
      return [UNKNOWN_PIECE]
    return cache[word]

  out, firsts = [], []
  for e in examples:
    tokens, tags, first = [], [], []
    for word, tag in zip(e.tokens, e.slots):
      pieces = split(word)
      first.append(len(tokens))
      tokens += pieces
      tags += [tag] + [OUTSIDE if tag == OUTSIDE else "I-" + tag[2:]] * (len(pieces) - 1)
    out.append(dataclasses.replace(e, tokens=tuple(tokens), slots=tuple(tags)))
    firsts.append(np.asarray(first, np.int32))
  return PieceExamples(out, firsts, list(examples), empty)


def word_tags(piece_tags: Sequence[str], first: np.ndarray, n_pieces: int) -> list[str]:
  """The tags of the words whose first piece is among the ``n_pieces`` read (a cut
  utterance keeps its first words), each read from its first piece.

  >>> word_tags(["O", "B-time", "I-time", "O"], np.array([0, 1, 3]), 4)
  ['O', 'B-time', 'O']
  >>> word_tags(["O", "B-time", "I-time"], np.array([0, 1, 3]), 3)
  ['O', 'B-time']
  """
  return [piece_tags[i] for i in first[first < n_pieces]]
