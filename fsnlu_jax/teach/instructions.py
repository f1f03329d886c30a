"""Instruction examples for the teacher: (prompt, annotated target) pairs from labelled data.

Each labelled utterance ``t`` becomes one training pair (LINGUIST, Sec. 3):
the prompt asks for an utterance of ``t``'s intent with ``t``'s slots, each
with its value fixed (copy it) or a wildcard (choose one), and shows ``k``
other utterances of the intent, ``k`` drawn from 0 to :data:`MAX_EXAMPLES`
(0: from the label names alone); the target is ``t`` rendered with the
prompt's numbers. The numbering of labels is a fresh random permutation for
every pair, so the teacher learns to read the map. A share of prompts has no
slot control (``slots=None``: any slots of the intent), the form example
extrapolation uses.

What cannot be a target is counted, never silently dropped: an utterance that
names one slot type twice, unless ``repeated_labels`` (then its prompt requests
the label twice and the target has two spans of its number; off by default,
which is how every teacher before stop 23 was trained), words the
format cannot render (brackets), a prompt that would not fit the encoder
(examples are removed, counted, until it fits).
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Callable, Sequence

import numpy as np

from fsnlu_jax.data.schema import Example
from fsnlu_jax.teach.format import (MAX_EXAMPLES, FormatError, Prompt, SlotRequest,
                                    render_example, render_prompt)


@dataclasses.dataclass(frozen=True)
class InstructionConfig:
  """How training prompts are drawn.

  Attributes:
    max_examples: most example utterances in a prompt (``k`` is uniform in
      ``0..max_examples``).
    wildcard_rate: chance that a requested slot is a wildcard rather than fixed.
    free_rate: chance that a prompt has no slot control (``slots=None``); a
      target with a repeated label always gets slot control, so with
      ``repeated_labels`` the realised share is a little lower.
    repeated_labels: utterances with several spans of one slot type are targets
      too (else counted in ``repeated_slot_type`` and left out).
  """

  max_examples: int = MAX_EXAMPLES
  wildcard_rate: float = 0.5
  free_rate: float = 0.15
  repeated_labels: bool = False


@dataclasses.dataclass
class InstructionStats:
  """What became a pair, and what could not, by reason."""

  pairs: int = 0
  repeated_slot_type: int = 0
  unrenderable: int = 0
  examples_removed_to_fit: int = 0
  per_intent: collections.Counter = dataclasses.field(default_factory=collections.Counter)


@dataclasses.dataclass(frozen=True)
class Instruction:
  """One training pair: the prompt and the annotated utterance it should produce."""

  prompt: Prompt
  source: str  # the rendered prompt the teacher reads
  target: str  # the rendered annotated utterance it should write
  origin: str  # the target example's ``source`` (file:line)


def usable_as_target(example: Example) -> bool:
  """An utterance with at most one span of each slot type: a target without
  ``repeated_labels``, and one that may get a prompt without slot control."""
  starts = [t for t in example.slots if t.startswith("B-")]
  return len(starts) == len(set(starts))


def slot_requests(example: Example, rng: np.random.Generator, wildcard_rate: float
                  ) -> tuple[SlotRequest, ...]:
  """``example``'s spans in order, each a wildcard or its value."""
  out, label, words = [], None, []
  for word, tag in zip(example.tokens, example.slots):
    if tag.startswith("I-") and label == tag[2:]:
      words.append(word)
      continue
    if label is not None:
      out.append((label, tuple(words)))
    label, words = (tag[2:], [word]) if tag.startswith("B-") else (None, [])
  if label is not None:
    out.append((label, tuple(words)))
  return tuple(SlotRequest(lab, None if rng.random() < wildcard_rate else value)
               for lab, value in out)


def make_prompt(intent: str, examples: Sequence[Example], slots: tuple[SlotRequest, ...] | None,
                rng: np.random.Generator, *, extra_labels: Sequence[str] = ()) -> Prompt:
  """A prompt whose labels (those of ``slots``, ``examples`` and ``extra_labels``)
  get a random numbering 1..n."""
  labels = {s.label for s in slots or ()} | {t for e in examples for t in e.slot_types}
  labels |= set(extra_labels)
  order = sorted(labels)
  numbers = dict(zip(order, (rng.permutation(len(order)) + 1).tolist()))
  return Prompt(intent=intent, numbers=numbers, slots=slots, examples=tuple(examples))


def build_instructions(examples: Sequence[Example], config: InstructionConfig, *, seed: int,
                       fits: Callable[[str], bool] = lambda source: True,
                       ) -> tuple[list[Instruction], InstructionStats]:
  """One :class:`Instruction` per usable example (see the module docstring).

  Args:
    examples: labelled utterances of many intents (the target intents of an
      evaluation already removed: the teacher must never see them).
    config: how prompts are drawn.
    seed: the draws' seed (the same seed gives the same pairs).
    fits: whether a rendered prompt fits the teacher's encoder; examples are
      removed from a prompt until it does.
  """
  rng = np.random.default_rng(seed)
  by_intent: dict[str, list[Example]] = collections.defaultdict(list)
  for e in examples:
    by_intent[e.intent].append(e)
  stats, out = InstructionStats(), []
  for target in examples:
    if not (config.repeated_labels or usable_as_target(target)):
      stats.repeated_slot_type += 1
      continue
    pool = [e for e in by_intent[target.intent] if e is not target]
    k = min(int(rng.integers(0, config.max_examples + 1)), len(pool))
    shown = [pool[i] for i in rng.choice(len(pool), size=k, replace=False)] if k else []
    # Without slot control each number is used at most once, so a target with a
    # repeated label always gets slot control (same draws as before otherwise).
    free = rng.random() < config.free_rate and usable_as_target(target)
    slots = None if free else slot_requests(target, rng, config.wildcard_rate)
    try:
      while True:
        prompt = make_prompt(target.intent, shown, slots, rng,
                             extra_labels=target.slot_types)
        source = render_prompt(prompt)
        if fits(source) or not shown:
          break
        shown.pop()
        stats.examples_removed_to_fit += 1
      text = render_example(target, prompt.numbers)
    except FormatError:
      stats.unrenderable += 1
      continue
    out.append(Instruction(prompt, source, text, target.source))
    stats.pairs += 1
    stats.per_intent[target.intent] += 1
  return out, stats
