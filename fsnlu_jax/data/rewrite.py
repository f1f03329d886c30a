"""Rewrite pairs for constrained query rewriting (CGF), made from real utterances.

A pair is (previous turn, the request as speech recognition heard it) -> the
request the user meant, e.g. ``play alien bridges`` -> ``play leon bridges``.
Nothing here is recorded speech: targets are real SNIPS / HWU64 utterances (or
new ones made from their templates and slot values), and sources are made from
targets by :class:`CorruptionModel`, a documented, seeded model of recognition
errors (sound-alike swaps, word splits and merges, drops; see
:mod:`fsnlu_jax.data.asr_noise`); ``clean_rate`` of the pairs are left as they
are (the rewriter must learn to copy). Every pair records the kinds applied.

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
flagged, to measure abstention).

The **previous turn** comes from one of two simulations (``simulation``):

* ``"independent"`` (the first one, kept for comparison): a random history
  utterance of the user, drawn independently of the request, or empty for a
  session's first turn (``first_turn_rate``). It carries no information about
  the request (it equals the target in under 1% of test pairs).
* ``"contextual"``: sessions as in real assistants (:class:`ContextConfig`,
  shares by name in ``relation_probs``): a **rephrase** (another template of
  the same intent, carrying the request's slot values over where slot types
  match: the same entity or intent asked differently), a **follow-up** (a
  template of another intent sharing one of the request's slot values: the
  same entity, e.g. ``what's the weather in paris`` -> ``is it raining in
  paris``), a **repeat** (a failed attempt: the same request, itself misheard,
  never clean), **unrelated** (a random history utterance, as in the
  independent simulation) or **first** (empty). A relation that cannot be
  made for a request falls back (follow-up -> rephrase -> unrelated); each
  pair records the relation made (``RewritePair.relation``). Recognition
  errors are those of :class:`~fsnlu_jax.data.asr_noise.CorruptionModel`,
  plus **confusables**: with ``confusable_rate``, a corrupted request is
  instead heard as a *different frequent utterance* (one in the global trie)
  one sound-alike word away (``play leon bridges`` -> ``play lion bridges``
  where both are known-good requests), kind ``"confusable"``, and **cut-offs**:
  with ``cutoff_rate``, a corrupted request that was not heard as a confusable
  is instead heard cut off before its last slot value (``what's the weather in
  paris tomorrow`` -> ``what's the weather in``: the recogniser's endpointing
  closed the turn early, a common failure on long names), kind ``"cutoff"``.
  Spelling cannot undo either: a confusable's nearest known-good utterance is
  the heard words themselves, and a cut-off request's lost value is in no
  letter of it; only the context (the rephrase, follow-up or failed repeat
  before it names the value) or the user's history decides.

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
from typing import Iterable, Mapping, Sequence

import numpy as np

from fsnlu_jax.data.arrays import pad_batch
from fsnlu_jax.data.asr_noise import (CorruptionConfig, CorruptionModel, Words, one_edit_apart,
                                      phonetic_key)
from fsnlu_jax.data.bio import bio_to_spans
from fsnlu_jax.data.schema import Example
from fsnlu_jax.data.vocab import BOS_ID, EOS_ID, SPECIAL_TOKENS, UNK_ID, Vocab

SEP = "<sep>"  # between the previous turn and the current request; id 4 in build_vocab's vocab
ORIGINS = ("history", "corpus", "fresh")
SPLITS = ("train", "validation", "test")
SIMULATIONS = ("independent", "contextual")  # how the previous turn is drawn (module docs)
RELATIONS = ("rephrase", "follow_up", "repeat", "unrelated", "first")  # contextual's relations
CONFUSABLE = "confusable"  # the kind of a request heard as another frequent utterance
CUTOFF = "cutoff"  # the kind of a request heard cut off before its last slot value

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
  """A normalised utterance, its template, which words are slot values, and the values."""

  words: Words
  template: int  # index into RewriteCorpus.templates
  entity: tuple[bool, ...]  # per word, True inside a slot value
  values: tuple[Words, ...] = ()  # the slot values, in the template's slot order


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
    template_counts: ``[len(templates)]`` real utterances per template.
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
      utterances.append(Utterance(words=words, template=t, entity=entity, values=values))
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
class ContextConfig:
  """How the previous turn relates to the request in the ``"contextual"`` simulation.

  Attributes:
    relation_probs: chances of each relation, in ``RELATIONS`` order:
      rephrase, follow-up, repeat (a failed attempt), unrelated, first turn
      (module docs). Default: 60% of turns related to the request, 25%
      unrelated, 15% first turns.
    confusable_rate: chance that a corrupted request is heard as a different
      frequent utterance one sound-alike word away instead, where one exists.
    cutoff_rate: chance that a corrupted request not heard as a confusable is
      heard cut off before its last slot value instead, where at least one
      word comes before that value. 0 gives the first contextual simulation
      (stop 7), whose shares the README's first contextual finding used.
  """

  relation_probs: tuple[float, float, float, float, float] = (0.2, 0.2, 0.2, 0.25, 0.15)
  confusable_rate: float = 0.8
  cutoff_rate: float = 0.3

  def __post_init__(self):
    probs = np.asarray(self.relation_probs, float)
    if probs.shape != (len(RELATIONS),) or (probs < 0).any() or probs.sum() <= 0:
      raise ValueError(f"relation_probs: {len(RELATIONS)} chances {RELATIONS}, "
                       f"got {self.relation_probs}")
    for name in ("confusable_rate", "cutoff_rate"):
      if not 0 <= getattr(self, name) <= 1:
        raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")


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
    simulation: how the previous turn is drawn (``SIMULATIONS``, module docs).
    context: the ``"contextual"`` simulation's shares (unused by the other).
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
  simulation: str = "independent"
  context: ContextConfig = ContextConfig()
  seed: int = 0

  def __post_init__(self):
    if self.simulation not in SIMULATIONS:
      raise ValueError(f"simulation must be one of {SIMULATIONS}, got {self.simulation!r}")


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
    self.intent_of = intent_of = np.array([self.intent_ids[t.intent] for t in corpus.templates])
    self._related: dict[tuple[int, str], tuple[str, np.ndarray]] = {}
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
    values = tuple(self.value(user, s, rng) for s in template.slot_types)
    words, entity = fill(template, values)
    return Utterance(words=words, template=t, entity=entity, values=values)

  def real(self, user: SimulatedUser, rng, only_seen: bool) -> Utterance:
    """A real corpus utterance of an intent ``user`` likes."""
    candidates = self.utterances[only_seen][self.intent(user, rng, only_seen)]
    return self.corpus.utterances[int(candidates[rng.integers(len(candidates))])]

  def related(self, user: SimulatedUser, target: Utterance, relation: str, rng
              ) -> tuple[Utterance | None, str]:
    """A previous turn sharing ``target``'s intent (``"rephrase"``) or one of its
    slot values (``"follow_up"``), and the relation made; ``(None, "unrelated")``
    when neither can be made (module docs: the fallbacks)."""
    templates = self.corpus.templates
    relation, options = self._related_templates(target.template, relation)
    if not options.size:
      return None, "unrelated"
    weights = self.corpus.template_counts[options].astype(float)
    t = int(options[rng.choice(len(options), p=weights / weights.sum())])
    # The request's values go where the slot types match (each once), others the user's.
    pool = collections.defaultdict(list)
    for slot_type, value in zip(templates[target.template].slot_types, target.values):
      pool[slot_type].append(value)
    values = tuple(pool[s].pop(0) if pool[s] else self.value(user, s, rng)
                   for s in templates[t].slot_types)
    words, entity = fill(templates[t], values)
    return Utterance(words=words, template=t, entity=entity, values=values), relation

  def _related_templates(self, template: int, relation: str) -> tuple[str, np.ndarray]:
    """``(relation made, candidate templates)`` for a previous turn of ``relation``
    to a request of ``template`` (memoised: it depends on the template alone)."""
    key = (template, relation)
    if key not in self._related:
      if not hasattr(self, "_by_type"):
        self._by_type = collections.defaultdict(list)
        for t, tmpl in enumerate(self.corpus.templates):
          for slot_type in set(tmpl.slot_types):
            self._by_type[slot_type].append(t)
      shares = np.zeros(len(self.intent_of), bool)  # a template with a slot type of the request's
      for slot_type in self.corpus.templates[template].slot_types:
        shares[self._by_type[slot_type]] = True
      same = self.intent_of == self.intent_of[template]
      same[template] = shares[template] = False
      options = np.zeros(0, int)
      if relation == "follow_up":  # another intent's template sharing a slot type, else its own's
        options = np.flatnonzero(shares & ~same)
        options = options if options.size else np.flatnonzero(shares & same)
      if not options.size:
        relation = "rephrase"
        options = np.flatnonzero(shares & same)
        options = options if options.size else np.flatnonzero(same)
      self._related[key] = relation, options
    return self._related[key]


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
    relation: how the previous turn relates to the request (``RELATIONS``),
      ``"independent"`` in the independent simulation.
    target_entity: per target word, True inside a slot value.
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
  relation: str = "independent"
  target_entity: tuple[bool, ...] = ()


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
          "template_seen": sum(p.template_seen for p in pairs) / n,
          "context": context_stats(pairs, self.global_trie)}
    return out


def previous_names_value(pair: RewritePair) -> bool:
  """Whether ``pair``'s previous turn holds a slot-value word of its target."""
  return any(e and w in pair.previous for w, e in zip(pair.target, pair.target_entity))


