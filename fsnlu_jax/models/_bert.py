"""A BERT-family sentence encoder in Flax NNX (the sentence-transformers recipe).

Post-LN BERT (Devlin et al. 2019): word + position + segment embeddings, then
``n_layers`` blocks of multi-head self-attention with a padding mask and a GELU
feed-forward, each followed by a residual and a layer norm. The sentence
vector is the masked mean of the last hidden states, L2-normalised, as
sentence-transformers' ``Pooling(mean)`` + ``Normalize`` compute it, so a
checkpoint such as ``all-MiniLM-L6-v2`` gives its published embeddings
(:mod:`fsnlu_jax.models._pretrained` loads the weights).

Shapes: ``B`` batch, ``L`` tokens (word pieces), ``D`` width (``hidden_size``),
``Nh`` heads, ``Dff`` feed-forward width.

References:
  Devlin et al., "BERT: Pre-training of Deep Bidirectional Transformers for
  Language Understanding", NAACL 2019.
  Reimers & Gurevych, "Sentence-BERT", EMNLP 2019.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
from flax import nnx

# Architectures of config.json that this module reproduces exactly.
SUPPORTED_MODEL_TYPES = ("bert",)


@dataclasses.dataclass(frozen=True)
class BertConfig:
  """The sizes of a BERT encoder (the fields of a Hugging Face ``config.json``).

  Attributes:
    vocab_size: word-piece vocabulary ``V``.
    hidden_size: ``D``.
    num_hidden_layers: transformer blocks.
    num_attention_heads: ``Nh``; ``D`` must divide by it.
    intermediate_size: ``Dff``, the feed-forward width.
    max_position_embeddings: the longest input ``L``.
    type_vocab_size: segment ids (2 for BERT).
    layer_norm_eps: epsilon of every layer norm.
    hidden_act: ``"gelu"`` (exact, erf) or ``"gelu_new"`` (tanh approximation).
    hidden_dropout_prob, attention_probs_dropout_prob: dropout rates in training.
    pad_token_id: the padding word piece.
  """

  vocab_size: int
  hidden_size: int = 768
  num_hidden_layers: int = 12
  num_attention_heads: int = 12
  intermediate_size: int = 3072
  max_position_embeddings: int = 512
  type_vocab_size: int = 2
  layer_norm_eps: float = 1e-12
  hidden_act: str = "gelu"
  hidden_dropout_prob: float = 0.1
  attention_probs_dropout_prob: float = 0.1
  pad_token_id: int = 0

  def __post_init__(self):
    check_sizes(self)

  @property
  def max_length(self) -> int:
    """The longest input in word pieces, special pieces included."""
    return self.max_position_embeddings

  @classmethod
  def from_dict(cls, raw: Mapping[str, Any]) -> "BertConfig":
    """From a parsed ``config.json``; keys this encoder does not use are ignored."""
    model_type = raw.get("model_type", "bert")
    if model_type not in SUPPORTED_MODEL_TYPES:
      raise ValueError(f"unsupported architecture: model_type {model_type!r} "
                       f"(supported: {SUPPORTED_MODEL_TYPES})")
    if raw.get("position_embedding_type", "absolute") != "absolute":
      raise ValueError("unsupported position_embedding_type "
                       f"{raw['position_embedding_type']!r} (only 'absolute')")
    return known_fields(cls, raw)


def check_sizes(c) -> None:
  """Raises ValueError unless ``c`` (BERT's field names) describes a layer we build."""
  if c.hidden_size % c.num_attention_heads:
    raise ValueError(f"hidden_size {c.hidden_size} does not divide by "
                     f"num_attention_heads {c.num_attention_heads}")
  if c.hidden_act not in ("gelu", "gelu_new"):
    raise ValueError(f"unsupported hidden_act {c.hidden_act!r}; use 'gelu' or 'gelu_new'")


def known_fields(cls, raw: Mapping[str, Any]):
  """``cls`` (a config dataclass) from the keys of ``raw`` it has; others are ignored."""
  names = {f.name for f in dataclasses.fields(cls)}
  return cls(**{k: v for k, v in raw.items() if k in names})


class BertEmbeddings(nnx.Module):
  """Word + absolute position + segment embeddings, layer-normalised."""

  def __init__(self, c: BertConfig, *, rngs: nnx.Rngs):
    self.word = nnx.Embed(c.vocab_size, c.hidden_size, rngs=rngs)
    self.position = nnx.Embed(c.max_position_embeddings, c.hidden_size, rngs=rngs)
    self.segment = nnx.Embed(c.type_vocab_size, c.hidden_size, rngs=rngs)
    self.norm = nnx.LayerNorm(c.hidden_size, epsilon=c.layer_norm_eps, rngs=rngs)

  def __call__(self, token_ids: jax.Array, segment_ids: jax.Array,
               positions: jax.Array | None = None) -> jax.Array:
    """``[B, L, D]`` of ``token_ids`` and ``segment_ids`` ``[B, L]`` at ``positions``
    (broadcastable to ``[B, L]``; default ``0 .. L-1``: a decoder step passes its own)."""
    if positions is None:
      positions = jnp.arange(token_ids.shape[1])[None, :]  # --> [1, L]
    return self.norm(self.word(token_ids) + self.position(positions) + self.segment(segment_ids))


class BertSelfAttention(nnx.Module):
  """Multi-head self-attention whose keys exclude padding, with an optional
  additive bias on the logits (MPNet's relative positions).

  :meth:`project_kv` and :meth:`attend` split it for a decoder: keys and values
  from another sequence (cross-attention) or from a cache, and any mask
  (causal).
  """

  def __init__(self, c: BertConfig, *, rngs: nnx.Rngs,
               kernel_init: nnx.Initializer | None = None):
    self.heads = c.num_attention_heads
    dense = lambda: nnx.Linear(c.hidden_size, c.hidden_size, rngs=rngs, **(
        {} if kernel_init is None else {"kernel_init": kernel_init}))
    self.query, self.key, self.value, self.out = dense(), dense(), dense(), dense()
    self.dropout = nnx.Dropout(c.attention_probs_dropout_prob)

  def _split(self, t: jax.Array) -> jax.Array:
    b, length, d = t.shape
    return t.reshape(b, length, self.heads, d // self.heads)  # --> [B, L, Nh, D/Nh]

  def project_kv(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Keys and values of ``x [B, Lk, D]``: two ``[B, Nh, Lk, D/Nh]``.

    Heads before positions: the layout both attention products read, so a
    decoder's cache of them is not transposed again at every step (on
    XLA:CPU that copy made a one-query cross-attention 8x slower).
    """
    heads_first = lambda t: jnp.swapaxes(self._split(t), 1, 2)
    return heads_first(self.key(x)), heads_first(self.value(x))

  def attend(self, x: jax.Array, key: jax.Array, value: jax.Array, mask: jax.Array, *,
             deterministic: bool, rngs: nnx.Rngs | None,
             bias: jax.Array | None = None) -> jax.Array:
    """Queries from ``x [B, Lq, D]`` over ``key``/``value`` ``[B, Nh, Lk, D/Nh]``
    (:meth:`project_kv`); ``mask`` (True: attend) and ``bias`` broadcastable to
    ``[B, Nh, Lq, Lk]``."""
    b, length, d = x.shape
    q = self._split(self.query(x))
    logits = jnp.einsum("bqhd,bhkd->bhqk", q, key) / jnp.sqrt(d // self.heads).astype(x.dtype)
    if bias is not None:
      logits = logits + bias
    # The finite minimum (as in Hugging Face) keeps an all-padding row finite.
    logits = jnp.where(mask, logits, jnp.finfo(logits.dtype).min)
    weights = self.dropout(jax.nn.softmax(logits, axis=-1), deterministic=deterministic,
                           rngs=rngs)  # --> [B, Nh, Lq, Lk]
    context = jnp.einsum("bhqk,bhkd->bqhd", weights, value).reshape(b, length, d)
    return self.out(context)

  def __call__(self, x: jax.Array, mask: jax.Array, *, deterministic: bool,
               rngs: nnx.Rngs | None, bias: jax.Array | None = None) -> jax.Array:
    """``x [B, L, D]``; ``mask [B, L]`` (the keys to attend) or ``[B, L, L]``
    (query by key, e.g. several sequences packed in a row); ``bias``
    broadcastable to ``[B, Nh, L, L]``."""
    keys = mask[:, None, None, :] if mask.ndim == 2 else mask[:, None]
    return self.attend(x, *self.project_kv(x), keys, deterministic=deterministic, rngs=rngs,
                       bias=bias)


class BertLayer(nnx.Module):
  """Attention and feed-forward, each with residual and post-layer-norm.

  MPNet's layer is the same; ``c`` is any config with BERT's field names.
  """

  def __init__(self, c: BertConfig, *, rngs: nnx.Rngs):
    self.attention = BertSelfAttention(c, rngs=rngs)
    self.attention_norm = nnx.LayerNorm(c.hidden_size, epsilon=c.layer_norm_eps, rngs=rngs)
    self.intermediate = nnx.Linear(c.hidden_size, c.intermediate_size, rngs=rngs)
    self.output = nnx.Linear(c.intermediate_size, c.hidden_size, rngs=rngs)
    self.output_norm = nnx.LayerNorm(c.hidden_size, epsilon=c.layer_norm_eps, rngs=rngs)
    self.dropout = nnx.Dropout(c.hidden_dropout_prob)
    self.approximate_gelu = c.hidden_act == "gelu_new"

  def __call__(self, x: jax.Array, mask: jax.Array, *, deterministic: bool,
               rngs: nnx.Rngs | None, bias: jax.Array | None = None) -> jax.Array:
    drop = lambda t: self.dropout(t, deterministic=deterministic, rngs=rngs)
    x = self.attention_norm(x + drop(self.attention(x, mask, deterministic=deterministic,
                                                    rngs=rngs, bias=bias)))
    return self.feed_forward(x, drop)

  def feed_forward(self, x: jax.Array, drop: Callable[[jax.Array], jax.Array]) -> jax.Array:
    """The GELU feed-forward sub-layer with its residual and norm (``drop``: dropout)."""
    hidden = jax.nn.gelu(self.intermediate(x), approximate=self.approximate_gelu)
    return self.output_norm(x + drop(self.output(hidden)))


def mean_pool(hidden: jax.Array, mask: jax.Array, *, normalize: bool = True) -> jax.Array:
  """Masked mean over tokens, then (optionally) L2 normalisation.

  Args:
    hidden: ``[B, L, D]`` token states.
    mask: ``[B, L]`` bool, True on real tokens.
    normalize: divide by the L2 norm (floored at 1e-12, as ``F.normalize``).

  Returns:
    ``[B, D]``; rows without tokens are zero.
  """
  m = mask[..., None].astype(hidden.dtype)
  pooled = (hidden * m).sum(axis=1) / jnp.maximum(m.sum(axis=1), 1e-9)
  return _unit_rows(pooled) if normalize else pooled


def same_sequence(sequence: jax.Array) -> jax.Array:
  """bool ``[R, Lp, Lp]``: which keys each query of a packed row sees (its own sequence's).

  ``sequence``: ``[R, Lp]`` int, each piece's sequence (``-1``: padding).
  """
  return (sequence[:, :, None] == sequence[:, None, :]) & (sequence[:, None, :] >= 0)


def packed_mean_pool(hidden: jax.Array, sequence: jax.Array, count: int, *,
                     normalize: bool = True) -> jax.Array:
  """:func:`mean_pool` of each of ``count`` sequences packed several to a row.

  Args:
    hidden: ``[R, Lp, D]`` token states of the packed rows.
    sequence: ``[R, Lp]`` int, each piece's sequence (``-1``: padding).
    count: the number of sequences (static); one without pieces is zero.
    normalize: as :func:`mean_pool`.

  Returns:
    ``[count, D]``.
  """
  member = jax.nn.one_hot(sequence, count, dtype=hidden.dtype)  # --> [R, Lp, count]; -1: none
  pooled = (jnp.einsum("rlk,rld->kd", member, hidden)
            / jnp.maximum(member.sum((0, 1)), 1e-9)[:, None])  # --> [count, D]
  return _unit_rows(pooled) if normalize else pooled


def _unit_rows(x: jax.Array) -> jax.Array:
  """Rows of ``x`` divided by their L2 norm, floored at 1e-12 (as ``F.normalize``)."""
  return x / jnp.maximum(jnp.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


class BertEncoder(nnx.Module):
  """A BERT encoder with sentence-transformers' mean pooling.

  >>> from flax import nnx
  >>> import jax.numpy as jnp
  >>> cfg = BertConfig(vocab_size=50, hidden_size=8, num_hidden_layers=2,
  ...                  num_attention_heads=2, intermediate_size=16)
  >>> enc = BertEncoder(cfg, rngs=nnx.Rngs(0))
  >>> ids, mask = jnp.array([[2, 7, 3, 0]]), jnp.array([[1, 1, 1, 0]], bool)
  >>> enc(ids, mask).shape, enc.encode(ids, mask).shape
  ((1, 4, 8), (1, 8))

  Attributes:
    config: the :class:`BertConfig`.
    embeddings: :class:`BertEmbeddings`.
    layers: the :class:`BertLayer` stack.
    normalize: whether :meth:`encode` L2-normalises (sentence-transformers'
      ``Normalize`` module).
  """

  def __init__(self, config: BertConfig, *, normalize: bool = True, rngs: nnx.Rngs):
    self.config = config
    self.normalize = normalize
    self.embeddings = BertEmbeddings(config, rngs=rngs)
    self.dropout = nnx.Dropout(config.hidden_dropout_prob)
    self.layers = nnx.List([BertLayer(config, rngs=rngs)
                            for _ in range(config.num_hidden_layers)])

  def __call__(self, token_ids: jax.Array, mask: jax.Array, segment_ids: jax.Array | None = None,
               *, positions: jax.Array | None = None, deterministic: bool = True,
               rngs: nnx.Rngs | None = None) -> jax.Array:
    """Token states ``[B, L, D]`` of ``token_ids [B, L]`` under ``mask`` ``[B, L]``
    (or ``[B, L, L]``: which keys each query sees), at ``positions`` ``[B, L]``
    (default ``0 .. L-1``)."""
    mask = jnp.asarray(mask, bool)
    if segment_ids is None:
      segment_ids = jnp.zeros_like(token_ids)
    x = self.dropout(self.embeddings(token_ids, segment_ids, positions),
                     deterministic=deterministic, rngs=rngs)
    for layer in self.layers:
      x = layer(x, mask, deterministic=deterministic, rngs=rngs)
    return x

  def encode(self, token_ids: jax.Array, mask: jax.Array) -> jax.Array:
    """Sentence vectors ``[B, D]`` (no dropout): the few-shot encoder interface."""
    return mean_pool(self(token_ids, mask), jnp.asarray(mask, bool), normalize=self.normalize)

  def encode_packed(self, token_ids: jax.Array, sequence: jax.Array, positions: jax.Array,
                    count: int) -> jax.Array:
    """Sentence vectors ``[count, D]`` of sequences packed several to a row.

    Equal to :meth:`encode` of each sequence alone (up to float rounding):
    a token attends only to its own sequence's tokens, positions restart at
    each sequence, and each sequence is mean-pooled over its own tokens. Short
    sentences then share rows instead of each padding one to the longest.

    Args:
      token_ids: ``[R, Lp]`` word pieces of the packed rows.
      sequence: ``[R, Lp]`` int, which of the ``count`` sequences a piece
        belongs to (``-1``: padding).
      positions: ``[R, Lp]`` each piece's position in its own sequence.
      count: the number of sequences (static); one without pieces is zero.
    """
    sequence = jnp.asarray(sequence)
    hidden = self(token_ids, same_sequence(sequence), positions=positions)  # --> [R, Lp, D]
    return packed_mean_pool(hidden, sequence, count, normalize=self.normalize)
