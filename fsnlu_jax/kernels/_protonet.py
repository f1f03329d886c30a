"""Prototypical-network kernels: prototypes, distances, logits, loss, scores.

Every function works on one episode and on any leading batch axes (``E``
episodes, or ``vmap`` it), with masks for padded ways, shots and queries, so
that episodes of different shapes share one compiled program.

Shapes: ``N`` ways, ``K`` shots (support examples per way), ``Q`` queries
(flattened over ways: ``Q = N * Q_per_way`` after a reshape), ``D`` width,
``Ks`` synthetic samples per way, ``Z`` noise width.

References:
  Snell, Swersky & Zemel, "Prototypical Networks for Few-shot Learning",
  NeurIPS 2017.
  Kumar et al., "ProtoDA: Efficient Transfer Learning for Few-Shot Intent
  Classification", IEEE SLT 2021 (synthetic support samples).
"""

from __future__ import annotations

from typing import Callable, Literal

import jax
import jax.numpy as jnp

Metric = Literal["euclidean", "cosine"]

# Logit of a padded way: finite, so softmax and its gradient stay NaN-free,
# and low enough that exp(.) underflows to exactly 0 against real logits.
_PADDED_WAY_LOGIT = -1e9


def prototypes(support: jax.Array, mask: jax.Array) -> jax.Array:
  """The masked mean of each way's support embeddings.

  >>> import jax.numpy as jnp
  >>> s = jnp.array([[[1., 1.], [3., 3.]], [[2., 0.], [9., 9.]]])  # [N=2, K=2, D=2]
  >>> prototypes(s, jnp.array([[True, True], [True, False]]))
  Array([[2., 2.],
         [2., 0.]], dtype=float32)

  Args:
    support: ``[..., N, K, D]``.
    mask: ``[..., N, K]`` bool, real shots. A way without any real shot gets
      the zero vector (mask it out with ``way_mask`` downstream).

  Returns:
    ``[..., N, D]``.
  """
  w = mask.astype(support.dtype)
  total = jnp.einsum("...nkd,...nk->...nd", support, w)
  return total / jnp.maximum(w.sum(axis=-1), 1.0)[..., None]


def squared_euclidean(a: jax.Array, b: jax.Array) -> jax.Array:
  """All pairwise ``||a_q - b_n||^2``, as one matmul.

  ``|a|^2 - 2 a.b + |b|^2`` is clamped at 0 (rounding can make it slightly
  negative when ``a_q == b_n``).

  Args:
    a: ``[..., Q, D]``.
    b: ``[..., N, D]``.

  Returns:
    ``[..., Q, N]``.
  """
  cross = jnp.einsum("...qd,...nd->...qn", a, b)
  sq = jnp.sum(a * a, axis=-1)[..., :, None] + jnp.sum(b * b, axis=-1)[..., None, :]
  return jnp.maximum(sq - 2.0 * cross, 0.0)


def cosine_similarity(a: jax.Array, b: jax.Array, *, eps: float = 1e-8) -> jax.Array:
  """All pairwise cosines ``[..., Q, N]`` of ``a [..., Q, D]`` and ``b [..., N, D]``."""
  a = a / jnp.maximum(jnp.linalg.norm(a, axis=-1, keepdims=True), eps)
  b = b / jnp.maximum(jnp.linalg.norm(b, axis=-1, keepdims=True), eps)
  return jnp.einsum("...qd,...nd->...qn", a, b)


def protonet_logits(queries: jax.Array, protos: jax.Array, way_mask: jax.Array, *,
                    metric: Metric = "euclidean", scale: float = 1.0) -> jax.Array:
  """Query scores against prototypes; padded ways can never win.

  Euclidean: ``-scale * ||q - p||^2`` (Snell et al.); cosine: ``scale * cos``
  (a temperature, since cosines lie in [-1, 1]).

  Args:
    queries: ``[..., Q, D]``.
    protos: ``[..., N, D]``.
    way_mask: ``[..., N]`` bool, real ways.
    metric: ``"euclidean"`` or ``"cosine"``.
    scale: multiplies the score.

  Returns:
    ``[..., Q, N]`` logits.
  """
  if metric == "euclidean":
    scores = -scale * squared_euclidean(queries, protos)
  elif metric == "cosine":
    scores = scale * cosine_similarity(queries, protos)
  else:
    raise ValueError(f"metric must be 'euclidean' or 'cosine', got {metric!r}")
  return jnp.where(way_mask[..., None, :], scores, _PADDED_WAY_LOGIT)


