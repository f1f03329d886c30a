"""The jobs' metrics log (one JSON object per line, written by process 0 only), and strict JSON.

Every JSON file a job writes (``metrics.jsonl``, ``results.json`` …) is
*strict* JSON, which every reader accepts: a value that is not a finite
number (``inf``, ``nan``, e.g. a threshold no score reaches) is written as
``null`` (:func:`plain`), never as ``Infinity`` or ``NaN``; NumPy scalars and
arrays become numbers and lists. A writer whose ``null`` has a meaning says
so in its file (e.g. the rewriting job's ``"null_threshold"``).
"""

from __future__ import annotations

import json
import logging
import math
import pathlib
from typing import Any, Mapping

import jax
import numpy as np

_log = logging.getLogger(__name__)


def plain(value: Any) -> Any:
  """``value`` with NumPy values as Python ones and non-finite numbers as None.

  >>> plain({"t": float("inf"), "x": np.float32(0.5), "v": np.arange(2)})
  {'t': None, 'x': 0.5, 'v': [0, 1]}
  """
  if isinstance(value, Mapping):
    return {str(k): plain(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [plain(v) for v in value]
  if isinstance(value, np.ndarray):
    return plain(value.tolist())
  if isinstance(value, np.generic):
    value = value.item()
  if isinstance(value, float) and not math.isfinite(value):
    return None
  return value


def dumps(value: Any, **kwargs) -> str:
  """Strict JSON text of ``value`` (:func:`plain` first); ``kwargs`` go to ``json.dumps``."""
  return json.dumps(plain(value), allow_nan=False, **kwargs)


def write(path: pathlib.Path, value: Any, *, indent: int | None = 1) -> None:
  """Writes ``value`` as strict JSON to ``path``, atomically (process 0 only)."""
  if jax.process_index() == 0:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(dumps(value, indent=indent) + "\n")
    tmp.replace(path)  # a kill mid-write leaves the old file whole


def append(path: pathlib.Path, record: Mapping[str, Any]) -> None:
  """Appends ``record`` as one line (process 0 only: the others share the file)."""
  if jax.process_index() == 0:
    with path.open("a") as f:
      f.write(dumps(record) + "\n")


def drop_kind(path: pathlib.Path, kind: str) -> None:
  """Removes the records of ``kind`` (a rerun's final records replace the previous run's)."""
  if jax.process_index() != 0 or not path.exists():
    return
  lines = path.read_text().splitlines()
  kept = [line for line in lines if line and json.loads(line).get("kind") != kind]
  if len(kept) != len(lines):
    path.write_text("".join(line + "\n" for line in kept))


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
