"""The target domain's light intent-and-slot model: a log-linear intent classifier and a linear-chain CRF.

Active learning retrains the target model every round, for every strategy,
seed and domain: hundreds of fits. On a shared CPU the multitask bi-LSTM of
:mod:`fsnlu_jax.transfer` costs minutes per fit; this model costs about a
second and is the classic strong baseline at the data sizes of a new domain
(a few dozen to a few hundred utterances): a softmax over the hashed word
1-3-grams of the utterance (the committee's features) and a CRF over hashed
token-context features (word, neighbours, bigrams, affixes, shape), with BIO
constraints. Both are trained jointly, full batch, with Adam, in one jitted
``lax.scan``; training sets are padded to a power of two so a round reuses the
previous round's compile.

Shapes: ``N`` rows, ``L`` tokens, ``G`` features per token, ``F`` n-gram
features, ``H`` buckets, ``C`` intents, ``T`` tags.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from fsnlu_jax import kernels
from fsnlu_jax.active.features import compact, expand, hash_ngrams, hash_tokens
from fsnlu_jax.data import Example

OTHER = "<other>"  # the intent of an annotated utterance from another domain


@dataclasses.dataclass(frozen=True)
class TaggerConfig:
  """Training of the light model.

  Attributes:
    steps: full-batch Adam steps.
    learning_rate: peak rate, cosine-decayed.
    l2: weight decay of the intent and emission weights.
    num_buckets: hash buckets of each feature table.
    length: tokens per row (longer utterances are an error, never truncated).
  """

  steps: int = 150
  learning_rate: float = 0.1
  l2: float = 1e-4
  num_buckets: int = 1 << 17
  length: int = 48


class TaggerParams(NamedTuple):
  intent: jax.Array  # [C, H] intent weight per bucket
  intent_bias: jax.Array  # [C]
  emission: jax.Array  # [T, H] tag weight per token-feature bucket
  transitions: jax.Array  # [T, T]
  start: jax.Array  # [T]
  end: jax.Array  # [T]


@dataclasses.dataclass(frozen=True)
class Tagger:
  """A trained light model and its label names."""

  params: TaggerParams
  intents: tuple[str, ...]
  tags: tuple[str, ...]
  config: TaggerConfig


class Encoded(NamedTuple):
  ngram_ids: np.ndarray  # [N, F]
  ngram_mask: np.ndarray  # [N, F]
  token_ids: np.ndarray  # [N, L, G]
  feature_mask: np.ndarray  # [N, L, G]
  token_mask: np.ndarray  # [N, L]


def encode(tokens: Sequence[Sequence[str]], config: TaggerConfig) -> Encoded:
  """Host-side features of tokenised utterances (widths fixed by ``config.length``)."""
  width = -(-3 * config.length // 16) * 16  # every 1-3-gram of the longest allowed row
  grams = hash_ngrams(tokens, num_buckets=config.num_buckets, width=width)
  token_ids, feature_mask, token_mask = hash_tokens(tokens, length=config.length,
                                                    num_buckets=config.num_buckets)
  return Encoded(grams.ids, grams.mask, token_ids, feature_mask, token_mask)


def _constraints(tags: Sequence[str]):
  allowed, start_allowed = kernels.bio_transition_mask(list(tags))
  return jnp.asarray(allowed), jnp.asarray(start_allowed)


def _outputs(params: TaggerParams, x: Encoded, allowed, start_allowed):
  """Intent logits ``[N, C]`` and the CRF's (emissions ``[N, L, T]``, transitions, start, end)."""
  logits = kernels.hashed_scores(params.intent, params.intent_bias, x.ngram_ids, x.ngram_mask)
  n, length, g = x.token_ids.shape
  emissions = kernels.hashed_scores(params.emission, jnp.zeros(params.emission.shape[0]),
                                    x.token_ids.reshape(n * length, g),
                                    x.feature_mask.reshape(n * length, g))
  emissions = emissions.reshape(n, length, -1)  # --> [N, L, T]
  transitions = kernels.masked_transitions(params.transitions, allowed)
  start = kernels.masked_transitions(params.start, start_allowed)
  return logits, (emissions, transitions, start, params.end)


