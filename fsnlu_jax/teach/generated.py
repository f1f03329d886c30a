"""Where a system's generated utterances live, and reading them back strictly.

A generating system (the teacher, ``fsnlu generate``) writes, for each run
of the protocol ``(dataset, target intent, seed)``, one JSON-lines file of
:meth:`fsnlu_jax.data.Example.to_record` dicts at :func:`generated_path`; the
protocol runner (``benchmarks/teaching.py``) reads the file of each system it
is given. The seed is the run's: the generator must draw its few examples
with :func:`fsnlu_jax.teach.novel_intent_split` of the same seed, so it sees
only the seeds the student sees.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
from typing import Sequence

from fsnlu_jax.data import Example
from fsnlu_jax.data.bio import invalid_bio_tags

_SAFE = re.compile(r"^[A-Za-z0-9_.+-]+$")


class GeneratedDataError(ValueError):
  """A generated-data file that cannot be used as it is (the message names file and line)."""


def generated_path(root: str | os.PathLike, dataset: str, intent: str, seed: int,
                   system: str) -> pathlib.Path:
  """``root/<dataset>/<intent>/seed<seed>/<system>.jsonl``.

  Raises:
    ValueError: a name with characters other than letters, digits and ``_.+-``.
  """
  for what, name in (("dataset", dataset), ("intent", intent), ("system", system)):
    if not _SAFE.match(name) or name in (".", ".."):
      raise ValueError(f"{what} {name!r} cannot be part of a file name")
  return pathlib.Path(root) / dataset / intent / f"seed{int(seed)}" / f"{system}.jsonl"


def write_generated(path: str | os.PathLike, examples: Sequence[Example]) -> pathlib.Path:
  """``examples`` as JSON lines of their records (folders made as needed)."""
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_text("".join(json.dumps(e.to_record()) + "\n" for e in examples))
  return path


def read_generated(path: str | os.PathLike, *, intent: str | None = None) -> list[Example]:
  """The examples of a generated-data file, in file order.

  Args:
    path: a JSON-lines file of :meth:`Example.to_record` dicts.
    intent: when given, every example must be of this intent.

  Raises:
    FileNotFoundError: no such file.
    GeneratedDataError: a line that is not JSON, not a record, has tags that
      are not valid BIO or has another intent (``file:line``), or no example.
  """
  path = pathlib.Path(path)
  examples = []
  for number, line in enumerate(path.read_text().splitlines(), start=1):
    if not line.strip():
      continue
    where = f"{path}:{number}"
    try:
      example = Example.from_record(json.loads(line))
    except (ValueError, KeyError, TypeError) as error:
      raise GeneratedDataError(f"{where}: not an example record: {error}") from error
    if not example.tokens:
      raise GeneratedDataError(f"{where}: an example without tokens")
    bad = invalid_bio_tags(example.slots)
    if bad:
      raise GeneratedDataError(f"{where}: invalid BIO tag {example.slots[bad[0]]!r} at "
                               f"token {bad[0]}")
    if intent is not None and example.intent != intent:
      raise GeneratedDataError(f"{where}: intent {example.intent!r}, expected {intent!r}")
    examples.append(example)
  if not examples:
    raise GeneratedDataError(f"{path}: no generated example")
  return examples
