"""Linear-chain CRF speed: fsnlu_jax kernels against pytorch-crf's ``CRF``.

Two units of work, same emissions, tags, masks and parameters in both:

* ``loglik_grad``: the summed log-likelihood of the gold tags and its gradient
  with respect to the emissions, transitions, start and end scores
  (``jax.value_and_grad`` of :func:`fsnlu_jax.kernels.crf_log_likelihood`,
  jitted; ``CRF.forward(..., reduction="sum").backward()``);
* ``decode``: the Viterbi path per row, delivered on the host
  (:func:`fsnlu_jax.kernels.viterbi_decode`, jitted, then ``np.asarray`` of the
  tags; ``CRF.decode``, which returns Python lists from a per-row Python
  backtrace, under ``torch.no_grad``); beside it ``torch_viterbi``, the
  batch-vectorised Viterbi a PyTorch user would write in eager mode (a ``[B, T,
  T]`` max per step, backpointers kept, a vectorised backtrace, tags copied to
  the host as one ``[B, L]`` array).

Device: JAX runs on its default backend; pytorch-crf and the vectorised Viterbi
on ``cuda`` when available (``--torch-device`` overrides), emissions and the
module moved there before timing; decoded tags come back to the host on every
side (the unit of work). float32 only: the log-space recursions are not safe
in bfloat16.

Lengths are drawn uniform in ``[4, L]``, right-padded (pytorch-crf needs the
first position real). Ratios are the median over interleaved rounds of
``pytorch-crf time / fsnlu_jax time`` (above 1: fsnlu_jax faster). PyTorch gets
as many threads as XLA uses (``_harness``).

Usage::

  nice -n 19 python benchmarks/bench_crf.py --cpus 1   # writes results/crf_speed.json
  python benchmarks/bench_crf.py --quick --out ''      # a smoke run, nothing written
  python benchmarks/bench_crf.py --batches 256,2048 --lengths 32 # GPU-sized
"""

from __future__ import annotations

import argparse
import itertools
import pathlib
import statistics
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import _harness  # pylint: disable=g-import-not-at-top,wrong-import-position

# Before JAX and PyTorch start their thread pools.
CPUS = _harness.pin_cpus(_harness.cpus_from_argv(sys.argv))

# pylint: disable=g-import-not-at-top,wrong-import-position
import jax
import jax.numpy as jnp
import numpy as np
try:  # the peer
  import torch
  import torchcrf
except ModuleNotFoundError as error:
  _harness.peer_missing(error)

from fsnlu_jax.data.arrays import pad_batch
from fsnlu_jax.kernels import crf_log_likelihood, viterbi_decode
# pylint: enable=g-import-not-at-top,wrong-import-position

MIN_LENGTH = 4


def make_batches(rng: np.random.Generator, n: int, batch: int, length: int, tags: int):
  """``n`` batches ``(emissions [B, L, T] f32, tags [B, L] int64, mask [B, L] bool)``."""
  out = []
  for _ in range(n):
    lengths = rng.integers(MIN_LENGTH, length + 1, size=batch)
    _, mask = pad_batch([[1] * int(k) for k in lengths], length)
    emissions = rng.normal(size=(batch, length, tags)).astype(np.float32)
    gold = np.where(mask, rng.integers(0, tags, size=(batch, length)), 0).astype(np.int64)
    out.append((emissions, gold, mask))
  return out


def torch_crf(tags: int) -> torchcrf.CRF:
  torch.manual_seed(0)
  return torchcrf.CRF(tags, batch_first=True)


def crf_params(crf: torchcrf.CRF) -> tuple[jax.Array, jax.Array, jax.Array]:
  """pytorch-crf's ``(transitions [T, T], start [T], end [T])``, same convention."""
  grab = lambda p: jnp.asarray(p.detach().cpu().numpy())
  return grab(crf.transitions), grab(crf.start_transitions), grab(crf.end_transitions)


def jax_loglik(crf, batches):
  def loss(emissions, transitions, start, end, tags, mask):
    return -jnp.sum(crf_log_likelihood(emissions, tags, mask, transitions, start=start, end=end))

  grad = jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2, 3)))
  params = crf_params(crf)
  data = itertools.cycle([jax.device_put((e, t.astype(np.int32), m)) for e, t, m in batches])

  def run():
    e, t, m = next(data)
    return grad(e, *params, t, m)

  return run


def _on(device, *arrays):
  return tuple(torch.from_numpy(a).to(device) for a in arrays)


def torch_loglik(crf, batches, device):
  data = itertools.cycle([_on(device, e, t, m) for e, t, m in batches])

  def run():
    e, t, m = next(data)
    e = e.detach().requires_grad_(True)
    crf.zero_grad(set_to_none=True)
    loss = -crf(e, t, m, reduction="sum")
    loss.backward()
    return loss.item()

  return run


def jax_decode(crf, batches):
  decode = jax.jit(viterbi_decode)
  transitions, start, end = crf_params(crf)
  data = itertools.cycle([jax.device_put((e, m)) for e, _, m in batches])

  def run():
    e, m = next(data)
    tags, _ = decode(e, m, transitions, start=start, end=end)
    return np.asarray(tags)  # on the host, as pytorch-crf's lists are

  return run


def torch_decode(crf, batches, device):
  data = itertools.cycle([_on(device, e, m) for e, _, m in batches])

  def run():
    e, m = next(data)
    with torch.no_grad():
      return crf.decode(e, m)

  return run


