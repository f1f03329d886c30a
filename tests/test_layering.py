"""The import direction of ../shared/DESIGN.md, read from the source (every import, also inside functions).

``kernels`` <- ``nn`` <- ``models`` <- capability packages <- ``cli``; ``train``,
``parallel``, ``decoding`` and ``explain`` sit between ``models`` and the
capabilities; ``data`` is host-side NumPy and imports neither JAX nor any
other package of ours. A capability uses another only through its package
(its public API), along the edges listed here, and never a private ``_x``
module of another package.
"""

from __future__ import annotations

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "fsnlu_jax"

# Rank of each top-level package or module: an import may only go to a lower
# rank, or within its own package.
RANKS = {
    "_progress": -1,  # tqdm only: every layer, data/ included, reports its long stages
    "host_malloc": -1,  # standard library only: it must run before NumPy is imported
    "__init__": 0, "_plotting": 0, "config": 0, "data": 0, "kernels": 0, "parallel": 0,
    "nn": 1,
    "models": 2, "train": 2, "decoding": 2,
    "explain": 3,
    "transfer": 4, "rewrite": 4, "active": 4, "parse": 4,
    "fewshot": 5, "selection": 5,  # they train their encoder / base model through `transfer`
    "teach": 5,  # its student is the multitask model, trained through `transfer`
    "serve": 6,  # a trained model of any capability, through their public APIs
    "configs": 7, "cli": 7,
    "__main__": 8,  # the `fsnlu` entry point: host_malloc, then the CLI
}
CAPABILITIES = {"transfer", "rewrite", "active", "teach", "parse", "fewshot", "selection"}
# The only capability-to-capability edges (DESIGN.md: through the public API).
CAPABILITY_EDGES = {("fewshot", "transfer"), ("selection", "transfer"), ("teach", "transfer")}
NO_JAX = ("jax", "jaxlib", "flax", "optax", "orbax")


def _modules() -> list[pathlib.Path]:
  return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _owner(path: pathlib.Path) -> str:
  """The top-level package (or module) a file belongs to."""
  parts = path.relative_to(PACKAGE).parts
  return parts[0] if len(parts) > 1 else pathlib.Path(parts[0]).stem


def _imports(path: pathlib.Path, source: str | None = None) -> list[tuple[int, str]]:
  """``(line, dotted name)`` of every import in the file; ``from a import b`` gives ``a.b``."""
  out = []
  source = path.read_text() if source is None else source
  # The file's package, for relative imports: fsnlu_jax/kernels/_lstm.py -> fsnlu_jax.kernels.
  package = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)[:-1]
  for node in ast.walk(ast.parse(source, str(path))):
    if isinstance(node, ast.Import):
      out += [(node.lineno, a.name) for a in node.names]
    elif isinstance(node, ast.ImportFrom):
      base = ".".join(package[:len(package) - node.level + 1]) if node.level else ""
      module = ".".join(p for p in (base, node.module) if p)
      out += [(node.lineno, f"{module}.{a.name}") for a in node.names]
  return out


def violations(sources: dict[pathlib.Path, str] | None = None) -> list[str]:
  """Every import against the rules, as ``file:line: message``.

  ``sources``: files to check with their text (default: the package as it is).
  """
  found = []
  sources = sources or {p: p.read_text() for p in _modules()}
  for path, source in sources.items():
    owner = _owner(path)
    where = path.relative_to(PACKAGE.parent)
    for line, name in _imports(path, source):
      parts = name.split(".")
      if owner == "data" and parts[0] in NO_JAX:
        found.append(f"{where}:{line}: data/ imports {parts[0]} (data is JAX-free)")
      if parts[0] != "fsnlu_jax" or len(parts) < 2:
        continue
      target = parts[1]
      if target == owner or target not in RANKS:  # within a package, or `__version__` & co.
        continue
      # `fsnlu_jax._plotting` is the root's shared helper; below a package, `_x` is private.
      if any(p.startswith("_") and not p.startswith("__") for p in parts[2:]):
        found.append(f"{where}:{line}: private module or name of another package: {name}")
      if owner in CAPABILITIES and target in CAPABILITIES:
        if (owner, target) not in CAPABILITY_EDGES:
          found.append(f"{where}:{line}: capability {owner} imports capability {target}")
        elif len(parts) > 2 and not (parts[2][:1].isupper() or parts[2] in _public(target)):
          found.append(f"{where}:{line}: {owner} reaches into {target}'s module {parts[2]}"
                       f" (use the package's public API)")
        continue
      if RANKS[target] >= RANKS[owner]:
        found.append(f"{where}:{line}: {owner} (rank {RANKS[owner]}) imports {name}"
                     f" (rank {RANKS[target]}): against the import direction")
  return found


def _public(package: str) -> set[str]:
  """Names ``fsnlu_jax.<package>`` re-exports in its ``__init__.py``."""
  init = PACKAGE / package / "__init__.py"
  names = set()
  for node in ast.parse(init.read_text()).body:
    if isinstance(node, ast.ImportFrom):
      names |= {a.asname or a.name for a in node.names}
  return names


def test_every_import_follows_the_documented_direction():
  assert violations() == []


def test_every_top_level_package_has_a_rank():
  owners = {_owner(p) for p in _modules()}
  assert owners <= set(RANKS), owners - set(RANKS)


@pytest.mark.parametrize("owner, source, message", [
    ("kernels/_bad.py", "from fsnlu_jax.models import MultitaskBiLSTM\n", "against the import"),
    ("data/_bad.py", "import jax.numpy as jnp\n", "JAX-free"),
    ("nn/_bad.py", "from fsnlu_jax.kernels._crf import DEFAULT_PENALTY\n", "private module"),
    ("transfer/_bad.py", "from fsnlu_jax import fewshot\n", "capability transfer imports"),
    ("fewshot/_bad.py", "from fsnlu_jax.transfer.job import run_pretrain\n", "reaches into"),
    ("train/_bad.py", "def f():\n  from fsnlu_jax.transfer import load_model\n", "against"),
    ("kernels/_bad.py", "from ..models import MultitaskBiLSTM\n", "against the import"),
    ("transfer/_bad.py", "from .. import fewshot\n", "capability transfer imports"),
    ("nn/_bad.py", "from ..kernels._crf import DEFAULT_PENALTY\n", "private module"),
    ("explain/_bad.py", "from fsnlu_jax.train.metrics import _intents\n", "private module"),
    ("explain/_bad.py", "import fsnlu_jax.train.metrics._intents as z\n", "private module"),
    ("explain/_bad.py", "from fsnlu_jax.train.loop import _Tracker\n", "private module or name"),
])
def test_a_planted_upward_import_is_caught(owner, source, message):
  # Checked as if the file lived there; nothing is written into the package.
  found = violations({PACKAGE / owner: source})
  assert any(message in f for f in found), found
