"""``fsnlu predict``: utterances in, one JSON line out per input line, in order.

An input line is an utterance as plain text, or (starting with ``{``) a JSON
object with ``"text"`` (and, for a rewriting model, ``"previous"`` and
``"user"``). Every line gets exactly one output line: the answer, or
``{"line": N, "error": {...}}`` (a blank line, malformed JSON, a wrong type,
an unknown user), so nothing is dropped silently and outputs line up with
inputs. Lines are predicted in chunks (one line at a time from a terminal).
"""

from __future__ import annotations

import json
from typing import IO, Any, Iterator

from fsnlu_jax.serve.errors import InputError


def _request(predictor, line: str | bytes, number: int) -> Any:
  """The parsed request of one input line; raises :class:`InputError`."""
  where = f"line {number}"
  if isinstance(line, bytes):
    try:
      line = line.decode("utf-8")
    except UnicodeDecodeError as e:
      raise InputError("not_utf8", f"{where}: not UTF-8 (byte {e.start}: {e.reason})",
                       status=400) from None
  text = line.rstrip("\r\n")
  if not text.strip():
    raise InputError("empty_text", f"{where}: blank line")
  if text.lstrip().startswith("{"):
    try:
      item = json.loads(text)
    except json.JSONDecodeError as e:
      raise InputError("malformed_json", f"{where}: not JSON: {e.msg} at column {e.colno}",
                       status=400) from None
    if not isinstance(item, dict) or "text" not in item:
      raise InputError("missing_field", f"{where}: a JSON line must be an object with \"text\"")
    return predictor.parse(item, where)
  return predictor.parse(text, where)


def _chunks(lines: IO, size: int) -> Iterator[list[tuple[int, str | bytes]]]:
  chunk = []
  for number, line in enumerate(lines, 1):
    chunk.append((number, line))
    if len(chunk) >= size:
      yield chunk
      chunk = []
  if chunk:
    yield chunk


def predict_lines(predictor, lines: IO, out: IO[str], *, chunk_size: int = 64
                  ) -> dict[str, int]:
  """Answers every line of ``lines`` on ``out`` (module docs); returns ``{lines, answered, errors}``.

  ``lines``: text, or bytes decoded line by line (a line that is not UTF-8
  gets an error record naming it; the others are answered).
  """
  counts = dict(lines=0, answered=0, errors=0)
  for chunk in _chunks(lines, chunk_size):
    parsed, failed = {}, {}  # by line number: a request, or the error record
    for number, line in chunk:
      try:
        parsed[number] = _request(predictor, line, number)
      except InputError as error:
        failed[number] = dict(line=number, error=error.as_dict())
    answers = dict(zip(parsed, predictor.predict(list(parsed.values()))))
    for number, _ in chunk:
      record = answers[number] if number in answers else failed[number]
      out.write(json.dumps(record, ensure_ascii=False, allow_nan=False) + "\n")
    out.flush()
    counts["lines"] += len(chunk)
    counts["answered"] += len(parsed)
    counts["errors"] += len(failed)
  return counts
