"""Filters for generated utterances: de-duplication and the round-trip intent check.

Each filter returns the examples it keeps, in their order, and a count of
every example it dropped, by reason (nothing is dropped silently):

* :func:`deduplicate`: ``duplicate_of_existing`` (the normalised token
  sequence is already in the training data, seeds included) and
  ``duplicate_within_generated`` (an earlier generated example has it).
  Normalised: tokens lower-cased and joined by one space, so case and
  spacing differences do not make a new utterance; the slot tags are not
  compared (the same words with other tags teach nothing new to the intent
  classifier and contradict the seeds for the slot tagger).
* :func:`well_formed`: ``bracket_like`` (a ``(`` or ``)`` word: the teacher
  took it for its slot bracket and wrote the slot's number as a word after it,
  ``at the ( 4 4th of march )``; no SNIPS or HWU64 utterance has one) and
  ``no_carrier`` (every word inside a slot: a bare list of values such as
  ``chronicle 4 this``, with no words that say the intent; no SNIPS utterance
  and 0.8% of HWU64's are like that).
* :class:`RoundTripFilter`: ``round_trip_disagrees``: a classifier trained on
  the run's reduced training data (every intent, the target's ``shots``
  seeds included) predicts another intent for the generated utterance. The
  classifier is a frozen sentence encoder (all-MiniLM-L6-v2 through
  :class:`fsnlu_jax.models.SentenceEncoder`) with a softmax layer fit by
  :func:`fsnlu_jax.models.fit_softmax_classifier`. Its training is **class
  balanced**: each intent's vectors are cycled up to the largest intent's
  count, so the 10-shot target weighs as much in the loss as an intent with
  2000 examples (unbalanced, the target is rarely predicted and the filter
  would drop nearly everything).
"""

from __future__ import annotations

import collections
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from fsnlu_jax.data import Example
from fsnlu_jax.data.schema import OUTSIDE
from fsnlu_jax.models import fit_softmax_classifier

Embed = Callable[[Sequence[str]], np.ndarray]  # texts -> [U, D] vectors

# The softmax layer's fit (full-batch Adam); the few-shot baseline's settings.
HEAD_STEPS = 200
HEAD_LEARNING_RATE = 0.05
HEAD_PENALTY = 1e-3


def normalise(tokens: Sequence[str]) -> str:
  """The form two utterances are compared in (module docs)."""
  return " ".join(t.lower() for t in tokens)


def deduplicate(generated: Sequence[Example], existing: Sequence[Example]
                ) -> tuple[list[Example], dict[str, int]]:
  """``generated`` less duplicates of ``existing`` and of each other; counts by reason."""
  seen_existing = {normalise(e.tokens) for e in existing}
  seen: set[str] = set()
  kept, dropped = [], collections.Counter()
  for e in generated:
    key = normalise(e.tokens)
    if key in seen_existing:
      dropped["duplicate_of_existing"] += 1
    elif key in seen:
      dropped["duplicate_within_generated"] += 1
    else:
      seen.add(key)
      kept.append(e)
  return kept, dict(dropped)


_BRACKET_LIKE = frozenset("()")


def well_formed(generated: Sequence[Example]) -> tuple[list[Example], dict[str, int]]:
  """``generated`` less outputs with a bracket-like word or no word outside slots; counts by reason.

  >>> from fsnlu_jax.data import Example
  >>> def example(tokens, slots):
  ...   return Example(" ".join(tokens), tuple(tokens), "a", tuple(slots), "d", "g")
  >>> ok = example(["add", "x", "to", "y"], ["O", "B-s", "O", "B-p"])
  >>> bare = example(["x", "y"], ["B-s", "B-p"])
  >>> paren = example(["at", "(", "4", "x"], ["O", "O", "O", "B-s"])
  >>> kept, dropped = well_formed([ok, bare, paren])
  >>> kept == [ok], dropped
  (True, {'no_carrier': 1, 'bracket_like': 1})
  """
  kept, dropped = [], collections.Counter()
  for e in generated:
    if _BRACKET_LIKE & set(e.tokens):
      dropped["bracket_like"] += 1
    elif all(t != OUTSIDE for t in e.slots):
      dropped["no_carrier"] += 1
    else:
      kept.append(e)
  return kept, dict(dropped)


def cached_embed(embed: Embed) -> Embed:
  """``embed`` that computes each distinct text once over all its calls.

  Runs of one dataset share most of their training texts: the cache makes
  the round-trip classifier of every run after the first cost only its new
  texts.
  """
  cache: dict[str, np.ndarray] = {}

  def fn(texts: Sequence[str]) -> np.ndarray:
    new = sorted({t for t in texts if t not in cache})
    if new:
      cache.update(zip(new, np.asarray(embed(new), np.float32)))
    return np.stack([cache[t] for t in texts]) if texts else np.zeros((0, 0), np.float32)

  return fn


def encoder_embed(model_dir) -> Embed:
  """The sentence vectors of the pretrained encoder in ``model_dir`` (e.g. all-MiniLM-L6-v2)."""
  from fsnlu_jax.models import SentenceEncoder  # pylint: disable=g-import-not-at-top
  encoder = SentenceEncoder.from_pretrained(model_dir)
  return lambda texts: encoder.embed(list(texts), desc=None)


@jax.jit
def _fit(support, mask, probe):
  return fit_softmax_classifier(support, mask, jnp.ones(support.shape[0], bool), probe,
                                steps=HEAD_STEPS, learning_rate=HEAD_LEARNING_RATE,
                                weight_decay=HEAD_PENALTY)


class RoundTripFilter:
  """Keeps a generated utterance when a classifier of the training data gives it the target intent.

  Args:
    train: the run's reduced training examples (every intent).
    embed: texts to ``[U, D]`` vectors (:func:`encoder_embed`, best wrapped
      in :func:`cached_embed`).
  """

  def __init__(self, train: Sequence[Example], embed: Embed):
    self.embed = embed
    self.intents = sorted({e.intent for e in train})
    if len(self.intents) < 2:
      raise ValueError(f"the round-trip classifier needs >= 2 intents, got {self.intents}")
    vectors = np.asarray(embed([e.text for e in train]), np.float32)
    labels = np.array([self.intents.index(e.intent) for e in train])
    rows = [np.flatnonzero(labels == c) for c in range(len(self.intents))]
    k = max(len(r) for r in rows)
    # Class balance: each intent's rows cycled up to k (module docs).
    support = np.stack([vectors[np.resize(r, k)] for r in rows])  # --> [C, K, D]
    d = vectors.shape[1]
    # The fitted W, b read back as the logits of the basis vectors and of zero.
    probe = np.concatenate([np.eye(d, dtype=np.float32), np.zeros((1, d), np.float32)])
    logits = np.asarray(_fit(jnp.asarray(support), jnp.ones(support.shape[:2], bool),
                             jnp.asarray(probe)))
    self.bias = logits[-1]
    self.weight = logits[:-1] - self.bias

  def predict(self, examples: Sequence[Example]) -> list[str]:
    """The classifier's intent of each example."""
    if not examples:
      return []
    logits = np.asarray(self.embed([e.text for e in examples])) @ self.weight + self.bias
    return [self.intents[i] for i in np.argmax(logits, axis=1)]

  def __call__(self, generated: Sequence[Example]) -> tuple[list[Example], dict[str, int]]:
    """The generated examples whose predicted intent is their own; counts dropped by reason."""
    predicted = self.predict(generated)
    kept = [e for e, p in zip(generated, predicted) if p == e.intent]
    dropped = len(generated) - len(kept)
    return kept, ({"round_trip_disagrees": dropped} if dropped else {})
