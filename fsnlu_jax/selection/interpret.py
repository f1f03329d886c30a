"""``fsnlu explain``: integrated-gradients word scores of a trained multitask model for one utterance.

What the command prints and renders: per-word attributions to the top intents'
probabilities, or to each token's predicted tag
(:func:`fsnlu_jax.explain.token_attributions`).
"""

from __future__ import annotations

import os
import pathlib
from typing import Any

import numpy as np

from fsnlu_jax import explain, transfer
from fsnlu_jax.data import LabelVocab, pad_batch, tokenize


def explain_utterance(workdir: str | os.PathLike, text: str, *, target: str = "intent",
                      label: str | None = None, top: int = 2, steps: int = 64
                      ) -> dict[str, Any]:
  """IG word scores of a trained model's outputs for one utterance.

  Args:
    workdir: a multitask job's workdir (``fsnlu pretrain``/``scratch``, or a
      selection run's ``base/``).
    text: the utterance (tokenised and lower-cased as the datasets are).
    target: ``"intent"``: one row per explained intent, the ``top`` most
      probable and ``label`` if given; ``"slot"``: one row per token, its
      predicted tag.
    label: an intent to explain besides the top ones (e.g. the right one).
    top: how many of the most probable intents to explain.
    steps: IG steps.

  Returns:
    ``words``, ``unknown`` (words outside the vocabulary), ``intent``,
    ``confidence``, ``tags``, ``rows`` (row labels) and ``scores`` ``[Y, Lw]``:
    each row's attributions to the output's probability.
  """
  workdir = pathlib.Path(workdir)
  model, vocab = transfer.load_model(workdir)
  intents, tags = (LabelVocab.load(workdir / f) for f in ("intents.json", "tags.json"))
  words = tokenize(text)
  if not words:
    raise ValueError(f"nothing to explain: {text!r} has no words")
  ids, mask = pad_batch([vocab.encode(words)], len(words))
  intent, probs, tag_ids = transfer.predict_probabilities(model, 1)(ids, mask)
  if target == "intent":
    chosen = [] if label is None else [intents.encode(label)]
    chosen += [int(i) for i in np.argsort(-probs[0], kind="stable")[:top] if int(i) not in chosen]
    rows = [f"{intents.id_to_label(i)} (p={probs[0, i]:.2f})" for i in chosen]
    tgt = explain.intent_target(np.array(chosen), output="probability")
  elif target == "slot":
    chosen = tag_ids[0].tolist()
    rows = [f"{w}: {tags.id_to_label(t)}" for w, t in zip(words, chosen)]
    tgt = explain.slot_target(np.array(chosen), np.arange(len(words)), output="probability")
  else:
    raise ValueError(f"target must be 'intent' or 'slot', got {target!r}")
  n = len(chosen)
  att = explain.token_attributions(model, np.repeat(ids, n, 0), np.repeat(mask, n, 0), tgt,
                                   steps=steps)
  return dict(words=words, unknown=[w for w in words if w not in vocab],
              intent=intents.id_to_label(int(intent[0])), confidence=float(probs[0].max()),
              tags=tags.decode(tag_ids[0]), rows=rows, scores=np.asarray(att.scores).tolist())
