"""A seeded model of speech-recognition errors over a corpus' own words.

What :mod:`fsnlu_jax.data.rewrite` corrupts its targets with (CGF rewrite
pairs). Each word independently undergoes one of these at its rate:

* **swap**: a word becomes a sound-alike word of the corpus. Sound-alikes share
  a :func:`phonetic_key` (a compact Soundex/Metaphone-like spelling of the
  sound) or have keys one edit apart (keys of 3+ sounds only), so ``leon``
  (key ``lan``) may be heard as ``alien`` (``alan``). Replacements are drawn in
  proportion to sqrt(corpus count): a recogniser's language model prefers
  common words. Slot-value words (names, songs, places) are ``entity_weight``
  times likelier to be swapped, as recognisers fail most on rare names.
* **split**: a word becomes two corpus words, a prefix that is a word and a
  rest that is one or sounds like one (``bridges`` -> ``bridge is``).
* **merge**: two adjacent words become one corpus word spelled or sounding like
  their concatenation (``play list`` -> ``playlist``).
* **drop**: a word is lost (never the last one left).

A pair meant to be corrupted that came out unchanged gets one forced
corruption; every corruption records the kinds applied, in order.

References:
  Ahmadvand et al., "Constrained generation framework for query rewriting in
  conversational AI", EMNLP 2022 (industry track).
"""

from __future__ import annotations

import collections
import dataclasses
import re
import unicodedata
from typing import Mapping, Sequence

import numpy as np

KINDS = ("swap", "split", "merge", "drop")
Words = tuple[str, ...]

# ---- phonetics ------------------------------------------------------------

_VOWELS = "aeiouy"
_DIGRAPHS = (("ph", "f"), ("ght", "t"), ("gh", ""), ("ck", "k"), ("sch", "sk"), ("sh", "S"),
             ("ch", "C"), ("th", "T"), ("dg", "j"), ("qu", "kw"), ("wh", "w"))
_INITIAL = (("kn", "n"), ("wr", "r"), ("ps", "s"), ("x", "s"))


def phonetic_key(word: str) -> str:
  """A rough spelling of how ``word`` sounds; "" for words without letters.

  Letters only (accents stripped); digraphs to one sound; soft ``c`` to ``s``,
  else ``k``; ``x`` to ``ks``, ``z`` to ``s``; a silent final ``e`` dropped;
  every run of vowels to one ``a``; ``h`` and ``w`` silent before a consonant;
  doubled sounds collapsed.

  >>> phonetic_key("leon"), phonetic_key("alien"), phonetic_key("bridges")
  ('lan', 'alan', 'brajas')
  """
  w = unicodedata.normalize("NFKD", word.lower()).encode("ascii", "ignore").decode()
  w = re.sub(r"[^a-z]", "", w)
  if not w:
    return ""
  for old, new in _INITIAL:
    if w.startswith(old):
      w = new + w[len(old):]
  for old, new in _DIGRAPHS:
    w = w.replace(old, new)
  w = re.sub(r"c(?=[eiy])", "s", w).replace("c", "k").replace("q", "k")
  w = w.replace("x", "ks").replace("z", "s")
  if len(w) > 2 and w.endswith("e") and w[-2] not in _VOWELS:
    w = w[:-1]
  w = re.sub(r"[hw](?![aeiouy])", "", w) or w[:1]
  w = re.sub(f"[{_VOWELS}]+", "a", w)
  return re.sub(r"(.)\1+", r"\1", w)


def one_edit_apart(a: str, b: str) -> bool:
  """True when keys ``a`` and ``b`` are one insertion, deletion or substitution apart,
  not at the first sound (which recognisers rarely miss) unless it is a leading vowel."""
  if abs(len(a) - len(b)) > 1 or a == b:
    return False
  if len(a) == len(b):
    diff = [i for i, (x, y) in enumerate(zip(a, b)) if x != y]
    return len(diff) == 1 and diff[0] > 0
  short, long_ = sorted((a, b), key=len)
  i = next((k for k in range(len(short)) if short[k] != long_[k]), len(short))
  return short[i:] == long_[i + 1:] and (i > 0 or long_[0] == "a")


def _deletions(key: str) -> set[str]:
  return {key} | {key[:i] + key[i + 1:] for i in range(len(key))}


