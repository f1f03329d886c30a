"""Rewrite pairs for constrained query rewriting (CGF), made from real utterances.

A pair is (previous turn, the request as speech recognition heard it) -> the
request the user meant, e.g. ``play alien bridges`` -> ``play leon bridges``.
Nothing here is recorded speech: targets are real SNIPS / HWU64 utterances (or
new ones made from their templates and slot values), and sources are made from
targets by :class:`CorruptionModel`, a documented, seeded model of recognition
errors:

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

Each word independently undergoes one of these at its rate; a pair meant to be
corrupted that came out unchanged gets one forced corruption; ``clean_rate`` of
the pairs are left as they are (the rewriter must learn to copy). Every pair
records the kinds applied, in order.

Simulated users (:class:`SimulatedUser`) each have preferences: a Dirichlet
draw around the corpus intent frequencies, and per slot type a few favourite
values (drawn by corpus frequency) weighted by a Zipf law and mixed with the
corpus distribution. A user's history, drawn from these preferences, is the
set of their successful utterances: their **personal trie**. The **global
trie** holds every real corpus utterance and every history utterance of at
least ``global_min_users`` users (popular requests).

Targets come from the user's history (in their personal trie), from the corpus
(an intent the user likes, then a real utterance of it: in the global trie),
or are fresh draws from the user's preferences (often in neither trie; kept,
flagged, to measure abstention). The **previous turn** is the user's previous
successful request (a history utterance), or empty for a session's first turn.

Splits: users are split train/validation/test (all of a user's pairs in one
split), and ``heldout_template_rate`` of the templates are held out: train
pairs never have a held-out template as target; validation and test pairs may,
flagged by ``template_seen``. The tries are deployed artefacts, not training
data, so they hold utterances of every template.

Shapes: ``B`` pairs, ``Ls`` source length, ``Lt`` target length.

References:
  Ahmadvand et al., "Constrained generation framework for query rewriting in
  conversational AI", EMNLP 2022 (industry track).
"""

from __future__ import annotations

import collections
import dataclasses
import re
import unicodedata
from typing import Iterable, Mapping, Sequence

import numpy as np

from fsnlu_jax.data.arrays import pad_batch
from fsnlu_jax.data.bio import bio_to_spans
from fsnlu_jax.data.schema import Example
from fsnlu_jax.data.vocab import BOS_ID, EOS_ID, SPECIAL_TOKENS, Vocab

SEP = "<sep>"  # between the previous turn and the current request; id 4 in build_vocab's vocab
KINDS = ("swap", "split", "merge", "drop")
ORIGINS = ("history", "corpus", "fresh")
SPLITS = ("train", "validation", "test")
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


def _one_edit(a: str, b: str) -> bool:
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
                if _one_edit(k, key)}
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
              rng: np.random.Generator | None = None) -> tuple[Words, tuple[str, ...]]:
    """``(heard words, kinds applied in order)``; ``kinds == ()``: left clean.

    Args:
      words: the intended utterance.
      entity: per word, True inside a slot value (swapped more often).
      rng: the generator to draw from (default: the model's own).
    """
    rng = rng or self.rng
    words = tuple(words)
    entity = list(entity) if entity is not None else [False] * len(words)
    if rng.random() < self.config.clean_rate:
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


# ---- corpus: utterances, templates, slot values ----------------------------


def normalise(tokens: Sequence[str],
              tags: Sequence[str] | None = None) -> tuple[Words, tuple[str, ...]]:
  """Lower-cased words without punctuation (recognisers output none) at their ends or
  alone, with their tags; inner apostrophes and hyphens stay (``what's``, ``wi-fi``).

  >>> normalise(["Play", "Leon", "Bridges", "."], ["O", "B-artist", "I-artist", "O"])
  (('play', 'leon', 'bridges'), ('O', 'B-artist', 'I-artist'))
  """
  tags = tuple(tags) if tags is not None else ("O",) * len(tokens)
  stripped = (re.sub(r"^[\W_]+|[\W_]+$", "", t.lower()) for t in tokens)
  kept = [(t, g) for t, g in zip(stripped, tags) if t]
  return tuple(t for t, _ in kept), tuple(g for _, g in kept)


