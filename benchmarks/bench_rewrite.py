"""Constrained rewriting speed: trie-constrained beam search against transformers' GENRE pattern.

Both sides decode the same inputs with an encoder-decoder of the same sizes and
random weights, in one process, interleaved (``_harness.compare``):

* ``fsnlu_jax``: :class:`fsnlu_jax.models.Rewriter` (pre-LN, tied embeddings,
  static KV cache) stepped by :func:`fsnlu_jax.kernels.beam_search` inside one
  ``jax.jit`` (encoder, search and trie mask included), the trie
  (:func:`fsnlu_jax.decoding.build_trie`, arrays) passed as an argument and
  applied by :func:`fsnlu_jax.decoding.trie_constraint`;
* ``transformers``: ``BartForConditionalGeneration`` built from a ``BartConfig``
  of the same ``D``, heads, layers, ``F``, ``V`` and positions, random weights,
  ``eval()`` under ``torch.inference_mode``, run by ``generate(num_beams=W,
  prefix_allowed_tokens_fn=...)`` where the function walks a GENRE-layout
  nested-dict trie (``{token: {token: ...}}``, De Cao et al. 2021) from the
  decoder prefix and returns the allowed ids. BART is post-LN, with learned
  positions offset by 2 and a ``layernorm_embedding``: the math differs from
  the rewriter's, the sizes and FLOPs per step are the same (plus a few layer
  norms), which is what speed depends on;
* ``transformers_constrained_vectorised``: the same ``generate``, constrained
  instead by the fastest PyTorch pattern: a logits processor over a trie held
  as sorted tensors on the peer's device (``_torch_trie.TorchTrie``), every
  beam's state found by ``searchsorted`` walks and the allowed-token mask built
  by one scatter for all beams (no Python per beam).

Device: JAX runs on its default backend; BART, its inputs and the tensor trie on
``cuda`` when available (``--torch-device`` overrides); outputs stay on the
device on both sides. float32 only (beam scores accumulate log-probabilities).

Equal work on both sides. The utterances are the Zipfian synthetic ones of
``bench_trie.py`` but of one fixed length, ``L - 1`` tokens (+ EOS = ``L``):
every trie path then ends exactly at step ``L``, so a constrained search runs
exactly ``L`` steps on both sides whatever the random weights prefer (with
ragged lengths the two random models would stop at different steps).
Unconstrained runs also decode exactly ``L`` steps: EOS is suppressed
(``fsnlu_jax``: the EOS logit set to -1e9 in ``tokens_to_logits``, so nothing
finishes and the loop runs to ``L``; ``transformers``: ``min_new_tokens=L``,
``max_new_tokens=L``). Both compute the encoder once per call, cache the
decoder's self-attention keys/values and the cross-attention keys/values.

Reported per case (batch ``B``, beams ``W``, trie size): medians over
interleaved rounds of each call; ``constraint_overhead`` per system (median over
rounds of constrained / unconstrained seconds, same round); ``speedup`` (median
of transformers_s / fsnlu_jax_s in the constrained and unconstrained modes, =
the ratio of sequences/s); first call (compile) apart; build time and memory
of both tries (array bytes; RSS growth of the dict trie).

Usage::

  nice -n 19 /work/venv_peers/bin/python benchmarks/bench_rewrite.py --cpus 1
  python benchmarks/bench_rewrite.py --sizes 1000,100000 --batches 32,128 --beams 4,8  # GPU
  /work/venv_peers/bin/python benchmarks/bench_rewrite.py --quick --out ''   # smoke run
"""

from __future__ import annotations

import argparse
import gc
import os
import pathlib
import statistics
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import _harness  # pylint: disable=g-import-not-at-top,wrong-import-position
import _torch_trie  # pylint: disable=g-import-not-at-top,wrong-import-position

CPUS = _harness.pin_cpus(_harness.cpus_from_argv(sys.argv))

