"""A few-shot intent classifier from your own labelled file (SetFit recipe, in JAX).

``ARG`` is the file: JSON lines (``{"text": ..., "label": ...}`` per line) or
CSV with a ``text,label`` header. The encoder is all-MiniLM-L6-v2 (hub name;
offline, give its folder with ``--set encoder.path=DIR``)::

  fsnlu fewshot-classifier --config configs/fewshot_classifier.py:my_intents.csv \\
      --workdir runs/my_classifier --set encoder.path=../shared/models/all-MiniLM-L6-v2

Writes ``runs/my_classifier/classifier/`` (format: :mod:`fsnlu_jax.fewshot.classifier`),
loadable with ``fsnlu_jax.fewshot.load_classifier``. About a minute per 100
examples on a 2-core CPU (5 positive and 5 negative pairs per example, 16
pairs per step). ``:tiny`` trains a few steps (the tests).
"""

from __future__ import annotations

MINILM = "sentence-transformers/all-MiniLM-L6-v2"


def get_config(arg: str = "") -> dict:
  """The job config; ``arg``: ``FILE`` or ``tiny:FILE``."""
  tiny = arg.startswith("tiny:")
  path = arg.removeprefix("tiny:")
  if not path:
    raise ValueError("fewshot_classifier: give the labelled file, "
                     "e.g. configs/fewshot_classifier.py:my_intents.csv")
  return dict(
      job="fewshot_classifier",
      data=dict(train_file=path),
      encoder=dict(path=MINILM, max_length=None),
      # SetFit's defaults but num_iterations (20 there): 5 pairs of each sign
      # per example keeps a 77-intent 10-shot set under half an hour on a CPU.
      contrastive=dict(iterations=1 if tiny else 5, batch_size=16, learning_rate=2e-5,
                       max_steps=2 if tiny else None, seed=0, head_steps=100,
                       head_learning_rate=0.05, head_penalty=1e-2),
  )
