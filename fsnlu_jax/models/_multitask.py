"""The multitask bi-LSTM of Goyal et al. (2018) for intents and slots.

word embeddings -> one shared bi-LSTM -> a bi-LSTM per task:

* intent classification (IC): the IC bi-LSTM's sentence vector ``[B, 2H_t]``
  (768-d by default, the encoder the few-shot models build on) -> a softmax;
* slot tagging (ST): the ST bi-LSTM's per-token features -> tag scores, decoded
  by a softmax per token or a linear-chain CRF.

For a new domain, :func:`extend_vocabulary` adds embedding rows for its words,
:func:`replace_heads` keeps the lower layers and re-sizes the output layers, and
:func:`trainable_filter` optionally freezes the lower layers. Word dropout
(``MultitaskConfig.word_dropout``) trains the ``<unk>`` row the unseen words
of test time map to.

Shapes: ``B`` batch, ``L`` padded length, ``V`` vocabulary, ``C`` intents,
``T`` slot tags, ``D`` word vector width, ``H_s`` shared and ``H_t`` task bi-LSTM
width per direction.

References:
  Goyal, Metallinou & Matsoukas, "Fast and Scalable Expansion of Natural
  Language Understanding Functionality for Intelligent Agents", NAACL 2018.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Literal, Mapping, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from fsnlu_jax.data.vocab import SPECIAL_TOKENS, UNK_ID
from fsnlu_jax.nn import CRF, BiLSTM, Embedder

SlotDecoder = Literal["crf", "softmax"]
Pooling = Literal["final", "mean", "max"]
NewRows = Literal["random", "mean", "unk"]
NEW_ROWS = ("random", "mean", "unk")


@dataclasses.dataclass(frozen=True)
class MultitaskConfig:
  """Sizes and choices of a :class:`MultitaskBiLSTM`.

  Attributes:
    vocab_size: ``V``, including the special tokens (``len(Vocab)``).
    n_intents: ``C``.
    n_tags: ``T``, BIO slot tags including ``O``.
    tag_names: the ``T`` tag names in id order; with the CRF decoder they turn
      on the BIO transition constraints. None: unconstrained.
    embed_dim: ``D``, word vector width.
    shared_hidden: ``H_s``, shared bi-LSTM width per direction.
    task_hidden: ``H_t``, width per direction of each task bi-LSTM; the IC
      sentence vector is ``2 * task_hidden`` (768 by default).
    slot_decoder: ``"crf"`` (Viterbi at inference) or ``"softmax"``.
    dropout: rate on embeddings, shared features and task features.
    pooling: how the IC bi-LSTM becomes a sentence vector. ``"final"``
      (default, Goyal et al.): the forward state at the last real token
      concatenated with the backward state at the first; ``"mean"`` / ``"max"``:
      over the real tokens' outputs (more robust on long utterances, where the
      final states forget the middle).
    word_dropout: in training only, the probability that a real token's id
      is replaced by ``<unk>`` (Iyyer et al., 2015), so the ``<unk>`` row, the
      vector of every word unseen in training, is trained rather than left at
      its random start; 0 turns it off. Never applied when ``deterministic``.
  """

  vocab_size: int
  n_intents: int
  n_tags: int
  tag_names: tuple[str, ...] | None = None
  embed_dim: int = 300
  shared_hidden: int = 256
  task_hidden: int = 384
  slot_decoder: SlotDecoder = "crf"
  dropout: float = 0.2
  pooling: Pooling = "final"
  word_dropout: float = 0.0

  def __post_init__(self):
    if self.tag_names is not None:
      object.__setattr__(self, "tag_names", tuple(self.tag_names))
      if len(self.tag_names) != self.n_tags:
        raise ValueError(f"{len(self.tag_names)} tag_names for n_tags={self.n_tags}")
    if self.slot_decoder not in ("crf", "softmax"):
      raise ValueError(f"slot_decoder must be 'crf' or 'softmax', got {self.slot_decoder!r}")
    if self.pooling not in ("final", "mean", "max"):
      raise ValueError(f"pooling must be 'final', 'mean' or 'max', got {self.pooling!r}")
    if not 0.0 <= self.word_dropout < 1.0:
      raise ValueError(f"word_dropout must be in [0, 1), got {self.word_dropout}")


class MultitaskOutput(NamedTuple):
  """What :class:`MultitaskBiLSTM` returns."""

  intent_logits: jax.Array  # [B, C] intent scores.
  slot_logits: jax.Array  # [B, L, T] per-token tag scores (CRF emissions).
  sentence: jax.Array  # [B, 2H_t] pooled IC sentence vector, before dropout.


def _pool(outputs: jax.Array, final: jax.Array, mask: jax.Array, pooling: str) -> jax.Array:
  """The sentence vector ``[B, 2H_t]`` from ``outputs`` ``[B, L, 2H_t]``."""
  if pooling == "final":
    return final
  m = mask[..., None]  # --> [B, L, 1]
  if pooling == "mean":
    return outputs.sum(axis=1) / jnp.maximum(m.sum(axis=1), 1).astype(outputs.dtype)
  pooled = jnp.max(jnp.where(m, outputs, -jnp.inf), axis=1)
  return jnp.where(mask.any(axis=1, keepdims=True), pooled, 0.0)  # empty rows: 0


class MultitaskBiLSTM(nnx.Module):
  """Shared bi-LSTM under an intent bi-LSTM and a slot bi-LSTM.

  >>> from flax import nnx
  >>> import jax.numpy as jnp
  >>> cfg = MultitaskConfig(vocab_size=20, n_intents=3, n_tags=3, embed_dim=8,
  ...                       shared_hidden=4, task_hidden=5)
  >>> model = MultitaskBiLSTM(cfg, rngs=nnx.Rngs(0))
  >>> out = model(jnp.array([[4, 5, 0]]), jnp.array([[True, True, False]]))
  >>> out.intent_logits.shape, out.slot_logits.shape, out.sentence.shape
  ((1, 3), (1, 3, 3), (1, 10))

  Attributes:
    embedder, shared: the lower layers (kept by :func:`replace_heads`).
    intent_lstm, slot_lstm: the task bi-LSTMs.
    intent_out, slot_out: output layers (:class:`flax.nnx.Linear`).
    crf: the :class:`~fsnlu_jax.nn.CRF` decoder, or None for softmax.

  References:
    Goyal, Metallinou & Matsoukas, NAACL 2018.
  """

  def __init__(self, config: MultitaskConfig, *, rngs: nnx.Rngs):
    self.config = config
    c = config
    self.embedder = Embedder(c.vocab_size, c.embed_dim, rngs=rngs)
    self.shared = BiLSTM(c.embed_dim, c.shared_hidden, rngs=rngs)
    self.intent_lstm = BiLSTM(2 * c.shared_hidden, c.task_hidden, rngs=rngs)
    self.slot_lstm = BiLSTM(2 * c.shared_hidden, c.task_hidden, rngs=rngs)
    self.dropout = nnx.Dropout(c.dropout)
    self._build_heads(rngs)

  def _build_heads(self, rngs: nnx.Rngs) -> None:
    """(Re)creates the output layers for ``self.config``'s label sets."""
    c = self.config
    self.intent_out = nnx.Linear(2 * c.task_hidden, c.n_intents, rngs=rngs)
    self.slot_out = nnx.Linear(2 * c.task_hidden, c.n_tags, rngs=rngs)
    self.crf = (CRF(c.n_tags, tag_names=c.tag_names, rngs=rngs)
                if c.slot_decoder == "crf" else None)

  def _drop(self, x: jax.Array, deterministic: bool, rngs: nnx.Rngs | None) -> jax.Array:
    return self.dropout(x, deterministic=deterministic, rngs=rngs)

  def _encode(self, x, mask, deterministic, rngs):
    """``(intent outputs [B, L, 2H_t], sentence [B, 2H_t], slot features [B, L, 2H_t])``
    from word vectors ``x`` ``[B, L, D]``."""
    if not deterministic and rngs is None and self.config.dropout > 0:
      raise ValueError("training (deterministic=False) needs rngs with a 'dropout' stream")
    mask = jnp.asarray(mask, bool)
    x = self._drop(x, deterministic, rngs)
    shared, _ = self.shared(x, mask)  # --> [B, L, 2H_s]
    return self._encode_upper(shared, mask, deterministic, rngs)

  def _encode_upper(self, shared, mask, deterministic, rngs):
    """:meth:`_encode` from the shared layer's outputs ``[B, L, 2H_s]``."""
    shared = self._drop(shared, deterministic, rngs)
    intent_seq, final = self.intent_lstm(shared, mask)
    slot_seq, _ = self.slot_lstm(shared, mask)
    return intent_seq, _pool(intent_seq, final, mask, self.config.pooling), slot_seq

  def __call__(self, token_ids: jax.Array, mask: jax.Array, *, deterministic: bool = True,
               rngs: nnx.Rngs | None = None) -> MultitaskOutput:
    """Scores intents and tags: ``from_embeddings(embed(token_ids), mask)``.

    Args:
      token_ids: ``[B, L]`` int word ids, ``PAD_ID`` at padding.
      mask: ``[B, L]`` bool, True on a prefix of real tokens per row.
      deterministic: no dropout and no word dropout (inference). False needs
        ``rngs``.
      rngs: an :class:`flax.nnx.Rngs` with a ``dropout`` stream.

    Returns:
      :class:`MultitaskOutput`.
    """
    token_ids = self.drop_words(token_ids, mask, deterministic=deterministic, rngs=rngs)
    return self.from_embeddings(self.embed(token_ids), mask, deterministic=deterministic,
                                rngs=rngs)

  def drop_words(self, token_ids: jax.Array, mask: jax.Array, *, deterministic: bool,
                 rngs: nnx.Rngs | None) -> jax.Array:
    """``token_ids`` ``[B, L]`` with each real token replaced by ``UNK_ID`` with
    probability ``config.word_dropout`` in training; unchanged when ``deterministic``."""
    rate = self.config.word_dropout
    if deterministic or rate == 0.0:
      return token_ids
    if rngs is None:
      raise ValueError("word dropout in training (deterministic=False) needs rngs")
    drop = jax.random.bernoulli(rngs.dropout(), rate, token_ids.shape)
    return jnp.where(drop & jnp.asarray(mask, bool), UNK_ID, token_ids)

  def embed(self, token_ids: jax.Array) -> jax.Array:
    """``[B, L]`` word ids -> ``[B, L, D]`` word vectors (zero at ``PAD_ID``), before dropout."""
    return self.embedder(token_ids)

  def from_embeddings(self, x: jax.Array, mask: jax.Array, *, deterministic: bool = True,
                      rngs: nnx.Rngs | None = None) -> MultitaskOutput:
    """Scores intents and tags from word vectors (the input integrated gradients varies).

    Args:
      x: ``[B, L, D]`` word vectors, as :meth:`embed` makes them.
      mask, deterministic, rngs: as in :meth:`__call__`.

    Returns:
      :class:`MultitaskOutput`.
    """
    _, sentence, slot_seq = self._encode(x, mask, deterministic, rngs)
    return self._outputs(sentence, slot_seq, deterministic, rngs)

  def _outputs(self, sentence, slot_seq, deterministic, rngs) -> MultitaskOutput:
    intent_logits = self.intent_out(self._drop(sentence, deterministic, rngs))
    slot_logits = self.slot_out(self._drop(slot_seq, deterministic, rngs))
    return MultitaskOutput(intent_logits, slot_logits, sentence)

  def project(self, x: jax.Array) -> jax.Array:
    """The model's affine first step: the shared layer's input projection.

    ``from_projection(project(x), mask)`` equals ``from_embeddings(x, mask)``
    without dropout; integrated gradients uses the pair to apply the
    projection once per example instead of once per path step.

    Args:
      x: ``[B, L, D]`` word vectors.

    Returns:
      ``[B, L, 2, 4H_s]``.
    """
    return self.shared.project(x)

  def from_projection(self, xp: jax.Array, mask: jax.Array) -> MultitaskOutput:
    """Scores intents and tags from :meth:`project`'s output, without dropout.

    Args:
      xp: ``[B, L, 2, 4H_s]``.
      mask: ``[B, L]`` bool, True on a prefix of real tokens per row.
    """
    mask = jnp.asarray(mask, bool)
    shared, _ = self.shared.from_projection(xp, mask)  # --> [B, L, 2H_s]
    _, sentence, slot_seq = self._encode_upper(shared, mask, True, None)
    return self._outputs(sentence, slot_seq, True, None)

  def encode(self, token_ids: jax.Array, mask: jax.Array) -> jax.Array:
    """The sentence encoder for few-shot models: ``[B, L]`` -> ``[B, 2H_t]``, no dropout."""
    return self._encode(self.embed(token_ids), mask, True, None)[1]