# pylint: disable=g-import-not-at-top,wrong-import-position
import jax
import jax.numpy as jnp
import numpy as np
try:  # the peer
  import torch
  import transformers
except ModuleNotFoundError as error:
  _harness.peer_missing(error)
from flax import nnx

from fsnlu_jax.decoding import build_trie, trie_constraint
from fsnlu_jax.kernels import beam_search, expand_to_beams
from fsnlu_jax.models import Rewriter, RewriterConfig, tokens_to_logits_fn
# pylint: enable=g-import-not-at-top,wrong-import-position

VOCAB, PAD, BOS, EOS, FIRST_TOKEN = 30_000, 0, 2, 3, 4
MODELS = {
    # RewriterConfig's defaults (what a config would use) with the 30k vocabulary.
    "d256_l3": dict(d_model=256, n_heads=4, n_encoder_layers=3, n_decoder_layers=3, d_ff=1024),
    # A smaller one: the constraint's share of a step grows as the model shrinks.
    "d128_l2": dict(d_model=128, n_heads=2, n_encoder_layers=2, n_decoder_layers=2, d_ff=512),
}


def zipf_utterances(rng: np.random.Generator, num: int, length: int) -> list[list[int]]:
  """``num`` utterances of ``length`` Zipfian ids in [4, V) (``bench_trie.synthetic``'s
  distribution, one fixed length); duplicates are redrawn so ``num`` are distinct."""
  p = 1.0 / np.arange(1, VOCAB - FIRST_TOKEN + 1)
  p /= p.sum()
  rows = np.empty((0, length), np.int64)
  while rows.shape[0] < num:
    new = FIRST_TOKEN + rng.choice(VOCAB - FIRST_TOKEN, size=(num - rows.shape[0], length), p=p)
    rows = np.unique(np.concatenate([rows, new]), axis=0)
  rows = rows[rng.permutation(rows.shape[0])]
  return rows.tolist()


class GenreTrie:
  """GENRE's ``Trie`` layout (a nested dict of token ids; De Cao et al. 2021), walked
  iteratively (GENRE recurses; iterating is faster, so this favours the peer)."""

  def __init__(self, sequences):
    self.trie_dict = {}
    for seq in sequences:
      node = self.trie_dict
      for token in seq:
        node = node.setdefault(token, {})
      node.setdefault(EOS, {})

  def get(self, prefix):
    node = self.trie_dict
    for token in prefix:
      node = node.get(token)
      if node is None:
        return []
    return list(node)


def rss_bytes() -> int:
  with open("/proc/self/statm") as f:
    return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class TrieLogitsProcessor(transformers.LogitsProcessor):
  """Tokens outside the tensor trie get ``-inf``, all beams at once (the decoder ids
  after the start token are the prefix, as in the GENRE function)."""

  def __init__(self, trie: _torch_trie.TorchTrie):
    self.trie = trie

  def __call__(self, input_ids, scores):
    allowed = self.trie.allowed(self.trie.walk(input_ids[:, 1:]))
    return scores.masked_fill(~allowed, -float("inf"))


def build_tries(sequences, device):
  """The three tries and their build cost."""
  t0 = time.perf_counter()
  arrays = build_trie(sequences, vocab_size=VOCAB, eos_id=EOS)
  arrays_s = time.perf_counter() - t0
  gc.collect()
  before = rss_bytes()
  t0 = time.perf_counter()
  genre = GenreTrie(sequences)
  genre_s = time.perf_counter() - t0
  genre_mib = (rss_bytes() - before) / 2**20
  t0 = time.perf_counter()
  tensors = _torch_trie.TorchTrie(torch, sequences, vocab_size=VOCAB, eos_id=EOS, device=device)
  tensors_s = time.perf_counter() - t0
  assert tensors.num_states == arrays.num_states, (tensors.num_states, arrays.num_states)
  stats = {"utterances": len(sequences), "trie_states": arrays.num_states,
           "fsnlu_jax_build_s": arrays_s, "fsnlu_jax_array_mib": arrays.nbytes / 2**20,
           "genre_dict_build_s": genre_s, "genre_dict_rss_growth_mib": genre_mib,
           "torch_tensor_trie_build_s": tensors_s, "torch_tensor_trie_mib": tensors.nbytes / 2**20}
  return jax.device_put(arrays), (genre, tensors), stats


