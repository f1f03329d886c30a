"""Shared timing helpers for the benchmark scripts (not part of the package).

JAX is imported inside the functions, so that :func:`pin_cpus` can run before
it starts.

Fair side-by-side timing on one machine, in one process:

* :func:`compare` times each contender's first call apart (JAX compiles there,
  PyTorch allocates), warms every contender up, then alternates them for ``R``
  rounds so that load from other processes hits all of them alike; it returns
  each contender's samples and the **median of the per-round ratios** (a ratio
  of two timings taken seconds apart, so drift in machine load cancels).
* Every timed callable must block until its result exists: JAX dispatches
  asynchronously, so :func:`block` (``jax.block_until_ready``) is applied to
  whatever a contender returns.
* :func:`match_torch_threads` gives PyTorch as many intra-op threads as XLA's
  CPU client uses: XLA sizes its Eigen pool to the CPUs this process may run on
  (``tsl::port::MaxParallelism``, the affinity mask), while PyTorch defaults to
  the physical core count. Setting both to ``len(os.sched_getaffinity(0))``
  makes the comparison thread-for-thread.
* :func:`write_result` writes a JSON summary with the exact command
  (``sys.argv``), the machine and the library versions.
"""

from __future__ import annotations

import datetime
import json
import os
import pathlib
import platform
import shlex
import statistics
import sys
import time
from typing import Any, Callable, Mapping, NoReturn

# First, before NumPy, JAX or PyTorch start a thread: XLA:CPU's per-call temporaries
# are then reused from the heap, not mapped afresh on each call (both libraries run
# under it; FSNLU_HOST_MALLOC=default keeps glibc's defaults; see the module).
from fsnlu_jax import host_malloc  # pylint: disable=g-bad-import-order

host_malloc.tune_host_malloc()

import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position

RESULTS_DIR = pathlib.Path(__file__).resolve().parent / "results"
# The exit status of a benchmark whose peer library (PyTorch, Captum, ...) is not installed.
PEER_MISSING_EXIT = 3
# Other processes' load skews timings; it is recorded at start and at the end.
_LOAD_AT_IMPORT = os.getloadavg()
# The CPUs the machine lets this process use, before any pinning (the all-core matmul rate).
_CPUS_AT_IMPORT = sorted(os.sched_getaffinity(0))


def pin_cpus(n: int | None) -> list[int]:
  """Restricts this process to the ``n`` least busy of its allowed CPUs (None: all); the CPUs kept.

  Call it before JAX or PyTorch start their thread pools (before their import):
  XLA then sizes its pool to ``n`` and, with :func:`match_torch_threads`, so
  does PyTorch. One CPU each is the fairest setting on a shared, loaded
  machine, where a thread pool wider than the free cores waits at barriers
  (OpenMP in PyTorch suffers most). The CPUs are chosen by their idle time
  over a short sample of ``/proc/stat``, not by number: two benchmarks started
  side by side would otherwise both pin to CPU 0 and share one core.
  """
  allowed = sorted(os.sched_getaffinity(0))
  if n is not None:
    if not 1 <= n <= len(allowed):
      raise ValueError(f"--cpus must be in [1, {len(allowed)}], got {n}")
    idle = cpu_idle_fractions(allowed)
    # Most idle first; ties keep the lower number (stable sort).
    os.sched_setaffinity(0, sorted(allowed, key=lambda c: -idle.get(c, 0.0))[:n])
  return sorted(os.sched_getaffinity(0))


def cpu_idle_fractions(cpus: list[int], seconds: float = 0.3) -> dict[int, float]:
  """Each CPU's idle share of the next ``seconds`` (``/proc/stat``); {} where unreadable."""
  def snapshot() -> dict[int, tuple[int, int]]:
    out = {}
    try:
      lines = pathlib.Path("/proc/stat").read_text().splitlines()
    except OSError:
      return out
    for line in lines:
      name, *fields = line.split()
      if name.startswith("cpu") and name[3:].isdigit():
        ticks = [int(f) for f in fields]
        out[int(name[3:])] = (sum(ticks), ticks[3] + (ticks[4] if len(ticks) > 4 else 0))
    return out

  before = snapshot()
  time.sleep(seconds)
  after = snapshot()
  idle = {}
  for c in cpus:
    if c in before and c in after:
      total = after[c][0] - before[c][0]
      idle[c] = (after[c][1] - before[c][1]) / total if total > 0 else 1.0
  return idle


