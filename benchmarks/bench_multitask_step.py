"""The multitask bi-LSTM train step: achieved FLOP/s and how step time grows.

The step is the library's own (:func:`fsnlu_jax.train.make_train_step` with the
multitask job's :func:`fsnlu_jax.transfer.loss_fn` and Adam): embeddings, shared
bi-LSTM, intent and slot bi-LSTMs, intent softmax, BIO-constrained CRF, forward,
backward and update, data-parallel over a mesh. Default sizes are the model's defaults
(embeddings 300, shared 256, task 384 per direction), 10k words, 64 intents,
71 BIO tags (35 slot types); lengths drawn uniform in ``[4, L]``.

Measured:

* **achieved FLOP/s** = model FLOPs / median step time, as a fraction of this
  machine's f32 matmul throughput (best of 5 ``[2048, 2048]`` products through
  XLA, measured in the same process at start and end; the larger is used).
  Model FLOPs are counted **analytically** (:func:`train_step_flops`): the
  matmuls of forward and backward over all ``B x L`` padded positions (the scan
  computes them); elementwise work, the CRF recursion and Adam are left out, so
  the fraction is a lower bound of the machine's busy time. Because other
  processes load this machine unevenly, ``fraction_of_adjacent_matmul`` also
  divides each step's rate by a ``[1024, 1024]`` product timed right after it
  (median over steps): both under the same load. XLA's own count
  (``compiled.cost_analysis()["flops"]``) is recorded too but undercounts:
  it counts a ``while`` loop's body once, not once per step.
* **scaling** of the step time with batch (at fixed length), with length (at
  fixed batch), and with the number of devices (1, 2, 4, 8 simulated CPU
  devices, ``--xla_force_host_platform_device_count``, one subprocess each, same
  global batch). Simulated devices share the same cores: that curve shows the
  cost of sharding (per-device work shrinks, collectives and per-device
  overhead appear), not a speed-up. On an accelerator (or with
  ``--device-mode real``) the sweep runs in this process over the first 1, 2,
  4, ... real devices (``--devices all``: powers of two up to every device),
  same global batch: the data-parallel step's scaling.

JAX runs on its default backend (no peer). ``--model-sizes E,S,T`` changes the
embedding, shared and task widths (default the model's 300,256,384; the GPU
suite's dry run uses tiny ones).

Usage::

  nice -n 19 python benchmarks/bench_multitask_step.py --cpus 1   # results/multitask_step.json
  python benchmarks/bench_multitask_step.py --quick --out ''      # a smoke run
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import _harness  # pylint: disable=g-import-not-at-top,wrong-import-position

# Before JAX starts its thread pool.
CPUS = _harness.pin_cpus(_harness.cpus_from_argv(sys.argv))

# pylint: disable=g-import-not-at-top,wrong-import-position
import jax
import numpy as np
import optax
from flax import nnx

from fsnlu_jax.data.arrays import pad_batch
from fsnlu_jax.models import MultitaskBiLSTM, MultitaskConfig
from fsnlu_jax.parallel import data_sharding, make_data_mesh
from fsnlu_jax.train import init_train_state, make_train_step
from fsnlu_jax.transfer import loss_fn
# pylint: enable=g-import-not-at-top,wrong-import-position

VOCAB, INTENTS, SLOT_TYPES = 10_000, 64, 35
# FSNLU_BENCH_NO_MATMUL=1 (smoke runs, gpu_suite.sh --dry-run): no matmul-rate probes.
PROBE_MATMUL = not os.environ.get("FSNLU_BENCH_NO_MATMUL")
MIN_LENGTH = 4


def tag_names(slot_types: int = SLOT_TYPES) -> tuple[str, ...]:
  return ("O",) + tuple(f"{p}-s{k}" for k in range(slot_types) for p in "BI")


DEFAULT_SIZES = "300,256,384"  # MultitaskConfig's embed_dim, shared_hidden, task_hidden


def model_config(sizes: str = DEFAULT_SIZES) -> MultitaskConfig:
  names = tag_names()
  embed, shared, task = map(int, sizes.split(","))
  return MultitaskConfig(vocab_size=VOCAB, n_intents=INTENTS, n_tags=len(names), tag_names=names,
                         embed_dim=embed, shared_hidden=shared, task_hidden=task)


def train_step_flops(c: MultitaskConfig, batch: int, length: int) -> int:
  """Matmul FLOPs of one train step over ``B x L`` padded positions.

  A bi-LSTM layer (input ``D``, hidden ``H``) per position and direction does
  ``2 * 4H * (D + H)`` in the forward pass (input and recurrent products) and
  twice that backwards (``dW`` and the gradient of the input for each): ``24 H
  (D + H)``, both directions ``48 H (D + H)``. Every layer's input needs its
  gradient (the embeddings are trained). The output layers add ``3 * 2 * 2H_t
  * C`` per row and ``3 * 2 * 2H_t * T`` per position.
  """
  def bilstm(d, h):
    return 48 * h * (d + h)
  per_position = (bilstm(c.embed_dim, c.shared_hidden)
                  + 2 * bilstm(2 * c.shared_hidden, c.task_hidden)
                  + 6 * 2 * c.task_hidden * c.n_tags)
  per_row = 6 * 2 * c.task_hidden * c.n_intents
  return batch * length * per_position + batch * per_row


def make_batch(rng: np.random.Generator, batch: int, length: int, n_tags: int):
  lengths = rng.integers(MIN_LENGTH, length + 1, size=batch)
  ids, mask = pad_batch([rng.integers(1, VOCAB, size=int(k)).tolist() for k in lengths], length)
  slots = np.where(mask, rng.integers(0, n_tags, size=(batch, length)), -1).astype(np.int32)
  intent = rng.integers(0, INTENTS, size=batch).astype(np.int32)
  return dict(token_ids=ids, mask=mask, intent=intent, slots=slots)


def measure(batch: int, length: int, devices: int, steps: int, seed: int = 0,
            sizes: str = DEFAULT_SIZES) -> dict:
  """Compiles the step for ``[B, L]`` on ``devices`` devices and times ``steps`` steps."""
  config = model_config(sizes)
  mesh = make_data_mesh(devices)
  model = MultitaskBiLSTM(config, rngs=nnx.Rngs(seed))
  optimizer = optax.adam(1e-3)
  graphdef, state = init_train_state(model, optimizer, jax.random.key(seed), mesh)
  step = make_train_step(graphdef, loss_fn(1.0), optimizer, mesh)
  rng = np.random.default_rng(seed)
  batches = [jax.device_put(make_batch(rng, batch, length, config.n_tags), data_sharding(mesh))
             for _ in range(2)]
  t0 = time.perf_counter()
  compiled = step.lower(state, batches[0]).compile()
  compile_s = time.perf_counter() - t0
  xla_flops = (compiled.cost_analysis() or {}).get("flops")
  step = compiled  # the executable itself: no second compilation on the first call
  t0 = time.perf_counter()
  state, metrics = step(state, batches[0])
  _harness.block((state, metrics))
  first_s = time.perf_counter() - t0
  flops = train_step_flops(config, batch, length)
  probe = _harness.matmul_probe(1024) if PROBE_MATMUL else None
  times, fractions = [], []
  for k in range(steps):
    t0 = time.perf_counter()
    state, metrics = step(state, batches[k % 2])
    _harness.block((state, metrics))
    times.append(time.perf_counter() - t0)
    if probe is not None:  # the machine's matmul rate right after each step, same load
      fractions.append(flops / times[-1] / _harness.timed_flops(*probe))
  median = statistics.median(times)
  return dict(batch=batch, length=length, devices=devices, compile_s=compile_s,
              first_call_s=first_s, step_s=times, median_step_s=median,
              model_flops=flops, xla_cost_analysis_flops=xla_flops,
              achieved_flops_per_s=flops / median,
              fraction_of_adjacent_matmul=statistics.median(fractions) if fractions else None,
              real_tokens_per_s=float(np.mean([np.asarray(b["mask"]).sum() for b in batches]))
              / median, loss=float(metrics["loss"]))


def _percent(fraction: float | None) -> str:
  return "?%" if fraction is None else f"{100 * fraction:.0f}%"


def device_counts(spec: str) -> list[int]:
  """``"1,2,4"``, or ``"all"``: 1, 2, 4, ... and every device this process sees."""
  if spec != "all":
    return [int(x) for x in spec.split(",") if x]
  n = jax.device_count()
  return sorted({2 ** k for k in range(n.bit_length()) if 2 ** k <= n} | {n})


def device_sweep(counts, batch, length, steps, cpus, mode: str = "simulated",
                 sizes: str = DEFAULT_SIZES) -> list[dict]:
  """``simulated``: one subprocess per device count (XLA reads the flag when it starts);
  ``real``: in this process, over the first ``n`` devices."""
  out = []
  for n in counts:
    if mode == "real":
      res = measure(batch, length, n, steps, sizes=sizes)
    else:
      env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={n}")
      cmd = [sys.executable, __file__, "--worker", f"{batch},{length},{n},{steps}",
             "--model-sizes", sizes]
      if cpus is not None:
        cmd += ["--cpus", str(cpus)]
      done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
      res = json.loads(done.stdout.strip().splitlines()[-1])
    res["device_mode"] = mode
    print(f"devices={n} ({mode}): {1e3 * res['median_step_s']:.0f} ms/step, "
          f"{_percent(res['fraction_of_adjacent_matmul'])} of adjacent matmul "
          f"(compile {res['compile_s']:.1f}s)", flush=True)
    out.append(res)
  return out


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--batches", default="16,32,64,128,256", help="batch sweep, at --base-length")
  p.add_argument("--lengths", default="8,16,32,64", help="length sweep, at --base-batch")
  p.add_argument("--devices", default="1,2,4,8",
                 help="device counts of the scaling sweep ('all': 1, 2, 4, ... every device; "
                      "'' for none)")
  p.add_argument("--device-mode", choices=("simulated", "real"), default=None,
                 help="simulated CPU devices in subprocesses, or this process's real devices "
                      "(default: real on an accelerator, simulated on the CPU)")
  p.add_argument("--model-sizes", default=DEFAULT_SIZES,
                 help="embedding, shared and task widths, E,S,T")
  p.add_argument("--base-batch", type=int, default=32)
  p.add_argument("--base-length", type=int, default=16)
  p.add_argument("--device-batch", type=int, default=64, help="global batch of the device sweep")
  p.add_argument("--steps", type=int, default=3, help="timed steps per configuration")
  p.add_argument("--cpus", type=int, default=None, help="pin to this many CPUs")
  p.add_argument("--quick", action="store_true", help="tiny sweeps, 2 steps")
  p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
  p.add_argument("--out", default="multitask_step.json", help="file in results/; '' for none")
  args = p.parse_args(argv)
  if args.worker:  # a device-sweep subprocess: one measurement as a JSON line
    batch, length, devices, steps = map(int, args.worker.split(","))
    print(json.dumps(measure(batch, length, devices, steps, sizes=args.model_sizes)))
    return
  if args.quick:
    args.batches, args.lengths, args.devices, args.steps = "16,32", "8,16", "1,2", 2
  matmul = [_harness.matmul_flops()] if PROBE_MATMUL else []
  if matmul:
    print(f"matmul: {matmul[0]['flops_per_s'] / 1e9:.1f} GFLOP/s", flush=True)
  done = {}  # (B, L) -> result; the two sweeps share their base point

  def point(b, n):
    if (b, n) not in done:
      done[b, n] = r = measure(b, n, 1, args.steps, sizes=args.model_sizes)
      print(f"B={b} L={n}: {1e3 * r['median_step_s']:.0f} ms/step, "
            f"{r['achieved_flops_per_s'] / 1e9:.1f} GFLOP/s "
            f"({_percent(r['fraction_of_adjacent_matmul'])} of adjacent matmul), "
            f"compile {r['compile_s']:.1f}s", flush=True)
    return done[b, n]

  mode = args.device_mode or ("simulated" if jax.default_backend() == "cpu" else "real")
  ints = lambda spec: [int(x) for x in spec.split(",") if x]
  sweeps = {"batch": [point(b, args.base_length) for b in ints(args.batches)],
            "length": [point(args.base_batch, n) for n in ints(args.lengths)]}
  sweeps["devices"] = device_sweep(device_counts(args.devices), args.device_batch,
                                   args.base_length, args.steps, _harness.cpus_from_argv(sys.argv),
                                   mode, args.model_sizes)
  if PROBE_MATMUL:
    matmul.append(_harness.matmul_flops())
  peak = max(m["flops_per_s"] for m in matmul) if matmul else None
  for rows in sweeps.values():
    for r in rows:
      r["fraction_of_matmul_peak"] = r["achieved_flops_per_s"] / peak if peak else None
  best = max((r for rows in sweeps.values() for r in rows), key=lambda r: r["achieved_flops_per_s"])
  print(f"matmul peak {(peak or 0) / 1e9:.1f} GFLOP/s; best step "
        f"{best['achieved_flops_per_s'] / 1e9:.1f}"
        f" GFLOP/s = {_percent(best['fraction_of_matmul_peak'])} (B={best['batch']} "
        f"L={best['length']} devices={best['devices']})")
  if args.out:
    path = _harness.write_result(args.out, {
        "benchmark": "multitask_train_step", "cpus": CPUS,
        "config": {**dataclasses.asdict(model_config(args.model_sizes)),
                   "tag_names": f"BIO, {SLOT_TYPES} types"},
        "jax_backend": jax.default_backend(), "device_mode": mode,
        "optimizer": "adam(1e-3)", "flop_count": "analytic matmul FLOPs (train_step_flops); "
        "xla_cost_analysis_flops counts while-loop bodies once and undercounts",
        "matmul_throughput": matmul, "matmul_peak_flops_per_s": peak,
        "note_devices": ("simulated CPU devices share the same cores: overhead, not speed-up"
                         if mode == "simulated" else "real devices, same global batch"),
        "sweeps": sweeps})
    print(f"wrote {path}")


if __name__ == "__main__":
  main()
