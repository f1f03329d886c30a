"""Test setup: 8 simulated CPU devices, the shared data folder, a build cache.

JAX reads ``jax_num_cpu_devices`` when its backend starts, so it is set here,
before any test imports JAX code.

Tests that need ../shared (real datasets, pretrained models) skip without it
on a developer's machine, but fail under CI (``$CI`` set, as CI services do):
there a missing folder is a broken setup, and a skip would pass it silently.
"""

import atexit
import os
import pathlib
import shutil
import tempfile

import jax
import pytest

jax.config.update("jax_num_cpu_devices", 8)
# One persistent compilation cache for the session, so a program compiled once
# is loaded, not compiled again, by the next test, fixture or subprocess that
# builds it (resumed runs, notebooks, CLI children, the other xdist worker):
# most of the suite's time is XLA compiling tiny models. A fresh folder each
# run (made by the first process; xdist workers and subprocesses inherit it
# through the environment), so no test sees another run's programs. The size
# bound turns on JAX's file lock: two workers reading and writing it at once.
# FSNLU_TEST_XLA_CACHE=off: every compilation done afresh.
if not os.environ.get("FSNLU_TEST_XLA_CACHE"):
  os.environ["FSNLU_TEST_XLA_CACHE"] = tempfile.mkdtemp(prefix="fsnlu-test-xla-")
  atexit.register(shutil.rmtree, os.environ["FSNLU_TEST_XLA_CACHE"], ignore_errors=True)
if os.environ["FSNLU_TEST_XLA_CACHE"] != "off":
  for _name, _value in (("jax_compilation_cache_dir", os.environ["FSNLU_TEST_XLA_CACHE"]),
                        ("jax_compilation_cache_max_size", 4 << 30),
                        ("jax_persistent_cache_min_compile_time_secs", 0.2)):
    os.environ[_name.upper()] = str(_value)  # for subprocesses
    jax.config.update(_name, _value)
# `fsnlu explain/predict/serve` keep compilations on disk; not the suite's.
os.environ.setdefault("FSNLU_COMPILATION_CACHE", "")
# Under pytest-xdist (`-n 2`) each worker builds datasets into its own cache:
# two processes building the same dataset into one folder would race.
if os.environ.get("PYTEST_XDIST_WORKER"):
  os.environ["FSNLU_CACHE_DIR"] = os.path.join(
      os.environ.get("FSNLU_CACHE_DIR") or os.path.expanduser("~/.cache/fsnlu_jax/datasets"),
      "xdist-" + os.environ["PYTEST_XDIST_WORKER"])

# ../shared/data beside the project root (as in CI), or $FSNLU_DATA_DIR.
_ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED_DATA = pathlib.Path(os.environ.get("FSNLU_DATA_DIR", _ROOT.parent / "shared" / "data"))
SHARED_MODELS = pathlib.Path(os.environ.get("FSNLU_MODELS_DIR", _ROOT.parent / "shared" / "models"))
# "true" on GitHub Actions, GitLab and most CI services; "0"/"false" opt out.
IN_CI = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _missing(what: str) -> None:
  """Skips the test, or fails it under CI, where the shared folders must exist."""
  if IN_CI:
    pytest.fail(f"{what}; CI must provide ../shared (CI={os.environ['CI']!r})", pytrace=False)
  pytest.skip(what)


@pytest.fixture(scope="session")
def shared_data() -> pathlib.Path:
  """The folder of real datasets; tests needing it skip, loudly, without it (fail in CI)."""
  if not SHARED_DATA.is_dir():
    _missing(f"real datasets not found at {SHARED_DATA} (set FSNLU_DATA_DIR)")
  return SHARED_DATA


@pytest.fixture(scope="session")
def minilm_dir() -> pathlib.Path:
  """The all-MiniLM-L6-v2 folder of ../shared/models; tests skip without it (fail in CI)."""
  path = SHARED_MODELS / "all-MiniLM-L6-v2"
  if not path.is_dir():
    _missing(f"pretrained model not found at {path} (set FSNLU_MODELS_DIR)")
  return path


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> pathlib.Path:
  """One build cache for the whole session, so each dataset is built once."""
  return tmp_path_factory.mktemp("fsnlu_cache")


@pytest.fixture(scope="session")
def real_dataset(shared_data, cache_dir):
  """``real_dataset(NAME)`` -> ``(builder, {split: [Example]})``, built and read once a session."""
  from fsnlu_jax.data import loading  # pylint: disable=g-import-not-at-top

  built = {}

  def get(name: str):
    if name not in built:
      builder = loading.prepare(name, data_dir=shared_data, cache_dir=cache_dir)
      built[name] = builder, {s: loading.read_split(builder, s) for s in builder.info.splits}
    return built[name]

  return get


_CONFIGS = _ROOT / "configs"


@pytest.fixture(scope="session")
def tiny_pretrain(tmp_path_factory, cache_dir) -> pathlib.Path:
  """A finished ``fsnlu pretrain`` of ``multitask_pretrain.py:tiny`` (20 steps), once a session."""
  from fsnlu_jax import cli  # pylint: disable=g-import-not-at-top

  workdir = tmp_path_factory.mktemp("pretrain")
  assert cli.main(["pretrain", "--config", f"{_CONFIGS / 'multitask_pretrain.py'}:tiny",
                   "--workdir", str(workdir), "--cache-dir", str(cache_dir)]) == 0
  return workdir


@pytest.fixture(scope="session")
def tiny_rewrite(tmp_path_factory, cache_dir) -> pathlib.Path:
  """A finished ``fsnlu rewrite`` of ``rewrite.py:tiny`` (trained and evaluated), once a session."""
  from fsnlu_jax import cli  # pylint: disable=g-import-not-at-top

  workdir = tmp_path_factory.mktemp("rewrite")
  assert cli.main(["rewrite", "--config", f"{_CONFIGS / 'rewrite.py'}:tiny", "--workdir",
                   str(workdir), "--cache-dir", str(cache_dir)]) == 0
  return workdir
