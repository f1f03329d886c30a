"""Contrastive fine-tuning of a pretrained sentence encoder, then a logistic head (SetFit).

The recipe of Tunstall et al. 2022 (SetFit), in JAX:

1. **pairs** from the ``K`` labelled shots of each intent: for every example
   and every iteration, one *positive* pair (another example of its intent,
   never itself) with target 1 and one *negative* pair (an example of another
   intent) with target 0, shuffled. The pairs are built on the host once, as
   index arrays of static shape ``[S, B]`` (the last batch padded with
   weight-0 rows; :func:`pair_batches`). A step's sentences are packed
   several to a row (an encoder's ``encode_packed``, BERT's or MPNet's: each
   sentence attends only to itself, so the loss is the same) or cut to the
   step's longest (``pack=False``, or an encoder without ``encode_packed``),
   and the train step compiles once per resulting shape (:class:`PairData`);
2. **contrastive fine-tuning** of the encoder with the cosine-similarity loss
   ``(cos(u, v) - target)^2`` (sentence-transformers' ``CosineSimilarityLoss``,
   SetFit's default), through THE training loop (:func:`fsnlu_jax.train.train`);
3. **a logistic head** on the fine-tuned sentence vectors of the shots: the
   softmax classifier of :func:`fsnlu_jax.models.fit_softmax_classifier`, its
   penalty per way (independent of the number of intents).

Differences from the ``setfit`` package, on purpose: no dropout while
fine-tuning (the encoder's :meth:`encode` is deterministic), a fixed pair
budget (``iterations``; ``max_steps`` caps it, as SetFit's ``max_steps``),
and the head is fit by full-batch Adam rather than scikit-learn's L-BFGS.

Shapes: ``P`` labelled examples, ``S`` steps, ``B`` pairs per step, ``L``
word pieces, ``D`` sentence width, ``C`` intents.

References:
  Tunstall et al., "Efficient Few-Shot Learning Without Prompts", 2022 (SetFit).
  Reimers & Gurevych, "Sentence-BERT", EMNLP 2019 (the cosine-similarity loss).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import pathlib
from typing import Mapping, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from fsnlu_jax.fewshot.encoders import fresh_copy
from fsnlu_jax.models import fit_softmax_classifier
from fsnlu_jax.parallel import make_data_mesh
from fsnlu_jax.train import LoopConfig, init_train_state, make_train_step, train

_log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class ContrastiveConfig:
  """SetFit's knobs.

  Attributes:
    iterations: positive and negative pairs per example (SetFit's
      ``num_iterations``; 20 by default there, 5 here for a CPU).
    batch_size: ``B``, pairs per step (SetFit's default 16).
    learning_rate: the encoder's Adam step size (SetFit's body rate 2e-5).
    max_steps: caps the steps (None: every pair once, one epoch).
    seed: the pairs' draw and order.
    head_steps, head_learning_rate, head_penalty: the logistic head's fit
      (:func:`fsnlu_jax.models.fit_softmax_classifier`).
    pack: pack a step's sentences several to a row where the encoder has
      ``encode_packed`` (the same loss up to float rounding, fewer pieces);
      False: each side cut to the step's longest row (MPNet's runs before
      stop 24, which had no ``encode_packed``).
  """

  iterations: int = 5
  batch_size: int = 16
  learning_rate: float = 2e-5
  max_steps: int | None = None
  seed: int = 0
  head_steps: int = 100
  head_learning_rate: float = 0.05
  head_penalty: float = 1e-2
  pack: bool = True


class PairBatches(NamedTuple):
  """Static-shape pair batches: ``left``, ``right`` ``[S, B]`` row indices,
  ``target`` ``[S, B]`` (1 same intent, 0 not) and ``weight`` ``[S, B]`` (0: padding)."""

  left: np.ndarray
  right: np.ndarray
  target: np.ndarray
  weight: np.ndarray


def pair_batches(labels: Sequence, *, iterations: int, batch_size: int, seed: int,
                 max_steps: int | None = None) -> PairBatches:
  """SetFit's pairs of ``labels`` (``[P]``, any hashable), in ``[S, B]`` batches.

  An example whose intent has no other example gets no positive pair (there
  is nothing to pair it with but itself); with a single intent there are no
  negatives. Padding rows point at row 0 with weight 0.

  Raises:
    ValueError: no pair can be made (fewer than two examples).
  """
  labels = np.asarray(labels)
  rng = np.random.default_rng(seed)
  rows_of = {c: np.flatnonzero(labels == c) for c in np.unique(labels)}
  left, right, target = [], [], []
  for _ in range(iterations):
    for i, c in enumerate(labels):
      same = rows_of[c][rows_of[c] != i]
      if same.size:
        left.append(i), right.append(int(rng.choice(same))), target.append(1.0)
      other = np.flatnonzero(labels != c)
      if other.size:
        left.append(i), right.append(int(rng.choice(other))), target.append(0.0)
  if not left:
    raise ValueError(f"no contrastive pair from {labels.size} examples")
  order = rng.permutation(len(left))
  n = len(order)
  steps = -(-n // batch_size)
  if max_steps is not None:
    steps = min(steps, max_steps)
    order, n = order[:steps * batch_size], min(n, steps * batch_size)
  pad = steps * batch_size - n
  take = lambda values, dtype: np.concatenate(
      [np.asarray(values, dtype)[order], np.zeros(pad, dtype)]).reshape(steps, batch_size)
  weight = np.concatenate([np.ones(n, np.float32), np.zeros(pad, np.float32)])
  return PairBatches(take(left, np.int32), take(right, np.int32), take(target, np.float32),
                     weight.reshape(steps, batch_size))


def cosine_pair_loss(encoder: nnx.Module, batch: Mapping[str, jax.Array], rngs
                     ) -> tuple[jax.Array, dict[str, jax.Array]]:
  """``sum weight * (cos(u, v) - target)^2`` over a batch of pairs, in the step's contract.

  ``batch``: ``target`` and ``weight`` ``[B]``, and the sentences as
  :class:`PairData` gives them: ``left``/``right`` word pieces ``[B, L]`` with
  ``*_mask`` (``encoder.encode(ids, mask) -> [B, D]``), or packed
  (``encoder.encode_packed``).
  """
  del rngs
  if "packed_ids" in batch:  # PairData(packed=True): left sentences first, then right ones
    both = encoder.encode_packed(batch["packed_ids"], batch["packed_sequence"],
                                 batch["packed_positions"], 2 * batch["target"].shape[0])
  else:  # both sides in one [2B, L] pass: wider matmuls than two [B, L] passes
    both = encoder.encode(jnp.concatenate([batch["left"], batch["right"]]),
                          jnp.concatenate([batch["left_mask"], batch["right_mask"]]))
  u, v = jnp.split(both, 2)
  norm = lambda x: x / jnp.maximum(jnp.linalg.norm(x, axis=-1, keepdims=True), 1e-12)
  cos = jnp.sum(norm(u) * norm(v), -1)
  w = batch["weight"]
  return jnp.sum(w * (cos - batch["target"]) ** 2), dict(count=jnp.sum(w))


# Steps between the fine-tuning's checkpoints (the last step is always saved).
CHECKPOINT_EVERY = 50

# Padded lengths of a step's word pieces (encoders without ``encode_packed``):
# a step is cut to the first multiple that holds its longest row, so short
# pairs do not pay for the longest shot's padding, at one compile of the train
# step per length used.
LENGTH_STEP = 16


class PairData:
  """``batch(step)``: the word pieces of step ``step``'s pairs (a pure function of the step).

  ``packed=False``: ``left``/``right`` ``[B, L]`` with masks, ``L`` the
  step's longest real row rounded up to a multiple of :data:`LENGTH_STEP`
  (padding columns only, so the loss is unchanged).

  ``packed=True`` (for an encoder with ``encode_packed``,
  :class:`~fsnlu_jax.models.BertEncoder` or
  :class:`~fsnlu_jax.models.MPNetEncoder`): the step's ``2B`` sentences packed
  several to a row, first-fit by decreasing length, into ``packed_ids``,
  ``packed_sequence`` and ``packed_positions`` ``[shards * R, W]``. ``W`` is
  the longest shot rounded up to :data:`LENGTH_STEP`; ``R`` rows per shard,
  the most any shard of this step needs (one compile per value). Sequence
  ``k < B/shards`` of a shard is its ``k``-th left sentence, ``B/shards + k``
  its ``k``-th right one; each shard packs only its own pairs, so a
  data-parallel step sees whole sentences on each device. HWU64 10-shot:
  about 320 pieces a step against 540 when each side is padded to its
  longest (SetFit) and 870 cut to a multiple of 16.
  """

  def __init__(self, pairs: PairBatches, token_ids: np.ndarray, mask: np.ndarray, *,
               packed: bool = False, shards: int = 1):
    if pairs.left.shape[1] % shards:
      raise ValueError(f"{pairs.left.shape[1]} pairs a step do not split into {shards} shards")
    self.pairs, self.token_ids, self.mask = pairs, token_ids, mask
    self.packed, self.shards = packed, shards
    self._row_length = mask.sum(-1)
    self.width = min(_round_up(int(max(self._row_length.max(), 1)), LENGTH_STEP),
                     token_ids.shape[1])

  def length(self, step: int) -> int:
    """The padded length of step ``step``'s batch (``packed=False``)."""
    longest = int(max(self._row_length[self.pairs.left[step]].max(),
                      self._row_length[self.pairs.right[step]].max(), 1))
    return min(_round_up(longest, LENGTH_STEP), self.token_ids.shape[1])

  def __call__(self, step: int) -> dict[str, np.ndarray]:
    p = self.pairs
    left, right = p.left[step], p.right[step]
    if self.packed:
      return dict(self._pack(left, right), target=p.target[step], weight=p.weight[step])
    cut = self.length(step)
    return dict(left=self.token_ids[left, :cut], left_mask=self.mask[left, :cut],
                right=self.token_ids[right, :cut], right_mask=self.mask[right, :cut],
                target=p.target[step], weight=p.weight[step])

  def _pack(self, left: np.ndarray, right: np.ndarray) -> dict[str, np.ndarray]:
    per = left.size // self.shards
    shards = []
    for g in range(self.shards):
      rows = np.concatenate([left[g * per:(g + 1) * per], right[g * per:(g + 1) * per]])
      lengths = self._row_length[rows]
      shards.append((rows, lengths, *first_fit(lengths, self.width)))
    height = max(used for *_, used in shards)
    shape = (self.shards, height, self.width)
    ids, positions = np.zeros(shape, np.int32), np.zeros(shape, np.int32)
    sequence = np.full(shape, -1, np.int32)
    for g, (rows, lengths, row, start, _) in enumerate(shards):
      for k, (r, s, n) in enumerate(zip(row, start, lengths)):
        ids[g, r, s:s + n] = self.token_ids[rows[k], :n]
        sequence[g, r, s:s + n] = k
        positions[g, r, s:s + n] = np.arange(n)
    flat = lambda a: a.reshape(self.shards * height, self.width)
    return dict(packed_ids=flat(ids), packed_sequence=flat(sequence),
                packed_positions=flat(positions))