def _intent_terms(logits: jax.Array, labels: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Summed cross-entropy over labelled rows (``label >= 0``) and their count."""
  known = labels >= 0
  ce = optax.softmax_cross_entropy_with_integer_labels(
      logits.astype(jnp.float32), jnp.maximum(labels, 0))  # --> [B]
  return jnp.sum(jnp.where(known, ce, 0.0)), jnp.sum(known)


def _slot_terms(model: MultitaskBiLSTM, logits: jax.Array, tags: jax.Array,
                mask: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Summed per-sentence slot loss over rows with a known tag, and their count."""
  known = mask & (tags >= 0)  # --> [B, L]
  has_tags = known.any(axis=1)  # --> [B]
  if model.crf is not None:
    per_row = -model.crf.log_likelihood(logits, tags, mask)  # --> [B]
  else:
    ce = optax.softmax_cross_entropy_with_integer_labels(
        logits.astype(jnp.float32), jnp.maximum(tags, 0))  # --> [B, L]
    per_row = jnp.sum(jnp.where(known, ce, 0.0), axis=1)
  return jnp.sum(jnp.where(has_tags, per_row, 0.0)), jnp.sum(has_tags)


def multitask_loss(model: MultitaskBiLSTM, batch: Mapping[str, jax.Array], *,
                   rngs: nnx.Rngs | None = None,
                   slot_weight: float = 1.0) -> tuple[jax.Array, dict[str, jax.Array]]:
  """Intent cross-entropy plus ``slot_weight`` times the slot loss, batch means.

  Both slot decoders give a loss per *sentence* (the CRF's negative
  log-likelihood, or the sum of token cross-entropies), so ``slot_weight``
  means the same for both. Labels of -1 are ignored: an intent of -1 drops the
  row from the intent mean, a tag of -1 (unknown tag or padding) adds no token
  term (the CRF marginalises over it), and a row without any known tag drops
  out of the slot mean.

  Sharded means: ``aux`` holds each term's ``*_sum`` and ``*_count``. Under
  data parallelism with unequal shards (or unequal numbers of labelled rows)
  averaging the per-device ``loss`` is biased; the exact global loss is
  ``psum(intent_sum) / psum(intent_count) + slot_weight * psum(slot_sum) /
  psum(slot_count)``.

  Args:
    model: the model.
    batch: ``token_ids`` ``[B, L]``, ``mask`` ``[B, L]``, ``intent`` ``[B]``,
      ``slots`` ``[B, L]`` (as :func:`fsnlu_jax.data.encode_split` makes them).
    rngs: dropout randomness; None evaluates deterministically.
    slot_weight: weight of the slot term.

  Returns:
    ``(loss, aux)``: a scalar, and ``intent_loss``, ``slot_loss`` (means),
    ``intent_sum``, ``intent_count``, ``slot_sum``, ``slot_count``.
  """
  mask = jnp.asarray(batch["mask"], bool)
  out = model(batch["token_ids"], mask, deterministic=rngs is None, rngs=rngs)
  intent_sum, intent_count = _intent_terms(out.intent_logits, jnp.asarray(batch["intent"]))
  slot_sum, slot_count = _slot_terms(model, out.slot_logits, jnp.asarray(batch["slots"]), mask)
  intent_loss = intent_sum / jnp.maximum(intent_count, 1)
  slot_loss = slot_sum / jnp.maximum(slot_count, 1)
  aux = dict(intent_loss=intent_loss, slot_loss=slot_loss, intent_sum=intent_sum,
             intent_count=intent_count, slot_sum=slot_sum, slot_count=slot_count)
  return intent_loss + slot_weight * slot_loss, aux


def predict(model: MultitaskBiLSTM, token_ids: jax.Array,
            mask: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Best intent and tag sequence, without dropout.

  Called on concrete arrays it runs one jitted function (compiled once per
  model structure and input shape), on the model's values moved to one local
  device (or replicated over the mesh of an enclosing ``jax.set_mesh``): a
  model whose arrays are still laid out over a training mesh (a train state
  merged back) works outside ``jit`` too. Under a transformation (``jax.jit``, ``nnx.jit``,
  ``jax.vmap``) it is traced as written. Fast from a loop: ``jax.jit(lambda
  g, s, x, m: predict(nnx.merge(g, s), x, m))`` with ``g, s = nnx.split(model)``.

  Args:
    model: the model.
    token_ids: ``[B, L]`` word ids.
    mask: ``[B, L]`` bool, True on real tokens.

  Returns:
    ``(intent [B], tags [B, L])`` int32; tags are the Viterbi path (CRF) or the
    per-token argmax (softmax), and -1 at padding, like ``EncodedSplit.slots``.
  """
  graphdef, state = nnx.split(model)
  if any(isinstance(x, jax.core.Tracer) for x in jax.tree.leaves((state, token_ids, mask))):
    mask = jnp.asarray(mask, bool)
    return decode_output(model, model(token_ids, mask), mask)
  if jax.sharding.get_abstract_mesh().empty:
    state = jax.tree.map(_on_one_device, state)
  else:  # inside `jax.set_mesh(mesh)`: the values replicated over that mesh
    replicated = jax.sharding.NamedSharding(jax.sharding.get_mesh(), jax.sharding.PartitionSpec())
    state = jax.device_put(jax.tree.map(_on_one_device, state), replicated)
  return _predict_jit(graphdef, state, jnp.asarray(token_ids), jnp.asarray(mask, bool))


@functools.partial(jax.jit, static_argnums=0)
def _predict_jit(graphdef: nnx.GraphDef, state: nnx.State, token_ids, mask):
  model = nnx.merge(graphdef, state)
  return decode_output(model, model(token_ids, mask), mask)


def _on_one_device(x):
  """A concrete array as a plain array on this process's first device (values unchanged).

  Arrays laid out over a mesh (replicated or typed with explicit axes) cannot
  meet plain inputs outside that mesh's context.
  """
  if not isinstance(x, jax.Array):
    return x
  if not isinstance(x.sharding, jax.sharding.SingleDeviceSharding):
    x = x.addressable_data(0) if x.is_fully_replicated else np.asarray(x)
  # Always committed to the one device: one compiled version for every model's state.
  return jax.device_put(x, jax.local_devices()[0])


def decode_output(model: MultitaskBiLSTM, out: MultitaskOutput,
                  mask: jax.Array) -> tuple[jax.Array, jax.Array]:
  """:func:`predict` from an output already computed (e.g. when its logits are needed too)."""
  mask = jnp.asarray(mask, bool)
  if model.crf is not None:
    tags, _ = model.crf.decode(out.slot_logits, mask)
  else:
    tags = jnp.argmax(out.slot_logits, axis=-1)
  intent = jnp.argmax(out.intent_logits, axis=-1).astype(jnp.int32)
  return intent, jnp.where(mask, tags, -1).astype(jnp.int32)


def _copy_state(module: nnx.Module):
  # Fresh buffers: a jitted step that donates the old model's arrays would
  # otherwise delete the new model's too.
  return jax.tree.map(jnp.copy, nnx.state(module))


def new_embedding_rows(table: jax.Array, n: int, init: NewRows, key: jax.Array) -> jax.Array:
  """``[n, D]`` rows for words a pretrained table ``[V, D]`` lacks.

  * ``"random"``: N(0, 1), as :class:`~fsnlu_jax.nn.Embedder` draws a fresh
    table (so as a from-scratch model starts every word);
  * ``"mean"``: every new row the mean of the pretrained *word* rows (the
    special tokens' rows excluded): a typical word, at the trained scale;
  * ``"unk"``: every new row a copy of the ``<unk>`` row: the new word starts
    as the pretrained model read it before the extension (useful once
    ``<unk>`` was trained by word dropout).

  >>> import jax, jax.numpy as jnp
  >>> table = jnp.arange(12.0).reshape(6, 2)  # 4 special rows, 2 word rows
  >>> new_embedding_rows(table, 1, "mean", jax.random.key(0)).tolist()
  [[9.0, 10.0]]
  """
  if init == "random":
    return jax.random.normal(key, (n, table.shape[1]), table.dtype)
  if init == "mean":
    words = table[len(SPECIAL_TOKENS):]
    if not words.shape[0]:
      raise ValueError("init 'mean' needs a table with word rows")
    return jnp.broadcast_to(words.mean(axis=0), (n, table.shape[1]))
  if init == "unk":
    return jnp.broadcast_to(table[UNK_ID], (n, table.shape[1]))
  raise ValueError(f"new rows init must be one of {NEW_ROWS}, got {init!r}")


def extend_vocabulary(model: MultitaskBiLSTM, vocab_size: int, *, init: NewRows,
                      rngs: nnx.Rngs) -> MultitaskBiLSTM:
  """A copy of ``model`` whose embedding table has ``vocab_size`` rows.

  Rows ``0 .. V-1`` (``V`` the model's ``vocab_size``) are bit-identical copies
  of the model's; rows ``V ..`` are :func:`new_embedding_rows` (``init``) for
  the words :meth:`fsnlu_jax.data.Vocab.extend` appended. Every other
  parameter is copied unchanged. ``model`` itself is not changed.

  >>> from flax import nnx
  >>> cfg = MultitaskConfig(vocab_size=20, n_intents=3, n_tags=3, embed_dim=8,
  ...                       shared_hidden=4, task_hidden=5)
  >>> big = extend_vocabulary(MultitaskBiLSTM(cfg, rngs=nnx.Rngs(0)), 25, init="mean",
  ...                         rngs=nnx.Rngs(1))
  >>> big.config.vocab_size, big.embedder.embedding[...].shape
  (25, (25, 8))

  Args:
    model: the pretrained model.
    vocab_size: the extended vocabulary's size, at least the model's.
    init: how the new rows start (:func:`new_embedding_rows`).
    rngs: its ``params`` stream draws ``"random"`` rows.

  Raises:
    ValueError: ``vocab_size`` is below the model's, or ``init`` is unknown.
  """
  old = model.config.vocab_size
  if vocab_size < old:
    raise ValueError(f"vocab_size {vocab_size} is below the model's {old}")
  new = MultitaskBiLSTM(dataclasses.replace(model.config, vocab_size=vocab_size), rngs=rngs)
  for name in ("shared", "intent_lstm", "slot_lstm", "intent_out", "slot_out", "crf"):
    if getattr(model, name) is not None:
      nnx.update(getattr(new, name), _copy_state(getattr(model, name)))
  table = model.embedder.embedding[...]
  rows = new_embedding_rows(table, vocab_size - old, init, rngs.params())
  new.embedder.embedding[...] = jnp.concatenate([jnp.copy(table), rows.astype(table.dtype)])
  return new


def replace_heads(model: MultitaskBiLSTM, *, n_intents: int, n_tags: int,
                  tag_names: Sequence[str] | None = None, rngs: nnx.Rngs,
                  reinit_task_lstms: bool = False,
                  word_dropout: float | None = None) -> MultitaskBiLSTM:
  """A copy of ``model`` for a new domain: same lower layers, new output layers.

  The embeddings and the shared bi-LSTM are copied (new buffers, bit-identical
  values); so are the task bi-LSTMs unless ``reinit_task_lstms``. The intent
  and slot output layers and the CRF are drawn afresh at the new sizes. The
  vocabulary is the model's (:func:`extend_vocabulary` first to add the new
  domain's words). ``model`` itself is not changed.

  >>> from flax import nnx
  >>> cfg = MultitaskConfig(vocab_size=20, n_intents=3, n_tags=3, embed_dim=8,
  ...                       shared_hidden=4, task_hidden=5)
  >>> new = replace_heads(MultitaskBiLSTM(cfg, rngs=nnx.Rngs(0)), n_intents=7,
  ...                     n_tags=5, rngs=nnx.Rngs(1))
  >>> new.intent_out.kernel.shape, new.crf.transitions.shape
  ((10, 7), (5, 5))

  Args:
    model: the pretrained model.
    n_intents, n_tags, tag_names: the new domain's label sets.
    rngs: draws the new layers.
    reinit_task_lstms: also draw the two task bi-LSTMs afresh.
    word_dropout: the new model's ``config.word_dropout``; None keeps the model's.

  Returns:
    A new :class:`MultitaskBiLSTM`.
  """
  config = dataclasses.replace(model.config, n_intents=n_intents, n_tags=n_tags,
                               tag_names=None if tag_names is None else tuple(tag_names))
  if word_dropout is not None:
    config = dataclasses.replace(config, word_dropout=word_dropout)
  new = MultitaskBiLSTM(config, rngs=rngs)
  kept = ("embedder", "shared") + (() if reinit_task_lstms else ("intent_lstm", "slot_lstm"))
  for name in kept:
    nnx.update(getattr(new, name), _copy_state(getattr(model, name)))
  return new


def trainable_filter(model: MultitaskBiLSTM,
                     freeze: Sequence[str] = ("embedder", "shared")) -> nnx.filterlib.Filter:
  """An NNX filter for the parameters to train: all but those under ``freeze``.

  Each name in ``freeze`` matches every parameter whose path contains it
  (``"embedder"``, ``"shared"``, ``"intent_lstm"``, ...). The usual way to
  freeze is to split the model three ways and differentiate and optimise the
  trainable part only (frozen weights then cost no gradient)::

    graphdef, train, frozen = nnx.split(model, trainable_filter(model), ...)
    opt_state = tx.init(train)
    # step: grads = jax.grad(lambda t: loss(nnx.merge(graphdef, t, frozen)))(train)

  To keep one parameter tree instead, label it with :func:`trainable_mask`
  and use ``optax.multi_transform`` with ``optax.set_to_zero()`` for the
  frozen part. (Not ``optax.masked`` alone: it passes masked-out gradients
  through unchanged, so frozen weights would still move.)

  Args:
    model: the model (each name must match some parameter, to catch typos).
    freeze: names of sub-modules to keep fixed; empty trains everything.

  Returns:
    A filter for ``nnx.split`` / ``nnx.state``.

  Raises:
    ValueError: a name matches no parameter.
  """
  freeze = tuple(freeze)
  paths = [path for path, _ in nnx.to_flat_state(nnx.state(model, nnx.Param))]
  for name in freeze:
    if not any(name in path for path in paths):
      raise ValueError(f"freeze name {name!r} matches no parameter of the model")
  if not freeze:
    return nnx.Param
  return nnx.All(nnx.Param, nnx.Not(nnx.Any(*(nnx.PathContains(n) for n in freeze))))


def trainable_mask(model: MultitaskBiLSTM,
                   freeze: Sequence[str] = ("embedder", "shared")) -> nnx.State:
  """``nnx.state(model, nnx.Param)``'s structure with True where trainable.

  For ``optax.multi_transform`` over the whole parameter tree::

    params = nnx.state(model, nnx.Param)
    labels = jax.tree.map(lambda t: "train" if t else "freeze", trainable_mask(model))
    tx = optax.multi_transform({"train": optax.adam(1e-3),
                                "freeze": optax.set_to_zero()}, labels)

  Args:
    model, freeze: as in :func:`trainable_filter`.

  Returns:
    An :class:`flax.nnx.State` of bools.
  """
  train = {path for path, _ in nnx.to_flat_state(
      nnx.state(model, trainable_filter(model, freeze)))}
  flat = [(path, jax.tree.map(lambda _, t=path in train: t, value))
          for path, value in nnx.to_flat_state(nnx.state(model, nnx.Param))]
  return nnx.from_flat_state(flat)
