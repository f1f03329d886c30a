"""The CLASP student: a semantic parser of PIZZA orders, warm-started from all-MiniLM-L6-v2.

An encoder-decoder whose encoder and decoder both start from the checkpoint's
layers (Rothe et al. 2020) learns utterance -> EXR tree from a seeded subset
of PIZZA's 348 dev parses (CLASP's few-shot setting: 16), keeps the checkpoint
of lowest NLL on 32 other dev rows, and is scored on the 1357 test rows with
beam search under the tree grammar (every output a well-formed tree)::

  fsnlu parse --config parse --workdir /tmp/parser --data-dir /work/shared/data
  fsnlu parse --config parse --set data.train_size=None --workdir /tmp/parser348 ...
  fsnlu parse --config parse --set data.subset_seed=1 --workdir /tmp/parser_s1 ...
  fsnlu parse --checkpoint /tmp/parser "large pizza with ham and two cokes"

``:teacher`` is the CLASP teacher, the same model trained tree -> utterance with
its values as placeholders (``fsnlu clasp --teacher DIR`` samples it)::

  fsnlu parse --config parse:teacher --set data.extra_train=runs/rs.jsonl --workdir /tmp/teacher ...

``:tiny`` trains one decoder layer for 4 steps on the dataset's first rows
(tests point ``model.checkpoint`` at a tiny random BERT folder and
``--data-dir`` at hand-made PIZZA files): its trees mean nothing beyond being
well formed.
"""


def get_config(arg: str = "") -> dict:
  """The job config; ``arg`` is ``""`` (CPU scale, 16 examples), ``"teacher"`` or ``"tiny"``."""
  if arg not in ("", "teacher", "tiny"):
    raise ValueError(f"parse: unknown arg {arg!r}; use '', 'teacher' or 'tiny'")
  config = dict(
      job="parse", seed=0,
      data=dict(dataset="pizza", train_split="dev", test_split="test", train_size=16,
                subset_seed=0, validation_size=32, test_size=None, schema_from_split=True,
                copy_labels=[], max_source_len=64, max_target_len=128),
      # CPU scale, as the teacher: 3 decoder blocks, the encoder's top 2 trained, tables frozen.
      model=dict(checkpoint="all-MiniLM-L6-v2", decoder_layers=3, train_encoder_layers=2,
                 train_embeddings=False),
      optim=dict(learning_rate=2e-4, warmup_steps=30, end_factor=0.05, weight_decay=0.01,
                 clip_norm=1.0, label_smoothing=0.1),
      # 1000 steps (~15 min on 2 cores): all 348 examples parse 73% of the test set at 1000
      # steps and 6% at 200 (benchmarks/results/clasp.json); 16 examples need ~100.
      train=dict(steps=1000, batch_size=16, log_every=25, eval_every=50, checkpoint_every=50),
      # Values grounded in the utterance, every mentioned one written, none more often than
      # it is mentioned, no beam led into a dead end, a row whose 4 beams all die tried
      # again with 16 (ParserDecodeConfig).
      decode=dict(beam_size=4, alpha=0.6, max_length=128, batch_size=32, max_depth=6,
                  grounded_values=True, cover_mentions=True, cap_mentions=True,
                  prune_dead_ends=True, fallback_beam_size=16))
  if arg == "teacher":
    config = teacher(config)
    config["train"].update(steps=500)  # the 16 seeds' frames are learnt by then (~15 min)
    return config
  if arg == "tiny":
    config["data"].update(train_size=4, validation_size=2, test_size=None,
                          max_source_len=32, max_target_len=32)
    config["model"].update(decoder_layers=1, train_encoder_layers=None, train_embeddings=True)
    config["optim"].update(warmup_steps=1)
    config["train"].update(steps=3, batch_size=8, log_every=1, eval_every=3, checkpoint_every=3)
    config["decode"].update(beam_size=2, max_length=48, batch_size=4,
                            fallback_beam_size=0)  # speed; tests/parse checks the wide retry
  return config


def teacher(config: dict) -> dict:
  """``config`` as the CLASP teacher: tree -> utterance with placeholders for the values.

  Trees are longer than utterances (<= 119 pieces in PIZZA), utterances <= 49.
  A teacher is sampled from, so no label smoothing (its uniform mass becomes
  noise words when sampling) and the last step is kept: the lowest NLL on other
  utterances picked an under-trained teacher (step 100 of 500, measured).
  """
  config["data"].update(direction="generate", placeholders=True, max_source_len=128,
                        max_target_len=64, validation_size=0)
  config["optim"].update(label_smoothing=0.0)
  return config