def peer_missing(error: ModuleNotFoundError) -> NoReturn:
  """Exits with :data:`PEER_MISSING_EXIT` and one line naming the missing peer module.

  The side-by-side benchmarks import their peer at the top, after
  :func:`pin_cpus` and before parsing arguments: without it nothing of theirs
  runs, ``--help`` included; this replaces the traceback.
  """
  print(f"{pathlib.Path(sys.argv[0]).name}: peer not installed: {error.name} (pip install "
        "torch==2.13.0 from the CPU wheel, then pip install -e '.[peers]'; see "
        "benchmarks/README.md)", file=sys.stderr)
  raise SystemExit(PEER_MISSING_EXIT)


def cpus_from_argv(argv: list[str]) -> int | None:
  """The value of ``--cpus N`` / ``--cpus=N`` in ``argv``, read before argparse
  runs (and before JAX is imported)."""
  for i, a in enumerate(argv):
    if a == "--cpus" and i + 1 < len(argv):
      return int(argv[i + 1])
    if a.startswith("--cpus="):
      return int(a.split("=", 1)[1])
  return None


def add_device_args(parser, *, dtypes: tuple[str, ...] = ("float32",)) -> None:
  """``--torch-device`` (where the PyTorch peer runs) and, where a lower precision is
  safe for the unit of work, ``--dtype`` (the choices after float32 are offered)."""
  parser.add_argument("--torch-device", default=None,
                      help="device of the PyTorch peer (default: cuda when available, else cpu)")
  if len(dtypes) > 1:
    parser.add_argument("--dtype", choices=dtypes, default=dtypes[0],
                        help="compute dtype of both sides (bfloat16: mixed precision, "
                             "float32 master weights where training)")


def torch_device(torch, override: str | None = None):
  """Where the PyTorch peer runs: ``override`` (``--torch-device``), else ``cuda`` when
  PyTorch sees a GPU, else ``cpu``. JAX needs no such choice: it uses its default backend."""
  return torch.device(override or ("cuda" if torch.cuda.is_available() else "cpu"))


def torch_dtype(torch, name: str):
  """``"float32"``/``"bfloat16"`` as a PyTorch dtype."""
  return {"float32": torch.float32, "bfloat16": torch.bfloat16}[name]


def jax_dtype(name: str):
  """``"float32"``/``"bfloat16"`` as a JAX dtype."""
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  return {"float32": jnp.float32, "bfloat16": jnp.bfloat16}[name]


def add_timing_args(parser, *, inner: int, out: str,
                    dtypes: tuple[str, ...] = ("float32",)) -> None:
  """The timing flags every side-by-side benchmark takes (rounds, warm-up, pinning, output,
  the peer's device and, where offered, the dtype)."""
  add_device_args(parser, dtypes=dtypes)
  parser.add_argument("--lengths", default="16,32", help="max lengths L (lengths drawn U[4, L])")
  parser.add_argument("--rounds", type=int, default=9)
  parser.add_argument("--inner", type=int, default=inner)
  parser.add_argument("--warmup", type=int, default=2)
  parser.add_argument("--n-batches", type=int, default=4, help="distinct batches cycled per case")
  parser.add_argument("--cpus", type=int, default=None,
                      help="pin to this many CPUs; both libraries then use that many threads")
  parser.add_argument("--quick", action="store_true", help="one small case, 3 rounds")
  parser.add_argument("--out", default=out,
                      help="file in results/ (or an absolute path); '' for none")


def block(x: Any) -> Any:
  """Waits for every JAX array in ``x`` and, where PyTorch runs on CUDA, for its queue
  (both dispatch asynchronously on an accelerator); anything else passes through."""
  import jax  # pylint: disable=g-import-not-at-top
  out = jax.block_until_ready(x)
  torch = sys.modules.get("torch")
  if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
    torch.cuda.synchronize()
  return out


