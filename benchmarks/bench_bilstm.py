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
  a training loop);
* ``torch_reversed``: the fast exact peer a PyTorch user would write instead of
  packing: two unidirectional ``nn.LSTM`` on the padded tensor, the backward one
  fed each row reversed within its length (one gather) and its output reversed
  back (exact like ours; no packing, full-width cuDNN/oneDNN calls).

Device and precision: JAX runs on its default backend; the PyTorch peers on
``cuda`` when available (``--torch-device`` overrides), tensors moved there
before timing; the loss is read back (``.item()``, a sync) as before.
``--dtype bfloat16``: mixed precision on both sides (float32 weights and
update; the step's compute in bfloat16: our weights and inputs cast inside the
loss, PyTorch under ``torch.autocast``).

Lengths are drawn uniform in ``[4, L]`` like utterances; every contender sees
the same batches in the same order. Throughput is real (unpadded) tokens per
second; ratios are the median over rounds of ``torch time / jax time`` (above 1:
fsnlu_jax faster). PyTorch gets as many threads as XLA uses (``_harness``).

Usage::

  nice -n 19 python benchmarks/bench_bilstm.py --cpus 1   # writes results/bilstm_speed.json
  nice -n 19 python benchmarks/bench_bilstm.py --out bilstm_speed_2cpus.json   # all CPUs
  python benchmarks/bench_bilstm.py --quick --out ''      # a smoke run, nothing written
  # GPU-sized: the shared layer (300x256) and a task layer of the paper's 768-wide encoder (512x384)
  python benchmarks/bench_bilstm.py --sizes 300x256,512x384 --batches 128,512 --lengths 32
