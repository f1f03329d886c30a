"""Orbax checkpoints that resume a killed run exactly where it stopped.

A checkpoint is one step folder holding two items:

* ``state``: the whole :class:`~fsnlu_jax.train.step.TrainState` (params,
  non-trainable variables, optimizer state, step, base PRNG key);
* ``data``: a JSON dict the caller owns. THE loop (:mod:`fsnlu_jax.train.loop`)
  stores ``{data_order, evaluations, window}`` there: what the batches are
  drawn from (checked on resume), the evaluations so far, and the unlogged
  part of the log window. A loop whose data order lives in a host
  ``np.random.Generator`` (``tests/train/_toy.py``, with
  :func:`restore_or_init`) stores the generator's state instead
  (:func:`generator_state`), taken after drawing the batches of the
  ``state.step`` updates done so far; a pipeline that prefetches must save the
  state of the batch *about to be trained*, not of the prefetched one.

:func:`restore_model` is the one way a trained model comes back from a
workdir. Orbax writes each step to a temporary folder and renames it when
complete, so a run killed mid-save leaves the previous checkpoint as the
latest one.
"""

from __future__ import annotations

import os
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp
from flax import nnx

from fsnlu_jax.train.step import TrainState


def generator_state(gen: np.random.Generator) -> dict[str, Any]:
  """The JSON-able state of ``gen`` (its ``bit_generator.state``)."""
  return gen.bit_generator.state


def generator_from_state(state: dict[str, Any]) -> np.random.Generator:
  """A generator that continues exactly where the one that gave ``state`` was.

  >>> gen = np.random.default_rng(0)
  >>> saved = generator_state(gen)
  >>> drawn = gen.integers(100, size=3)
  >>> bool((generator_from_state(saved).integers(100, size=3) == drawn).all())
  True
  """
  bit_generator = getattr(np.random, state["bit_generator"])()
  bit_generator.state = state
  return np.random.Generator(bit_generator)


def _to_saveable(state: TrainState) -> TrainState:
  # Typed keys go to disk as their raw uint32 data and are re-wrapped on load.
  return state._replace(key=jax.random.key_data(state.key))


class Checkpointer:
  """Saves every ``every`` steps, keeps the last ``max_to_keep``, restores.

  The jobs use it through :func:`fsnlu_jax.train.train`. By hand, with a host
  generator for the data order (``tests/train/_toy.py`` runs this)::

    ckpt = Checkpointer(path, every=100)
    state, data = restore_or_init(ckpt, state, {"rng": generator_state(gen)})
    gen = generator_from_state(data["rng"])
    while int(state.step) < total:
      state, metrics = train_step(state, next_batch(gen))
      ckpt.save(state, {"rng": generator_state(gen)})
  """

  def __init__(self, directory: str | os.PathLike, *, every: int, max_to_keep: int = 3,
               async_save: bool = True):
    """Opens (creating if needed) a checkpoint folder.

    Args:
      directory: where the step folders go; an absolute path.
      every: save when ``state.step`` is a multiple of it.
      max_to_keep: newest checkpoints kept; older ones are deleted.
      async_save: write in a background thread while training goes on.
    """
    options = ocp.CheckpointManagerOptions(
        save_interval_steps=every, max_to_keep=max_to_keep,
        enable_async_checkpointing=async_save)
    self._every = every
    self._manager = ocp.CheckpointManager(os.path.abspath(directory), options=options,
                                          item_names=("state", "data"))

  @property
  def latest_step(self) -> int | None:
    """The step of the newest complete checkpoint, None when there is none."""
    return self._manager.latest_step()

  def should_save(self, step: int) -> bool:
    """Whether ``step`` is due: on the interval, or the cluster signalled a preemption.

    (Not orbax's own ``should_save``, which also saves a first step when the
    folder is empty: a checkpoint nobody needs, at step 1 of every run.)
    """
    return step % self._every == 0 or self._manager.reached_preemption(step)

  def all_steps(self) -> list[int]:
    """Steps of the complete checkpoints on disk, ascending."""
    return sorted(self._manager.all_steps())

  def save(self, state: TrainState, data_state: dict[str, Any], *, step: int | None = None,
           force: bool = False) -> bool:
    """Saves when ``state.step`` is due (or ``force``); returns whether it did.

    Args:
      state: the state after ``state.step`` updates.
      data_state: JSON-able data-order state matching that step (module docs).
      step: ``int(state.step)`` when the caller knows it (reading it from the
        device would wait for the step to finish: a host sync per step).
      force: save even off the interval (e.g. the last step).
    """
    step = int(state.step) if step is None else step
    return self._manager.save(
        step, force=force,
        args=ocp.args.Composite(state=ocp.args.StandardSave(_to_saveable(state)),
                                data=ocp.args.JsonSave(data_state)))

  def restore(self, like: TrainState, step: int | None = None) -> tuple[TrainState, dict[str, Any]]:
    """Loads a checkpoint into the shapes, dtypes and shardings of ``like``.

    Args:
      like: a state of the same model and optimizer (e.g. a fresh
        :func:`~fsnlu_jax.train.step.init_train_state`); only its structure,
        shapes and shardings are used.
      step: which checkpoint; default the latest.

    Returns:
      ``(state, data_state)``.
    """
    step = self.latest_step if step is None else step
    if step is None:
      raise FileNotFoundError(f"no checkpoint in {self._manager.directory}")
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, _to_saveable(like))
    restored = self._restore(abstract, step)
    state = restored.state
    key = jax.random.wrap_key_data(state.key, impl=jax.random.key_impl(like.key))
    return state._replace(key=key), restored.data

  def restore_abstract(self, abstract: TrainState, step: int) -> TrainState:
    """The state of checkpoint ``step`` as saved (the key as raw ``uint32`` data), into
    ``abstract``'s ``jax.ShapeDtypeStruct`` shapes, dtypes and shardings."""
    return self._restore(abstract, step).state

  def _restore(self, abstract: TrainState, step: int):
    try:
      return self._manager.restore(
          step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract),
                                        data=ocp.args.JsonRestore()))
    except (ValueError, KeyError, TypeError) as e:
      # Orbax's own words ("strict=False", tree paths) say little to a user.
      raise ValueError(
          f"the checkpoint {self._manager.directory}/{step} does not fit this model: it was "
          "written for another model size or structure (a changed config? start over with a "
          f"new workdir or --overwrite). Orbax: {_first_line(e)}") from e

  def wait(self) -> None:
    """Blocks until a background save has finished."""
    self._manager.wait_until_finished()

  def close(self) -> None:
    """Finishes pending saves and releases the manager."""
    self._manager.close()

  def __enter__(self) -> Checkpointer:
    return self

  def __exit__(self, *exc) -> None:
    self.close()