def context_stats(pairs: Sequence[RewritePair], global_trie: frozenset[Words]) -> dict:
  """How much the previous turns say about the requests (shares of ``pairs``).

  ``relation``: the share of each relation made; ``previous_equals_target``;
  ``previous_shares_entity``: the previous turn holds a slot-value word of the
  target (of all pairs; ``target_has_entity`` says how many targets have one);
  ``previous_shares_word``: any word in common; ``heard_other_frequent``: the
  heard request is a *different* global-trie utterance than the one meant (of
  all pairs, and ``of_corrupted`` of the corrupted ones): no spelling-based
  rewrite can undo it.
  """
  n = max(len(pairs), 1)
  corrupted = [p for p in pairs if p.source != p.target]
  other = [p for p in corrupted if p.source in global_trie]
  relations = collections.Counter(p.relation for p in pairs)
  return {
      "relation": {r: relations[r] / n for r in sorted(relations)},
      "previous_equals_target": sum(p.previous == p.target for p in pairs) / n,
      "previous_shares_entity": sum(map(previous_names_value, pairs)) / n,
      "target_has_entity": sum(any(p.target_entity) for p in pairs) / n,
      "previous_shares_word": sum(bool(set(p.target) & set(p.previous)) for p in pairs) / n,
      "heard_other_frequent": len(other) / n,
      "heard_other_frequent_of_corrupted": len(other) / max(len(corrupted), 1)}


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


