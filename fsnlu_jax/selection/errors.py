"""A model's errors and their integrated-gradients attributions.

Shapes: ``U`` rows of the encoded split, ``L`` padded length, ``X`` errors
(faults) of one kind.

References:
  "Improving Large-Scale Conversational Assistants using Model Interpretation
  based Training Sample Selection", EMNLP 2022 (industry track).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from fsnlu_jax import explain, models
from fsnlu_jax.data import EncodedSplit, Example, LabelVocab
from fsnlu_jax.selection.config import IGConfig
from fsnlu_jax.train import map_in_chunks


def find_errors(enc: EncodedSplit, intent_pred: np.ndarray, tags_pred: np.ndarray,
                targets: Sequence[str]) -> dict[str, dict[str, np.ndarray]]:
  """The wrong outputs on ``enc``: ``{kind: {row, position, gold, pred}}`` (``[X]`` each).

  ``intent``: utterances with a wrong intent (position 0); ``slot``: tokens
  with a wrong tag. Gold labels outside the inventory (-1) are not errors.
  """
  out = {}
  if "intent" in targets:
    rows = np.flatnonzero((enc.intent >= 0) & (intent_pred != enc.intent))
    out["intent"] = dict(row=rows, position=np.zeros_like(rows), gold=enc.intent[rows],
                         pred=intent_pred[rows])
  if "slot" in targets:
    rows, pos = np.nonzero(enc.mask & (enc.slots >= 0) & (tags_pred != enc.slots))
    out["slot"] = dict(row=rows, position=pos, gold=enc.slots[rows, pos],
                       pred=tags_pred[rows, pos])
  return out


def subsample_errors(errors: Mapping[str, np.ndarray], max_errors: int | None,
                     rng: np.random.Generator) -> dict[str, np.ndarray]:
  """At most ``max_errors`` of ``errors``, drawn by ``rng`` (in their order); None keeps all."""
  n = len(errors["row"])
  if max_errors is None or n <= max_errors:
    return dict(errors)
  keep = np.sort(rng.choice(n, max_errors, replace=False))
  return {k: v[keep] for k, v in errors.items()}


def _target(kind: str, labels: np.ndarray, positions: np.ndarray, output: str):
  if kind == "intent":
    return explain.intent_target(labels, output=output)
  return explain.slot_target(labels, positions, output=output)


def attribute_errors(model: models.MultitaskBiLSTM, enc: EncodedSplit, kind: str,
                     errors: Mapping[str, np.ndarray], ig: IGConfig
                     ) -> tuple[np.ndarray, np.ndarray]:
  """IG token scores ``[X, L]`` toward each error's predicted and gold output.

  Errors go in chunks of ``ig.batch_size`` (:func:`fsnlu_jax.train.map_in_chunks`),
  so the attribution compiles once per kind.
  """
  if not len(errors["row"]):
    return np.zeros((0, enc.length), np.float32), np.zeros((0, enc.length), np.float32)

  def attribute(chunk):
    ids, mask = enc.token_ids[chunk["row"]], enc.mask[chunk["row"]]
    return tuple(explain.token_attributions(
        model, ids, mask, _target(kind, chunk[which], chunk["position"], ig.output),
        steps=ig.steps, chunk_size=ig.chunk_size).scores for which in ("pred", "gold"))

  return map_in_chunks(attribute, dict(errors), ig.batch_size,
                       desc=f"IG attribution ({kind} errors)")


def error_records(kind: str, errors: Mapping[str, np.ndarray], enc: EncodedSplit,
                  harm: np.ndarray, examples: Sequence[Example], labels: LabelVocab
                  ) -> list[dict]:
  """One ``errors.jsonl`` record per error: the utterance, labels, most harmful words.

  Args:
    harm: ``[X, L]`` each error's token harm
      (:func:`fsnlu_jax.explain.error_token_influence`).
    examples: the examples ``enc`` encodes.
    labels: the intents (``kind="intent"``) or the tags.
  """
  out = []
  for e, (r, p, g, q) in enumerate(zip(errors["row"], errors["position"], errors["gold"],
                                       errors["pred"])):
    ex = examples[enc.index[r]]
    words = ex.tokens[:enc.length]
    top = np.argsort(-harm[e, :len(words)], kind="stable")[:3]
    out.append(dict(kind=kind, source=ex.source, text=ex.text, position=int(p),
                    gold=labels.id_to_label(int(g)), pred=labels.id_to_label(int(q)),
                    harmful_words=[[words[t], round(float(harm[e, t]), 5)] for t in top]))
  return out