class SoundAlikeTable:
  """Sound-alike words, splits and merges among the words of a corpus.

  Built once from word counts; every answer is in a fixed order (closeness,
  then frequency, then spelling), so sampling from it is reproducible.

  >>> table = SoundAlikeTable({"leon": 2, "alien": 5, "bridge": 3, "bridges": 1, "is": 9})
  >>> table.neighbours("leon"), table.splits("bridges"), table.merge("bridge", "is")
  (('alien',), (('bridge', 'is'),), 'bridges')
  """

  def __init__(self, counts: Mapping[str, int], *, min_edit_key: int = 3):
    """Args: counts: word -> corpus count; min_edit_key: shortest key matched one edit apart."""
    self.counts = {w: int(c) for w, c in counts.items() if c > 0}
    self.min_edit_key = min_edit_key
    self.key = {w: phonetic_key(w) for w in sorted(self.counts) if not re.search(r"\d", w)}
    self.by_key: dict[str, list[str]] = collections.defaultdict(list)
    self._by_deletion: dict[str, set[str]] = collections.defaultdict(set)
    for word, key in self.key.items():
      if key:
        self.by_key[key].append(word)
        if len(key) >= min_edit_key:
          for d in _deletions(key):
            self._by_deletion[d].add(key)
    for words in self.by_key.values():
      words.sort(key=self._rank)
    self._neighbours: dict[str, Words] = {}

  def _rank(self, word: str):
    return (-self.counts[word], word)

  def neighbours(self, word: str) -> Words:
    """Other corpus words sounding like ``word``: same key first, then keys one edit away."""
    if word not in self._neighbours:
      key = self.key.get(word) or (phonetic_key(word) if not re.search(r"\d", word) else "")
      same = [w for w in self.by_key.get(key, ()) if w != word]
      near = set()
      if len(key) >= self.min_edit_key:
        near = {k for d in _deletions(key) for k in self._by_deletion.get(d, ())
                if one_edit_apart(k, key)}
      close = sorted((w for k in near for w in self.by_key[k] if w != word), key=self._rank)
      self._neighbours[word] = tuple(same + close)
    return self._neighbours[word]

  def _sounds_like(self, piece: str) -> str | None:
    """The corpus word spelled ``piece``, else the most frequent one sounding like it,
    also heard with a leading vowel (``s`` -> ``is``); words of 2+ letters only."""
    if len(piece) > 1 and piece in self.counts:
      return piece
    key = phonetic_key(piece)
    heard = [w for k in ((key, "a" + key) if key else ()) for w in self.by_key.get(k, ())
             if len(w) > 1]
    return min(heard, key=self._rank) if heard else None

  def splits(self, word: str) -> tuple[tuple[str, str], ...]:
    """Ways to hear ``word`` as two corpus words: a word prefix (3+ letters) and a rest."""
    out = []
    for i in range(3, len(word)):
      left, rest = word[:i], word[i:]
      right = self._sounds_like(rest) if left in self.counts else None
      if right is not None:
        out.append((left, right))
    return tuple(out)

  def merge(self, first: str, second: str) -> str | None:
    """The corpus word heard for ``first second`` run together, if any."""
    joined = first + second
    if joined in self.counts:
      return joined
    if re.search(r"\d", joined):
      return None  # numbers are not merged by sound
    matches = self.by_key.get(phonetic_key(joined), ())
    return matches[0] if matches else None


# ---- corruption -----------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class CorruptionConfig:
  """Rates of the recognition-error model (per word unless said otherwise).

  Attributes:
    clean_rate: share of pairs left uncorrupted (per pair).
    swap_rate, split_rate, merge_rate, drop_rate: chance that a word is
      swapped, split, merged with the next one, or dropped.
    entity_weight: factor on ``swap_rate`` for slot-value words.
  """

  clean_rate: float = 0.2
  swap_rate: float = 0.07
  split_rate: float = 0.02
  merge_rate: float = 0.03
  drop_rate: float = 0.03
  entity_weight: float = 3.0

  def __post_init__(self):
    total = max(self.swap_rate * self.entity_weight, self.swap_rate) + (
        self.split_rate + self.merge_rate + self.drop_rate)
    if not 0 <= self.clean_rate <= 1 or total > 1:
      raise ValueError(f"rates must be probabilities (per-word sum {total:.2f} > 1?)")


# How much likelier a homophone (same key) is as a swap than a word one edit away.
_HOMOPHONE_WEIGHT = 4.0


