"""The 10-shot novel-intent protocol: which examples a run keeps, and the target intents."""

from __future__ import annotations

import pytest

from fsnlu_jax import teach
from fsnlu_jax.data import Example


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
