"""A one-axis data-parallel mesh over all devices, and its shardings.

The same code runs on one CPU, eight simulated CPU devices, a GPU or a
cluster: the global batch is split along :data:`DATA_AXIS`, parameters are
replicated.
"""

from __future__ import annotations

import jax
from jax.sharding import NamedSharding, PartitionSpec as P

DATA_AXIS = "data"


def make_data_mesh(devices: int | None = None) -> jax.sharding.Mesh:
  """A mesh with one ``data`` axis over ``devices`` devices (default: all)."""
  n = jax.device_count() if devices is None else devices
  return jax.make_mesh((n,), (DATA_AXIS,), axis_types=(jax.sharding.AxisType.Explicit,))


def data_sharding(mesh: jax.sharding.Mesh) -> NamedSharding:
  """Shards an array's leading (batch) dimension over the data axis."""
  return NamedSharding(mesh, P(DATA_AXIS))


def replicated(mesh: jax.sharding.Mesh) -> NamedSharding:
  """Keeps a full copy of an array on every device of ``mesh``."""
  return NamedSharding(mesh, P())
