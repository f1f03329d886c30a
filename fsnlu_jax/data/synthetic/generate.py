"""Generates the embedded corpus from templates and slot catalogues.

:func:`generate_corpus` turns the domains of
:mod:`~fsnlu_jax.data.synthetic.domains` into ``train``/``validation``/``test``
lists of :class:`~fsnlu_jax.data.schema.Example`, so that the library runs on a
fresh machine with no download.

How one utterance is made: pick one of the intent's templates, expand its
word groups and slots into a list of ``(piece, slot type or None)``, append an
ending ("", "please", "thanks", ...), maybe add noise, then tokenise each piece
on its own and tag the tokens of a slot piece ``B-type, I-type, ...``. The BIO
tags are therefore exact by construction; the text is the pieces joined by
spaces, with ``, . ? ! :`` attached to the word before (which never changes the
tokenisation: ``tokenize(text) == tokens`` is checked for every example).

Noise, so that the corpus is not perfectly separable (rates per utterance,
seeded like everything else; slot values are never touched, so spans still map
back to catalogue values):

* :data:`TYPO_RATE` (5%): one non-slot word of four or more letters gets a typo
  -- two neighbouring letters swapped, one letter dropped or one doubled (never
  the first letter);
* :data:`DROP_RATE` (3%): one non-slot word is dropped ("set alarm for 7 am"),
  when the utterance has at least four pieces, another non-slot word remains
  and no punctuation is orphaned.

Because rejected duplicates are redrawn, intents with a small template space
end up with somewhat more noisy utterances than the rates say.

Determinism: every random choice comes from ``np.random.default_rng`` seeded by
``[seed, 0, crc32(intent name)]`` (one stream per intent, so editing one intent
leaves the others' streams alone) and ``[seed, 1, crc32(split name)]`` for the
split order; nothing depends on ``hash()`` or set order, so the same seed gives
the same corpus in every process. Utterances are unique across the whole corpus
(by their token sequence): each intent draws until it has enough new ones, then
they are dealt out to the splits, so no text is in two splits and no text has
two labels. An intent whose templates cannot fill its quota raises
:class:`TemplateSpaceError` -- a bug in the templates, not in the caller.
"""

from __future__ import annotations

import functools
import hashlib
import json
import zlib
from typing import Mapping

import numpy as np

from fsnlu_jax.data.schema import OUTSIDE, Example
from fsnlu_jax.data.synthetic.catalogues import SLOT_VALUES
from fsnlu_jax.data.synthetic.domains import DOMAINS
from fsnlu_jax.data.synthetic.pieces import COMMON_WORDS, ENDINGS
from fsnlu_jax.data.synthetic.spec import PART, Domain, Intent, check_template
from fsnlu_jax.data.tokenize import tokenize

SPLITS = ("train", "validation", "test")
# Utterances per intent and split: K + Q = 10 + 5 episodes fit in every split.
DEFAULT_PER_INTENT: Mapping[str, int] = {"train": 60, "validation": 20, "test": 20}
TYPO_RATE = 0.05
DROP_RATE = 0.03
SOURCE_FOLDER = "synthetic"

# Punctuation written against the previous word; the tokenizer splits it off.
_ATTACH = frozenset({",", ".", "?", "!", ":"})
# Draws allowed per wanted utterance before an intent is declared too small.
_DRAWS_PER_UTTERANCE = 50

Piece = tuple[str, "str | None"]  # (text, slot type or None)
Utterance = tuple[str, tuple[str, ...], tuple[str, ...]]  # (text, tokens, tags)


class TemplateSpaceError(RuntimeError):
  """An intent's templates cannot produce enough distinct utterances."""


class _Draws:
  """Uniform numbers from a seeded Generator, fetched in blocks for speed."""

  def __init__(self, rng: np.random.Generator, block: int = 4096):
    self._rng = rng
    self._block = block
    self._buffer = rng.random(block)
    self._next = 0

  def uniform(self) -> float:
    if self._next == self._block:
      self._buffer = self._rng.random(self._block)
      self._next = 0
    value = float(self._buffer[self._next])
    self._next += 1
    return value

  def index(self, n: int) -> int:
    """A uniform index in ``range(n)``."""
    return min(int(self.uniform() * n), n - 1)


