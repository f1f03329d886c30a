"""An intent classifier from a user's own few-shot file: contrastive fine-tuning + logistic head.

What practitioners want from few-shot intents: a handful of labelled
utterances per intent in a file, a pretrained sentence encoder, and a
classifier to serve. The job (``configs/fewshot_classifier.py``)::

  fsnlu fewshot-classifier --config configs/fewshot_classifier.py:my_intents.csv \
      --workdir runs/my_classifier --set encoder.path=../shared/models/all-MiniLM-L6-v2

reads the file (:func:`read_labelled`), fine-tunes the encoder on SetFit's
pairs (:mod:`fsnlu_jax.fewshot.contrastive`, through THE loop: a rerun
resumes), fits the logistic head and writes the checkpoint.

**Input file.** JSON lines (``.jsonl``/``.json``): one object per line with
string ``"text"`` and ``"label"``; or CSV (``.csv``) with a header naming
``text`` and ``label`` columns (others ignored). Other field names are
``data.text_field`` / ``data.label_field`` (BANKING77's CSV: ``category``;
SLURP's JSON lines: ``sentence`` and ``intent``), and ``data.per_label``
keeps the first N examples of each label (a few-shot set from a full
dataset's file; the others are counted in the log). Blank lines are skipped; a
malformed row is an error naming file and line; a label with one example
gets no positive pair (logged).

**Checkpoint format** (``workdir/classifier/``, version 1), loaded in Python
with :func:`load_classifier`, and served by ``fsnlu predict``/``serve``
(:class:`fsnlu_jax.serve.ClassifierPredictor`):

* ``classifier.json``: ``{"format": "fsnlu-fewshot-classifier", "version": 1,
  "labels": [C names, in logit order], "encoder": "encoder", "head":
  "head.npz", "trained_from": the input file, "examples": P, "config": the
  job's config}``;
* ``encoder/``: the fine-tuned encoder in the usual sentence-transformers
  layout (``config.json``, ``model.safetensors``, ``tokenizer.json`` and the
  pooling/normalisation files copied from the pretrained folder): loadable
  by :meth:`fsnlu_jax.models.SentenceEncoder.from_pretrained` (and by
  sentence-transformers);
* ``head.npz``: ``weight`` ``[D, C]`` float32 and ``bias`` ``[C]``:
  ``probabilities = softmax(encode(text) @ weight + bias)``.

Shapes: ``P`` labelled examples, ``U`` utterances, ``D`` sentence width, ``C`` labels.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import os
import pathlib
import shutil
from typing import Any, Mapping, Sequence

import numpy as np

from fsnlu_jax.config import job_config, record_config
from fsnlu_jax.fewshot import contrastive
from fsnlu_jax.models import SentenceEncoder, resolve_model_dir, save_encoder

_log = logging.getLogger(__name__)

FORMAT, VERSION = "fsnlu-fewshot-classifier", 1
# Files of a sentence-transformers folder that say how to tokenise, pool and normalise.
_ENCODER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                  "vocab.txt", "modules.json", "sentence_bert_config.json",
                  "1_Pooling/config.json")


@dataclasses.dataclass(frozen=True)
class ClassifierDataConfig:
  """The user's labelled file (JSON lines or CSV with ``text,label``)."""

  train_file: str
  text_field: str = "text"
  label_field: str = "label"
  per_label: int | None = None  # keep the first N examples of each label; None: all


@dataclasses.dataclass(frozen=True)
class ClassifierEncoderConfig:
  """The pretrained sentence encoder: a folder or hub name."""

  path: str
  max_length: int | None = None


@dataclasses.dataclass(frozen=True)
class ClassifierConfig:
  """The few-shot classifier job."""

  job: str
  data: ClassifierDataConfig
  encoder: ClassifierEncoderConfig
  contrastive: contrastive.ContrastiveConfig


