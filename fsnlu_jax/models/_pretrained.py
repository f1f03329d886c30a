"""Loading pretrained sentence encoders (BERT family, MPNet) from Hugging Face files.

A model folder in the usual layout (``config.json``, ``model.safetensors``,
``tokenizer.json``; sentence-transformers' ``modules.json``,
``1_Pooling/config.json`` and ``sentence_bert_config.json`` when present) or,
where a network and ``huggingface_hub`` are available, a hub name such as
``sentence-transformers/all-MiniLM-L6-v2``. ``config.json``'s ``model_type``
picks the architecture: ``bert`` (:class:`BertEncoder`; e.g. all-MiniLM-L6-v2)
or ``mpnet`` (:class:`MPNetEncoder`; e.g. all-mpnet-base-v2). Every weight is
checked by name and shape before it is copied: a missing or unreadable file, a
missing or misshapen tensor or an unsupported architecture is a clear error,
not a silently random layer; checkpoint tensors left unused are named in a
warning.

Shapes: ``U`` texts (utterances), ``D`` sentence width.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import pathlib
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from fsnlu_jax._progress import progress
from fsnlu_jax.data.subword import SubwordTokenizer
from fsnlu_jax.models._architectures import (ARCHITECTURES, Architecture, Encoder, Names,
                                             architecture)

_log = logging.getLogger(__name__)


def resolve_model_dir(path_or_name: str | os.PathLike) -> pathlib.Path:
  """A local model folder: the path itself, else ``$FSNLU_MODELS_DIR/<name>``, else a
  hub name downloaded (needs ``huggingface_hub`` and a network)."""
  path = pathlib.Path(path_or_name)
  if path.is_dir():
    if (path / "model_config.json").is_file() and (path / "checkpoints").is_dir():
      # Its config.json is a job's, not a transformer's: say what it is.
      raise ValueError(f"{path} is a multitask bi-LSTM workdir (`fsnlu pretrain`), not a "
                       "BERT-family model folder: give encoder.kind='pretrained' a folder such "
                       "as all-MiniLM-L6-v2, or use a bi-LSTM config with this workdir")
    return path
  if path.exists() or str(path_or_name).startswith((".", "/")):
    raise FileNotFoundError(f"no model folder: {path}")
  # A bare name: the local models folder first (no network), then the hub.
  local = pathlib.Path(os.environ.get("FSNLU_MODELS_DIR", "")) / path
  if os.environ.get("FSNLU_MODELS_DIR") and local.is_dir():
    return resolve_model_dir(local)
  try:
    import huggingface_hub  # pylint: disable=import-outside-toplevel
  except ImportError as e:
    raise FileNotFoundError(
        f"no model folder {path}, and huggingface_hub is not installed to fetch "
        f"{path_or_name!r} from the hub (pip install huggingface_hub)") from e
  return pathlib.Path(huggingface_hub.snapshot_download(str(path_or_name)))


def _required(folder: pathlib.Path, name: str) -> pathlib.Path:
  path = folder / name
  if not path.is_file():
    raise FileNotFoundError(f"{folder}: missing {name}")
  return path


def _read_json(path: pathlib.Path):
  """A JSON file's value; a broken file is an error naming it."""
  try:
    return json.loads(path.read_text(encoding="utf-8"))
  except (json.JSONDecodeError, UnicodeDecodeError) as e:
    raise ValueError(f"{path}: not valid JSON ({e})") from e


def _read_tensors(folder: pathlib.Path, prefix: str) -> dict[str, np.ndarray]:
  from safetensors.numpy import load_file  # pylint: disable=import-outside-toplevel

  path = _required(folder, "model.safetensors")
  try:
    tensors = load_file(str(path))
  except Exception as e:  # safetensors' own SafetensorError (or OSError) names no file
    raise ValueError(f"{path}: cannot read the weights, the file is truncated or not "
                     f"safetensors ({type(e).__name__}: {e})") from e
  return {k.removeprefix(prefix): v for k, v in tensors.items()}


def _sentence_transformers_settings(folder: pathlib.Path) -> tuple[bool, int | None]:
  """``(normalize, max_seq_length)`` from sentence-transformers' files, if any."""
  normalize, max_length = False, None
  modules = folder / "modules.json"
  if modules.is_file():
    entries = _read_json(modules)
    normalize = any(m["type"].endswith(".Normalize") for m in entries)
    for m in entries:
      if m["type"].endswith(".Pooling"):
        pooling = _read_json(_required(folder / m["path"], "config.json"))
        if not pooling.get("pooling_mode_mean_tokens") or any(
            v for k, v in pooling.items() if k.startswith("pooling_mode_")
            and k != "pooling_mode_mean_tokens"):
          raise ValueError(f"{folder}: unsupported pooling {pooling} (only mean pooling)")
  st_config = folder / "sentence_bert_config.json"
  if st_config.is_file():
    max_length = _read_json(st_config).get("max_seq_length")
  return normalize, max_length