class CorruptionModel:
  """Seeded recognition errors over the words of a corpus (see the module docs).

  Each edit method returns the new words, or None when the edit does not apply
  at position ``i``; ``rng`` defaults to the model's own generator.

  >>> model = CorruptionModel({"play": 4, "leon": 1, "alien": 3, "bridges": 2}, seed=0)
  >>> model.swap(("play", "leon", "bridges"), 1)
  ('play', 'alien', 'bridges')
  """

  def __init__(self, counts: Mapping[str, int], config: CorruptionConfig = CorruptionConfig(),
               *, seed: int = 0):
    self.config = config
    self.table = SoundAlikeTable(counts)
    self.rng = np.random.default_rng(seed)

  def swap(self, words: Words, i: int, rng: np.random.Generator | None = None) -> Words | None:
    options = self.table.neighbours(words[i])
    if not options:
      return None
    key = self.table.key.get(words[i]) or phonetic_key(words[i])
    weights = np.sqrt([self.table.counts[w] for w in options]) * np.where(
        [self.table.key[w] == key for w in options], _HOMOPHONE_WEIGHT, 1.0)
    pick = options[(rng or self.rng).choice(len(options), p=weights / weights.sum())]
    return words[:i] + (pick,) + words[i + 1:]

  def split(self, words: Words, i: int, rng: np.random.Generator | None = None) -> Words | None:
    options = self.table.splits(words[i])
    if not options:
      return None
    weights = np.sqrt([self.table.counts[a] * self.table.counts[b] for a, b in options])
    left, right = options[(rng or self.rng).choice(len(options), p=weights / weights.sum())]
    return words[:i] + (left, right) + words[i + 1:]

  def merge(self, words: Words, i: int, rng: np.random.Generator | None = None) -> Words | None:
    joined = self.table.merge(*words[i:i + 2]) if i + 1 < len(words) else None
    return None if joined is None else words[:i] + (joined,) + words[i + 2:]

  def drop(self, words: Words, i: int, rng: np.random.Generator | None = None) -> Words | None:
    del rng
    return words[:i] + words[i + 1:] if len(words) > 1 else None

  def applies(self, kind: str, words: Words, i: int) -> bool:
    """Whether edit ``kind`` can change ``words`` at ``i`` (draws nothing)."""
    if kind == "swap":
      return bool(self.table.neighbours(words[i]))
    if kind == "split":
      return bool(self.table.splits(words[i]))
    if kind == "merge":
      return i + 1 < len(words) and self.table.merge(words[i], words[i + 1]) is not None
    return len(words) > 1

  def _rates(self, entity: bool) -> np.ndarray:
    c = self.config
    swap = c.swap_rate * (c.entity_weight if entity else 1.0)
    return np.array([swap, c.split_rate, c.merge_rate, c.drop_rate])

  def corrupt(self, words: Sequence[str], entity: Sequence[bool] | None = None,
              rng: np.random.Generator | None = None, *, force: bool = False
              ) -> tuple[Words, tuple[str, ...]]:
    """``(heard words, kinds applied in order)``; ``kinds == ()``: left clean.

    Args:
      words: the intended utterance.
      entity: per word, True inside a slot value (swapped more often).
      rng: the generator to draw from (default: the model's own).
      force: never left clean (no ``clean_rate`` draw): a request known to
        have been misheard (``kinds == ()`` only where no edit applies).
    """
    rng = rng or self.rng
    words = tuple(words)
    entity = list(entity) if entity is not None else [False] * len(words)
    if not force and rng.random() < self.config.clean_rate:
      return words, ()
    kinds, i = [], 0
    while i < len(words):
      k = int(np.searchsorted(np.cumsum(self._rates(entity[i])), rng.random(), side="right"))
      if k == len(KINDS) or not self.applies(KINDS[k], words, i):
        i += 1
        continue
      words, i = self._edit(KINDS[k], words, entity, i, rng)
      kinds.append(KINDS[k])
    if not kinds:
      return self._force_one(words, entity, rng)
    return words, tuple(kinds)

  def _edit(self, kind: str, words: Words, entity: list[bool], i: int, rng):
    """Applies ``kind`` at ``i``, keeps ``entity`` aligned; ``(words, next position)``."""
    new = getattr(self, kind)(words, i, rng)
    if kind == "split":
      entity.insert(i, entity[i])
      return new, i + 2
    if kind == "merge":
      entity[i:i + 2] = [entity[i] or entity[i + 1]]
    elif kind == "drop":
      del entity[i]
      return new, i
    return new, i + 1

  def _force_one(self, words: Words, entity: list[bool], rng) -> tuple[Words, tuple[str, ...]]:
    """One corruption where any applies: kind and position by rate (``words`` if none)."""
    options = [(k, i) for k in KINDS for i in range(len(words)) if self.applies(k, words, i)]
    if not options:
      return words, ()
    weights = np.array([self._rates(entity[i])[KINDS.index(k)] for k, i in options])
    k, i = options[rng.choice(len(options), p=weights / weights.sum())]
    return getattr(self, k)(words, i, rng), (k,)