@dataclasses.dataclass(frozen=True)
class Template:
  """A real utterance with its slot values cut out.

  Attributes:
    dataset: where it came from (``"snips"``, ``"hwu64"``).
    intent: ``dataset:intent``.
    words: its words, with ``"\\x00k"`` where the ``k``-th slot value goes.
    slot_types: ``dataset:type`` of each slot, in order.
  """

  dataset: str
  intent: str
  words: Words
  slot_types: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Utterance:
  """A normalised utterance, its template, and which words are slot values."""

  words: Words
  template: int  # index into RewriteCorpus.templates
  entity: tuple[bool, ...]  # per word, True inside a slot value


def _template_of(dataset: str, example: Example) -> tuple[Template, tuple[Words, ...]]:
  """``example``'s template and its slot values in order."""
  words, tags = normalise(example.tokens, example.slots)
  pieces, types, values, last = [], [], [], 0
  for slot_type, first, end in bio_to_spans(tags):
    pieces += list(words[last:first]) + [f"\x00{len(types)}"]
    types.append(f"{dataset}:{slot_type}")
    values.append(words[first:end])
    last = end
  pieces += words[last:]
  template = Template(dataset, f"{dataset}:{example.intent}", tuple(pieces), tuple(types))
  return template, tuple(values)


def fill(template: Template, values: Sequence[Words]) -> tuple[Words, tuple[bool, ...]]:
  """The template's words with ``values`` put in its slots, and the entity mask."""
  words, entity = [], []
  for piece in template.words:
    value = values[int(piece[1:])] if piece.startswith("\x00") else (piece,)
    words += value
    entity += [piece.startswith("\x00")] * len(value)
  return tuple(words), tuple(entity)


@dataclasses.dataclass(frozen=True, eq=False)
class RewriteCorpus:
  """The real utterances of one or more datasets, as templates and slot values.

  Attributes:
    templates: distinct templates, in first-seen order.
    template_counts: ``[T]`` real utterances per template.
    utterances: every real utterance with at least one word.
    values: ``dataset:type`` -> its distinct values (sorted), with
      ``value_counts`` the matching ``[n]`` counts.
    word_counts: word -> count over all utterances (the corruption vocabulary).
    dropped_empty: examples with no word left after normalising (counted).
  """

  templates: tuple[Template, ...]
  template_counts: np.ndarray
  utterances: tuple[Utterance, ...]
  values: dict[str, tuple[Words, ...]]
  value_counts: dict[str, np.ndarray]
  word_counts: dict[str, int]
  dropped_empty: int = 0

  @property
  def intents(self) -> tuple[str, ...]:
    return tuple(sorted({t.intent for t in self.templates}))


def build_corpus(examples: Mapping[str, Iterable[Example]]) -> RewriteCorpus:
  """Templates and slot-value lists of ``{dataset name: examples}`` (every split pooled)."""
  index: dict[Template, int] = {}
  counts: list[int] = []
  utterances, dropped = [], 0
  value_counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
  for dataset in sorted(examples):
    for example in examples[dataset]:
      template, values = _template_of(dataset, example)
      if not template.words:
        dropped += 1
        continue
      t = index.setdefault(template, len(index))
      counts += [0] * (len(index) - len(counts))
      counts[t] += 1
      for slot_type, value in zip(template.slot_types, values):
        value_counts[slot_type][value] += 1
      words, entity = fill(template, values)
      utterances.append(Utterance(words=words, template=t, entity=entity))
  words = collections.Counter(w for u in utterances for w in u.words)
  sorted_values = {k: tuple(sorted(c)) for k, c in sorted(value_counts.items())}
  return RewriteCorpus(
      templates=tuple(index), template_counts=np.asarray(counts), utterances=tuple(utterances),
      values=sorted_values,
      value_counts={k: np.array([value_counts[k][v] for v in vs])
                    for k, vs in sorted_values.items()},
      word_counts=dict(sorted(words.items())), dropped_empty=dropped)


