"""A few-shot intent classifier (``fsnlu fewshot-classifier``) answering new text, loaded once.

The checkpoint is the job's ``classifier/`` folder (``classifier.json``,
``encoder/``, ``head.npz``: :mod:`fsnlu_jax.fewshot.classifier`); the
workdir above it is accepted too. It labels intents only: no slots.

Static shapes: the encoder pads each utterance's word pieces to its
tokenizer's length buckets (longer ones are cut at the encoder's
``max_length``) and the rows to one of :data:`ROW_BUCKETS`, so a second call
of a shape already seen compiles nothing.

Shapes: ``U`` utterances, ``C`` labels.
"""

from __future__ import annotations

import os
import pathlib
from typing import Any, Mapping, Sequence

import numpy as np

from fsnlu_jax import fewshot
from fsnlu_jax.serve.errors import InputError, request_text
from fsnlu_jax.serve.multitask import ROW_BUCKETS, _rows_per_call


class ClassifierPredictor:
  """Intent and top-k intent scores of new utterances from a few-shot classifier.

  >>> # p = ClassifierPredictor.load("runs/my_classifier/classifier")
  >>> # p.predict(["wake me up at 7 am"])[0]["intent"]
  """

  kind = "classifier"

  def __init__(self, classifier: fewshot.Classifier, *, top_k: int = 5, source: str = ""):
    """Args: classifier: a loaded :class:`fsnlu_jax.fewshot.Classifier`;
    top_k: intent scores returned per utterance; source: where it came from."""
    self.classifier = classifier
    self.top_k, self.source = min(int(top_k), len(classifier.labels)), source

  @classmethod
  def load(cls, folder: str | os.PathLike, *, top_k: int = 5) -> ClassifierPredictor:
    """The classifier of a ``classifier/`` folder (or of the workdir holding one)."""
    folder = pathlib.Path(folder)
    if not (folder / "classifier.json").is_file():
      folder = folder / "classifier"
    return cls(fewshot.load_classifier(folder), top_k=top_k, source=str(folder))

  def info(self) -> dict[str, Any]:
    """What ``/health`` reports about the model."""
    tokenizer = self.classifier.encoder.tokenizer
    return dict(kind=self.kind, checkpoint=self.source, intents=len(self.classifier.labels),
                width=self.classifier.encoder.dim, max_pieces=tokenizer.max_length,
                row_buckets=ROW_BUCKETS)

  def warmup(self) -> None:
    """Compiles every (piece bucket, row bucket) pair now, not on the first requests."""
    tokenizer = self.classifier.encoder.tokenizer
    for length in tokenizer.buckets:
      for rows in ROW_BUCKETS:
        # Pieces of a bucket's length: the encoder pads them to exactly that bucket.
        pieces = [([0] * length, [0] * length)] * rows
        self.classifier.encoder.embed_pieces(pieces, batch_size=rows)

  # ------------------------------------------------------------- requests

  def parse(self, item: Any, where: str = "text") -> dict[str, Any]:
    """One request (a string, or ``{"text": ...}``) checked; raises :class:`InputError`."""
    item = request_text(item, where, "classifier")
    if not item.strip():
      raise InputError("empty_text", f"{where}: no words in {item[:80]!r}")
    return dict(text=item)

  # ------------------------------------------------------------- prediction

  def predict(self, texts: Sequence[Any]) -> list[dict[str, Any]]:
    """One answer per text (strings or parsed requests), in order.

    Each answer: ``text``, ``intent``, ``confidence``, ``intents`` (the
    ``top_k`` ``{"intent", "score"}`` by probability) and ``slots`` (always
    empty: a classifier tags no slots).

    Raises:
      InputError: a text that is not a string or is blank.
    """
    requests = [t if isinstance(t, Mapping) and "text" in t and len(t) == 1 else
                self.parse(t, f"texts[{i}]") for i, t in enumerate(texts)]
    if not requests:
      return []
    encoder, labels = self.classifier.encoder, self.classifier.labels
    encoded = encoder.tokenizer.encode([r["text"] for r in requests])
    vectors = encoder.embed_pieces(encoded, batch_size=_rows_per_call(len(encoded)))
    probs = _softmax(self.classifier.head.logits(vectors))
    answers = []
    for r, p in zip(requests, probs):
      top = np.argsort(-p, kind="stable")[:self.top_k]
      answers.append(dict(text=r["text"], intent=labels[int(top[0])],
                          confidence=round(float(p[top[0]]), 6),
                          intents=[dict(intent=labels[int(c)], score=round(float(p[c]), 6))
                                   for c in top],
                          slots=[]))
    return answers


def _softmax(logits: np.ndarray) -> np.ndarray:
  """``[U, C]`` probabilities, as :meth:`fsnlu_jax.fewshot.Classifier.probabilities`."""
  logits = logits - logits.max(-1, keepdims=True)
  p = np.exp(logits)
  return p / p.sum(-1, keepdims=True)
