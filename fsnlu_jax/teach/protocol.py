"""The 10-shot novel-intent protocol of LINGUIST (EVALUATION.md, "Teaching via data").

One *run* of the protocol is a ``(dataset, target intent, seed)``: the
target intent's training examples are reduced to ``shots`` (10), every other
intent keeps all of its; a student is trained on that (plus whatever a system
generates from the ``shots`` seeds) and scored on the test split.

Splits (:func:`protocol_splits`), fixed per dataset:

* **SNIPS** (``snips/bio``, 7 intents, each its own domain): train ``train``
  (13084), validation ``validation`` (700), test ``test`` (700).
* **HWU64** (``hwu64/crossval``, the cross-validation folds, the only HWU64
  data with slots): train folds 1-8, validation fold 9, test fold 10 (the
  authors' fold-10 test set, as ``benchmarks/transfer.py`` uses it; fold 9
  is given up to validation because HWU64 has no validation split).

Validation never holds the target intent (:func:`validation_without`): the
only target-intent utterances a run sees are its ``shots`` seeds (already in
its training data), so model selection cannot peek at the target intent.

Target intents (:func:`target_intents`): SNIPS, all 7. HWU64, a rule on the
training folds' counts only (never on results): intents with at least
:data:`HWU64_MIN_TRAIN` training utterances of which at least
:data:`HWU64_MIN_SLOT_SHARE` carry a slot, and at least
:data:`HWU64_MIN_TEST` test utterances; :data:`HWU64_N_TARGETS` of them drawn
by ``np.random.default_rng(HWU64_TARGET_SEED).choice(sorted(eligible))``.

References:
  Rosenbaum et al., "LINGUIST: Language Model Instruction Tuning to Generate
  Annotated Utterances for Intent Classification and Slot Tagging", COLING 2022.
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Sequence

import numpy as np

from fsnlu_jax.data import Example, loading

SHOTS = 10
HWU64_MIN_TRAIN = 120
HWU64_MIN_SLOT_SHARE = 0.8
HWU64_MIN_TEST = 20
HWU64_N_TARGETS = 6
HWU64_TARGET_SEED = 0

# dataset -> (loader name, train splits, validation split, test split)
DATASETS: dict[str, tuple[str, tuple[str, ...], str, str]] = {
    "snips": ("snips/bio", ("train",), "validation", "test"),
    "hwu64": ("hwu64/crossval", tuple(f"fold_{k}" for k in range(1, 9)), "fold_9", "fold_10"),
}


@dataclasses.dataclass(frozen=True)
class NovelIntentSplit:
  """One run's training data.

  Attributes:
    train: the input examples in their order, less the target's unkept ones.
    seeds: the ``shots`` target examples kept (in the input order).
    dropped: how many target examples were removed.
    target: the target intent.
    seed: the seed that drew ``seeds``.
  """

  train: list[Example]
  seeds: list[Example]
  dropped: int
  target: str
  seed: int


def novel_intent_split(train: Sequence[Example], target_intent: str, *, shots: int = SHOTS,
                       seed: int) -> NovelIntentSplit:
  """``train`` with ``target_intent`` reduced to ``shots`` examples, the other intents in full.

  The kept examples are ``shots`` of the target's examples drawn uniformly
  without replacement by ``np.random.default_rng(seed).choice`` over their
  positions in ``train`` (so a seed gives the same seeds whatever the other
  intents hold); the order of ``train`` is kept.

  Raises:
    ValueError: the target intent has fewer than ``shots`` examples (none:
      an unknown intent), or ``shots < 1``.
  """
  if shots < 1:
    raise ValueError(f"shots must be at least 1, got {shots}")
  rows = [i for i, e in enumerate(train) if e.intent == target_intent]
  if len(rows) < shots:
    known = sorted({e.intent for e in train})
    raise ValueError(f"intent {target_intent!r} has {len(rows)} training examples, fewer than "
                     f"the {shots} shots" + ("" if rows else f"; intents: {known}"))
  kept = {rows[i] for i in np.random.default_rng(seed).choice(len(rows), shots, replace=False)}
  reduced = [e for i, e in enumerate(train) if e.intent != target_intent or i in kept]
  return NovelIntentSplit(train=reduced, seeds=[train[i] for i in sorted(kept)],
                          dropped=len(rows) - shots, target=target_intent, seed=seed)


def validation_without(validation: Sequence[Example], target_intent: str) -> list[Example]:
  """The validation examples of every intent but the target (module docs)."""
  kept = [e for e in validation if e.intent != target_intent]
  if not kept:
    raise ValueError(f"no validation example left without {target_intent!r}")
  return kept


@dataclasses.dataclass(frozen=True)
class ProtocolSplits:
  """A dataset's full train, validation and test examples for the protocol."""

  dataset: str
  name: str
  train: list[Example]
  validation: list[Example]
  test: list[Example]
  split_names: dict[str, object]


def protocol_splits(dataset: str, *, data_dir=None, cache_dir=None) -> ProtocolSplits:
  """The train / validation / test examples of ``dataset`` (``snips`` or ``hwu64``; module docs)."""
  if dataset not in DATASETS:
    raise ValueError(f"unknown dataset {dataset!r}; use one of {sorted(DATASETS)}")
  name, train_splits, val_split, test_split = DATASETS[dataset]
  splits = loading.load(name, splits=[*train_splits, val_split, test_split], data_dir=data_dir,
                        cache_dir=cache_dir, progress=False)
  train = [e for s in train_splits for e in splits[s]]
  for what, rows in (("train", train), ("validation", splits[val_split]),
                     ("test", splits[test_split])):
    if not rows:
      raise ValueError(f"{name}: empty {what} split")
  return ProtocolSplits(dataset, name, train, list(splits[val_split]), list(splits[test_split]),
                        dict(train=list(train_splits), validation=val_split, test=test_split))


def target_intents(splits: ProtocolSplits) -> tuple[list[str], dict]:
  """The protocol's target intents of a dataset, and the rule and counts that chose them."""
  train = collections.Counter(e.intent for e in splits.train)
  slotted = collections.Counter(e.intent for e in splits.train if e.slot_types)
  test = collections.Counter(e.intent for e in splits.test)
  counts = {i: dict(train=train[i], with_slots=slotted[i], test=test[i]) for i in sorted(train)}
  if splits.dataset == "snips":
    return sorted(train), dict(rule="every SNIPS intent", counts=counts)
  eligible = sorted(i for i, c in counts.items()
                    if c["train"] >= HWU64_MIN_TRAIN and c["test"] >= HWU64_MIN_TEST
                    and c["with_slots"] >= HWU64_MIN_SLOT_SHARE * c["train"])
  if len(eligible) < HWU64_N_TARGETS:
    raise ValueError(f"only {len(eligible)} eligible target intents: {eligible}")
  rng = np.random.default_rng(HWU64_TARGET_SEED)
  chosen = sorted(rng.choice(eligible, HWU64_N_TARGETS, replace=False).tolist())
  rule = (f"intents with >= {HWU64_MIN_TRAIN} training utterances, >= "
          f"{HWU64_MIN_SLOT_SHARE:.0%} of them with a slot, >= {HWU64_MIN_TEST} test utterances; "
          f"{HWU64_N_TARGETS} drawn by default_rng({HWU64_TARGET_SEED}).choice(sorted(eligible))")
  return chosen, dict(rule=rule, eligible=eligible, counts=counts)