def pair_data(encoder: nnx.Module, pairs: PairBatches, token_ids: np.ndarray, mask: np.ndarray,
              mesh: jax.sharding.Mesh, *, pack: bool = True) -> PairData:
  """The :class:`PairData` that :func:`finetune_encoder` trains ``encoder`` on:
  packed where ``pack`` and the encoder has ``encode_packed``, one shard per
  device of ``mesh``."""
  return PairData(pairs, token_ids, mask, packed=pack and hasattr(encoder, "encode_packed"),
                  shards=mesh.size)


def _round_up(n: int, step: int) -> int:
  return -(-n // step) * step


def first_fit(lengths: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray, int]:
  """First-fit decreasing: ``(row [n], start [n], rows used)`` placing pieces of
  ``lengths [n]`` (each at most ``width``) into rows of ``width``.

  >>> first_fit(np.array([3, 5, 2, 4]), 8)
  (array([0, 0, 1, 1]), array([5, 0, 4, 0]), 2)
  """
  if len(lengths) and int(np.max(lengths)) > width:
    raise ValueError(f"a sequence of {int(np.max(lengths))} pieces is wider than the rows "
                     f"({width})")
  free: list[int] = []  # room left in each row
  row, start = np.zeros(len(lengths), np.int64), np.zeros(len(lengths), np.int64)
  for i in np.argsort(-np.asarray(lengths), kind="stable"):
    n = int(lengths[i])
    r = next((j for j, room in enumerate(free) if room >= n), len(free))
    if r == len(free):
      free.append(width)
    row[i], start[i] = r, width - free[r]
    free[r] -= n
  return row, start, len(free)


def finetune_encoder(encoder: nnx.Module, token_ids: np.ndarray, mask: np.ndarray, labels,
                     config: ContrastiveConfig, workdir: str | pathlib.Path, *,
                     mesh: jax.sharding.Mesh | None = None, desc: str = "contrastive"
                     ) -> nnx.Module:
  """A copy of ``encoder`` fine-tuned on the pairs of ``labels`` (module docs).

  Args:
    encoder: a module with ``encode(token_ids [B, L], mask [B, L]) -> [B, D]``
      (e.g. :class:`~fsnlu_jax.models.BertEncoder`); not modified.
    token_ids, mask: ``[P, L]`` the labelled examples' word pieces.
    labels: ``[P]`` their intents.
    workdir: THE loop's checkpoints and ``metrics.jsonl`` (a rerun resumes).
  """
  mesh = make_data_mesh() if mesh is None else mesh
  pairs = pair_batches(labels, iterations=config.iterations, batch_size=config.batch_size,
                       seed=config.seed, max_steps=config.max_steps)
  steps = pairs.left.shape[0]
  optimizer = optax.adam(config.learning_rate)
  graphdef, state = init_train_state(fresh_copy(encoder), optimizer,
                                     jax.random.key(config.seed), mesh)
  # A checkpoint every CHECKPOINT_EVERY steps, only the newest kept: a stopped fine-tuning
  # (MPNet on CLINC150: 188 steps, 10 min on 2 cores) resumes near where it was, and a
  # finished one holds one copy of the encoder and its Adam state (1.3 GB for MPNet).
  loop = LoopConfig(steps=steps, log_every=max(1, min(50, steps)), eval_every=steps,
                    checkpoint_every=min(CHECKPOINT_EVERY, steps))
  _log.info("%s: %d steps of %d pairs (%d real)", desc, steps, config.batch_size,
            int(pairs.weight.sum()))
  data = pair_data(encoder, pairs, token_ids, mask, mesh, pack=config.pack)
  # Packed steps are named in the data order, so a workdir of unpacked steps never resumes
  # packed (or back); unpacked keeps the order of runs from before MPNet could pack.
  packing = dict(packed=True) if data.packed else {}
  result = train(state, make_train_step(graphdef, cosine_pair_loss, optimizer, mesh),
                 data, mesh=mesh, config=loop, workdir=workdir,
                 data_order=dict(order="setfit_pairs", seed=config.seed,
                                 iterations=config.iterations, examples=int(len(labels)),
                                 batch_size=config.batch_size, steps=steps, **packing),
                 desc=desc, max_checkpoints=1)
  return nnx.merge(graphdef, result.state.params, result.state.rest)


class LogisticHead(NamedTuple):
  """The head: ``softmax(x W + b)`` over ``classes``; ``W`` ``[D, C]``, ``b`` ``[C]``."""

  weight: np.ndarray
  bias: np.ndarray
  classes: tuple[str, ...]

  def logits(self, x: np.ndarray) -> np.ndarray:
    """``[U, C]`` of sentence vectors ``[U, D]``."""
    return np.asarray(x, np.float32) @ self.weight + self.bias


def fit_head(vectors: np.ndarray, labels: Sequence, config: ContrastiveConfig) -> LogisticHead:
  """The logistic head on ``vectors`` ``[P, D]`` of ``labels`` ``[P]``.

  The supports go in as one episode of ``C`` ways (every class padded to its
  largest shot count), fit by :func:`fsnlu_jax.models.fit_softmax_classifier`;
  the fitted ``W, b`` are read back by fitting on the identity basis plus zero.
  """
  labels = np.asarray(labels)
  classes = tuple(sorted(set(labels.tolist())))
  rows = [np.flatnonzero(labels == c) for c in classes]
  k = max(len(r) for r in rows)
  d = vectors.shape[1]
  support = np.zeros((len(classes), k, d), np.float32)
  mask = np.zeros((len(classes), k), bool)
  for c, r in enumerate(rows):
    support[c, :len(r)], mask[c, :len(r)] = vectors[r], True
  # Logits of the basis vectors e_1..e_D and of 0 give W (rows minus b) and b.
  probe = np.concatenate([np.eye(d, dtype=np.float32), np.zeros((1, d), np.float32)])
  logits = np.asarray(_fit(jnp.asarray(support), jnp.asarray(mask), jnp.ones(len(classes), bool),
                           jnp.asarray(probe), config.head_steps, config.head_learning_rate,
                           config.head_penalty))
  bias = logits[-1]
  return LogisticHead(logits[:-1] - bias, bias, classes)


@functools.partial(jax.jit, static_argnames="steps")
def _fit(support, mask, way_mask, probe, steps: int, lr, penalty):
  return fit_softmax_classifier(support, mask, way_mask, probe, steps=steps, learning_rate=lr,
                                weight_decay=penalty)