def load_corpus(names: Sequence[str] = ("snips", "hwu64"), **load_kwargs) -> RewriteCorpus:
  """:func:`build_corpus` over every split of the named datasets.

  Args:
    names: dataset names for :func:`fsnlu_jax.data.load`.
    **load_kwargs: ``data_dir``, ``cache_dir``, ... passed to it.
  """
  # Imported here: TFDS is slow to import and the rest of this module needs none of it.
  from fsnlu_jax.data.loading import load  # pylint: disable=g-import-not-at-top

  return build_corpus({name.split("/")[0]: [e for split in load(name, **load_kwargs).values()
                                            for e in split] for name in names})


# ---- simulated users ------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class RewriteDataConfig:
  """How users, tries and pairs are drawn (see the module docs).

  Attributes:
    n_users: simulated users.
    history_size: successful utterances drawn per user (their personal trie,
      repeats allowed, as people repeat requests).
    pairs_per_user: rewrite pairs per user.
    n_favourites: favourite values per slot type and user.
    zipf_exponent: favourite of rank ``r`` has weight ``r ** -zipf_exponent``.
    preference_strength: chance a slot is filled with a favourite rather than
      from the corpus distribution.
    intent_concentration: Dirichlet concentration around the corpus intent
      frequencies (small: each user sticks to a few intents).
    origin_probs: chances a target comes from the history, the corpus, or is
      a fresh draw (``ORIGINS`` order).
    first_turn_rate: chance the previous turn is empty.
    heldout_template_rate: share of templates never a train target.
    user_split: train/validation/test shares of users.
    global_min_users: a history utterance of this many users is global.
    corruption: the recognition-error rates.
    seed: every draw derives from it.
  """

  n_users: int = 300
  history_size: int = 40
  pairs_per_user: int = 20
  n_favourites: int = 5
  zipf_exponent: float = 1.0
  preference_strength: float = 0.7
  intent_concentration: float = 5.0
  origin_probs: tuple[float, float, float] = (0.5, 0.3, 0.2)
  first_turn_rate: float = 0.3
  heldout_template_rate: float = 0.1
  user_split: tuple[float, float, float] = (0.8, 0.1, 0.1)
  global_min_users: int = 2
  corruption: CorruptionConfig = CorruptionConfig()
  seed: int = 0


@dataclasses.dataclass(frozen=True, eq=False)
class SimulatedUser:
  """A user's preferences and history.

  Attributes:
    user_id: its index.
    split: the split all its pairs go to.
    intent_probs: ``[C]`` over ``RewriteCorpus.intents``.
    favourites: slot type -> indices into ``corpus.values[type]``, best first.
    history: its successful utterances, in the order they happened.
  """

  user_id: int
  split: str
  intent_probs: np.ndarray
  favourites: dict[str, np.ndarray]
  history: tuple[Utterance, ...]

  @property
  def personal_trie(self) -> frozenset[Words]:
    """The distinct utterances of the history."""
    return frozenset(u.words for u in self.history)


