"""Vocabularies: word tokens to ids (open, with UNK) and labels to ids (closed).

Two kinds of mapping are kept apart on purpose:

* :class:`Vocab` maps word tokens to ids. It is *open*: a word never seen in
  training is an everyday event and maps to :data:`UNK_ID`. Ids 0-3 are
  reserved for the special tokens ``<pad>``, ``<unk>``, ``<bos>``, ``<eos>``.
* :class:`LabelVocab` maps intent names or BIO slot tags to ids. It is
  *closed*: a label never seen in training is a data problem, so encoding one
  either raises a :class:`KeyError` naming it or, when asked, returns
  :data:`IGNORE_INDEX` (-1) for the caller to count and for losses to skip.

Both are immutable, built deterministically (the same data gives the same ids
on every machine), and saved as a JSON list holding one entry per id.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import os
from typing import Iterable, Literal, Sequence

import numpy as np

PAD = "<pad>"
UNK = "<unk>"
BOS = "<bos>"
EOS = "<eos>"
PAD_ID = 0
UNK_ID = 1
BOS_ID = 2
EOS_ID = 3
SPECIAL_TOKENS = (PAD, UNK, BOS, EOS)  # index == id

# The label id of an unknown label under ``unknown="ignore"``, and of padding in
# label arrays; losses and metrics skip it.
IGNORE_INDEX = -1

OUTSIDE = "O"  # the BIO "outside" tag (same value as schema.OUTSIDE)

UnknownLabel = Literal["raise", "ignore"]
UNKNOWN_LABEL_POLICIES = ("raise", "ignore")

# How many known labels a KeyError message lists before eliding the rest.
_MAX_LISTED = 10


def _check_token_list(tokens: Sequence[str]) -> None:
  # A bare string is a sequence of characters: catching it here turns a silent
  # character-level vocabulary into a clear error.
  if isinstance(tokens, str):
    raise TypeError(f"expected a sequence of tokens, got the string {tokens!r}")


def _unique_strings(items: Sequence[str], what: str) -> dict[str, int]:
  """``{item: index}``, rejecting empty strings, non-strings and duplicates."""
  index: dict[str, int] = {}
  for i, item in enumerate(items):
    if not isinstance(item, str) or not item:
      raise ValueError(f"{what} {i} is {item!r}; expected a non-empty string")
    if item in index:
      raise ValueError(f"{what} {item!r} occurs twice (ids {index[item]} and {i})")
    index[item] = i
  return index


def _save_list(path: str | os.PathLike, items: Sequence[str]) -> None:
  # indent=0 puts one entry per line, so saved vocabularies diff line by line.
  with open(path, "w", encoding="utf-8") as f:
    f.write(json.dumps(list(items), ensure_ascii=False, indent=0))
    f.write("\n")


def _load_list(path: str | os.PathLike) -> list[str]:
  with open(path, encoding="utf-8") as f:
    items = json.load(f)
  if not isinstance(items, list):
    raise ValueError(f"{path}: expected a JSON list of strings, got {type(items).__name__}")
  return items


@dataclasses.dataclass(frozen=True)
class Vocab:
  """An immutable word vocabulary; out-of-vocabulary words map to ``<unk>``.

  >>> vocab = Vocab.build([["set", "an", "alarm"], ["set", "a", "timer"]])
  >>> len(vocab), vocab.tokens[4:]
  (9, ('set', 'a', 'alarm', 'an', 'timer'))
  >>> vocab.encode(["set", "a", "reminder"], add_eos=True).tolist()
  [4, 5, 1, 3]
  >>> vocab.decode([4, 5, 1, 3])
  ['set', 'a', '<unk>', '<eos>']

  Attributes:
    tokens: the token of each id; starts with :data:`SPECIAL_TOKENS`.
  """

  tokens: tuple[str, ...]
  _index: dict[str, int] = dataclasses.field(init=False, repr=False, compare=False)

  def __post_init__(self):
    tokens = tuple(self.tokens)
    if tokens[:len(SPECIAL_TOKENS)] != SPECIAL_TOKENS:
      raise ValueError(
          f"a Vocab must start with the special tokens {SPECIAL_TOKENS}, got"
          f" {tokens[:len(SPECIAL_TOKENS)]}")
    object.__setattr__(self, "tokens", tokens)
    object.__setattr__(self, "_index", _unique_strings(tokens, "token"))

  @classmethod
  def build(cls, token_lists: Iterable[Sequence[str]], *, min_count: int = 1,
            max_size: int | None = None) -> "Vocab":
    """The vocabulary of ``token_lists``, most frequent words first.

    Ids are deterministic: specials first, then words by descending count, ties
    broken by the token string. Special tokens occurring in the data keep their
    reserved ids and are not counted as words.

    Args:
      token_lists: token sequences, e.g. ``[ex.tokens for ex in train]``.
      min_count: keep only words seen at least this many times.
      max_size: the largest ``len(vocab)``, special tokens included (so the
        size of an embedding table); the rarest words are dropped first.

    Raises:
      ValueError: ``min_count < 1`` or ``max_size`` below the number of specials.
      TypeError: an element of ``token_lists`` is a string, not a token list.
    """
    if min_count < 1:
      raise ValueError(f"min_count must be >= 1, got {min_count}")
    if max_size is not None and max_size < len(SPECIAL_TOKENS):
      raise ValueError(
          f"max_size must be >= {len(SPECIAL_TOKENS)} (the special tokens), got {max_size}")
    counts: collections.Counter[str] = collections.Counter()
    for tokens in token_lists:
      _check_token_list(tokens)
      counts.update(tokens)
    for special in SPECIAL_TOKENS:
      counts.pop(special, None)
    words = sorted((t for t, c in counts.items() if c >= min_count),
                   key=lambda t: (-counts[t], t))
    if max_size is not None:
      words = words[:max_size - len(SPECIAL_TOKENS)]
    return cls(SPECIAL_TOKENS + tuple(words))

  def extend(self, token_lists: Iterable[Sequence[str]], *, min_count: int = 1) -> "Vocab":
    """This vocabulary plus the words of ``token_lists`` it lacks, appended.

    Every existing token keeps its id (so a model's embedding rows for them
    stay valid); the new words get ids ``len(self)`` onwards, ordered as
    :meth:`build` orders words (descending count, ties by the string).

    >>> old = Vocab.build([["set", "an", "alarm"]])
    >>> new = old.extend([["set", "a", "timer"], ["a", "timer"]])
    >>> new.tokens[:len(old)] == old.tokens, new.tokens[len(old):]
    (True, ('a', 'timer'))

    Args:
      token_lists: the new domain's token sequences.
      min_count: add only words seen at least this many times in ``token_lists``.
    """
    new = Vocab.build(token_lists, min_count=min_count)
    return Vocab(self.tokens + tuple(t for t in new.tokens[len(SPECIAL_TOKENS):]
                                     if t not in self._index))

  def __len__(self) -> int:
    return len(self.tokens)

  def __contains__(self, token: object) -> bool:
    return token in self._index

  def token_to_id(self, token: str) -> int:
    """The id of ``token``, or :data:`UNK_ID` when it is not in the vocabulary."""
    return self._index.get(token, UNK_ID)

  def id_to_token(self, token_id: int) -> str:
    """The token of ``token_id``.

    Raises:
      IndexError: ``token_id`` is outside ``0..len(self)-1`` (negative ids
        included, which Python indexing would otherwise wrap around).
    """
    token_id = int(token_id)
    if not 0 <= token_id < len(self.tokens):
      raise IndexError(f"token id {token_id} is outside 0..{len(self.tokens) - 1}")
    return self.tokens[token_id]

  def encode(self, tokens: Sequence[str], *, add_bos: bool = False,
             add_eos: bool = False) -> np.ndarray:
    """Ids of ``tokens``, shape ``[len(tokens) + add_bos + add_eos]``, int32.

    Words not in the vocabulary (a literal ``"<unk>"`` among them) map to
    :data:`UNK_ID`, so ``(ids == UNK_ID).sum()`` counts out-of-vocabulary words.
    """
    _check_token_list(tokens)
    get = self._index.get
    ids = [get(t, UNK_ID) for t in tokens]
    if add_bos:
      ids.insert(0, BOS_ID)
    if add_eos:
      ids.append(EOS_ID)
    return np.asarray(ids, dtype=np.int32)

  def decode(self, ids: Iterable[int], *, skip_special: bool = False) -> list[str]:
    """Tokens of ``ids`` (shape ``[L]``); ``skip_special`` drops pad/unk/bos/eos ids.

    Raises:
      IndexError: an id is outside the vocabulary.
    """
    tokens = [self.id_to_token(i) for i in np.asarray(ids).reshape(-1).tolist()]
    if skip_special:
      special = set(SPECIAL_TOKENS)
      tokens = [t for t in tokens if t not in special]
    return tokens

  def save(self, path: str | os.PathLike) -> None:
    """Writes the vocabulary as a JSON list, the token of id ``i`` at index ``i``."""
    _save_list(path, self.tokens)

  @classmethod
  def load(cls, path: str | os.PathLike) -> "Vocab":
    """Reads a file written by :meth:`save` (validated like the constructor)."""
    return cls(tuple(_load_list(path)))


@dataclasses.dataclass(frozen=True)
class LabelVocab:
  """An immutable, closed set of labels (intent names or BIO slot tags).

  >>> intents = LabelVocab.build(["play_music", "set_alarm", "play_music"])
  >>> intents.labels, intents.encode("set_alarm")
  (('play_music', 'set_alarm'), 1)
  >>> intents.encode("weather_query", unknown="ignore")
  -1
  >>> tags = LabelVocab.build_bio([["O", "B-time"], ["B-place_name", "O"]])
  >>> tags.labels
  ('O', 'B-place_name', 'I-place_name', 'B-time', 'I-time')

  Attributes:
    labels: the label of each id.
  """

  labels: tuple[str, ...]
  _index: dict[str, int] = dataclasses.field(init=False, repr=False, compare=False)

  def __post_init__(self):
    labels = tuple(self.labels)
    if not labels:
      raise ValueError("a LabelVocab needs at least one label")
    object.__setattr__(self, "labels", labels)
    object.__setattr__(self, "_index", _unique_strings(labels, "label"))

  @classmethod
  def build(cls, labels: Iterable[str]) -> "LabelVocab":
    """The sorted distinct ``labels``, e.g. ``[ex.intent for ex in train]``."""
    if isinstance(labels, str):
      raise TypeError(f"expected an iterable of labels, got the string {labels!r}")
    return cls(tuple(sorted(set(labels))))

  @classmethod
  def build_bio(cls, tag_lists: Iterable[Sequence[str]]) -> "LabelVocab":
    """The BIO tag set of ``tag_lists``, e.g. ``[ex.slots for ex in train]``.

    ``"O"`` gets id 0, then ``B-type``, ``I-type`` for every slot type seen,
    sorted by type. Both tags of a type are included even when training only
    shows one (single-token slots give only ``B-``), so a test tag ``I-type``
    of a type seen in training always maps.

    Raises:
      ValueError: a tag is neither ``"O"`` nor ``B-type`` / ``I-type``.
    """
    types = set()
    for tags in tag_lists:
      _check_token_list(tags)
      for tag in tags:
        if tag == OUTSIDE:
          continue
        if not (isinstance(tag, str) and tag[:2] in ("B-", "I-") and len(tag) > 2):
          raise ValueError(f"{tag!r} is not a BIO tag (expected 'O', 'B-type' or 'I-type')")
        types.add(tag[2:])
    tags_out = [OUTSIDE]
    for slot_type in sorted(types):
      tags_out += [f"B-{slot_type}", f"I-{slot_type}"]
    return cls(tuple(tags_out))

  def __len__(self) -> int:
    return len(self.labels)

  def __contains__(self, label: object) -> bool:
    return label in self._index

  def encode(self, label: str, *, unknown: UnknownLabel = "raise") -> int:
    """The id of ``label``.

    Args:
      label: an intent name or slot tag.
      unknown: ``"raise"`` a :class:`KeyError` for a label outside the set, or
        ``"ignore"`` it: return :data:`IGNORE_INDEX` (-1) and let the caller
        count it.

    Raises:
      KeyError: ``label`` is unknown and ``unknown == "raise"``; the message
        names the label and the known ones.
      ValueError: ``unknown`` is not a known policy.
    """
    label_id = self._index.get(label)
    if label_id is not None:
      return label_id
    if unknown == "ignore":
      return IGNORE_INDEX
    if unknown != "raise":
      raise ValueError(f"unknown must be one of {UNKNOWN_LABEL_POLICIES}, got {unknown!r}")
    raise KeyError(f"unknown label {label!r}; known ({len(self.labels)}): {self._known()}")

  def encode_all(self, labels: Sequence[str], *,
                 unknown: UnknownLabel = "raise") -> np.ndarray:
    """Ids of ``labels``, shape ``[len(labels)]``, int32 (see :meth:`encode`)."""
    _check_token_list(labels)
    return np.asarray([self.encode(l, unknown=unknown) for l in labels], dtype=np.int32)

  def id_to_label(self, label_id: int) -> str:
    """The label of ``label_id``.

    Raises:
      IndexError: ``label_id`` is outside ``0..len(self)-1``
        (:data:`IGNORE_INDEX` included).
    """
    label_id = int(label_id)
    if not 0 <= label_id < len(self.labels):
      raise IndexError(f"label id {label_id} is outside 0..{len(self.labels) - 1}")
    return self.labels[label_id]

  def decode(self, ids: Iterable[int]) -> list[str]:
    """Labels of ``ids`` (any shape, read in row-major order)."""
    return [self.id_to_label(i) for i in np.asarray(ids).reshape(-1).tolist()]

  def save(self, path: str | os.PathLike) -> None:
    """Writes the labels as a JSON list, the label of id ``i`` at index ``i``."""
    _save_list(path, self.labels)

  @classmethod
  def load(cls, path: str | os.PathLike) -> "LabelVocab":
    """Reads a file written by :meth:`save`."""
    return cls(tuple(_load_list(path)))

  def _known(self) -> str:
    shown = ", ".join(repr(l) for l in self.labels[:_MAX_LISTED])
    more = len(self.labels) - _MAX_LISTED
    return f"{shown}, ... ({more} more)" if more > 0 else shown
