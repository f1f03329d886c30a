"""Fine-tunes a pretrained multitask bi-LSTM on a new domain (Goyal et al., 2018).

The pretrained lower layers (embeddings, shared bi-LSTM, task bi-LSTMs) are
kept, the output layers are drawn afresh for the new domain's intents and
tags, and the pretrained vocabulary is extended with the new domain's training
words (new embedding rows; the pretrained rows are kept as they are).

Default: the HWU64 scenario held out by ``configs/multitask_pretrain.py``,
``N_TRAIN`` utterances drawn from folds 1-9, evaluated on its part of fold 10::

  fsnlu finetune --config configs/multitask_finetune.py --workdir /tmp/ft \
      --pretrained /tmp/pre --data-dir /work/shared/data

``:tiny`` fine-tunes the tiny pretrained model on the synthetic "weather"
domain with the lower layers frozen (seconds on a CPU)::

  fsnlu finetune --config configs/multitask_finetune.py:tiny --workdir /tmp/ft_tiny \
      --pretrained /tmp/pre_tiny

``:snips`` fine-tunes ``multitask_pretrain.py:snips`` on the held-out SNIPS
domain (``BookRestaurant``: one intent, so slot F1 is the measure).

Expected: validation intent accuracy and slot F1 of the new domain above those
of the same model trained from scratch on the same ``N_TRAIN`` utterances.
"""

from __future__ import annotations

import importlib.util
import os

# Configs are loaded by file path, not as a package: load the sibling the same way.
_spec = importlib.util.spec_from_file_location(
    "multitask_pretrain", os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                       "multitask_pretrain.py"))
multitask_pretrain = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(multitask_pretrain)

N_TRAIN = 50  # labelled utterances of the new domain


def get_config(arg: str = "") -> dict:
  """The job config; ``arg`` is one of ``multitask_pretrain.VARIANTS`` (``""``: HWU64)."""
  if arg not in multitask_pretrain.VARIANTS:
    raise ValueError(f"multitask_finetune: unknown arg {arg!r}; use one of "
                     f"{multitask_pretrain.VARIANTS}")
  tiny = arg == "tiny"
  config = multitask_pretrain.get_config(arg)
  heldout = {"tiny": multitask_pretrain.TINY_HELDOUT, "snips": multitask_pretrain.SNIPS_HELDOUT
             }.get(arg, multitask_pretrain.HELDOUT)
  config["job"] = "finetune"
  config["data"].update(domains=[heldout], exclude_domains=[], max_train=40 if tiny else N_TRAIN)
  config["optim"].update(learning_rate=1e-2 if tiny else 1e-3,
                         # Tiny freezes the lower layers so a test can check they stay put.
                         freeze=["embedder", "shared"] if tiny else [])
  config["train"].update(steps=10 if tiny else 500, batch_size=16,
                         log_every=2 if tiny else 25, eval_every=5 if tiny else 100,
                         checkpoint_every=5 if tiny else 100)
  # The pretrained vocabulary plus the new domain's training words; new rows start
  # at the mean pretrained word vector (chosen on HWU64/SNIPS validation, see
  # benchmarks/transfer.py --select).
  config["finetune"] = dict(reinit_task_lstms=False, extend_vocab=True, new_rows="mean",
                            min_count=1)
  return config
