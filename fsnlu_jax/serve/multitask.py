"""A trained multitask bi-LSTM (intent + slots) answering new text, loaded once.

Any workdir :func:`fsnlu_jax.transfer.load_model` reads: ``fsnlu pretrain`` /
``finetune`` / ``scratch``, a selection run's ``base/`` or
``<strategy>_k<Kb>/`` (kept checkpoints), a few-shot run's ``encoder/``.

Static shapes: an utterance is padded to the smallest length bucket that
holds it (``DEFAULT_BUCKETS`` capped at the job's ``data.max_length``; longer
ones are cut there, and the answer says how many words were not tagged), and
the rows of a bucket go through the model in chunks of one of
:data:`ROW_BUCKETS` rows. One jitted function is compiled per (length
bucket, row bucket) pair and reused by every later call.

Shapes: ``U`` utterances, ``Bc`` rows per call, ``L`` length bucket, ``C`` intents.
"""

from __future__ import annotations

import functools
import json
import os
import pathlib
from typing import Any, Mapping, Sequence

import jax
import numpy as np
from flax import nnx

from fsnlu_jax import models, transfer
from fsnlu_jax.data import DEFAULT_BUCKETS, LabelVocab, bucket_for, pad_batch
from fsnlu_jax.data import tokenize_with_offsets
from fsnlu_jax.data.bio import bio_to_spans
from fsnlu_jax.serve.errors import InputError, request_text
from fsnlu_jax.train import map_in_chunks

ROW_BUCKETS = (1, 8, 64)  # rows per jitted call: one utterance, a few, a full batch


@functools.partial(jax.jit, static_argnums=0)
def _forward(graphdef: nnx.GraphDef, state, ids, mask):
  """``(probs [Bc, C], tags [Bc, L])`` of one chunk, without dropout."""
  model = nnx.merge(graphdef, state)
  out = model(ids, mask)
  _, tags = models.decode_output(model, out, mask)
  return jax.nn.softmax(out.intent_logits.astype(np.float32)), tags


def compiled_shapes() -> int:
  """How many ``(model, length bucket, row bucket)`` versions the predictor has compiled.

  A second call of a bucket already seen adds none (the test of "compiles once").
  """
  return _forward._cache_size()  # pylint: disable=protected-access


def _rows_per_call(n: int) -> int:
  """The row bucket for ``n`` rows: 1 alone; up to 24 in chunks of 8 (16 rows padded to 64
  would cost 4 times their work); more in chunks of 64."""
  if n <= 1:
    return ROW_BUCKETS[0]
  return ROW_BUCKETS[1] if n <= 3 * ROW_BUCKETS[1] else ROW_BUCKETS[-1]


def _buckets(max_length: int) -> tuple[int, ...]:
  return tuple(b for b in DEFAULT_BUCKETS if b < max_length) + (max_length,)


