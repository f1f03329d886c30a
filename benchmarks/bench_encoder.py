"""Sentence-encoding speed: fsnlu_jax's Flax BERT against sentence-transformers.

The same checkpoint (``all-MiniLM-L6-v2`` from ``../shared/models``) on both
sides, float32, inference only. Two units of work:

* ``forward``: one batch of word-piece ids ``[B, L]`` (lengths drawn uniform in
  ``[4, L]``, right-padded) to L2-normalised mean-pooled sentence vectors:
  :class:`fsnlu_jax.models.BertEncoder` ``.encode`` under ``jax.jit`` against
  ``SentenceTransformer.forward`` under ``torch.inference_mode`` (the model as
  transformers loads it by default).
* ``texts``: ``P`` real utterances (CLINC150's test split) from strings to
  vectors, tokenisation included: :meth:`fsnlu_jax.models.SentenceEncoder.embed`
  (length-sorted batches padded to buckets) against
  ``SentenceTransformer.encode`` (length-sorted batches padded to their longest).

Before timing, both sides' vectors are checked to agree within 1e-4. Ratios are
the median over interleaved rounds of ``sentence-transformers time / fsnlu_jax
time`` (above 1: fsnlu_jax faster); PyTorch gets as many threads as XLA uses.

Usage::

  nice -n 19 python benchmarks/bench_encoder.py --cpus 1 --data-dir ../shared/data
  python benchmarks/bench_encoder.py --quick --out ''     # a smoke run, nothing written
"""

from __future__ import annotations

import argparse
import itertools
import pathlib
import statistics
import sys
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import _harness  # pylint: disable=g-import-not-at-top,wrong-import-position

# Before JAX and PyTorch start their thread pools.
CPUS = _harness.pin_cpus(_harness.cpus_from_argv(sys.argv))

# pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np
try:  # the peer
  import sentence_transformers
  import torch
except ModuleNotFoundError as error:
  _harness.peer_missing(error)

from fsnlu_jax.data import loading
from fsnlu_jax.models import SentenceEncoder
# pylint: enable=g-import-not-at-top,wrong-import-position

MIN_LENGTH = 4
ROOT = pathlib.Path(__file__).resolve().parents[1]


def make_batches(rng: np.random.Generator, n: int, batch: int, length: int, vocab: int):
  """``n`` batches ``(ids [B, L] int32, mask [B, L] bool)``: [CLS] pieces [SEP], then padding."""
  out = []
  for _ in range(n):
    lengths = rng.integers(MIN_LENGTH, length + 1, size=batch)
    mask = np.arange(length)[None, :] < lengths[:, None]
    ids = np.where(mask, rng.integers(1000, vocab, size=(batch, length)), 0)
    ids[:, 0] = 101
    ids[np.arange(batch), lengths - 1] = 102
    out.append((ids.astype(np.int32), mask))
  return out


def jax_forward(ours: SentenceEncoder, batches):
  data = itertools.cycle(batches)
  return lambda: ours._encode(*next(data))  # pylint: disable=protected-access


def torch_forward(st, batches):
  data = itertools.cycle([{"input_ids": torch.from_numpy(i.astype(np.int64)),
                           "attention_mask": torch.from_numpy(m.astype(np.int64)),
                           "token_type_ids": torch.zeros(i.shape, dtype=torch.int64)}
                          for i, m in batches])

  def run():
    with torch.inference_mode():
      return st.forward(dict(next(data)))["sentence_embedding"]
  return run


def check_forward(ours, st, batches) -> float:
  ids, mask = batches[0]
  a = np.asarray(ours._encode(ids, mask))  # pylint: disable=protected-access
  b = torch_forward(st, batches[:1])().numpy()
  return float(np.abs(a - b).max())


