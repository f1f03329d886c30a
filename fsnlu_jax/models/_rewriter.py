"""The query rewriter of CGF: a small pre-LN transformer encoder-decoder.

The encoder reads the previous dialogue turn and the current request as the
recogniser heard it (``previous <sep> current``); the decoder writes the
rewrite word by word. It is BART-shaped (Lewis et al. 2020) but small and
pre-LN (a layer norm before each sub-layer, one after each stack), which
trains stably without warm-up tricks at these sizes. One embedding table is
shared by the encoder input, the decoder input and the output projection
(tied), so source and target share one word vocabulary.

**Copying** (``copy=True``; See, Liu & Manning 2017, the pointer-generator):
most of a rewrite is words of its source (the request, or a value the previous
turn names), and a word-level model trained from scratch learns to spell each
one through its output table slowly. With copying, a copy attention over the
encoded source gives each source word's share, and a gate ``g`` mixes the two:
``p(w) = g * softmax(logits)(w) + (1 - g) * sum of copy shares of w's source
positions``. The model then returns ``log p`` in place of logits (a softmax of
them gives ``p`` back), so the loss, the beam search and teacher-forced
scoring read it unchanged.

For search, :meth:`Rewriter.decode_step` runs the decoder one token at a time
over a static-shape key/value cache (:class:`KVCache` per layer, written at
``step`` with ``lax.dynamic_update_slice``); run step by step it reproduces
the teacher-forced logits of :meth:`Rewriter.__call__`. Its signature fits the
beam search's ``tokens_to_logits(tokens, cache, step)`` once the encoder
output is closed over (:func:`tokens_to_logits_fn`).

Shapes: ``B`` batch, ``Bw`` decoding rows (``B * W`` under a beam of ``W``),
``Ls`` source length, ``Lt`` target length, ``L`` cache length, ``Lq``/``Lk``
query/key length in attention, ``D`` width, ``Nh`` heads, ``Dh = D / Nh``, ``Dff``
feed-forward width, ``V`` vocabulary.

References:
  Ahmadvand et al., "Constrained generation framework for query rewriting in
  conversational AI", EMNLP 2022 (industry track).
  Lewis et al., "BART", ACL 2020; Xiong et al., "On Layer Normalization in the
  Transformer Architecture", ICML 2020 (pre-LN).
  See, Liu & Manning, "Get To The Point: Summarization with Pointer-Generator
  Networks", ACL 2017 (copying).
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Literal, Mapping, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from fsnlu_jax.models._sequence_loss import token_cross_entropy
from fsnlu_jax.nn import Embedder

Positions = Literal["learned", "sinusoidal"]


@dataclasses.dataclass(frozen=True)
class RewriterConfig:
  """Sizes and special ids of a :class:`Rewriter`.

  Attributes:
    vocab_size: ``V``, specials included (``len(vocab)``).
    d_model: ``D``.
    n_heads: ``Nh``; ``D`` must divide by it.
    n_encoder_layers, n_decoder_layers: blocks per stack.
    d_ff: ``Dff``.
    max_source_len, max_target_len: the longest ``Ls`` and ``Lt`` (``Lt``
      counts the BOS the decoder input starts with).
    dropout: rate on embeddings, sub-layer outputs and the feed-forward hidden.
    pad_id, bos_id, eos_id: as in :mod:`fsnlu_jax.data.vocab` (0, 2, 3).
    positions: ``"learned"`` position embeddings or fixed ``"sinusoidal"``.
    copy: mix a copy distribution over the source's words into the output
      (module docs); the outputs are then log-probabilities.
  """

  vocab_size: int
  d_model: int = 256
  n_heads: int = 4
  n_encoder_layers: int = 3
  n_decoder_layers: int = 3
  d_ff: int = 1024
  max_source_len: int = 64
  max_target_len: int = 32
  dropout: float = 0.1
  pad_id: int = 0
  bos_id: int = 2
  eos_id: int = 3
  positions: Positions = "learned"
  copy: bool = False

  def __post_init__(self):
    if self.d_model % self.n_heads:
      raise ValueError(f"d_model {self.d_model} does not divide by n_heads {self.n_heads}")
    if self.positions not in ("learned", "sinusoidal"):
      raise ValueError(f"positions must be 'learned' or 'sinusoidal', got {self.positions!r}")


class KVCache(NamedTuple):
  """One decoder layer's self-attention keys and values, written one step at a time."""

  key: jax.Array  # [Bw, L, Nh, Dh] keys of the tokens fed so far (zeros beyond)
  value: jax.Array  # [Bw, L, Nh, Dh] their values


