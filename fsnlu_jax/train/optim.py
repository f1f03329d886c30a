"""The optimizers and the evaluation sweep the jobs share.

Shapes: ``B`` batch.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping

import jax
import optax

from fsnlu_jax.train.batching import chunks, to_global


@dataclasses.dataclass(frozen=True)
class WarmupCosineConfig:
  """The encoder-decoders' optimizer (teacher, parser, rewriter): AdamW with linear warm-up to
  ``learning_rate`` over ``warmup_steps``, cosine decay to ``end_factor`` of it, global-norm
  clipping at ``clip_norm``; and the label smoothing of their token loss."""

  learning_rate: float
  warmup_steps: int
  end_factor: float
  weight_decay: float
  clip_norm: float
  label_smoothing: float = 0.0


def warmup_cosine_adamw(optim: WarmupCosineConfig, steps: int, labels: Any = None
                        ) -> optax.GradientTransformation:
  """``optim``'s AdamW, its cosine decay ending at ``steps``.

  ``labels``: a pytree like the parameters of ``"train"`` / ``"freeze"``
  (e.g. :func:`fsnlu_jax.models.seq2seq_trainable_labels`); frozen leaves are
  never updated, and in a jitted step their unused gradients are never
  computed. None: every parameter trains.
  """
  schedule = optax.warmup_cosine_decay_schedule(
      0.0, optim.learning_rate, min(optim.warmup_steps, max(steps - 1, 1)), max(steps, 2),
      end_value=optim.learning_rate * optim.end_factor)
  adamw = optax.chain(optax.clip_by_global_norm(optim.clip_norm),
                      optax.adamw(schedule, weight_decay=optim.weight_decay))
  if labels is None:
    return adamw
  return optax.multi_transform(dict(train=adamw, freeze=optax.set_to_zero()), labels)


def summed_metrics(eval_step: Callable, state: Any, n: int,
                   batch_of: Callable[[Any], Mapping[str, Any]], batch_size: int,
                   mesh: jax.sharding.Mesh) -> dict[str, float]:
  """The sums an ``eval_step`` returns, over ``n`` rows in batches of ``B`` (host floats).

  ``batch_of(rows)`` builds the host batch of the real rows of one chunk (it
  pads to ``B`` with rows that count for nothing).
  """
  total = None
  for chunk in chunks(n, batch_size):
    m = eval_step(state, to_global(batch_of(chunk.rows[:chunk.real]), mesh))
    total = m if total is None else jax.tree.map(lambda x, y: x + y, total, m)
  return {k: float(v) for k, v in jax.device_get(total).items()}
