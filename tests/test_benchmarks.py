"""The benchmark scripts keep up with the package: their imports resolve and their CLIs parse.

The scripts under ``benchmarks/`` are run by hand, never by the suite, so an
API change would break them silently. This runs none of their work:

* every ``import fsnlu_jax...`` and ``from fsnlu_jax... import name`` of each
  ``benchmarks/*.py`` (``_harness.py`` too), at the top or inside a function,
  is imported and each name looked up; so is each attribute read through a
  module bound by such an import (``fewshot.train_systems``, ``fsd.Pool``),
  unless the file also binds that name to something else;
* each script with a ``__main__`` guard runs ``--help`` in a process of its own
  (``JAX_PLATFORMS=cpu``; forks of one Python that did the shared imports once). A script whose peer library
  (PyTorch, Captum, ...) is not installed must stop cleanly, with
  ``_harness.PEER_MISSING_EXIT`` and the missing module named, and that module
  must really be missing;
* the notebooks' code cells get the same import check.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import json
import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
SCRIPTS = sorted(BENCHMARKS.glob("*.py"))
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
PACKAGE = "fsnlu_jax"
HELP_TIMEOUT_S = 180


def _harness():
  spec = importlib.util.spec_from_file_location("_bench_harness", BENCHMARKS / "_harness.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def _ours(module: str | None) -> bool:
  return module is not None and (module == PACKAGE or module.startswith(PACKAGE + "."))


def _import(name: str, where: str, problems: list[str]):
  try:
    return importlib.import_module(name)
  except ImportError as e:
    problems.append(f"{where}: import {name}: {type(e).__name__}: {e}")
    return None


def _lookup(module, name: str):
  """``module.name``, or the submodule ``module.name`` (``from pkg import submodule``)."""
  if hasattr(module, name):
    return True, getattr(module, name)
  try:
    return True, importlib.import_module(f"{module.__name__}.{name}")
  except ModuleNotFoundError:
    return False, None


def _rebound(tree: ast.AST) -> set[str]:
  """Names the file binds other than by import (assignments, arguments, defs, ...)."""
  names = set()
  for node in ast.walk(tree):
    if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
      names.add(node.id)
    elif isinstance(node, ast.arg):
      names.add(node.arg)
    elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
      names.add(node.name)
    elif isinstance(node, ast.ExceptHandler) and node.name:
      names.add(node.name)
    elif isinstance(node, (ast.Global, ast.Nonlocal)):
      names.update(node.names)
  return names


def _chain(node: ast.Attribute) -> list[str] | None:
  """``a.b.c`` as ``["a", "b", "c"]``; None unless it starts at a plain name."""
  parts = []
  while isinstance(node, ast.Attribute):
    parts.append(node.attr)
    node = node.value
  return [node.id, *reversed(parts)] if isinstance(node, ast.Name) else None


def unresolved(source: str, filename: str) -> list[str]:
  """Every fsnlu_jax import (anywhere in ``source``) and module attribute that does not resolve."""
  tree = ast.parse(source, filename)
  problems: list[str] = []
  modules = {}  # name bound by an import -> the module object it is
  for node in ast.walk(tree):
    where = f"{filename}:{getattr(node, 'lineno', '?')}"
    if isinstance(node, ast.Import):
      for alias in node.names:
        if not _ours(alias.name):
          continue
        module = _import(alias.name, where, problems)
        if module is not None:
          bound = alias.asname or alias.name.partition(".")[0]
          modules[bound] = module if alias.asname else importlib.import_module(bound)
    elif isinstance(node, ast.ImportFrom) and node.level == 0 and _ours(node.module):
      module = _import(node.module, where, problems)
      if module is None:
        continue
      for alias in node.names:
        if alias.name == "*":
          continue
        found, value = _lookup(module, alias.name)
        if not found:
          problems.append(f"{where}: from {node.module} import {alias.name}: no such name")
        elif inspect.ismodule(value):
          modules[alias.asname or alias.name] = value
  rebound = _rebound(tree)
  for node in ast.walk(tree):
    chain = _chain(node) if isinstance(node, ast.Attribute) else None
    if not chain or chain[0] not in modules or chain[0] in rebound:
      continue
    value = modules[chain[0]]
    for i, attr in enumerate(chain[1:], 1):
      found, value = _lookup(value, attr)
      if not found:
        problems.append(f"{filename}:{node.lineno}: {'.'.join(chain[:i + 1])}: "
                        f"{'.'.join(chain[:i])} has no attribute {attr!r}")
        break
      if not inspect.ismodule(value):
        break
  return sorted(set(problems))


def _has_main(path: pathlib.Path) -> bool:
  tree = ast.parse(path.read_text(), str(path))
  return any(isinstance(n, ast.If) and re.fullmatch(
      r"""__name__ == ['"]__main__['"]""", ast.unparse(n.test)) for n in tree.body)


