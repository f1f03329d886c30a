"""Progress of every long stage, labelled by stage: a bar on a terminal, plain lines elsewhere.

Training, embedding, evaluation, IG attribution and trie building all report
through :func:`progress`, so a user always sees which stage runs and how far
it is:

* on a terminal (stderr is a TTY): a tqdm bar, ``pretrain: 45%|████ | 9/20 …``;
* elsewhere (CI, ``nohup``, ``| tee``, a notebook's captured stderr): one
  plain line every ``FSNLU_PROGRESS_SECONDS`` seconds (default 10) while the
  stage runs, and one when it ends (unless it took under a second), e.g.
  ``fsnlu: pretrain: 20/20 steps (100%) in 4.1 s, 4.9 steps/s``.

``FSNLU_PROGRESS`` forces a mode: ``bar``, ``lines`` or ``off``; the CLI's
``-q`` is ``off`` (:func:`set_mode`). Progress goes to stderr, so stdout keeps
a command's output alone (``fsnlu data stats --json``).

>>> set_mode("off")
>>> [x * 2 for x in progress(range(3), desc="doubling")]
[0, 2, 4]
>>> set_mode(None)
"""

from __future__ import annotations

import os
import sys
import time
from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")

MODES = ("bar", "lines", "off")
_forced: str | None = None


def set_mode(mode: str | None) -> None:
  """Forces ``bar``, ``lines`` or ``off`` for this process; None: as the environment says."""
  global _forced
  if mode is not None and mode not in MODES:
    raise ValueError(f"progress mode must be one of {MODES}, got {mode!r}")
  _forced = mode


def mode() -> str:
  """The mode in force: :func:`set_mode`'s, else ``$FSNLU_PROGRESS``, else by terminal."""
  if _forced is not None:
    return _forced
  env = os.environ.get("FSNLU_PROGRESS", "").strip().lower()
  if env in MODES:
    return env
  return "bar" if _isatty(sys.stderr) else "lines"


def _isatty(stream) -> bool:
  try:
    return stream.isatty()
  except (AttributeError, ValueError):
    return False


def interval_seconds() -> float:
  """Seconds between two plain lines (``$FSNLU_PROGRESS_SECONDS``, default 10)."""
  try:
    return max(float(os.environ.get("FSNLU_PROGRESS_SECONDS", 10)), 0.0)
  except ValueError:
    return 10.0


def progress(iterable: Iterable[T], *, desc: str, total: int | None = None, unit: str = "it",
             initial: int = 0, leave: bool = True) -> Iterator[T]:
  """``iterable``, reporting how far a stage has gone (module docs).

  Args:
    iterable: the stage's work items (steps, batches, episodes, errors …).
    desc: the stage's label, e.g. ``"pretrain"`` or ``"embedding train"``.
    total: items in all (default ``len(iterable)`` when it has one).
    unit: what an item is, e.g. ``"step"``, ``"batch"``.
    initial: items already done (a resumed run).
    leave: keep the finished bar on screen (False for a short stage inside a
      longer one, e.g. an evaluation during training); plain lines are kept.
  """
  if total is None and hasattr(iterable, "__len__"):
    total = initial + len(iterable)
  current = mode()
  if current == "off":
    return iter(iterable)
  if current == "bar":
    import tqdm  # pylint: disable=g-import-not-at-top

    return iter(tqdm.tqdm(iterable, desc=desc, total=total, unit=unit, initial=initial,
                          file=sys.stderr, dynamic_ncols=True, leave=leave))
  return _lines(iterable, desc=desc, total=total, unit=unit, initial=initial)


def _lines(iterable: Iterable[T], *, desc: str, total: int | None, unit: str,
           initial: int) -> Iterator[T]:
  every = interval_seconds()
  start = last = time.monotonic()
  done, said = initial, False
  for item in iterable:
    yield item
    done += 1
    now = time.monotonic()
    if now - last >= every:
      _say(_line(desc, done, total, unit, initial, now - start))
      last, said = now, True
  elapsed = time.monotonic() - start
  # A stage of under a second (an evaluation inside a training) says nothing.
  if said or elapsed >= min(every, 1.0):
    _say(_line(desc, done, total, unit, initial, elapsed, end=True))


def _line(desc: str, done: int, total: int | None, unit: str, initial: int, seconds: float,
          end: bool = False) -> str:
  units = unit if unit.endswith("s") else unit + ("es" if unit.endswith(("ch", "sh", "x")) else "s")
  count = f"{done}/{total} {units}" if total else f"{done} {units}"
  share = f" ({100 * done / total:.0f}%)" if total else ""
  rate = f", {(done - initial) / seconds:.3g} {units}/s" if seconds > 0 and done > initial else ""
  return f"fsnlu: {desc}: {count}{share} {'in' if end else 'after'} {seconds:.1f} s{rate}"


def _say(line: str) -> None:
  # sys.stderr looked up now: a caller may have redirected it since import.
  print(line, file=sys.stderr, flush=True)
