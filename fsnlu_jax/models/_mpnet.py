"""An MPNet sentence encoder in Flax NNX (all-mpnet-base-v2's architecture).

MPNet (Song et al. 2020) runs BERT's post-LN transformer layers
(:class:`~fsnlu_jax.models._bert.BertLayer`) with three differences, all as in
Hugging Face's ``MPNetModel``:

- no segment embeddings;
- absolute positions count from ``PADDING_IDX + 1`` (RoBERTa's convention),
  padding keeping position ``PADDING_IDX``;
- every layer adds to its attention logits a learned per-head bias of the
  bucketed relative distance between key and query (T5's bidirectional log
  buckets), computed once per forward pass and shared by all layers.

The sentence vector is the masked mean of the last states, L2-normalised, as
sentence-transformers computes it for ``all-mpnet-base-v2``
(:mod:`fsnlu_jax.models._pretrained` loads the weights).

Shapes: ``B`` batch, ``L`` tokens (word pieces), ``D`` width (``hidden_size``),
``Nh`` heads.

References:
  Song, Tan, Qin, Lu & Liu, "MPNet: Masked and Permuted Pre-training for
  Language Understanding", NeurIPS 2020.
  Raffel et al., "Exploring the Limits of Transfer Learning with a Unified
  Text-to-Text Transformer" (T5's relative position buckets), JMLR 2020.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping

import jax
import jax.numpy as jnp
from flax import nnx

from fsnlu_jax.models._bert import (BertLayer, check_sizes, known_fields, mean_pool,
                                   packed_mean_pool, same_sequence)

# Hugging Face's MPNetEmbeddings fixes the padding position at 1, whatever
# config.json's pad_token_id says.
PADDING_IDX = 1
# MPNetEncoder.compute_position_bias buckets into 32 whatever
# relative_attention_num_buckets says (the table may only be larger).
NUM_BUCKETS = 32
MAX_DISTANCE = 128


@dataclasses.dataclass(frozen=True)
class MPNetConfig:
  """The sizes of an MPNet encoder (the fields of a Hugging Face ``config.json``).

  Attributes:
    vocab_size: word-piece vocabulary ``V``.
    hidden_size: ``D``.
    num_hidden_layers: transformer blocks.
    num_attention_heads: ``Nh``; ``D`` must divide by it.
    intermediate_size: the feed-forward width.
    max_position_embeddings: rows of the position table; the longest input is
      two fewer (:attr:`max_length`).
    relative_attention_num_buckets: rows of the relative-bias table (at least
      :data:`NUM_BUCKETS`, the buckets used).
    layer_norm_eps: epsilon of every layer norm.
    hidden_act: ``"gelu"`` (exact, erf) or ``"gelu_new"`` (tanh approximation).
    hidden_dropout_prob, attention_probs_dropout_prob: dropout rates in training.
  """

  vocab_size: int
  hidden_size: int = 768
  num_hidden_layers: int = 12
  num_attention_heads: int = 12
  intermediate_size: int = 3072
  max_position_embeddings: int = 514
  relative_attention_num_buckets: int = NUM_BUCKETS
  layer_norm_eps: float = 1e-5
  hidden_act: str = "gelu"
  hidden_dropout_prob: float = 0.1
  attention_probs_dropout_prob: float = 0.1

  def __post_init__(self):
    check_sizes(self)
    if self.relative_attention_num_buckets < NUM_BUCKETS:
      raise ValueError(f"relative_attention_num_buckets {self.relative_attention_num_buckets} "
                       f"< {NUM_BUCKETS}: MPNet buckets relative positions into {NUM_BUCKETS}")
    if self.max_length < 1:
      raise ValueError(f"max_position_embeddings {self.max_position_embeddings} leaves no "
                       f"position after the padding position {PADDING_IDX}")

  @property
  def max_length(self) -> int:
    """The longest input in word pieces, special pieces included (512 for mpnet-base)."""
    return self.max_position_embeddings - PADDING_IDX - 1

  @classmethod
  def from_dict(cls, raw: Mapping[str, Any]) -> "MPNetConfig":
    """From a parsed ``config.json``; keys this encoder does not use are ignored."""
    if raw.get("model_type") != "mpnet":
      raise ValueError(f"not an MPNet config: model_type {raw.get('model_type')!r}")
    return known_fields(cls, raw)


def relative_position_bucket(relative: jax.Array, *, num_buckets: int = NUM_BUCKETS,
                             max_distance: int = MAX_DISTANCE) -> jax.Array:
  """The bucket of each relative position ``key - query`` (T5's, bidirectional).

  Half the buckets are for keys after the query. In each half, distances below
  a quarter of ``num_buckets`` get a bucket each, longer ones share buckets
  spaced logarithmically up to ``max_distance``; farther is the last bucket.

  >>> relative_position_bucket(jnp.array([-200, -9, -1, 0, 1, 9, 200])).tolist()
  [15, 8, 1, 0, 17, 24, 31]

  Args:
    relative: int array of any shape.
    num_buckets, max_distance: static.

  Returns:
    int32 buckets in ``[0, num_buckets)``, the shape of ``relative``.
  """
  half = num_buckets // 2
  max_exact = half // 2
  n = -relative
  side = jnp.where(n < 0, half, 0)
  n = jnp.abs(n)
  # float32 as the reference (torch) computes it, so boundaries fall alike.
  scaled = (jnp.log(jnp.maximum(n, 1).astype(jnp.float32) / max_exact)
            / math.log(max_distance / max_exact) * (half - max_exact))
  large = jnp.minimum(max_exact + scaled.astype(jnp.int32), half - 1)
  return (side + jnp.where(n < max_exact, n, large)).astype(jnp.int32)


class MPNetEmbeddings(nnx.Module):
  """Word + absolute position embeddings (positions from ``PADDING_IDX + 1``), layer-normalised."""

  def __init__(self, c: MPNetConfig, *, rngs: nnx.Rngs):
    self.word = nnx.Embed(c.vocab_size, c.hidden_size, rngs=rngs)
    self.position = nnx.Embed(c.max_position_embeddings, c.hidden_size, rngs=rngs)
    self.norm = nnx.LayerNorm(c.hidden_size, epsilon=c.layer_norm_eps, rngs=rngs)

  def __call__(self, token_ids: jax.Array, mask: jax.Array,
               positions: jax.Array | None = None) -> jax.Array:
    """``[B, L, D]`` of ``token_ids [B, L]`` under ``mask [B, L]``; ``positions``
    ``[B, L]``: each piece's place in its own sequence (packed rows), else counted."""
    # Hugging Face counts pieces that are not the padding id; the mask as well
    # keeps padded slots at PADDING_IDX whatever id they were padded with.
    real = (token_ids != PADDING_IDX) & mask
    counted = jnp.cumsum(real, axis=1) if positions is None else positions + 1
    positions = jnp.where(real, counted + PADDING_IDX, PADDING_IDX)  # --> [B, L]
    return self.norm(self.word(token_ids) + self.position(positions))


class MPNetEncoder(nnx.Module):
  """An MPNet encoder with sentence-transformers' mean pooling.

  >>> from flax import nnx
  >>> import jax.numpy as jnp
  >>> cfg = MPNetConfig(vocab_size=50, hidden_size=8, num_hidden_layers=2,
  ...                   num_attention_heads=2, intermediate_size=16)
  >>> enc = MPNetEncoder(cfg, rngs=nnx.Rngs(0))
  >>> ids, mask = jnp.array([[0, 7, 2, 1]]), jnp.array([[1, 1, 1, 0]], bool)
  >>> enc(ids, mask).shape, enc.encode(ids, mask).shape
  ((1, 4, 8), (1, 8))

  Attributes:
    config: the :class:`MPNetConfig`.
    embeddings: :class:`MPNetEmbeddings`.
    relative_bias: the ``[buckets, Nh]`` table of relative-position biases.
    layers: the :class:`~fsnlu_jax.models._bert.BertLayer` stack.
    normalize: whether :meth:`encode` L2-normalises (sentence-transformers'
      ``Normalize`` module).
  """

  def __init__(self, config: MPNetConfig, *, normalize: bool = True, rngs: nnx.Rngs):
    self.config = config
    self.normalize = normalize
    self.embeddings = MPNetEmbeddings(config, rngs=rngs)
    self.dropout = nnx.Dropout(config.hidden_dropout_prob)
    self.relative_bias = nnx.Embed(config.relative_attention_num_buckets,
                                   config.num_attention_heads, rngs=rngs)
    self.layers = nnx.List([BertLayer(config, rngs=rngs)
                            for _ in range(config.num_hidden_layers)])

  def position_bias(self, length: int, positions: jax.Array | None = None) -> jax.Array:
    """Attention-logit bias of key position minus query position: ``[1, Nh, L, L]``
    for ``0 .. L-1``, or ``[B, Nh, L, L]`` for ``positions`` ``[B, L]`` (packed rows,
    where positions restart at each sequence)."""
    if positions is None:
      positions = jnp.arange(length)[None]
    buckets = relative_position_bucket(positions[:, None, :] - positions[:, :, None])
    return self.relative_bias(buckets).transpose(0, 3, 1, 2)  # [B, L, L, Nh] --> [B, Nh, L, L]

  def __call__(self, token_ids: jax.Array, mask: jax.Array, *,
               positions: jax.Array | None = None, deterministic: bool = True,
               rngs: nnx.Rngs | None = None) -> jax.Array:
    """Token states ``[B, L, D]`` of ``token_ids [B, L]`` under ``mask`` ``[B, L]``
    (or ``[B, L, L]``: which keys each query sees, then with ``positions``
    ``[B, L]``, each piece's place in its own sequence)."""
    mask = jnp.asarray(mask, bool)
    if mask.ndim == 3 and positions is None:
      raise ValueError("a [B, L, L] mask (packed rows) needs the pieces' positions")
    real = mask if mask.ndim == 2 else jnp.diagonal(mask, axis1=1, axis2=2)  # a piece sees itself
    x = self.dropout(self.embeddings(token_ids, real, positions), deterministic=deterministic,
                     rngs=rngs)
    bias = self.position_bias(token_ids.shape[1], positions)  # once, shared by every layer
    for layer in self.layers:
      x = layer(x, mask, deterministic=deterministic, rngs=rngs, bias=bias)
    return x

  def encode(self, token_ids: jax.Array, mask: jax.Array) -> jax.Array:
    """Sentence vectors ``[B, D]`` (no dropout): the few-shot encoder interface."""
    return mean_pool(self(token_ids, mask), jnp.asarray(mask, bool), normalize=self.normalize)

  def encode_packed(self, token_ids: jax.Array, sequence: jax.Array, positions: jax.Array,
                    count: int) -> jax.Array:
    """Sentence vectors ``[count, D]`` of sequences packed several to a row.

    As :meth:`fsnlu_jax.models.BertEncoder.encode_packed`, equal to
    :meth:`encode` of each sequence alone (up to float rounding): a piece
    attends only to its own sequence, and both the absolute positions and
    the relative-position bias are computed from ``positions``, which restart
    at each sequence.

    Args:
      token_ids: ``[R, Lp]`` word pieces of the packed rows.
      sequence: ``[R, Lp]`` int, which of the ``count`` sequences a piece
        belongs to (``-1``: padding).
      positions: ``[R, Lp]`` each piece's position in its own sequence.
      count: the number of sequences (static).
    """
    sequence = jnp.asarray(sequence)
    hidden = self(token_ids, same_sequence(sequence), positions=jnp.asarray(positions))
    return packed_mean_pool(hidden, sequence, count, normalize=self.normalize)
