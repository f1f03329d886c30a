"""Files of the annotation loop: annotated rows in and out, pre-annotated batches, Label Studio tasks.

An annotated row (JSON lines, for the seed set and for annotated batches)::

  {"id": "u17", "text": "wake me at 7 am", "intent": "alarm_set",
   "slots": [{"type": "time", "start": 3, "end": 5}]}

``start``/``end`` are token indices (``end`` exclusive) over
:func:`fsnlu_jax.data.tokenize`; ``slots`` may be omitted (no slot); an
utterance of another domain is annotated with intent ``<other>``. A pool row is
``{"id": ..., "text": ...}``.

Reading never drops a row silently: every problem of every row is collected as
``file:line: reason`` and reported together (:class:`AnnotationError`), and
nothing of the file is taken.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
from typing import Any, Iterable, Sequence

from fsnlu_jax.active.tagger import OTHER
from fsnlu_jax.data import Example, tokenize, tokenize_with_offsets
from fsnlu_jax.data.bio import bio_to_spans


class AnnotationError(ValueError):
  """Rows that cannot be read; ``problems`` lists each as ``file:line: reason``."""

  def __init__(self, problems: Sequence[str]):
    self.problems = list(problems)
    super().__init__(f"{len(self.problems)} bad row(s):\n" + "\n".join(self.problems))


@dataclasses.dataclass(frozen=True)
class Row:
  """One utterance of the loop, with its label once annotated."""

  id: str
  text: str
  tokens: tuple[str, ...]
  intent: str | None = None
  slots: tuple[str, ...] | None = None  # BIO per token

  def example(self, target_intents: Iterable[str]) -> Example:
    """As the target model trains on it (another domain's: :data:`OTHER`, all ``O``)."""
    if self.intent is None:
      raise ValueError(f"row {self.id} is not annotated")
    if self.intent not in set(target_intents):
      return Example(self.text, self.tokens, OTHER, ("O",) * len(self.tokens), OTHER,
                     f"active:{self.id}")
    return Example(self.text, self.tokens, self.intent, self.slots, "target", f"active:{self.id}")


def _spans_to_bio(spans: Any, n: int) -> tuple[str, ...]:
  if not isinstance(spans, list):
    raise ValueError("'slots' must be a list of {type, start, end}")
  tags = ["O"] * n
  for span in spans:
    if not isinstance(span, dict) or set(span) != {"type", "start", "end"}:
      raise ValueError(f"a slot must be {{type, start, end}}, got {span!r}")
    kind, start, end = span["type"], span["start"], span["end"]
    if not (isinstance(kind, str) and kind and " " not in kind):
      raise ValueError(f"slot type must be a non-empty word, got {kind!r}")
    if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= n):
      raise ValueError(f"slot span [{start}, {end}) is not inside the {n} tokens")
    if any(t != "O" for t in tags[start:end]):
      raise ValueError(f"slot span [{start}, {end}) overlaps another")
    tags[start:end] = [f"B-{kind}"] + [f"I-{kind}"] * (end - start - 1)
  return tuple(tags)


def _row(record: Any, annotated: bool) -> Row:
  if not isinstance(record, dict):
    raise ValueError("not a JSON object")
  for key in ("id", "text") + (("intent",) if annotated else ()):
    if not isinstance(record.get(key), str) or not record[key].strip():
      raise ValueError(f"missing or empty {key!r}")
  tokens = tuple(tokenize(record["text"]))
  if not tokens:
    raise ValueError("the text has no token")
  if not annotated:
    return Row(record["id"], record["text"], tokens)
  return Row(record["id"], record["text"], tokens, record["intent"],
             _spans_to_bio(record.get("slots", []), len(tokens)))


def read_rows(path: str | pathlib.Path, *, annotated: bool) -> list[Row]:
  """All rows of a JSON-lines file, or :class:`AnnotationError` naming every bad line.

  Blank lines are skipped (they hold no row); a repeated id is an error.
  """
  rows, problems, seen = [], [], {}
  path = pathlib.Path(path)
  for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
    if not line.strip():
      continue
    try:
      row = _row(json.loads(line), annotated)
    except (ValueError, json.JSONDecodeError) as error:
      problems.append(f"{path}:{number}: {error}")
      continue
    if row.id in seen:
      problems.append(f"{path}:{number}: id {row.id!r} repeats line {seen[row.id]}")
      continue
    seen[row.id] = number
    rows.append(row)
  if problems:
    raise AnnotationError(problems)
  return rows


def annotated_record(row: Row) -> dict[str, Any]:
  """The JSON-lines record of an annotated row (inverse of :func:`read_rows`)."""
  spans = bio_to_spans(row.slots or ())
  return {"id": row.id, "text": row.text, "intent": row.intent,
          "slots": [{"type": t, "start": a, "end": b} for t, a, b in spans]}


def pre_annotation(row: Row, intent: str, tags: Sequence[str], scores: dict[str, float],
                   votes: dict[str, float]) -> dict[str, Any]:
  """A selected row with the model's guess, its scores and the committee's votes.

  It is also an annotated row (:func:`read_rows`): an annotator corrects
  ``intent`` and ``slots`` and the file imports as it is.
  """
  spans = bio_to_spans(tags)
  return {"id": row.id, "text": row.text, "tokens": list(row.tokens), "intent": intent,
          "slots": [{"type": t, "start": a, "end": b} for t, a, b in spans],
          "scores": scores, "committee": votes}


def label_studio_task(row: Row, intent: str, tags: Sequence[str], score: float,
                      model_version: str) -> dict[str, Any]:
  """A Label Studio task with the model's guess under ``predictions``.

  For a labelling config with ``<Text name="text" value="$text"/>``,
  ``<Choices name="intent" toName="text">`` and ``<Labels name="slots"
  toName="text">``; slot spans are character offsets into ``text``.
  """
  offsets = tokenize_with_offsets(row.text)
  result = [{"from_name": "intent", "to_name": "text", "type": "choices",
             "value": {"choices": [intent]}}]
  for kind, a, b in bio_to_spans(tags):
    start, end = offsets[a].start, offsets[b - 1].end
    result.append({"from_name": "slots", "to_name": "text", "type": "labels",
                   "value": {"start": start, "end": end, "text": row.text[start:end],
                             "labels": [kind]}})
  return {"data": {"text": row.text, "id": row.id},
          "predictions": [{"model_version": model_version, "score": score, "result": result}]}
