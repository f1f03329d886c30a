"""Teaching-data generation speed: our jitted constrained sampling against transformers' ``generate``.

Both sides sample one annotated utterance per LINGUIST prompt (SNIPS novel-intent
prompts: 10 seeds of each intent in turn, slot control with catalogue values)
from the same-size encoder-decoder warm-started from the same BERT checkpoint
(all-MiniLM-L6-v2), under the same output grammar (brackets, the prompt's slot
numbers, fixed values copied, each requested slot once, a length budget), in one
process, interleaved (``_harness.compare``):

* ``fsnlu_jax``: :func:`fsnlu_jax.models.warm_start_seq2seq` (BERT2BERT, shared
  embeddings, static KV cache) stepped by :func:`fsnlu_jax.kernels.sample`
  inside one ``jax.jit`` (encoder, cache set-up, sampling loop and the grammar's
  mask, :func:`fsnlu_jax.decoding.annotation_constraint`); the grammar's arrays
  are an argument of the jitted function.
* ``transformers``: ``EncoderDecoderModel.from_encoder_decoder_pretrained(ckpt,
  ckpt)`` (``BertModel`` + ``BertLMHeadModel`` with new cross-attention; its
  decoder keeps BERT's MLM head transform, one ``D x D`` layer per step more
  than ours), ``eval()`` under ``torch.inference_mode``, run by
  ``generate(do_sample=True, temperature, top_k, top_p,
  prefix_allowed_tokens_fn=...)`` with the grammar written as a GENRE user
  writes a prefix function (:class:`LinguistPeerGrammar`: the state replayed
  from the prefix, the allowed ids as a list); transformers applies it before
  temperature, top-k and top-p, as we do.

Work: both models are untrained for this task (warm start only), so their
outputs differ; each side runs until every row has finished or ``L`` tokens,
and the steps each ran are recorded with the share of outputs that honour their
prompt (all, on both sides: the grammar's job).

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


class LinguistPeerGrammar:
  """The LINGUIST output grammar as a transformers ``prefix_allowed_tokens_fn``, in Python.

  The way a GENRE user writes a constraint: the state is replayed from the
  prefix on every call (``O(t)``), and the allowed ids are returned as a list
  (in a word state, every word piece: ~29k ids, which transformers scatters
  into its mask). Same rules as :func:`fsnlu_jax.decoding.annotation_constraint`,
  length budget included, so both sides enforce one grammar.
  """

  def __init__(self, pieces, slots, *, max_length: int, samples_per_row: int = 1):
    self.word = np.flatnonzero(np.asarray(pieces.word)).tolist()
    self.cont = np.flatnonzero(np.asarray(pieces.cont)).tolist()
    self.word_set, self.cont_set = set(self.word), set(self.cont)
    self.open, self.close, self.eos = (int(pieces.open_id), int(pieces.close_id),
                                       int(pieces.eos_id))
    self.rows = []
    for b in range(np.asarray(slots.number_ids).shape[0]):
      row = []
      for s, number in enumerate(np.asarray(slots.number_ids)[b].tolist()):
        if number < 0:
          continue
        n = int(np.asarray(slots.value_len)[b, s])
        row.append(dict(number=number, required=bool(np.asarray(slots.required)[b, s]),
                        value=np.asarray(slots.value_ids)[b, s, :n].tolist()))
      self.rows.append(row)
    self.max_length = max_length
    self.per_row = samples_per_row

  def __call__(self, batch_id: int, sent) -> list[int]:
    row = self.rows[batch_id // self.per_row]
    tokens = sent.tolist()[1:]  # after the decoder start token
    mode, slot, pos, used, words, last_word = "out", None, 0, set(), 0, False
    for t in tokens:  # replay (GENRE style)
      if mode == "done":
        break
      before = mode
      if mode == "out":
        mode = "after_open" if t == self.open else "done" if t == self.eos else "out"
      elif mode == "after_open":
        # The first unused slot of the number (two when a label is requested twice).
        slot = next(i for i, r in enumerate(row) if r["number"] == t and i not in used)
        used.add(slot)
        mode, pos = ("fixed" if row[slot]["value"] else "wild_empty"), 0
      elif mode in ("wild_empty", "wild"):
        mode = "out" if t == self.close else "wild"
      elif mode == "fixed":
        if t == self.close:
          mode = "out"
        else:
          pos += 1
      piece = before != "after_open" and t not in (self.open, self.close, self.eos)
      words += piece and t in self.word_set
      last_word = piece and (t in self.word_set or t in self.cont_set)
    if mode == "done":
      return [self.eos]
    todo = sum(3 + max(len(r["value"]), 1) for i, r in enumerate(row)
               if r["required"] and i not in used)
    room = self.max_length - (len(tokens) + 1)
    free_optional = any(not r["required"] and i not in used for i, r in enumerate(row))
    out: list[int] = []
    if mode == "out":
      if todo + 1 <= room:
        out += self.word + (self.cont if last_word else [])
      if todo > 0 or (free_optional and todo + 4 <= room):
        out.append(self.open)
      if todo == 0 and words > 0:
        out.append(self.eos)
    elif mode == "after_open":
      out += [r["number"] for i, r in enumerate(row) if i not in used
              and (r["required"] or todo + 3 <= room)]
    elif mode == "wild_empty":
      out += self.word
    elif mode == "wild":
      if todo + 2 <= room:
        out += self.word + (self.cont if last_word else [])
      out.append(self.close)
    elif mode == "fixed":
      value = row[slot]["value"]
      out.append(value[pos] if pos < len(value) else self.close)
    return out


def make_grammar(prompts, tokenizer, *, length: int) -> Grammar:
  """The LINGUIST grammar of a batch of prompts: our arrays and constraint, the peer's function."""
  from fsnlu_jax.decoding import annotation_constraint  # pylint: disable=g-import-not-at-top
  from fsnlu_jax.teach import grammar as teach_grammar  # pylint: disable=g-import-not-at-top
  pieces = teach_grammar.piece_classes(tokenizer)
  slots = teach_grammar.slot_arrays(prompts, tokenizer, max_length=length)
  arrays = jax.device_put((pieces, slots))
  return Grammar(arrays=arrays,
                 constraint=lambda a: annotation_constraint(a[0], a[1], max_length=length),
                 # transformers calls it with the prompt's index as batch_id for each of
                 # its num_return_sequences samples (its processor loops over
                 # max(num_beams, num_return_sequences) rows per batch id): one row each.
                 prefix_allowed_tokens_fn=LinguistPeerGrammar(pieces, slots, max_length=length))


