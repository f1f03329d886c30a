"""The from-scratch baseline of ``configs/multitask_finetune.py`` (Goyal et al., 2018).

The same architecture, data and budget as the fine-tuning config (the same
``N_TRAIN`` utterances of the held-out domain, drawn with the same seed, the
same optimizer, steps and batch size), but the model starts from random
weights: no ``--pretrained``. Its vocabulary is the training subset's own; the
label sets, as in fine-tuning, are the held-out domain's (train and eval
examples), so both runs score the same labels::

  fsnlu scratch --config configs/multitask_scratch.py --workdir /tmp/scratch \
      --data-dir /work/shared/data

``:tiny`` is the baseline of ``multitask_finetune.py:tiny`` on the synthetic
"weather" domain (seconds on a CPU). The tiny fine-tuning freezes its
pretrained lower layers; freezing random layers is no baseline, so here
everything trains::

  fsnlu scratch --config configs/multitask_scratch.py:tiny --workdir /tmp/scratch_tiny

Expected: validation intent accuracy and slot F1 below those of the
fine-tuned model (``benchmarks/transfer.py`` measures the gap, the TL protocol
of EVALUATION.md).
"""

from __future__ import annotations

import importlib.util
import os

# Configs are loaded by file path, not as a package: load the sibling the same way.
_spec = importlib.util.spec_from_file_location(
    "multitask_finetune", os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                       "multitask_finetune.py"))
multitask_finetune = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(multitask_finetune)


def get_config(arg: str = "") -> dict:
  """The job config; ``arg`` as for ``multitask_finetune.py`` (``""``: HWU64, ``tiny``, ``snips``)."""
  config = multitask_finetune.get_config(arg)
  config["job"] = "scratch"
  config["optim"]["freeze"] = []
  del config["finetune"]  # nothing pretrained to keep or re-draw
  return config
