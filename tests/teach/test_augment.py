"""The baselines' augmented utterances: valid BIO, the seed's intent and slot types."""

from __future__ import annotations

import collections

import hypothesis
import hypothesis.strategies as st
import numpy as np
import pytest

from fsnlu_jax import teach
from fsnlu_jax.data import Example
from fsnlu_jax.data.bio import bio_to_spans, invalid_bio_tags

WORDS = st.sampled_from(["play", "the", "song", "new", "york", "jazz", "at", "5", "pm"])
TYPES = st.sampled_from(["city", "genre", "time"])


@st.composite
def examples(draw, intent="target"):
  """An example of ``intent`` made of O words and slot spans of 1-3 tokens."""
  tokens, slots = [], []
  for _ in range(draw(st.integers(1, 5))):
    if draw(st.booleans()):
      tokens.append(draw(WORDS))
      slots.append("O")
    else:
      t, n = draw(TYPES), draw(st.integers(1, 3))
      tokens += [draw(WORDS) for _ in range(n)]
      slots += [f"B-{t}"] + [f"I-{t}"] * (n - 1)
  return Example(" ".join(tokens), tuple(tokens), intent, tuple(slots), "dom",
                 f"hand:{draw(st.integers(0, 10**6))}")


def _check(out: list[Example], seeds: list[Example], method: str) -> None:
  by_source = {s.source: s for s in seeds}
  for k, e in enumerate(out):
    assert invalid_bio_tags(e.slots) == []
    assert e.source.startswith(f"{method}#{k}:")
    seed = by_source[e.source.split(":", 1)[1]]
    assert (e.intent, e.domain) == (seed.intent, seed.domain)
    assert [t for t, _, _ in bio_to_spans(e.slots)] == [t for t, _, _ in bio_to_spans(seed.slots)]
    assert e.text == " ".join(e.tokens)


@hypothesis.settings(max_examples=40, deadline=None, derandomize=True)
@hypothesis.given(seeds=st.lists(examples(), min_size=1, max_size=6),
                  others=st.lists(examples("other"), min_size=1, max_size=6),
                  n=st.integers(0, 25), rng_seed=st.integers(0, 100))
def test_augmented_examples_keep_intent_slot_types_and_valid_bio(seeds, others, n, rng_seed):
  seeds = [Example(e.text, e.tokens, e.intent, e.slots, e.domain, f"seed{i}")
           for i, e in enumerate(seeds)]
  rng = np.random.default_rng(rng_seed)
  up = teach.upsample(seeds, n, rng)
  assert len(up) == n
  _check(up, seeds, "upsample")
  by_source = {s.source: s for s in seeds}
  assert all((e.tokens, e.slots) == (by_source[e.source.split(":", 1)[1]].tokens,
                                     by_source[e.source.split(":", 1)[1]].slots) for e in up)
  # Every seed used floor(n / S) or ceil(n / S) times.
  uses = collections.Counter(e.source.split(":", 1)[1] for e in up)
  assert max(uses.values(), default=0) - min([uses[s.source] for s in seeds]) <= 1
  catalogue = teach.slot_catalogue(seeds + others)
  swapped = teach.slot_catalogue_resample(seeds, catalogue, n, rng)
  assert len(swapped) == n
  _check(swapped, seeds, "catalogue")
  for e in swapped:  # each new value is one of its type's catalogue values
    for t, a, b in bio_to_spans(e.slots):
      assert tuple(e.tokens[a:b]) in catalogue[t]


def test_the_catalogue_holds_sorted_unique_values_per_type():
  e = lambda tokens, slots: Example(" ".join(tokens), tokens, "i", slots, "d", "x")
  catalogue = teach.slot_catalogue([
      e(("to", "new", "york"), ("O", "B-city", "I-city")),
      e(("to", "boston"), ("O", "B-city")),
      e(("boston", "at", "5"), ("B-city", "O", "B-time")),
  ])
  assert catalogue == {"city": [("boston",), ("new", "york")], "time": [("5",)]}


def test_values_of_other_lengths_retag_the_span():
  seed = Example("fly to boston now", ("fly", "to", "boston", "now"), "i",
                 ("O", "O", "B-city", "O"), "d", "s")
  out = teach.resample_slots(seed, {"city": [("new", "york", "city")]},
                             np.random.default_rng(0), "x")
  assert out.tokens == ("fly", "to", "new", "york", "city", "now")
  assert out.slots == ("O", "O", "B-city", "I-city", "I-city", "O")
  with pytest.raises(KeyError, match="no catalogue values"):
    teach.resample_slots(seed, {}, np.random.default_rng(0), "x")
