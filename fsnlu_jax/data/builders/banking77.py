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
"""

from __future__ import annotations

import csv
import json

from fsnlu_jax.data.builders._base import NLUBuilder, Splits
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
    with open(files["categories.json"], encoding="utf-8") as f:
      return set(json.load(f))

  def _read_splits(self, files) -> Splits:
    return {split: self._read_csv(files[f"{split}.csv"]) for split in ("train", "test")}

  def _read_csv(self, path):
    examples = []
    with open(path, encoding="utf-8", newline="") as f:
      reader = csv.reader(f)
      header = next(reader, None)
      if header != ["text", "category"]:
        self._malformed(path, 1, "bad_header", repr(header))
      start = reader.line_num + 1  # the line the next row begins on
      for row in reader:
        line, start = start, reader.line_num + 1
        if len(row) != 2:
          self._malformed(path, line, "bad_record", repr(row)[:80])
          continue
        text, intent = row
        example = self._example(path, line, text=text, tokens=tokenize(text), intent=intent,
                                domain=DOMAIN)
        if example is not None:
          examples.append(example)
    return examples