class _Sampler:
  """Draws users and their utterances from a corpus (one per dataset build)."""

  def __init__(self, corpus: RewriteCorpus, config: RewriteDataConfig, seen: np.ndarray):
    self.corpus, self.config = corpus, config
    self.intent_ids = {name: i for i, name in enumerate(corpus.intents)}
    intent_of = np.array([self.intent_ids[t.intent] for t in corpus.templates])
    utt_template = np.array([u.template for u in corpus.utterances])
    self.freq = np.bincount(intent_of, corpus.template_counts, len(self.intent_ids))
    self.freq = self.freq / self.freq.sum()
    # Per intent and for each restriction (all templates, seen ones): candidates.
    self.templates, self.utterances = {}, {}
    for only_seen in (False, True):
      ok = seen if only_seen else np.ones_like(seen)
      self.templates[only_seen] = [np.flatnonzero((intent_of == c) & ok)
                                   for c in range(len(self.intent_ids))]
      utt_intent, utt_ok = intent_of[utt_template], ok[utt_template]
      self.utterances[only_seen] = [np.flatnonzero((utt_intent == c) & utt_ok)
                                    for c in range(len(self.intent_ids))]

  def user(self, user_id: int, split: str, rng: np.random.Generator) -> SimulatedUser:
    c = self.config
    alpha = np.maximum(c.intent_concentration * self.freq, 1e-2)
    intent_probs = rng.dirichlet(alpha)
    favourites = {}
    for slot_type, counts in self.corpus.value_counts.items():
      k = min(c.n_favourites, len(counts))
      favourites[slot_type] = rng.choice(len(counts), size=k, replace=False,
                                         p=counts / counts.sum())
    user = SimulatedUser(user_id, split, intent_probs, favourites, ())
    history = tuple(self.fresh(user, rng, False) for _ in range(c.history_size))
    return dataclasses.replace(user, history=history)

  def intent(self, user: SimulatedUser, rng, only_seen: bool) -> int:
    has = np.array([len(t) > 0 for t in self.templates[only_seen]])
    p = user.intent_probs * has
    return int(rng.choice(len(p), p=p / p.sum()))

  def value(self, user: SimulatedUser, slot_type: str, rng) -> Words:
    c, counts = self.config, self.corpus.value_counts[slot_type]
    if rng.random() < c.preference_strength:
      favs = user.favourites[slot_type]
      zipf = np.arange(1, len(favs) + 1, dtype=float) ** -c.zipf_exponent
      index = favs[rng.choice(len(favs), p=zipf / zipf.sum())]
    else:
      index = rng.choice(len(counts), p=counts / counts.sum())
    return self.corpus.values[slot_type][index]

  def fresh(self, user: SimulatedUser, rng, only_seen: bool) -> Utterance:
    """A new utterance from ``user``'s preferences: intent, template by popularity, values."""
    candidates = self.templates[only_seen][self.intent(user, rng, only_seen)]
    weights = self.corpus.template_counts[candidates].astype(float)
    t = int(candidates[rng.choice(len(candidates), p=weights / weights.sum())])
    template = self.corpus.templates[t]
    words, entity = fill(template, [self.value(user, s, rng) for s in template.slot_types])
    return Utterance(words=words, template=t, entity=entity)

  def real(self, user: SimulatedUser, rng, only_seen: bool) -> Utterance:
    """A real corpus utterance of an intent ``user`` likes."""
    candidates = self.utterances[only_seen][self.intent(user, rng, only_seen)]
    return self.corpus.utterances[int(candidates[rng.integers(len(candidates))])]


# ---- pairs and the dataset -------------------------------------------------


@dataclasses.dataclass(frozen=True)
class RewritePair:
  """One rewrite example.

  Attributes:
    user: the user's id.
    previous: the previous turn (``()`` for a session's first turn).
    source: the current request as heard (the corrupted target).
    target: the request meant.
    kinds: corruptions applied, in order (``()``: source == target).
    origin: where the target came from (``ORIGINS``).
    template: the target's template (index into the corpus's templates).
    template_seen: the template may be a train target (not held out).
    target_in_global, target_in_personal: trie membership of the target.
  """

  user: int
  previous: Words
  source: Words
  target: Words
  kinds: tuple[str, ...]
  origin: str
  template: int
  template_seen: bool
  target_in_global: bool = False
  target_in_personal: bool = False


@dataclasses.dataclass(frozen=True, eq=False)
class RewriteDataset:
  """Pairs by split, the users, and the tries.

  Attributes:
    splits: ``"train"``, ``"validation"``, ``"test"`` -> pairs.
    users: every user, by id.
    global_trie: the known-good utterances of everyone.
    corpus: where it all came from.
    config: how it was drawn.
  """

  splits: dict[str, tuple[RewritePair, ...]]
  users: tuple[SimulatedUser, ...]
  global_trie: frozenset[Words]
  corpus: RewriteCorpus
  config: RewriteDataConfig

  def personal_trie(self, user: int) -> frozenset[Words]:
    return self.users[user].personal_trie

  def stats(self) -> dict:
    """Counts for a report: pairs, corruption mix, origins, trie membership, per split."""
    out = {"users": len(self.users), "templates": len(self.corpus.templates),
           "global_trie": len(self.global_trie),
           "mean_personal_trie": float(np.mean([len(u.personal_trie) for u in self.users]))}
    for name, pairs in self.splits.items():
      n = max(len(pairs), 1)
      kinds = collections.Counter(k for p in pairs for k in p.kinds)
      out[name] = {
          "pairs": len(pairs), "clean": sum(not p.kinds for p in pairs) / n,
          "kinds_per_pair": dict(sorted((k, v / n) for k, v in kinds.items())),
          "origin": {o: sum(p.origin == o for p in pairs) / n for o in ORIGINS},
          "in_global": sum(p.target_in_global for p in pairs) / n,
          "in_personal": sum(p.target_in_personal for p in pairs) / n,
          "in_neither": sum(not (p.target_in_global or p.target_in_personal) for p in pairs) / n,
          "template_seen": sum(p.template_seen for p in pairs) / n}
    return out