def make_fsnlu(cfg: RewriterConfig, beams: int, length: int):
  """``decode(state, src, mask, trie | None) -> BeamResult``, jitted (graphdef static)."""
  graphdef, state = nnx.split(Rewriter(cfg, rngs=nnx.Rngs(0)))

  def decode(state, src, mask, trie):
    model = nnx.merge(graphdef, state)
    batch = src.shape[0]
    encoded = model.encode(src, mask)
    step = tokens_to_logits_fn(model, *expand_to_beams((encoded, mask), beams))
    if trie is None:  # no constraint: suppress EOS so that all L steps run, as transformers'
      inner = step     # min_new_tokens does on the other side
      step = lambda t, c, i: (lambda lg, c2: (lg.at[:, EOS].set(-1e9), c2))(*inner(t, c, i))
    constraint = None if trie is None else trie_constraint(trie, vocab_size=cfg.vocab_size)
    return beam_search(step, model.init_cache(batch * beams, length), batch_size=batch,
                       beam_size=beams, max_length=length, vocab_size=cfg.vocab_size,
                       bos_id=BOS, eos_id=EOS, alpha=0.6, constraint=constraint)

  jitted = jax.jit(decode)
  return lambda src, mask, trie=None: jitted(state, src, mask, trie)


def make_bart(cfg: RewriterConfig):
  config = transformers.BartConfig(
      vocab_size=cfg.vocab_size, d_model=cfg.d_model, encoder_layers=cfg.n_encoder_layers,
      decoder_layers=cfg.n_decoder_layers, encoder_attention_heads=cfg.n_heads,
      decoder_attention_heads=cfg.n_heads, encoder_ffn_dim=cfg.d_ff, decoder_ffn_dim=cfg.d_ff,
      max_position_embeddings=max(cfg.max_source_len, cfg.max_target_len),
      activation_function="gelu", dropout=0.0, attention_dropout=0.0, activation_dropout=0.0,
      pad_token_id=PAD, bos_token_id=BOS, eos_token_id=EOS, decoder_start_token_id=BOS,
      forced_bos_token_id=None, forced_eos_token_id=None, tie_word_embeddings=True)
  torch.manual_seed(0)
  return transformers.BartForConditionalGeneration(config).eval()


def bart_generate(model, src, mask, *, beams, length, genre=None, tensor_trie=None):
  kwargs = dict(num_beams=beams, num_return_sequences=1, do_sample=False, max_new_tokens=length,
                length_penalty=0.6, early_stopping=False, use_cache=True)
  if tensor_trie is not None:
    kwargs["logits_processor"] = transformers.LogitsProcessorList(
        [TrieLogitsProcessor(tensor_trie)])
  elif genre is None:
    kwargs["min_new_tokens"] = length
  else:  # the GENRE pattern: the decoder prefix, minus its start token, walked in the trie
    kwargs["prefix_allowed_tokens_fn"] = lambda batch_id, sent: genre.get(sent.tolist()[1:])
  with torch.inference_mode():
    return model.generate(input_ids=src, attention_mask=mask, **kwargs)


def check_outputs(result, hf_out, hf_vectorised_out, sequences_set, length):
  """Constrained outputs are stored utterances and exactly ``L`` tokens on every side;
  both PyTorch constraints give the same sequences (same model, same mask)."""
  seqs = np.asarray(result.sequences[:, 0])
  ours = [tuple(s[:length - 1].tolist()) for s in seqs]
  hf = [tuple(s[1:length].tolist()) for s in hf_out.cpu().numpy()]
  hf_v = [tuple(s[1:length].tolist()) for s in hf_vectorised_out.cpu().numpy()]
  return {"fsnlu_jax_all_finished_len_L": bool(np.all(np.asarray(result.lengths[:, 0]) == length)),
          "fsnlu_jax_in_trie": all(s in sequences_set for s in ours),
          "transformers_steps": int(hf_out.shape[1] - 1),
          "transformers_in_trie": all(s in sequences_set for s in hf),
          "transformers_vectorised_steps": int(hf_vectorised_out.shape[1] - 1),
          "transformers_vectorised_same_as_genre": hf == hf_v}


