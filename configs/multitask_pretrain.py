"""Pretrains the multitask bi-LSTM on mature domains (Goyal et al., 2018).

Default: HWU64 cross-validation data, intents and slots of every scenario but
the held-out one (:data:`HELDOUT`), trained on folds 1-9 and validated on fold
10; ``configs/multitask_finetune.py`` then moves the model to the held-out
scenario::

  fsnlu pretrain --config configs/multitask_pretrain.py --workdir /tmp/pre \
      --data-dir /work/shared/data

``:tiny`` trains a small model for 20 steps on four domains of the embedded
synthetic corpus (seconds on a CPU; what the tests run)::

  fsnlu pretrain --config configs/multitask_pretrain.py:tiny --workdir /tmp/pre_tiny

``:snips`` pretrains on six of the seven SNIPS domains (each intent is its own
domain), keeping :data:`SNIPS_HELDOUT` back for ``multitask_finetune.py:snips``::

  fsnlu pretrain --config configs/multitask_pretrain.py:snips --workdir /tmp/pre_snips \
      --data-dir /work/shared/data

Expected: the training loss falls; on HWU64 the validation intent accuracy of
the 17 pretraining scenarios ends well above chance (1/~60).
"""

from __future__ import annotations

HELDOUT = "transport"  # the HWU64 scenario kept back for fine-tuning
TINY_DOMAINS = ("alarm", "timer", "music", "lights")
TINY_HELDOUT = "weather"
SNIPS_HELDOUT = "BookRestaurant"  # the SNIPS domain (= intent) kept back for fine-tuning
VARIANTS = ("", "tiny", "snips")


def get_config(arg: str = "") -> dict:
  """The job config; ``arg`` is one of :data:`VARIANTS` (``""``: HWU64)."""
  if arg not in VARIANTS:
    raise ValueError(f"multitask_pretrain: unknown arg {arg!r}; use one of {VARIANTS}")
  if arg == "snips":
    config = get_config("")
    config["data"].update(name="snips", train_splits=["train"], eval_split="validation",
                          exclude_domains=[SNIPS_HELDOUT])
    return config
  tiny = arg == "tiny"
  folds = [f"fold_{k}" for k in range(1, 10)]
  return dict(
      job="pretrain",
      seed=0,
      data=dict(
          name="synthetic/tiny" if tiny else "hwu64/crossval",
          train_splits=["train"] if tiny else folds,
          eval_split="validation" if tiny else "fold_10",
          domains=list(TINY_DOMAINS) if tiny else None,  # None: every domain
          exclude_domains=[] if tiny else [HELDOUT],
          max_train=None,  # None: every example left after the filters
          max_length=32,
      ),
      model=dict(
          embed_dim=16 if tiny else 300,
          shared_hidden=16 if tiny else 256,
          task_hidden=16 if tiny else 384,
          slot_decoder="crf",
          dropout=0.0 if tiny else 0.2,
          pooling="final",
          # Training-time rate of replacing a word by <unk> (trains the <unk> row); 0 off.
          # SNIPS validation (benchmarks/transfer.py --split validation) did not favour 0.1.
          word_dropout=0.0,
      ),
      optim=dict(learning_rate=1e-2 if tiny else 1e-3, freeze=[], slot_weight=1.0),
      train=dict(
          steps=20 if tiny else 4000,
          batch_size=16 if tiny else 64,
          log_every=2 if tiny else 50,
          eval_every=10 if tiny else 500,
          checkpoint_every=10 if tiny else 500,
          eval_batch_size=64 if tiny else 256,
      ),
  )