def read_labelled(path: str | os.PathLike, *, text_field: str = "text",
                  label_field: str = "label") -> tuple[list[str], list[str]]:
  """``(texts, labels)`` of a JSON-lines or CSV file (module docs).

  Args:
    path: the file.
    text_field, label_field: the CSV columns or JSON keys to read.

  Raises:
    ValueError: a malformed row (naming file and line), or no rows at all.
  """
  path = pathlib.Path(path)
  texts, labels = [], []

  def add(text, label, line: int):
    if not isinstance(text, str) or not isinstance(label, str) or not text.strip() or (
        not label.strip()):
      raise ValueError(f"{path}:{line}: needs a non-empty string {text_field} and "
                       f"{label_field}, got {text_field}={text!r} {label_field}={label!r}")
    texts.append(text.strip())
    labels.append(label.strip())

  raw_lines = path.read_bytes().splitlines(keepends=True)
  for line, raw in enumerate(raw_lines, 1):  # bad UTF-8: named by line, not by byte offset
    try:
      raw.decode("utf-8")
    except UnicodeDecodeError as e:
      raise ValueError(f"{path}:{line}: not UTF-8 (byte {e.start} of the line: {e.reason})"
                       ) from None
  if path.suffix.lower() == ".csv":
    with path.open(newline="", encoding="utf-8") as f:
      reader = csv.DictReader(f)
      if not reader.fieldnames or not {text_field, label_field} <= set(reader.fieldnames):
        raise ValueError(f"{path}:1: the CSV header must name {text_field!r} and "
                         f"{label_field!r} columns, got {reader.fieldnames}")
      for row in reader:
        if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
          continue
        add(row.get(text_field), row.get(label_field), reader.line_num)
  elif path.suffix.lower() in (".jsonl", ".json"):
    for line, raw in enumerate((r.decode("utf-8") for r in raw_lines), 1):
      if not raw.strip():
        continue
      try:
        row = json.loads(raw)
      except json.JSONDecodeError as e:
        raise ValueError(f"{path}:{line}: not JSON ({e.msg})") from None
      if not isinstance(row, dict):
        raise ValueError(f"{path}:{line}: expected an object with {text_field} and "
                         f"{label_field}")
      add(row.get(text_field), row.get(label_field), line)
  else:
    raise ValueError(f"{path}: use .jsonl/.json (JSON lines) or .csv (text,label)")
  if not texts:
    raise ValueError(f"{path}: no labelled rows")
  return texts, labels


def first_per_label(texts: Sequence[str], labels: Sequence[str], n: int
                    ) -> tuple[list[str], list[str]]:
  """The first ``n`` examples of each label, in file order; the rest counted in the log."""
  if n < 1:
    raise ValueError(f"data.per_label must be >= 1, got {n}")
  seen: dict[str, int] = {}
  kept = []
  for i, label in enumerate(labels):
    seen[label] = seen.get(label, 0) + 1
    if seen[label] <= n:
      kept.append(i)
  _log.info("data.per_label=%d: kept %d of %d examples", n, len(kept), len(labels))
  return [texts[i] for i in kept], [labels[i] for i in kept]


class Classifier:
  """A trained few-shot classifier: encoder + head (:func:`load_classifier`)."""

  def __init__(self, encoder: SentenceEncoder, head: contrastive.LogisticHead):
    self.encoder, self.head = encoder, head

  @property
  def labels(self) -> tuple[str, ...]:
    return self.head.classes

  def probabilities(self, texts: Sequence[str]) -> np.ndarray:
    """``[U, C]`` label probabilities, columns in :attr:`labels` order."""
    logits = self.head.logits(self.encoder.embed(list(texts)))
    logits = logits - logits.max(-1, keepdims=True)
    p = np.exp(logits)
    return p / p.sum(-1, keepdims=True)

  def predict(self, texts: Sequence[str]) -> list[str]:
    """The most probable label of each text."""
    return [self.labels[i] for i in self.probabilities(texts).argmax(-1)]


