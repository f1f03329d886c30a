"""Word attributions of NLU models' intent and slot outputs, by integrated gradients.

The path runs in embedding space, from a baseline (zeros: the ``<pad>``
vector of :class:`~fsnlu_jax.nn.Embedder`) to the utterance's word vectors;
a token's score is its attribution summed over the embedding width. Any model
with ``embed(token_ids) -> [B, L, D]`` and ``from_embeddings(x, mask) ->``
an output with ``intent_logits`` ``[B, C]`` and ``slot_logits`` ``[B, L, T]``
works (:class:`~fsnlu_jax.models.MultitaskBiLSTM` does). A model that also
splits ``from_embeddings`` into an affine ``project(x)`` and
``from_projection(z, mask)`` (the bi-LSTM does: its first layer's input
projection) gets the same attributions for less work: the projection then
runs once per example, not once per IG step (the ``prefix`` of
:func:`~fsnlu_jax.kernels.integrated_gradients`). The split is found by the
presence of ``from_projection``, so a model that has it must keep
``from_projection(project(x), mask) == from_embeddings(x, mask)`` without
dropout (a subclass that changes ``from_embeddings`` must change both).

Shapes: ``B`` batch, ``L`` padded length (tokens), ``D`` embedding width,
``C`` intents, ``T`` slot tags, ``Lw`` words, ``M`` IG steps, ``Bg`` examples per
length group.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
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

  scores: jax.Array  # [B, L] per-token attribution (summed over D), 0 at padding.
  gap: jax.Array  # [B] sum of scores - (value - baseline_value): IG's quadrature error.
  value: jax.Array  # [B] the explained output at the utterance.
  baseline_value: jax.Array  # [B] the explained output at the baseline.


def _target_outputs(model: nnx.Module, out, mask: jax.Array, kind: str, output: str,
                    label: jax.Array, position: jax.Array) -> jax.Array:
  """The explained output ``[R]`` of each row of the model's output ``out``;
  ``mask`` ``[R, L]``, ``label`` and ``position`` ``[R]``."""
  rows = jnp.arange(label.shape[0])
  if kind == "intent":
    logits = out.intent_logits  # --> [R, C]
    return (jax.nn.softmax(logits) if output == "probability" else logits)[rows, label]
  emissions = out.slot_logits  # --> [R, L, T]
  if output == "logit":
    return emissions[rows, position, label]
  crf = getattr(model, "crf", None)
  if crf is not None:  # each row's marginals depend on that row alone
    return crf.marginals(emissions, mask)[rows, position, label]
  return jax.nn.softmax(emissions[rows, position])[rows, label]


@functools.partial(jax.jit, static_argnames=("graphdef", "steps", "method", "chunk_size"))
def _attribute(graphdef, state, token_ids, mask, target: Target, baseline, *, steps, method,
               chunk_size) -> TokenAttributions:
  model = nnx.merge(graphdef, state)
  x = model.embed(token_ids)  # --> [B, L, D]
  baseline = jnp.zeros_like(x) if baseline is None else baseline

  if hasattr(model, "from_projection"):
    # The model's first step is affine: the path runs after it (kernel docs).
    prefix = lambda x_b: model.project(x_b[None])[0]  # [L, D] -> [L, ...]
    forward = model.from_projection
  else:
    prefix, forward = None, model.from_embeddings

  def f(x_r, mask_r, label, position):  # rows: the model runs the chunk's points as one batch
    out = forward(x_r, mask_r)
    return _target_outputs(model, out, mask_r, target.kind, target.output, label, position)

  res = integrated_gradients(f, x, baseline, mask, target.label, target.position,
                             steps=steps, method=method, chunk_size=chunk_size, prefix=prefix,
                             rows=True)
  scores = jnp.where(mask, res.attributions.sum(axis=-1), 0.0)  # --> [B, L]
  return TokenAttributions(scores, res.gap, res.value, res.baseline_value)


def token_attributions(model: nnx.Module, token_ids: jax.Array, mask: jax.Array,
                       target: Target, *, baseline: jax.Array | None = None, steps: int = 50,
                       method: IGMethod = "gausslegendre", chunk_size: int | None = 16,
                       length_groups: int | None = None) -> TokenAttributions:
  """Per-token integrated-gradients scores of an intent or slot output.

  Runs without dropout, jitted once per model structure, shapes and static
  settings (a model with new weights but the same sizes reuses the compiled
  code). Peak memory grows with ``B * chunk_size``, not with ``steps``.

  With ``length_groups=Bg`` the examples are sorted by length and attributed
  ``Bg`` at a time, each group padded only to its longest row (rounded up to a
  multiple of :data:`GROUP_LENGTH_MULTIPLE`): padded steps cost as much as
  real ones in a scan, so this skips most of a mixed-length batch's padded
  steps (as packed sequences do in PyTorch). The results are those
  of one call, in the input's order. Neighbouring groups of the same padded
  length are run together (``k * Bg`` rows, ``chunk_size / k`` steps per
  pass), so equal lengths cost no more than one group. It compiles once per
  call shape and needs a concrete ``mask`` (not inside ``jit``).

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
    baseline: ``[B, L, D]`` (or broadcastable) baseline word vectors; None:
      zeros, i.e. every word replaced by ``<pad>``.
    steps: ``M``, IG steps.
    method: the quadrature rule (:func:`~fsnlu_jax.kernels.ig_quadrature`).
    chunk_size: at most this many steps per pass (None: all at once); the
      memory bound, and a speed knob: ``B * chunk_size`` rows of a few
      hundred were fastest on one CPU core (``benchmarks/bench_ig.py``).
    length_groups: ``Bg``, examples per length group; None: one group of all
      ``B``, padded to ``L``. ``Bg * chunk_size`` rows go through the model
      per pass.

  Returns:
    :class:`TokenAttributions`; ``scores`` ``[B, L]`` sum to ``value -
    baseline_value`` up to ``gap``.

  References:
    Sundararajan, Taly & Yan, "Axiomatic Attribution for Deep Networks", ICML 2017.
  """
  graphdef, state = nnx.split(model)
  attribute = functools.partial(_attribute, graphdef, state, steps=steps, method=method)
  if length_groups is None:
    return attribute(jnp.asarray(token_ids), jnp.asarray(mask, bool), target, baseline,
                     chunk_size=chunk_size)
  return _attribute_by_length(attribute, token_ids, mask, target, baseline, length_groups,
                              chunk_size)


GROUP_LENGTH_MULTIPLE = 4  # group lengths are rounded up to this: fewer shapes to compile


def _attribute_by_length(attribute, token_ids, mask, target: Target, baseline, group_size: int,
                         chunk_size: int | None) -> TokenAttributions:
  """:func:`token_attributions` with ``length_groups=group_size`` (its docs)."""
  if group_size < 1:
    raise ValueError(f"length_groups must be >= 1, got {group_size}")
  mask = np.asarray(mask, bool)
  n, max_length = mask.shape
  token_ids = jnp.asarray(token_ids)
  if n == 0:
    return attribute(token_ids, jnp.asarray(mask), target, baseline, chunk_size=chunk_size)
  if baseline is not None:  # [B, L, D] or broadcastable, sliced per group below
    baseline = jnp.asarray(baseline)
    width = baseline.shape[-1] if baseline.ndim else 1
    baseline = jnp.broadcast_to(baseline, (n, max_length, width))
  lengths = mask.sum(axis=1)  # --> [B]
  order = np.argsort(lengths, kind="stable")
  starts = range(0, n, group_size)
  multiple = GROUP_LENGTH_MULTIPLE
  padded_length = [min(max_length, max(1, -(-int(lengths[order[s:s + group_size]].max())
                                             // multiple)) * multiple) for s in starts]
  parts = []
  # Neighbouring groups of the same padded length go in one call of k * Bg
  # rows and chunk_size / k steps per pass (the same rows per pass): a batch
  # of equal lengths is then one call, as without groups.
  for length, run in itertools.groupby(zip(starts, padded_length), key=lambda sl: sl[1]):
    run = [start for start, _ in run]
    k = len(run)
    rows = order[run[0]:run[-1] + group_size]
    # The last group is filled up with copies of its first row (dropped
    # below), so a call has k * Bg rows and only k and the length vary.
    rows = np.concatenate([rows, np.repeat(rows[:1], k * group_size - len(rows))])
    take = lambda a, rows=rows, length=length: a[rows, :length]
    res = attribute(take(token_ids), jnp.asarray(take(mask)),
                    jax.tree.map(lambda a, rows=rows: a[rows], target),
                    None if baseline is None else take(baseline),
                    chunk_size=None if chunk_size is None else max(1, chunk_size // k))
    # Every call is dispatched before any is read back.
    parts.append(res._replace(scores=jnp.pad(res.scores, ((0, 0), (0, max_length - length)))))
  joined = jax.tree.map(lambda *p: jnp.concatenate(p), *parts)  # --> [n_groups * Bg, ...]
  inverse = np.argsort(order, kind="stable")  # input row -> its place in the sorted order
  return jax.tree.map(lambda a: a[inverse], joined)


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
    n_words: ``Lw`` (static); None: ``L``.

  Returns:
    ``[B, Lw]`` word scores, 0 for words with no token.
  """
  n_words = scores.shape[1] if n_words is None else n_words
  # one_hot of a negative index is an all-zero row, so dropped tokens add nothing.
  onehot = jax.nn.one_hot(word_index, n_words, dtype=scores.dtype)  # --> [B, L, Lw]
  return jnp.einsum("bl,blw->bw", scores, onehot)
