"""The data-parallel train and eval steps: pure functions over a `TrainState`.

The model is split once with ``nnx.split``; its graph definition stays static
outside the state and the step is a plain ``jax.jit`` (Flax's performance guide:
``nnx.jit`` overhead dominates models as small as ours) that donates the state.

Inside, ``jax.shard_map`` gives each device its slice of the global batch.
Each device differentiates the *sum* of its examples' losses, and the sums,
their counts and the gradients are ``psum``-ed before one division, so the
update equals the single-device update on the same global batch (up to the
order of float additions), not a mean of per-device means, which would weight
a device's examples by ``1 / its count`` when padding makes counts uneven.

The loss contract, for any NNX model::

  loss_fn(model, batch, rngs) -> (loss_sum, aux)

``loss_sum`` is a scalar sum over the shard's examples (or tokens); ``aux`` a
dict of scalar sums that must hold ``"count"``, the number of items summed
(padding excluded). ``rngs`` is an ``nnx.Rngs`` for the train step (any stream
name, e.g. ``rngs.dropout()``, draws from it) and ``None`` for the eval step,
where the model must run deterministically.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from jax.sharding import PartitionSpec as P

from fsnlu_jax.parallel.mesh import DATA_AXIS, replicated

LossFn = Callable[[nnx.Module, Any, "nnx.Rngs | None"], tuple[jax.Array, dict[str, jax.Array]]]


class TrainState(NamedTuple):
  """Everything a training step reads and writes; a pytree, replicated.

  The model's ``nnx.GraphDef`` is not here: it is static and given once to
  :func:`make_train_step`.
  """
  params: nnx.State  # the model's nnx.Param variables, the ones optimised
  rest: nnx.State  # every other model variable, read by the model, not updated
  opt_state: optax.OptState  # the optimizer's state for `params`
  step: jax.Array  # [] int32, updates done so far
  key: jax.Array  # [] typed PRNG key; the step folds in `step` and the device


def init_train_state(model: nnx.Module, optimizer: optax.GradientTransformation,
                     key: jax.Array, mesh: jax.sharding.Mesh) -> tuple[nnx.GraphDef, TrainState]:
  """Splits ``model`` once and builds its state, replicated over ``mesh``.

  Args:
    model: any NNX module; randomness must come from the step's ``rngs``
      (an ``nnx.Rngs`` stored in the model would be frozen in ``rest``).
    optimizer: an optax transformation.
    key: a typed key from ``jax.random.key``: the base of every step's key.
    mesh: the data mesh (see :func:`fsnlu_jax.parallel.make_data_mesh`).

  Returns:
    ``(graphdef, state)``.
  """
  graphdef, params, rest = nnx.split(model, nnx.Param, ...)
  state = TrainState(params=params, rest=rest, opt_state=optimizer.init(params),
                     step=jnp.zeros((), jnp.int32), key=jax.random.key_data(key))
  state = jax.tree.map(lambda x: _replicate(x, mesh), state)
  return graphdef, state._replace(key=jax.random.wrap_key_data(
      state.key, impl=jax.random.key_impl(key)))


def _replicate(x: jax.Array, mesh: jax.sharding.Mesh) -> jax.Array:
  """``x`` copied to every device of ``mesh``, also of other processes.

  ``device_put`` only reaches this process's devices; with several processes
  each one holds the same initial values (same seed) and contributes them.
  """
  if jax.process_count() == 1:
    return jax.device_put(x, replicated(mesh))
  return jax.make_array_from_process_local_data(replicated(mesh), np.asarray(x))


def _global_sums(loss_sum: jax.Array, aux: dict[str, jax.Array]) -> dict[str, jax.Array]:
  """All-reduces a shard's sums; ``loss`` becomes the global mean."""
  sums = jax.lax.psum({"loss_sum": loss_sum, **aux}, DATA_AXIS)
  metrics = {k: v for k, v in sums.items() if k != "loss_sum"}
  metrics["loss"] = sums["loss_sum"] / sums["count"]
  return metrics


def make_train_step(graphdef: nnx.GraphDef, loss_fn: LossFn,
                    optimizer: optax.GradientTransformation, mesh: jax.sharding.Mesh
                    ) -> Callable[[TrainState, Any], tuple[TrainState, dict[str, jax.Array]]]:
  """The jitted data-parallel step ``step(state, batch) -> (state, metrics)``.

  Args:
    graphdef: from :func:`init_train_state`.
    loss_fn: ``loss_fn(model, batch, rngs) -> (loss_sum, aux)`` (module docs).
    optimizer: the transformation ``state.opt_state`` was built with.
    mesh: a mesh with a ``data`` axis; ``B`` must divide by its size.

  Returns:
    A function of a replicated :class:`TrainState` (donated: do not reuse the
    argument) and a batch pytree of ``[B, ...]`` arrays sharded over ``data``.
    ``metrics`` holds the global ``loss`` (sum / count) and the global sum of
    every ``aux`` entry.
  """

  def shard_step(state: TrainState, batch):
    # One key per step and per device: devices draw different dropout masks.
    key = jax.random.fold_in(state.key, state.step)
    key = jax.random.fold_in(key, jax.lax.axis_index(DATA_AXIS))

    def local_loss(params):
      model = nnx.merge(graphdef, params, state.rest)
      return loss_fn(model, batch, nnx.Rngs(key))

    # Marking params as varying keeps this device's gradient local, so the
    # reduction below is the explicit one rather than an implicit transpose.
    params = jax.lax.pcast(state.params, DATA_AXIS, to="varying")
    (loss_sum, aux), grads = jax.value_and_grad(local_loss, has_aux=True)(params)
    metrics = _global_sums(loss_sum, aux)
    grads = jax.tree.map(lambda g: jax.lax.psum(g, DATA_AXIS) / metrics["count"], grads)
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    return state._replace(params=params, opt_state=opt_state, step=state.step + 1), metrics

  sharded = jax.shard_map(shard_step, mesh=mesh, in_specs=(P(), P(DATA_AXIS)),
                          out_specs=(P(), P()))
  # Stated out_shardings spell the new state's sharding as `init_train_state`
  # does (P(), not shard_map's P(None, None)) so later calls keep hitting
  # jit's fast dispatch cache (no retrace either way; tested).
  return jax.jit(sharded, donate_argnums=0, out_shardings=replicated(mesh))


def make_eval_step(graphdef: nnx.GraphDef, loss_fn: LossFn, mesh: jax.sharding.Mesh
                   ) -> Callable[[TrainState, Any], dict[str, jax.Array]]:
  """The jitted data-parallel ``eval_step(state, batch) -> metrics``.

  Same contract and reduction as :func:`make_train_step`, ``rngs=None``, no
  update; the state is not donated.
  """

  def shard_eval(state: TrainState, batch):
    model = nnx.merge(graphdef, state.params, state.rest)
    loss_sum, aux = loss_fn(model, batch, None)
    return _global_sums(loss_sum, aux)

  return jax.jit(jax.shard_map(shard_eval, mesh=mesh, in_specs=(P(), P(DATA_AXIS)),
                               out_specs=P()))
