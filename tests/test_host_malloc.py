"""fsnlu_jax.host_malloc: XLA:CPU's large per-call temporaries stop faulting in afresh.

Each check runs in a fresh interpreter: the settings are process-wide and must
come before NumPy and JAX start their threads.
"""

import json
import os
import subprocess
import sys

import pytest

# A jitted call with 72 MiB of temporaries (two [3072, 3072] float32 operands of
# dots: above the 64 MiB a worker thread's arena can hold), run 30 times to let the
# heap settle, then 10 times; prints the settings and the median page faults per call.
_PROBE = r"""
import json, resource, statistics
from fsnlu_jax import host_malloc
applied = host_malloc.tune_host_malloc()
import jax, jax.numpy as jnp
x, w = jnp.full((3072, 3072), 0.5), jnp.ones((3072, 8))
f = jax.jit(lambda x, w: jnp.tanh(x)[::-1] @ w + jnp.exp(x).T @ w)
temp = f.lower(x, w).compile().memory_analysis().temp_size_in_bytes
for _ in range(30):
  f(x, w).block_until_ready()
faults = []
for _ in range(10):
  before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
  f(x, w).block_until_ready()
  faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(json.dumps(dict(applied=applied, temp_pages=temp / 4096,
                      faults_per_call=statistics.median(faults))))
"""

def _probe(**env):
  out = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True,
                       check=True, env={**os.environ, "JAX_PLATFORMS": "cpu", **env})
  return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_tuned_host_malloc_reuses_large_temporaries():
  default = _probe(FSNLU_HOST_MALLOC="default")
  tuned = _probe()
  assert default["applied"] is None
  assert tuned["applied"] == {"M_ARENA_MAX": 1, "M_MMAP_THRESHOLD": 1 << 30,
                              "M_TRIM_THRESHOLD": (1 << 31) - 1}
  assert default["temp_pages"] == tuned["temp_pages"] >= 16384  # > 64 MiB
  # glibc's defaults map the block afresh each call: a fault per touched page.
  assert default["faults_per_call"] > 0.2 * default["temp_pages"], default
  # Tuned, the block is carved from the heap and reused (the heap grows over the
  # first calls, while one call's block is freed as the next is allocated).
  assert tuned["faults_per_call"] < 0.01 * tuned["temp_pages"], tuned


def test_fsnlu_entry_point_tunes_before_the_cli_runs():
  code = ("import contextlib; from fsnlu_jax.__main__ import main;"
          "from fsnlu_jax import host_malloc\n"
          "with contextlib.suppress(SystemExit): main(['--version'])\n"  # argparse exits
          "print(host_malloc.host_malloc_settings())")
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
  assert "M_ARENA_MAX" in out.stdout.strip().splitlines()[-1], out.stdout


def test_importing_it_starts_no_numpy_or_jax():
  """It must run before NumPy's BLAS threads start: importing it must not import them."""
  code = ("import sys; import fsnlu_jax.host_malloc;"
          "print(sorted(m for m in ('numpy', 'jax', 'torch') if m in sys.modules))")
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
  assert out.stdout.strip() == "[]", out.stdout
