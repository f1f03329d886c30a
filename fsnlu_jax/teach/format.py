"""LINGUIST's prompt and its annotated output: render, parse, check.

A prompt has five parts (Rosenbaum et al. 2022, Fig. 2): the output language;
the intent; the slots to include, each with a fixed value or the wildcard
``*`` (the teacher chooses the value); a map from slot labels to numbers; up to
10 example utterances. Examples and outputs mark a slot inline with brackets
and the slot's number::

    what's the weather in [1 boston ] [2 this weekend ]

which parses back to words and BIO tags through the map (``1 -> city``). The
numbers, not the label names, are what the teacher copies, so training prompts
shuffle the numbering (:mod:`fsnlu_jax.teach.instructions`): the model must read
the map rather than memorise a label's number.

A label has one number; a prompt may request a label more than once (an
utterance with two ``currency`` spans asks for two spans numbered alike), and
then the output holds that many spans of the number, fixed values in request
order. A prompt with ``slots=None`` asks for *any* annotated utterance of the
intent (example extrapolation: no slot control); its output may use each number
of the map at most once.

Everything here is host-side text; :mod:`fsnlu_jax.teach.grammar` turns a prompt
into the token-level constraint that makes a malformed output impossible.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from typing import Mapping, Sequence

from fsnlu_jax.data.schema import OUTSIDE, Example

WILDCARD = "*"
MAX_EXAMPLES = 10
SEPARATOR = "|"  # between example utterances in a prompt
_OPEN, _CLOSE = "[", "]"


class FormatError(ValueError):
  """An output (or an example to render) that breaks the annotation format."""


class UnbalancedBracketError(FormatError):
  """A ``]`` without its ``[``, or a ``[`` never closed."""


class NestedBracketError(FormatError):
  """A ``[`` inside an open span."""


class UnknownSlotNumberError(FormatError):
  """A span whose number is missing, not a number, or not in the prompt's map."""


class EmptySpanError(FormatError):
  """A span with a number but no words."""


class DuplicateSlotError(FormatError):
  """A slot number used more often than the prompt allows (once, without slot control)."""


class FixedValueError(FormatError):
  """A requested slot with a fixed value whose span does not copy it word for word."""


class MissingSlotError(FormatError):
  """A requested slot absent from the output."""


class UnrequestedSlotError(FormatError):
  """A slot the prompt did not ask for, under slot control."""


@dataclasses.dataclass(frozen=True)
class SlotRequest:
  """One slot the output must contain.

  Attributes:
    label: the slot type (e.g. ``timeRange``).
    value: the words the span must copy, or None for the wildcard ``*``.
  """

  label: str
  value: tuple[str, ...] | None = None


@dataclasses.dataclass(frozen=True)
class Prompt:
  """A LINGUIST instruction.

  Attributes:
    intent: the intent to write an utterance for.
    numbers: slot label -> number (1-based, distinct), covering every label in
      ``slots`` and ``examples``.
    slots: the slots to include, in prompt order (a label may repeat: that many
      spans of it); None: any (no slot control).
    examples: annotated example utterances of the intent (at most
      :data:`MAX_EXAMPLES`; may be empty: generation from the label names alone).
    language: the output language's code.
  """

  intent: str
  numbers: Mapping[str, int]
  slots: tuple[SlotRequest, ...] | None = ()
  examples: tuple[Example, ...] = ()
  language: str = "en"

  def __post_init__(self):
    object.__setattr__(self, "numbers", dict(self.numbers))
    if len(set(self.numbers.values())) != len(self.numbers):
      raise ValueError(f"slot numbers must be distinct: {self.numbers}")
    if any(n < 1 for n in self.numbers.values()):
      raise ValueError(f"slot numbers start at 1: {self.numbers}")
    if len(self.examples) > MAX_EXAMPLES:
      raise ValueError(f"at most {MAX_EXAMPLES} examples, got {len(self.examples)}")
    labels = [s.label for s in self.slots or ()]
    missing = (set(labels) | {t for e in self.examples for t in e.slot_types}) - set(self.numbers)
    if missing:
      raise ValueError(f"labels without a number: {sorted(missing)}")

  @property
  def labels(self) -> dict[int, str]:
    """Number -> slot label."""
    return {n: label for label, n in self.numbers.items()}


def humanize(name: str) -> str:
  """A label or intent name as words: ``timeRange`` / ``time_range`` -> ``time range``.

  Words let a pretrained teacher use what it knows of the name, which is all it
  has when a prompt has no examples.

  >>> humanize("SearchScreeningEvent"), humanize("object_location_type"), humanize("iot_hue_lightoff")
  ('search screening event', 'object location type', 'iot hue lightoff')
  """
  spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name)
  return " ".join(spaced.replace("_", " ").replace("-", " ").lower().split())


def render_utterance(tokens: Sequence[str], slots: Sequence[str], numbers: Mapping[str, int]
                     ) -> str:
  """Words with inline spans: ``("in", "boston"), ("O", "B-city"), {"city": 1} -> "in [1 boston ]"``.

  Raises:
    FormatError: a word containing a bracket or a space (it could not be parsed
      back), an ``I-`` tag that continues nothing, or a label without a number.
  """
  out, open_label = [], None
  for word, tag in zip(tokens, slots, strict=True):
    if not word or _OPEN in word or _CLOSE in word or any(c.isspace() for c in word):
      raise FormatError(f"word {word!r} cannot be rendered (brackets or spaces)")
    if tag == OUTSIDE or tag.startswith("B-"):
      if open_label is not None:
        out.append(_CLOSE)
        open_label = None
      if tag.startswith("B-"):
        label = tag[2:]
        if label not in numbers:
          raise FormatError(f"slot label {label!r} has no number")
        out.append(f"{_OPEN}{numbers[label]}")
        open_label = label
    elif tag.startswith("I-"):
      if open_label != tag[2:]:
        raise FormatError(f"tag {tag} continues no {tag[2:]!r} span")
    else:
      raise FormatError(f"not a BIO tag: {tag!r}")
    out.append(word)
  if open_label is not None:
    out.append(_CLOSE)
  return " ".join(out)


def render_example(example: Example, numbers: Mapping[str, int]) -> str:
  """:func:`render_utterance` of an :class:`Example`."""
  return render_utterance(example.tokens, example.slots, numbers)


def render_prompt(prompt: Prompt) -> str:
  """The prompt as the teacher reads it (one line of words and markers).

  >>> ex = Example("rain in paris", ("rain", "in", "paris"), "GetWeather", ("O", "O", "B-city"),
  ...              "weather", "x")
  >>> render_prompt(Prompt("GetWeather", {"city": 1, "timeRange": 2},
  ...                      (SlotRequest("city"), SlotRequest("timeRange", ("today",))), (ex,)))
  '<language> en <intent> get weather <include> [1=*] [2=today] <labels> [1=city] [2=time range] <examples> rain in [1 paris ]'
  """
  if prompt.slots is None:
    include = WILDCARD
  elif not prompt.slots:
    include = "none"
  else:
    include = " ".join(
        f"{_OPEN}{prompt.numbers[s.label]}="
        f"{WILDCARD if s.value is None else ' '.join(s.value)}{_CLOSE}" for s in prompt.slots)
  labels = " ".join(f"{_OPEN}{n}={humanize(label)}{_CLOSE}"
                    for n, label in sorted(prompt.labels.items())) or "none"
  examples = f" {SEPARATOR} ".join(render_example(e, prompt.numbers) for e in prompt.examples)
  return (f"<language> {prompt.language} <intent> {humanize(prompt.intent)} <include> {include} "
          f"<labels> {labels} <examples> {examples}").rstrip()


@dataclasses.dataclass(frozen=True)
class Annotated:
  """A parsed output: words, one BIO tag per word, and the spans by number.

  Attributes:
    tokens: the words, brackets and numbers removed.
    slots: BIO tags with the labels the prompt's map gives the numbers.
    spans: number -> its spans in order, each (first word, end word) (end exclusive).
  """

  tokens: tuple[str, ...]
  slots: tuple[str, ...]
  spans: Mapping[int, tuple[tuple[int, int], ...]]

  def to_example(self, intent: str, *, domain: str = "", source: str = "generated") -> Example:
    """The output as an :class:`Example` of ``intent``."""
    return Example(text=" ".join(self.tokens), tokens=self.tokens, intent=intent,
                   slots=self.slots, domain=domain or intent, source=source)


def _split(text: str) -> list[str]:
  """Whitespace words, with ``[`` split off (``[1`` and ``[ 1`` read the same)."""
  out = []
  for word in text.split():
    if word.startswith(_OPEN) and len(word) > 1:
      out += [_OPEN, word[1:]]
    else:
      out.append(word)
  return out


def normalize_words(words: Sequence[str]) -> tuple[str, ...]:
  """Words compared the way the uncased word-piece teacher sees them: lower case,
  accents stripped (``clásicos`` -> ``clasicos``)."""
  strip = lambda w: "".join(c for c in unicodedata.normalize("NFD", w)
                            if unicodedata.category(c) != "Mn")
  return tuple(strip(w.lower()) for w in words)


def parse_output(text: str, labels: Mapping[int, str], *, prompt: Prompt | None = None,
                 strict: bool = True) -> Annotated:
  """Words and BIO tags of an annotated utterance.

  Args:
    text: ``what's the weather in [1 boston ] [2 this weekend ]``.
    labels: number -> slot label (:attr:`Prompt.labels`).
    prompt: when given, its slot control is checked too: each requested slot
      present as often as requested, fixed values copied in request order
      (compared after :func:`normalize_words`, spaces aside), and (under slot
      control) no other slot; without slot control, each number at most once.
    strict: False skips the prompt's checks (the format itself is always checked).

  Raises:
    UnbalancedBracketError, NestedBracketError, UnknownSlotNumberError,
    EmptySpanError: a malformed output.
    MissingSlotError, FixedValueError, UnrequestedSlotError, DuplicateSlotError:
    an output that ignores the prompt (strict, with a prompt).
  """
  words = _split(text)
  tokens, tags, spans = [], [], {}
  i, open_at, number = 0, None, None
  while i < len(words):
    word = words[i]
    if word == _OPEN:
      if open_at is not None:
        raise NestedBracketError(f"'[' inside the open span of {number} in {text!r}")
      if i + 1 >= len(words) or not words[i + 1].isdigit():
        raise UnknownSlotNumberError(f"'[' not followed by a slot number in {text!r}")
      number = int(words[i + 1])
      if number not in labels:
        raise UnknownSlotNumberError(f"slot number {number} not in the map {dict(labels)} "
                                     f"in {text!r}")
      open_at, i = len(tokens), i + 2
      continue
    if word == _CLOSE:
      if open_at is None:
        raise UnbalancedBracketError(f"']' without '[' in {text!r}")
      if open_at == len(tokens):
        raise EmptySpanError(f"slot {number} has no words in {text!r}")
      spans[number] = spans.get(number, ()) + ((open_at, len(tokens)),)
      open_at, i = None, i + 1
      continue
    if _OPEN in word or _CLOSE in word:
      raise UnbalancedBracketError(f"bracket inside the word {word!r} in {text!r}")
    label = None if open_at is None else labels[number]
    tags.append(OUTSIDE if label is None else ("B-" if open_at == len(tokens) else "I-") + label)
    tokens.append(word)
    i += 1
  if open_at is not None:
    raise UnbalancedBracketError(f"the span of slot {number} is never closed in {text!r}")
  out = Annotated(tuple(tokens), tuple(tags), spans)
  if prompt is not None and strict:
    check_against_prompt(out, prompt, text)
  return out


def check_against_prompt(out: Annotated, prompt: Prompt, text: str = "") -> None:
  """Raises unless ``out`` honours ``prompt``'s slot control (see :func:`parse_output`)."""
  if prompt.slots is None:
    twice = sorted(n for n, spans in out.spans.items() if len(spans) > 1)
    if twice:
      raise DuplicateSlotError(f"slots {twice} used more than once in {text!r}")
    return
  requested: dict[int, list[SlotRequest]] = {}
  for s in prompt.slots:
    requested.setdefault(prompt.numbers[s.label], []).append(s)
  for number, requests in requested.items():
    spans = out.spans.get(number, ())
    if len(spans) < len(requests):
      raise MissingSlotError(f"requested slot {number} ({requests[0].label}) {len(requests)} "
                             f"time(s), written {len(spans)} in {text!r}")
    if len(spans) > len(requests):
      raise DuplicateSlotError(f"slot {number} requested {len(requests)} time(s), written "
                               f"{len(spans)} in {text!r}")
    for request, (start, end) in zip(requests, spans):
      # Spaces aside: word pieces may split a dataset word ("joe's" -> joe ' s).
      if request.value is not None and ("".join(normalize_words(out.tokens[start:end]))
                                        != "".join(normalize_words(request.value))):
        raise FixedValueError(f"slot {number} must be {' '.join(request.value)!r}, got "
                              f"{' '.join(out.tokens[start:end])!r} in {text!r}")
  extra = sorted(set(out.spans) - set(requested))
  if extra:
    raise UnrequestedSlotError(f"slots {extra} were not requested in {text!r}")
