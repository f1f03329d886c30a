"""The committee: linear binary classifiers (target domain vs the rest), one per loss, as one model.

The members share the hashed n-gram features and differ only in the loss they
minimise, so they are one ``[M, H]`` weight matrix trained by one
``vmap``-ped, jit-compiled full-batch optimiser over their loss indices. Each
member minimises scikit-learn ``SGDClassifier``'s objective for its loss::

  mean_i L(y_i, w . x_i + b) + alpha / 2 * |w|^2      (b not penalised)

here with Adam to convergence on the (small) annotated set rather than one
pass of SGD, so the fit does not depend on the order of the rows. Training
runs on the buckets the annotated rows use (:func:`~fsnlu_jax.active.features.compact`),
the same fit as on the whole table.

Shapes: ``N`` training rows, ``P`` pool rows, ``F`` features, ``H`` buckets, ``M`` members.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from fsnlu_jax import kernels
from fsnlu_jax.active.features import HashedRows, compact, expand

DEFAULT_LOSSES = ("hinge", "squared_error", "log_loss", "modified_huber")


@dataclasses.dataclass(frozen=True)
class CommitteeConfig:
  """How the committee is trained.

  Attributes:
    losses: one member per loss, names of :data:`fsnlu_jax.kernels.LOSSES`.
    alpha: L2 strength (scikit-learn's ``alpha``).
    steps: full-batch Adam steps.
    learning_rate: Adam's peak rate (cosine-decayed to 0 over ``steps``).
    balanced: weight each class by ``N / (2 * its count)``, scikit-learn's
      ``class_weight="balanced"``. A new domain starts with a few dozen
      positives against many more negatives; unweighted, every member leans
      negative and the majority-positive filter keeps far fewer of the domain's
      pool utterances than a batch needs. False: every row weighs the same.
  """

  losses: tuple[str, ...] = DEFAULT_LOSSES
  alpha: float = 1e-4
  steps: int = 300
  learning_rate: float = 0.1
  balanced: bool = True


class Committee(NamedTuple):
  """A trained committee."""

  weights: jax.Array  # [M, H] one weight per hash bucket per member
  bias: jax.Array  # [M] intercepts
  losses: tuple[str, ...]  # the member losses, in row order


def objective(weights, bias, loss_index, ids, mask, targets, row_weight, alpha):
  """One member's objective (``weights`` ``[H]``, ``bias`` scalar); ``row_weight`` ``[N]`` 0 on padding."""
  scores = kernels.hashed_scores(weights[None], bias[None], ids, mask)[:, 0]
  losses = kernels.margin_loss(loss_index, scores, targets)
  data = jnp.sum(losses * row_weight) / jnp.maximum(jnp.sum(row_weight), 1.0)
  return data + 0.5 * alpha * jnp.sum(jnp.square(weights))


@functools.partial(jax.jit, static_argnames=("num_buckets", "steps", "learning_rate"))
def _fit(loss_index, ids, mask, targets, row_weight, alpha, *, num_buckets, steps,
         learning_rate):
  optimizer = optax.adam(optax.cosine_decay_schedule(learning_rate, steps))

  def fit_one(index):
    params = (jnp.zeros(num_buckets), jnp.zeros(()))
    grad = jax.grad(lambda p: objective(*p, index, ids, mask, targets, row_weight, alpha))

    def step(carry, _):
      params, opt_state = carry
      updates, opt_state = optimizer.update(grad(params), opt_state, params)
      return (optax.apply_updates(params, updates), opt_state), None

    (params, _), _ = jax.lax.scan(step, (params, optimizer.init(params)), None, length=steps)
    return params

  return jax.vmap(fit_one)(loss_index)


def _padded_rows(n: int) -> int:
  """Training sets are padded to a power of two (>= 64) so each round reuses a compile."""
  return max(64, 1 << (n - 1).bit_length())


def train_committee(rows: HashedRows, positive: np.ndarray,
                    config: CommitteeConfig = CommitteeConfig()) -> Committee:
  """Fits the committee on annotated rows.

  Args:
    rows: ``N`` hashed rows.
    positive: ``[N]`` bool, True for the target domain.
    config: :class:`CommitteeConfig`.

  Returns:
    :class:`Committee` with ``M = len(config.losses)`` members.
  """
  n = len(rows)
  if n == 0:
    raise ValueError("the committee needs at least one annotated row")
  size = _padded_rows(n)
  local, buckets = compact(rows.ids, rows.mask)
  ids = np.zeros((size, rows.ids.shape[1]), np.int32)
  mask = np.zeros(ids.shape, bool)
  ids[:n], mask[:n] = local, rows.mask
  targets = np.zeros(size, np.float32)
  targets[:n] = np.where(np.asarray(positive, bool), 1.0, -1.0)
  row_weight = (np.arange(size) < n).astype(np.float32)
  if config.balanced:
    is_positive = targets[:n] > 0
    counts = np.array([np.sum(~is_positive), np.sum(is_positive)])
    per_class = n / (2.0 * np.maximum(counts, 1))
    row_weight[:n] = per_class[is_positive.astype(int)]
  weights, bias = _fit(kernels.loss_indices(config.losses), ids, mask, targets, row_weight,
                       jnp.float32(config.alpha), num_buckets=len(buckets),
                       steps=config.steps, learning_rate=config.learning_rate)
  weights = jnp.asarray(expand(weights, buckets, rows.num_buckets))
  return Committee(weights, bias, tuple(config.losses))


@functools.partial(jax.jit, static_argnames=("num_rows",))
def _score_chunk(weights, bias, ids, rows, *, num_rows):
  return kernels.packed_hashed_scores(weights, bias, ids, rows, num_rows)


def committee_scores(committee: Committee, rows: HashedRows, *, chunk: int = 8192) -> np.ndarray:
  """``[P, M]`` scores of the pool, in chunks of ``chunk`` rows whose packed features are
  padded to a power of two (a few compiles, bounded memory)."""
  out = np.zeros((len(rows), committee.weights.shape[0]), np.float32)
  size = min(chunk, len(rows))
  for begin in range(0, len(rows), size):
    part = rows.take(np.arange(begin, min(begin + size, len(rows))))
    capacity = 1 << max(10, int(part.mask.sum()).bit_length())
    ids, row_of = part.packed(capacity)
    out[begin:begin + len(part)] = np.asarray(_score_chunk(
        committee.weights, committee.bias, ids, row_of, num_rows=size))[:len(part)]
  return out


def member(committee: Committee, loss: str) -> int:
  """The row of the member trained with ``loss``."""
  if loss not in committee.losses:
    raise ValueError(f"no {loss!r} member in the committee {committee.losses}")
  return committee.losses.index(loss)