"""

from __future__ import annotations

import argparse
import itertools
import pathlib
import statistics
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import _harness  # pylint: disable=g-import-not-at-top,wrong-import-position
import _torch_lstm  # pylint: disable=g-import-not-at-top,wrong-import-position

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


def jax_contender(d: int, h: int, batches, unroll: int, dtype: str = "float32"):
  """A zero-argument callable doing one jitted train step on the next batch."""
  layer = BiLSTM(d, h, unroll=unroll, rngs=nnx.Rngs(0))
  graphdef, params = nnx.split(layer)
  compute = _harness.jax_dtype(dtype)

  def loss_fn(p, x, mask):
    # Mixed precision: float32 weights (and update), the step computed in ``compute``.
    p, x = jax.tree.map(lambda a: a.astype(compute), (p, x))
    out, _ = nnx.merge(graphdef, p)(x, mask)  # --> [B, L, 2H], zero at padding
    out = out.astype(jnp.float32)
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


def torch_contender(d: int, h: int, batches, mode: str, device, dtype: str = "float32"):
  """One train step (forward, backward, SGD) on the next batch; ``mode`` is
  ``padded``, ``packed`` (bidirectional ``nn.LSTM``) or ``reversed`` (two
  unidirectional ``nn.LSTM``, the backward one on rows reversed within length)."""
  torch.manual_seed(0)
  if mode == "reversed":
    fwd = torch.nn.LSTM(d, h, batch_first=True).to(device)
    bwd = torch.nn.LSTM(d, h, batch_first=True).to(device)
    params = [*fwd.parameters(), *bwd.parameters()]
  else:
    lstm = torch.nn.LSTM(d, h, batch_first=True, bidirectional=True).to(device)
    params = list(lstm.parameters())
  opt = torch.optim.SGD(params, lr=LR)
  autocast = dtype != "float32"
  data = []
  for x, m in batches:
    lengths = torch.from_numpy(m.sum(1).astype(np.int64))
    # pack_padded_sequence takes its lengths on the CPU, whatever the device.
    data.append((torch.from_numpy(x).to(device), torch.from_numpy(m).to(device),
                 lengths, lengths.to(device)))
  data = itertools.cycle(data)

  def forward(x, mask, lengths_cpu, lengths):
    if mode == "packed":
      seq = torch.nn.utils.rnn.pack_padded_sequence(x, lengths_cpu, batch_first=True,
                                                    enforce_sorted=False)
      out, _ = lstm(seq)
      out, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True,
                                                      total_length=x.shape[1])
      return out
    if mode == "padded":
      out, _ = lstm(x)
      return out * mask[..., None]
    index = _torch_lstm.within_length_reversal(torch, lengths, x.shape[1])  # [B, L]
    return _torch_lstm.reversed_bilstm(torch, fwd, bwd, x, index) * mask[..., None]

  def run():
    x, mask, lengths_cpu, lengths = next(data)
    opt.zero_grad(set_to_none=True)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
      out = forward(x, mask, lengths_cpu, lengths)
    loss = out.float().pow(2).sum() / lengths.sum()
    loss.backward()
    opt.step()
    return loss.item()

  return run


def reversed_peer_error(d: int, h: int, batches, device) -> float:
  """Largest difference, on real tokens of the first batch, between ``torch_reversed`` and
  packed ``nn.LSTM`` with the same weights (the reversal peer is exact)."""
  torch.manual_seed(0)
  bi = torch.nn.LSTM(d, h, batch_first=True, bidirectional=True).to(device)
  fwd = torch.nn.LSTM(d, h, batch_first=True).to(device)
  bwd = torch.nn.LSTM(d, h, batch_first=True).to(device)
  with torch.no_grad():
    for name, w in fwd.named_parameters():
      w.copy_(getattr(bi, name))
    for name, w in bwd.named_parameters():
      w.copy_(getattr(bi, f"{name}_reverse"))
    x, m = batches[0]
    lengths = torch.from_numpy(m.sum(1).astype(np.int64))
    x, mask = torch.from_numpy(x).to(device), torch.from_numpy(m).to(device)
    packed = torch.nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True,
                                                     enforce_sorted=False)
    want, _ = torch.nn.utils.rnn.pad_packed_sequence(bi(packed)[0], batch_first=True,
                                                     total_length=x.shape[1])
    index = _torch_lstm.within_length_reversal(torch, lengths.to(device), x.shape[1])
    got = _torch_lstm.reversed_bilstm(torch, fwd, bwd, x, index)
    return float(((got - want) * mask[..., None]).abs().max())


def run_case(d, h, batch, length, args, rng):
  batches = make_batches(rng, args.n_batches, batch, length, d)
  tokens = statistics.mean(float(m.sum()) for _, m in batches)
  device = _harness.torch_device(torch, args.torch_device)
  contenders = {"jax": jax_contender(d, h, batches, args.unroll, args.dtype)}
  for mode in args.peers.split(","):
    contenders[f"torch_{mode}"] = torch_contender(d, h, batches, mode, device, args.dtype)
  res = _harness.compare(contenders, rounds=args.rounds, inner=args.inner,
                         warmup=args.warmup, baseline="jax")
  # compare() gives jax_s / torch_s; report torch_s / jax_s, the JAX speed-up.
  speedup = {n: 1.0 / r for n, r in res.pop("ratio_vs_jax").items()}
  res["jax_speedup_vs"] = speedup
  res["tokens_per_s"] = {n: tokens / s for n, s in res["median_s"].items()}
  res.update(in_features=d, hidden=h, batch=batch, length=length,
             mean_real_tokens=tokens, padded_tokens=batch * length)
  if "reversed" in args.peers.split(","):
    res["torch_reversed_max_abs_diff_vs_packed"] = reversed_peer_error(d, h, batches, device)
    assert res["torch_reversed_max_abs_diff_vs_packed"] < 1e-4, res
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
  p.add_argument("--peers", default="padded,packed,reversed",
                 help="PyTorch variants: padded, packed, reversed (comma-separated)")
  _harness.add_timing_args(p, inner=1, out="bilstm_speed.json", dtypes=("float32", "bfloat16"))
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
        "jax_backend": jax.default_backend(),
        "torch_device": str(_harness.torch_device(torch, args.torch_device)),
        "dtype": args.dtype,
        "rounds": args.rounds, "inner": args.inner,
        "ratio_definition": "median over rounds of torch_step_s / jax_step_s (>1: jax faster)",
        "median_jax_speedup_over_cases": headline, "target": "jax_speedup >= 1 (CPU parity)",
        "cases": cases}, torch=torch)
    print(f"wrote {path}")


if __name__ == "__main__":
  main()
