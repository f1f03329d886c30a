"""Host batches for jitted functions: the data order, fixed-size chunks, global placement.

One padding rule everywhere: a chunk short of ``size`` rows is completed with
copies of its own first row. Copies are real inputs (no empty utterance, no
episode without ways, no all-padding source that a search or a softmax would
turn into NaN), so a jitted function sees one shape and compiles once; their
outputs are dropped. A function that *reduces* over rows (a loss sum) must
neutralise them itself, from :attr:`Chunk.real`.

Shapes: ``U`` rows, ``Bc`` chunk size (rows), ``B`` global batch.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator, NamedTuple

import jax
import numpy as np
from jax.experimental import multihost_utils

from fsnlu_jax._progress import progress
from fsnlu_jax.parallel import data_sharding, global_batch_from_local


class Chunk(NamedTuple):
  """Row indices of one fixed-size chunk."""

  rows: np.ndarray  # [Bc] int, indices into the U rows; the tail repeats rows[0]
  real: int  # how many leading entries of `rows` are real (the rest are copies)


def chunks(n: int, size: int) -> Iterator[Chunk]:
  """The rows ``0..n-1`` in chunks of ``size``, the last completed by the padding rule.

  >>> [(c.rows.tolist(), c.real) for c in chunks(5, 2)]
  [([0, 1], 2), ([2, 3], 2), ([4, 4], 1)]
  """
  if size < 1:
    raise ValueError(f"chunk size must be >= 1, got {size}")
  for start in range(0, n, size):
    real = min(size, n - start)
    rows = np.arange(start, start + real)
    yield Chunk(np.concatenate([rows, np.full(size - real, start)]), real)


def map_in_chunks(fn: Callable[[Any], Any], inputs: Any, size: int, *,
                  desc: str | None = None) -> Any:
  """``fn`` over the rows of ``inputs`` in chunks of ``size``, outputs concatenated.

  Every chunk is dispatched before any output is read back (no host sync per
  chunk), then the outputs come back to the host in input order.

  Args:
    fn: ``fn(chunk) -> outputs``: a pytree of ``[Bc, ...]`` arrays in, a pytree
      of ``[Bc, ...]`` arrays out (e.g. a jitted predictor).
    inputs: a pytree of ``[U, ...]`` host arrays.
    size: ``Bc``.
    desc: a stage label: progress is reported as the chunks come back
      (:func:`fsnlu_jax._progress.progress`); None: silent.

  Returns:
    ``fn``'s pytree of ``[U, ...]`` NumPy arrays. With ``U = 0``, ``fn`` is
    only traced (``jax.eval_shape``) to give empty arrays of its output shapes.
  """
  leaves = jax.tree.leaves(inputs)
  n = len(leaves[0]) if leaves else 0
  if n == 0:
    like = jax.tree.map(lambda x: np.zeros((size, *np.shape(x)[1:]), np.asarray(x).dtype),
                        inputs)
    shapes = jax.eval_shape(fn, like)
    return jax.tree.map(lambda s: np.zeros((0, *s.shape[1:]), s.dtype), shapes)
  pending = [(fn(jax.tree.map(lambda x, c=c: x[c.rows], inputs)), c.real)
             for c in chunks(n, size)]
  if desc is not None:
    pending = progress(pending, desc=desc, unit="batch", leave=False)
  parts = [jax.tree.map(lambda y, m=m: to_host(y)[:m], out) for out, m in pending]
  return jax.tree.map(lambda *ys: np.concatenate(ys), *parts)


def to_host(x: Any) -> np.ndarray:
  """``x`` as a NumPy array on this host, also when it is sharded over other processes' devices."""
  if isinstance(x, jax.Array) and not x.is_fully_addressable:
    return np.asarray(multihost_utils.process_allgather(x, tiled=True))
  return np.asarray(x)


def epoch_rows(step: int, n: int, batch_size: int, seed: int) -> np.ndarray:
  """Row indices ``[<= B]`` of the batch of ``step``: epochs of seeded permutations.

  The batches of epoch ``e`` are a permutation drawn from
  ``default_rng([seed, e])``, so the batch of a step is a pure function of the
  step and a resumed run draws exactly the batches a killed one would have.
  The last batch of an epoch is short; the caller pads it.
  """
  per_epoch = -(-n // batch_size)
  epoch, k = divmod(step, per_epoch)
  perm = np.random.default_rng([seed, epoch]).permutation(n)
  return perm[k * batch_size:(k + 1) * batch_size]


def to_global(batch: Any, mesh: jax.sharding.Mesh) -> Any:
  """A host batch ``[B, ...]``, the same on every process, sharded over ``data``.

  One process places it directly; with several, each contributes its own
  contiguous rows (:func:`fsnlu_jax.parallel.global_batch_from_local`).
  """
  if jax.process_count() == 1:
    return jax.device_put(batch, data_sharding(mesh))
  p, n = jax.process_index(), jax.process_count()
  local = jax.tree.map(lambda x: np.array_split(np.asarray(x), n)[p], batch)
  return global_batch_from_local(local, mesh)
