"""Teaching-data generation speed: our jitted constrained sampling against transformers' generate.

SKELETON (issue: teaching via data). The grammar both sides enforce is a
stand-in until the LINGUIST output grammar exists: a trie over the word-piece
ids of real utterances. Plug the real grammar in at :func:`make_grammar` (one
function returns both sides' constraint); nothing else changes.

Both sides sample one output per source row from the same-size encoder-decoder
warm-started from the same BERT checkpoint (all-MiniLM-L6-v2), in one process,
interleaved (``_harness.compare``):

* ``fsnlu_jax``: :func:`fsnlu_jax.models.warm_start_seq2seq` (BERT2BERT, shared
  embeddings, static KV cache) stepped by :func:`fsnlu_jax.kernels.sample`
  inside one ``jax.jit`` (encoder, cache set-up, sampling loop and constraint
  mask included); the grammar's arrays are an argument of the jitted function.
* ``transformers``: ``EncoderDecoderModel.from_encoder_decoder_pretrained(ckpt,
  ckpt)`` (``BertModel`` + ``BertLMHeadModel`` with new cross-attention; its
  decoder keeps BERT's MLM head transform, one ``D x D`` layer per step more
  than ours), ``eval()`` under ``torch.inference_mode``, run by
  ``generate(do_sample=True, temperature, top_k, top_p,
  prefix_allowed_tokens_fn=...)``; transformers applies the prefix constraint
  (a logits processor) before temperature, top-k and top-p (warpers): the same
  order as ours.

Equal work: the stand-in trie holds utterances of exactly ``L - 1`` pieces, so
every sampled output is ``L`` tokens with EOS on both sides (checked), whatever
the (untrained) cross-attention prefers.

Reported: medians over interleaved rounds, utterances per second, the median
over rounds of the per-round ratio (transformers_s / fsnlu_jax_s), first calls
(compile) apart, the checks.

Usage::

  nice -n 19 /work/venv_bench_peers/bin/python benchmarks/bench_teach_sampling.py --cpus 1
  /work/venv_bench_peers/bin/python benchmarks/bench_teach_sampling.py --quick --out ''  # smoke
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
import time
from typing import Any, Callable, NamedTuple

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import _harness  # pylint: disable=g-import-not-at-top,wrong-import-position

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

from fsnlu_jax.data import loading
from fsnlu_jax.data.subword import SubwordTokenizer
from fsnlu_jax.decoding import build_trie, trie_constraint
from fsnlu_jax.kernels import Constraint, sample
from fsnlu_jax.models import seq2seq_tokens_to_logits, warm_start_seq2seq
# pylint: enable=g-import-not-at-top,wrong-import-position


class Grammar(NamedTuple):
  """The output grammar, as each side enforces it.

  Attributes:
    arrays: device arrays (a pytree), an argument of our jitted sampler (so a
      new grammar of the same shapes reuses the compiled code).
    constraint: ``arrays -> Constraint``, called inside the jitted sampler
      (state leaves ``[B, 1, ...]``; row ``b`` may use its own part of ``arrays``).
    prefix_allowed_tokens_fn: transformers' ``(batch_id, decoder ids [t]) ->
      allowed ids`` (the ids start with the decoder start token).
  """

  arrays: Any
  constraint: Callable[[Any], Constraint]
  prefix_allowed_tokens_fn: Callable[[int, Any], list[int]]


class GenreTrie:
  """GENRE's nested-dict trie (De Cao et al. 2021), walked iteratively."""

  def __init__(self, sequences, eos_id: int):
    self.root = {}
    for seq in sequences:
      node = self.root
      for token in seq:
        node = node.setdefault(token, {})
      node.setdefault(eos_id, {})

  def get(self, prefix) -> list[int]:
    node = self.root
    for token in prefix:
      node = node.get(token)
      if node is None:
        return []
    return list(node)


def make_grammar(rows: list[dict], *, targets: list[list[int]], vocab_size: int,
                 eos_id: int) -> Grammar:
  """THE HOOK: the grammar of a batch of ``rows`` (one dict per source row).

  Stand-in: every row may write any of ``targets`` (piece ids without specials),
  a trie on our side, GENRE's dict on the peer's. The LINGUIST grammar replaces
  this body: per row, brackets balanced, only that prompt's slot numbers, fixed
  values copied, each requested slot once (build its arrays from ``rows``; the
  peer's function reads ``batch_id`` to find its row).
  """
  del rows  # one grammar for all rows in the stand-in
  trie = jax.device_put(build_trie(targets, vocab_size=vocab_size, eos_id=eos_id))
  genre = GenreTrie(targets, eos_id)
  return Grammar(arrays=trie,
                 constraint=lambda arrays: trie_constraint(arrays, vocab_size=vocab_size),
                 prefix_allowed_tokens_fn=lambda batch_id, sent: genre.get(sent.tolist()[1:]))


