"""CLINC150 (oos-eval), the ``full`` variant: 150 intents in 10 domains.

Splits ``train``/``validation``/``test`` hold the in-scope utterances
(15000/3000/4500); the out-of-scope class is kept apart in ``oos_train``,
``oos_validation``, ``oos_test`` (100/100/1000) with intent ``oos`` and domain
``oos``, so in-scope statistics and few-shot episodes never mix it in by
accident.

Known defect (SOURCE.md): 5 utterances occur in two splits, 4 of them with a
conflicting label. They are kept, because removing them would change the
published split sizes, and counted as ``cross_split_duplicate/*``.

Records are located as ``clinc150/data_full.json:<key>[<index>]``.
"""

from __future__ import annotations

import pathlib
from typing import Mapping

from fsnlu_jax.data.builders._base import NLUBuilder, Splits
from fsnlu_jax.data.defects import MalformedRowError
from fsnlu_jax.data.tokenize import tokenize

_URL = "https://raw.githubusercontent.com/clinc/oos-eval/master/data/"
OOS = "oos"

# file key -> split name
_SPLITS = {
    "train": "train", "val": "validation", "test": "test",
    "oos_train": "oos_train", "oos_val": "oos_validation", "oos_test": "oos_test",
}


class Clinc150(NLUBuilder, skip_registration=False):
  """CLINC150 intent classification with out-of-scope queries (Larson et al., 2019)."""

  name = "clinc150"
  OUT_OF_SCOPE = OOS
  FOLDER = "clinc150"
  FILES = {"data_full.json": _URL + "data_full.json", "domains.json": _URL + "domains.json"}
  HOMEPAGE = "https://github.com/clinc/oos-eval"
  CITATION = ("Larson et al. 2019. An Evaluation Dataset for Intent Classification and"
              " Out-of-Scope Prediction. EMNLP-IJCNLP.")

  def _domains(self, files: Mapping[str, pathlib.Path]) -> dict[str, str]:
    path = files["domains.json"]
    domains = self._read_json(path, required=True)
    if not (isinstance(domains, dict) and all(
        isinstance(v, list) and all(isinstance(i, str) for i in v) for v in domains.values())):
      raise MalformedRowError(self._relpath(path), 1, "bad_record",
                              "not a JSON object of domain -> [intent, ...]", rows=None)
    return {intent: domain for domain, intents in domains.items() for intent in intents}

  def _known_intents(self, files):
    return set(self._domains(files)) | {OOS}

  def _read_splits(self, files) -> Splits:
    domain_of = self._domains(files)
    path = files["data_full.json"]
    data = self._read_json(path)
    if data is None:
      return {split: [] for split in _SPLITS.values()}
    if not isinstance(data, dict):
      self._malformed(path, 1, "bad_record", "not a JSON object of split -> rows", rows=None)
      return {split: [] for split in _SPLITS.values()}
    splits: Splits = {}
    for key, split in _SPLITS.items():
      examples = []
      rows = data.get(key)
      if not isinstance(rows, list) or not rows:
        self._malformed(path, key, "missing_split",
                        f"no rows under {key!r} (keys: {', '.join(sorted(data))})", rows=0)
        rows = []
      for index, row in enumerate(rows):
        line = f"{key}[{index}]"
        if not (isinstance(row, list) and len(row) == 2 and all(isinstance(x, str) for x in row)):
          self._malformed(path, line, "bad_record", repr(row)[:80])
          continue
        text, intent = row
        in_scope = not key.startswith("oos")
        if in_scope == (intent == OOS):
          self._malformed(path, line, "unknown_label", f"{intent!r} in {key}")
          continue
        example = self._example(path, line, text=text, tokens=tokenize(text), intent=intent,
                                domain=domain_of.get(intent, OOS))
        if example is not None:
          examples.append(example)
      splits[split] = examples
    return splits