def _target(sampler: _Sampler, user: SimulatedUser, usable: Sequence[Utterance],
            only_seen: bool, rng) -> tuple[str, Utterance]:
  """``(origin, target)`` of one pair (module docs)."""
  c = sampler.config
  origin = ORIGINS[rng.choice(len(ORIGINS), p=np.asarray(c.origin_probs) / sum(c.origin_probs))]
  if origin == "history" and usable:
    return origin, usable[rng.integers(len(usable))]
  if origin == "corpus":
    return origin, sampler.real(user, rng, only_seen)
  return "fresh", sampler.fresh(user, rng, only_seen)


def _user_pairs(sampler: _Sampler, user: SimulatedUser, seen: np.ndarray,
                corruption: CorruptionModel, rng: np.random.Generator) -> list[RewritePair]:
  """The independent simulation's pairs of ``user``: the previous turn ignores the target."""
  c = sampler.config
  only_seen = user.split == "train"  # train targets never use a held-out template
  usable = [u for u in user.history if seen[u.template] or not only_seen]
  pairs = []
  for _ in range(c.pairs_per_user):
    origin, target = _target(sampler, user, usable, only_seen, rng)
    previous = () if rng.random() < c.first_turn_rate else (
        user.history[rng.integers(len(user.history))].words)
    source, kinds = corruption.corrupt(target.words, target.entity, rng)
    pairs.append(RewritePair(user.user_id, previous, source, target.words, kinds, origin,
                             target.template, bool(seen[target.template]),
                             target_entity=target.entity))
  return pairs


def utterance_key(words: Sequence[str]) -> str:
  """The phonetic keys of the words run together (word breaks are not heard).

  >>> utterance_key(("play", "list")) == utterance_key(("playlist",))
  True
  """
  return "".join(phonetic_key(w) or w for w in words)


def cut_off(words: Words, entity: Sequence[bool]) -> Words | None:
  """``words`` up to the start of their last slot value (None: no value, or
  nothing before it): what a recogniser that closed the turn early heard.

  >>> cut_off(("weather", "in", "new", "york", "today"), (0, 0, 1, 1, 0))
  ('weather', 'in')
  """
  starts = [i for i, e in enumerate(entity) if e and (i == 0 or not entity[i - 1])]
  return tuple(words[:starts[-1]]) if starts and starts[-1] > 0 else None


