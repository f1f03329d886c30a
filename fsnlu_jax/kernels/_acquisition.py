"""Active-learning kernels: hashed-feature scoring, committee losses, acquisition scores.

A pool utterance is a row of hashed feature ids ``[F]`` with a mask (see
:func:`fsnlu_jax.active.hash_ngrams`); a linear model's score is the sum of the
weights its features pick (gather-and-sum), so no dense ``[P, H]`` matrix is
ever built. A committee of ``M`` linear binary classifiers is one ``[M, H]``
weight matrix; its members differ only by the loss they were trained with.

Shapes: ``P`` pool rows, ``F`` features per row, ``H`` hash buckets, ``M``
committee members, ``C`` classes, ``L`` length, ``T`` tags.

References:
  Peshterliev, Kearney, Jagannatha, Kiss, Matsoukas, "Active Learning for New
  Domains in Natural Language Understanding", NAACL 2019 (industry track).
  Settles, "Active Learning Literature Survey", 2009 (the baselines).
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp

from fsnlu_jax.kernels._crf import crf_log_partition, crf_marginals, viterbi_decode

# The binary losses of the committee, by name (scikit-learn's names and definitions,
# for targets y in {-1, +1} and a score z). Their order is the index of `margin_loss`.
LOSSES = ("hinge", "squared_error", "log_loss", "modified_huber")


def hashed_scores(weights: jax.Array, bias: jax.Array, ids: jax.Array,
                  mask: jax.Array) -> jax.Array:
  """Linear scores of hashed-feature rows by gather-and-sum, for each of ``M`` models.

  >>> import jax.numpy as jnp
  >>> w = jnp.array([[1.0, 2.0, 3.0]])                # one model, 3 buckets
  >>> ids, mask = jnp.array([[0, 2, 2]]), jnp.array([[True, True, False]])
  >>> hashed_scores(w, jnp.zeros(1), ids, mask).tolist()
  [[4.0]]

  Args:
    weights: ``[M, H]`` one weight per hash bucket per model.
    bias: ``[M]``.
    ids: ``[P, F]`` int bucket ids (any value where ``mask`` is False).
    mask: ``[P, F]`` True on real features.

  Returns:
    ``[P, M]`` scores.
  """
  picked = jnp.take(weights.T, ids, axis=0, mode="clip")  # --> [P, F, M]
  picked = jnp.where(mask[..., None], picked, 0.0)
  return jnp.sum(picked, axis=1) + bias[None, :]


def packed_hashed_scores(weights: jax.Array, bias: jax.Array, ids: jax.Array, rows: jax.Array,
                         num_rows: int) -> jax.Array:
  """:func:`hashed_scores` of rows given as their features alone, packed (CSR-like).

  Padding ``[P, F]`` rows to the longest one makes the gather do work for
  every padding slot (HWU64's hashed 1-3-grams: 17 of 80 slots used on
  average); packed, the gather reads only real features and a sorted segment
  sum adds them up per row (7x faster on a 65k-row chunk, one core).

  >>> import jax.numpy as jnp
  >>> w = jnp.array([[1.0, 2.0, 3.0]])
  >>> packed_hashed_scores(w, jnp.zeros(1), jnp.array([0, 2, 1, 0]), jnp.array([0, 0, 1, 2]),
  ...                      num_rows=2).tolist()
  [[4.0], [2.0]]

  Args:
    weights: ``[M, H]``.
    bias: ``[M]``.
    ids: ``[N]`` int bucket ids of every row's features, row after row.
    rows: ``[N]`` int, each feature's row, non-decreasing; ``>= num_rows`` on
      padding entries (after the real ones), which count nowhere.
    num_rows: ``P`` (static).

  Returns:
    ``[P, M]`` scores; a row without features scores the bias.
  """
  picked = jnp.take(weights.T, ids, axis=0, mode="clip")  # --> [N, M]
  return jax.ops.segment_sum(picked, rows, num_segments=num_rows,
                             indices_are_sorted=True) + bias[None, :]


def margin_loss(loss_index: jax.Array, scores: jax.Array, targets: jax.Array) -> jax.Array:
  """One of :data:`LOSSES` (chosen by a traced index, so a committee can ``vmap`` over it).

  >>> import jax.numpy as jnp
  >>> [round(float(margin_loss(i, jnp.array(0.5), jnp.array(1.0))), 4) for i in range(4)]
  [0.5, 0.125, 0.4741, 0.25]

  Args:
    loss_index: int scalar, the position of the loss in :data:`LOSSES`.
    scores: ``[...]`` raw scores ``z``.
    targets: ``[...]`` in ``{-1, +1}``.

  Returns:
    ``[...]`` the loss per element: hinge ``max(0, 1 - yz)``; squared error
    ``(y - z)^2 / 2``; logistic ``log(1 + exp(-yz))``; modified Huber
    ``max(0, 1 - yz)^2`` for ``yz >= -1`` and ``-4yz`` below.
  """
  yz = targets * scores
  losses = jnp.stack([
      jnp.maximum(0.0, 1.0 - yz),
      0.5 * jnp.square(targets - scores),
      jnp.logaddexp(0.0, -yz),
      jnp.where(yz >= -1.0, jnp.square(jnp.maximum(0.0, 1.0 - yz)), -4.0 * yz),
  ])
  return losses[loss_index]


def loss_indices(names: Sequence[str]) -> jax.Array:
  """``[M]`` int32 positions of the named losses in :data:`LOSSES`."""
  unknown = [name for name in names if name not in LOSSES]
  if unknown:
    raise ValueError(f"unknown committee losses {unknown}; known: {', '.join(LOSSES)}")
  return jnp.array([LOSSES.index(name) for name in names], jnp.int32)


def majority_positive(scores: jax.Array) -> jax.Array:
  """``[P]`` bool: more than half of the committee scores the row above zero.

  Unlike query-by-committee's "at least one member dissents", all-positive rows
  pass too.

  Args:
    scores: ``[P, M]`` committee scores.
  """
  votes = jnp.sum(scores > 0, axis=-1)
  return 2 * votes > scores.shape[-1]


def summed_score_magnitude(scores: jax.Array) -> jax.Array:
  """``[P]`` ``|sum_m scores[:, m]|``: low when members are unsure or cancel out (low first)."""
  return jnp.abs(jnp.sum(scores, axis=-1))


def least_confidence(probs: jax.Array) -> jax.Array:
  """``[P]`` the top class probability of ``probs`` ``[P, C]``; low = uncertain (low first)."""
  return jnp.max(probs, axis=-1)


def margin(probs: jax.Array) -> jax.Array:
  """``[P]`` top minus second class probability of ``probs`` ``[P, C]`` (low first)."""
  top2 = jax.lax.top_k(probs, 2)[0]
  return top2[..., 0] - top2[..., 1]


def entropy(probs: jax.Array) -> jax.Array:
  """``[P]`` Shannon entropy (nats) of ``probs`` ``[P, C]`` (high = uncertain)."""
  # Negated per term, not after the sum: a certain row is 0.0, not -0.0.
  return jnp.sum(jnp.where(probs > 0, -probs * jnp.log(jnp.where(probs > 0, probs, 1.0)), 0.0),
                 axis=-1)


def vote_entropy(votes: jax.Array, num_classes: int) -> jax.Array:
  """``[P]`` entropy (nats) of the committee's vote distribution (high = dissent).

  >>> import jax.numpy as jnp
  >>> [round(float(v), 4) for v in vote_entropy(jnp.array([[1, 1, 1, 1], [0, 1, 0, 1]]), 2)]
  [0.0, 0.6931]

  Args:
    votes: ``[P, M]`` int class voted by each member (for binary members:
      ``scores > 0``).
    num_classes: ``C``, static.

  References:
    Dagan, Engelson, "Committee-Based Sampling for Training Probabilistic
    Classifiers", ICML 1995.
  """
  counts = jnp.sum(jax.nn.one_hot(votes, num_classes), axis=1)  # --> [P, C]
  return entropy(counts / votes.shape[-1])


def crf_viterbi_confidence(emissions: jax.Array, mask: jax.Array, transitions: jax.Array, *,
                           start: jax.Array | None = None,
                           end: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
  """The CRF's probability of its own best labelling, ``p(y* | x)`` (low first).

  Args:
    emissions, mask, transitions, start, end: as in
      :func:`fsnlu_jax.kernels.crf_log_partition`.

  Returns:
    ``(confidence, tags)``: ``[B]`` ``exp(score(y*) - log Z)`` (1 for a row
    without real tokens) and the Viterbi tags ``[B, L]``.
  """
  tags, best = viterbi_decode(emissions, mask, transitions, start=start, end=end)
  log_z = crf_log_partition(emissions, mask, transitions, start=start, end=end)
  return jnp.exp(best - log_z), tags


def crf_marginal_confidence(emissions: jax.Array, mask: jax.Array, transitions: jax.Array, *,
                            start: jax.Array | None = None,
                            end: jax.Array | None = None) -> jax.Array:
  """The alternative confidence: the lowest per-token marginal of the Viterbi tag.

  Where :func:`crf_viterbi_confidence` judges the whole labelling, this points
  at the least certain token, so one doubtful slot boundary in a long utterance
  is not diluted by many easy ``O`` tokens.

  Args:
    emissions, mask, transitions, start, end: as in
      :func:`fsnlu_jax.kernels.crf_log_partition`.

  Returns:
    ``[B]`` ``min_t p(y_t = y*_t | x)`` over real tokens (1 for a row without
    real tokens).
  """
  tags, _ = viterbi_decode(emissions, mask, transitions, start=start, end=end)
  marginals = crf_marginals(emissions, mask, transitions, start=start, end=end)
  picked = jnp.take_along_axis(marginals, tags[..., None], axis=-1)[..., 0]  # --> [B, L]
  return jnp.min(jnp.where(mask, picked, 1.0), axis=-1)
