"""Keep XLA:CPU's per-call scratch memory in glibc's heap instead of fresh pages.

XLA's CPU runtime allocates the temporaries of one call of a compiled function
as one block, on a worker thread, and frees it when the call ends. Under
glibc's defaults a block above 32 MiB (the ceiling of the dynamic mmap
threshold), or above 64 MiB on a worker thread's arena, is a fresh ``mmap``
on every call: the kernel zero-fills it one 4 KiB page fault at a time. A
bi-LSTM train step with 184 MB of temporaries paid 45,000 faults per call
(413 ms against 338 ms without them); a few-shot step over 8 episodes spent
7 ms of 30 in the kernel. PyTorch allocates tensor by tensor, each under the
threshold, and never meets this.

:func:`tune_host_malloc` sets three ``mallopt`` parameters so such a block is
carved from the heap and reused by the next call:

* ``M_ARENA_MAX = 1``: every thread allocates from the main arena (a worker's
  own arena cannot hold a block above 64 MiB);
* ``M_MMAP_THRESHOLD = 1 GiB``: blocks under it come from the heap;
* ``M_TRIM_THRESHOLD`` at its largest: freed heap memory is kept for the next
  call, not returned to the kernel (resident memory stays at its peak, as
  with an accelerator's caching allocator).

Call it first, before NumPy, JAX or PyTorch are imported: a thread takes an
arena when it first allocates, and NumPy's BLAS threads start on import, so a
later call leaves XLA's workers on their own arenas (measured: 6,500-13,000 of
32,800 faults per call left). This module imports only the standard library for
that reason; the ``fsnlu`` command calls it before anything else, and so does
``benchmarks/_harness.py``. The same settings, for any program, before it
starts::

  GLIBC_TUNABLES=glibc.malloc.arena_max=1:glibc.malloc.mmap_threshold=1073741824:glibc.malloc.trim_threshold=2147483647

It changes the whole process (other libraries' allocations too), needs glibc
(elsewhere it returns None and changes nothing), and ``FSNLU_HOST_MALLOC=default``
turns it off.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os

_log = logging.getLogger(__name__)

SETTINGS = {"M_ARENA_MAX": 1, "M_MMAP_THRESHOLD": 1 << 30, "M_TRIM_THRESHOLD": (1 << 31) - 1}
_PARAMETER_NUMBERS = {"M_ARENA_MAX": -8, "M_MMAP_THRESHOLD": -3, "M_TRIM_THRESHOLD": -1}  # <malloc.h>
_applied: dict[str, int] | None = None


def tune_host_malloc() -> dict[str, int] | None:
  """Applies :data:`SETTINGS` through glibc's ``mallopt`` (once per process).

  Returns:
    the settings applied, or None where ``FSNLU_HOST_MALLOC=default`` or the C
    library is not glibc (nothing changed then).
  """
  global _applied
  if _applied is not None:
    return _applied
  if os.environ.get("FSNLU_HOST_MALLOC", "tuned") == "default":
    return None
  mallopt = _glibc_mallopt()
  if mallopt is None:
    return None
  for name, value in SETTINGS.items():
    if mallopt(_PARAMETER_NUMBERS[name], value) != 1:  # mallopt returns 1 on success
      _log.warning("mallopt(%s, %d) failed; host allocation left as it was", name, value)
      return None
  _applied = dict(SETTINGS)
  _log.info("host malloc tuned for XLA:CPU temporaries: %s", _applied)
  return _applied


def host_malloc_settings() -> dict[str, int] | None:
  """What :func:`tune_host_malloc` applied in this process (None: glibc's defaults)."""
  return _applied


def _glibc_mallopt():
  """glibc's ``mallopt`` as a ctypes function, or None on another C library."""
  try:
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    libc.gnu_get_libc_version  # pylint: disable=pointless-statement  (glibc only)
    mallopt = libc.mallopt
  except (OSError, AttributeError):
    return None
  mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
  return mallopt
