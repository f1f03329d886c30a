"""An encoder-decoder warm-started from a BERT checkpoint (BERT2BERT), with a static KV cache.

Rothe, Narayan & Severyn (2020) build a sequence-to-sequence transformer from
one BERT checkpoint: the encoder is the checkpoint; each decoder layer is the
checkpoint's layer of the same index with its self-attention made causal, a
NEW cross-attention sub-layer (random initialisation, its own residual and
layer norm) between self-attention and feed-forward, and the checkpoint's
feed-forward. Everything is post-LN, as BERT. Encoder and decoder share one
embedding module (word + position + segment 0, then its layer norm), and the
output projection is the transposed word table (tied) plus a bias that starts
at zero. The layers are :mod:`fsnlu_jax.models._bert`'s: the decoder layer is
a :class:`~fsnlu_jax.models._bert.BertLayer` with cross-attention added, so the
checkpoint names of its parameters are the encoder's
(:func:`~fsnlu_jax.models._architectures.bert2bert_names`).

For search, :meth:`BertSeq2Seq.decode_step` runs the decoder one token at a
time over a :class:`Seq2SeqCache`: per layer, the self-attention keys and
values in static-shape buffers written at ``step`` with
``lax.dynamic_update_slice``, and the cross-attention keys and values computed
once from the encoder output; with the source mask they make the whole cache,
so its signature is the beam search's and the sampler's
``tokens_to_logits(tokens, cache, step)`` and reordering beams reorders every
part of it. Run step by step it reproduces the teacher-forced logits of
:meth:`BertSeq2Seq.__call__`.

Shapes: ``B`` batch, ``Bw`` decoding rows (``B * W`` under a beam of ``W``),
``Ls`` source length, ``Lt`` target length, ``L`` cache length, ``D`` width,
``Nh`` heads, ``Dh = D / Nh``, ``V`` vocabulary.

References:
  Rothe, Narayan & Severyn, "Leveraging Pre-trained Checkpoints for Sequence
  Generation Tasks", TACL 2020 (BERT2BERT, shared variant).
  Devlin et al., "BERT", NAACL 2019.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Callable, Mapping, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from fsnlu_jax.models._architectures import bert2bert_names
from fsnlu_jax.models._sequence_loss import token_cross_entropy
from fsnlu_jax.models._bert import BertConfig, BertEncoder, BertLayer, BertSelfAttention
from fsnlu_jax.models._pretrained import checkpoint_config, copy_checkpoint
from fsnlu_jax.models._rewriter import KVCache

# BERT's initialiser (Hugging Face's initializer_range), for the new cross-attention.
BERT_INIT = nnx.initializers.normal(0.02)


@dataclasses.dataclass(frozen=True)
class Seq2SeqConfig:
  """Sizes and special ids of a :class:`BertSeq2Seq`.

  Attributes:
    encoder: the checkpoint's :class:`~fsnlu_jax.models.BertConfig` (sizes,
      dropout, vocabulary).
    decoder_layers: decoder blocks; None: as many as the encoder (warm
      starting takes the checkpoint's first ``decoder_layers`` layers).
    max_target_len: the longest decoder input ``Lt`` (BOS included); at most
      the checkpoint's positions, which the decoder shares.
    label_smoothing: mass :func:`seq2seq_loss` spreads uniformly over the
      vocabulary (0: none).
    bos_id, eos_id, pad_id: the decoder's first input, the token that ends a
      target, padding (MiniLM's uncased vocabulary: ``[CLS]`` 101, ``[SEP]``
      102, ``[PAD]`` 0).
    output_ids: an output shortlist: the only pieces the decoder can write
      (a parser's grammar pieces), with ``bos_id`` and ``eos_id``. Logits are
      then ``[..., V']`` over these (``V' = len(output_ids)``), targets and
      searched tokens are *positions* in it (:meth:`output_index`), and
      :func:`seq2seq_tokens_to_logits` maps a fed position back to its piece.
      A softmax over a few hundred pieces instead of 30k: the output layer
      was most of a CPU step, and decoding masks every other piece anyway.
      None: the whole vocabulary.
  """

  encoder: BertConfig
  decoder_layers: int | None = None
  max_target_len: int = 64
  label_smoothing: float = 0.0
  bos_id: int = 101
  eos_id: int = 102
  pad_id: int = 0
  output_ids: tuple[int, ...] | None = None

  def __post_init__(self):
    if isinstance(self.encoder, Mapping):  # from_dict / JSON configs
      object.__setattr__(self, "encoder", BertConfig(**self.encoder))
    if self.output_ids is not None:
      ids = tuple(int(i) for i in self.output_ids)  # JSON gives a list
      object.__setattr__(self, "output_ids", ids)
      if len(set(ids)) != len(ids) or not all(0 <= i < self.encoder.vocab_size for i in ids):
        raise ValueError("output_ids must be distinct pieces of the vocabulary")
      if self.bos_id not in ids or self.eos_id not in ids:
        raise ValueError("output_ids must hold bos_id (fed first by a search) and eos_id")
    if self.num_decoder_layers < 1:
      raise ValueError(f"decoder_layers must be >= 1, got {self.decoder_layers}")
    if not 1 <= self.max_target_len <= self.encoder.max_position_embeddings:
      raise ValueError(f"max_target_len {self.max_target_len} must be in [1, "
                       f"max_position_embeddings={self.encoder.max_position_embeddings}]")
    if not 0.0 <= self.label_smoothing < 1.0:
      raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
    for name in ("bos_id", "eos_id", "pad_id"):
      if not 0 <= getattr(self, name) < self.encoder.vocab_size:
        raise ValueError(f"{name} {getattr(self, name)} is not in [0, vocab_size="
                         f"{self.encoder.vocab_size})")

  @property
  def num_decoder_layers(self) -> int:
    """``decoder_layers``, resolved."""
    return self.encoder.num_hidden_layers if self.decoder_layers is None else self.decoder_layers

  @property
  def output_size(self) -> int:
    """The logits' last axis: ``V``, or ``V'`` with a shortlist."""
    return self.encoder.vocab_size if self.output_ids is None else len(self.output_ids)

  def output_index(self) -> np.ndarray:
    """int32 ``[V]``: each piece's output position (-1 outside the shortlist)."""
    index = np.full(self.encoder.vocab_size, -1, np.int32)
    ids = np.arange(self.encoder.vocab_size) if self.output_ids is None else self.output_ids
    index[np.asarray(ids)] = np.arange(len(ids), dtype=np.int32)
    return index

  def output_pieces(self) -> np.ndarray:
    """int32 ``[V']``: the piece of each output position."""
    if self.output_ids is None:
      return np.arange(self.encoder.vocab_size, dtype=np.int32)
    return np.asarray(self.output_ids, np.int32)


class Seq2SeqCache(NamedTuple):
  """Everything a decoder step reads besides its token: a pytree, rows first.

  Tile a cache of ``B`` rows to ``B * W`` beams with
  :func:`fsnlu_jax.kernels.expand_to_beams`; every leaf has the rows first.
  """

  self_kv: tuple[KVCache, ...]  # per layer, [Bw, Nh, L, Dh] keys/values of the tokens fed so far
  cross_kv: tuple[KVCache, ...]  # per layer, [Bw, Nh, Ls, Dh] of the encoder output (fixed)
  src_mask: jax.Array  # [Bw, Ls] bool, True on real source tokens


class BertDecoderLayer(BertLayer):
  """A BERT layer (causal self-attention, feed-forward) with cross-attention between.

  The inherited attention, norms and feed-forward keep :class:`BertLayer`'s
  names (so the checkpoint's layer fills them); ``cross_attention`` and
  ``cross_attention_norm`` are new.
  """

  def __init__(self, c: BertConfig, *, rngs: nnx.Rngs):
    super().__init__(c, rngs=rngs)
    self.init_cross_attention(c, rngs=rngs)

  def init_cross_attention(self, c: BertConfig, *, rngs: nnx.Rngs) -> None:
    """(Re)creates the cross-attention sub-layer: N(0, 0.02) kernels as BERT's
    initialiser, zero biases, a unit layer norm (Rothe et al.'s new weights)."""
    self.cross_attention = BertSelfAttention(c, rngs=rngs, kernel_init=BERT_INIT)
    self.cross_attention_norm = nnx.LayerNorm(c.hidden_size, epsilon=c.layer_norm_eps,
                                              rngs=rngs)

  def __call__(self, x: jax.Array, self_kv: KVCache, self_mask: jax.Array, cross_kv: KVCache,
               cross_mask: jax.Array, *, deterministic: bool,
               rngs: nnx.Rngs | None) -> jax.Array:
    """``x [Bw, Lq, D]`` attending to ``self_kv`` under ``self_mask`` and to
    ``cross_kv`` under ``cross_mask`` (masks broadcastable to ``[Bw, Nh, Lq, Lk]``)."""
    drop = lambda t: self.dropout(t, deterministic=deterministic, rngs=rngs)
    attend = lambda attention, kv, mask: drop(attention.attend(
        x, kv.key, kv.value, mask, deterministic=deterministic, rngs=rngs))
    x = self.attention_norm(x + attend(self.attention, self_kv, self_mask))
    x = self.cross_attention_norm(x + attend(self.cross_attention, cross_kv, cross_mask))
    return self.feed_forward(x, drop)


class BertSeq2Seq(nnx.Module):
  """BERT2BERT: a BERT encoder, a BERT decoder with cross-attention, one embedding.

  >>> from flax import nnx
  >>> import jax.numpy as jnp
  >>> bert = BertConfig(vocab_size=30, hidden_size=8, num_hidden_layers=2,
  ...                   num_attention_heads=2, intermediate_size=16, max_position_embeddings=16)
  >>> model = BertSeq2Seq(Seq2SeqConfig(bert, max_target_len=6, bos_id=2, eos_id=3),
  ...                     rngs=nnx.Rngs(0))
  >>> src, mask = jnp.array([[2, 7, 9, 3, 0]]), jnp.array([[1, 1, 1, 1, 0]], bool)
  >>> model(src, mask, jnp.array([[2, 5, 6]])).shape
  (1, 3, 30)
  >>> cache = model.init_cache(model.encode(src, mask), mask, 6)
  >>> logits, cache = model.decode_step(jnp.array([2]), cache, jnp.int32(0))
  >>> logits.shape, cache.self_kv[0].key.shape, cache.cross_kv[0].key.shape
  ((1, 30), (1, 2, 6, 4), (1, 2, 5, 4))

  Attributes:
    config: the :class:`Seq2SeqConfig`.
    encoder: a :class:`~fsnlu_jax.models.BertEncoder`; its ``embeddings`` are
      the decoder's too, and its word table is the output projection.
    decoder: the :class:`BertDecoderLayer` stack.
    output_bias: ``[V]`` (``[V']`` with a shortlist), zero at initialisation.
  """

  def __init__(self, config: Seq2SeqConfig, *, rngs: nnx.Rngs):
    self.config = config
    self.encoder = BertEncoder(config.encoder, normalize=False, rngs=rngs)
    self.decoder = nnx.List([BertDecoderLayer(config.encoder, rngs=rngs)
                             for _ in range(config.num_decoder_layers)])
    self.output_bias = nnx.Param(jnp.zeros((config.output_size,), jnp.float32))

  def _check_rngs(self, deterministic: bool, rngs: nnx.Rngs | None) -> None:
    c = self.config.encoder
    if not deterministic and rngs is None and (c.hidden_dropout_prob or
                                               c.attention_probs_dropout_prob):
      raise ValueError("training (deterministic=False) needs rngs with a 'dropout' stream")

  def encode(self, src_ids: jax.Array, src_mask: jax.Array, *, deterministic: bool = True,
             rngs: nnx.Rngs | None = None) -> jax.Array:
    """Token states ``[B, Ls, D]`` of ``src_ids [B, Ls]`` under ``src_mask [B, Ls]``
    (the checkpoint encoder's, exactly, when warm-started)."""
    self._check_rngs(deterministic, rngs)
    return self.encoder(src_ids, src_mask, deterministic=deterministic, rngs=rngs)

  def _embed(self, tokens: jax.Array, positions: jax.Array) -> jax.Array:
    """Decoder input ``[Bw, Lq, D]``: the shared embeddings with segment 0."""
    return self.encoder.embeddings(tokens, jnp.zeros_like(tokens), positions)

  def _logits(self, h: jax.Array) -> jax.Array:
    """Tied output projection: ``h [..., D] -> [..., V]`` (``[..., V']``) float32."""
    table = self.encoder.embeddings.word.embedding[...]
    if self.config.output_ids is not None:
      table = table[jnp.asarray(self.config.output_ids)]  # --> [V', D]
    return (h @ table.T + self.output_bias[...]).astype(jnp.float32)

  def cross_kv(self, encoded: jax.Array) -> tuple[KVCache, ...]:
    """Per decoder layer, the cross-attention keys and values of ``encoded [Bw, Ls, D]``."""
    return tuple(KVCache(*layer.cross_attention.project_kv(encoded)) for layer in self.decoder)

  def __call__(self, src_ids: jax.Array, src_mask: jax.Array, tgt_in: jax.Array, *,
               tgt_mask: jax.Array | None = None, deterministic: bool = True,
               rngs: nnx.Rngs | None = None) -> jax.Array:
    """Teacher-forced next-token logits.

    Args:
      src_ids: ``[B, Ls]`` source pieces; ``src_mask`` ``[B, Ls]`` bool, True on
        real pieces (padding is never attended to).
      tgt_in: ``[B, Lt]`` decoder input: ``bos_id``, then the target (padding after).
      tgt_mask: ``[B, Lt]`` bool, True on real decoder inputs; padding keys are
        then excluded too. None: the causal mask alone, which gives the same
        logits at real positions (padding only follows them).
      deterministic: no dropout; False needs ``rngs``.
      rngs: an :class:`flax.nnx.Rngs` with a ``dropout`` stream.

    Returns:
      ``[B, Lt, V]`` (``[B, Lt, V']``) float32 logits; row ``t`` predicts target
      token ``t``.
    """
    encoded = self.encode(src_ids, src_mask, deterministic=deterministic, rngs=rngs)
    length = tgt_in.shape[1]
    if length > self.config.max_target_len:
      raise ValueError(f"target length {length} exceeds max_target_len "
                       f"{self.config.max_target_len}")
    self_mask = jnp.tril(jnp.ones((length, length), bool))[None, None]  # --> [1, 1, Lt, Lt]
    if tgt_mask is not None:
      self_mask = self_mask & jnp.asarray(tgt_mask, bool)[:, None, None, :]
    cross_mask = jnp.asarray(src_mask, bool)[:, None, None, :]  # --> [B, 1, 1, Ls]
    x = self._embed(tgt_in, jnp.arange(length)[None, :])
    x = self.encoder.dropout(x, deterministic=deterministic, rngs=rngs)
    for layer, cross in zip(self.decoder, self.cross_kv(encoded)):
      self_kv = KVCache(*layer.attention.project_kv(x))
      x = layer(x, self_kv, self_mask, cross, cross_mask, deterministic=deterministic, rngs=rngs)
    return self._logits(x)

  def init_cache(self, encoded: jax.Array, src_mask: jax.Array, max_length: int) -> Seq2SeqCache:
    """A cache for decoding ``max_length`` tokens from ``encoded [B, Ls, D]``.

    Self-attention keys and values are zeros ``[B, Nh, L, Dh]``; the
    cross-attention ones are projected here, once for the whole search.
    """
    c = self.config
    if not 1 <= max_length <= c.max_target_len:
      raise ValueError(f"max_length {max_length} must be in [1, max_target_len="
                       f"{c.max_target_len}]")
    heads = c.encoder.num_attention_heads
    shape = (encoded.shape[0], heads, max_length, c.encoder.hidden_size // heads)
    zeros = lambda: jnp.zeros(shape, encoded.dtype)
    return Seq2SeqCache(self_kv=tuple(KVCache(zeros(), zeros()) for _ in self.decoder),
                        cross_kv=self.cross_kv(encoded), src_mask=jnp.asarray(src_mask, bool))

  def decode_step(self, tokens: jax.Array, cache: Seq2SeqCache, step: jax.Array | int
                  ) -> tuple[jax.Array, Seq2SeqCache]:
    """One decoder step, without dropout.

    Args:
      tokens: ``[Bw]`` int, the decoder input at position ``step`` (``bos_id`` at 0).
      cache: from :meth:`init_cache` (tiled to ``Bw`` rows) or the previous step.
      step: ``[]`` int32, the position being fed, the same for every row.

    Returns:
      ``(logits [Bw, V] ([Bw, V']) float32, cache)``: scores of the token at ``step + 1``,
      and the cache with ``step``'s keys and values written.
    """
    step = jnp.asarray(step, jnp.int32)
    max_length = cache.self_kv[0].key.shape[2]
    x = self._embed(tokens[:, None], step[None, None])  # --> [Bw, 1, D]
    seen = (jnp.arange(max_length) <= step)[None, None, None, :]  # --> [1, 1, 1, L]
    cross_mask = cache.src_mask[:, None, None, :]  # --> [Bw, 1, 1, Ls]
    written = []
    for layer, kv, cross in zip(self.decoder, cache.self_kv, cache.cross_kv):
      new = layer.attention.project_kv(x)  # two [Bw, Nh, 1, Dh]
      kv = KVCache(*(jax.lax.dynamic_update_slice(old, n.astype(old.dtype), (0, 0, step, 0))
                     for old, n in zip(kv, new)))
      x = layer(x, kv, seen, cross, cross_mask, deterministic=True, rngs=None)
      written.append(kv)
    return self._logits(x)[:, 0], cache._replace(self_kv=tuple(written))


def seq2seq_tokens_to_logits(model: BertSeq2Seq) -> Callable[
    [jax.Array, Seq2SeqCache, jax.Array], tuple[jax.Array, Seq2SeqCache]]:
  """The ``tokens_to_logits(tokens [Bw], cache, step)`` of
  :func:`fsnlu_jax.kernels.beam_search` and :func:`fsnlu_jax.kernels.sample`.

  Everything a step needs besides the model is in the cache, so build it from
  ``B`` rows and tile it to ``B * W`` beams (for sampling, ``W = 1``)::

    cache = model.init_cache(model.encode(src_ids, src_mask), src_mask, max_length)
    result = beam_search(seq2seq_tokens_to_logits(model), expand_to_beams(cache, W), ...)

  With a shortlist (``config.output_ids``) the search runs over output
  positions (``vocab_size=V'``, BOS and EOS as their positions, a constraint
  through :func:`fsnlu_jax.kernels.shortlist_constraint`): each fed position
  is mapped to its piece here, and the result's positions are pieces again
  through ``config.output_pieces()``.
  """
  if model.config.output_ids is None:
    return model.decode_step
  pieces = jnp.asarray(model.config.output_ids, jnp.int32)
  return lambda tokens, cache, step: model.decode_step(pieces[tokens], cache, step)


def seq2seq_loss(model: BertSeq2Seq, batch: Mapping[str, jax.Array],
                 rngs: nnx.Rngs | None = None) -> tuple[jax.Array, dict[str, jax.Array]]:
  """Token cross-entropy in the trainer's loss contract (:mod:`fsnlu_jax.train.step`).

  Args:
    model: the encoder-decoder; its config's ``label_smoothing`` applies.
    batch: ``src_ids``, ``src_mask`` ``[B, Ls]``; ``tgt_in``, ``tgt_out``,
      ``tgt_mask`` ``[B, Lt]`` (``tgt_out`` is ``tgt_in`` shifted left, ending
      in ``eos_id``, as output positions with a shortlist
      (``config.output_index()``); ``tgt_mask`` True on its real tokens).
    rngs: dropout randomness (train step); None evaluates deterministically.

  Returns:
    ``(loss_sum, aux)``: the (smoothed) cross-entropy summed over real target
    tokens, so the trainer's ``loss_sum / count`` is the token mean; ``aux``
    holds sums: ``count`` (real target tokens), ``nll_sum`` (unsmoothed),
    ``correct`` (argmax hits; token accuracy is ``correct / count``) and
    ``exact`` (rows with every token right).
  """
  mask = jnp.asarray(batch["tgt_mask"], bool)
  logits = model(batch["src_ids"], batch["src_mask"], batch["tgt_in"], tgt_mask=mask,
                 deterministic=rngs is None, rngs=rngs)  # --> [B, Lt, V]
  return token_cross_entropy(logits, batch["tgt_out"], mask,
                             label_smoothing=model.config.label_smoothing)


def _special_id(folder, piece: str) -> int | None:
  """The id of ``piece`` in the folder's ``tokenizer.json``; None without one."""
  path = folder / "tokenizer.json"
  if not path.is_file():
    return None
  import tokenizers  # pylint: disable=import-outside-toplevel
  return tokenizers.Tokenizer.from_file(str(path)).token_to_id(piece)


def warm_start_seq2seq(path_or_name: str | os.PathLike, *, decoder_layers: int | None = None,
                       max_target_len: int = 64, label_smoothing: float = 0.0,
                       bos_id: int | None = None, eos_id: int | None = None,
                       pad_id: int | None = None, output_ids: Sequence[int] | None = None,
                       rngs: nnx.Rngs) -> BertSeq2Seq:
  """A :class:`BertSeq2Seq` warm-started from a BERT checkpoint (Rothe et al. 2020).

  The encoder and the embeddings are the checkpoint's; decoder layer ``i``
  takes the checkpoint's layer ``i`` (self-attention, feed-forward, their
  norms); cross-attention (BERT's N(0, 0.02) kernels, zero biases, unit norm)
  and the zero output bias are new. Loading goes through
  :func:`fsnlu_jax.models.load_encoder`'s checks (names, shapes).

  Args:
    path_or_name: a BERT model folder (``config.json``, ``model.safetensors``),
      e.g. all-MiniLM-L6-v2, or a hub name (needs a network).
    decoder_layers: decoder blocks (the checkpoint's first ones); None: all.
    max_target_len, label_smoothing: as :class:`Seq2SeqConfig`.
    bos_id, eos_id, pad_id: None: the folder's ``tokenizer.json`` ``[CLS]``,
      ``[SEP]`` and ``[PAD]``, else :class:`Seq2SeqConfig`'s defaults.
    output_ids: an output shortlist (:class:`Seq2SeqConfig`); None: the vocabulary.
    rngs: initialises the new parameters.

  Raises:
    ValueError: not a BERT checkpoint, more decoder layers than it has, or a
      checkpoint that does not match its ``config.json`` (as ``load_encoder``).
  """
  folder, arch, bert = checkpoint_config(path_or_name)
  if not isinstance(bert, BertConfig):
    raise ValueError(f"{folder}: warm starting needs a BERT checkpoint (model_type 'bert'), "
                     f"this one builds a {type(bert).__name__}")
  defaults = {f.name: f.default for f in dataclasses.fields(Seq2SeqConfig)}
  ids = {}
  for name, given, piece in (("bos_id", bos_id, "[CLS]"), ("eos_id", eos_id, "[SEP]"),
                             ("pad_id", pad_id, "[PAD]")):
    found = _special_id(folder, piece) if given is None else given
    ids[name] = defaults[name] if found is None else found
  config = Seq2SeqConfig(bert, decoder_layers=decoder_layers, max_target_len=max_target_len,
                         label_smoothing=label_smoothing,
                         output_ids=None if output_ids is None else tuple(output_ids), **ids)
  # Shapes only, then the checkpoint's weights and the few new ones: initialising
  # the whole model at random first would cost more than loading it.
  model = nnx.eval_shape(lambda: BertSeq2Seq(config, rngs=nnx.Rngs(0)))
  filled = copy_checkpoint(model, folder, arch,
                           bert2bert_names(bert, config.num_decoder_layers))
  for layer in model.decoder:
    layer.init_cross_attention(bert, rngs=rngs)
  model.output_bias = nnx.Param(jnp.zeros((config.output_size,), jnp.float32))
  new = {path for path, _ in nnx.to_flat_state(nnx.state(model, nnx.Param))} - filled
  assert all(p[0] == "output_bias" or p[2].startswith("cross_attention") for p in new), new
  return model


@dataclasses.dataclass(frozen=True)
class WarmStartConfig:
  """A job's warm-started encoder-decoder (the teacher's, the parser's).

  Attributes:
    checkpoint: a BERT-family model folder or name (``$FSNLU_MODELS_DIR`` is searched).
    decoder_layers: decoder blocks (the checkpoint's first n); None: as many as the encoder.
    train_encoder_layers: the encoder's top n blocks are trained, the rest
      frozen (None: all). On a CPU the encoder's backward pass over long
      sources is most of a step's cost; the decoder is always trained.
    train_embeddings: train the word / position / segment tables (shared by
      the encoder, the decoder and the tied output projection).
  """

  checkpoint: str = "all-MiniLM-L6-v2"
  decoder_layers: int | None = None
  train_encoder_layers: int | None = None
  train_embeddings: bool = True


def seq2seq_trainable_labels(model: BertSeq2Seq, config: WarmStartConfig):
  """``"train"`` or ``"freeze"`` for every parameter leaf of ``model``.

  For ``optax.multi_transform(dict(train=..., freeze=optax.set_to_zero()), labels)``
  (:func:`fsnlu_jax.train.warmup_cosine_adamw`): on a CPU the encoder's
  backward pass is most of a step's cost, so its lower blocks (and the shared
  tables) can stay as the checkpoint has them.

  Args:
    model: the encoder-decoder.
    config: its ``train_encoder_layers`` (the encoder's top n blocks are
      trained, the rest frozen; None: all) and ``train_embeddings`` (the word /
      position / segment tables, shared by the encoder, the decoder and the
      tied output projection; their layer norm is always trained, as is the
      decoder) are read; any config with those two fields serves (the
      sub-word rewriter's).
  """
  params = nnx.state(model, nnx.Param)
  encoder_layers = model.config.encoder.num_hidden_layers
  first_trained = 0 if config.train_encoder_layers is None else max(
      encoder_layers - config.train_encoder_layers, 0)

  def label(path, _):
    keys = [getattr(k, "key", getattr(k, "idx", k)) for k in path]
    if keys[:2] == ["encoder", "layers"]:
      return "train" if int(keys[2]) >= first_trained else "freeze"
    if keys[:2] == ["encoder", "embeddings"] and keys[2] != "norm":
      return "train" if config.train_embeddings else "freeze"
    return "train"

  return jax.tree_util.tree_map_with_path(label, params)