# glibc otherwise raises its mmap threshold after the first large free and keeps freed
# buffers resident, so a second call's peak would hide in memory the first one left.
FIXED_MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": "131072", "MALLOC_TRIM_THRESHOLD_": "131072"}


def _status_kib(field: str) -> int:
  with open("/proc/self/status") as f:
    for line in f:
      if line.startswith(field + ":"):
        return int(line.split()[1])
  raise KeyError(field)


def peak_memory_bytes(fn: Callable[[], Any]) -> int | None:
  """Peak resident memory ``fn()`` adds above what the process holds when it starts (bytes).

  Linux only (None elsewhere): resets the kernel's high-water mark
  (``/proc/self/clear_refs``), calls ``fn`` and blocks on its result, then reads
  ``VmHWM`` against the resident size before the call. Run it in a process
  started with :data:`FIXED_MALLOC_ENV`, after a warm-up call, so compilation
  and buffers kept by the allocator are not counted.
  """
  import gc  # pylint: disable=g-import-not-at-top
  try:
    gc.collect()
    with open("/proc/self/clear_refs", "w") as f:
      f.write("5")
    before = _status_kib("VmRSS")
    result = block(fn())
    peak = _status_kib("VmHWM")
  except (OSError, KeyError):
    return None
  del result
  return max(0, peak - before) * 1024


def timed(fn: Callable[[], Any]) -> float:
  """Seconds one blocking call of ``fn`` takes."""
  t0 = time.perf_counter()
  block(fn())
  return time.perf_counter() - t0


def cpu_threads() -> int:
  """The CPUs this process may run on: the size of XLA's CPU thread pool."""
  try:
    return len(os.sched_getaffinity(0))
  except AttributeError:  # not Linux
    return os.cpu_count() or 1


def match_torch_threads(torch) -> int:
  """Sets PyTorch's intra-op threads to XLA's count (module docs); returns it."""
  n = cpu_threads()
  torch.set_num_threads(n)
  return n


def compare(contenders: Mapping[str, Callable[[], Any]], *, rounds: int = 10, inner: int = 1,
            warmup: int = 2, baseline: str | None = None) -> dict[str, Any]:
  """Times ``contenders`` (name -> zero-argument callable) interleaved.

  Args:
    contenders: each call does one unit of work (e.g. one train step).
    rounds: ``R``, alternations; each yields one sample per contender.
    inner: calls per sample (the sample is their mean), for very short units.
    warmup: untimed calls of each after the first call.
    baseline: the contender ratios are taken against (default: the last).

  Returns:
    ``{"first_call_s": {name: s}, "samples_s": {name: [R]}, "median_s": {name: s},
    "ratio_vs_<baseline>": {name: median over rounds of baseline_s / name_s}}``;
    a ratio above 1 means ``name`` is faster than the baseline.
  """
  names = list(contenders)
  baseline = names[-1] if baseline is None else baseline
  first = {n: timed(contenders[n]) for n in names}
  for n in names:
    for _ in range(warmup):
      block(contenders[n]())
  samples = {n: [] for n in names}
  for r in range(rounds):
    # Rotate who goes first so no contender always runs after the same one.
    order = names[r % len(names):] + names[:r % len(names)]
    for n in order:
      t0 = time.perf_counter()
      for _ in range(inner):
        block(contenders[n]())
      samples[n].append((time.perf_counter() - t0) / inner)
  ratios = {n: statistics.median(b / s for b, s in zip(samples[baseline], samples[n]))
            for n in names if n != baseline}
  return {"first_call_s": first, "samples_s": samples,
          "median_s": {n: statistics.median(samples[n]) for n in names},
          f"ratio_vs_{baseline}": ratios}