def protonet_loss(logits: jax.Array, labels: jax.Array, mask: jax.Array
                  ) -> tuple[jax.Array, jax.Array]:
  """Summed cross-entropy over real queries, and their count.

  Sums (not means) so that a caller averaging over episodes or devices can
  weight every query once (see :mod:`fsnlu_jax.train.step`).

  Args:
    logits: ``[..., Q, N]`` from :func:`protonet_logits`.
    labels: ``[..., Q]`` int, the way of each query.
    mask: ``[..., Q]`` bool, real queries.

  Returns:
    ``(loss_sum, count)``, both ``[...]``.
  """
  log_p = jax.nn.log_softmax(logits, axis=-1)
  picked = jnp.take_along_axis(log_p, jnp.maximum(labels, 0)[..., None], axis=-1)[..., 0]
  w = mask.astype(logits.dtype)
  return -jnp.sum(picked * w, axis=-1), jnp.sum(w, axis=-1)


def query_labels(query_mask: jax.Array) -> jax.Array:
  """The way of each query once ``[..., N, Q]`` queries are flattened to ``[..., N * Q]``.

  >>> query_labels(jnp.ones((2, 3), bool))
  Array([0, 0, 0, 1, 1, 1], dtype=int32)
  """
  *lead, n, q = query_mask.shape
  return jnp.broadcast_to(jnp.repeat(jnp.arange(n, dtype=jnp.int32), q), (*lead, n * q))


def episode_accuracy(logits: jax.Array, labels: jax.Array, mask: jax.Array) -> jax.Array:
  """Fraction of real queries whose best way is their label: ``[...]``."""
  correct = (jnp.argmax(logits, axis=-1) == labels) & mask
  return correct.sum(axis=-1) / jnp.maximum(mask.sum(axis=-1), 1)


def episode_macro_f1(logits: jax.Array, labels: jax.Array, mask: jax.Array,
                     way_mask: jax.Array) -> jax.Array:
  """Macro-F1 over each episode's real ways (scikit-learn's ``"macro"``).

  Every real way has queries, and predictions can only be real ways, so the
  union of gold and predicted classes is the set of real ways.

  Args:
    logits: ``[..., Q, N]``.
    labels: ``[..., Q]`` int.
    mask: ``[..., Q]`` bool, real queries.
    way_mask: ``[..., N]`` bool, real ways.

  Returns:
    ``[...]``.
  """
  n = logits.shape[-1]
  w = mask[..., None]
  pred = jax.nn.one_hot(jnp.argmax(logits, axis=-1), n, dtype=bool) & w  # --> [..., Q, N]
  gold = jax.nn.one_hot(labels, n, dtype=bool) & w
  tp = jnp.sum(pred & gold, axis=-2)  # --> [..., N]
  fp_fn = jnp.sum(pred ^ gold, axis=-2)
  f1 = 2.0 * tp / jnp.maximum(2 * tp + fp_fn, 1)
  return jnp.sum(jnp.where(way_mask, f1, 0.0), axis=-1) / jnp.maximum(way_mask.sum(axis=-1), 1)


def synthesize(generate: Callable[[jax.Array, jax.Array], jax.Array], support: jax.Array,
               mask: jax.Array, noise: jax.Array) -> tuple[jax.Array, jax.Array]:
  """``Ks`` synthetic samples per way, each grown from one of its real shots.

  Synthetic sample ``m`` of way ``n`` is ``generate(support[n, m mod k_n],
  noise[n, m])`` where ``k_n`` is the way's number of real shots, so every
  real shot seeds about ``Ks / k_n`` samples and a synthetic sample always
  carries the class of its seed. ``generate`` acts on one sample and is
  ``vmap``-ped over ways and samples.

  Args:
    generate: ``(x [D], z [Z]) -> [D]``, e.g. a neural generator or
      ``lambda x, z: x + sigma * z`` (Gaussian-noise augmentation).
    support: ``[N, K, D]`` real support embeddings, real shots first (as
      :class:`~fsnlu_jax.data.episodes.EpisodeSampler` fills them).
    mask: ``[N, K]`` bool, real shots.
    noise: ``[N, Ks, Z]``.

  Returns:
    ``(synthetic [N, Ks, D], synthetic_mask [N, Ks])``; a way without real
    shots gets masked samples.
  """
  shots = mask.sum(axis=-1)  # --> [N]
  m = jnp.arange(noise.shape[-2])
  seed_index = m[None, :] % jnp.maximum(shots, 1)[:, None]  # --> [N, Ks]
  seeds = jnp.take_along_axis(support, seed_index[..., None], axis=-2)  # --> [N, Ks, D]
  synthetic = jax.vmap(jax.vmap(generate))(seeds, noise)
  synthetic_mask = jnp.broadcast_to((shots > 0)[:, None], seed_index.shape)
  return synthetic, synthetic_mask
