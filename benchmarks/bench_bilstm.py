"""Bi-LSTM training throughput: fsnlu_jax against ``torch.nn.LSTM(bidirectional=True)``.

One train step = forward over a right-padded batch, a loss over the per-token
outputs (mean over real tokens of ``sum(out**2)``), its gradient with respect
to the layer's weights, and a plain SGD update, in both libraries:

* ``jax``: :class:`fsnlu_jax.nn.BiLSTM`, split once, the step a plain
  ``jax.jit`` with donated weights; padding handled by the mask (exact: each
  row gives the result of its unpadded sequence);
* ``torch_padded``: ``nn.LSTM`` on the padded ``[B, L, D]`` tensor, loss
  masked; cheaper than exact, since its reverse direction reads the padding
  (what a user gets without packing);
* ``torch_packed``: ``pack_padded_sequence(..., enforce_sorted=False)`` before
  and ``pad_packed_sequence`` after (exact; packing is in the timed step, as in
  a training loop).

Lengths are drawn uniform in ``[4, L]`` like utterances; every contender sees
the same batches in the same order. Throughput is real (unpadded) tokens per
second; ratios are the median over rounds of ``torch time / jax time`` (above 1:
fsnlu_jax faster). PyTorch gets as many threads as XLA uses (``_harness``).

Usage::

  nice -n 19 python benchmarks/bench_bilstm.py --cpus 1   # writes results/bilstm_speed.json
  nice -n 19 python benchmarks/bench_bilstm.py --out bilstm_speed_2cpus.json   # all CPUs
  python benchmarks/bench_bilstm.py --quick --out ''      # a smoke run, nothing written
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
except ModuleNotFoundError as error:
  _harness.peer_missing(error)
from flax import nnx

from fsnlu_jax.data.arrays import pad_batch
from fsnlu_jax.nn import BiLSTM
# pylint: enable=g-import-not-at-top,wrong-import-position

MIN_LENGTH = 4
LR = 1e-3


def make_batches(rng: np.random.Generator, n: int, batch: int, length: int,
                 dim: int) -> list[tuple[np.ndarray, np.ndarray]]:
  """``n`` batches ``(x [B, L, D] float32, mask [B, L] bool)``, lengths U[4, L]."""
  out = []
  for _ in range(n):
    lengths = rng.integers(MIN_LENGTH, length + 1, size=batch)
    _, mask = pad_batch([[1] * int(k) for k in lengths], length)
    x = rng.normal(size=(batch, length, dim)).astype(np.float32) * mask[..., None]
    out.append((x, mask))
  return out


def jax_contender(d: int, h: int, batches, unroll: int):
  """A zero-argument callable doing one jitted train step on the next batch."""
  layer = BiLSTM(d, h, unroll=unroll, rngs=nnx.Rngs(0))
  graphdef, params = nnx.split(layer)

  def loss_fn(p, x, mask):
    out, _ = nnx.merge(graphdef, p)(x, mask)  # --> [B, L, 2H], zero at padding
    return jnp.sum(out * out) / jnp.sum(mask)

  def step(p, x, mask):
    loss, grads = jax.value_and_grad(loss_fn)(p, x, mask)
    return jax.tree.map(lambda w, g: w - LR * g, p, grads), loss

  step = jax.jit(step, donate_argnums=0)
  data = itertools.cycle([jax.device_put((x, m)) for x, m in batches])
  state = {"params": params}

  def run():
    x, mask = next(data)
    state["params"], loss = step(state["params"], x, mask)
    return loss

  return run


def torch_contender(d: int, h: int, batches, packed: bool):
  """One ``nn.LSTM`` train step (forward, backward, SGD) on the next batch."""
  torch.manual_seed(0)
  lstm = torch.nn.LSTM(d, h, batch_first=True, bidirectional=True)
  opt = torch.optim.SGD(lstm.parameters(), lr=LR)
  data = itertools.cycle([(torch.from_numpy(x), torch.from_numpy(m),
                           torch.from_numpy(m.sum(1).astype(np.int64))) for x, m in batches])

  def run():
    x, mask, lengths = next(data)
    opt.zero_grad(set_to_none=True)
    if packed:
      seq = torch.nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True,
                                                    enforce_sorted=False)
      out, _ = lstm(seq)
      out, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True,
                                                      total_length=x.shape[1])
    else:
      out, _ = lstm(x)
      out = out * mask[..., None]
    loss = out.pow(2).sum() / lengths.sum()
    loss.backward()
    opt.step()
    return loss.item()

  return run


def run_case(d, h, batch, length, args, rng):
  batches = make_batches(rng, args.n_batches, batch, length, d)
  tokens = statistics.mean(float(m.sum()) for _, m in batches)
  contenders = {"jax": jax_contender(d, h, batches, args.unroll),
                "torch_padded": torch_contender(d, h, batches, packed=False),
                "torch_packed": torch_contender(d, h, batches, packed=True)}
  res = _harness.compare(contenders, rounds=args.rounds, inner=args.inner,
                         warmup=args.warmup, baseline="jax")
  # compare() gives jax_s / torch_s; report torch_s / jax_s, the JAX speed-up.
  speedup = {n: 1.0 / r for n, r in res.pop("ratio_vs_jax").items()}
  res["jax_speedup_vs"] = speedup
  res["tokens_per_s"] = {n: tokens / s for n, s in res["median_s"].items()}
  res.update(in_features=d, hidden=h, batch=batch, length=length,
             mean_real_tokens=tokens, padded_tokens=batch * length)
  print(f"D={d} H={h} B={batch} L={length}: "
        + " ".join(f"{n}={v:,.0f} tok/s" for n, v in res["tokens_per_s"].items())
        + " | jax speed-up: " + " ".join(f"vs {n} {v:.2f}x" for n, v in speedup.items()),
        flush=True)
  return res


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--sizes", default="300x256,100x64", help="DxH pairs, comma-separated")
  p.add_argument("--batches", default="32,128")
  p.add_argument("--unroll", type=int, default=1, help="BiLSTM scan unroll")
  _harness.add_timing_args(p, inner=1, out="bilstm_speed.json")
  args = p.parse_args(argv)
  if args.quick:
    args.sizes, args.batches, args.lengths, args.rounds = "100x64", "32", "16", 3
  threads = _harness.match_torch_threads(torch)
  rng = np.random.default_rng(0)
  cases = []
  for size in args.sizes.split(","):
    d, h = map(int, size.split("x"))
    for batch in map(int, args.batches.split(",")):
      for length in map(int, args.lengths.split(",")):
        cases.append(run_case(d, h, batch, length, args, rng))
  headline = {n: statistics.median(c["jax_speedup_vs"][n] for c in cases)
              for n in cases[0]["jax_speedup_vs"]}
  print("median JAX speed-up over all cases: "
        + " ".join(f"vs {n} {v:.2f}x" for n, v in headline.items()))
  if args.out:
    path = _harness.write_result(args.out, {
        "benchmark": "bilstm_train_step", "threads": threads, "cpus": CPUS, "unroll": args.unroll,
        "rounds": args.rounds, "inner": args.inner,
        "ratio_definition": "median over rounds of torch_step_s / jax_step_s (>1: jax faster)",
        "median_jax_speedup_over_cases": headline, "target": "jax_speedup >= 1 (CPU parity)",
        "cases": cases}, torch=torch)
    print(f"wrote {path}")


if __name__ == "__main__":
  main()