def _notebook_source(path: pathlib.Path) -> str:
  cells = json.loads(path.read_text())["cells"]
  lines = [line for c in cells if c["cell_type"] == "code"
           for line in "".join(c["source"]).splitlines()
           if not line.lstrip().startswith(("%", "!"))]  # IPython magics and shell lines
  return "\n".join(lines)


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.name)
def test_fsnlu_imports_resolve(path):
  problems = unresolved(path.read_text(), f"benchmarks/{path.name}")
  assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_fsnlu_imports_resolve(path):
  problems = unresolved(_notebook_source(path), f"notebooks/{path.name}")
  assert not problems, "\n".join(problems)


# One Python runs every script's ``--help``, each in a fork of itself made after
# the imports they share (JAX, Flax, Optax, NumPy, the package's modules the
# scripts name): each script still runs as ``__main__`` in a process of its own
# (its argv, its folder first on sys.path, its own exit status and output), but
# the ~3 CPU-seconds of imports are paid once, not once per script. No backend is
# started before the forks (JAX is imported, never run).
_HELP_SERVER = r"""
import importlib, json, os, runpy, sys, traceback
scripts, shared, out_dir = json.loads(sys.argv[1])
for name in shared:
  try:
    importlib.import_module(name)
  except Exception:  # the script's own run reports it
    pass
results = {}
for path in scripts:
  out, err = (os.path.join(out_dir, os.path.basename(path) + s) for s in (".out", ".err"))
  sys.stdout.flush(), sys.stderr.flush()
  pid = os.fork()
  if pid == 0:
    os.dup2(os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), 1)
    os.dup2(os.open(err, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), 2)
    sys.argv = [path, "--help"]
    sys.path.insert(0, os.path.dirname(path))
    code = 0
    try:
      runpy.run_path(path, run_name="__main__")
    except SystemExit as e:
      if e.code is None or isinstance(e.code, int):
        code = e.code or 0
      else:
        print(e.code, file=sys.stderr)
        code = 1
    except BaseException:
      traceback.print_exc()
      code = 1
    sys.stdout.flush(), sys.stderr.flush()
    os._exit(code)
  results[path] = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
print(json.dumps(results))
"""


def _shared_imports(scripts: list[pathlib.Path]) -> list[str]:
  """The modules the server imports before forking: the heavy libraries, and each
  ``fsnlu_jax`` module a script imports."""
  names = {"numpy", "jax", "jax.numpy", "flax.nnx", "optax"}
  for path in scripts:
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
      if isinstance(node, ast.Import):
        names.update(a.name for a in node.names if _ours(a.name))
      elif isinstance(node, ast.ImportFrom) and node.level == 0 and _ours(node.module):
        names.add(node.module)
  return sorted(names)


@pytest.fixture(scope="module")
def help_runs(tmp_path_factory) -> dict[str, subprocess.CompletedProcess]:
  """``--help`` of every script with a ``__main__`` guard, each in a process of its own."""
  scripts = [p for p in SCRIPTS if _has_main(p)]
  out_dir = tmp_path_factory.mktemp("help")
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  job = [[str(p) for p in scripts], _shared_imports(scripts), str(out_dir)]
  server = subprocess.run([sys.executable, "-c", _HELP_SERVER, json.dumps(job)], cwd=ROOT,
                          env=env, capture_output=True, text=True,
                          timeout=HELP_TIMEOUT_S * 2, check=False)
  assert server.returncode == 0, server.stderr[-3000:]
  codes = json.loads(server.stdout.splitlines()[-1])
  runs = {}
  for p in scripts:
    out, err = ((out_dir / (p.name + s)).read_text() for s in (".out", ".err"))
    runs[p.name] = subprocess.CompletedProcess([str(p), "--help"], codes[str(p)], out, err)
  return runs


