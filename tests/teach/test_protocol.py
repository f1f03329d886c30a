"""The 10-shot novel-intent protocol: which examples a run keeps, and the target intents."""

from __future__ import annotations

import pytest

from fsnlu_jax import teach
from fsnlu_jax.data import Example
from fsnlu_jax.teach import format as fmt
from fsnlu_jax.teach import instructions


def _example(intent: str, i: int, slotted: bool = True) -> Example:
  tokens = ("play", f"w{i}")
  return Example(" ".join(tokens), tokens, intent, ("O", "B-x" if slotted else "O"), intent,
                 f"hand:{intent}[{i}]")


TRAIN = [_example(intent, i) for i in range(30) for intent in ("a", "b", "c")]


def test_the_target_keeps_its_shots_and_the_others_everything():
  split = teach.novel_intent_split(TRAIN, "b", shots=10, seed=3)
  assert len(split.seeds) == 10 and split.dropped == 20
  assert [e for e in split.train if e.intent == "b"] == split.seeds
  assert [e for e in split.train if e.intent != "b"] == [e for e in TRAIN if e.intent != "b"]
  assert len({e.source for e in split.seeds}) == 10  # without replacement
  # The input order is kept.
  assert split.train == [e for e in TRAIN if e in set(split.train)]


def test_a_seed_draws_the_same_shots_and_another_seed_others():
  draw = lambda seed: [e.source for e in teach.novel_intent_split(TRAIN, "a", seed=seed).seeds]
  assert draw(0) == draw(0)
  assert draw(0) != draw(1)


@pytest.mark.parametrize("target, shots, message", [
    ("a", 31, "30 training examples, fewer than the 31"),
    ("zzz", 10, "intents: ['a', 'b', 'c']"),
    ("a", 0, "at least 1"),
])
def test_too_few_examples_is_an_error(target, shots, message):
  with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
    teach.novel_intent_split(TRAIN, target, shots=shots, seed=0)


def test_validation_drops_the_target_and_refuses_to_be_empty():
  assert {e.intent for e in teach.validation_without(TRAIN, "a")} == {"b", "c"}
  with pytest.raises(ValueError, match="no validation example"):
    teach.validation_without([e for e in TRAIN if e.intent == "a"], "a")


def test_hwu64_targets_follow_the_count_rule_only():
  # 8 eligible intents; one too small, one with too few slots, one with too few test examples.
  train, test = [], []
  for k in range(11):
    intent = f"s{k}_i"
    n_train = 100 if k == 8 else 130
    slotted = 50 if k == 9 else n_train
    train += [_example(intent, i, slotted=i < slotted) for i in range(n_train)]
    test += [_example(intent, i) for i in range(5 if k == 10 else 25)]
  splits = teach.ProtocolSplits("hwu64", "hand", train, [], test, {})
  chosen, info = teach.target_intents(splits)
  assert info["eligible"] == [f"s{k}_i" for k in range(8)]
  assert len(chosen) == 6 and set(chosen) <= set(info["eligible"])
  assert teach.target_intents(splits)[0] == chosen  # fixed draw


def test_zero_shot_prompts_request_at_most_max_slots_of_the_labels():
  labels = [f"slot{i}" for i in range(10)]
  prompts = teach.generation_prompts("book_it", (), 200, mode="zero_shot", seed=0,
                                     labels=labels, max_slots=3)
  sizes = [len(p.slots) for p in prompts]
  assert min(sizes) >= 1 and max(sizes) == 3  # 10 labels at p=0.5: most draws exceed 3
  for p in prompts:
    asked = [s.label for s in p.slots]
    assert len(set(asked)) == len(asked) and set(asked) <= set(labels)
    assert all(s.value is None for s in p.slots) and not p.examples


def _currency(i: int, spans: int) -> Example:
  """``convert usd to eur`` with one or two ``currency`` spans."""
  tokens = ("convert", f"c{i}", "to", f"d{i}")
  slots = ("O", "B-currency", "O", "B-currency" if spans == 2 else "O")
  return Example(" ".join(tokens), tokens, "qa_currency", slots, "qa", f"hand:{i}")


def test_a_seed_with_a_repeated_label_anchors_a_prompt_asking_it_twice():
  """HWU64 qa_currency: most seeds name two currencies; off, they anchor nothing."""
  seeds = [_currency(0, 2), _currency(1, 1), _currency(2, 2)]
  catalogue = {"currency": [("usd",), ("euro",)]}
  on = teach.generation_prompts("qa_currency", seeds, 3, mode="linguist", seed=0,
                                catalogue=catalogue, wildcard_rate=0.0)
  assert [[s.label for s in p.slots] for p in on] == [["currency"] * 2, ["currency"],
                                                       ["currency"] * 2]
  assert all(s.value in catalogue["currency"] for p in on for s in p.slots)
  # Twins get different values while the catalogue has them (200 draws: a repeat would show).
  many = teach.generation_prompts("qa_currency", seeds[:1], 200, mode="linguist", seed=1,
                                  catalogue=catalogue, wildcard_rate=0.0)
  assert all(p.slots[0].value != p.slots[1].value for p in many)
  single = teach.generation_prompts("qa_currency", seeds[:1], 3, mode="linguist", seed=1,
                                    catalogue={"currency": [("usd",)]}, wildcard_rate=0.0)
  assert all(p.slots[0].value == p.slots[1].value == ("usd",) for p in single)  # none other
  off = teach.generation_prompts("qa_currency", seeds, 3, mode="linguist", seed=0,
                                 catalogue=catalogue, wildcard_rate=0.0, repeated_labels=False)
  assert [[s.label for s in p.slots] for p in off] == [["currency"]] * 3


def test_teacher_pairs_with_repeated_labels_only_when_asked_and_never_free():
  examples = [_currency(i, 1 + i % 2) for i in range(40)]
  off, stats = instructions.build_instructions(examples, instructions.InstructionConfig(), seed=0)
  assert stats.repeated_slot_type == 20 and len(off) == 20
  config = instructions.InstructionConfig(repeated_labels=True, free_rate=1.0)
  on, stats = instructions.build_instructions(examples, config, seed=0)
  assert stats.repeated_slot_type == 0 and len(on) == 40
  for pair in on:
    twice = pair.target.count("[") == 2
    # A target with two spans gets slot control (free prompts allow each number once).
    assert (pair.prompt.slots is not None) == twice
    labels = {n: label for label, n in pair.prompt.numbers.items()}
    fmt.parse_output(pair.target, labels, prompt=pair.prompt)  # the target honours its prompt