class _Hearing:
  """The contextual simulation's recognition errors: the corruption model,
  confusables (another frequent utterance that sounds nearly the same) and
  cut-offs (the request cut before its last slot value)."""

  def __init__(self, corruption: CorruptionModel, frequent: frozenset[Words], rate: float,
               *, cutoff_rate: float = 0.0, min_key: int = 4):
    self.corruption, self.frequent, self.rate, self.min_key = corruption, frequent, rate, min_key
    self.cutoff_rate = cutoff_rate
    self._confusables: dict[Words, tuple[Words, ...]] = {}
    # Utterance keys by themselves and their one-sound deletions: near keys share one.
    self._by_deletion: dict[str, list[Words]] = collections.defaultdict(list)
    for words in sorted(frequent):
      key = utterance_key(words)
      if len(key) >= min_key:
        for d in {key} | {key[:i] + key[i + 1:] for i in range(len(key))}:
          self._by_deletion[d].append(words)

  def confusables(self, words: Words) -> tuple[Words, ...]:
    """The frequent utterances other than ``words`` that differ from it in one word,
    a sound-alike of it, or whose :func:`utterance_key` is ``words``' or one sound
    away (not the first; keys of ``min_key``+ sounds)."""
    if words not in self._confusables:
      found = {words[:i] + (n,) + words[i + 1:] for i, w in enumerate(words)
               for n in self.corruption.table.neighbours(w)} & self.frequent
      key = utterance_key(words)
      if len(key) >= self.min_key:
        near = {u for d in {key} | {key[:i] + key[i + 1:] for i in range(len(key))}
                for u in self._by_deletion.get(d, ())}
        found |= {u for u in near if (k := utterance_key(u)) == key or one_edit_apart(k, key)}
      found.discard(words)
      self._confusables[words] = tuple(sorted(found))
    return self._confusables[words]

  def __call__(self, target: Utterance, rng, *, force: bool = False
               ) -> tuple[Words, tuple[str, ...]]:
    """``(heard, kinds)``: :meth:`CorruptionModel.corrupt`; a corrupted one becomes
    a confusable with ``rate`` where one exists, else a cut-off with
    ``cutoff_rate`` where one can be made."""
    heard, kinds = self.corruption.corrupt(target.words, target.entity, rng, force=force)
    if kinds and rng.random() < self.rate:
      options = self.confusables(target.words)
      if options:
        return options[rng.integers(len(options))], (CONFUSABLE,)
    # No draw at rate 0: the first contextual simulation's pairs stay bit-identical.
    if kinds and self.cutoff_rate and rng.random() < self.cutoff_rate:
      cut = cut_off(target.words, target.entity)
      if cut is not None:
        return cut, (CUTOFF,)
    return heard, kinds


def _contextual_pairs(sampler: _Sampler, user: SimulatedUser, seen: np.ndarray,
                      hear: _Hearing, rng: np.random.Generator) -> list[RewritePair]:
  """The contextual simulation's pairs of ``user``: the previous turn is drawn
  from the target by a relation (module docs)."""
  c = sampler.config
  only_seen = user.split == "train"
  usable = [u for u in user.history if seen[u.template] or not only_seen]
  probs = np.asarray(c.context.relation_probs, float)
  pairs = []
  for _ in range(c.pairs_per_user):
    origin, target = _target(sampler, user, usable, only_seen, rng)
    relation = RELATIONS[rng.choice(len(RELATIONS), p=probs / probs.sum())]
    if relation in ("rephrase", "follow_up"):
      made, relation = sampler.related(user, target, relation, rng)
      previous = made.words if made is not None else ()
    if relation == "repeat":
      previous = hear(target, rng, force=True)[0]
    elif relation == "unrelated":
      previous = user.history[rng.integers(len(user.history))].words
    elif relation == "first":
      previous = ()
    source, kinds = hear(target, rng)
    pairs.append(RewritePair(user.user_id, previous, source, target.words, kinds, origin,
                             target.template, bool(seen[target.template]), relation=relation,
                             target_entity=target.entity))
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
  if config.simulation == "contextual":
    hear = _Hearing(corruption, global_trie, config.context.confusable_rate,
                    cutoff_rate=config.context.cutoff_rate)
    make_pairs = lambda user, rng: _contextual_pairs(sampler, user, seen, hear, rng)
  else:
    make_pairs = lambda user, rng: _user_pairs(sampler, user, seen, corruption, rng)
  splits = {name: [] for name in SPLITS}
  for user in users:
    personal = user.personal_trie
    for pair in make_pairs(user, _rng(config.seed, 3, user.user_id)):
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
  built = Vocab.build(lists, min_count=min_count)  # ids do not depend on the order
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
                user=np.array([p.user for p in pairs], np.int32),
                target_in_global=np.array([p.target_in_global for p in pairs], bool),
                target_in_personal=np.array([p.target_in_personal for p in pairs], bool))
  unk = UNK_ID
  stats = PairEncodeStats(len(pairs), cut_src, cut_tgt, int(((src == unk) & src_mask).sum()),
                          int(sum((t == unk).sum() for t in targets)))
  return arrays, stats