def source_rows(tokenizer: SubwordTokenizer, texts: list[str], batch: int, rng) -> list[dict]:
  """``batch`` source rows: text and piece ids ([CLS] ... [SEP]). Stand-in prompts: the
  utterances themselves (the LINGUIST prompt builder goes here)."""
  picked = [texts[i] for i in rng.choice(len(texts), batch, replace=False)]
  return [{"text": t, "ids": ids} for t, (ids, _) in zip(picked, tokenizer.encode(picked))]


def pad_rows(rows: list[dict], pad_id: int) -> tuple[np.ndarray, np.ndarray]:
  width = max(len(r["ids"]) for r in rows)
  ids = np.full((len(rows), width), pad_id, np.int64)
  for i, r in enumerate(rows):
    ids[i, :len(r["ids"])] = r["ids"]
  return ids, ids != pad_id


def make_ours(model, *, length: int, top_k: int):
  """``run(src, mask, grammar, key, temperature, top_p) -> SampleResult``, jitted."""
  graphdef, state = nnx.split(model)
  c = model.config

  def run(state, src, mask, arrays, key, temperature, top_p, constraint):
    m = nnx.merge(graphdef, state)
    cache = m.init_cache(m.encode(src, mask), mask, length)
    return sample(seq2seq_tokens_to_logits(m), cache, rng=key, batch_size=src.shape[0],
                  max_length=length, vocab_size=c.encoder.vocab_size, bos_id=c.bos_id,
                  eos_id=c.eos_id, temperature=temperature, top_k=top_k, top_p=top_p,
                  constraint=constraint(arrays))

  jitted = jax.jit(run, static_argnames=("constraint",))
  return lambda src, mask, grammar, key, temperature, top_p: jitted(
      state, src, mask, grammar.arrays, key, temperature, top_p, grammar.constraint)


def peer_generate(model, src, mask, grammar: Grammar, *, length, temperature, top_k, top_p,
                  bos_id, eos_id, pad_id):
  with torch.inference_mode():
    return model.generate(input_ids=src, attention_mask=mask, do_sample=True,
                          temperature=temperature, top_k=top_k, top_p=top_p,
                          max_new_tokens=length, use_cache=True, num_beams=1,
                          prefix_allowed_tokens_fn=grammar.prefix_allowed_tokens_fn,
                          decoder_start_token_id=bos_id, bos_token_id=bos_id,
                          eos_token_id=eos_id, pad_token_id=pad_id)


def check_outputs(result, peer_out, allowed: set, length: int) -> dict:
  """Both sides' outputs are grammar paths of exactly ``L`` tokens (equal work)."""
  ours = [tuple(s[:n - 1]) for s, n in zip(np.asarray(result.sequences).tolist(),
                                           np.asarray(result.lengths).tolist())]
  theirs = [tuple(s[1:length]) for s in peer_out.cpu().numpy().tolist()]
  return {"fsnlu_jax_all_finished_len_L": bool((np.asarray(result.lengths) == length).all()),
          "fsnlu_jax_in_grammar": all(s in allowed for s in ours),
          "transformers_steps": int(peer_out.shape[1] - 1),
          "transformers_in_grammar": all(s in allowed for s in theirs),
          "distinct_outputs": {"fsnlu_jax": len(set(ours)), "transformers": len(set(theirs))}}


_START = time.perf_counter()