def checkpoint_config(path_or_name: str | os.PathLike) -> tuple[pathlib.Path, Architecture, Any]:
  """``(folder, architecture, config)`` of a checkpoint, from its ``config.json``."""
  folder = resolve_model_dir(path_or_name)
  raw = _read_json(_required(folder, "config.json"))
  arch = architecture(raw, folder)
  return folder, arch, arch.config.from_dict(raw)


def copy_checkpoint(model: nnx.Module, folder: pathlib.Path, arch: Architecture,
                    names: Names) -> set[tuple]:
  """Copies the checkpoint tensors ``names`` lists into ``model``'s parameters.

  Every tensor is checked by name and shape before it is copied; checkpoint
  tensors left unused (besides ``arch.ignored``) are named in a warning. One
  tensor may fill several parameters (each gets its own copy).

  Args:
    model: built from the checkpoint's config (concrete or ``nnx.eval_shape``).
    folder: the model folder.
    arch: its :class:`Architecture`.
    names: ``(parameter path, tensor name, transpose)`` triples (``arch.names``
      or a model's own, e.g. :func:`bert2bert_names`).

  Returns:
    The parameter paths filled; the caller decides what the rest may be.
  """
  tensors = _read_tensors(folder, arch.prefix)
  flat = dict(nnx.to_flat_state(nnx.state(model, nnx.Param)))
  used = {}
  for path, name, transpose in names:
    if name not in tensors:
      raise ValueError(f"{folder / 'model.safetensors'}: missing tensor {name}")
    value = tensors[name]
    expected = flat[path].shape[::-1] if transpose else flat[path].shape
    if value.shape != expected:  # both in the checkpoint's layout
      raise ValueError(f"{folder / 'model.safetensors'}: {name} has shape {value.shape}, "
                       f"config.json implies {expected}")
    flat[path].set_value(jnp.asarray(value.T if transpose else value, jnp.float32))
    used.setdefault(name, []).append(path)
  unused = sorted(k for k in tensors if k not in used and not k.startswith(arch.ignored))
  if unused:
    _log.warning("%s: %d checkpoint tensors not used: %s", folder, len(unused),
                 ", ".join(unused[:10]) + (", ..." if len(unused) > 10 else ""))
  nnx.update(model, nnx.from_flat_state(flat))
  return {path for paths in used.values() for path in paths}


def load_encoder(path_or_name: str | os.PathLike, *, normalize: bool | None = None) -> Encoder:
  """An encoder with the weights of a Hugging Face checkpoint, built as
  ``config.json``'s ``model_type`` says (``bert`` or ``mpnet``).

  Args:
    path_or_name: a model folder, or a hub name (needs a network).
    normalize: L2-normalise sentence vectors; by default as the folder's
      sentence-transformers ``modules.json`` says (False without one).

  Raises:
    FileNotFoundError: a missing folder or file.
    ValueError: an unsupported architecture or pooling, an unreadable weights
      file, a missing tensor, or a tensor whose shape does not match
      ``config.json``.
  """
  folder, arch, config = checkpoint_config(path_or_name)
  st_normalize, _ = _sentence_transformers_settings(folder)
  # Shapes only: no random initialisation of weights about to be replaced.
  model = nnx.eval_shape(lambda: arch.model(
      config, normalize=st_normalize if normalize is None else normalize, rngs=nnx.Rngs(0)))
  filled = copy_checkpoint(model, folder, arch, arch.names(config))
  assert len(filled) == len(nnx.to_flat_state(nnx.state(model, nnx.Param))), \
      "every parameter has a checkpoint name"
  return model