def _loss(params, x: Encoded, intents, tags, row_weight, slot_weight, allowed, start_allowed, l2):
  logits, (emissions, transitions, start, end) = _outputs(params, x, allowed, start_allowed)
  intent_nll = optax.softmax_cross_entropy_with_integer_labels(logits, intents)
  slot_nll = -kernels.crf_log_likelihood(emissions, tags, x.token_mask, transitions,
                                         start=start, end=end)
  data = (jnp.sum(intent_nll * row_weight) / jnp.maximum(jnp.sum(row_weight), 1.0)
          + jnp.sum(slot_nll * slot_weight) / jnp.maximum(jnp.sum(slot_weight), 1.0))
  return data + 0.5 * l2 * (jnp.sum(jnp.square(params.intent)) + jnp.sum(jnp.square(params.emission)))


@functools.partial(jax.jit, static_argnames=("num_intents", "num_tags", "num_buckets", "steps",
                                             "learning_rate", "l2"))
def _fit(x, intents, tags, row_weight, slot_weight, allowed, start_allowed, *, num_intents, num_tags,
         num_buckets, steps, learning_rate, l2):
  ngram_buckets, token_buckets = num_buckets
  params = TaggerParams(jnp.zeros((num_intents, ngram_buckets)), jnp.zeros(num_intents),
                        jnp.zeros((num_tags, token_buckets)), jnp.zeros((num_tags, num_tags)),
                        jnp.zeros(num_tags), jnp.zeros(num_tags))
  optimizer = optax.adam(optax.cosine_decay_schedule(learning_rate, steps))
  grad = jax.grad(_loss)

  def step(carry, _):
    params, opt_state = carry
    g = grad(params, x, intents, tags, row_weight, slot_weight, allowed, start_allowed, l2)
    updates, opt_state = optimizer.update(g, opt_state, params)
    return (optax.apply_updates(params, updates), opt_state), None

  (params, _), _ = jax.lax.scan(step, (params, optimizer.init(params)), None, length=steps)
  return params


def _pad_rows(array: np.ndarray, size: int) -> np.ndarray:
  return np.pad(array, [(0, size - array.shape[0])] + [(0, 0)] * (array.ndim - 1))


def train_tagger(examples: Sequence[Example], intents: Sequence[str], tags: Sequence[str],
                 config: TaggerConfig = TaggerConfig()) -> Tagger:
  """Fits the light model on annotated examples (another domain's: intent :data:`OTHER`).

  The loss is the mean intent cross-entropy over all examples plus the mean
  CRF negative log-likelihood over the target domain's (intent not
  :data:`OTHER`), plus L2.

  Args:
    examples: the annotated set.
    intents: intent names (including :data:`OTHER` where negatives are used).
    tags: BIO tag names, ``O`` first.
    config: :class:`TaggerConfig`.
  """
  if not examples:
    raise ValueError("the target model needs at least one annotated example")
  intent_id = {name: i for i, name in enumerate(intents)}
  tag_id = {name: i for i, name in enumerate(tags)}
  n = len(examples)
  size = max(64, 1 << (n - 1).bit_length())
  x = encode([e.tokens for e in examples], config)
  # Train on the buckets in use (features.compact: the same fit, far less work).
  ngram_ids, ngram_buckets = compact(x.ngram_ids, x.ngram_mask)
  token_ids, token_buckets = compact(x.token_ids, x.feature_mask)
  x = x._replace(ngram_ids=ngram_ids, token_ids=token_ids)
  x = Encoded(*(_pad_rows(a, size) for a in x))
  y_intent = np.zeros(size, np.int32)
  y_tags = np.zeros((size, config.length), np.int32)
  for i, e in enumerate(examples):
    y_intent[i] = intent_id[e.intent]
    y_tags[i, :len(e.slots)] = [tag_id[t] for t in e.slots]
  row_weight = (np.arange(size) < n).astype(np.float32)
  # Another domain's utterance teaches the intent head what the domain is not;
  # its slots are another schema's, so it does not train the CRF (its all-O
  # tags would only teach the CRF to miss the domain's slots).
  slot_weight = row_weight * np.pad([e.intent != OTHER for e in examples], (0, size - n))
  allowed, start_allowed = _constraints(tags)
  params = _fit(x, y_intent, y_tags, row_weight, slot_weight, allowed, start_allowed,
                num_intents=len(intents), num_tags=len(tags),
                num_buckets=(len(ngram_buckets), len(token_buckets)),
                steps=config.steps, learning_rate=config.learning_rate, l2=config.l2)
  params = params._replace(
      intent=jnp.asarray(expand(params.intent, ngram_buckets, config.num_buckets)),
      emission=jnp.asarray(expand(params.emission, token_buckets, config.num_buckets)))
  return Tagger(params, tuple(intents), tuple(tags), config)