def _stream(seed: int, kind: int, name: str) -> np.random.Generator:
  # crc32, not hash(): the same in every process regardless of PYTHONHASHSEED.
  return np.random.default_rng([seed, kind, zlib.crc32(name.encode("utf-8"))])


# ---- templates -------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def _parts(template: str) -> tuple[tuple[str, str], ...]:
  """``(kind, value)`` parts of a template, kind in word/group/slot."""
  parts = []
  for match in PART.finditer(template):
    group, slot, word = match.groups()
    if group:
      parts.append(("group", group))
    elif slot:
      parts.append(("slot", slot))
    else:
      parts.append(("word", word))
  return tuple(parts)


def _words(domain: Domain) -> Mapping[str, tuple[str, ...]]:
  """Word groups visible to a domain's templates: its own over the common ones."""
  return {**COMMON_WORDS, **domain.words}


def _intent(name: str) -> tuple[Domain, Intent]:
  for domain in DOMAINS:
    for intent in domain.intents:
      if intent.name == name:
        return domain, intent
  raise KeyError(f"unknown intent {name!r}")


def _walk(template: str, words: Mapping[str, tuple[str, ...]], where: str,
          stack: tuple[str, ...] = ()):
  """Yields ``(kind, value)`` of every part reachable from ``template``."""
  check_template(template, where=where)
  for kind, value in _parts(template):
    yield kind, value
    if kind == "group":
      if value not in words:
        raise ValueError(f"{where}: unknown word group {{{value}}} in {template!r}")
      if value in stack:
        raise ValueError(f"{where}: word group {{{value}}} refers to itself")
      for option in words[value]:
        yield from _walk(option, words, where, stack + (value,))
    elif kind == "slot" and value not in SLOT_VALUES:
      raise ValueError(f"{where}: unknown slot type <{value}> in {template!r}")


@functools.lru_cache(maxsize=None)
def check_templates() -> None:
  """Raises ValueError for a template naming an unknown group or slot type,
  a malformed part, a group that refers to itself, or a slot value that
  tokenises to nothing or is listed twice."""
  for domain in DOMAINS:
    words = _words(domain)
    for intent in domain.intents:
      for template in intent.templates:
        for _ in _walk(template, words, intent.name):
          pass
      for ending in ENDINGS:
        for _ in _walk(ending, words, "ENDINGS"):
          pass
  for slot_type, values in SLOT_VALUES.items():
    if len(set(values)) != len(values):
      raise ValueError(f"slot catalogue of <{slot_type}> lists a value twice")
    empty = [v for v in values if not tokenize(v)]
    if empty:
      raise ValueError(f"<{slot_type}> values with no tokens: {empty}")


def _expand(template: str, words: Mapping[str, tuple[str, ...]], draws: _Draws,
            out: list[Piece]) -> None:
  for kind, value in _parts(template):
    if kind == "word":
      out.append((value, None))
    elif kind == "slot":
      values = SLOT_VALUES[value]
      out.append((values[draws.index(len(values))], value))
    else:
      options = words[value]
      _expand(options[draws.index(len(options))], words, draws, out)


# ---- noise -----------------------------------------------------------------


def _typo(pieces: list[Piece], draws: _Draws) -> list[Piece]:
  candidates = [i for i, (text, slot) in enumerate(pieces)
                if slot is None and len(text) >= 4 and text.isascii() and text.isalpha()]
  if not candidates:
    return pieces
  i = candidates[draws.index(len(candidates))]
  word = pieces[i][0]
  kind = draws.index(3)
  at = 1 + draws.index(len(word) - 2)  # in 1..len-2: keep the first letter
  if kind == 0:
    typo = word[:at] + word[at + 1] + word[at] + word[at + 2:]
  elif kind == 1:
    typo = word[:at] + word[at + 1:]
  else:
    typo = word[:at] + word[at] + word[at:]
  if typo == word:  # swapped two equal letters: drop one instead
    typo = word[:at] + word[at + 1:]
  return pieces[:i] + [(typo, None)] + pieces[i + 1:]


