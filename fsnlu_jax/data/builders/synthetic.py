"""The embedded synthetic corpus as a builder: no files, no download.

The examples come from :func:`fsnlu_jax.data.synthetic.generate_corpus`, so the
library's main job runs on a fresh machine; they still go through
:meth:`NLUBuilder._example` (same validation, duplicate counts and
array_record cache as the real datasets). Sources read
``synthetic/seed=<seed>:<split>[<index>]``.

Configs:
  * ``default``: seed 0, 60/20/20 utterances per intent and split (7140 /
    2380 / 2380 over 119 intents) -- what the main job uses;
  * ``tiny``: seed 0, 20/10/10 per intent, for fast tests.

Versioning: TFDS caches a build under its version, so **VERSION must change
whenever the generator's output changes** (templates, catalogues, noise, split
sizes, numpy's random streams). :data:`DEFAULT_FINGERPRINT` records the sha256
of the default corpus for the current version; ``tests/data/test_synthetic.py``
fails when the generator output no longer matches it, which is the reminder to
bump VERSION and update the fingerprint together.
"""

from __future__ import annotations

import os
import pathlib
from typing import Mapping

import tensorflow_datasets as tfds

from fsnlu_jax.data.builders._base import NLUBuilder, Splits
from fsnlu_jax.data.synthetic import DEFAULT_PER_INTENT, generate_corpus, intent_domains

# config name -> (seed, utterances per intent and split)
CONFIGS: Mapping[str, tuple[int, Mapping[str, int]]] = {
    "default": (0, DEFAULT_PER_INTENT),
    "tiny": (0, {"train": 20, "validation": 10, "test": 10}),
}

# sha256 of generate_corpus(*CONFIGS["default"]) at VERSION (see module doc).
DEFAULT_FINGERPRINT = "c4b70b7a9b211a52ccfee5b4fc1df27d3fdde6d8a51f381b831a85356a07bfb2"


class Synthetic(NLUBuilder, skip_registration=False):
  """Embedded synthetic few-shot NLU corpus (intents and BIO slots)."""

  name = "synthetic"
  FOLDER = "synthetic"
  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "24 domains, 119 intents, 64 slot types."}
  BUILDER_CONFIGS = [
      tfds.core.BuilderConfig(
          name="default", description="seed 0, 60/20/20 utterances per intent"),
      tfds.core.BuilderConfig(
          name="tiny", description="seed 0, 20/10/10 utterances per intent (tests)"),
  ]

  @classmethod
  def resolve_source(cls, source_dir: str | os.PathLike | None) -> pathlib.Path | None:
    """Always None: the corpus is generated, whatever data dir is set."""
    return None

  def _fetch(self, dl_manager) -> dict[str, pathlib.Path]:
    return {}  # nothing to read and nothing to download

  def _known_intents(self, files) -> set[str]:
    return set(intent_domains())

  def _read_splits(self, files) -> Splits:
    seed, per_intent = CONFIGS[self.builder_config.name]
    # _where() renders this as "synthetic/seed=<seed>", the generator's prefix.
    path = pathlib.Path(f"seed={seed}")
    splits: Splits = {}
    for split, examples in generate_corpus(seed, per_intent).items():
      kept = []
      for index, generated in enumerate(examples):
        example = self._example(path, f"{split}[{index}]", text=generated.text,
                                tokens=generated.tokens, intent=generated.intent,
                                domain=generated.domain, slots=generated.slots)
        if example is not None:
          kept.append(example)
      splits[split] = kept
    return splits

  def _source_label(self) -> str:
    seed, _ = CONFIGS[self.builder_config.name]
    return f"generated (seed={seed})"