def _first_line(error: BaseException, limit: int = 300) -> str:
  text = str(error).strip().splitlines()
  return (text[0] if text else type(error).__name__)[:limit]


def restore_or_init(checkpointer: Checkpointer, state: TrainState, data_state: dict[str, Any]
                    ) -> tuple[TrainState, dict[str, Any]]:
  """The latest checkpoint if there is one, else the given fresh start.

  Args:
    checkpointer: where to look.
    state: a freshly initialised state; also the template for restoring.
    data_state: the data-order state of a fresh start.

  Returns:
    ``(state, data_state)``; ``int(state.step)`` tells where training resumes.
  """
  if checkpointer.latest_step is None:
    return state, data_state
  return checkpointer.restore(state)


def restore_model(directory: str | os.PathLike, model: nnx.Module,
                  optimizer: optax.GradientTransformation) -> tuple[nnx.Module, int]:
  """The model of the latest checkpoint in ``directory``, on one local device.

  The one way a trained model comes back from a job's workdir (to fine-tune,
  to encode, to explain, to rewrite, to serve).

  Nothing is computed before the restore: the checkpoint's layout comes from
  tracing alone (``jax.eval_shape``), so ``model`` may be abstract, as
  ``nnx.eval_shape(lambda: Model(config, rngs=nnx.Rngs(0)))`` makes it. (A
  concrete template costs its random initialisation, run op by op: one XLA
  compilation per operation, about 15 s for a multitask bi-LSTM on a busy CPU.)

  Args:
    directory: a :class:`Checkpointer` folder (a job's ``workdir/checkpoints``).
    model: a model of the same structure and sizes, concrete or abstract (its
      values are replaced).
    optimizer: the optimizer it was trained with (its state's structure is
      part of the checkpoint).

  Returns:
    ``(model, step)``: the restored model and the step it was saved at.

  Raises:
    FileNotFoundError: no checkpoint in ``directory``.
  """
  graphdef, params, rest = nnx.split(model, nnx.Param, ...)

  def saved_layout(params, rest):
    return _to_saveable(TrainState(params=params, rest=rest, opt_state=optimizer.init(params),
                                   step=jnp.zeros((), jnp.int32), key=jax.random.key(0)))

  # One local device: a restored model serves this process, whatever the mesh was.
  device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
  abstract = jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=device),
                          jax.eval_shape(saved_layout, params, rest))
  with Checkpointer(directory, every=1) as checkpointer:
    step = checkpointer.latest_step
    if step is None:
      raise FileNotFoundError(f"no checkpoint in {directory}")
    state = checkpointer.restore_abstract(abstract, step)
  return nnx.merge(graphdef, state.params, state.rest), int(step)
