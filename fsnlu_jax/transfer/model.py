"""The multitask model's training pieces: sizes from a config, the loss sums, the
optimizer, one jitted predictor, and the evaluation metrics.

Shapes: ``B`` batch, ``L`` padded length, ``U`` rows predicted, ``C`` intents.

References:
  Goyal, Metallinou & Matsoukas, "Fast and Scalable Expansion of Natural
  Language Understanding Functionality for Intelligent Agents", NAACL 2018.
"""

from __future__ import annotations

import functools
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from fsnlu_jax import models
from fsnlu_jax.data import EncodedSplit, Example, LabelVocab, Vocab
from fsnlu_jax.train import batching
from fsnlu_jax.train import metrics as metrics_lib
from fsnlu_jax.transfer.config import ModelConfig, OptimConfig
from fsnlu_jax.transfer.pieces import PieceExamples, word_tags


def model_config_for(model: ModelConfig, vocab: Vocab, intents: LabelVocab,
                     tags: LabelVocab) -> models.MultitaskConfig:
  """The model's :class:`~fsnlu_jax.models.MultitaskConfig`: sizes from ``model``, the rest from the data."""
  return models.MultitaskConfig(vocab_size=len(vocab), n_intents=len(intents),
                                n_tags=len(tags), tag_names=tags.labels,
                                embed_dim=model.embed_dim, shared_hidden=model.shared_hidden,
                                task_hidden=model.task_hidden, slot_decoder=model.slot_decoder,
                                dropout=model.dropout, pooling=model.pooling,
                                word_dropout=model.word_dropout)


def loss_fn(slot_weight: float) -> Callable:
  """The step's ``loss_fn(model, batch, rngs) -> (loss_sum, aux)``.

  :func:`~fsnlu_jax.models.multitask_loss` returns batch means; the step needs
  sums. The sum is ``intent_sum + slot_weight * slot_sum`` and ``count`` the
  real (non-filler) rows, so the global loss is the per-row mean.
  """
  def fn(model, batch, rngs):
    _, aux = models.multitask_loss(model, batch, rngs=rngs, slot_weight=slot_weight)
    count = jnp.sum(jnp.any(jnp.asarray(batch["mask"], bool), axis=1))
    loss_sum = aux["intent_sum"] + slot_weight * aux["slot_sum"]
    return loss_sum, dict(count=count, intent_sum=aux["intent_sum"],
                          intent_count=aux["intent_count"], slot_sum=aux["slot_sum"],
                          slot_count=aux["slot_count"])
  return fn


def summarize(sums) -> dict[str, float]:
  """A log window's means: the loss per row, the intent loss per intent, the slot loss per tag."""
  return dict(loss=sums["loss_sum"] / max(sums["count"], 1),
              intent_loss=sums["intent_sum"] / max(sums["intent_count"], 1),
              slot_loss=sums["slot_sum"] / max(sums["slot_count"], 1))


def make_optimizer(model: models.MultitaskBiLSTM, optim: OptimConfig
                   ) -> optax.GradientTransformation:
  """Adam; sub-modules named in ``optim.freeze`` get zero updates."""
  adam = optax.adam(optim.learning_rate)
  if not optim.freeze:
    return adam
  labels = jax.tree.map(lambda t: "train" if t else "freeze",
                        models.trainable_mask(model, list(optim.freeze)))
  return optax.multi_transform({"train": adam, "freeze": optax.set_to_zero()}, labels)


@functools.partial(jax.jit, static_argnums=0)
def _predict_step(graphdef: nnx.GraphDef, state, ids, mask):
  model = nnx.merge(graphdef, state)
  out = model(ids, mask)  # one forward pass for the labels and the probabilities
  intent, tags = models.decode_output(model, out, jnp.asarray(mask, bool))
  return intent, jax.nn.softmax(out.intent_logits), tags


def predict_probabilities(model: models.MultitaskBiLSTM, batch_size: int, *,
                          desc: str | None = None) -> Callable:
  """``predict(ids [U, L], mask) -> (intent [U], probs [U, C], tags [U, L])`` as NumPy.

  Rows go through one jitted step per model structure and shape (models of
  the same sizes share its compilation) in chunks of ``batch_size``
  (:func:`fsnlu_jax.train.map_in_chunks`); ``desc`` labels their progress.
  """
  graphdef, state = nnx.split(model)
  step = lambda chunk: _predict_step(graphdef, state, *chunk)
  return lambda ids, mask: batching.map_in_chunks(step, (ids, mask), batch_size, desc=desc)


def evaluate(model: models.MultitaskBiLSTM, data: EncodedSplit, examples: Sequence[Example],
             intents: LabelVocab, tags: LabelVocab, batch_size: int,
             pieces: PieceExamples | None = None) -> dict[str, float]:
  """Intent accuracy, slot micro-F1 and SemER of ``model`` on ``data`` (of ``examples``).

  With ``pieces`` (``data`` encodes ``pieces.examples``), slots are scored on
  ``pieces.words``, each word tagged by its first piece (:mod:`.pieces`).
  """
  pred_intent, _, pred_tags = predict_probabilities(model, batch_size, desc="evaluation")(
      data.token_ids, data.mask)
  if pieces is not None:
    return _evaluate_on_words(pred_intent, pred_tags, data, pieces, intents, tags)
  # Unknown gold tags (-1) cannot be scored by name: count them as "O".
  gold_tags = np.where(data.mask & (data.slots < 0), tags.encode("O"), data.slots)
  f1 = metrics_lib.slot_f1(pred_tags, gold_tags, tag_names=tags.labels, mask=data.mask)
  refs, hyps = [], []
  for r, e in enumerate(examples):
    n = int(data.lengths[r])
    tokens = e.tokens[:n]
    refs.append((e.intent, metrics_lib.slot_items(tokens, e.slots[:n])))
    hyps.append((intents.id_to_label(int(pred_intent[r])),
                 metrics_lib.slot_items(tokens, tags.decode(pred_tags[r, :n]))))
  return dict(intent_acc=metrics_lib.intent_accuracy(pred_intent, data.intent),
              slot_f1=f1.f1, semer=metrics_lib.semantic_error_rate(refs, hyps))


def _evaluate_on_words(pred_intent: np.ndarray, pred_tags: np.ndarray, data: EncodedSplit,
                       pieces: PieceExamples, intents: LabelVocab, tags: LabelVocab
                       ) -> dict[str, float]:
  """:func:`evaluate`'s metrics of piece-level predictions ``[U, L]``, read back on words."""
  known = set(tags.labels)
  gold_rows, pred_rows, refs, hyps = [], [], [], []
  for r, e in enumerate(pieces.words):
    n = int(data.lengths[r])  # pieces read (padding is tagged -1)
    predicted = word_tags(tags.decode(pred_tags[r, :n]), pieces.first[r], n)
    k = len(predicted)
    # As in the word-level path: for slot F1 a gold tag the model has no label for counts
    # as "O"; SemER reads the gold tags as they are.
    gold_rows.append([t if t in known else "O" for t in e.slots[:k]])
    pred_rows.append(predicted)
    refs.append((e.intent, metrics_lib.slot_items(e.tokens[:k], e.slots[:k])))
    hyps.append((intents.id_to_label(int(pred_intent[r])),
                 metrics_lib.slot_items(e.tokens[:k], predicted)))
  f1 = metrics_lib.slot_f1(pred_rows, gold_rows)
  return dict(intent_acc=metrics_lib.intent_accuracy(pred_intent, data.intent),
              slot_f1=f1.f1, semer=metrics_lib.semantic_error_rate(refs, hyps))