def source_rows(tokenizer: SubwordTokenizer, dataset: str, batch: int, seed: int):
  """``batch`` LINGUIST prompts for SNIPS-style novel intents (10 seeds of each intent in
  turn, slot control with catalogue values) and their source rows ([CLS] prompt [SEP])."""
  from fsnlu_jax import teach  # pylint: disable=g-import-not-at-top
  splits = teach.protocol_splits(dataset)
  intents = teach.target_intents(splits)[0]
  prompts = []
  for i in range(batch):
    split = teach.novel_intent_split(splits.train, intents[i % len(intents)], seed=seed)
    prompts += teach.generation_prompts(split.target, split.seeds, 1, mode="linguist", seed=i,
                                        catalogue=teach.slot_catalogue(split.train),
                                        max_examples=4, repeated_labels=False)  # as recorded
  rows = [{"ids": [101] + tokenizer.pieces(teach.render_prompt(p))[:160] + [102]}
          for p in prompts]
  return prompts, rows


def pad_rows(rows: list[dict], pad_id: int) -> tuple[np.ndarray, np.ndarray]:
  width = max(len(r["ids"]) for r in rows)
  ids = np.full((len(rows), width), pad_id, np.int64)
  for i, r in enumerate(rows):
    ids[i, :len(r["ids"])] = r["ids"]
  return ids, ids != pad_id


def make_ours(model, *, length: int, top_k: int, samples: int = 1):
  """``run(src, mask, grammar, key, temperature, top_p) -> SampleResult``, jitted: ``samples``
  draws per prompt, each prompt encoded once and its cache (and grammar row) repeated, as
  :meth:`fsnlu_jax.teach.Teacher.generate` does."""
  graphdef, state = nnx.split(model)
  c = model.config
  repeat = lambda tree: jax.tree.map(
      lambda x: x if jnp.ndim(x) == 0 else jnp.repeat(x, samples, axis=0), tree)

  def run(state, src, mask, arrays, key, temperature, top_p, constraint):
    m = nnx.merge(graphdef, state)
    cache = repeat(m.init_cache(m.encode(src, mask), mask, length))
    pieces, slots = arrays
    return sample(seq2seq_tokens_to_logits(m), cache, rng=key, batch_size=src.shape[0] * samples,
                  max_length=length, vocab_size=c.encoder.vocab_size, bos_id=c.bos_id,
                  eos_id=c.eos_id, temperature=temperature, top_k=top_k, top_p=top_p,
                  constraint=constraint((pieces, repeat(slots))))

  jitted = jax.jit(run, static_argnames=("constraint",))
  return lambda src, mask, grammar, key, temperature, top_p: jitted(
      state, src, mask, grammar.arrays, key, temperature, top_p, grammar.constraint)


def peer_generate(model, src, mask, grammar: Grammar, *, length, temperature, top_k, top_p,
                  bos_id, eos_id, pad_id, samples: int = 1):
  with torch.inference_mode():
    return model.generate(input_ids=src, attention_mask=mask, do_sample=True,
                          temperature=temperature, top_k=top_k, top_p=top_p,
                          max_new_tokens=length, use_cache=True, num_beams=1,
                          num_return_sequences=samples,
                          prefix_allowed_tokens_fn=grammar.prefix_allowed_tokens_fn,
                          decoder_start_token_id=bos_id, bos_token_id=bos_id,
                          eos_token_id=eos_id, pad_token_id=pad_id)


