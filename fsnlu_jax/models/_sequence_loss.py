"""Token cross-entropy of a teacher-forced decoder, in the trainer's loss contract.

One definition for every encoder-decoder of :mod:`fsnlu_jax.models` (the CGF
rewriter, the warm-started BERT2BERT), so their losses and their validation
numbers mean the same thing.

Shapes: ``B`` batch, ``Lt`` target length, ``V`` vocabulary.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax


def token_cross_entropy(logits: jax.Array, labels: jax.Array, mask: jax.Array, *,
                        label_smoothing: float = 0.0) -> tuple[jax.Array, dict[str, jax.Array]]:
  """``(loss_sum, aux)`` over the real target tokens.

  Args:
    logits: ``[B, Lt, V]``.
    labels: ``[B, Lt]`` int, the next tokens (EOS included).
    mask: ``[B, Lt]`` bool, True on real target tokens.
    label_smoothing: mass spread uniformly over the vocabulary (0: none).

  Returns:
    ``loss_sum``: the (smoothed) cross-entropy summed over real tokens, so the
    trainer's ``loss_sum / count`` is the token mean; ``aux``: sums ``count``
    (real tokens), ``nll_sum`` (unsmoothed), ``correct`` (argmax hits) and
    ``exact`` (rows with every token right).
  """
  mask = jnp.asarray(mask, bool)
  nll = optax.softmax_cross_entropy_with_integer_labels(logits, labels)  # --> [B, Lt]
  loss = nll
  if label_smoothing:
    loss = (1.0 - label_smoothing) * nll - label_smoothing * jax.nn.log_softmax(logits).mean(-1)
  hit = (jnp.argmax(logits, -1) == labels) | ~mask
  aux = dict(count=mask.sum(), nll_sum=jnp.where(mask, nll, 0.0).sum(),
             correct=(hit & mask).sum(), exact=(hit.all(axis=1) & mask.any(axis=1)).sum())
  return jnp.where(mask, loss, 0.0).sum(), aux
