"""BANKING77: 77 fine-grained intents of one online-banking domain.

Splits ``train`` (10003) and ``test`` (3080); there is no official validation
split. Labels are checked against ``categories.json``.

Known defects (SOURCE.md), repaired and counted, never dropped:
* 13 quoted fields with embedded newlines (``embedded_newline``): read with a
  real CSV parser and the whitespace collapsed; the source line is the line on
  which the row starts.
* leading/trailing whitespace (``whitespace_normalised``): stripped.
* 6 test utterances also in train with the same label
  (``cross_split_duplicate/same_label``).

Malformed rows (under the ``on_error`` policy), each named by file and line:
``bad_record`` (not two fields), ``bad_encoding`` (bytes that are not UTF-8:
that row only), ``unterminated_quote`` (a quote never closed, which would
swallow the rows after it: that row is dropped, the rest read),
``bad_header``, ``empty_file`` (zero bytes or a header only), plus the base
checks. A broken ``categories.json`` is an error under either policy.
"""

from __future__ import annotations

from fsnlu_jax.data.builders import _readers
from fsnlu_jax.data.builders._base import NLUBuilder, Splits
from fsnlu_jax.data.defects import MalformedRowError
from fsnlu_jax.data.tokenize import tokenize

_URL = "https://raw.githubusercontent.com/PolyAI-LDN/task-specific-datasets/master/banking_data/"
DOMAIN = "banking"


class Banking77(NLUBuilder, skip_registration=False):
  """BANKING77 intent detection (Casanueva et al., 2020)."""

  name = "banking77"
  FOLDER = "banking77"
  FILES = {name: _URL + name for name in ("train.csv", "test.csv", "categories.json")}
  HOMEPAGE = "https://github.com/PolyAI-LDN/task-specific-datasets"
  CITATION = ("Casanueva et al. 2020. Efficient Intent Detection with Dual Sentence"
              " Encoders. NLP4ConvAI.")

  def _known_intents(self, files):
    categories = self._read_json(files["categories.json"], required=True)
    if not (isinstance(categories, list) and all(isinstance(c, str) for c in categories)):
      raise MalformedRowError(self._relpath(files["categories.json"]), 1, "bad_record",
                              "not a JSON list of label strings", rows=None)
    return set(categories)

  def _read_splits(self, files) -> Splits:
    return {split: self._read_csv(files[f"{split}.csv"]) for split in ("train", "test")}

  def _ends_a_row(self, line: str) -> bool:
    """Whether a raw line ends like a complete row: ``...,<known label>``."""
    head, comma, label = line.rstrip("\r\n").rpartition(",")
    return bool(comma) and label.strip().strip('"') in self._intents

  def _read_csv(self, path):
    items = _readers.read_csv(path, self._ends_a_row)
    if not items:
      self._malformed(path, 1, "empty_file", "0 bytes: no header, no rows", rows=None)
      return []
    header, items = items[0], items[1:]
    if not (isinstance(header, _readers.Row) and header.fields == ["text", "category"]):
      self._malformed(path, 1, "bad_header", repr(getattr(header, "fields", header)), rows=0)
    if not items:
      self._malformed(path, 1, "empty_file", "a header and no rows", rows=None)
      return []
    examples = []
    for item in items:
      if isinstance(item, _readers.Problem):
        self._report(path, item)
        continue
      if len(item.fields) != 2:
        self._malformed(path, item.line, "bad_record", repr(item.fields)[:80])
        continue
      text, intent = item.fields
      example = self._example(path, item.line, text=text, tokens=tokenize(text), intent=intent,
                              domain=DOMAIN)
      if example is not None:
        examples.append(example)
    return examples