DecoderCache = tuple[KVCache, ...]  # one KVCache per decoder layer


class CopySource(NamedTuple):
  """What a copying rewriter reads of the source at every step (``Rewriter.copy_source``)."""

  encoded: jax.Array  # [Bw, Ls, D] the encoder's output
  keys: jax.Array  # [Bw, Ls, D] its copy-attention keys (computed once per search)
  mask: jax.Array  # [Bw, Ls] bool, True on real tokens
  ids: jax.Array  # [Bw, Ls] int, the source words


def sinusoidal_table(length: int, width: int) -> np.ndarray:
  """Vaswani et al.'s fixed positions, ``[length, width]`` float32 (sin | cos halves)."""
  half = width // 2
  freq = np.exp(-np.log(10000.0) * np.arange(half) / max(half, 1))
  angles = np.arange(length)[:, None] * freq[None, :]  # --> [L, D/2]
  table = np.zeros((length, width), np.float32)
  table[:, :half], table[:, half:2 * half] = np.sin(angles), np.cos(angles)
  return table


class Positional(nnx.Module):
  """Position vectors ``[L, D]``: a learned table (N(0, 0.02)) or sinusoids."""

  def __init__(self, length: int, width: int, kind: Positions, *, rngs: nnx.Rngs):
    self.kind = kind
    if kind == "learned":
      self.table = nnx.Param(0.02 * jax.random.normal(rngs.params(), (length, width)))
    else:
      self.table = nnx.Variable(jnp.asarray(sinusoidal_table(length, width)))

  def __call__(self, start: jax.Array | int, length: int) -> jax.Array:
    """Rows ``start .. start + length - 1`` (``start`` may be traced)."""
    return jax.lax.dynamic_slice_in_dim(self.table[...], start, length, axis=0)