def _rng(seed: int, *stream: int) -> np.random.Generator:
  # One stream per stage (and per user), so adding users changes no other draw.
  return np.random.default_rng([seed, *stream])


def _split_users(config: RewriteDataConfig) -> list[str]:
  shares = np.asarray(config.user_split, float)
  bounds = np.round(np.cumsum(shares / shares.sum()) * config.n_users).astype(int)
  order = _rng(config.seed, 1).permutation(config.n_users)
  split_of = [""] * config.n_users
  for rank, user in enumerate(order):
    split_of[user] = SPLITS[int(np.searchsorted(bounds, rank, side="right"))]
  return split_of


def _global_trie(corpus: RewriteCorpus, users: Sequence[SimulatedUser], min_users: int):
  """Every real utterance, and history utterances of at least ``min_users`` users."""
  owners = collections.Counter(w for u in users for w in u.personal_trie)
  return frozenset({u.words for u in corpus.utterances}
                   | {w for w, n in owners.items() if n >= min_users})


def _user_pairs(sampler: _Sampler, user: SimulatedUser, seen: np.ndarray,
                corruption: CorruptionModel, rng: np.random.Generator) -> list[RewritePair]:
  c = sampler.config
  only_seen = user.split == "train"  # train targets never use a held-out template
  usable = [u for u in user.history if seen[u.template] or not only_seen]
  pairs = []
  for _ in range(c.pairs_per_user):
    origin = ORIGINS[rng.choice(len(ORIGINS), p=np.asarray(c.origin_probs) / sum(c.origin_probs))]
    if origin == "history" and usable:
      target = usable[rng.integers(len(usable))]
    elif origin == "corpus":
      target = sampler.real(user, rng, only_seen)
    else:
      origin, target = "fresh", sampler.fresh(user, rng, only_seen)
    previous = () if rng.random() < c.first_turn_rate else (
        user.history[rng.integers(len(user.history))].words)
    source, kinds = corruption.corrupt(target.words, target.entity, rng)
    pairs.append(RewritePair(user.user_id, previous, source, target.words, kinds, origin,
                             target.template, bool(seen[target.template])))
  return pairs


def build_rewrite_dataset(corpus: RewriteCorpus,
                          config: RewriteDataConfig = RewriteDataConfig()) -> RewriteDataset:
  """Users, tries and rewrite pairs from ``corpus``; the same config gives the same dataset."""
  n_templates = len(corpus.templates)
  heldout = _rng(config.seed, 0).permutation(n_templates)[
      :int(round(config.heldout_template_rate * n_templates))]
  seen = np.ones(n_templates, bool)
  seen[heldout] = False
  sampler = _Sampler(corpus, config, seen)
  users = tuple(sampler.user(i, split, _rng(config.seed, 2, i))
                for i, split in enumerate(_split_users(config)))
  global_trie = _global_trie(corpus, users, config.global_min_users)
  corruption = CorruptionModel(corpus.word_counts, config.corruption, seed=config.seed)
  splits = {name: [] for name in SPLITS}
  for user in users:
    personal = user.personal_trie
    for pair in _user_pairs(sampler, user, seen, corruption, _rng(config.seed, 3, user.user_id)):
      splits[user.split].append(dataclasses.replace(
          pair, target_in_global=pair.target in global_trie,
          target_in_personal=pair.target in personal))
  return RewriteDataset({k: tuple(v) for k, v in splits.items()}, users, global_trie, corpus,
                        config)