def matmul_probe(n: int = 2048) -> tuple[Callable[[], Any], int]:
  """A compiled f32 ``[n, n] @ [n, n]`` product ready to time, and its FLOPs (``2 n^3``)."""
  import jax  # pylint: disable=g-import-not-at-top
  key_a, key_b = jax.random.split(jax.random.key(0))
  a = jax.random.normal(key_a, (n, n), jax.numpy.float32)
  b = jax.random.normal(key_b, (n, n), jax.numpy.float32)
  mm = jax.jit(lambda x, y: x @ y)
  block(mm(a, b))
  return (lambda: mm(a, b)), 2 * n ** 3


def timed_flops(call: Callable[[], Any], flops: int, repeats: int = 3) -> float:
  """FLOP/s of the fastest of ``repeats`` calls of a :func:`matmul_probe`."""
  return flops / min(timed(call) for _ in range(repeats))


def matmul_flops(n: int = 2048, repeats: int = 5) -> dict[str, float]:
  """This machine's f32 matmul throughput through XLA: best of ``repeats``
  ``[n, n] @ [n, n]`` products (``2 n^3`` FLOPs each), after a warm-up."""
  call, flops = matmul_probe(n)
  times = [timed(call) for _ in range(repeats)]
  return {"n": n, "best_s": min(times), "median_s": statistics.median(times),
          "flops_per_s": flops / min(times)}


def _cpuinfo_field(name: str) -> str | None:
  try:
    for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
      if line.split(":", 1)[0].strip() == name:
        return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return None


# The instruction-set flags that decide matmul and element-wise speed on x86.
_SIMD_FLAGS = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl",
               "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16", "hypervisor")


def cpu_description() -> dict[str, Any]:
  """The CPU beyond its marketing name (a KVM guest often says only "Intel(R) Xeon(R)
  Processor"): vendor, family/model/stepping, cache, the SIMD flags present."""
  flags = set((_cpuinfo_field("flags") or "").split())
  return {"cpu_model": _cpuinfo_field("model name") or platform.processor() or platform.machine(),
          "vendor": _cpuinfo_field("vendor_id"),
          "family_model_stepping": [_cpuinfo_field("cpu family"), _cpuinfo_field("model"),
                                    _cpuinfo_field("stepping")],
          "cache": _cpuinfo_field("cache size"),
          "simd_flags": [f for f in _SIMD_FLAGS if f in flags],
          "avx512": "avx512f" in flags}


# Installed versions recorded with every result (absent ones are left out).
_LIBRARIES = ("jax", "jaxlib", "jax-cuda12-plugin", "flax", "optax", "numpy", "torch",
              "pytorch-crf", "captum", "transformers", "sentence-transformers", "setfit",
              "easyfsl", "scikit-learn", "modAL-python", "scikit-activeml", "tokenizers")


def library_versions() -> dict[str, str]:
  from importlib import metadata  # pylint: disable=g-import-not-at-top
  out = {}
  for name in _LIBRARIES:
    try:
      out[name] = metadata.version(name)
    except metadata.PackageNotFoundError:
      pass
  return out


_MATMUL_CHILD = """
import json, os, sys
sys.path.insert(0, {bench_dir!r})
os.sched_setaffinity(0, {cpus!r})
import _harness
print(json.dumps(_harness.matmul_flops()))
"""


def cpu_matmul_rates() -> dict[str, Any]:
  """f32 2048^2 matmul FLOP/s through XLA on one core (the most idle) and on every core this
  process was allowed before :func:`pin_cpus`, each in a fresh subprocess (XLA sizes its
  pool at start-up)."""
  import subprocess  # pylint: disable=g-import-not-at-top
  allowed = _CPUS_AT_IMPORT
  idle = cpu_idle_fractions(allowed)
  one = [max(allowed, key=lambda c: idle.get(c, 0.0))]
  env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
  env["JAX_PLATFORMS"] = "cpu"
  rates = {}
  for label, cpus in (("one_core", one), ("all_cores", allowed)):
    code = _MATMUL_CHILD.format(bench_dir=str(pathlib.Path(__file__).resolve().parent), cpus=cpus)
    try:
      done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=env, timeout=300, check=True)
      rates[label] = {"cpus": cpus, **json.loads(done.stdout.strip().splitlines()[-1])}
    except (subprocess.SubprocessError, ValueError, IndexError) as error:
      rates[label] = {"cpus": cpus, "error": str(error)[-300:]}
  return rates