def save_encoder(model: Encoder, folder: str | os.PathLike) -> pathlib.Path:
  """Writes ``config.json`` and ``model.safetensors`` that :func:`load_encoder`
  (and Hugging Face ``BertModel``/``MPNetModel``) read back; e.g. an encoder
  after fine-tuning. Copy the tokenizer files beside them yourself."""
  from safetensors.numpy import save_file  # pylint: disable=import-outside-toplevel

  model_type = next(t for t, a in ARCHITECTURES.items() if isinstance(model, a.model))
  arch = ARCHITECTURES[model_type]
  folder = pathlib.Path(folder)
  folder.mkdir(parents=True, exist_ok=True)
  flat = dict(nnx.to_flat_state(nnx.state(model, nnx.Param)))
  tensors = {}
  for path, name, transpose in arch.names(model.config):
    value = np.asarray(flat[path][...], np.float32)
    tensors[name] = np.ascontiguousarray(value.T if transpose else value)
  save_file(tensors, str(folder / "model.safetensors"))
  config = dict(dataclasses.asdict(model.config), model_type=model_type,
                architectures=[arch.hf_class])
  (folder / "config.json").write_text(json.dumps(config, indent=2))
  return folder


# The names from before MPNet; they read and write MPNet folders too.
load_bert = load_encoder
save_bert = save_encoder


class SentenceEncoder:
  """Texts to sentence vectors with a pretrained encoder: tokenise, bucket, jit.

  >>> enc = SentenceEncoder.from_pretrained("../shared/models/all-MiniLM-L6-v2")  # doctest: +SKIP
  >>> enc.embed(["play leon bridges"]).shape  # doctest: +SKIP
  (1, 384)

  Attributes:
    model: the :class:`BertEncoder` or :class:`MPNetEncoder`.
    tokenizer: its :class:`~fsnlu_jax.data.subword.SubwordTokenizer`.
  """

  def __init__(self, model: Encoder, tokenizer: SubwordTokenizer):
    self.model, self.tokenizer = model, tokenizer
    graphdef, state = nnx.split(model)
    # Weights are an argument (not constants baked into the program): one
    # compile per bucket length, shared by every call.
    self._jitted = jax.jit(lambda s, ids, mask: nnx.merge(graphdef, s).encode(ids, mask))
    self._encode: Callable = lambda ids, mask: self._jitted(state, ids, mask)

  @classmethod
  def from_pretrained(cls, path_or_name: str | os.PathLike, *,
                      max_length: int | None = None) -> "SentenceEncoder":
    """Model and tokenizer from one folder (or hub name); see :func:`load_encoder`."""
    folder = resolve_model_dir(path_or_name)
    model = load_encoder(folder)
    _, st_max = _sentence_transformers_settings(folder)
    limit = model.config.max_length
    max_length = min(max_length or st_max or limit, limit)
    return cls(model, SubwordTokenizer(_required(folder, "tokenizer.json"),
                                       max_length=max_length))

  @property
  def dim(self) -> int:
    """``D``."""
    return self.model.config.hidden_size

  def embed(self, texts: Sequence[str] | str, *, batch_size: int = 64,
            desc: str | None = "embedding") -> np.ndarray:
    """``[U, D]`` float32 sentence vectors of ``texts``, in input order.

    A single string is one utterance: ``embed("play jazz")`` is ``[D]``, the
    row ``embed(["play jazz"])[0]`` (not one vector per character).
    ``desc`` labels the progress of more than one batch
    (:mod:`fsnlu_jax._progress`); None: silent.

    Raises:
      TypeError: ``texts`` holds something that is not a string.
    """
    if isinstance(texts, str):
      return self.embed([texts], batch_size=batch_size, desc=desc)[0]
    texts = list(texts)
    wrong = next((t for t in texts if not isinstance(t, str)), None)
    if wrong is not None:
      raise TypeError(f"embed takes utterances as strings, got a {type(wrong).__name__}: "
                      f"{wrong!r}")
    return self.embed_pieces(self.tokenizer.encode(texts), batch_size=batch_size, desc=desc)

  def embed_pieces(self, encoded: Sequence[tuple[list[int], list[int]]], *,
                   batch_size: int = 64, desc: str | None = None) -> np.ndarray:
    """``[U, D]`` sentence vectors of already tokenised texts (:meth:`SubwordTokenizer.encode`)."""
    # Dispatch every batch before reading any back: no host sync per batch.
    batches = list(self.tokenizer.batches(encoded, batch_size))
    vectors = [self._encode(b.token_ids, b.mask) for b in batches]
    out = np.zeros((len(encoded), self.dim), np.float32)
    pairs = zip(batches, vectors)
    if desc is not None and len(batches) > 1:
      pairs = progress(pairs, desc=desc, total=len(batches), unit="batch")
    for batch, v in pairs:
      real = batch.rows >= 0
      out[batch.rows[real]] = np.asarray(v)[real]
    return out
