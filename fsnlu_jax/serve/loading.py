"""Which predictor a workdir needs, told from the files its job wrote."""

from __future__ import annotations

import os
import pathlib
from typing import Union

from fsnlu_jax.serve.classifier import ClassifierPredictor
from fsnlu_jax.serve.multitask import MultitaskPredictor
from fsnlu_jax.serve.rewriting import RewritePredictor

Predictor = Union[MultitaskPredictor, RewritePredictor, ClassifierPredictor]


def _model_folders(root: pathlib.Path) -> list[str]:
  """Sub-folders that hold a multitask model with checkpoints (a selection or few-shot run's)."""
  return sorted(p.name for p in root.iterdir()
                if (p / "model_config.json").is_file() and (p / "checkpoints").is_dir())


def load_predictor(checkpoint: str | os.PathLike, *, top_k: int = 5) -> Predictor:
  """The predictor of a trained workdir, loaded once.

  * a multitask workdir (``model_config.json``: ``fsnlu pretrain`` /
    ``finetune`` / ``scratch``, a selection run's ``base/`` or kept
    ``<strategy>_k<Kb>/``, a few-shot run's ``encoder/``):
    :class:`~fsnlu_jax.serve.MultitaskPredictor`;
  * a rewriting workdir (``tries.json``): :class:`~fsnlu_jax.serve.RewritePredictor`;
  * a few-shot classifier (``fsnlu fewshot-classifier``: its ``classifier/``
    folder with ``classifier.json``, or the workdir above it):
    :class:`~fsnlu_jax.serve.ClassifierPredictor` (intents only, no slots).

  Few-shot systems (ProtoNet, ProtoDA) are not served: they classify against
  the prototypes of a support set, which their workdir does not keep; a
  ``fsnlu fewshot-classifier`` checkpoint is refused with a pointer to
  :func:`fsnlu_jax.fewshot.load_classifier`.

  Raises:
    FileNotFoundError: not a workdir of those jobs (the message says which
      sub-folders are, for a selection or few-shot run's top folder).
  """
  root = pathlib.Path(checkpoint)
  if not root.is_dir():
    raise FileNotFoundError(f"--checkpoint {root}: no such folder")
  if (root / "model_config.json").is_file():
    return MultitaskPredictor.load(root, top_k=top_k)
  if (root / "tries.json").is_file():
    return RewritePredictor.load(root)
  if (root / "classifier.json").is_file() or (root / "classifier" / "classifier.json").is_file():
    return ClassifierPredictor.load(root, top_k=top_k)
  inside = _model_folders(root)
  hint = (f"; its model folders are {', '.join(str(root / n) for n in inside)}" if inside
          else "")
  raise FileNotFoundError(
      f"{root} is not a multitask workdir (model_config.json), a rewriting one "
      f"(tries.json) or a few-shot classifier (classifier.json){hint}")