class Attention(nnx.Module):
  """Multi-head dot-product attention with separate query and key/value inputs."""

  def __init__(self, c: RewriterConfig, *, rngs: nnx.Rngs):
    heads = (c.n_heads, c.d_model // c.n_heads)
    self.query = nnx.LinearGeneral(c.d_model, heads, rngs=rngs)
    self.key = nnx.LinearGeneral(c.d_model, heads, rngs=rngs)
    self.value = nnx.LinearGeneral(c.d_model, heads, rngs=rngs)
    self.out = nnx.LinearGeneral(heads, c.d_model, axis=(-2, -1), rngs=rngs)

  def project_kv(self, x: jax.Array) -> KVCache:
    """Keys and values of ``x`` ``[Bw, Lk, D]`` -> two ``[Bw, Lk, Nh, Dh]``."""
    return KVCache(self.key(x), self.value(x))

  def attend(self, x: jax.Array, kv: KVCache, mask: jax.Array) -> jax.Array:
    """Queries from ``x`` ``[Bw, Lq, D]`` over ``kv``; ``mask`` broadcasts to
    ``[Bw, Nh, Lq, Lk]``."""
    out = jax.nn.dot_product_attention(self.query(x), kv.key, kv.value, mask=mask)
    return self.out(out)  # --> [Bw, Lq, D]


class FeedForward(nnx.Module):
  """``D -> Dff -> D`` with a GELU."""

  def __init__(self, c: RewriterConfig, *, rngs: nnx.Rngs):
    self.up = nnx.Linear(c.d_model, c.d_ff, rngs=rngs)
    self.down = nnx.Linear(c.d_ff, c.d_model, rngs=rngs)
    self.dropout = nnx.Dropout(c.dropout)

  def __call__(self, x, deterministic, rngs):
    h = self.dropout(jax.nn.gelu(self.up(x)), deterministic=deterministic, rngs=rngs)
    return self.down(h)


class EncoderLayer(nnx.Module):
  """Pre-LN self-attention over the source, then a feed-forward."""

  def __init__(self, c: RewriterConfig, *, rngs: nnx.Rngs):
    self.norm1 = nnx.LayerNorm(c.d_model, rngs=rngs)
    self.attn = Attention(c, rngs=rngs)
    self.norm2 = nnx.LayerNorm(c.d_model, rngs=rngs)
    self.ffn = FeedForward(c, rngs=rngs)
    self.dropout = nnx.Dropout(c.dropout)

  def __call__(self, x, mask, deterministic, rngs):
    drop = lambda y: self.dropout(y, deterministic=deterministic, rngs=rngs)
    h = self.norm1(x)
    x = x + drop(self.attn.attend(h, self.attn.project_kv(h), mask))
    return x + drop(self.ffn(self.norm2(x), deterministic, rngs))


class DecoderLayer(nnx.Module):
  """Pre-LN causal self-attention, cross-attention to the source, feed-forward."""

  def __init__(self, c: RewriterConfig, *, rngs: nnx.Rngs):
    self.norm1 = nnx.LayerNorm(c.d_model, rngs=rngs)
    self.self_attn = Attention(c, rngs=rngs)
    self.norm2 = nnx.LayerNorm(c.d_model, rngs=rngs)
    self.cross_attn = Attention(c, rngs=rngs)
    self.norm3 = nnx.LayerNorm(c.d_model, rngs=rngs)
    self.ffn = FeedForward(c, rngs=rngs)
    self.dropout = nnx.Dropout(c.dropout)

  def __call__(self, x, self_mask, encoded, cross_mask, deterministic, rngs, *,
               cache: KVCache | None = None, step: jax.Array | None = None,
               cross_kv: KVCache | None = None):
    """``(x, kv)``: the layer's output and its self-attention keys/values.

    Teacher forcing (``cache`` None): keys and values come from ``x`` itself.
    Stepping: ``x`` is ``[Bw, 1, D]`` and its keys/values are written into
    ``cache`` at ``step``, which is then attended over. ``cross_kv``, when
    given, replaces projecting ``encoded`` (which is then not read).
    """
    drop = lambda y: self.dropout(y, deterministic=deterministic, rngs=rngs)
    h = self.norm1(x)
    kv = self.self_attn.project_kv(h)
    if cache is not None:
      kv = KVCache(*(jax.lax.dynamic_update_slice(old, new.astype(old.dtype), (0, step, 0, 0))
                     for old, new in zip(cache, kv)))
    x = x + drop(self.self_attn.attend(h, kv, self_mask))
    h = self.norm2(x)
    if cross_kv is None:
      cross_kv = self.cross_attn.project_kv(encoded)
    x = x + drop(self.cross_attn.attend(h, cross_kv, cross_mask))
    return x + drop(self.ffn(self.norm3(x), deterministic, rngs)), kv


class Rewriter(nnx.Module):
  """Encoder-decoder rewriter with tied embeddings and incremental decoding.

  >>> from flax import nnx
  >>> import jax.numpy as jnp
  >>> cfg = RewriterConfig(vocab_size=30, d_model=16, n_heads=2, n_encoder_layers=1,
  ...                      n_decoder_layers=1, d_ff=32, max_source_len=8, max_target_len=6)
  >>> model = Rewriter(cfg, rngs=nnx.Rngs(0))
  >>> src, mask = jnp.array([[5, 6, 7, 0]]), jnp.array([[True, True, True, False]])
  >>> model(src, mask, jnp.array([[2, 5, 6]])).shape
  (1, 3, 30)
  >>> logits, cache = model.decode_step(jnp.array([2]), model.init_cache(1, 6), 0,
  ...                                   model.encode(src, mask), mask)
  >>> logits.shape, cache[0].key.shape
  ((1, 30), (1, 6, 2, 8))

  Attributes:
    embed: the shared ``[V, D]`` table (:class:`fsnlu_jax.nn.Embedder`).
    enc_pos, dec_pos: position vectors of the source and the target.
    encoder, decoder: the layer stacks; enc_norm, dec_norm their final norms.

  References:
    Ahmadvand et al., EMNLP 2022 (CGF); Lewis et al., ACL 2020 (BART).
  """

  def __init__(self, config: RewriterConfig, *, rngs: nnx.Rngs):
    self.config = c = config
    self.embed = Embedder(c.vocab_size, c.d_model, padding_id=c.pad_id, rngs=rngs)
    self.enc_pos = Positional(c.max_source_len, c.d_model, c.positions, rngs=rngs)
    self.dec_pos = Positional(c.max_target_len, c.d_model, c.positions, rngs=rngs)
    self.encoder = nnx.List([EncoderLayer(c, rngs=rngs) for _ in range(c.n_encoder_layers)])
    self.decoder = nnx.List([DecoderLayer(c, rngs=rngs) for _ in range(c.n_decoder_layers)])
    self.enc_norm = nnx.LayerNorm(c.d_model, rngs=rngs)
    self.dec_norm = nnx.LayerNorm(c.d_model, rngs=rngs)
    self.dropout = nnx.Dropout(c.dropout)
    if c.copy:  # one copy-attention head over the encoded source, and the gate
      self.copy_query = nnx.Linear(c.d_model, c.d_model, rngs=rngs)
      self.copy_key = nnx.Linear(c.d_model, c.d_model, rngs=rngs)
      self.copy_gate = nnx.Linear(2 * c.d_model, 1, rngs=rngs)

  def _check_rngs(self, deterministic: bool, rngs: nnx.Rngs | None) -> None:
    if not deterministic and rngs is None and self.config.dropout > 0:
      raise ValueError("training (deterministic=False) needs rngs with a 'dropout' stream")

  def encode(self, src_ids: jax.Array, src_mask: jax.Array, *, deterministic: bool = True,
             rngs: nnx.Rngs | None = None) -> jax.Array:
    """The source, read once: ``src_ids`` ``[B, Ls]`` int and ``src_mask`` ``[B, Ls]``
    bool -> ``[B, Ls, D]``."""
    self._check_rngs(deterministic, rngs)
    mask = jnp.asarray(src_mask, bool)[:, None, None, :]  # --> [B, 1, 1, Ls]
    x = self.embed(src_ids) + self.enc_pos(0, src_ids.shape[1])
    x = self.dropout(x, deterministic=deterministic, rngs=rngs)
    for layer in self.encoder:
      x = layer(x, mask, deterministic, rngs)
    return self.enc_norm(x)

  def _logits(self, h: jax.Array, source: "CopySource | None" = None) -> jax.Array:
    """``h`` ``[B, Lq, D]`` -> ``[B, Lq, V]`` float32 logits (log-probabilities
    with copying, which needs the ``source``)."""
    c = self.config
    h = self.dec_norm(h)
    # The table is N(0, 1) (Embedder); scaling by 1/sqrt(D) keeps initial
    # logits O(1) against the unit-variance output of the final norm.
    logits = (h @ self.embed.embedding[...].T / np.sqrt(c.d_model)).astype(jnp.float32)
    if not c.copy:
      return logits
    scores = jnp.einsum("bqd,bsd->bqs", self.copy_query(h), source.keys) / np.sqrt(c.d_model)
    scores = jnp.where(source.mask[:, None, :], scores.astype(jnp.float32), -1e9)
    share = jax.nn.softmax(scores, axis=-1)  # --> [B, Lq, Ls]
    context = jnp.einsum("bqs,bsd->bqd", share.astype(source.encoded.dtype), source.encoded)
    gate = jax.nn.sigmoid(self.copy_gate(jnp.concatenate([h, context], -1)).astype(jnp.float32))
    b, q, _ = share.shape
    rows, steps = jnp.arange(b)[:, None, None], jnp.arange(q)[None, :, None]
    # Each source position's share goes to its word (repeated words add up).
    copied = jnp.zeros(logits.shape, jnp.float32).at[rows, steps, source.ids[:, None, :]].add(
        share)  # --> [B, Lq, V]
    mixed = gate * jax.nn.softmax(logits, axis=-1) + (1.0 - gate) * copied
    return jnp.log(jnp.maximum(mixed, 1e-30))  # log p: a softmax of it is p again

  def copy_source(self, encoded: jax.Array, src_mask: jax.Array,
                  src_ids: jax.Array | None) -> "CopySource | None":
    """What copying reads of the source (None without copying): ``encoded``
    ``[Bw, Ls, D]``, its copy keys, ``src_mask`` and ``src_ids`` ``[Bw, Ls]``."""
    if not self.config.copy:
      return None
    if src_ids is None:
      raise ValueError("a copying rewriter needs the source ids (src_ids) to decode")
    return CopySource(encoded, self.copy_key(encoded), jnp.asarray(src_mask, bool), src_ids)

  def __call__(self, src_ids: jax.Array, src_mask: jax.Array, tgt_in: jax.Array, *,
               deterministic: bool = True, rngs: nnx.Rngs | None = None) -> jax.Array:
    """Teacher-forced next-token logits.

    Args:
      src_ids: ``[B, Ls]`` source ids; ``src_mask`` ``[B, Ls]`` bool, True on real tokens.
      tgt_in: ``[B, Lt]`` decoder input, ``BOS`` then the target (padding after;
        the causal mask alone suffices, as padding only follows real tokens).
      deterministic: no dropout; False needs ``rngs``.
      rngs: an :class:`flax.nnx.Rngs` with a ``dropout`` stream.

    Returns:
      ``[B, Lt, V]`` float32 logits; row ``t`` predicts target token ``t``.
    """
    encoded = self.encode(src_ids, src_mask, deterministic=deterministic, rngs=rngs)
    length = tgt_in.shape[1]
    causal = jnp.tril(jnp.ones((length, length), bool))[None, None]  # --> [1, 1, Lt, Lt]
    cross = jnp.asarray(src_mask, bool)[:, None, None, :]  # --> [B, 1, 1, Ls]
    x = self.embed(tgt_in) + self.dec_pos(0, length)
    x = self.dropout(x, deterministic=deterministic, rngs=rngs)
    for layer in self.decoder:
      x, _ = layer(x, causal, encoded, cross, deterministic, rngs)
    return self._logits(x, self.copy_source(encoded, src_mask, src_ids))

  def init_cache(self, batch: int, max_length: int) -> DecoderCache:
    """An empty cache: per decoder layer, zero keys and values ``[Bw, L, Nh, Dh]``."""
    c = self.config
    if max_length > c.max_target_len:
      raise ValueError(f"max_length {max_length} exceeds max_target_len {c.max_target_len}")
    shape = (batch, max_length, c.n_heads, c.d_model // c.n_heads)
    return tuple(KVCache(jnp.zeros(shape), jnp.zeros(shape)) for _ in range(c.n_decoder_layers))

  def decode_step(self, token: jax.Array, cache: DecoderCache, step: jax.Array | int,
                  encoded: jax.Array, src_mask: jax.Array, src_ids: jax.Array | None = None
                  ) -> tuple[jax.Array, DecoderCache]:
    """One decoder step, without dropout.

    Args:
      token: ``[Bw]`` int, the token at position ``step`` (``BOS`` at step 0).
      cache: from :meth:`init_cache` or the previous step.
      step: ``[]`` int32, the position being fed; the same for every row.
      encoded: ``[Bw, Ls, D]`` from :meth:`encode` (tiled to ``Bw`` rows).
      src_mask: ``[Bw, Ls]`` bool.
      src_ids: ``[Bw, Ls]`` int, the source (needed when the model copies).

    Returns:
      ``(logits [Bw, V] float32, cache)``: the scores of the token at
      ``step + 1`` and the cache with ``step``'s keys and values written.
    """
    return self._step(token, cache, step, self.cross_kv(encoded), src_mask,
                      self.copy_source(encoded, src_mask, src_ids))

  def cross_kv(self, encoded: jax.Array) -> DecoderCache:
    """Per decoder layer, the cross-attention keys and values of ``encoded``
    ``[Bw, Ls, D]`` (two ``[Bw, Ls, Nh, Dh]``): fixed for a whole search, so a
    search computes them once rather than at every step."""
    return tuple(layer.cross_attn.project_kv(encoded) for layer in self.decoder)

  def _step(self, token, cache, step, cross_kv, src_mask, source=None):
    """:meth:`decode_step` with the cross-attention keys/values given (:meth:`cross_kv`)
    and what copying reads (:meth:`copy_source`)."""
    step = jnp.asarray(step, jnp.int32)
    max_length = cache[0].key.shape[1]
    x = self.embed(token[:, None]) + self.dec_pos(step, 1)  # --> [Bw, 1, D]
    seen = (jnp.arange(max_length) <= step)[None, None, None, :]  # --> [1, 1, 1, L]
    cross = jnp.asarray(src_mask, bool)[:, None, None, :]  # --> [Bw, 1, 1, Ls]
    new_cache = []
    for layer, kv, ckv in zip(self.decoder, cache, cross_kv):
      x, kv = layer(x, seen, None, cross, True, None, cache=kv, step=step, cross_kv=ckv)
      new_cache.append(kv)
    return self._logits(x, source)[:, 0], tuple(new_cache)


def tokens_to_logits_fn(model: Rewriter, encoded: jax.Array, src_mask: jax.Array,
                        src_ids: jax.Array | None = None
                        ) -> Callable[[jax.Array, DecoderCache, jax.Array],
                                      tuple[jax.Array, DecoderCache]]:
  """The beam search's ``tokens_to_logits(tokens [Bw], cache, step)`` for one batch.

  ``encoded`` ``[Bw, Ls, D]``, ``src_mask`` and ``src_ids`` ``[Bw, Ls]`` (the
  ids: only for a copying model) are already tiled to
  the ``Bw = B * W`` rows (e.g. ``jnp.repeat(x, W, axis=0)``). The
  cross-attention keys and values are projected here, once, and closed over
  (re-projecting ``[Bw, Ls, D]`` would cost more FLOPs per step than the rest of
  the decoder; inside a jitted ``lax.while_loop`` XLA's loop-invariant code
  motion hoists it anyway, outside one it does not).
  """
  cross_kv = model.cross_kv(encoded)
  source = model.copy_source(encoded, src_mask, src_ids)
  return lambda tokens, cache, step: model._step(  # pylint: disable=protected-access
      tokens, cache, step, cross_kv, src_mask, source)


def rewriter_loss(model: Rewriter, batch: Mapping[str, jax.Array], rngs: nnx.Rngs | None = None,
                  *, label_smoothing: float = 0.0) -> tuple[jax.Array, dict[str, jax.Array]]:
  """Summed token cross-entropy, in the trainer's loss contract.

  Args:
    model: the rewriter.
    batch: ``source_ids``, ``source_mask`` ``[B, Ls]``; ``target_in``,
      ``target_out``, ``target_mask`` ``[B, Lt]`` (as
      :func:`fsnlu_jax.data.rewrite.encode_pairs` makes them).
    rngs: dropout randomness (train step); None evaluates deterministically.
    label_smoothing: mass spread uniformly over the vocabulary (0: none).

  Returns:
    ``(loss_sum, aux)``: the sum over real target tokens (EOS included) and
    ``count`` (those tokens), ``nll_sum`` (unsmoothed), ``correct`` (argmax
    hits) and ``exact`` (rows with every token right).
  """
  logits = model(batch["source_ids"], batch["source_mask"], batch["target_in"],
                 deterministic=rngs is None, rngs=rngs)  # --> [B, Lt, V]
  return token_cross_entropy(logits, batch["target_out"], batch["target_mask"],
                             label_smoothing=label_smoothing)
