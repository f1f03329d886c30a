"""De-duplication and the round-trip filter (on a bag-of-words embedding: no encoder needed)."""

from __future__ import annotations

import numpy as np

from fsnlu_jax import teach
from fsnlu_jax.data import Example

VOCAB = ["play", "music", "song", "jazz", "weather", "rain", "tomorrow", "sunny", "book", "table"]


def _ex(text: str, intent: str, source: str = "x") -> Example:
  tokens = tuple(text.split())
  return Example(text, tokens, intent, ("O",) * len(tokens), intent, source)


def bag_of_words(texts):
  return np.array([[t.lower().split().count(w) for w in VOCAB] for t in texts], np.float32)


def test_deduplicate_counts_each_reason():
  existing = [_ex("play jazz", "m")]
  generated = [_ex("Play  JAZZ", "m", "g0"), _ex("play song", "m", "g1"),
               _ex("play SONG", "m", "g2"), _ex("play music", "m", "g3")]
  kept, dropped = teach.deduplicate(generated, existing)
  assert [e.source for e in kept] == ["g1", "g3"]
  assert dropped == {"duplicate_of_existing": 1, "duplicate_within_generated": 1}


def test_round_trip_keeps_what_the_classifier_gives_the_target():
  # The target has 2 examples against 20 of each other intent: class balance lets it win.
  train = ([_ex("play music song", "music")] * 20 + [_ex("weather rain tomorrow", "weather")] * 20
           + [_ex("book table", "book"), _ex("book a table", "book")])
  calls = []
  embed = teach.cached_embed(lambda texts: calls.append(len(texts)) or bag_of_words(texts))
  keep = teach.RoundTripFilter(train, embed)
  assert calls == [4]  # the distinct texts only
  generated = [_ex("book table tomorrow", "book", "g0"), _ex("play jazz song", "book", "g1"),
               _ex("book a table", "book", "g2")]
  kept, dropped = keep(generated)
  assert [e.source for e in kept] == ["g0", "g2"]
  assert dropped == {"round_trip_disagrees": 1}
  assert keep.predict([_ex("sunny weather", "x")]) == ["weather"]
