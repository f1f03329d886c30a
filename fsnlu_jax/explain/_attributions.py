"""Word attributions of NLU models' intent and slot outputs, by integrated gradients.

The path runs in embedding space, from a baseline (zeros: the ``<pad>``
vector of :class:`~fsnlu_jax.nn.Embedder`) to the utterance's word vectors;
a token's score is its attribution summed over the embedding width. Any model
with ``embed(token_ids) -> [B, L, E]`` and ``from_embeddings(x, mask) ->``
an output with ``intent_logits`` ``[B, C]`` and ``slot_logits`` ``[B, L, T]``
works (:class:`~fsnlu_jax.models.MultitaskBiLSTM` does).

Shapes: ``B`` batch, ``L`` padded length (tokens), ``E`` embedding width,
``C`` intents, ``T`` slot tags, ``W`` words, ``M`` IG steps.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
from flax import nnx

from fsnlu_jax.kernels import IGMethod, integrated_gradients

TargetKind = Literal["intent", "slot"]
TargetOutput = Literal["logit", "probability"]


@functools.partial(jax.tree_util.register_dataclass, data_fields=("label", "position"),
                   meta_fields=("kind", "output"))
@dataclasses.dataclass(frozen=True)
class Target:
  """Which scalar output to explain, per example; make it with
  :func:`intent_target` or :func:`slot_target`.

  Attributes:
    kind: ``"intent"`` or ``"slot"`` (static: changing it recompiles).
    output: ``"logit"`` or ``"probability"`` (static).
    label: ``[B]`` int, the intent id or the slot tag id.
    position: ``[B]`` int, the token whose tag is explained (0 for intents).
  """

  kind: TargetKind
  output: TargetOutput
  label: jax.Array
  position: jax.Array


def _check_output(output: str) -> None:
  if output not in ("logit", "probability"):
    raise ValueError(f"output must be 'logit' or 'probability', got {output!r}")


def intent_target(intent: jax.Array, *, output: TargetOutput = "logit") -> Target:
  """Explain intent ``intent[b]`` of example ``b``: its logit or its softmax probability.

  Args:
    intent: ``[B]`` int intent ids (e.g. the wrong prediction to explain).
    output: ``"logit"`` or ``"probability"``.
  """
  _check_output(output)
  intent = jnp.asarray(intent, jnp.int32)
  return Target("intent", output, intent, jnp.zeros_like(intent))


def slot_target(tag: jax.Array, position: jax.Array, *,
                output: TargetOutput = "logit") -> Target:
  """Explain tag ``tag[b]`` at token ``position[b]`` of example ``b``.

  ``"logit"`` is the tag's emission score; ``"probability"`` is the tag's
  marginal probability at that token: the CRF marginal for a model with a
  CRF (``model.crf``), else the softmax over the token's tag scores.

  Args:
    tag: ``[B]`` int tag ids.
    position: ``[B]`` int token positions (real tokens).
    output: ``"logit"`` or ``"probability"``.
  """
  _check_output(output)
  return Target("slot", output, jnp.asarray(tag, jnp.int32), jnp.asarray(position, jnp.int32))


class TokenAttributions(NamedTuple):
  """What :func:`token_attributions` returns."""

  scores: jax.Array  # [B, L] per-token attribution (summed over E), 0 at padding.
  gap: jax.Array  # [B] sum of scores - (value - baseline_value): IG's quadrature error.
  value: jax.Array  # [B] the explained output at the utterance.
  baseline_value: jax.Array  # [B] the explained output at the baseline.


def _target_output(model: nnx.Module, x: jax.Array, mask: jax.Array, kind: str, output: str,
                   label: jax.Array, position: jax.Array) -> jax.Array:
  """The explained scalar for one example: ``x`` ``[L, E]``, ``mask`` ``[L]``."""
  out = model.from_embeddings(x[None], mask[None])
  if kind == "intent":
    logits = out.intent_logits[0]  # --> [C]
    return (jax.nn.softmax(logits) if output == "probability" else logits)[label]
  emissions = out.slot_logits  # --> [1, L, T]
  if output == "logit":
    return emissions[0, position, label]
  crf = getattr(model, "crf", None)
  if crf is not None:
    return crf.marginals(emissions, mask[None])[0, position, label]
  return jax.nn.softmax(emissions[0, position])[label]


@functools.partial(jax.jit, static_argnames=("graphdef", "steps", "method", "chunk_size"))
def _attribute(graphdef, state, token_ids, mask, target: Target, baseline, *, steps, method,
               chunk_size) -> TokenAttributions:
  model = nnx.merge(graphdef, state)
  x = model.embed(token_ids)  # --> [B, L, E]
  baseline = jnp.zeros_like(x) if baseline is None else baseline

  def f(x_b, mask_b, label, position):
    return _target_output(model, x_b, mask_b, target.kind, target.output, label, position)

  res = integrated_gradients(f, x, baseline, mask, target.label, target.position,
                             steps=steps, method=method, chunk_size=chunk_size)
  scores = jnp.where(mask, res.attributions.sum(axis=-1), 0.0)  # --> [B, L]
  return TokenAttributions(scores, res.gap, res.value, res.baseline_value)


def token_attributions(model: nnx.Module, token_ids: jax.Array, mask: jax.Array,
                       target: Target, *, baseline: jax.Array | None = None, steps: int = 50,
                       method: IGMethod = "gausslegendre",
                       chunk_size: int | None = 16) -> TokenAttributions:
  """Per-token integrated-gradients scores of an intent or slot output.

  Runs without dropout, jitted once per model structure, shapes and static
  settings (a model with new weights but the same sizes reuses the compiled
  code). Peak memory grows with ``B * chunk_size``, not with ``steps``.

  >>> from flax import nnx
  >>> import jax.numpy as jnp
  >>> from fsnlu_jax.models import MultitaskBiLSTM, MultitaskConfig
  >>> cfg = MultitaskConfig(vocab_size=20, n_intents=3, n_tags=3, embed_dim=8,
  ...                       shared_hidden=4, task_hidden=5)
  >>> model = MultitaskBiLSTM(cfg, rngs=nnx.Rngs(0))
  >>> ids, mask = jnp.array([[4, 5, 0]]), jnp.array([[True, True, False]])
  >>> att = token_attributions(model, ids, mask, intent_target(jnp.array([2])), steps=32)
  >>> att.scores.shape, float(att.scores[0, 2]), bool(abs(att.gap[0]) < 1e-3)
  ((1, 3), 0.0, True)

  Args:
    model: e.g. a :class:`~fsnlu_jax.models.MultitaskBiLSTM` (see module docs).
    token_ids: ``[B, L]`` int word ids, ``PAD_ID`` at padding.
    mask: ``[B, L]`` bool, True on real tokens.
    target: :func:`intent_target` or :func:`slot_target`.
    baseline: ``[B, L, E]`` (or broadcastable) baseline word vectors; None:
      zeros, i.e. every word replaced by ``<pad>``.
    steps: ``M``, IG steps.
    method: the quadrature rule (:func:`~fsnlu_jax.kernels.ig_quadrature`).
    chunk_size: at most this many steps per pass (None: all at once); the
      memory bound, and a speed knob: ``B * chunk_size`` rows of a few
      hundred were fastest on one CPU core (``benchmarks/bench_ig.py``).

  Returns:
    :class:`TokenAttributions`; ``scores`` ``[B, L]`` sum to ``value -
    baseline_value`` up to ``gap``.

  References:
    Sundararajan, Taly & Yan, "Axiomatic Attribution for Deep Networks", ICML 2017.
  """
  graphdef, state = nnx.split(model)
  mask = jnp.asarray(mask, bool)
  return _attribute(graphdef, state, jnp.asarray(token_ids), mask, target, baseline,
                    steps=steps, method=method, chunk_size=chunk_size)


def aggregate_to_words(scores: jax.Array, word_index: jax.Array, *,
                       n_words: int | None = None) -> jax.Array:
  """Sums sub-token scores into word scores.

  A word-level model (the bi-LSTM) has ``word_index = where(mask, arange(L),
  -1)``, and this is the identity; a sub-word tokenizer maps each piece to
  the index of the word it came from.

  >>> import jax.numpy as jnp
  >>> aggregate_to_words(jnp.array([[1., 2., 3., 9.]]), jnp.array([[0, 0, 1, -1]]),
  ...                    n_words=2).tolist()
  [[3.0, 3.0]]

  Args:
    scores: ``[B, L]`` token scores.
    word_index: ``[B, L]`` int word of each token; negative for tokens that
      belong to no word (padding, special tokens), which are dropped.
    n_words: ``W`` (static); None: ``L``.

  Returns:
    ``[B, W]`` word scores, 0 for words with no token.
  """
  n_words = scores.shape[1] if n_words is None else n_words
  # one_hot of a negative index is an all-zero row, so dropped tokens add nothing.
  onehot = jax.nn.one_hot(word_index, n_words, dtype=scores.dtype)  # --> [B, L, W]
  return jnp.einsum("bl,blw->bw", scores, onehot)