@pytest.mark.parametrize("path", [p for p in SCRIPTS if _has_main(p)], ids=lambda p: p.name)
def test_help_exits_cleanly(path, help_runs):
  run = help_runs[path.name]
  if run.returncode == 0:
    assert "usage:" in run.stdout, run.stdout
    return
  missing = re.search(r"peer not installed: (\S+)", run.stderr)
  assert run.returncode == _harness().PEER_MISSING_EXIT and missing, (
      f"{path.name} --help exited {run.returncode}:\n{run.stderr[-3000:]}")
  name = missing.group(1)
  assert not _ours(name), f"{path.name}: {name} is part of the package, not a peer"
  assert importlib.util.find_spec(name.partition(".")[0]) is None, (
      f"{path.name} says {name} is missing, but it is installed:\n{run.stderr[-3000:]}")


def test_the_check_sees_a_missing_name():
  """The checker itself: a name gone from a module, a removed module, a stale alias read."""
  source = ("from fsnlu_jax.fewshot import Pool, take_episodes\n"
            "def f():\n"
            "  from fsnlu_jax.train import multitask_job\n"
            "  from fsnlu_jax import fewshot as fs\n"
            "  return fs.no_such_function, fs.Pool\n")
  problems = unresolved(source, "x.py")
  assert len(problems) == 3, problems
  assert any("take_episodes" in p for p in problems)
  assert any("multitask_job" in p for p in problems)
  assert any("no_such_function" in p for p in problems)


SUITE_STEPS = {"trie", "crf", "bilstm", "bilstm_bf16", "encoder", "encoder_bf16", "fewshot", "ig",
               "rewrite", "multitask_step"}


def test_gpu_suite_dry_run(tmp_path):
  """``gpu_suite.sh --dry-run``: the GPU suite's sequence at tiny settings on the CPU.

  Every step either runs (its JSON written, the device named) or is recorded as
  skipped with its reason; a step skipped for its peer names modules that are
  really missing (in CI, without PyTorch, that is the path exercised); the
  step without a peer (trie) always runs; the summary table prints; the suite
  exits 0. The multitask step's scaling is ``--skip``-ped here (compiling the
  full multitask step costs ~10 s of CPU, over this test's budget): run
  ``benchmarks/gpu_suite.sh --dry-run`` by hand for it.
  """
  env = dict(os.environ, PYTHON=sys.executable)
  done = subprocess.run(["bash", str(BENCHMARKS / "gpu_suite.sh"), "--dry-run", "--results",
                         str(tmp_path), "--skip", "multitask_step"], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=600, check=False)
  log = done.stdout[-4000:] + done.stderr[-4000:]
  assert done.returncode == 0, log
  status = [json.loads(line) for line in (tmp_path / "suite_status.jsonl").read_text().splitlines()]
  steps = {s["step"]: s for s in status}
  assert set(steps) == SUITE_STEPS, log
  for s in status:
    assert s["status"] in ("ok", "skipped"), (s, log)
    if s["status"] == "skipped":
      assert s["reason"], s
      if s["reason"].startswith("peer not installed:"):
        for module in s["reason"].split(":", 1)[1].split():
          assert importlib.util.find_spec(module) is None, s
    else:
      record = json.loads((tmp_path / f"{s['step']}.json").read_text())
      assert record["machine"]["jax_backend"] == "cpu", s
  assert steps["trie"]["status"] == "ok", log
  assert steps["multitask_step"]["reason"] == "--skip", log
  assert "| step | status |" in done.stdout and "steps ran" in done.stdout, log


