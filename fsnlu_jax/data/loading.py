"""Building (once, cached) and reading datasets by name.

>>> splits = load("synthetic")            # doctest: +SKIP
>>> splits["train"][0].intent             # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
import pathlib
import shutil

import tensorflow_datasets as tfds

from fsnlu_jax.data import cache, defects
from fsnlu_jax.data.builders import BUILDERS, NLUBuilder, check_reachable
from fsnlu_jax.data.defects import ON_ERROR_POLICIES, OnError
from fsnlu_jax.data.schema import Example

_LOG = logging.getLogger(__name__)
CACHE_DIR_ENV = cache.CACHE_DIR_ENV


class UnknownNameError(KeyError):
  """A dataset, config or split name that does not exist (the message lists those that do)."""

  def __str__(self) -> str:  # KeyError would print the message in quotes
    return str(self.args[0])


class UnknownSplitError(UnknownNameError):
  """A split name the dataset does not have."""


def _split_name(name: str) -> tuple[str, str | None]:
  base, _, config = name.partition("/")
  if base not in BUILDERS:
    raise UnknownNameError(f"unknown dataset {base!r}; known: {', '.join(sorted(BUILDERS))}")
  return base, config or None


def _default_config(cls: type[NLUBuilder], config: str | None) -> str | None:
  configs = [c.name for c in (cls.BUILDER_CONFIGS or [])]
  if config is not None and configs and config not in configs:
    raise UnknownNameError(f"unknown config {config!r} of {cls.name}; known:"
                           f" {', '.join(configs)}")
  return config or (configs[0] if configs else None)


def _manifest(name: str, data_dir, on_error: str) -> tuple[type[NLUBuilder], str | None, dict]:
  base, config = _split_name(name)
  cls = BUILDERS[base]
  config = _default_config(cls, config)
  return cls, config, cache.manifest(cls, config, cls.resolve_source(data_dir), on_error)


def get_builder(name: str, *, data_dir: str | os.PathLike | None = None,
                cache_dir: str | os.PathLike | None = None,
                on_error: OnError = "raise") -> NLUBuilder:
  """The builder for ``NAME`` or ``NAME/CONFIG``, not yet prepared.

  Its build lives in a cache folder keyed by the contents of the raw files it
  reads (and the builder's version and the policy): see :mod:`fsnlu_jax.data.cache`.

  Args:
    name: a key of :data:`fsnlu_jax.data.builders.BUILDERS`, optionally with
      ``/config``.
    data_dir: folder holding one sub-folder of raw files per dataset
      (default ``$FSNLU_DATA_DIR``; neither set: download).
    cache_dir: where built datasets are kept (default ``$FSNLU_CACHE_DIR`` or
      ``~/.cache/fsnlu_jax/datasets``).
    on_error: malformed-row policy, ``"raise"`` or ``"skip"`` (count).
  """
  if on_error not in ON_ERROR_POLICIES:
    raise ValueError(f"on_error must be one of {ON_ERROR_POLICIES}, got {on_error!r}")
  cls, config, record = _manifest(name, data_dir, on_error)
  entry = cache.entry_dir(cache.cache_root(cache_dir), record)
  builder = cls(source_dir=data_dir, on_error=on_error, config=config, data_dir=entry)
  builder.manifest = record
  return builder


def prepare(name: str, *, progress: bool = True, **kwargs) -> NLUBuilder:
  """:func:`get_builder`, then build the array_record files if not cached.

  A build whose raw files changed while it was being made is discarded (its
  key no longer matches), and a build that dropped rows says so in the log
  every time it is loaded, not only when it is made.

  Args:
    name: ``NAME`` or ``NAME/CONFIG``.
    progress: show TFDS's progress bars while building.
    **kwargs: passed to :func:`get_builder`.
  """
  builder = get_builder(name, **kwargs)
  entry = pathlib.Path(builder.data_dir_root)
  built = (pathlib.Path(builder.data_dir) / "dataset_info.json").exists()
  if not built and builder.source_dir is None and builder.FILES:
    # Before TFDS starts (and prints): offline, fail in one line, not after minutes of retries.
    check_reachable(builder.name, builder.FOLDER, builder.FILES.values())
  if not progress:
    tfds.disable_progress_bar()  # a process-wide switch in TFDS, restored below
  try:
    builder.download_and_prepare()
  finally:
    if not progress:
      tfds.enable_progress_bar()
  if not built:
    _, _, after = _manifest(name, kwargs.get("data_dir"), builder.on_error)
    if after != builder.manifest:
      shutil.rmtree(entry, ignore_errors=True)
      raise ValueError(f"{name}: raw files changed while the dataset was being built"
                         f" ({builder.source_dir}); run again")
    cache.write_manifest(entry, builder.manifest)
  _warn_if_dropped(name, builder)
  return builder


def _warn_if_dropped(name: str, builder: NLUBuilder) -> None:
  dropped = builder.info.metadata.get("dropped") or {}
  lost = {k: v for k, v in builder.info.metadata.get("defects", {}).items()
          if defects.classify(k) == "dropped"}
  if lost:
    _LOG.warning("%s (on_error=%s): %d rows and %d whole files were dropped: %s",
                    name, builder.on_error, dropped.get("rows", 0),
                    len(dropped.get("files", [])), lost)


def read_split(builder: NLUBuilder, split: str) -> list[Example]:
  """All examples of one split of a prepared builder, in file order.

  The records are the builder's :attr:`~NLUBuilder.RECORD` (``Example``; for
  PIZZA, :class:`~fsnlu_jax.data.parses.ParseExample`).

  Raises:
    UnknownSplitError: no such split (the message lists the splits there are,
      and says when the split was dropped as empty).
  """
  if split not in builder.info.splits:
    known = ", ".join(builder.info.splits.keys())
    dropped = f"empty_split/{split}" in builder.info.metadata.get("defects", {})
    why = (" (it was dropped: no examples left once malformed rows were skipped)"
           if dropped else "")
    raise UnknownSplitError(f"{builder.name}: no split {split!r}{why}; splits: {known}")
  source = builder.as_data_source(split=split)
  record = builder.RECORD  # Example, or ParseExample for a dataset of trees
  return [record.from_record(source[i]) for i in range(len(source))]


def load(name: str, *, splits: list[str] | None = None, **kwargs) -> dict[str, list[Example]]:
  """Prepares ``name`` if needed and reads its splits (all by default)."""
  builder = prepare(name, **kwargs)
  wanted = splits or list(builder.info.splits.keys())
  return {split: read_split(builder, split) for split in wanted}


def clear_cache(name: str | None = None,
                cache_dir: str | os.PathLike | None = None) -> list[pathlib.Path]:
  """Removes the cached builds of ``name`` (None: of every dataset); returns the folders."""
  base = _split_name(name)[0] if name else None
  return cache.clear(cache.cache_root(cache_dir), list(BUILDERS), base)