def run_forward_case(ours, st, batch, length, args, rng):
  batches = make_batches(rng, args.n_batches, batch, length, ours.model.config.vocab_size)
  case = dict(work="forward", batch=batch, length=length,
              mean_real_pieces=statistics.mean(float(m.sum(1).mean()) for _, m in batches),
              max_abs_diff=check_forward(ours, st, batches))
  assert case["max_abs_diff"] < 1e-4, case
  res = _harness.compare({"jax": jax_forward(ours, batches),
                          "sentence_transformers": torch_forward(st, batches)},
                         rounds=args.rounds, inner=args.inner, warmup=args.warmup,
                         baseline="jax")
  res["jax_speedup"] = 1.0 / res.pop("ratio_vs_jax")["sentence_transformers"]
  res["jax_sentences_per_s"] = batch / res["median_s"]["jax"]
  res["st_sentences_per_s"] = batch / res["median_s"]["sentence_transformers"]
  case.update(res)
  print(f"forward B={batch} L={length}: jax {res['jax_sentences_per_s']:.0f}/s "
        f"sentence-transformers {res['st_sentences_per_s']:.0f}/s "
        f"-> jax speed-up {res['jax_speedup']:.2f}x", flush=True)
  return case


def run_texts_case(ours, st, texts, batch, args):
  a = ours.embed(texts, batch_size=batch)
  b = st.encode(texts, batch_size=batch, convert_to_numpy=True)
  case = dict(work="texts", batch=batch, n_texts=len(texts),
              max_abs_diff=float(np.abs(a - b).max()))
  assert case["max_abs_diff"] < 1e-4, case
  res = _harness.compare(
      {"jax": lambda: ours.embed(texts, batch_size=batch),
       "sentence_transformers": lambda: st.encode(texts, batch_size=batch,
                                                  convert_to_numpy=True)},
      rounds=args.rounds, inner=1, warmup=1, baseline="jax")
  res["jax_speedup"] = 1.0 / res.pop("ratio_vs_jax")["sentence_transformers"]
  res["jax_sentences_per_s"] = len(texts) / res["median_s"]["jax"]
  res["st_sentences_per_s"] = len(texts) / res["median_s"]["sentence_transformers"]
  case.update(res)
  print(f"texts P={len(texts)} B={batch}: jax {res['jax_sentences_per_s']:.0f}/s "
        f"sentence-transformers {res['st_sentences_per_s']:.0f}/s "
        f"-> jax speed-up {res['jax_speedup']:.2f}x", flush=True)
  return case


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--model", default=str(ROOT.parent / "shared" / "models" / "all-MiniLM-L6-v2"))
  p.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
  p.add_argument("--batches", default="32,128")
  p.add_argument("--n-texts", type=int, default=1024)
  _harness.add_timing_args(p, inner=2, out="encoder_speed.json")
  p.set_defaults(lengths="16,32,64")
  args = p.parse_args(argv)
  if args.quick:
    args.batches, args.lengths, args.rounds, args.n_texts = "32", "16", 3, 128
  threads = _harness.match_torch_threads(torch)
  ours = SentenceEncoder.from_pretrained(args.model)
  st = sentence_transformers.SentenceTransformer(args.model, device="cpu").eval()
  rng = np.random.default_rng(0)
  cases = [run_forward_case(ours, st, b, n, args, rng) for b in map(int, args.batches.split(","))
           for n in map(int, args.lengths.split(","))]
  with tempfile.TemporaryDirectory() as cache:
    test = loading.load("clinc150", splits=["test"], data_dir=args.data_dir, cache_dir=cache,
                        progress=False)["test"]
  texts = [e.text for e in test[:args.n_texts]]
  cases += [run_texts_case(ours, st, texts, b, args) for b in map(int, args.batches.split(","))]
  headline = {work: statistics.median(c["jax_speedup"] for c in cases if c["work"] == work)
              for work in ("forward", "texts")}
  print("median JAX speed-up: " + " ".join(f"{k} {v:.2f}x" for k, v in headline.items()))
  if args.out:
    path = _harness.write_result(args.out, {
        "benchmark": "sentence_encoder", "model": args.model, "threads": threads, "cpus": CPUS,
        "rounds": args.rounds, "inner": args.inner,
        "sentence_transformers": sentence_transformers.__version__,
        "ratio_definition": "median over rounds of sentence_transformers_s / jax_s (>1: jax faster)",
        "median_jax_speedup": headline, "target": "parity on CPU: jax_speedup >= 1",
        "cases": cases}, torch=torch)
    print(f"wrote {path}")


if __name__ == "__main__":
  main()
