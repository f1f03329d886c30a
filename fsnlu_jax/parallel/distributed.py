"""Multi-process start-up and per-process data loading.

One code path serves a laptop and a cluster: :func:`initialize_distributed`
is a no-op in a single process, and :func:`global_batch_from_local` turns the
slice of the global batch this process loaded into one global ``jax.Array``
(a single process simply loads the whole batch).
"""

from __future__ import annotations

import logging
import os
from typing import Any, Mapping

import jax

from fsnlu_jax.parallel.mesh import data_sharding

_log = logging.getLogger(__name__)

# Set by cluster launchers that jax.distributed can configure itself from.
_AUTO_DETECT_VARS = ("JAX_COORDINATOR_ADDRESS", "FSNLU_DISTRIBUTED_AUTO")
_LAUNCHER_SIZE_VARS = ("SLURM_NTASKS", "OMPI_COMM_WORLD_SIZE")


def _explicit_config(env: Mapping[str, str]) -> dict[str, Any] | None:
  """``jax.distributed.initialize`` kwargs from ``FSNLU_*`` variables, or None."""
  if "FSNLU_COORDINATOR" not in env:
    return None
  missing = [v for v in ("FSNLU_NUM_PROCESSES", "FSNLU_PROCESS_ID") if v not in env]
  if missing:
    raise ValueError(f"FSNLU_COORDINATOR is set but {', '.join(missing)} is not")
  return dict(coordinator_address=env["FSNLU_COORDINATOR"],
              num_processes=int(env["FSNLU_NUM_PROCESSES"]),
              process_id=int(env["FSNLU_PROCESS_ID"]))


def _cluster_detected(env: Mapping[str, str]) -> bool:
  """Whether a launcher started several processes that JAX can detect."""
  if any(v in env for v in _AUTO_DETECT_VARS):
    return True
  return any(int(env.get(v, "1")) > 1 for v in _LAUNCHER_SIZE_VARS)


def initialize_distributed(env: Mapping[str, str] | None = None) -> bool:
  """Calls ``jax.distributed.initialize`` when a multi-process run is configured.

  Configured means either ``FSNLU_COORDINATOR`` (``host:port`` of process 0),
  ``FSNLU_NUM_PROCESSES`` and ``FSNLU_PROCESS_ID`` are set (used as given), or
  a launcher JAX detects itself is present: ``JAX_COORDINATOR_ADDRESS``, SLURM
  or Open MPI with more than one task, or ``FSNLU_DISTRIBUTED_AUTO`` (e.g. on a
  multi-host TPU slice). Call it before anything touches a device.

  Args:
    env: the environment to read; default ``os.environ``.

  Returns:
    Whether JAX now runs distributed (False: a plain single process).
  """
  env = os.environ if env is None else env
  if jax.distributed.is_initialized():
    return True
  kwargs = _explicit_config(env)
  if kwargs is None and not _cluster_detected(env):
    return False
  jax.distributed.initialize(**(kwargs or {}))
  _log.info("process %d of %d, %d local of %d devices", jax.process_index(),
            jax.process_count(), jax.local_device_count(), jax.device_count())
  return True


def global_batch_from_local(local_batch: Any, mesh: jax.sharding.Mesh) -> Any:
  """Assembles each process's slice into global arrays sharded over ``data``.

  Process ``p`` passes rows ``[p * B / Np, (p + 1) * B / Np)`` of the global
  batch (``Np`` processes); the result is one ``[B, ...]`` array per leaf, each
  device holding its rows, no process ever holding the whole batch.

  Args:
    local_batch: a pytree of host arrays ``[B / Np, ...]``.
    mesh: the data mesh, over the devices of every process.

  Returns:
    The same pytree of global ``jax.Array`` s ``[B, ...]``.
  """
  sharding = data_sharding(mesh)
  return jax.tree.map(lambda x: jax.make_array_from_process_local_data(sharding, x),
                      local_batch)
