"""Word influence from the attributions of a model's errors, and pool scoring by it.

The selection method: find the model's errors on held-out data, explain each
one with integrated gradients, credit every word with how much it pushed the
model wrong, and score unlabelled utterances by the influence of their words.

**The rules.** An error is one wrong output: an utterance whose intent was
predicted ``p`` for gold ``g``, or one token whose tag was predicted ``p`` for
gold ``g``. With ``a_p[l]`` the attribution of token ``l`` to output ``p`` and
``a_g[l]`` its attribution to ``g``, the token's harm in that error is::

  relu(a_p[l]) + relu(-a_g[l])

(it raised the wrong output, or lowered the right one). Two word rules are
built on it; a pool utterance's score is, under either, the sum of its
tokens' word influence (:func:`pool_scores`).

* **Summed** (``ig``, the paper's): the influence of vocabulary word ``v`` is
  the sum of the harm over every error and every token ``l`` with
  ``token_ids[l] == v`` (:func:`word_influence`): frequency times harm, so a
  word implicated in many errors outranks one seen once.
* **Rate** (``ig_rate``): the summed harm divided by ``n_v + 1``, where
  ``n_v`` counts the occurrences of ``v`` among *all* the held-out tokens,
  in correctly and wrongly handled utterances alike (:func:`occurrence_counts`,
  :func:`normalise_influence`): summed harm per occurrence (not a mean over
  errors: an utterance with several wrong tags adds several errors' harm,
  while its words count once), shrunk toward 0 by the added one. Measured on HWU64 and SNIPS, the summed rule is dominated by
  function words ("the", "to", "a", "me") that occur in most utterances and
  therefore in most errors, so its top-scored pool utterances are simply the
  longest ones, and they help no more than random utterances of the same
  length. The rate asks instead whether a word shows up in errors more than
  its frequency explains: a word in every utterance that harms only some gets
  a low rate, one seen mostly in errors a high one. The ``+ 1`` keeps a word
  seen once, in one error, from outranking everything on a single attribution.
  (When the errors are a subsample, ``max_errors`` of the selection job, the
  summed harm covers only the explained ones while the counts cover the whole
  split: the rates shrink by about the explained fraction, which rescales
  but does not reorder them when one fraction applies to all errors.)

Common to both:

* only the harmful direction counts: a word that helped the right output is
  not a reason to skip an utterance, and must not cancel a word's harm in
  another error;
* the explained outputs are best made *probabilities* (``output=
  "probability"`` of :func:`~fsnlu_jax.explain.intent_target`): by IG's
  completeness a row's attributions then sum to a change of probability, at
  most 1 in size, so one confidently wrong utterance with large logits cannot
  outweigh many others; logits, moreover, are only defined up to a shift;
* special ids (``<pad>``, ``<unk>``, ...) get no influence: ``<unk>`` is not
  a word, and an utterance's unknown words are not the ones that erred.

Shapes: ``X`` errors (rows), ``U`` held-out utterances, ``L`` padded length,
``V`` vocabulary, ``P`` pool utterances, ``Kb`` budget.

References:
  "Improving Large-Scale Conversational Assistants using Model Interpretation
  based Training Sample Selection", EMNLP 2022 (industry track).
"""

from __future__ import annotations

import functools
from typing import Sequence

import jax
import jax.numpy as jnp

from fsnlu_jax.data.vocab import SPECIAL_TOKENS

SPECIAL_IDS = tuple(range(len(SPECIAL_TOKENS)))  # <pad> <unk> <bos> <eos>


def error_token_influence(attr_pred: jax.Array, attr_gold: jax.Array,
                          mask: jax.Array) -> jax.Array:
  """Per-token harm of each error: ``relu(attr_pred) + relu(-attr_gold)`` (module docs).

  >>> import jax.numpy as jnp
  >>> error_token_influence(jnp.array([[0.5, -0.25, 0.1]]), jnp.array([[-0.25, 0.5, -9.]]),
  ...                       jnp.array([[True, True, False]])).tolist()
  [[0.75, 0.0, 0.0]]

  Args:
    attr_pred: ``[X, L]`` token attributions to the wrong (predicted) output.
    attr_gold: ``[X, L]`` token attributions to the correct (gold) output.
    mask: ``[X, L]`` bool, True on real tokens.

  Returns:
    ``[X, L]`` non-negative influence, 0 at padding.
  """
  harm = jax.nn.relu(attr_pred) + jax.nn.relu(-attr_gold)
  return jnp.where(mask, harm, 0.0)