def _drop_word(pieces: list[Piece], draws: _Draws) -> list[Piece]:
  candidates = [i for i, (text, slot) in enumerate(pieces)
                if slot is None and text not in _ATTACH
                and not (i + 1 < len(pieces) and pieces[i + 1][0] in _ATTACH)]
  if len(pieces) < 4 or len(candidates) < 2:
    return pieces
  i = candidates[draws.index(len(candidates))]
  return pieces[:i] + pieces[i + 1:]


def _add_noise(pieces: list[Piece], draws: _Draws, typo_rate: float,
               drop_rate: float) -> list[Piece]:
  roll = draws.uniform()  # always drawn, so the rates do not shift later draws
  if roll < typo_rate:
    return _typo(pieces, draws)
  if roll < typo_rate + drop_rate:
    return _drop_word(pieces, draws)
  return pieces


# ---- rendering -------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def _tokens(piece: str) -> tuple[str, ...]:
  return tuple(tokenize(piece))


def _render(pieces: list[Piece]) -> Utterance:
  """Text, tokens and BIO tags of a piece list (tags exact by construction)."""
  words: list[str] = []
  tokens: list[str] = []
  tags: list[str] = []
  for piece, slot in pieces:
    if words and piece in _ATTACH:
      words[-1] += piece
    else:
      words.append(piece)
    piece_tokens = _tokens(piece)
    tokens.extend(piece_tokens)
    if slot is None:
      tags.extend([OUTSIDE] * len(piece_tokens))
    else:
      tags.append(f"B-{slot}")
      tags.extend([f"I-{slot}"] * (len(piece_tokens) - 1))
  return " ".join(words), tuple(tokens), tuple(tags)


def _generate_intent(domain: Domain, intent: Intent, seed: int, total: int,
                     taken: set[tuple[str, ...]], typo_rate: float,
                     drop_rate: float) -> list[Utterance]:
  """``total`` utterances of one intent, none of whose tokens are in ``taken``."""
  draws = _Draws(_stream(seed, 0, intent.name))
  words = _words(domain)
  kept: list[Utterance] = []
  attempts = _DRAWS_PER_UTTERANCE * total + 100
  for _ in range(attempts):
    if len(kept) == total:
      break
    pieces: list[Piece] = []
    _expand(intent.templates[draws.index(len(intent.templates))], words, draws, pieces)
    _expand(ENDINGS[draws.index(len(ENDINGS))], words, draws, pieces)
    pieces = _add_noise(pieces, draws, typo_rate, drop_rate)
    text, tokens, tags = _render(pieces)
    if tokens in taken:
      continue
    if tuple(tokenize(text)) != tokens:
      raise RuntimeError(f"{intent.name}: pieces {pieces} tokenise differently when joined")
    taken.add(tokens)
    kept.append((text, tokens, tags))
  if len(kept) < total:
    raise TemplateSpaceError(
        f"{intent.name}: only {len(kept)} distinct utterances after {attempts} draws,"
        f" {total} wanted; add templates or word alternatives")
  return kept