def test_torch_tensor_trie_matches_a_dict_trie():
  """The benchmarks' vectorised PyTorch trie (a peer) against a nested-dict trie."""
  torch = pytest.importorskip("torch")
  spec = importlib.util.spec_from_file_location("_bench_torch_trie", BENCHMARKS / "_torch_trie.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  rng = __import__("numpy").random.default_rng(0)
  eos, vocab = 3, 12
  sequences = [rng.integers(4, vocab, size=rng.integers(1, 6)).tolist() for _ in range(200)]
  trie = module.TorchTrie(torch, sequences, vocab_size=vocab, eos_id=eos)
  root: dict = {}
  for seq in sequences:
    node = root
    for token in seq + [eos]:
      node = node.setdefault(token, {})
  prefixes = {tuple(s[:k]) for s in sequences for k in range(len(s) + 1)}
  prefixes |= {tuple(s) + (eos,) for s in sequences} | {(4, 4, 4, 4, 4, 4, 4)}
  for prefix in sorted(prefixes):
    node = root
    for token in prefix:
      node = None if node is None else node.get(token)
    state = trie.walk(torch.tensor([list(prefix)], dtype=torch.int64).reshape(1, -1))
    allowed = set(torch.nonzero(trie.allowed(state)[0]).flatten().tolist())
    assert (state.item() >= 0) == (node is not None), prefix
    assert allowed == (set(node) if node is not None else set()), prefix


def _ig_selection_module(monkeypatch):
  monkeypatch.syspath_prepend(str(BENCHMARKS))
  spec = importlib.util.spec_from_file_location("_bench_ig_selection",
                                                BENCHMARKS / "ig_selection.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def test_ig_selection_never_mixes_protocols(tmp_path, monkeypatch):
  """A results file of another protocol version is neither extended nor merged; --fresh keeps it."""
  ig = _ig_selection_module(monkeypatch)
  old = dict(command="old", utc="then", protocol=dict(seeds=[0]),
             datasets=dict(hwu64=dict(data={}, summary={"seeds": 5}, seeds={"0": {}})))
  out = tmp_path / "ig_selection.json"
  out.write_text(json.dumps(old))
  args = ig.argparse.Namespace(fresh=False, retrains=1)
  with pytest.raises(SystemExit, match="another protocol version"):
    ig._previous(out, args)
  args.fresh = True
  fresh = ig._previous(out, args)
  assert fresh["datasets"] == {} and fresh["superseded"]["datasets"]["hwu64"]["summary"] == {
      "seeds": 5}

  def part(dataset, seeds, retrains=1):
    path = tmp_path / f"{dataset}_{retrains}.json"
    path.write_text(json.dumps(dict(
        benchmark="b", command=dataset, utc="now", protocol=ig._protocol(seeds, retrains),
        datasets={dataset: dict(seeds={str(s): {} for s in seeds})})))
    return path

  merged = ig.merge([part("hwu64", [0, 1]), part("snips", [0, 1, 2])], out)
  assert sorted(merged["datasets"]) == ["hwu64", "snips"]
  assert merged["protocol"]["seeds"] == [0, 1, 2]
  assert merged["superseded"]["command"] == "old"  # the file it replaced
  assert [m["datasets"] for m in merged["merged_from"]] == [["hwu64"], ["snips"]]
  with pytest.raises(SystemExit, match="already come from another file"):
    ig.merge([part("hwu64", [0]), part("hwu64", [1])], tmp_path / "x.json")
  with pytest.raises(SystemExit, match="one --retrains"):
    ig.merge([part("hwu64", [0]), part("snips", [0], retrains=2)], tmp_path / "x.json")


def test_fewshot_pretrained_caches_per_encoder_and_refuses_another_checkpoint(tmp_path,
                                                                               monkeypatch):
  """Each encoder's vectors are cached apart and concatenated in the given
  order; a cached file made by another checkpoint under the same name is an
  error, not served."""
  monkeypatch.syspath_prepend(str(BENCHMARKS))
  spec = importlib.util.spec_from_file_location("_bench_fs_pretrained",
                                                BENCHMARKS / "fewshot_pretrained.py")
  fs = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(fs)
  examples = [fs.loading.Example(text=t, tokens=tuple(t.split()), intent=i,
                                 slots=("O",) * len(t.split()), domain="d", source=f"f:{n}")
              for n, (t, i) in enumerate((("a b", "x"), ("c", "y")))]
  monkeypatch.setattr(fs.loading, "load", lambda name, splits, **kw: {s: examples for s in splits})

  class Fake:
    def __init__(self, dim, value):
      self.dim, self.value, self.calls = dim, value, 0
      self.tokenizer = fs.argparse.Namespace(stats="stats")

    def embed(self, texts):
      self.calls += 1
      return np.full((len(texts), self.dim), self.value, np.float32)

  args = fs.argparse.Namespace(data_dir=None, cache_dir=str(tmp_path / "tfds"))
  first, second = Fake(2, 1.0), Fake(3, 2.0)
  encoders = [fs.CachedEncoder("m1", "id-1", first), fs.CachedEncoder("m2", "id-2", second)]
  pools = fs.embedded_splits("hwu64", encoders, tmp_path, args)
  assert pools["test"].inputs["x"].tolist() == [[1, 1, 2, 2, 2]] * 2
  assert list(pools["train"].labels) == ["hwu64:x", "hwu64:y"]
  fs.embedded_splits("hwu64", encoders, tmp_path, args)  # served from the cache
  assert (first.calls, second.calls) == (2, 2)  # one call per split, once
  with pytest.raises(ValueError, match="another encoder"):
    fs.embedded_splits("hwu64", [fs.CachedEncoder("m1", "id-other", first)], tmp_path, args)


def test_fewshot_paired_pairs_shared_samplings_and_refuses_other_draws(tmp_path, monkeypatch):
  """Differences are per sampling on the samplings both files have; files
  whose settings drew other samplings are refused."""
  monkeypatch.syspath_prepend(str(BENCHMARKS))
  spec = importlib.util.spec_from_file_location("_bench_fs_paired",
                                                BENCHMARKS / "fewshot_paired.py")
  paired = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(paired)

  def result(name, system, per_sampling, seed=1239):
    setting = dict(k_shot=5, seed=seed, n_way=64, test_examples=1076,
                   per_sampling={system: dict(accuracy=per_sampling, macro_f1=per_sampling)})
    path = tmp_path / name
    path.write_text(json.dumps(dict(targets=dict(hwu64=dict(settings=[setting])))))
    return path

  frozen = result("frozen.json", "softmax", [[0.80, 0.70, 0.90, 0.85]])  # [seeds, samplings]
  tuned = result("tuned.json", "contrastive", [0.82, 0.73, 0.91])  # the first 3 samplings
  out = paired.pair(f"t={tuned}:contrastive", f"f={frozen}:softmax")
  cell = out["cells"]["hwu64/5"]
  assert cell["samplings"] == 3 and cell["use_convert"] == 80.01
  assert np.isclose(cell["difference"]["mean"], 2.0) and np.isclose(cell["base"]["mean"], 80.0)
  other = result("other.json", "softmax", [[0.8, 0.7, 0.9]], seed=7)
  with pytest.raises(SystemExit, match="drew other samplings"):
    paired.pair(f"t={tuned}:contrastive", f"o={other}:softmax")


def _clasp_module(monkeypatch):
  monkeypatch.syspath_prepend(str(BENCHMARKS))
  spec = importlib.util.spec_from_file_location("_bench_clasp", BENCHMARKS / "clasp.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def test_clasp_never_reuses_an_added_set_made_otherwise(tmp_path, monkeypatch):
  """A cached added set made with other settings (a teacher's temperature, the
  set's size) is refused, not trained on."""
  clasp = _clasp_module(monkeypatch)
  args = clasp.argparse.Namespace(n_augment=256, temperature=1.0, top_p=0.9, teacher_steps=1000,
                                  steps=1000, teacher="words", teacher_text="any",
                                  teacher_data="rs")
  # Made before --teacher and --teacher-text existed: the words teacher, any free text.
  made = dict(n_augment=256, temperature=1.0, top_p=0.9, teacher_steps=1000, parser_steps=1000)
  (tmp_path / "clasp_rs.counts.json").write_text(json.dumps(dict(added=3, made_with=made)))
  assert clasp.added_parses("clasp_rs", tmp_path, 0, args, {}) == str(
      tmp_path / "clasp_rs.jsonl")
  for change in (dict(temperature=0.3), dict(teacher="placeholders"),
                 dict(teacher_text="trained"), dict(teacher_data="rs+grammar")):
    changed = clasp.argparse.Namespace(**dict(vars(args), **change))
    with pytest.raises(SystemExit, match="was made with"):
      clasp.added_parses("clasp_rs", tmp_path, 0, changed, {})
  (tmp_path / "rs.counts.json").write_text(json.dumps(dict(added=3)))  # made before the check
  with pytest.raises(SystemExit, match="use another --workdir"):
    clasp.added_parses("rs", tmp_path, 0, args, {})


def test_clasp_unions_add_their_components_parses_and_a_filter_is_no_union(tmp_path, monkeypatch):
  clasp = _clasp_module(monkeypatch)
  assert clasp.components("grammar+clasp_rs") == ["grammar", "clasp_rs"]
  assert clasp.components("clasp_rs+rt") == ["clasp_rs+rt"]
  args = clasp.argparse.Namespace(n_augment=2)
  for name, rows in (("grammar", ['{"g": 1}\n', '{"g": 2}\n']), ("rs", ['{"r": 1}\n'])):
    (tmp_path / f"{name}.jsonl").write_text("".join(rows))
    (tmp_path / f"{name}.counts.json").write_text(json.dumps(dict(
        added=len(rows), made_with=dict(n_augment=2))))
  counts = {}
  path = clasp.added_parses("grammar+rs", tmp_path, 0, args, counts)
  assert pathlib.Path(path).read_text() == '{"g": 1}\n{"g": 2}\n{"r": 1}\n'
  assert counts["added"] == 3 and counts["parts"]["rs"]["added"] == 1
  with pytest.raises(SystemExit, match="was made with"):  # a component made otherwise
    clasp.added_parses("grammar+rs", tmp_path, 0, clasp.argparse.Namespace(n_augment=4), {})


def test_clasp_scope_counts_values_said_inside_and_outside_a_negation(monkeypatch):
  monkeypatch.syspath_prepend(str(BENCHMARKS))
  spec = importlib.util.spec_from_file_location("_bench_scope", BENCHMARKS / "clasp_scope.py")
  scope = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(scope)
  from fsnlu_jax.data import ParseExample  # pylint: disable=g-import-not-at-top
  from fsnlu_jax.data.catalogues import Catalogues  # pylint: disable=g-import-not-at-top
  catalogues = Catalogues.from_lines({
      "catalogs/topping.txt": ["ham\ttopping(HAM)", "green peppers\ttopping(GREEN_PEPPERS)",
                               "onions\ttopping(ONIONS)"],
      "catalogs/size.txt": ["large\tsize(LARGE)"]})
  exr = ("(ORDER (PIZZAORDER (NOT (TOPPING HAM ) ) (NUMBER 1 ) (SIZE LARGE ) "
         "(TOPPING GREEN_PEPPERS ) (TOPPING ONIONS ) ) )")
  row = lambda text: ParseExample(text, tuple(text.split()), "", exr, False, "t")
  right = row("a large pizza with green peppers and onions and no ham")
  wrong = row("a large pizza with ham and onions hold the green peppers")
  counts = scope.scope_counts([right, wrong], catalogues)
  # right: all three in their scope; wrong: ham and green peppers not, onions still.
  assert counts == dict(negated=2, negated_in_scope=1, other=4, other_in_scope=3, unsaid=0)
  assert scope.scope_counts([row("large pizza")], catalogues)["unsaid"] == 3


def test_clasp_summarizes_each_decoding_with_paired_differences(monkeypatch):
  """The CLASP runner's summary: per system over subsets, paired against the best
  baseline, for the protocol's decoding and again for each variant."""
  clasp = _clasp_module(monkeypatch)
  hits = {"none": [1, 0, 0, 0], "grammar": [1, 1, 0, 0], "clasp_rs": [1, 1, 1, 0]}

  def record(system):  # the variant gets the last row right on every system
    matches = [bool(m) for m in hits[system]]
    covered = list(matches)
    covered[3] = True
    return dict(matches=matches, well_formed=1.0, exact_match=sum(matches) / 4,
                variants={"cover_mentions=on": dict(matches=covered, well_formed=1.0,
                                                    exact_match=sum(covered) / 4)})

  runs = {f"{i}/{s}": record(s) for i in (0, 1) for s in hits}
  summary = clasp.summarize(runs)
  assert summary["systems"]["grammar"]["mean"] == pytest.approx(0.5)
  paired = summary["paired"]["clasp_rs"]
  assert paired["best_baseline"] == "grammar" and paired["subsets"] == [0, 1]
  assert paired["difference"]["mean"] == pytest.approx(0.25)
  variant = summary["variants"]["cover_mentions=on"]
  assert variant["systems"]["none"]["mean"] == pytest.approx(0.5)
  assert variant["paired"]["clasp_rs"]["difference"]["mean"] == pytest.approx(0.25)
  table = clasp.markdown_table(dict(summary=summary))
  assert "Decoded with cover_mentions=on" in table and "| clasp_rs | 75.0" in table


def test_rewrite_seeds_pairs_runs_of_one_config_and_refuses_others(tmp_path, monkeypatch,
                                                                  tiny_rewrite):
  """Two runs of the tiny rewrite job's outcomes as two seeds: identical runs differ by 0;
  a run of another config, or of other test pairs, is refused."""
  import shutil  # pylint: disable=g-import-not-at-top
  monkeypatch.syspath_prepend(str(BENCHMARKS))
  spec = importlib.util.spec_from_file_location("_bench_rw_seeds", BENCHMARKS / "rewrite_seeds.py")
  seeds = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(seeds)
  runs = []
  for s in (0, 1):
    run = tmp_path / f"s{s}"
    run.mkdir()
    for name in ("results.json", "test_outcomes.json"):
      shutil.copy(tiny_rewrite / name, run / name)
    config = json.loads((tiny_rewrite / "config.json").read_text())
    (run / "config.json").write_text(json.dumps(dict(config, seed=s)))
    runs.append(run)
  summary = seeds.summarize(seeds.read_runs(runs), resamples=20)
  assert summary["seeds"] == [0, 1]
  both = summary["paired"]["both-retrieval_both"]["all"]
  assert both["recall"]["seed_differences"][0] == both["recall"]["seed_differences"][1]
  assert summary["systems"]["retrieval_both"]["f1"]["sd"] == 0.0
  assert "| both-retrieval_both |" in seeds.table(summary)
  with pytest.raises(SystemExit, match="the same training seed twice"):
    seeds.read_runs([runs[0], runs[0]])
  config = json.loads((runs[1] / "config.json").read_text())
  config["train"]["steps"] += 1
  (runs[1] / "config.json").write_text(json.dumps(config))
  with pytest.raises(SystemExit, match=r"differs .* in \['train'\]"):
    seeds.read_runs(runs)
  config["train"]["steps"] -= 1  # the same config again, but other test pairs
  (runs[1] / "config.json").write_text(json.dumps(config))
  outcomes = json.loads((runs[1] / "test_outcomes.json").read_text())
  outcomes["groups"]["clean"] = outcomes["groups"]["clean"][::-1] + "1"
  (runs[1] / "test_outcomes.json").write_text(json.dumps(outcomes))
  with pytest.raises(SystemExit, match="other test pairs"):
    seeds.read_runs(runs)


def test_clasp_decoding_pairs_each_setting_with_the_first_per_test_row(monkeypatch):
  monkeypatch.syspath_prepend(str(BENCHMARKS))
  spec = importlib.util.spec_from_file_location("_bench_decoding", BENCHMARKS / "clasp_decoding.py")
  decoding = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(decoding)
  assert decoding.parse_setting("cover_mentions=True,beam_size=8") == dict(cover_mentions=True,
                                                                           beam_size=8)
  with pytest.raises(decoding.argparse.ArgumentTypeError):
    decoding.parse_setting("cover_mentions")
  run = lambda matches, fallback: dict(matches=matches, fallback_rows=fallback, well_formed=1.0)
  runs = {"0/none": {"a": run([True, False, False], {"x": 2}), "b": run([True, True, False], {})},
          "1/none": {"a": run([False, False, True], {"x": 1}), "b": run([True, False, True], {})},
          "2/none": {"a": run([True, True, True], {})}}  # without "b": left out of both
  out = decoding.summarize(runs, ["a", "b"])
  assert out["runs"] == ["0/none", "1/none"]
  assert out["settings"]["a"]["mean"] == pytest.approx(2 / 6)
  assert out["settings"]["a"]["fallback_rows"] == {"0/none": {"x": 2}, "1/none": {"x": 1}}
  paired = out["paired"]["b − a"]
  assert paired["mean"] == pytest.approx(2 / 6) and paired["seed_means"] == [1 / 3, 1 / 3]