@functools.partial(jax.jit, static_argnames=("vocab_size", "exclude_ids"))
def word_influence(token_influence: jax.Array, token_ids: jax.Array, mask: jax.Array, *,
                   vocab_size: int, exclude_ids: Sequence[int] = SPECIAL_IDS) -> jax.Array:
  """Sums token influence by vocabulary id over all errors.

  >>> import jax.numpy as jnp
  >>> word_influence(jnp.array([[1., 2., 4.], [8., 0., 0.]]), jnp.array([[5, 6, 5], [6, 0, 0]]),
  ...                jnp.array([[True, True, True], [True, False, False]]), vocab_size=7).tolist()
  [0.0, 0.0, 0.0, 0.0, 0.0, 5.0, 10.0]

  Args:
    token_influence: ``[X, L]``, e.g. :func:`error_token_influence`.
    token_ids: ``[X, L]`` int word ids of the errors' utterances.
    mask: ``[X, L]`` bool, True on real tokens.
    vocab_size: ``V`` (static).
    exclude_ids: ids that get no influence (static; default the special tokens).

  Returns:
    ``[V]`` influence of each word, 0 for words in no error and for ``exclude_ids``.
  """
  keep = mask & ~jnp.isin(token_ids, jnp.asarray(exclude_ids, token_ids.dtype))
  values = jnp.where(keep, token_influence, 0.0).reshape(-1)  # --> [X * L]
  return jnp.zeros(vocab_size, values.dtype).at[token_ids.reshape(-1)].add(values)


@functools.partial(jax.jit, static_argnames=("vocab_size", "exclude_ids"))
def occurrence_counts(token_ids: jax.Array, mask: jax.Array, *, vocab_size: int,
                      exclude_ids: Sequence[int] = SPECIAL_IDS) -> jax.Array:
  """How often each vocabulary word occurs among the real tokens of a split.

  >>> import jax.numpy as jnp
  >>> occurrence_counts(jnp.array([[5, 6, 5], [6, 1, 0]]),
  ...                   jnp.array([[True, True, True], [True, True, False]]), vocab_size=7).tolist()
  [0.0, 0.0, 0.0, 0.0, 0.0, 2.0, 2.0]

  Args:
    token_ids: ``[U, L]`` int word ids of *every* held-out utterance (not only
      the errors').
    mask: ``[U, L]`` bool, True on real tokens.
    vocab_size: ``V`` (static).
    exclude_ids: ids not counted (static; default the special tokens).

  Returns:
    ``[V]`` float32 counts (exact below 2**24), 0 for ``exclude_ids``.
  """
  # A count is a summed influence of 1 per token: the same masking and scatter.
  ones = jnp.ones(token_ids.shape, jnp.float32)
  return word_influence(ones, token_ids, mask, vocab_size=vocab_size, exclude_ids=exclude_ids)


@jax.jit
def normalise_influence(influence: jax.Array, counts: jax.Array) -> jax.Array:
  """The rate rule: summed harm per held-out occurrence, ``influence / (counts + 1)``.

  >>> import jax.numpy as jnp
  >>> normalise_influence(jnp.array([0., 6., 3., 2.]), jnp.array([9., 23., 2., 0.])).tolist()
  [0.0, 0.25, 1.0, 2.0]

  Args:
    influence: ``[V]`` summed harm over the errors (:func:`word_influence`).
    counts: ``[V]`` occurrences in the whole held-out split
      (:func:`occurrence_counts`); a word of an error occurs there too, so
      its count is at least its number of error utterances.

  Returns:
    ``[V]`` non-negative rates, 0 wherever ``influence`` is 0.
  """
  return influence / (counts + 1.0)


@jax.jit
def pool_scores(influence: jax.Array, token_ids: jax.Array, mask: jax.Array) -> jax.Array:
  """Each utterance's summed word influence.

  >>> import jax.numpy as jnp
  >>> pool_scores(jnp.array([0., 0., 0., 0., 0., 5., 10.]), jnp.array([[5, 6, 6], [4, 5, 0]]),
  ...             jnp.array([[True, True, True], [True, True, False]])).tolist()
  [25.0, 5.0]

  Args:
    influence: ``[V]`` word influence (:func:`word_influence`).
    token_ids: ``[P, L]`` int word ids (same vocabulary).
    mask: ``[P, L]`` bool, True on real tokens.

  Returns:
    ``[P]`` scores; a repeated word counts each time it occurs.
  """
  per_token = jnp.take(influence, token_ids, axis=0)  # --> [P, L]
  return jnp.sum(jnp.where(mask, per_token, 0.0), axis=1)


def top_k_eligible(scores: jax.Array, eligible: jax.Array, k: int) -> tuple[jax.Array, jax.Array]:
  """The ``k`` highest-scoring eligible rows, best first, ties to the lower index.

  >>> import jax.numpy as jnp
  >>> ok = jnp.array([True, False, True, True])
  >>> rows, ok = top_k_eligible(jnp.array([3., 9., 3., 7.]), ok, 4)
  >>> rows.tolist(), ok.tolist()
  ([3, 0, 2, 1], [True, True, True, False])

  Args:
    scores: ``[P]`` pool scores.
    eligible: ``[P]`` bool, rows that passed the filters.
    k: ``Kb`` (static), at most ``P``.

  Returns:
    ``(rows [Kb], valid [Kb])``: row indices, and False where fewer than ``Kb``
    rows are eligible (those rows are ineligible padding).
  """
  key = jnp.where(eligible, -scores, jnp.inf)
  rows = jnp.argsort(key, stable=True)[:k]  # stable: equal scores keep index order
  return rows, eligible[rows]