def run_case(name, cfg, fsnlu, bart, trie, peer_tries, sequences_set, *, batch, beams, length,
             src_len, args, rng):
  genre, tensor_trie = peer_tries
  device = tensor_trie.device
  src_np = rng.integers(FIRST_TOKEN, VOCAB, size=(batch, src_len))
  src_j, mask_j = jnp.asarray(src_np, jnp.int32), jnp.ones((batch, src_len), bool)
  src_t = torch.as_tensor(src_np).to(device)
  mask_t = torch.ones((batch, src_len), dtype=torch.long, device=device)
  fs = fsnlu[beams]
  contenders = {
      "fsnlu_jax_constrained": lambda: fs(src_j, mask_j, trie),
      "fsnlu_jax_unconstrained": lambda: fs(src_j, mask_j),
      "transformers_constrained": lambda: bart_generate(bart, src_t, mask_t, beams=beams,
                                                        length=length, genre=genre),
      "transformers_constrained_vectorised": lambda: bart_generate(
          bart, src_t, mask_t, beams=beams, length=length, tensor_trie=tensor_trie),
      "transformers_unconstrained": lambda: bart_generate(bart, src_t, mask_t, beams=beams,
                                                          length=length, genre=None),
  }
  res = _harness.compare(contenders, rounds=args.rounds, warmup=args.warmup)
  checks = check_outputs(fs(src_j, mask_j, trie), contenders["transformers_constrained"](),
                         contenders["transformers_constrained_vectorised"](), sequences_set,
                         length)
  checks["transformers_unconstrained_steps"] = int(contenders["transformers_unconstrained"]().shape[1] - 1)
  s = res["samples_s"]
  per_round = lambda a, b: statistics.median(x / y for x, y in zip(s[a], s[b]))
  case = {
      "model": name, "batch": batch, "beams": beams, "max_length": length, "source_length": src_len,
      "trie_utterances": len(sequences_set), "first_call_s": res["first_call_s"],
      "median_s": res["median_s"], "samples_s": s,
      "sequences_per_s": {k: batch / v for k, v in res["median_s"].items()},
      "constraint_overhead": {
          "fsnlu_jax": per_round("fsnlu_jax_constrained", "fsnlu_jax_unconstrained"),
          "transformers": per_round("transformers_constrained", "transformers_unconstrained"),
          "transformers_vectorised": per_round("transformers_constrained_vectorised",
                                               "transformers_unconstrained")},
      "speedup_fsnlu_jax_over_transformers": {
          "constrained": per_round("transformers_constrained", "fsnlu_jax_constrained"),
          "constrained_vs_vectorised_trie": per_round("transformers_constrained_vectorised",
                                                      "fsnlu_jax_constrained"),
          "unconstrained": per_round("transformers_unconstrained", "fsnlu_jax_unconstrained")},
      "checks": checks}
  ov, sp = case["constraint_overhead"], case["speedup_fsnlu_jax_over_transformers"]
  print(f"{name} U={len(sequences_set)} B={batch} W={beams}: "
        + " ".join(f"{k}={1e3 * v:.0f}ms" for k, v in res["median_s"].items())
        + f" | overhead jax={ov['fsnlu_jax']:.3f}x hf={ov['transformers']:.3f}x"
        + f" hf_vectorised={ov['transformers_vectorised']:.3f}x"
        + f" | speedup c={sp['constrained']:.2f}x c_vec={sp['constrained_vs_vectorised_trie']:.2f}x"
        + f" u={sp['unconstrained']:.2f}x | {checks}",
        flush=True)
  return case


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--models", default="d256_l3,d128_l2")
  parser.add_argument("--sizes", default="1000,10000,100000,1000000",
                      help="trie sizes swept at the first batch and beam")
  parser.add_argument("--batches", default="8,32")
  parser.add_argument("--beams", default="4,8")
  parser.add_argument("--length", type=int, default=16, help="L: tokens emitted, EOS included")
  parser.add_argument("--source-length", type=int, default=16)
  parser.add_argument("--rounds", type=int, default=5)
  parser.add_argument("--warmup", type=int, default=1)
  parser.add_argument("--cpus", type=int, default=None)
  _harness.add_device_args(parser)
  parser.add_argument("--quick", action="store_true", help="1k utterances, one case, 2 rounds")
  parser.add_argument("--out", default="rewrite_speed.json", help="file in results/; '' for none")
  args = parser.parse_args()
  if args.quick:
    args.models, args.sizes, args.batches, args.beams, args.rounds = "d256_l3", "1000", "8", "4", 2
  sizes = [int(x) for x in args.sizes.split(",")]
  batches = [int(x) for x in args.batches.split(",")]
  beams_list = [int(x) for x in args.beams.split(",")]
  threads = _harness.match_torch_threads(torch)
  device = _harness.torch_device(torch, args.torch_device)
  rng = np.random.default_rng(0)
  sequences = zipf_utterances(rng, max(sizes), args.length - 1)
  # The trie-size sweep runs at (first batch, first beam); the batch x beam grid at the largest trie.
  plan = [(size, batches[0], beams_list[0]) for size in sizes[:-1]]
  plan += [(sizes[-1], b, w) for b in batches for w in beams_list]
  models = {}
  for name in args.models.split(","):
    cfg = RewriterConfig(vocab_size=VOCAB, dropout=0.0, max_source_len=max(64, args.source_length),
                         max_target_len=max(32, args.length), **MODELS[name])
    models[name] = (cfg, {w: make_fsnlu(cfg, w, args.length) for w in beams_list},
                    make_bart(cfg).to(device))
  builds, cases = [], []
  for size in sizes:
    trie, peer_tries, stats = build_tries(sequences[:size], device)
    builds.append(stats)
    print(f"tries {size}: {stats}", flush=True)
    sequences_set = set(map(tuple, sequences[:size]))
    for name, (cfg, fsnlu, bart) in models.items():
      for _, batch, beams in [p for p in plan if p[0] == size]:
        cases.append(run_case(name, cfg, fsnlu, bart, trie, peer_tries, sequences_set, batch=batch,
                              beams=beams, length=args.length, src_len=args.source_length,
                              args=args, rng=rng))
    del trie, peer_tries, sequences_set
    gc.collect()
  if args.out:
    path = _harness.write_result(args.out, {
        "benchmark": "rewrite", "vocab": VOCAB, "utterance_tokens": args.length - 1,
        "token_distribution": "zipf 1/rank, distinct utterances, fixed length L-1 (+EOS = L)",
        "cpus": CPUS, "threads": threads, "models": {k: MODELS[k] for k in models},
        "jax_backend": jax.default_backend(), "torch_device": str(device),
        "transformers": transformers.__version__,
        "equal_work": "both sides decode exactly L steps: constrained, every trie path is L tokens "
                      "with EOS; unconstrained, EOS suppressed (fsnlu_jax: EOS logit -1e9; "
                      "transformers: min_new_tokens=L)",
        "definitions": {"constraint_overhead": "median over rounds of constrained_s / "
                                               "unconstrained_s, per system",
                        "speedup": "median over rounds of transformers_s / fsnlu_jax_s "
                                   "(= ratio of sequences/s)"},
        "builds": builds, "cases": cases}, torch=torch)
    print(f"wrote {path}")


if __name__ == "__main__":
  main()
