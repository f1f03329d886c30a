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

A file in a public dataset's own format, 10 examples per intent (the first in
file order) taken from its full training file::

  fsnlu fewshot-classifier --config fewshot_classifier:banking77:DATA/banking77/train.csv ...
  fsnlu fewshot-classifier --config fewshot_classifier:slurp:DATA/slurp/devel.jsonl ...

``banking77:`` reads BANKING77's ``text,category`` CSV (77 intents); ``slurp:``
SLURP's JSON lines (``sentence``, ``intent``: scenario_action; any of its
files: the shared copy holds ``devel.jsonl`` and ``test.jsonl``). Change the shots with ``--set data.per_label=N``; then evaluate with
``fsnlu predict --checkpoint DIR --input`` on the test file's texts.
"""

from __future__ import annotations

MINILM = "sentence-transformers/all-MiniLM-L6-v2"


# The fields of a dataset's own file format, and the examples kept per intent.
FORMATS = {
    "banking77": dict(text_field="text", label_field="category", per_label=10),
    "slurp": dict(text_field="sentence", label_field="intent", per_label=10),
}


def get_config(arg: str = "") -> dict:
  """The job config; ``arg``: ``FILE``, ``tiny:FILE`` or ``FORMAT:FILE`` (:data:`FORMATS`)."""
  prefix, _, rest = arg.partition(":")
  tiny = prefix == "tiny"
  fields = dict(FORMATS.get(prefix, {}))
  path = rest if (tiny or fields) else arg
  if not path:
    raise ValueError("fewshot_classifier: give the labelled file, "
                     "e.g. configs/fewshot_classifier.py:my_intents.csv")
  return dict(
      job="fewshot_classifier",
      data=dict(train_file=path, **fields),
      encoder=dict(path=MINILM, max_length=None),
      # SetFit's defaults but num_iterations (20 there): 1 pair of each sign per
      # example, chosen on HWU64 validation (10-shot: 1 -> 81.6%, 2 -> 80.8%,
      # 5 -> 79.2%; more pairs over-fit the shots), and the head's per-way
      # penalty of the fair softmax, chosen on CLINC150/HWU64 validation
      # (benchmarks/results/fewshot_pretrained_contrastive.json).
      contrastive=dict(iterations=1, batch_size=16, learning_rate=2e-5,
                       max_steps=2 if tiny else None, seed=0, head_steps=100,
                       head_learning_rate=0.05, head_penalty=3e-3),
  )
