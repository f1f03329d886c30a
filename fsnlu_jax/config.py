"""Job configs: loading them by path or by name, and reading them into typed, frozen dataclasses.

A config is a Python file with ``get_config(arg) -> dict`` (big_vision's
style: plain dicts are easy to write, derive and override). ``configs/`` is
installed with the package as ``fsnlu_jax.configs``, so a config is named
either by its file or by its name::

  load_config("configs/fewshot.py:tiny")   # a file, e.g. a user's own copy
  load_config("fewshot:tiny")              # the installed one

A job reads its dict once, at its entry, into its typed config
(:func:`from_dict`): a key the dataclass does not have, a missing key or a
value of the wrong kind is a :class:`ConfigError` naming the key, e.g.
``train.stpes``; past the entry nothing reads the dict again.
"""

from __future__ import annotations

import ast
import contextlib
import contextvars
import dataclasses
import importlib
import importlib.util
import json
import logging
import os
import pathlib
import shutil
import types
import typing
from typing import Any, Mapping, TypeVar

_log = logging.getLogger(__name__)

T = TypeVar("T")
CONFIGS_PACKAGE = "fsnlu_jax.configs"


class ConfigError(ValueError):
  """A config that does not fit its job's schema; the message names the key."""


def load_config(spec: str) -> dict:
  """``get_config(arg)`` of ``path/to/config.py[:arg]`` or of the installed ``name[:arg]``.

  Raises:
    FileNotFoundError: no such file, and no installed config of that name.
  """
  target, _, arg = spec.partition(":")
  if target.endswith(".py") or os.sep in target:
    if not os.path.isfile(target):
      raise FileNotFoundError(f"config file {target!r} not found")
    module_spec = importlib.util.spec_from_file_location(pathlib.Path(target).stem, target)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
  else:
    try:
      module = importlib.import_module(f"{CONFIGS_PACKAGE}.{target}")
    except ModuleNotFoundError as error:
      if error.name not in (CONFIGS_PACKAGE, f"{CONFIGS_PACKAGE}.{target}"):
        raise  # the config exists but imports something missing: say that
      raise FileNotFoundError(f"no config named {target!r} (the installed ones: "
                              f"{', '.join(config_names())})") from error
  return module.get_config(arg)


def apply_overrides(config: dict, overrides: list[str]) -> dict:
  """``config`` with ``path.to.key=value`` overrides applied (the CLI's ``--set``).

  Values are Python literals (``3``, ``1e-3``, ``[5, 10]``, ``None``,
  ``'text'``); anything else is taken as a string (a split name, a path). A
  key the dict leaves to its default may be set too (``encoder.finetune``);
  names and types are checked where the job reads the config
  (:func:`from_dict`), so ``--set train.stpes=10`` or ``--set
  train.steps=ten`` fails there, naming the key.

  >>> apply_overrides(dict(seed=0, train=dict(steps=10)), ["train.steps=20", "seed=3"])
  {'seed': 3, 'train': {'steps': 20}}

  Raises:
    ConfigError: an override that is not ``key=value``, or that goes through
      a value that is not a section (``--set seed.x=1``).
  """
  config = json.loads(json.dumps(config))  # a copy; the loaded dict stays as it was
  for override in overrides:
    key, sep, text = override.partition("=")
    if not sep or not key:
      raise ConfigError(f"--set takes path.to.key=value, got {override!r}")
    *parents, leaf = key.split(".")
    node = config
    for i, part in enumerate(parents):
      node = node.setdefault(part, {})
      if not isinstance(node, dict):
        raise ConfigError(f"--set {key}: {'.'.join(parents[:i + 1])!r} is a value, "
                          "not a config section")
    node[leaf] = _literal(text)
  return config


def _literal(text: str) -> Any:
  try:
    return ast.literal_eval(text)
  except (ValueError, SyntaxError):
    return text


def config_names() -> list[str]:
  """The names of the installed configs (``fsnlu_jax/configs/*.py``)."""
  try:
    package = importlib.import_module(CONFIGS_PACKAGE)
  except ModuleNotFoundError:
    return []
  folder = pathlib.Path(next(iter(package.__path__)))
  return sorted(p.stem for p in folder.glob("*.py") if not p.stem.startswith("_"))


def from_dict(cls: type[T], values: Mapping[str, Any], *, path: str = "") -> T:
  """``values`` read into the frozen dataclass ``cls``, recursively.

  Nested dataclass fields read nested dicts; lists become tuples (configs are
  frozen and hashable); ``X | None`` accepts None. Fields with defaults may be
  left out.

  Raises:
    ConfigError: an unknown key, a missing key, or a value of the wrong kind,
      named by its dotted path.
  """
  if not isinstance(values, Mapping):
    raise ConfigError(f"config {path or '<root>'} must be a dict, got {type(values).__name__}")
  fields = {f.name: f for f in dataclasses.fields(cls)}
  unknown = sorted(set(values) - set(fields))
  if unknown:
    raise ConfigError(f"unknown config key {_join(path, unknown[0])!r} "
                      f"(the keys of {path or cls.__name__}: {', '.join(fields)})")
  hints = typing.get_type_hints(cls)
  kwargs = {}
  for name, field in fields.items():
    if name in values:
      kwargs[name] = _convert(hints[name], values[name], _join(path, name))
    elif (field.default is dataclasses.MISSING
          and field.default_factory is dataclasses.MISSING):
      raise ConfigError(f"missing config key {_join(path, name)!r}")
  return cls(**kwargs)


