"""Where built datasets are kept, keyed by what they were built from.

A build is stored under ``<root>/<name>/<config>-<key>/`` where ``key`` hashes
the *contents* of every raw file the builder reads (sha256), the builder's
version and code, and the ``on_error`` policy. Editing, appending or removing
a row changes the key, so the next load rebuilds: a cache never serves data
that no longer matches its source. The root is ``$FSNLU_CACHE_DIR`` or
``~/.cache/fsnlu_jax/datasets``; :func:`clear` empties it.

>>> from fsnlu_jax.data.builders import Banking77
>>> record = manifest(Banking77, None, pathlib.Path("data/banking77"), "raise")  # doctest: +SKIP
>>> entry_dir(cache_root(), record)                               # doctest: +SKIP
PosixPath('~/.cache/fsnlu_jax/datasets/banking77/default-3f...')
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import re
import shutil
from typing import Any

CACHE_DIR_ENV = "FSNLU_CACHE_DIR"
DEFAULT_CACHE = "~/.cache/fsnlu_jax/datasets"
MANIFEST = "manifest.json"

_DATA_PACKAGE = pathlib.Path(__file__).resolve().parent
# The code a build depends on: the builders, and what they call to turn rows into examples.
_CODE = ("builders/*.py", "synthetic/*.py", "bio.py", "defects.py", "schema.py", "tokenize.py",
         "parses.py", "trees.py", "catalogues.py")
_LEGACY_ENTRY = re.compile(r"[0-9a-f]{12}")  # <root>/<sha1[:12]> of the path-keyed cache


def cache_root(cache_dir: str | os.PathLike | None = None) -> pathlib.Path:
  """The cache root: ``cache_dir``, else ``$FSNLU_CACHE_DIR``, else ``~/.cache/...``."""
  return pathlib.Path(cache_dir or os.environ.get(CACHE_DIR_ENV) or DEFAULT_CACHE).expanduser()


def file_digest(path: pathlib.Path) -> str:
  """sha256 of a file's bytes, or ``"missing"``."""
  if not path.is_file():
    return "missing"
  digest = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      digest.update(block)
  return digest.hexdigest()


def code_digest() -> str:
  """sha256 of the data-building code, so a changed builder never reads an old build."""
  digest = hashlib.sha256()
  for pattern in _CODE:
    for path in sorted(_DATA_PACKAGE.glob(pattern)):
      digest.update(path.relative_to(_DATA_PACKAGE).as_posix().encode())
      digest.update(path.read_bytes())
  return digest.hexdigest()


def manifest(builder_cls, config: str | None, source: pathlib.Path | None,
             on_error: str) -> dict[str, Any]:
  """Everything a build depends on, as a JSON-able dict (hashed by :func:`cache_key`).

  Local raw files are listed by content digest; downloaded ones by address
  (their contents are only known after the download).
  """
  files = builder_cls.config_files(config)
  if source is None:
    inputs = {rel: url for rel, url in sorted(files.items())}
  else:
    paths = {rel: source / rel for rel in files}
    for path in builder_cls.extra_sources(source):
      paths[os.path.relpath(path, source)] = path
    inputs = {rel: file_digest(path) for rel, path in sorted(paths.items())}
  return {
      "name": builder_cls.name, "config": config, "version": str(builder_cls.VERSION),
      "code": code_digest(), "on_error": on_error,
      "source": str(source.resolve()) if source else "download", "files": inputs,
  }


def cache_key(record: dict[str, Any]) -> str:
  """A short hash of a :func:`manifest` (the source path itself is not part of it)."""
  keyed = {k: v for k, v in record.items() if k != "source"}
  return hashlib.sha256(json.dumps(keyed, sort_keys=True).encode()).hexdigest()[:16]


def entry_dir(root: pathlib.Path, record: dict[str, Any]) -> pathlib.Path:
  """The folder of one build: ``<root>/<name>/<config>-<key>``."""
  return root / record["name"] / f"{record['config'] or 'default'}-{cache_key(record)}"


def write_manifest(entry: pathlib.Path, record: dict[str, Any]) -> None:
  """Records what an entry was built from (to answer "why did it rebuild?")."""
  entry.mkdir(parents=True, exist_ok=True)
  (entry / MANIFEST).write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")


def clear(root: pathlib.Path, names: list[str], only: str | None = None) -> list[pathlib.Path]:
  """Removes cached builds; returns the folders removed.

  Args:
    root: the cache root.
    names: the dataset names a cache may hold (only these folders are touched,
      so a mistyped root never loses unrelated files), plus folders of the
      older path-keyed layout that hold one of them.
    only: one dataset name; None: all of them.
  """
  if only is not None and only not in names:
    raise KeyError(f"unknown dataset {only!r}; known: {', '.join(sorted(names))}")
  if not root.is_dir():
    return []
  removed = []
  for entry in sorted(root.iterdir()):
    ours = entry.name in names and (only is None or entry.name == only)
    legacy = _LEGACY_ENTRY.fullmatch(entry.name) and any(
        (entry / name).is_dir() for name in ([only] if only else names))
    if entry.is_dir() and (ours or legacy):
      shutil.rmtree(entry)
      removed.append(entry)
  return removed
