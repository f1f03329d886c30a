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

Device and precision: JAX runs on its default backend; sentence-transformers on
``cuda`` when available (``--torch-device`` overrides), the id tensors moved
there before timing (``forward`` leaves the vectors on the device on both
sides; ``texts`` returns host arrays on both). ``--dtype bfloat16`` casts both
models' weights (inference only; the agreement tolerance becomes 5e-2).
Compile time: ``compile_s`` is each side's first call on the first batch shape
(the agreement check's), apart from ``first_call_s`` (the timed first call).

Before timing, both sides' vectors are checked to agree within 1e-4. Ratios are
the median over interleaved rounds of ``sentence-transformers time / fsnlu_jax
time`` (above 1: fsnlu_jax faster); PyTorch gets as many threads as XLA uses.

Usage::

  nice -n 19 python benchmarks/bench_encoder.py --cpus 1 --data-dir ../shared/data
  python benchmarks/bench_encoder.py --quick --out ''     # a smoke run, nothing written
  python benchmarks/bench_encoder.py --batches 128,512 --dtype bfloat16  # GPU-sized
"""

from __future__ import annotations

import argparse
import itertools
import pathlib
import statistics
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import _harness  # pylint: disable=g-import-not-at-top,wrong-import-position

# Before JAX and PyTorch start their thread pools.
CPUS = _harness.pin_cpus(_harness.cpus_from_argv(sys.argv))

# pylint: disable=g-import-not-at-top,wrong-import-position
import jax
import numpy as np
try:  # the peer
  import sentence_transformers
  import torch
except ModuleNotFoundError as error:
  _harness.peer_missing(error)

from flax import nnx

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
  device = st.device
  data = itertools.cycle([{"input_ids": torch.from_numpy(i.astype(np.int64)).to(device),
                           "attention_mask": torch.from_numpy(m.astype(np.int64)).to(device),
                           "token_type_ids": torch.zeros(i.shape, dtype=torch.int64,
                                                         device=device)}
                          for i, m in batches])

  def run():
    with torch.inference_mode():
      return st.forward(dict(next(data)))["sentence_embedding"]
  return run


def check_forward(ours, st, batches) -> tuple[float, dict[str, float]]:
  """The largest difference of the two sides' vectors on the first batch, and each
  side's first call on its shape (``compile_s``: JAX compiles there)."""
  ids, mask = batches[0]
  t0 = time.perf_counter()
  a = np.asarray(ours._encode(ids, mask), np.float32)  # pylint: disable=protected-access
  compile_s = {"jax": time.perf_counter() - t0}
  t0 = time.perf_counter()
  b = torch_forward(st, batches[:1])().float().cpu().numpy()
  compile_s["sentence_transformers"] = time.perf_counter() - t0
  return float(np.abs(a - b).max()), compile_s


def run_forward_case(ours, st, batch, length, args, rng):
  batches = make_batches(rng, args.n_batches, batch, length, ours.model.config.vocab_size)
  diff, compile_s = check_forward(ours, st, batches)
  case = dict(work="forward", batch=batch, length=length,
              mean_real_pieces=statistics.mean(float(m.sum(1).mean()) for _, m in batches),
              max_abs_diff=diff, compile_s=compile_s)
  assert case["max_abs_diff"] < args.tol, case
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


def st_texts(st, texts, batch: int) -> np.ndarray:
  """``SentenceTransformer.encode`` to one host float32 array (stacked on its device
  first: one copy back; also what makes bfloat16 vectors readable by NumPy)."""
  return st.encode(texts, batch_size=batch, convert_to_tensor=True).float().cpu().numpy()


def run_texts_case(ours, st, texts, batch, args):
  t0 = time.perf_counter()
  a = ours.embed(texts, batch_size=batch)  # compiles each bucket length
  compile_s = {"jax": time.perf_counter() - t0}
  t0 = time.perf_counter()
  b = st_texts(st, texts, batch)
  compile_s["sentence_transformers"] = time.perf_counter() - t0
  case = dict(work="texts", batch=batch, n_texts=len(texts),
              max_abs_diff=float(np.abs(a - b).max()), compile_s=compile_s)
  assert case["max_abs_diff"] < args.tol, case
  res = _harness.compare(
      {"jax": lambda: ours.embed(texts, batch_size=batch),
       "sentence_transformers": lambda: st_texts(st, texts, batch)},
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
  _harness.add_timing_args(p, inner=2, out="encoder_speed.json", dtypes=("float32", "bfloat16"))
  p.set_defaults(lengths="16,32,64")
  args = p.parse_args(argv)
  if args.quick:
    args.batches, args.lengths, args.rounds, args.n_texts = "32", "16", 3, 128
  args.tol = 1e-4 if args.dtype == "float32" else 5e-2
  threads = _harness.match_torch_threads(torch)
  device = _harness.torch_device(torch, args.torch_device)
  ours = SentenceEncoder.from_pretrained(args.model)
  st = sentence_transformers.SentenceTransformer(args.model, device=str(device)).eval()
  if args.dtype != "float32":
    graphdef, state = nnx.split(ours.model)
    cast = jax.tree.map(lambda w: w.astype(_harness.jax_dtype(args.dtype)), state)
    ours = SentenceEncoder(nnx.merge(graphdef, cast), ours.tokenizer)
    st = st.to(_harness.torch_dtype(torch, args.dtype))
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
        "jax_backend": jax.default_backend(), "torch_device": str(device), "dtype": args.dtype,
        "agreement_tolerance": args.tol,
        "rounds": args.rounds, "inner": args.inner,
        "sentence_transformers": sentence_transformers.__version__,
        "ratio_definition": "median over rounds of sentence_transformers_s / jax_s (>1: jax faster)",
        "median_jax_speedup": headline, "target": "parity on CPU: jax_speedup >= 1",
        "cases": cases}, torch=torch)
    print(f"wrote {path}")


if __name__ == "__main__":
  main()
