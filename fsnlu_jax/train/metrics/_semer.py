"""Semantic error rate (SemER): intent and slots as items, substitutions, deletions, insertions."""

from __future__ import annotations

import collections
import dataclasses
from typing import Any, Hashable, Iterable, Sequence

from fsnlu_jax.data.bio import bio_to_spans


SlotItem = tuple[str, tuple[str, ...]]  # (slot type, value as tokens)


def slot_items(tokens: Sequence[str], tags: Sequence[str]) -> list[SlotItem]:
  """The ``(type, value tokens)`` slots of one tagged utterance, for SemER.

  >>> slot_items(["fly", "to", "new", "york"], ["O", "O", "B-city", "I-city"])
  [('city', ('new', 'york'))]
  """
  if len(tokens) != len(tags):
    raise ValueError(f"slot_items: {len(tokens)} tokens but {len(tags)} tags")
  return [(t, tuple(tokens[a:b])) for t, a, b in bio_to_spans(tags)]


@dataclasses.dataclass(frozen=True)
class SemanticErrors:
  """Substitutions, deletions and insertions against ``n_ref`` reference items."""

  substitutions: int = 0
  deletions: int = 0
  insertions: int = 0
  n_ref: int = 0

  @property
  def errors(self) -> int:
    return self.substitutions + self.deletions + self.insertions

  @property
  def rate(self) -> float:
    """SemER ``(S + D + I) / n_ref``; can exceed 1 through insertions."""
    if not self.n_ref:
      raise ValueError("SemER: no reference items")
    return self.errors / self.n_ref

  def __add__(self, other: SemanticErrors) -> SemanticErrors:
    return SemanticErrors(self.substitutions + other.substitutions,
                          self.deletions + other.deletions,
                          self.insertions + other.insertions,
                          self.n_ref + other.n_ref)


def _slot_value(value: str | Sequence[str]) -> tuple[str, ...]:
  # Values are compared as token sequences: a string is split on whitespace so
  # "new  york" and ("new", "york") are the same value.
  return tuple(value.split()) if isinstance(value, str) else tuple(value)


def semantic_errors(
    ref: tuple[Hashable, Iterable[tuple[str, str | Sequence[str]]]],
    hyp: tuple[Hashable, Iterable[tuple[str, str | Sequence[str]]]],
) -> SemanticErrors:
  """SemER error counts of one utterance.

  The intent is one item: a wrong intent is one substitution. Slots are
  ``(type, value)`` pairs, values compared as token sequences (position in
  the utterance is ignored). Matching rule, per slot type ``t`` with reference
  values ``R_t`` and hypothesis values ``H_t`` (multisets):

  1. exact matches ``m = |R_t ∩ H_t|`` are correct;
  2. of the rest, ``s = min(|R_t| - m, |H_t| - m)`` pairs are substitutions
     (right type, wrong value);
  3. reference slots left over are deletions, hypothesis slots left over are
     insertions.

  So a slot with the right value but the wrong type is a deletion plus an
  insertion, and the number of reference items is ``1 + len(ref slots)``.

  Args:
    ref: ``(intent, slots)`` of the reference.
    hyp: ``(intent, slots)`` of the hypothesis.

  Returns:
    :class:`SemanticErrors` of this utterance.

  References:
    Goyal, Metallinou & Matsoukas, "Fast and Scalable Expansion of Natural
    Language Understanding Functionality for Intelligent Agents", NAACL-HLT
    2018 (industry track); the slot error rate of Makhoul et al., "Performance
    measures for information extraction", DARPA Broadcast News Workshop 1999.

  >>> semantic_errors(("play", [("artist", "adele")]),
  ...                 ("play", [("artist", "adel"), ("room", "kitchen")]))
  SemanticErrors(substitutions=1, deletions=0, insertions=1, n_ref=2)
  """
  ref_intent, ref_slots = ref
  hyp_intent, hyp_slots = hyp
  ref_by_type: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
  hyp_by_type: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
  for slot_type, value in ref_slots:
    ref_by_type[slot_type][_slot_value(value)] += 1
  for slot_type, value in hyp_slots:
    hyp_by_type[slot_type][_slot_value(value)] += 1
  subs = int(ref_intent != hyp_intent)
  dels = ins = 0
  n_ref = 1
  for slot_type in set(ref_by_type) | set(hyp_by_type):
    r, h = ref_by_type[slot_type], hyp_by_type[slot_type]
    n_r, n_h = sum(r.values()), sum(h.values())
    matched = sum((r & h).values())
    s = min(n_r - matched, n_h - matched)
    subs += s
    dels += n_r - matched - s
    ins += n_h - matched - s
    n_ref += n_r
  return SemanticErrors(subs, dels, ins, n_ref)


def corpus_semantic_errors(refs: Sequence[Any], hyps: Sequence[Any]) -> SemanticErrors:
  """:func:`semantic_errors` summed over utterances (``refs[i]`` vs ``hyps[i]``)."""
  if len(refs) != len(hyps):
    raise ValueError(f"SemER: {len(refs)} references but {len(hyps)} hypotheses")
  return sum((semantic_errors(r, h) for r, h in zip(refs, hyps)), SemanticErrors())


def semantic_error_rate(refs: Sequence[Any], hyps: Sequence[Any]) -> float:
  """Corpus SemER: all errors over all reference items (not a mean of rates).

  Args:
    refs: ``(intent, slots)`` per utterance, slots ``[(type, value), ...]``.
    hyps: the same for the hypotheses, aligned with ``refs``.

  Returns:
    ``sum(S + D + I) / sum(1 + len(ref slots))``, see :func:`semantic_errors`.

  References:
    Goyal, Metallinou & Matsoukas, NAACL-HLT 2018 (industry track).

  >>> semantic_error_rate([("wake", [("time", "7 am")]), ("stop", [])],
  ...                     [("wake", [("time", "7 am")]), ("play", [])])
  0.3333333333333333
  """
  return corpus_semantic_errors(refs, hyps).rate