def save_classifier(folder: pathlib.Path, encoder: SentenceEncoder, source_dir: pathlib.Path,
                    head: contrastive.LogisticHead, info: Mapping[str, Any]) -> pathlib.Path:
  """Writes the checkpoint (module docs) and returns its folder."""
  folder.mkdir(parents=True, exist_ok=True)
  save_encoder(encoder.model, folder / "encoder")
  for name in _ENCODER_FILES:
    if (source_dir / name).is_file():
      (folder / "encoder" / name).parent.mkdir(parents=True, exist_ok=True)
      shutil.copyfile(source_dir / name, folder / "encoder" / name)
  np.savez(folder / "head.npz", weight=head.weight.astype(np.float32),
           bias=head.bias.astype(np.float32))
  (folder / "classifier.json").write_text(json.dumps(dict(
      format=FORMAT, version=VERSION, labels=list(head.classes), encoder="encoder",
      head="head.npz", **info), indent=1))
  return folder


def load_classifier(folder: str | os.PathLike) -> Classifier:
  """The classifier a :func:`run_classifier` job saved (module docs).

  Raises:
    ValueError: not this format, or a version this code does not read.
  """
  folder = pathlib.Path(folder)
  meta = json.loads((folder / "classifier.json").read_text())
  if meta.get("format") != FORMAT or meta.get("version") != VERSION:
    raise ValueError(f"{folder}: not a {FORMAT} version {VERSION} checkpoint "
                     f"({meta.get('format')} {meta.get('version')})")
  encoder = SentenceEncoder.from_pretrained(folder / meta["encoder"])
  arrays = np.load(folder / meta["head"])
  head = contrastive.LogisticHead(arrays["weight"], arrays["bias"], tuple(meta["labels"]))
  if head.weight.shape != (encoder.dim, len(head.classes)):
    raise ValueError(f"{folder}: head {head.weight.shape} does not fit encoder width "
                     f"{encoder.dim} and {len(head.classes)} labels")
  return Classifier(encoder, head)


def run_classifier(config: Mapping[str, Any] | ClassifierConfig, workdir: str | os.PathLike
                   ) -> pathlib.Path:
  """Trains the classifier of ``config`` into ``workdir/classifier``; returns that folder."""
  config = job_config(ClassifierConfig, config, jobs=("fewshot_classifier",))
  workdir = pathlib.Path(workdir)
  record_config(workdir, config)
  texts, labels = read_labelled(config.data.train_file, text_field=config.data.text_field,
                                label_field=config.data.label_field)
  if config.data.per_label is not None:
    texts, labels = first_per_label(texts, labels, config.data.per_label)
  counts = {c: labels.count(c) for c in sorted(set(labels))}
  _log.info("%s: %d examples of %d labels %s", config.data.train_file, len(texts), len(counts),
            counts)
  alone = [c for c, n in counts.items() if n == 1]
  if alone:
    _log.warning("labels with one example (no positive pair): %s", alone)
  source = resolve_model_dir(config.encoder.path)
  encoder = SentenceEncoder.from_pretrained(source, max_length=config.encoder.max_length)
  encoded = encoder.tokenizer.encode(texts)
  pieces = encoder.tokenizer.pad(encoded, np.arange(len(encoded)), len(encoded))
  tuned = SentenceEncoder(
      contrastive.finetune_encoder(encoder.model, pieces.token_ids, pieces.mask, labels,
                                   config.contrastive, workdir / "contrastive"),
      encoder.tokenizer)
  head = contrastive.fit_head(tuned.embed_pieces(encoded), labels, config.contrastive)
  train_accuracy = float(np.mean(np.asarray(head.classes)[
      head.logits(tuned.embed_pieces(encoded)).argmax(-1)] == np.asarray(labels)))
  _log.info("training-set accuracy %.4f", train_accuracy)
  return save_classifier(workdir / "classifier", tuned, source, head, dict(
      trained_from=str(config.data.train_file), examples=len(texts),
      training_accuracy=train_accuracy, config=dataclasses.asdict(config)))