def check_outputs(result, peer_out, prompts, tokenizer, eos_id: int) -> dict:
  """Both sides' outputs honour their prompts (parse and slot control), and the steps each ran."""
  from fsnlu_jax.teach import FormatError, grammar as teach_grammar  # pylint: disable=g-import-not-at-top

  def ok(ids, prompt):
    try:
      teach_grammar.to_example(ids, prompt, tokenizer, eos_id=eos_id)
      return True
    except FormatError:
      return False

  lengths = np.asarray(result.lengths).tolist()
  ours = [s[:n] for s, n in zip(np.asarray(result.sequences).tolist(), lengths)]
  theirs = [s[1:] for s in peer_out.cpu().numpy().tolist()]
  theirs = [s[:s.index(eos_id) + 1] if eos_id in s else s for s in theirs]
  return {"fsnlu_jax_finished": int(np.asarray(result.finished).sum()),
          "fsnlu_jax_valid": sum(ok(s, p) for s, p in zip(ours, prompts)),
          "fsnlu_jax_steps": int(max(lengths)),
          "transformers_steps": int(peer_out.shape[1] - 1),
          "transformers_valid": sum(ok(s, p) for s, p in zip(theirs, prompts)),
          "rows": len(prompts)}


_START = time.perf_counter()


def log(message: str) -> None:
  print(f"[{time.perf_counter() - _START:7.1f}s] {message}", flush=True)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--model", default=os.path.join(
      os.environ.get("FSNLU_MODELS_DIR", "../shared/models"), "all-MiniLM-L6-v2"))
  parser.add_argument("--dataset", default="snips", choices=("snips", "hwu64"),
                      help="the novel-intent protocol's seeds make the prompts")
  parser.add_argument("--batches", default="16,64")
  parser.add_argument("--length", type=int, default=32, help="L: most tokens sampled, EOS included")
  parser.add_argument("--temperature", type=float, default=1.0)
  parser.add_argument("--top-k", type=int, default=50)
  parser.add_argument("--top-p", type=float, default=0.9)
  parser.add_argument("--samples", type=int, default=1,
                      help="draws per prompt (each prompt encoded once, as Teacher.generate and "
                      "generate(num_return_sequences=) do)")
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
  log(f"loading {args.dataset} prompts")
  tokenizer = SubwordTokenizer(pathlib.Path(args.model) / "tokenizer.json",
                               max_length=c.encoder.max_length)
  n = args.samples
  ours = make_ours(ours_model, length=args.length, top_k=args.top_k, samples=n)
  settings = dict(temperature=args.temperature, top_k=args.top_k, top_p=args.top_p)

  cases = []
  for batch in [int(b) for b in args.batches.split(",")]:
    prompts, rows = source_rows(tokenizer, args.dataset, batch, seed=0)
    grammar = make_grammar(prompts, tokenizer, length=args.length)
    src, mask = pad_rows(rows, c.pad_id)
    src_j, mask_j = jnp.asarray(src, jnp.int32), jnp.asarray(mask)
    src_t = torch.as_tensor(src).to(device)
    mask_t = torch.as_tensor(mask.astype(np.int64)).to(device)
    key = jax.random.key(0)
    contenders = {
        "fsnlu_jax": lambda: ours(src_j, mask_j, grammar, key, args.temperature, args.top_p),
        "transformers": lambda: peer_generate(
            peer_model, src_t, mask_t, grammar, length=args.length, bos_id=c.bos_id,
            eos_id=c.eos_id, pad_id=c.pad_id, samples=n, **settings),
    }
    log(f"timing B={batch} prompts x {n} samples (the first calls compile / warm up)")
    res = _harness.compare(contenders, rounds=args.rounds, warmup=args.warmup,
                           baseline="transformers")
    checks = check_outputs(contenders["fsnlu_jax"](), contenders["transformers"](),
                           [p for p in prompts for _ in range(n)], tokenizer, c.eos_id)
    case = {"batch": batch, "samples_per_prompt": n, "max_length": args.length,
            "source_length": int(src.shape[1]), "grammar": "LINGUIST annotation grammar",
            "first_call_s": res["first_call_s"], "median_s": res["median_s"],
            "samples_s": res["samples_s"],
            "utterances_per_s": {k: batch * n / v for k, v in res["median_s"].items()},
            "speedup_fsnlu_jax_over_transformers": res["ratio_vs_transformers"]["fsnlu_jax"],
            "checks": checks}
    cases.append(case)
    print(f"B={batch}x{n} L={args.length}: {_harness.summary(res)} | {checks}",
          flush=True)
  if args.out:
    path = _harness.write_result(args.out, {
        "benchmark": "teach_sampling", "grammar": "the LINGUIST annotation grammar on both sides "
        f"({args.dataset} novel-intent prompts with slot control)",
        "model": args.model, "settings": settings, "cpus": CPUS, "threads": threads,
        "jax_backend": jax.default_backend(), "torch_device": str(device),
        "definitions": {"speedup": "median over rounds of transformers_s / fsnlu_jax_s "
                                   "(= ratio of utterances/s)"},
        "cases": cases}, torch=torch)
    print(f"wrote {path}")


if __name__ == "__main__":
  main()
