"""Generation prompts for a new intent: LINGUIST, example extrapolation, label names alone.

Three ways to ask the teacher for utterances of an intent that has ``k`` seed
examples (or none):

* ``"linguist"`` (slot control): prompt ``i`` requests the slot types of the
  ``i mod k``-th seed that may anchor a prompt (every seed, unless
  ``repeated_labels`` is off), each a wildcard or (with chance ``1 - wildcard_rate``) a value
  drawn from the slot catalogue (values of that type seen anywhere in the
  training data; a label requested twice gets two different values where the
  catalogue has them), and shows the other seeds as examples;
* ``"extrapolate"`` (example extrapolation, Lee et al. 2021): the seeds as
  examples and no slot control (``slots=None``);
* ``"zero_shot"``: no examples; slot control over label names alone, each
  prompt requesting a random non-empty subset (possibly empty when the intent
  has no slots) of the given labels as wildcards, at most ``max_slots`` of them
  (training targets name 1-4 slots; an intent with 10 slot types would
  otherwise ask for more than an utterance says, and more than the teacher's
  output length holds).

The numbering of labels is random per prompt, as in training. A seed with
two spans of one label (``convert [5 dollars ] to [5 euros ]``) anchors a prompt
that requests the label twice (``repeated_labels``, default on); off, such seeds
never anchor a prompt, as before stop 23 (HWU64 ``qa_currency``: 81% of its
training utterances, so its prompts came only from the rest).
"""

from __future__ import annotations

from typing import Literal, Mapping, Sequence

import numpy as np

from fsnlu_jax.data.schema import Example
from fsnlu_jax.teach.format import MAX_EXAMPLES, Prompt, SlotRequest
from fsnlu_jax.teach.instructions import make_prompt, usable_as_target

Mode = Literal["linguist", "extrapolate", "zero_shot"]
MODES = ("linguist", "extrapolate", "zero_shot")


def _spans(example: Example) -> list[str]:
  """The slot types of ``example``'s spans, in order."""
  return [t[2:] for t in example.slots if t.startswith("B-")]


def generation_prompts(intent: str, seeds: Sequence[Example], count: int, *, mode: Mode,
                       seed: int, catalogue: Mapping[str, Sequence[tuple[str, ...]]] | None = None,
                       wildcard_rate: float = 0.5, labels: Sequence[str] = (),
                       max_examples: int = MAX_EXAMPLES, max_slots: int = 4,
                       repeated_labels: bool = True) -> list[Prompt]:
  """``count`` prompts for ``intent`` (see the module docstring).

  Args:
    intent: the new intent's name.
    seeds: its labelled examples (ignored by ``"zero_shot"``).
    count: prompts to make.
    mode: ``"linguist"``, ``"extrapolate"`` or ``"zero_shot"``.
    seed: the draws' seed.
    catalogue: slot type -> values (word tuples) for fixed values (``"linguist"``);
      None: every requested slot is a wildcard.
    wildcard_rate: chance a requested slot is a wildcard when a catalogue is given.
    labels: the intent's slot types (``"zero_shot"``; default: the seeds').
    max_examples: most seed examples shown in a prompt.
    max_slots: most slots a ``"zero_shot"`` prompt requests.
    repeated_labels: a seed with several spans of one label may anchor a
      prompt (False: only seeds with one span per label, the old behaviour).

  Raises:
    ValueError: an unknown mode, or ``"linguist"`` / ``"extrapolate"`` without seeds.
  """
  if mode not in MODES:
    raise ValueError(f"unknown mode {mode!r}; use one of {MODES}")
  rng = np.random.default_rng(seed)
  usable = [s for s in seeds if repeated_labels or usable_as_target(s)]
  if mode != "zero_shot" and not usable:
    raise ValueError(f"mode {mode!r} needs seed examples of {intent!r}")
  names = sorted(set(labels) or {t for s in seeds for t in s.slot_types})
  out = []
  for i in range(count):
    if mode == "zero_shot":
      chosen = [n for n in names if rng.random() < 0.5]
      if names and not chosen:
        chosen = [names[int(rng.integers(len(names)))]]
      if len(chosen) > max_slots:
        chosen = sorted(rng.choice(chosen, size=max_slots, replace=False).tolist())
      out.append(make_prompt(intent, (), tuple(SlotRequest(n) for n in chosen), rng,
                             extra_labels=names))
      continue
    anchor = usable[i % len(usable)]
    others = [s for s in seeds if s is not anchor]
    shown = [others[j] for j in rng.permutation(len(others))[:max_examples]]
    if mode == "extrapolate":
      shown = [seeds[j] for j in rng.permutation(len(seeds))[:max_examples]]
      out.append(make_prompt(intent, shown, None, rng))
      continue
    requests = []
    for label in _spans(anchor):
      values = (catalogue or {}).get(label, ())
      if values and rng.random() >= wildcard_rate:
        # A label requested twice gets two different values where the catalogue has them
        # ("from 5 dollars to 5 dollars" teaches nothing); the draw is the same as for a
        # first request, so prompts without a repeated label are unchanged.
        taken = {r.value for r in requests if r.label == label}
        fresh = [v for v in values if tuple(v) not in taken] or values
        requests.append(SlotRequest(label, tuple(fresh[int(rng.integers(len(fresh)))])))
      else:
        requests.append(SlotRequest(label))
    out.append(make_prompt(intent, shown, tuple(requests), rng))
  return out
