"""The jobs' metrics log: one JSON object per line, written by process 0 only."""

from __future__ import annotations

import json
import logging
import pathlib
from typing import Any, Mapping

import jax

_log = logging.getLogger(__name__)


def append(path: pathlib.Path, record: Mapping[str, Any]) -> None:
  """Appends ``record`` as one line (process 0 only: the others share the file)."""
  if jax.process_index() == 0:
    with path.open("a") as f:
      f.write(json.dumps(record) + "\n")


def read(path: pathlib.Path) -> list[dict[str, Any]]:
  """Every record of ``path``; none when it does not exist."""
  if not path.exists():
    return []
  return [json.loads(line) for line in path.read_text().splitlines() if line]


def truncate_after(path: pathlib.Path, step: int) -> None:
  """Drops records after ``step``: a killed run logged steps it will redo."""
  if jax.process_index() != 0 or not path.exists():
    return
  lines = path.read_text().splitlines()
  kept = [line for line in lines if json.loads(line)["step"] <= step]
  if len(kept) != len(lines):
    _log.info("resuming at step %d: dropped %d later metric records", step, len(lines) - len(kept))
    path.write_text("".join(line + "\n" for line in kept))