# ---- vocabulary and arrays ---------------------------------------------------


def build_vocab(dataset: RewriteDataset, *, min_count: int = 1) -> Vocab:
  """One word vocabulary for sources and targets (the rewriter ties them).

  Built from the train pairs' previous turns, sources and targets and from
  every trie utterance (a rewrite can only be a trie utterance, so the output
  side must spell them all). ``<sep>`` gets id 4, right after the specials.
  """
  lists = [w for p in dataset.splits["train"] for w in (p.previous, p.source, p.target)]
  lists += list(dataset.global_trie) + [w for u in dataset.users for w in u.personal_trie]
  built = Vocab.build(sorted(lists), min_count=min_count)
  return Vocab(SPECIAL_TOKENS + (SEP,) + tuple(t for t in built.tokens[len(SPECIAL_TOKENS):]
                                               if t != SEP))


@dataclasses.dataclass(frozen=True)
class PairEncodeStats:
  """What :func:`encode_pairs` counted.

  Attributes:
    pairs: ``B``.
    truncated_source: sources over ``Ls`` (previous turn cut from its start first).
    truncated_target: targets whose ``BOS``/``EOS`` form is over ``Lt`` (cut at the end).
    oov_source, oov_target: words that mapped to ``<unk>``.
  """

  pairs: int = 0
  truncated_source: int = 0
  truncated_target: int = 0
  oov_source: int = 0
  oov_target: int = 0


def source_ids(previous: Sequence[str], current: Sequence[str], vocab: Vocab,
               max_length: int) -> tuple[np.ndarray, bool]:
  """``previous <sep> current`` as ids, at most ``max_length``; also whether it was cut.

  An over-long input loses the start of the previous turn first (the current
  request matters most), then the end of the current request.
  """
  keep_prev = max(0, min(len(previous), max_length - 1 - len(current)))
  words = tuple(previous[len(previous) - keep_prev:]) + (SEP,) + tuple(current)
  return vocab.encode(words[:max_length]), len(previous) + 1 + len(current) > max_length


def encode_pairs(pairs: Sequence[RewritePair], vocab: Vocab, *, max_source_len: int,
                 max_target_len: int) -> tuple[dict[str, np.ndarray], PairEncodeStats]:
  """Padded arrays for :func:`fsnlu_jax.models.rewriter_loss` and evaluation.

  Returns:
    ``(arrays, stats)``: ``source_ids``/``source_mask`` ``[B, Ls]``;
    ``target_in`` (``BOS`` + target), ``target_out`` (target + ``EOS``),
    ``target_mask`` ``[B, Lt]``; ``user``, ``target_in_global``,
    ``target_in_personal`` ``[B]``.
  """
  sources, targets, cut_src, cut_tgt = [], [], 0, 0
  for p in pairs:
    ids, cut = source_ids(p.previous, p.source, vocab, max_source_len)
    sources.append(ids)
    cut_src += cut
    cut_tgt += len(p.target) + 1 > max_target_len
    targets.append(vocab.encode(p.target))
  src, src_mask = pad_batch(sources, max_source_len)
  # A target too long for Lt keeps its first words and loses its EOS (counted).
  tgt_in, tgt_mask = pad_batch([np.concatenate([[BOS_ID], t])[:max_target_len] for t in targets],
                               max_target_len)
  tgt_out, _ = pad_batch([np.concatenate([t, [EOS_ID]])[:max_target_len] for t in targets],
                         max_target_len)
  arrays = dict(source_ids=src, source_mask=src_mask, target_in=tgt_in, target_out=tgt_out,
                target_mask=tgt_mask,
                user=np.array([p.user for p in pairs], np.int32).reshape(-1),
                target_in_global=np.array([p.target_in_global for p in pairs], bool).reshape(-1),
                target_in_personal=np.array([p.target_in_personal for p in pairs],
                                            bool).reshape(-1))
  unk = vocab.token_to_id("<unk>")
  stats = PairEncodeStats(len(pairs), cut_src, cut_tgt, int(((src == unk) & src_mask).sum()),
                          int(sum((t == unk).sum() for t in targets)))
  return arrays, stats
