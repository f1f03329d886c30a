"""The transfer baseline of few-shot evaluation: a softmax classifier fit on the supports.

The pretrained sentence encoder is kept fixed; for each episode a fresh
linear softmax layer ``[D, N]`` is fit to the support embeddings by
full-batch Adam with an L2 penalty, then scores the queries.

The penalty is *per way*: ``weight_decay * sum(W**2) / N``. The data term is
a mean over the ``N * K`` supports, so each way's share of it is ``1 / N``;
an unscaled ``sum(W**2)`` would then weigh each way's weights ``N`` times
harder against its data in a 150-way problem than in a 1-way one (the
baseline got worse the more intents a dataset had). Scaled, the penalty's
strength means the same at any ``N`` (EVALUATION.md: "a linear head's penalty
must not grow with the number of intents"). Its strength is chosen on
CLINC150 and HWU64 only (``benchmarks/fewshot_pretrained.py --softmax-grid``;
see ``SoftmaxConfig``). The whole fit is
a ``lax.scan``, so ``vmap`` runs it for a batch of episodes on the
accelerator at once. (Fine-tuning the encoder per episode as well would cost
one encoder training per episode; with 600 episodes per setting that is the
part a practitioner skips, and ProtoDA's baseline is this classifier.)

Shapes: ``E`` episodes, ``N`` ways, ``K`` shots, ``Q`` queries, ``D`` width.

References:
  Kumar et al., "ProtoDA: Efficient Transfer Learning for Few-Shot Intent
  Classification", IEEE SLT 2021 (the fine-tuned classifier baseline).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from fsnlu_jax import kernels


def fit_softmax_classifier(support: jax.Array, support_mask: jax.Array, way_mask: jax.Array,
                           query: jax.Array, *, steps: int = 100, learning_rate: float = 0.05,
                           weight_decay: float = 1e-3) -> jax.Array:
  """Fits ``softmax(x W + b)`` on one episode's supports; returns query logits.

  Args:
    support: ``[N, K, D]`` support embeddings.
    support_mask: ``[N, K]`` bool, real shots.
    way_mask: ``[N]`` bool, real ways (padded ways get the padded-way logit).
    query: ``[Q, D]``.
    steps: full-batch Adam steps (static).
    learning_rate: Adam's step size.
    weight_decay: L2 penalty on ``W`` per real way (module docs; the
      supports are few: keeps the fit from growing without bound once it
      separates them).

  Returns:
    ``[Q, N]`` logits.
  """
  n, k, d = support.shape
  x = support.reshape(n * k, d)  # --> [N * K, D]
  labels = jnp.repeat(jnp.arange(n), k)
  mask = support_mask.reshape(-1).astype(support.dtype)
  ways = jnp.maximum(way_mask.sum(), 1).astype(support.dtype)
  params = (jnp.zeros((d, n), support.dtype), jnp.zeros((n,), support.dtype))
  tx = optax.adam(learning_rate)

  def masked_logits(p, inputs):
    return jnp.where(way_mask, inputs @ p[0] + p[1], -1e9)

  def loss(p):
    log_p = jax.nn.log_softmax(masked_logits(p, x), axis=-1)
    nll = -jnp.take_along_axis(log_p, labels[:, None], axis=-1)[:, 0]
    return jnp.sum(nll * mask) / jnp.maximum(mask.sum(), 1.0) + weight_decay * jnp.sum(p[0] ** 2) / ways

  def body(carry, _):
    p, opt_state = carry
    updates, opt_state = tx.update(jax.grad(loss)(p), opt_state, p)
    return (optax.apply_updates(p, updates), opt_state), None

  (params, _), _ = jax.lax.scan(body, (params, tx.init(params)), None, length=steps)
  return masked_logits(params, query)


def softmax_baseline_scores(support: jax.Array, support_mask: jax.Array, query: jax.Array,
                            query_mask: jax.Array, way_mask: jax.Array, **fit_kwargs
                            ) -> dict[str, jax.Array]:
  """Per-episode ``accuracy`` and ``macro_f1`` ``[E]`` of the softmax baseline.

  Args:
    support: ``[E, N, K, D]``; query: ``[E, N, Q, D]``; masks as in
      :class:`~fsnlu_jax.data.episodes.EpisodeBatch`.
    **fit_kwargs: for :func:`fit_softmax_classifier`.
  """
  e, n, q, d = query.shape
  flat_query = query.reshape(e, n * q, d)  # --> [E, N * Q, D]
  fit = lambda s, sm, wm, qq: fit_softmax_classifier(s, sm, wm, qq, **fit_kwargs)
  logits = jax.vmap(fit)(support, support_mask, way_mask, flat_query)
  labels = kernels.query_labels(query_mask)
  mask = query_mask.reshape(e, n * q)
  return dict(accuracy=kernels.episode_accuracy(logits, labels, mask),
              macro_f1=kernels.episode_macro_f1(logits, labels, mask, way_mask),
              pred=jnp.argmax(logits, -1))
