"""Counting what is wrong with a dataset, and the policy for malformed rows.

Two kinds of trouble are told apart:

* **Known defects** of a published dataset (a mis-encoded emoji, a duplicate
  with a conflicting label, an embedded newline). Builders repair or keep them
  on purpose and *count* them, by a stable name, so `fsnlu data stats` can
  report them. Nothing is dropped without a count.
* **Malformed rows** (bad JSON, a slot span that does not match its text, an
  empty utterance, an unknown label). What happens is an explicit policy:
  ``"raise"`` stops with a :class:`MalformedRowError` naming the file and line;
  ``"skip"`` drops the row and counts it under ``malformed/<reason>``.

What was dropped is also tallied by rows and by whole files (a document that
does not parse, an empty file), so that examples out + rows dropped + the rows
of the dropped files = rows in. :func:`classify` tells drops, repairs and
observations apart for ``fsnlu data validate``.
"""

from __future__ import annotations

import collections
import json
from typing import Any, Literal

OnError = Literal["raise", "skip"]
ON_ERROR_POLICIES = ("raise", "skip")

# Defect kinds that record data kept exactly as published (duplicates, overlap
# with another dataset, a field the schema has no place for, a subset row not
# in its full split): worth knowing, neither a drop nor a repair.
_OBSERVATIONS = ("duplicate_within_split/", "cross_split_duplicate/", "hwu64_overlap/",
                 "ignored_field/", "subset_not_in_train/")

# How many example locations to remember per defect kind.
_MAX_WHERE = 5


class MalformedRowError(ValueError):
  """A row of a dataset file cannot be turned into an example.

  Attributes:
    path: the file, as given to the builder.
    line: 1-based line number, or ``key[index]`` inside a JSON document.
    reason: a short stable name, e.g. ``"empty_utterance"``.
    rows: how many rows skipping it drops; None when the whole file is lost
      (its rows cannot be counted, e.g. a JSON document that does not parse).
  """

  def __init__(self, path: str, line: int | str, reason: str, detail: str = "",
               rows: int | None = 1):
    self.path, self.line, self.reason, self.detail = str(path), line, reason, detail
    self.rows = rows
    message = f"{path}:{line}: malformed row ({reason})"
    super().__init__(f"{message}: {detail}" if detail else message)


class DefectLog:
  """Counts of defects by kind, with a few example locations of each."""

  def __init__(self):
    self.counts: collections.Counter[str] = collections.Counter()
    self.where: dict[str, list[str]] = collections.defaultdict(list)
    self.rows_dropped = 0  # rows skipped as malformed
    self.files_dropped: list[str] = []  # files lost whole (their rows uncounted)

  def add(self, kind: str, where: str = "", n: int = 1) -> None:
    """Counts ``n`` occurrences of ``kind`` at ``where`` (``path:line``)."""
    self.counts[kind] += n
    if where and len(self.where[kind]) < _MAX_WHERE:
      self.where[kind].append(where)

  def malformed(self, error: MalformedRowError, on_error: OnError) -> None:
    """Applies the malformed-row policy: raise, or count and carry on."""
    if on_error == "raise":
      raise error
    if on_error != "skip":
      raise ValueError(f"on_error must be one of {ON_ERROR_POLICIES}, got {on_error!r}")
    self.add(f"malformed/{error.reason}", f"{error.path}:{error.line}")
    if error.rows is None:
      self.files_dropped.append(error.path)
    else:
      self.rows_dropped += error.rows

  def dropped(self) -> dict[str, Any]:
    """``{"rows": rows dropped, "files": files lost whole}``."""
    return {"rows": self.rows_dropped, "files": list(self.files_dropped)}

  def as_dict(self) -> dict[str, int]:
    return dict(sorted(self.counts.items()))

  def to_json(self) -> str:
    return json.dumps({"counts": self.as_dict(), "where": dict(sorted(self.where.items()))},
                      sort_keys=True)

  @classmethod
  def from_json(cls, text: str) -> "DefectLog":
    log = cls()
    data = json.loads(text)
    log.counts.update(data["counts"])
    for kind, places in data["where"].items():
      log.where[kind] = list(places)
    return log


def classify(kind: str) -> Literal["dropped", "repaired", "observed"]:
  """Whether a defect kind dropped data, changed (repaired or flagged) it, or only observed it.

  >>> classify("malformed/bad_json"), classify("whitespace_normalised")
  ('dropped', 'repaired')
  """
  if kind.startswith(("malformed/", "empty_split/")):
    return "dropped"
  if kind.startswith(_OBSERVATIONS):
    return "observed"
  return "repaired"
