"""Device meshes and data sharding (``jax.make_mesh``, ``NamedSharding``)."""

from fsnlu_jax.parallel.mesh import DATA_AXIS, data_sharding, make_data_mesh, replicated
from fsnlu_jax.parallel.distributed import global_batch_from_local, initialize_distributed