def generate_corpus(seed: int = 0, per_intent: Mapping[str, int] | None = None, *,
                    typo_rate: float = TYPO_RATE,
                    drop_rate: float = DROP_RATE) -> dict[str, list[Example]]:
  """The embedded corpus: ``{split: [Example, ...]}``, deterministic in ``seed``.

  Args:
    seed: a non-negative integer; the same seed gives the same corpus.
    per_intent: utterances per intent for each split, in split order
      (default :data:`DEFAULT_PER_INTENT`, 60/20/20).
    typo_rate: fraction of utterances given one typo (see the module doc).
    drop_rate: fraction of utterances with one word dropped.

  Returns:
    One list per split, shuffled, every intent with exactly its quota. Sources
    read ``synthetic/seed=<seed>:<split>[<index>]``.

  Raises:
    TemplateSpaceError: an intent cannot produce enough distinct utterances.
  """
  if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
    raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
  seed = int(seed)
  per_intent = dict(DEFAULT_PER_INTENT if per_intent is None else per_intent)
  if not per_intent or any(not isinstance(n, int) or n < 0 for n in per_intent.values()):
    raise ValueError(f"per_intent must map split names to counts >= 0, got {per_intent!r}")
  if not (0 <= typo_rate and 0 <= drop_rate and typo_rate + drop_rate <= 1):
    raise ValueError(f"bad noise rates: typo {typo_rate}, drop {drop_rate}")
  check_templates()
  total = sum(per_intent.values())
  taken: set[tuple[str, ...]] = set()
  grouped: dict[str, list[tuple[Utterance, str, str]]] = {split: [] for split in per_intent}
  for domain in DOMAINS:
    for intent in domain.intents:
      utterances = _generate_intent(domain, intent, seed, total, taken, typo_rate, drop_rate)
      start = 0
      for split, n in per_intent.items():
        grouped[split].extend((u, intent.name, domain.name) for u in utterances[start:start + n])
        start += n
  corpus: dict[str, list[Example]] = {}
  for split, rows in grouped.items():
    order = _stream(seed, 1, split).permutation(len(rows))
    corpus[split] = [
        Example(text=text, tokens=tokens, intent=intent, slots=tags, domain=domain,
                source=f"{SOURCE_FOLDER}/seed={seed}:{split}[{index}]")
        for index, ((text, tokens, tags), intent, domain) in enumerate(rows[j] for j in order)
    ]
  return corpus


# ---- facts about the corpus (for tests, stats and docs) -----------------------


def intent_domains() -> dict[str, str]:
  """``{intent: domain}`` for every intent, in corpus order."""
  return {intent.name: domain.name for domain in DOMAINS for intent in domain.intents}


def intent_slot_types() -> dict[str, set[str]]:
  """The slot types each intent's templates can produce."""
  result = {}
  for domain in DOMAINS:
    words = _words(domain)
    for intent in domain.intents:
      result[intent.name] = {value for template in intent.templates
                             for kind, value in _walk(template, words, intent.name)
                             if kind == "slot"}
  return result


def vocabulary() -> set[str]:
  """Every token the corpus can contain without noise."""
  vocab: set[str] = set()
  for domain in DOMAINS:
    words = _words(domain)
    for template in (*(t for i in domain.intents for t in i.templates), *ENDINGS):
      for kind, value in _walk(template, words, domain.name):
        if kind == "word":
          vocab.update(_tokens(value))
  for values in SLOT_VALUES.values():
    for value in values:
      vocab.update(_tokens(value))
  return vocab


def template_space(intent_name: str) -> int:
  """An upper bound on the distinct clean utterances of one intent.

  Distinct alternatives of every group, times catalogue sizes, summed over the
  templates, times the distinct endings (two expansions can still coincide,
  hence a bound).
  """
  domain, intent = _intent(intent_name)
  words = _words(domain)

  def count(template: str) -> int:
    n = 1
    for kind, value in _parts(template):
      if kind == "slot":
        n *= len(SLOT_VALUES[value])
      elif kind == "group":
        n *= sum(count(option) for option in dict.fromkeys(words[value]))
    return n

  endings = sum(count(e) for e in dict.fromkeys(ENDINGS))
  return sum(count(t) for t in intent.templates) * endings


def corpus_fingerprint(corpus: Mapping[str, list[Example]]) -> str:
  """sha256 of a corpus's records, split by split, in order."""
  digest = hashlib.sha256()
  for split, examples in corpus.items():
    digest.update(split.encode("utf-8") + b"\n")
    for example in examples:
      line = json.dumps(example.to_record(), sort_keys=True, ensure_ascii=False)
      digest.update(line.encode("utf-8") + b"\n")
  return digest.hexdigest()