def vectorised_viterbi(emissions, mask, transitions, start, end):
  """Batch-vectorised eager Viterbi: ``emissions [B, L, T]``, right-padded ``mask [B, L]``
  -> tags ``[B, L]`` (0 at padding), pytorch-crf's convention (``transitions[i, j]``: i -> j)."""
  batch, length, _ = emissions.shape
  score = start + emissions[:, 0]  # [B, T]
  history = []
  for t in range(1, length):
    best, prev = (score[:, :, None] + transitions + emissions[:, t, None, :]).max(dim=1)
    score = torch.where(mask[:, t, None], best, score)
    history.append(prev)  # [B, T]: the best previous tag of each tag at t
  lengths = mask.sum(1)
  cur = (score + end).argmax(-1)  # [B]: the last real tag
  tags = torch.zeros((batch, length), dtype=torch.long, device=emissions.device)
  for t in range(length - 1, -1, -1):
    real = t < lengths
    tags[:, t] = torch.where(real, cur, 0)
    if t:
      cur = torch.where(real, history[t - 1].gather(1, cur[:, None])[:, 0], cur)
  return tags


def torch_vectorised_decode(crf, batches, device):
  data = itertools.cycle([_on(device, e, m) for e, _, m in batches])

  def run():
    e, m = next(data)
    with torch.no_grad():
      tags = vectorised_viterbi(e, m, crf.transitions, crf.start_transitions,
                                crf.end_transitions)
    return tags.cpu().numpy()  # on the host, like the others

  return run


def check_same_paths(crf, batches, device) -> bool:
  """All three decoders find the same best paths (ties aside, on random emissions)."""
  e, _, m = batches[0]
  transitions, start, end = crf_params(crf)
  ours, _ = viterbi_decode(e, m, transitions, start=start, end=end)
  ours = np.asarray(ours)
  with torch.no_grad():
    theirs = crf.decode(*_on(device, e, m))
  vectorised = torch_vectorised_decode(crf, batches[:1], device)()
  return (all(list(ours[b, :len(p)]) == p for b, p in enumerate(theirs))
          and bool(np.all(np.where(m, ours == vectorised, True))))


def run_case(tags, batch, length, args, rng):
  batches = make_batches(rng, args.n_batches, batch, length, tags)
  device = _harness.torch_device(torch, args.torch_device)
  crf = torch_crf(tags).to(device)
  case = dict(tags=tags, batch=batch, length=length,
              mean_real_tokens=statistics.mean(float(m.sum()) for *_, m in batches),
              same_paths=check_same_paths(crf, batches, device))
  peers = {"loglik_grad": {"pytorch_crf": torch_loglik},
           "decode": {"pytorch_crf": torch_decode, "torch_viterbi": torch_vectorised_decode}}
  for work, ours in {"loglik_grad": jax_loglik, "decode": jax_decode}.items():
    contenders = {"jax": ours(crf, batches)}
    contenders.update({n: make(crf, batches, device) for n, make in peers[work].items()})
    res = _harness.compare(contenders, rounds=args.rounds, inner=args.inner, warmup=args.warmup,
                           baseline="jax")
    res["jax_speedup_vs"] = {n: 1.0 / r for n, r in res.pop("ratio_vs_jax").items()}
    res["jax_speedup"] = res["jax_speedup_vs"]["pytorch_crf"]
    case[work] = res
    print(f"T={tags} B={batch} L={length} {work}: "
          + " ".join(f"{n} {1e3 * v:.2f}ms" for n, v in res["median_s"].items())
          + " -> jax speed-up " + " ".join(f"vs {n} {v:.1f}x"
                                           for n, v in res["jax_speedup_vs"].items()),
          flush=True)
  return case


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--tags", default="20,72")
  p.add_argument("--batches", default="32,256")
  _harness.add_timing_args(p, inner=3, out="crf_speed.json")
  args = p.parse_args(argv)
  if args.quick:
    args.tags, args.batches, args.lengths, args.rounds = "20", "32", "16", 3
  threads = _harness.match_torch_threads(torch)
  rng = np.random.default_rng(0)
  cases = [run_case(t, b, n, args, rng) for t in map(int, args.tags.split(","))
           for b in map(int, args.batches.split(",")) for n in map(int, args.lengths.split(","))]
  headline = {f"{work}_batch{b}": statistics.median(
      c[work]["jax_speedup"] for c in cases if c["batch"] == b)
              for work in ("loglik_grad", "decode") for b in sorted({c["batch"] for c in cases})}
  headline.update({f"decode_vs_torch_viterbi_batch{b}": statistics.median(
      c["decode"]["jax_speedup_vs"]["torch_viterbi"] for c in cases if c["batch"] == b)
                   for b in sorted({c["batch"] for c in cases})})
  print("median JAX speed-up: " + " ".join(f"{k} {v:.1f}x" for k, v in headline.items()))
  if args.out:
    path = _harness.write_result(args.out, {
        "benchmark": "crf", "threads": threads, "cpus": CPUS, "rounds": args.rounds,
        "jax_backend": jax.default_backend(),
        "torch_device": str(_harness.torch_device(torch, args.torch_device)),
        "inner": args.inner,
        "ratio_definition": "median over rounds of pytorch_crf_s / jax_s (>1: jax faster)",
        "median_jax_speedup": headline, "target": "decode at batch 256: jax_speedup >= 10",
        "cases": cases}, torch=torch)
    print(f"wrote {path}")


if __name__ == "__main__":
  main()