def machine_info(torch=None, *, matmul: bool = True) -> dict[str, Any]:
  """The machine and versions a result was measured with.

  ``matmul``: also measure the one-core and all-core CPU matmul rates (a few
  seconds; set ``FSNLU_BENCH_NO_MATMUL=1`` to skip in smoke runs), and on an
  accelerator its own f32 rate, so every result carries the machine's speed.
  """
  import flax  # pylint: disable=g-import-not-at-top
  import jax  # pylint: disable=g-import-not-at-top
  info = {
      **cpu_description(), "cpu_count": os.cpu_count(), "cpu_threads_used": cpu_threads(),
      "cpus_pinned": sorted(os.sched_getaffinity(0)),
      "platform": platform.platform(), "python": platform.python_version(),
      "versions": library_versions(), "flax": flax.__version__,
      "jax_backend": jax.default_backend(), "jax_devices": [str(d) for d in jax.devices()],
      "device_kind": jax.devices()[0].device_kind,
      "xla_flags": os.environ.get("XLA_FLAGS", ""),
      # glibc's malloc settings change XLA:CPU's speed (its per-call temporaries
      # above 32 MiB are mapped afresh, page by page, unless huge pages are on).
      "glibc_tunables": os.environ.get("GLIBC_TUNABLES", ""),
      # mallopt settings applied on import of this module, for both libraries in the
      # process; null: glibc's defaults (FSNLU_HOST_MALLOC=default).
      "host_malloc": host_malloc.host_malloc_settings(),
      "load_average_1_5_15min": {"at_start": _LOAD_AT_IMPORT, "at_end": os.getloadavg()},
  }
  if matmul and not os.environ.get("FSNLU_BENCH_NO_MATMUL"):
    info["cpu_matmul"] = cpu_matmul_rates()
    if jax.default_backend() != "cpu":
      info["device_matmul_f32"] = matmul_flops(n=8192)
  if torch is not None:
    info.update(torch=torch.__version__, torch_threads=torch.get_num_threads(),
                torch_mkldnn=bool(torch.backends.mkldnn.is_available()),
                torch_cuda=torch.cuda.get_device_name(0) if torch.cuda.is_available() else None)
  return info


def command() -> str:
  """The command line that ran this script (interpreter, script, arguments)."""
  return " ".join(shlex.quote(a) for a in [sys.executable] + sys.argv)


def write_result(name: str, payload: Mapping[str, Any], *, torch=None) -> pathlib.Path:
  """Writes ``benchmarks/results/<name>`` with the command, machine and time."""
  path = RESULTS_DIR / name  # an absolute ``name`` stays as it is
  path.parent.mkdir(parents=True, exist_ok=True)
  record = {"command": command(), "cwd": os.getcwd(), "argv": sys.argv,
            "utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "machine": machine_info(torch), **payload}
  # Strict JSON (no Infinity / NaN, which strict readers reject): null instead.
  # Strict JSON: non-finite numbers as null (the package's one rule for results files).
  from fsnlu_jax.train.jsonl import plain  # pylint: disable=g-import-not-at-top
  path.write_text(json.dumps(plain(record), indent=1, default=_jsonable, allow_nan=False)
                  + "\n")
  return path


def _jsonable(x: Any) -> Any:
  if isinstance(x, (np.floating, np.integer)):
    return x.item()
  if isinstance(x, np.ndarray):
    return x.tolist()
  raise TypeError(f"not JSON serialisable: {type(x)}")


def summary(result: Mapping[str, Any]) -> str:
  """One line: medians in ms and the ratios."""
  med = " ".join(f"{n}={1e3 * s:.2f}ms" for n, s in result["median_s"].items())
  key = next(k for k in result if k.startswith("ratio_vs_"))
  ratios = " ".join(f"{n}={r:.2f}x" for n, r in result[key].items())
  return f"{med} | {key}: {ratios}"
