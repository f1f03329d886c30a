"""The main job: FS-unseen intents with ProtoNet, ProtoDA and two baselines.

Default: the embedded synthetic corpus (24 domains, 119 intents), split by
domain 14/5/5 into train/validation/test intents; a multitask bi-LSTM encoder
(256-d sentence vectors here, for speed; 768-d on real data) trained on the
train intents; ProtoNet, ProtoNet + Gaussian noise and
ProtoDA (generator after the ProtoNet, 128-d) trained on episodes of the
train intents; all four systems (and the softmax transfer baseline) tested on
the same 5-way and all-way episodes of the test intents::

  fsnlu fewshot --config configs/fewshot.py --workdir /tmp/fewshot

A few minutes on a 2-core CPU. ``:tiny`` (seconds; what the tests run),
``:clinc150`` (by domain 6/2/2, EVALUATION.md) and ``:hwu64`` (by scenario
10/4/4) take ``--data-dir``::

  fsnlu fewshot --config configs/fewshot.py:clinc150 --workdir /tmp/fs_clinc \\
      --data-dir /work/shared/data

Expected: every few-shot system well above chance (1/N) on unseen intents;
ProtoNet above the softmax baseline at K = 5 and 10; ProtoDA's macro-F1 at or
above the Gaussian-noise baseline (the published margin is 8.4% / 12.4% fewer
F1 errors at 5 / 10 shots). See ``benchmarks/results/protoda.json`` for the
figures on real data.
"""

from __future__ import annotations

VARIANTS = ("", "tiny", "clinc150", "hwu64")
# all-MiniLM-L6-v2 on the hub; offline, pass its folder with --pretrained.
MINILM = "sentence-transformers/all-MiniLM-L6-v2"


def get_config(arg: str = "") -> dict:
  """The job config for one of :data:`VARIANTS`, optionally ``+minilm``, ``+ft``.

  ``VARIANT+minilm`` swaps the bi-LSTM for a frozen pretrained transformer
  (:data:`MINILM`, or the folder given with ``--pretrained``), e.g.
  ``configs/fewshot.py:clinc150+minilm``. ``+ft`` (``VARIANT+ft``,
  ``VARIANT+minilm+ft``) fine-tunes the encoder with the episodic loss, at
  its own learning rate (1e-4 for the bi-LSTM, 2e-5 for MiniLM), the best
  validation step kept.
  """
  arg, *options = arg.split("+")
  if arg not in VARIANTS or not set(options) <= {"minilm", "ft"}:
    raise ValueError(f"fewshot: unknown arg {arg!r}; use one of {VARIANTS}, "
                     "optionally followed by '+minilm' and/or '+ft'")
  config = _bilstm_config(arg)
  if "minilm" in options:
    config["encoder"] = dict(kind="pretrained", path=MINILM, batch_size=64, max_length=None)
  if "ft" in options:
    config["encoder"].update(finetune=True,
                             learning_rate=2e-5 if "minilm" in options else 1e-4)
  return config


def _bilstm_config(arg: str) -> dict:
  tiny = arg == "tiny"
  name = {"": "synthetic", "tiny": "synthetic", "clinc150": "clinc150",
          "hwu64": "hwu64/standard"}[arg]
  n_domains = {"": (14, 5, 5), "tiny": (14, 5, 5), "clinc150": (6, 2, 2),
               "hwu64": (10, 4, 4)}[arg]
  return dict(
      job="fewshot",
      seed=0,
      data=dict(name=name, max_length=32),
      split=dict(by="domain", n_domains=n_domains, seed=0),
      encoder=dict(
          # Real data: 2 * 384 = the 768-d sentence vector of the paper. The embedded
          # corpus uses a 256-d one so that the job takes minutes on a 2-core CPU.
          model=dict(embed_dim=16 if tiny else (64 if arg == "" else 128),
                     shared_hidden=16 if tiny else (64 if arg == "" else 128),
                     task_hidden=8 if tiny else (128 if arg == "" else 384),
                     slot_decoder="crf", dropout=0.0 if tiny else 0.2, pooling="mean"),
          optim=dict(learning_rate=1e-2 if tiny else 2e-3, freeze=[], slot_weight=0.5),
          train=dict(steps=10 if tiny else (300 if arg == "" else 1500),
                     batch_size=16 if tiny else (32 if arg == "" else 64),
                     log_every=5 if tiny else 50,
                     eval_every=10 if tiny else 300, checkpoint_every=10 if tiny else 300,
                     eval_batch_size=64 if tiny else 256),
      ),
      # A linear ProtoNet: on top of an encoder already trained on the train
      # intents, a hidden layer only fits those intents harder (validation
      # accuracy of unseen intents 0.657 with a 256-unit layer, 0.671 without).
      protonet=dict(proto_dim=8 if tiny else 128, proto_hidden=0,
                    placement="proto", n_synthetic=4 if tiny else 10,
                    noise_dim=4 if tiny else 32, generator_hidden=8 if tiny else 256,
                    metric="euclidean", scale=1.0),
      systems=["softmax", "protonet", "gaussian", "protoda"],
      gaussian_noise_scales=[0.3] if tiny else [0.1, 0.3, 1.0],
      # Training queries come from the *validation* split of the train intents:
      # the encoder has memorised their train split (episodes there are 94%
      # right after 50 steps and teach nothing about new utterances).
      episodes=dict(n_way=5, k_shot=5, q_query=5, per_step=8, query_split="validation",
                    steps=6 if tiny else (400 if arg == "" else 2000),
                    generator_warmup=2 if tiny else (150 if arg == "" else 500),
                    learning_rate=1e-3, log_every=2 if tiny else 50,
                    eval_every=3 if tiny else (100 if arg == "" else 200),
                    eval_episodes=8 if tiny else 200,
                    checkpoint_every=3 if tiny else (100 if arg == "" else 200)),
      # Every episodic system is trained with each seed and scored on the same
      # episodes: paired differences, the seeds' variance in the intervals.
      training_seeds=[0] if tiny else [0, 1, 2],
      # The penalty is per way (independent of the number of intents); 3e-3 is
      # the best of 0..0.3 on CLINC150 and HWU64 validation FS-full with frozen
      # MiniLM (benchmarks/fewshot_pretrained.py --softmax-grid), 1e-3..1e-2 within 0.1 point.
      softmax=dict(steps=20 if tiny else 100, learning_rate=0.05, weight_decay=3e-3),
      evaluation=dict(n_way=[5, "all"], k_shot=[5] if tiny else [1, 5, 10], q_query=5,
                      episodes=16 if tiny else 600, seed=1234,
                      # FS-full over the test intents: K train examples of each,
                      # scored on all their test examples, 10 samplings.
                      fs_full=dict(k_shot=[5] if tiny else [5, 10],
                                   samplings=3 if tiny else 10)),
  )