def job_config(cls: type[T], config: Mapping[str, Any] | T, *, jobs: tuple[str, ...]) -> T:
  """A job's config read into ``cls`` (:func:`from_dict`), after checking it is for that job.

  Every config names its job (``job="pretrain"``); a config of another job
  (``fsnlu fewshot --config select:tiny``) is refused by that name, not by
  the first key the two schemas do not share.

  Args:
    cls: the job's typed config.
    config: a dict (a loaded config) or an already typed ``cls``.
    jobs: the ``job`` values this job runs.

  Raises:
    ConfigError: the config is for another job, or does not fit ``cls``.
  """
  job = config.get("job") if isinstance(config, Mapping) else getattr(config, "job", None)
  if isinstance(job, str) and job not in jobs:
    raise ConfigError(f"this config is for job {job!r} (`fsnlu {job.replace('_', '-')} --config ...`), not "
                      f"for {' / '.join(repr(j) for j in jobs)}")
  return config if isinstance(config, cls) else from_dict(cls, config)


def to_dict(config: Any) -> dict:
  """A typed config as JSON-able nested dicts (tuples become lists)."""
  return json.loads(json.dumps(dataclasses.asdict(config)))


def _join(path: str, name: str) -> str:
  return f"{path}.{name}" if path else name


def _convert(hint: Any, value: Any, path: str) -> Any:
  """``value`` as the annotated type ``hint`` (dataclass, tuple, optional, scalar)."""
  origin, args = typing.get_origin(hint), typing.get_args(hint)
  if origin in (typing.Union, types.UnionType):
    if value is None:
      if type(None) in args:
        return None
      raise ConfigError(f"config key {path!r} must not be None")
    options = [a for a in args if a is not type(None)]
    errors = []
    for option in options:  # the first that reads it wins
      try:
        return _convert(option, value, path)
      except ConfigError as error:
        errors.append(str(error))
    raise ConfigError(f"config key {path!r} fits none of its types: " + "; ".join(errors))
  if dataclasses.is_dataclass(hint):
    return from_dict(hint, value, path=path)
  if origin is tuple or hint is tuple:
    if not isinstance(value, (list, tuple)):
      raise ConfigError(f"config key {path!r} must be a list, got {value!r}")
    if args and args[-1] is not Ellipsis:
      if len(args) != len(value):
        raise ConfigError(f"config key {path!r} must hold {len(args)} values, got {value!r}")
      return tuple(_convert(a, v, f"{path}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
    item = args[0] if args else Any
    return tuple(_convert(item, v, f"{path}[{i}]") for i, v in enumerate(value))
  if origin is typing.Literal:
    if not any(value == a and type(value) is type(a) for a in args):
      raise ConfigError(f"config key {path!r} must be one of {args}, got {value!r}")
    return value
  if hint is Any:
    return value
  if hint is float and isinstance(value, int) and not isinstance(value, bool):
    return float(value)
  if isinstance(hint, type) and not isinstance(value, hint):
    raise ConfigError(f"config key {path!r} must be {hint.__name__}, got {value!r}")
  if hint is int and isinstance(value, bool):
    raise ConfigError(f"config key {path!r} must be int, got {value!r}")
  return value


ON_CHANGE = ("refuse", "overwrite", "continue")
_policy: contextvars.ContextVar[tuple[str, frozenset]] = contextvars.ContextVar(
    "fsnlu_on_config_change", default=("refuse", frozenset()))


class WorkdirError(ValueError):
  """A workdir that cannot take this run: a file, or a run of another config."""


@contextlib.contextmanager
def on_config_change(policy: str):
  """What :func:`record_config` does, inside the block, with a workdir of another config.

  * ``"refuse"`` (the default): a :class:`WorkdirError` listing the changed
    keys, old and new values;
  * ``"overwrite"``: start over: the workdir (one that holds a ``config.json``)
    is emptied first, then the run starts fresh (the CLI's ``--overwrite``);
    also when its config is the same;
  * ``"continue"``: continue deliberately: ``config.json`` becomes the new
    config (the old one is appended to ``config_history.jsonl``) and the run
    resumes from what is there: checkpoints, finished stages (the CLI's
    ``--continue``; e.g. more ``train.steps``). A change that a checkpoint
    cannot take (another model size, seed or data) still fails, naming it
    (``config.json`` then holds the new config: ``--continue`` with the old
    one goes back, ``--overwrite`` starts over).

  >>> with on_config_change("overwrite"):  # doctest: +SKIP
  ...   run_pretrain(config, "runs/pre")
  """
  if policy not in ON_CHANGE:
    raise ValueError(f"on config change: one of {ON_CHANGE}, got {policy!r}")
  token = _policy.set((policy, frozenset()))
  try:
    yield
  finally:
    _policy.reset(token)


def record_config(workdir: str | os.PathLike, config: Any) -> dict:
  """Writes ``workdir/config.json``, or checks that a rerun's config is the one written there.

  Every job calls it before it writes anything else, so a rerun in a workdir
  never mixes two configs' outputs unless told to (:func:`on_config_change`).

  Args:
    workdir: the job's folder (created if needed).
    config: a typed config (a dict would compare unequal to the same config
      with its defaults filled in).

  Returns:
    The config as written (JSON-able dicts).

  Raises:
    WorkdirError: ``workdir`` is a file, or holds a run of another config
      (the message lists each changed key with its old and new value).
  """
  if not dataclasses.is_dataclass(config):
    raise TypeError(f"record_config takes a typed config, got {type(config).__name__}")
  workdir = pathlib.Path(workdir)
  if workdir.exists() and not workdir.is_dir():
    raise WorkdirError(f"--workdir {workdir} is a file, not a folder: give a folder "
                       "(created if missing)")
  as_dict = to_dict(config)
  path = workdir / "config.json"
  policy, started_over = _policy.get()
  resolved = workdir.resolve()
  if (policy == "overwrite" and path.exists()
      and not any(p in started_over for p in (resolved, *resolved.parents))):
    _start_over(workdir)
    _policy.set((policy, started_over | {resolved}))
  if path.exists():
    try:
      saved = json.loads(path.read_text())
    except json.JSONDecodeError as e:
      raise WorkdirError(f"{path}: not valid JSON ({e}); --overwrite starts the workdir "
                         "over") from e
    try:  # read through the same schema: a default added since is not a difference
      saved = to_dict(from_dict(type(config), saved))
    except ConfigError:
      pass  # another schema: compared as written, so the keys that differ are named
    if saved == as_dict:
      return as_dict
    changed = _differences(saved, as_dict)
    if policy != "continue":
      raise WorkdirError(
          f"{workdir} holds a run of another config; changed: {_describe(changed)}. "
          "Use a new workdir, --overwrite to start this one over, or --continue to go on "
          "from its checkpoints with the new config")
    _log.warning("%s: continuing with a changed config: %s", workdir, _describe(changed))
    if _is_process_zero():
      with (workdir / "config_history.jsonl").open("a") as f:
        f.write(json.dumps(dict(replaced=saved, changed=[k for k, _, _ in changed])) + "\n")
  workdir.mkdir(parents=True, exist_ok=True)
  if _is_process_zero():  # one writer: the processes of a run share the folder
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(as_dict, indent=2) + "\n")
    tmp.replace(path)
  return as_dict


def _start_over(workdir: pathlib.Path) -> None:
  """Empties a job's workdir (``--overwrite``): only a folder with a ``config.json``."""
  _log.warning("%s: --overwrite: deleting the previous run", workdir)
  if _is_process_zero():
    for child in workdir.iterdir():
      if child.is_dir() and not child.is_symlink():
        shutil.rmtree(child)
      else:
        child.unlink()
  _barrier(f"fsnlu_jax.config emptied {workdir}")


def _describe(changed: list[tuple[str, Any, Any]], limit: int = 8) -> str:
  """``train.steps: 20 -> 40, model.hidden: 64 -> 128`` (the first ``limit``)."""
  shown = [f"{key}: {_short(old)} -> {_short(new)}" for key, old, new in changed[:limit]]
  more = f" and {len(changed) - limit} more" if len(changed) > limit else ""
  return ", ".join(shown) + more


def _short(value: Any) -> str:
  text = "(absent)" if value is _ABSENT else json.dumps(value)
  return text if len(text) <= 60 else text[:57] + "..."


_ABSENT = object()


def _differences(a: Any, b: Any, path: str = "") -> list[tuple[str, Any, Any]]:
  """``(dotted key, value in a, value in b)`` wherever ``a`` and ``b`` differ, sorted by key."""
  if isinstance(a, dict) and isinstance(b, dict):
    return sorted(d for k in set(a) | set(b)
                  for d in _differences(a.get(k, _ABSENT), b.get(k, _ABSENT), _join(path, k)))
  return [] if a == b else [(path or "<root>", a, b)]


def _barrier(name: str) -> None:
  import jax  # pylint: disable=g-import-not-at-top
  if jax.process_count() > 1:
    from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
    multihost_utils.sync_global_devices(name)


def _is_process_zero() -> bool:
  import jax  # pylint: disable=g-import-not-at-top  (configs themselves need no JAX)
  return jax.process_index() == 0