class MultitaskPredictor:
  """Intent, top-k intent scores and slot spans of new utterances.

  >>> # p = MultitaskPredictor.load("runs/pre")
  >>> # p.predict(["wake me up at 7 am"])[0]["intent"]
  """

  kind = "multitask"

  def __init__(self, model: models.MultitaskBiLSTM, vocab, intents: LabelVocab,
               tags: LabelVocab, *, max_length: int = 64, top_k: int = 5, source: str = ""):
    """Args: model, vocab, intents, tags: a trained model and its label sets;
    max_length: the largest length bucket (longer utterances are cut);
    top_k: intent scores returned per utterance; source: where it came from."""
    self.vocab, self.intents, self.tags = vocab, intents, tags
    self.buckets = _buckets(int(max_length))
    self.top_k, self.source = min(int(top_k), len(intents)), source
    graphdef, state = nnx.split(model)
    # One local device, committed: a restored state carries no mesh of the training run.
    self._graphdef = graphdef
    self._state = jax.device_put(state, jax.local_devices()[0])

  @classmethod
  def load(cls, workdir: str | os.PathLike, *, top_k: int = 5) -> MultitaskPredictor:
    """The latest checkpoint of a multitask workdir (module docs)."""
    root = pathlib.Path(workdir)
    model, vocab = transfer.load_model(root)
    intents, tags = (LabelVocab.load(root / f) for f in ("intents.json", "tags.json"))
    config = json.loads((root / "config.json").read_text())
    max_length = config.get("data", {}).get("max_length") or DEFAULT_BUCKETS[-1]
    return cls(model, vocab, intents, tags, max_length=max_length, top_k=top_k,
               source=str(root))

  def info(self) -> dict[str, Any]:
    """What ``/health`` reports about the model."""
    return dict(kind=self.kind, checkpoint=self.source, intents=len(self.intents),
                slot_tags=len(self.tags), vocab=len(self.vocab), length_buckets=self.buckets,
                row_buckets=ROW_BUCKETS)

  def warmup(self) -> None:
    """Compiles every (length bucket, row bucket) pair now, not on the first requests."""
    for length in self.buckets:
      for rows in ROW_BUCKETS:
        ids, mask = pad_batch([[0] * length] * rows, length)
        self._run(ids, mask)

  # ------------------------------------------------------------- requests

  def parse(self, item: Any, where: str = "text") -> dict[str, Any]:
    """One request (a string, or ``{"text": ...}``) checked; raises :class:`InputError`."""
    item = request_text(item, where, "multitask model")
    tokens = tokenize_with_offsets(item)
    if not tokens:
      raise InputError("empty_text", f"{where}: no words in {item[:80]!r}")
    return dict(text=item, tokens=tokens)

  def bucket(self, request: Mapping[str, Any]) -> int:
    """The length bucket a parsed request is padded to."""
    return bucket_for(len(request["tokens"]), self.buckets)

  # ------------------------------------------------------------- prediction

  def predict(self, texts: Sequence[Any]) -> list[dict[str, Any]]:
    """One answer per text (strings or parsed requests), in order (module docs).

    Each answer: ``text``, ``tokens``, ``intent``, ``confidence``, ``intents``
    (the ``top_k`` ``{"intent", "score"}`` by probability), ``slots``
    (``{"label", "start", "end", "text", "char_start", "char_end"}``: token
    ``start`` inclusive, ``end`` exclusive; ``text`` as written),
    ``unknown_words`` (outside the vocabulary: ``<unk>`` to the model) and
    ``truncated`` (words past the largest bucket, not tagged).

    Raises:
      InputError: a text that is not a string or has no words.
    """
    requests = [t if isinstance(t, Mapping) and "tokens" in t else self.parse(t, f"texts[{i}]")
                for i, t in enumerate(texts)]
    answers: list[dict[str, Any] | None] = [None] * len(requests)
    by_bucket: dict[int, list[int]] = {}
    for i, r in enumerate(requests):
      by_bucket.setdefault(self.bucket(r), []).append(i)
    for length, rows in by_bucket.items():
      words = [[t.text for t in requests[i]["tokens"][:length]] for i in rows]
      ids, mask = pad_batch([self.vocab.encode(w) for w in words], length)
      probs, tags = self._run(ids, mask)
      for j, i in enumerate(rows):
        answers[i] = self._answer(requests[i], probs[j], tags[j, :len(words[j])])
    return answers

  def _run(self, ids: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(probs [U, C], tags [U, L])`` in chunks of :func:`_rows_per_call` rows."""
    size = _rows_per_call(len(ids))
    step = lambda chunk: _forward(self._graphdef, self._state, *chunk)
    return map_in_chunks(step, (ids, mask), size)

  def _answer(self, request, probs: np.ndarray, tag_ids: np.ndarray) -> dict[str, Any]:
    tokens, text = request["tokens"], request["text"]
    top = np.argsort(-probs, kind="stable")[:self.top_k]
    slots = []
    for label, start, end in bio_to_spans(self.tags.decode(tag_ids)):
      a, b = tokens[start].start, tokens[end - 1].end
      slots.append(dict(label=label, start=start, end=end, text=text[a:b], char_start=a,
                        char_end=b))
    return dict(text=text, tokens=[t.text for t in tokens],
                intent=self.intents.id_to_label(int(top[0])),
                confidence=round(float(probs[top[0]]), 6),
                intents=[dict(intent=self.intents.id_to_label(int(c)),
                              score=round(float(probs[c]), 6)) for c in top],
                slots=slots,
                unknown_words=[t.text for t in tokens if t.text not in self.vocab],
                truncated=max(0, len(tokens) - len(tag_ids)))