def log(message: str) -> None:
  print(f"[{time.perf_counter() - _START:7.1f}s] {message}", flush=True)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--model", default=os.path.join(
      os.environ.get("FSNLU_MODELS_DIR", "../shared/models"), "all-MiniLM-L6-v2"))
  parser.add_argument("--dataset", default="snips", help="utterances for prompts and the trie")
  parser.add_argument("--batches", default="16,64")
  parser.add_argument("--length", type=int, default=14, help="L: tokens sampled, EOS included")
  parser.add_argument("--temperature", type=float, default=1.0)
  parser.add_argument("--top-k", type=int, default=50)
  parser.add_argument("--top-p", type=float, default=0.9)
  parser.add_argument("--rounds", type=int, default=5)
  parser.add_argument("--warmup", type=int, default=1)
  parser.add_argument("--cpus", type=int, default=None)
  _harness.add_device_args(parser)
  parser.add_argument("--quick", action="store_true", help="one batch of 8, 2 rounds")
  parser.add_argument("--out", default="teach_sampling.json", help="file in results/; '' for none")
  args = parser.parse_args()
  if args.quick:
    args.batches, args.rounds, args.warmup = "8", 2, 0
  threads = _harness.match_torch_threads(torch)
  device = _harness.torch_device(torch, args.torch_device)
  rng = np.random.default_rng(0)

  log("loading both models")
  ours_model = warm_start_seq2seq(args.model, max_target_len=args.length, rngs=nnx.Rngs(0))
  c = ours_model.config
  torch.manual_seed(0)
  peer_model = transformers.EncoderDecoderModel.from_encoder_decoder_pretrained(
      args.model, args.model).to(device).eval()
  log(f"loading {args.dataset}")
  tokenizer = SubwordTokenizer(pathlib.Path(args.model) / "tokenizer.json",
                               max_length=c.encoder.max_length)
  texts = [e.text for e in loading.load(args.dataset, splits=["train"])["train"]]
  pieces = [ids[1:-1] for ids, _ in tokenizer.encode(texts)]  # without [CLS], [SEP]
  targets = sorted({tuple(p) for p in pieces if len(p) == args.length - 1})
  if not targets:
    raise SystemExit(f"no {args.dataset} utterance has exactly {args.length - 1} pieces")
  allowed = set(targets)
  log(f"{len(targets)} grammar paths of {args.length - 1} pieces")
  ours = make_ours(ours_model, length=args.length, top_k=args.top_k)
  settings = dict(temperature=args.temperature, top_k=args.top_k, top_p=args.top_p)

  cases = []
  for batch in [int(b) for b in args.batches.split(",")]:
    rows = source_rows(tokenizer, texts, batch, rng)
    grammar = make_grammar(rows, targets=[list(t) for t in targets],
                           vocab_size=c.encoder.vocab_size, eos_id=c.eos_id)
    src, mask = pad_rows(rows, c.pad_id)
    src_j, mask_j = jnp.asarray(src, jnp.int32), jnp.asarray(mask)
    src_t = torch.as_tensor(src).to(device)
    mask_t = torch.as_tensor(mask.astype(np.int64)).to(device)
    key = jax.random.key(0)
    contenders = {
        "fsnlu_jax": lambda: ours(src_j, mask_j, grammar, key, args.temperature, args.top_p),
        "transformers": lambda: peer_generate(
            peer_model, src_t, mask_t, grammar, length=args.length, bos_id=c.bos_id,
            eos_id=c.eos_id, pad_id=c.pad_id, **settings),
    }
    log(f"timing B={batch} (the first calls compile / warm up)")
    res = _harness.compare(contenders, rounds=args.rounds, warmup=args.warmup,
                           baseline="transformers")
    checks = check_outputs(contenders["fsnlu_jax"](), contenders["transformers"](), allowed,
                           args.length)
    case = {"batch": batch, "max_length": args.length, "grammar_paths": len(targets),
            "first_call_s": res["first_call_s"], "median_s": res["median_s"],
            "samples_s": res["samples_s"],
            "utterances_per_s": {k: batch / v for k, v in res["median_s"].items()},
            "speedup_fsnlu_jax_over_transformers": res["ratio_vs_transformers"]["fsnlu_jax"],
            "checks": checks}
    cases.append(case)
    print(f"B={batch} L={args.length} paths={len(targets)}: {_harness.summary(res)} | {checks}",
          flush=True)
  if args.out:
    path = _harness.write_result(args.out, {
        "benchmark": "teach_sampling", "grammar": "STAND-IN: trie over piece ids of "
        f"{args.dataset} train utterances of exactly L-1 pieces (not the LINGUIST grammar)",
        "model": args.model, "settings": settings, "cpus": CPUS, "threads": threads,
        "jax_backend": jax.default_backend(), "torch_device": str(device),
        "definitions": {"speedup": "median over rounds of transformers_s / fsnlu_jax_s "
                                   "(= ratio of utterances/s)"},
        "cases": cases}, torch=torch)
    print(f"wrote {path}")


if __name__ == "__main__":
  main()
