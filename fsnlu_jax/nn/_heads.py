"""Thin NNX layers for the ends of a tagger: a word embedder and a CRF decoder.

Shapes: ``B`` batch, ``L`` padded length, ``V`` vocabulary, ``D`` embedding
width, ``T`` tags. A dense output layer is plain :class:`flax.nnx.Linear`.
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from fsnlu_jax.kernels import (bio_transition_mask, crf_log_partition, crf_marginals,
                               masked_transitions, viterbi_decode)
from fsnlu_jax.kernels import DEFAULT_PENALTY


class Embedder(nnx.Module):
  """Word ids to vectors; the padding id maps to an exact zero vector.

  The padding row is zero at initialisation and the lookup writes zeros
  wherever ``ids == padding_id``, so that row never receives a gradient and
  stays zero however long it is trained.

  >>> from flax import nnx
  >>> import jax.numpy as jnp
  >>> emb = Embedder(10, 4, rngs=nnx.Rngs(0))
  >>> x = emb(jnp.array([[5, 0]]))
  >>> x.shape, float(jnp.abs(x[0, 1]).sum())
  ((1, 2, 4), 0.0)

  Attributes:
    embedding: ``[V, D]`` the table (row ``padding_id`` zero).
  """

  def __init__(self, num_embeddings: int, features: int, *, padding_id: int | None = 0,
               param_dtype: jnp.dtype = jnp.float32, rngs: nnx.Rngs):
    """Draws the table from N(0, 1), as PyTorch's ``nn.Embedding`` does.

    Args:
      num_embeddings: ``V``.
      features: ``D``.
      padding_id: the id of ``<pad>`` (``fsnlu_jax.data.PAD_ID``), or None.
      param_dtype: dtype of the table.
      rngs: draws the table from its ``params`` stream.
    """
    self.num_embeddings, self.features, self.padding_id = num_embeddings, features, padding_id
    table = jax.random.normal(rngs.params(), (num_embeddings, features), param_dtype)
    if padding_id is not None:
      table = table.at[padding_id].set(0.0)
    self.embedding = nnx.Param(table)

  def __call__(self, ids: jax.Array) -> jax.Array:
    """``ids`` ``[...]`` int -> ``[..., D]`` vectors."""
    out = jnp.take(self.embedding[...], ids, axis=0)
    if self.padding_id is None:
      return out
    return jnp.where((ids == self.padding_id)[..., None], jnp.zeros((), out.dtype), out)


class CRF(nnx.Module):
  """A linear-chain CRF decoder over per-token emissions (see ``kernels._crf``).

  The optional ``allowed`` mask (e.g. BIO: ``I-x`` only after ``B-x``/``I-x``)
  is a fixed hyper-parameter, not state: it is stored as nested tuples in the
  module's static structure, so ``nnx.split`` leaves it out of the parameters
  an optimizer sees and a jitted step treats it as a constant. Forbidden
  entries are replaced by a large negative score before every kernel call
  (:func:`~fsnlu_jax.kernels.masked_transitions`), so they get no gradient.

  >>> from flax import nnx
  >>> import jax.numpy as jnp
  >>> crf = CRF(3, tag_names=["O", "B-city", "I-city"], rngs=nnx.Rngs(0))
  >>> emissions, mask = jnp.zeros((1, 2, 3)).at[0, :, 2].set(5.0), jnp.ones((1, 2), bool)
  >>> crf.decode(emissions, mask)[0].tolist()  # I-city may not start a sentence
  [[1, 2]]

  Attributes:
    transitions: ``[T, T]``, ``[i, j]`` scores tag ``i`` followed by tag ``j``.
    start: ``[T]`` scores of the first tag.
    end: ``[T]`` scores of the last tag.

  References:
    Lafferty, McCallum, Pereira, "Conditional Random Fields", ICML 2001;
    Lample et al., "Neural Architectures for Named Entity Recognition", 2016.
  """

  def __init__(self, num_tags: int, *, tag_names: Sequence[str] | None = None,
               allowed: np.ndarray | None = None, start_allowed: np.ndarray | None = None,
               param_dtype: jnp.dtype = jnp.float32, rngs: nnx.Rngs):
    """Draws scores uniform in +-0.1 (as pytorch-crf does).

    Args:
      num_tags: ``T``.
      tag_names: the ``T`` BIO tag names in id order; when given, the BIO
        constraints of :func:`~fsnlu_jax.kernels.bio_transition_mask` apply.
      allowed: ``[T, T]`` bool, an explicit transition mask (instead of
        ``tag_names``).
      start_allowed: ``[T]`` bool, which tags may start a sentence.
      param_dtype: dtype of the scores.
      rngs: draws the scores from its ``params`` stream.

    Raises:
      ValueError: both ``tag_names`` and a mask, or sizes that disagree with ``T``.
    """
    if tag_names is not None:
      if allowed is not None or start_allowed is not None:
        raise ValueError("give tag_names or allowed/start_allowed, not both")
      if len(tag_names) != num_tags:
        raise ValueError(f"{len(tag_names)} tag_names for num_tags={num_tags}")
      allowed, start_allowed = bio_transition_mask(list(tag_names))
    for name, mask, shape in (("allowed", allowed, (num_tags, num_tags)),
                              ("start_allowed", start_allowed, (num_tags,))):
      if mask is not None and np.shape(mask) != shape:
        raise ValueError(f"{name} must have shape {shape}, got {np.shape(mask)}")
    self.num_tags = num_tags
    self.allowed_static = None if allowed is None else tuple(
        tuple(bool(v) for v in row) for row in np.asarray(allowed))
    self.start_allowed_static = None if start_allowed is None else tuple(
        bool(v) for v in np.asarray(start_allowed))
    uniform = lambda shape: jax.random.uniform(
        rngs.params(), shape, param_dtype, minval=-0.1, maxval=0.1)
    self.transitions = nnx.Param(uniform((num_tags, num_tags)))
    self.start = nnx.Param(uniform((num_tags,)))
    self.end = nnx.Param(uniform((num_tags,)))

  @property
  def allowed(self) -> np.ndarray | None:
    """``[T, T]`` bool transition mask, or None when unconstrained."""
    return None if self.allowed_static is None else np.array(self.allowed_static, bool)

  def potentials(self) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``(transitions [T, T], start [T], end [T])`` with the mask applied."""
    transitions, start = self.transitions[...], self.start[...]
    if self.allowed_static is not None:
      transitions = masked_transitions(transitions, np.array(self.allowed_static, bool))
    if self.start_allowed_static is not None:
      start = masked_transitions(start, np.array(self.start_allowed_static, bool))
    return transitions, start, self.end[...]

  def log_likelihood(self, emissions: jax.Array, tags: jax.Array,
                     mask: jax.Array) -> jax.Array:
    """log p(known tags | x) per row, marginalising over unknown (-1) tags.

    A real token whose tag is ``-1`` (``IGNORE_INDEX``: an unknown label) is
    left free: the numerator sums over every path that agrees with the known
    tags, so that token adds no supervision and no noise. With every tag known
    this equals :func:`~fsnlu_jax.kernels.crf_log_likelihood` (the clamped
    forward pass has one surviving path; ``exp(-1e4)`` underflows to 0).

    Args:
      emissions: ``[B, L, T]`` per-token tag scores.
      tags: ``[B, L]`` int gold tags; -1 (or anything) at padding, -1 for unknown.
      mask: ``[B, L]`` bool, True on real tokens.

    Returns:
      ``[B]`` log-likelihoods (<= 0); 0 for a row with no known tag.
    """
    transitions, start, end = self.potentials()
    tags = jnp.asarray(tags)
    known = jnp.asarray(mask, bool) & (tags >= 0)  # --> [B, L]
    gold = jax.nn.one_hot(jnp.maximum(tags, 0), self.num_tags, dtype=bool)  # --> [B, L, T]
    clamp = jnp.where(known[..., None] & ~gold, DEFAULT_PENALTY, 0.0)
    emissions = emissions.astype(jnp.promote_types(emissions.dtype, jnp.float32))
    kwargs = dict(start=start, end=end)
    numerator = crf_log_partition(emissions + clamp, mask, transitions, **kwargs)
    return numerator - crf_log_partition(emissions, mask, transitions, **kwargs)

  def decode(self, emissions: jax.Array, mask: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Viterbi: ``(tags [B, L] int32, 0 at padding; score [B])``."""
    transitions, start, end = self.potentials()
    return viterbi_decode(emissions, mask, transitions, start=start, end=end)

  def marginals(self, emissions: jax.Array, mask: jax.Array) -> jax.Array:
    """``[B, L, T]`` per-token tag marginals (a confidence per token)."""
    transitions, start, end = self.potentials()
    return crf_marginals(emissions, mask, transitions, start=start, end=end)