class Predictions(NamedTuple):
  intent_probs: np.ndarray  # [N, C]
  tags: np.ndarray  # [N, L] Viterbi tag ids (0 on padding)
  crf_confidence: np.ndarray  # [N] p(Viterbi path | x)
  crf_min_marginal: np.ndarray | None  # [N] the lowest marginal of a Viterbi tag, if asked for


@functools.partial(jax.jit, static_argnames=("crf", "marginals"))
def _predict(params, x, allowed, start_allowed, *, crf, marginals):
  logits, (emissions, transitions, start, end) = _outputs(params, x, allowed, start_allowed)
  probs = jax.nn.softmax(logits, axis=-1)
  if not crf:  # intent only: no CRF pass at all
    return probs, jnp.zeros(x.token_mask.shape, jnp.int32), jnp.zeros(probs.shape[0]), \
        jnp.zeros(probs.shape[0])
  confidence, tags = kernels.crf_viterbi_confidence(emissions, x.token_mask, transitions,
                                                    start=start, end=end)
  min_marginal = (kernels.crf_marginal_confidence(emissions, x.token_mask, transitions,
                                                  start=start, end=end)
                  if marginals else jnp.zeros_like(confidence))
  return probs, tags, confidence, min_marginal


def predict(tagger: Tagger, tokens: Sequence[Sequence[str]], *, chunk: int = 1024,
            crf: bool = True, marginals: bool = False) -> Predictions:
  """Intent probabilities, Viterbi tags and the CRF's confidence, in fixed-size chunks.

  Args:
    tagger: the trained model.
    tokens: ``N`` utterances.
    chunk: rows per device call (every call has this shape, so one compile).
    crf: run the CRF (tags and confidence); False: intent probabilities only
      (``tags`` and ``crf_confidence`` are then zeros).
    marginals: also the marginal-based confidence (a forward-backward pass more).
  """
  allowed, start_allowed = _constraints(tagger.tags)
  chunk = min(chunk, max(64, 1 << (len(tokens) - 1).bit_length()))  # a few shapes in all
  parts = []
  for begin in range(0, len(tokens), chunk):
    part = list(tokens[begin:begin + chunk])
    x = Encoded(*(_pad_rows(a, chunk) for a in encode(part, tagger.config)))
    out = _predict(tagger.params, x, allowed, start_allowed, crf=crf, marginals=marginals)
    parts.append([np.asarray(a)[:len(part)] for a in out])
  if not parts:
    raise ValueError("predict: no utterances")
  probs, tags, confidence, min_marginal = (np.concatenate(p) for p in zip(*parts))
  return Predictions(probs, tags, confidence, min_marginal if marginals else None)


def decode(tagger: Tagger, tokens: Sequence[Sequence[str]], predictions: Predictions, *,
           exclude: Sequence[str] = (OTHER,)) -> list[tuple[str, tuple[str, ...]]]:
  """``(intent, BIO tags)`` per utterance; the intent is the best one not in ``exclude``.

  The target domain's model is asked only about utterances routed to its
  domain, so by default it answers with one of the domain's own intents.
  """
  probs = np.array(predictions.intent_probs)
  probs[:, [i for i, name in enumerate(tagger.intents) if name in exclude]] = -1.0
  intents = np.argmax(probs, axis=-1)
  return [(tagger.intents[int(i)], tuple(tagger.tags[int(t)] for t in row[:len(toks)]))
          for i, row, toks in zip(intents, predictions.tags, tokens)]
