"""Reading raw files so that every problem names its line: text lines, CSV, JSON.

These functions never raise on bad content: they return what they could read
together with :class:`Problem` records, in file order, and the builder applies
its ``on_error`` policy to each (raise naming file and line, or skip and
count). Bytes that are not UTF-8 are one such problem, located by line and
column, and in line-based files they cost only the row they are in.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import pathlib
import re
from typing import Any, Callable, Mapping, Sequence

# What surrogateescape turns an undecodable byte into: U+DC80..U+DCFF.
_ESCAPED = re.compile("[\udc80-\udcff]")


@dataclasses.dataclass(frozen=True)
class Problem:
  """Something wrong at one place of a raw file.

  Attributes:
    line: 1-based line (or ``"a-b"`` for a range of lines).
    reason: the stable name counted as ``malformed/<reason>``.
    detail: what is wrong, for the error message.
    rows: rows lost to it; None when the whole file is lost.
    file: for :func:`align`, the name (key) of the file it is in.
  """

  line: int | str
  reason: str
  detail: str = ""
  rows: int | None = 1
  file: str | None = None


@dataclasses.dataclass(frozen=True)
class Row:
  """One CSV record: the line it starts on and its fields."""

  line: int
  fields: list[str]


def split_lines(raw: bytes) -> list[bytes]:
  """Lines split on ``\\n`` only (not on form feeds or Unicode separators)."""
  chunks = raw.split(b"\n")
  if chunks and chunks[-1] == b"":  # the final newline ends a line, it does not start one
    chunks.pop()
  return chunks


def _bad_byte(raw: bytes, error: UnicodeDecodeError, first_line: int = 1) -> str:
  line = first_line + raw.count(b"\n", 0, error.start)
  column = error.start - (raw.rfind(b"\n", 0, error.start) + 1) + 1
  return (f"byte 0x{raw[error.start]:02x} at line {line}, column {column} is not UTF-8"
          f" ({error.reason})")


def read_lines(path: pathlib.Path) -> tuple[list[str | None], list[Problem]]:
  """The lines of a text file without newlines; None for an undecodable line.

  Decoded line by line, so one bad line neither hides nor shifts the others.
  """
  lines: list[str | None] = []
  problems = []
  for index, chunk in enumerate(split_lines(path.read_bytes())):
    try:
      lines.append(chunk.decode("utf-8"))
    except UnicodeDecodeError as error:
      problems.append(Problem(index + 1, "bad_encoding", _bad_byte(chunk, error, index + 1)))
      lines.append(None)
  return lines, problems


def read_json(path: pathlib.Path, *, errors: str = "strict") -> tuple[Any, Problem | None]:
  """A whole JSON document, or ``(None, problem)`` when it cannot be read.

  Args:
    path: the file.
    errors: the UTF-8 decoding error handler (SNIPS passes ``surrogatepass``
      to read CESU-8 surrogate pairs and repair them record by record).

  Every problem here loses the whole file (``rows=None``): an empty file, a
  byte that is not UTF-8, or JSON that does not parse, each located by line.
  """
  text, problem = _json_text(path, errors)
  if problem is not None:
    return None, problem
  try:
    return json.loads(text), None
  except json.JSONDecodeError as error:
    return None, _bad_json(error)


def read_json_list(path: pathlib.Path) -> tuple[list[tuple[int, Any]] | None, Problem | None]:
  """The items of a JSON document that is one list, each with the line it starts on.

  Returns ``([(line, item), ...], None)``, or ``(None, problem)`` when the file
  cannot be read (as :func:`read_json`) or is not a list (``bad_record``);
  every problem loses the whole file (``rows=None``): a record cannot be
  told from the next once the JSON around it is broken. For ``[\n {"a": 1},\n
  {"a": 2}\n]`` the items are ``[(2, {"a": 1}), (3, {"a": 2})]``.
  """
  text, problem = _json_text(path, "strict")
  if problem is not None:
    return None, problem
  decoder = json.JSONDecoder()
  at = _skip_space(text, 0)
  if not text.startswith("[", at):
    try:  # a document that parses but is not a list, or one that does not parse
      kind = type(json.loads(text)).__name__
    except json.JSONDecodeError as error:
      return None, _bad_json(error)
    return None, Problem(1, "bad_record", f"the document is a JSON {kind}, not a list",
                         rows=None)
  items: list[tuple[int, Any]] = []
  line, counted = 1, 0  # the line of offset `counted`
  at = _skip_space(text, at + 1)
  try:
    if text.startswith("]", at):
      at += 1
    else:
      while True:
        line += text.count("\n", counted, at)
        counted = at
        item, at = decoder.raw_decode(text, at)
        items.append((line, item))
        at = _skip_space(text, at)
        if text.startswith(",", at):
          at = _skip_space(text, at + 1)
        elif text.startswith("]", at):
          at += 1
          break
        else:
          raise json.JSONDecodeError("Expecting ',' delimiter", text, at)
    rest = _skip_space(text, at)
    if rest != len(text):
      raise json.JSONDecodeError("Extra data", text, rest)
  except json.JSONDecodeError as error:
    return None, _bad_json(error)
  return items, None


def _skip_space(text: str, at: int) -> int:
  """The offset of the first non-whitespace character from ``at`` (JSON's whitespace)."""
  while at < len(text) and text[at] in " \t\n\r":
    at += 1
  return at


def _json_text(path: pathlib.Path, errors: str) -> tuple[str | None, Problem | None]:
  """A JSON file's text, or the problem (empty file, bytes not UTF-8) that loses it."""
  raw = path.read_bytes()
  if not raw.strip():
    return None, Problem(1, "empty_file", f"{len(raw)} bytes, no JSON document", rows=None)
  try:
    return raw.decode("utf-8"), None
  except UnicodeDecodeError as strict_error:
    try:
      return raw.decode("utf-8", errors), None
    except UnicodeDecodeError:
      line = raw.count(b"\n", 0, strict_error.start) + 1
      return None, Problem(line, "bad_encoding", _bad_byte(raw, strict_error), rows=None)


def _bad_json(error: json.JSONDecodeError) -> Problem:
  return Problem(error.lineno, "bad_json", f"{error.msg} (column {error.colno})", rows=None)


def read_csv(path: pathlib.Path, ends_a_row: Callable[[str], bool]) -> list[Row | Problem]:
  """The records of a CSV file (header included) and its problems, in file order.

  A quoted field may hold newlines, so one record can span lines. A quote that
  is never closed would swallow every following line up to the next quote;
  that is told apart from a real multi-line field by an inner line that
  ``ends_a_row`` (e.g. ends in ``,<known label>``). The opening line is
  reported as ``unterminated_quote`` (one row) and reading restarts on the
  next line, so the rows after it are read, not lost. A record holding
  bytes that are not UTF-8 is ``bad_encoding``.
  """
  text = path.read_bytes().decode("utf-8", "surrogateescape")
  lines = [line + "\n" for line in text.split("\n")]
  if text.endswith("\n") or not text:
    lines.pop()
  else:
    lines[-1] = lines[-1][:-1]
  items: list[Row | Problem] = []
  start = 0  # 0-based index of the line the reader (re)starts on
  while start is not None:
    start = _read_csv_from(lines, start, ends_a_row, items)
  return items


def _read_csv_from(lines: Sequence[str], start: int, ends_a_row: Callable[[str], bool],
                   items: list[Row | Problem]) -> int | None:
  """Reads records from line ``start`` on; returns where to restart, or None at the end."""
  reader = csv.reader(iter(lines[start:]))
  consumed = 0
  while True:
    try:
      fields = next(reader)
    except StopIteration:
      return None
    except csv.Error as error:  # e.g. a stray carriage return inside a field
      items.append(Problem(start + consumed + 1, "bad_record", f"CSV: {error}"))
      return start + max(reader.line_num, consumed + 1)
    first, last = start + consumed + 1, start + reader.line_num  # 1-based, inclusive
    consumed = reader.line_num
    inner = [i + 1 for i in range(first - 1, last - 1) if ends_a_row(lines[i])]
    if inner:
      # Only the opening line is dropped: the lines after it are read again as rows.
      items.append(Problem(first, "unterminated_quote",
                           f"a quote opened on line {first} runs on to line {last}, but line"
                           f" {inner[0]} already ends a row; line {first} dropped, the lines"
                           " after it read as rows"))
      return first
    bad = next(((i, m) for i in range(first - 1, last) if (m := _ESCAPED.search(lines[i]))),
               None)
    if bad is not None:
      index, match = bad
      byte = ord(match.group()) - 0xDC00
      items.append(Problem(first, "bad_encoding", f"byte 0x{byte:02x} at line {index + 1},"
                           f" column {match.start() + 1} is not UTF-8"))
      continue
    items.append(Row(first, fields))


def align(columns: Mapping[str, Sequence[Any]],
          mismatch: Callable[[Mapping[str, Any]], bool] | None = None,
          ) -> tuple[list[dict[str, int]], Problem | None]:
  """Pairs the lines of line-aligned files (``seq.in``/``seq.out``/``label``).

  When one file lacks a line (or the others have one too many), every row
  after the gap would pair with its neighbour's partner. The gap is located by
  ``mismatch(row)`` (whether the lines of one candidate row contradict each
  other, e.g. slot types that do not belong to the label): the position with
  the fewest contradictions wins. Rows whose pairing differs between equally
  good positions are dropped rather than guessed (all of them, when nothing
  can be checked), and so is the unpaired row: nothing shifts silently.

  Args:
    columns: file name -> its lines (None for an undecodable line).
    mismatch: ``row -> bool`` over ``{name: line}``; None: nothing to check.

  Returns:
    ``(rows, problem)``: each row maps file name -> 0-based line index;
    ``problem`` (``line_count_mismatch``) is None when the files agree.
  """
  sizes = {name: len(lines) for name, lines in columns.items()}
  longest = max(sizes.values())
  short = [name for name, size in sizes.items() if size < longest]
  if not short:
    return [{name: i for name in columns} for i in range(longest)], None
  counts = ", ".join(f"{name} {size}" for name, size in sizes.items())
  if longest - sizes[short[0]] != 1 or len({sizes[name] for name in short}) != 1:
    return [], Problem(f"1-{longest}", "line_count_mismatch",
                       f"line counts differ ({counts}) by more than one line: cannot tell which"
                       f" lines pair up; all {longest} rows dropped", rows=longest,
                       file=min(short, key=sizes.get))

  def row(i: int, j: int) -> dict[str, int]:
    return {name: (j if name in short else i) for name in columns}

  def bad(i: int, j: int) -> int:
    lines = {name: columns[name][k] for name, k in row(i, j).items()}
    return int(mismatch is not None and None not in lines.values() and mismatch(lines))

  # cost(k): contradictions when long row k is the unpaired one.
  before = [0]  # before[k] = sum of bad(i, i) for i < k
  for i in range(longest - 1):
    before.append(before[-1] + bad(i, i))
  after = [0] * (longest + 1)  # after[k] = sum of bad(i, i - 1) for i >= k
  for i in range(longest - 1, 0, -1):
    after[i] = after[i + 1] + bad(i, i - 1)
  costs = [before[k] + after[k + 1] for k in range(longest)]
  best = [k for k, cost in enumerate(costs) if cost == min(costs)]
  lo, hi = best[0], best[-1]
  where = lo + 1 if lo == hi else f"{lo + 1}-{hi + 1}"
  longer = [name for name in columns if name not in short]
  # Blamed on the odd one out: the file a line short, or the file a line too long.
  blamed = short[0] if len(short) < len(longer) else longer[0]
  if lo != hi:
    located = (f"the unpaired line is somewhere in lines {where}; all are dropped (nothing"
               " tells which)")
  elif blamed in short:
    located = f"{blamed} lacks the line paired with line {where} of {' and '.join(longer)}"
  else:
    located = f"line {where} of {blamed} has no partner in {' and '.join(short)}"
  problem = Problem(where, "line_count_mismatch", f"line counts differ ({counts}): {located}",
                    rows=hi - lo + 1, file=blamed)
  rows = [row(i, i if i < lo else i - 1) for i in range(longest) if not lo <= i <= hi]
  return rows, problem
