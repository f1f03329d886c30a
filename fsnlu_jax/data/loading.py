"""Building (once, cached) and reading datasets by name.

>>> splits = load("synthetic")            # doctest: +SKIP
>>> splits["train"][0].intent             # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import os
import pathlib

import tensorflow_datasets as tfds

from fsnlu_jax.data.builders import BUILDERS, NLUBuilder
from fsnlu_jax.data.defects import OnError
from fsnlu_jax.data.schema import Example

CACHE_DIR_ENV = "FSNLU_CACHE_DIR"
_DEFAULT_CACHE = "~/.cache/fsnlu_jax/datasets"


def _split_name(name: str) -> tuple[str, str | None]:
  base, _, config = name.partition("/")
  if base not in BUILDERS:
    raise KeyError(f"unknown dataset {base!r}; known: {', '.join(sorted(BUILDERS))}")
  return base, config or None


def cache_dir_for(source: pathlib.Path | None, on_error: str,
                  cache_dir: str | os.PathLike | None = None) -> pathlib.Path:
  """Where built array_record files go: one sub-folder per (source, policy),
  so data built from one folder is never read back for another."""
  root = cache_dir or os.environ.get(CACHE_DIR_ENV) or _DEFAULT_CACHE
  key = f"{source.resolve() if source else 'download'}|{on_error}"
  return pathlib.Path(root).expanduser() / hashlib.sha1(key.encode()).hexdigest()[:12]


def get_builder(name: str, *, data_dir: str | os.PathLike | None = None,
                cache_dir: str | os.PathLike | None = None,
                on_error: OnError = "raise") -> NLUBuilder:
  """The builder for ``NAME`` or ``NAME/CONFIG``, not yet prepared.

  Args:
    name: a key of :data:`fsnlu_jax.data.builders.BUILDERS`, optionally with
      ``/config``.
    data_dir: folder holding one sub-folder of raw files per dataset
      (default ``$FSNLU_DATA_DIR``; neither set: download).
    cache_dir: where built datasets are kept (default ``$FSNLU_CACHE_DIR`` or
      ``~/.cache/fsnlu_jax/datasets``).
    on_error: malformed-row policy, ``"raise"`` or ``"skip"`` (count).
  """
  base, config = _split_name(name)
  cls = BUILDERS[base]
  # Resolve the source first, to key the cache on it.
  probe = cls.resolve_source(data_dir)
  return cls(source_dir=data_dir, on_error=on_error, config=config,
             data_dir=cache_dir_for(probe, on_error, cache_dir))


def prepare(name: str, *, progress: bool = True, **kwargs) -> NLUBuilder:
  """:func:`get_builder`, then build the array_record files if not cached.

  Args:
    name: ``NAME`` or ``NAME/CONFIG``.
    progress: show TFDS's progress bars while building.
    **kwargs: passed to :func:`get_builder`.
  """
  builder = get_builder(name, **kwargs)
  if not progress:
    tfds.disable_progress_bar()  # a process-wide switch in TFDS, restored below
  try:
    builder.download_and_prepare()
  finally:
    if not progress:
      tfds.enable_progress_bar()
  return builder


def read_split(builder: NLUBuilder, split: str) -> list[Example]:
  """All examples of one split of a prepared builder, in file order."""
  source = builder.as_data_source(split=split)
  return [Example.from_record(source[i]) for i in range(len(source))]


def load(name: str, *, splits: list[str] | None = None, **kwargs) -> dict[str, list[Example]]:
  """Prepares ``name`` if needed and reads its splits (all by default)."""
  builder = prepare(name, **kwargs)
  wanted = splits or list(builder.info.splits.keys())
  return {split: read_split(builder, split) for split in wanted}
