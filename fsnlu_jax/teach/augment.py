"""The baselines' augmented data: upsampling the seeds and slot-catalogue resampling.

Both write new :class:`~fsnlu_jax.data.Example` records of the target intent
from its seed examples, as a teacher would (same intent, domain, BIO tags over
the tokens), so a student cannot tell where an utterance came from except by
its ``source``: ``"<method>#<k>:<seed's source>"`` (``k`` the output's index).

Seeds are spread evenly: output ``k`` starts from seed ``order[k % S]``, with
``order`` a fresh permutation of the ``S`` seeds for each round of ``S``
outputs, so every seed is used ``floor(n / S)`` or ``ceil(n / S)`` times.

References:
  Rosenbaum et al., "LINGUIST: Language Model Instruction Tuning to Generate
  Annotated Utterances for Intent Classification and Slot Tagging", COLING 2022
  (the baselines of its 10-shot novel-intent protocol).
"""

from __future__ import annotations

import dataclasses
from typing import Mapping, Sequence

import numpy as np

from fsnlu_jax.data import Example
from fsnlu_jax.data.bio import bio_to_spans

Catalogue = Mapping[str, Sequence[tuple[str, ...]]]


def _seed_order(n_seeds: int, n: int, rng: np.random.Generator) -> list[int]:
  """The seed of each of ``n`` outputs (module docs)."""
  if n_seeds < 1:
    raise ValueError("no seed examples to augment")
  if n < 0:
    raise ValueError(f"n must be >= 0, got {n}")
  order: list[int] = []
  while len(order) < n:
    order += rng.permutation(n_seeds).tolist()
  return order[:n]


def _retagged(seed: Example, tokens: Sequence[str], slots: Sequence[str], source: str
              ) -> Example:
  return dataclasses.replace(seed, text=" ".join(tokens), tokens=tuple(tokens),
                             slots=tuple(slots), source=source)


def upsample(seeds: Sequence[Example], n: int, rng: np.random.Generator) -> list[Example]:
  """``n`` copies of the seeds, each seed equally often (module docs); ``source`` ``upsample#k:``."""
  return [dataclasses.replace(seeds[s], source=f"upsample#{k}:{seeds[s].source}")
          for k, s in enumerate(_seed_order(len(seeds), n, rng))]


def slot_catalogue(examples: Sequence[Example]) -> dict[str, list[tuple[str, ...]]]:
  """``{slot type: sorted unique values}`` of ``examples``, each value a token tuple."""
  values: dict[str, set[tuple[str, ...]]] = {}
  for e in examples:
    for slot_type, first, stop in bio_to_spans(e.slots):
      values.setdefault(slot_type, set()).add(tuple(e.tokens[first:stop]))
  return {t: sorted(v) for t, v in sorted(values.items())}


def resample_slots(seed: Example, catalogue: Catalogue, rng: np.random.Generator,
                   source: str) -> Example:
  """``seed`` with each slot value replaced by a uniform draw from its type's catalogue values.

  The draw may give the seed's own value back. The tags are rebuilt for the
  new values' lengths (``B-x`` then ``I-x``), so they stay valid BIO; words
  outside slots are kept.

  Raises:
    KeyError: a slot type of ``seed`` is missing from ``catalogue``.
  """
  tokens: list[str] = []
  slots: list[str] = []
  position = 0
  for slot_type, first, stop in bio_to_spans(seed.slots):
    if not catalogue.get(slot_type):
      raise KeyError(f"slot type {slot_type!r} of {seed.source} has no catalogue values")
    tokens += seed.tokens[position:first]
    slots += ["O"] * (first - position)
    values = catalogue[slot_type]
    value = values[int(rng.integers(len(values)))]
    tokens += value
    slots += [f"B-{slot_type}"] + [f"I-{slot_type}"] * (len(value) - 1)
    position = stop
  tokens += seed.tokens[position:]
  slots += ["O"] * (len(seed.tokens) - position)
  return _retagged(seed, tokens, slots, source)


def slot_catalogue_resample(seeds: Sequence[Example], catalogue: Catalogue, n: int,
                            rng: np.random.Generator) -> list[Example]:
  """``n`` seeds with their slot values swapped for catalogue values of the same type.

  The catalogue (:func:`slot_catalogue`) is built from the run's reduced
  training data, every intent's. A seed without slots can only be copied;
  those copies are made all the same (the budget is ``n`` outputs per
  system). ``source``: ``catalogue#k:<seed's source>``.
  """
  return [resample_slots(seeds[s], catalogue, rng, f"catalogue#{k}:{seeds[s].source}")
          for k, s in enumerate(_seed_order(len(seeds), n, rng))]
