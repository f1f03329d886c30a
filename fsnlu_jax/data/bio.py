"""BIO slot tags: from character or token spans, back to spans, and validation.

Span semantics follow conlleval/seqeval: a span is ``(type, first_token,
last_token_exclusive)``; an ``I-x`` tag that does not continue an ``x`` span
starts a new one (the conlleval rule), so :func:`bio_to_spans` never drops a
tagged token.
"""

from __future__ import annotations

from typing import Iterable, Sequence

from fsnlu_jax.data.schema import OUTSIDE
from fsnlu_jax.data.tokenize import Token

Span = tuple[str, int, int]  # (slot type, first token, one past last token)


class SpanAlignmentError(ValueError):
  """A character span does not line up with the text or its tokens."""


def char_spans_to_bio(
    tokens: Sequence[Token], spans: Iterable[tuple[int, int, str]]
) -> tuple[list[str], int]:
  """BIO tags for ``tokens`` from character spans ``(start, end, type)``.

  A token is inside a span when their characters overlap. When a span boundary
  falls inside a token (e.g. the entity "5" in the token "5am") the whole token
  is tagged and the event is counted, because dropping the entity would lose a
  label and splitting the token would change the tokenisation.

  Returns:
    ``(tags, n_partial)``: one tag per token, and how many spans had a boundary
    inside a token.

  Raises:
    SpanAlignmentError: a span covers no token, or two spans share a token.
  """
  tags = [OUTSIDE] * len(tokens)
  partial = 0
  for start, end, slot_type in sorted(spans):
    inside = [i for i, t in enumerate(tokens) if t.start < end and t.end > start]
    if not inside:
      raise SpanAlignmentError(
          f"span [{start}, {end}) of type {slot_type!r} covers no token")
    if any(tags[i] != OUTSIDE for i in inside):
      raise SpanAlignmentError(
          f"span [{start}, {end}) of type {slot_type!r} overlaps another span")
    if tokens[inside[0]].start != start or tokens[inside[-1]].end != end:
      partial += 1
    tags[inside[0]] = f"B-{slot_type}"
    for i in inside[1:]:
      tags[i] = f"I-{slot_type}"
  return tags, partial


def drop_overlapping_spans(
    tokens: Sequence[Token], spans: Sequence[tuple[int, int, str]]
) -> tuple[list[tuple[int, int, str]], list[tuple[int, int, str]]]:
  """Splits character spans into those BIO tags can hold together and the rest.

  BIO gives a token one tag, so two spans that share a token (nested, crossing
  or identical ranges, e.g. "in an hour" labelled both ``date`` and ``time``)
  cannot both be written. The longest span (in characters) is kept first, ties
  in the given order; a span sharing a token with a kept one is set aside.

  Returns:
    ``(kept, dropped)``, each in the given order; ``kept`` can go to
    :func:`char_spans_to_bio` without an overlap error.
  """
  covered = [{i for i, t in enumerate(tokens) if t.start < end and t.end > start}
             for start, end, _ in spans]
  taken: set[int] = set()
  keep = set()
  for k in sorted(range(len(spans)), key=lambda k: (spans[k][0] - spans[k][1], k)):
    if not covered[k] & taken:
      keep.add(k)
      taken |= covered[k]
  return ([s for k, s in enumerate(spans) if k in keep],
          [s for k, s in enumerate(spans) if k not in keep])


def token_spans_to_bio(n_tokens: int, spans: Iterable[Span]) -> list[str]:
  """BIO tags from token spans ``(type, first, one past last)``.

  Raises:
    SpanAlignmentError: a span is empty, out of range, or overlaps another.
  """
  tags = [OUTSIDE] * n_tokens
  for slot_type, first, stop in sorted(spans, key=lambda s: s[1]):
    if not 0 <= first < stop <= n_tokens:
      raise SpanAlignmentError(
          f"token span [{first}, {stop}) of type {slot_type!r} is outside"
          f" 0..{n_tokens}")
    if any(tags[i] != OUTSIDE for i in range(first, stop)):
      raise SpanAlignmentError(
          f"token span [{first}, {stop}) of type {slot_type!r} overlaps another")
    tags[first] = f"B-{slot_type}"
    for i in range(first + 1, stop):
      tags[i] = f"I-{slot_type}"
  return tags


def bio_to_spans(tags: Sequence[str]) -> list[Span]:
  """Spans ``(type, first, one past last)`` of a BIO sequence (conlleval rules).

  >>> bio_to_spans(["O", "B-city", "I-city", "I-date", "O"])
  [('city', 1, 3), ('date', 3, 4)]
  """
  spans: list[Span] = []
  current: list = []  # [type, first] of the open span, or empty
  for i, tag in enumerate(tags):
    prefix, slot_type = (tag[:1], tag[2:]) if tag != OUTSIDE else ("O", "")
    continues = prefix == "I" and current and current[0] == slot_type
    if current and not continues:
      spans.append((current[0], current[1], i))
      current = []
    if prefix in ("B", "I") and not continues:
      current = [slot_type, i]
  if current:
    spans.append((current[0], current[1], len(tags)))
  return spans


def invalid_bio_tags(tags: Sequence[str]) -> list[int]:
  """Positions of malformed tags: not ``O``/``B-x``/``I-x``, or an ``I-x`` that
  does not continue an ``x`` span (which conlleval repairs, but which usually
  means a labelling slip worth counting)."""
  bad = []
  previous_type = None
  for i, tag in enumerate(tags):
    if tag == OUTSIDE:
      previous_type = None
      continue
    if len(tag) < 3 or tag[1] != "-" or tag[0] not in "BI":
      bad.append(i)
      previous_type = None
      continue
    if tag[0] == "I" and previous_type != tag[2:]:
      bad.append(i)
    previous_type = tag[2:]
  return bad
