"""CGF query rewriting (Ahmadvand et al., EMNLP 2022 industry) on SNIPS + HWU64.

Rewrite pairs come from simulated users and a seeded recognition-error model
over real SNIPS and HWU64 utterances (:mod:`fsnlu_jax.data.rewrite`). A small
transformer rewriter is trained on CPU, then decoded in the global trie, the
user's personal trie, both (preference rule) and unconstrained, against a
character n-gram retrieval baseline; thresholds are chosen on validation::

  fsnlu rewrite --config configs/rewrite.py --workdir /tmp/rewrite \
      --data-dir /work/shared/data
  fsnlu rewrite --checkpoint /tmp/rewrite --user 3 "play alien bridges"

``:tiny`` uses the embedded ``synthetic`` corpus, 20 users and 6 training
steps (seconds; for tests): its numbers mean nothing. ``:contextual`` (or
``:tiny,contextual``) draws the previous turn from the request (the
contextual simulation of :mod:`fsnlu_jax.data.rewrite`: rephrases, follow-ups,
failed repeats, confusables and cut-offs); the figures below are of the
independent one. The word-level rewriter copies source words (a
pointer-generator, ``model.copy``, the default since stop 22): on the contextual
simulation (3 seeds, README) copying adds about 10 F1 points to the constrained
systems, and with it the ``fused_*`` systems (retrieval and generation ranked
together) are the first above retrieval; on the independent one it lifts CGF
with both tries from F1 0.635 to 0.673. ``:nocopy`` gives the rewriter without
copying (stop 5's table); ``:copy`` is accepted and changes nothing (commands of
earlier results name it).

``:subword`` (and ``:tiny,subword``) is the sub-word rewriter
(:mod:`fsnlu_jax.rewrite.subword`): word pieces, an encoder-decoder
warm-started from all-MiniLM-L6-v2 (3 decoder blocks, the encoder's top 2
trained, tables frozen), best validation NLL kept; lengths in pieces (the
global trie's utterances: mean 8.7 pieces, 99% within 20). Tests point
``model.checkpoint`` at a tiny random BERT folder with MiniLM's tokenizer::

  fsnlu rewrite --config rewrite:subword --workdir /tmp/rewrite_subword \
      --set model.checkpoint=/work/shared/models/all-MiniLM-L6-v2

Expected (default, 3 training seeds, ~28 min each on 2 busy CPU cores; README
"Constrained query rewriting"): on 1000 test pairs of held-out users, no
constrained output outside the tries (0.000, vs 0.774 unconstrained); precision /
recall at validation thresholds: both tries 0.816 / 0.572, personal 0.899 /
0.397, global 0.576 / 0.258, unconstrained 0.248 / 0.159; retrieval with both
tries 0.889 / 0.739, fused (retrieval and generation) 0.892 / 0.754.
"""


def get_config(arg: str = "") -> dict:
  """The job config; ``arg`` is comma-separated flags: ``tiny`` (the embedded corpus, seconds),
  ``subword`` (the warm-started sub-word rewriter), ``nocopy`` (the word-level rewriter
  without copying source words, ``model.copy``; ``copy``: the default, accepted),
  ``contextual`` (the contextual simulation, ``data.simulation``; the default is the
  independent one); ``""``: SNIPS + HWU64 at CPU scale, word level with copying,
  independent simulation."""
  flags = set(filter(None, arg.split(",")))
  known = {"tiny", "subword", "contextual", "copy", "nocopy"}
  if not flags <= known or {"copy", "nocopy"} <= flags:
    raise ValueError(f"rewrite: unknown arg {arg!r}; use comma-separated flags from "
                     f"{sorted(known)} ('copy' and 'nocopy' exclude each other)")
  config = dict(
      job="rewrite", seed=0,
      data=dict(datasets=["snips", "hwu64"], n_users=1000, pairs_per_user=40,
                history_size=40, max_source_len=40, max_target_len=20,
                max_eval_pairs=1000,
                simulation="contextual" if "contextual" in flags else "independent", seed=0),
      model=dict(d_model=128, n_heads=4, n_encoder_layers=2, n_decoder_layers=2, d_ff=512,
                 dropout=0.1),
      optim=dict(learning_rate=2e-3, warmup_steps=150, end_factor=0.05, weight_decay=0.01,
                 clip_norm=1.0, label_smoothing=0.0),
      train=dict(steps=1800, batch_size=64, log_every=50, eval_every=1000,
                 checkpoint_every=500),
      decode=dict(beam_size=4, alpha=0.6, batch_size=100, objective="f1", recall_floor=0.5))
  # The word-level rewriter copies source words (pointer-generator): it was not even
  # copying clean requests without (README, issue 18).
  config["model"]["copy"] = "nocopy" not in flags
  if "subword" in flags:
    # CPU scale, as the teacher (configs/teach.py): the checkpoint's first 3 blocks as the
    # decoder, the encoder's top 2 blocks trained, the shared tables frozen.
    config["data"].update(max_source_len=48, max_target_len=24)
    config["model"] = dict(kind="subword", checkpoint="all-MiniLM-L6-v2", n_decoder_layers=3,
                           train_encoder_layers=2, train_embeddings=False)
    config["optim"].update(learning_rate=2e-4, warmup_steps=100)
    config["train"].update(steps=1500, batch_size=32, eval_every=250, checkpoint_every=250)
  if "tiny" in flags:
    config["data"].update(datasets=["synthetic"], n_users=20, pairs_per_user=8, history_size=10,
                          max_source_len=32, max_target_len=16, max_eval_pairs=16)
    if "subword" in flags:
      config["model"].update(n_decoder_layers=1, train_encoder_layers=1)
    else:
      config["model"].update(d_model=16, n_heads=2, n_encoder_layers=1, n_decoder_layers=1,
                             d_ff=32)
    config["train"].update(steps=6, batch_size=16, log_every=3, eval_every=6,
                           checkpoint_every=3)
    config["optim"].update(warmup_steps=2)
    config["decode"].update(beam_size=2, batch_size=16)
    if "subword" in flags:  # one checkpoint: orbax saves cost more than these steps
      config["train"].update(checkpoint_every=6)
  return config
