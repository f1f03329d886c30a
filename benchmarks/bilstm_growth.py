"""How the bi-LSTM's forward and gradient grow with length: one direction, both in one scan, both as two scans.

Issue 20, item 3: with two directions our backward pass grew faster than
linearly in ``L`` at ``B = 128`` (README: 12.3 -> 41.9 ms from L = 16 to 32 at
100x64, one direction 6.0 -> 12.7 ms). This script separates the suspects, on
the same random batch per length (lengths U[4, L]):

* ``one_dir``: :func:`fsnlu_jax.kernels.lstm_scan` forwards only;
* ``bilstm``: :func:`fsnlu_jax.kernels.bilstm` (both directions side by side in
  one scan; what :class:`fsnlu_jax.nn.BiLSTM` runs);
* ``two_scans``: two ``lstm_scan`` calls (forward, ``reverse=True``): the same
  result with two sequential loops.

Stop 13 found the growth's cause outside the loops: XLA:CPU's per-call
temporaries above glibc's 32 MiB mmap threshold are mapped afresh, page by
page, on every call (``benchmarks/README.md``).

Each is timed as ``fwd`` (loss only) and ``grad`` (``jax.grad`` of the loss),
jitted, interleaved with ``_harness.compare`` (median over rounds; first call
apart). ``--hlo`` also counts, in the compiled gradient's ``while`` bodies,
the instructions whose result is a whole ``[L, ...]`` buffer other than an
in-place dynamic-update-slice: a copy of a stacked buffer per step would make
the loop O(L^2).

Usage::

  nice -n 19 python benchmarks/bilstm_growth.py --cpus 1 --hlo   # prints; --out to keep JSON
"""

from __future__ import annotations

import argparse
import pathlib
import re
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import _harness  # pylint: disable=g-import-not-at-top,wrong-import-position

CPUS = _harness.pin_cpus(_harness.cpus_from_argv(sys.argv))

# pylint: disable=g-import-not-at-top,wrong-import-position
import jax
import jax.numpy as jnp
import numpy as np

from fsnlu_jax.kernels import LSTMParams, bilstm, lstm_scan
# pylint: enable=g-import-not-at-top,wrong-import-position


def params(seed: int, d: int, h: int) -> LSTMParams:
  r = np.random.default_rng(seed)
  f = lambda *shape: jnp.asarray(r.normal(size=shape) * 0.1, jnp.float32)
  return LSTMParams(f(d, 4 * h), f(h, 4 * h), f(4 * h))


def one_dir(p, x, m):
  out, _ = lstm_scan(x, m, *p[0])
  return jnp.sum(out * out)


def both_directions(p, x, m):
  out, _ = bilstm(x, m, p[0], p[1])
  return jnp.sum(out * out)


def two_scans(p, x, m):
  a, _ = lstm_scan(x, m, *p[0])
  b, _ = lstm_scan(x, m, *p[1], reverse=True)
  return jnp.sum(a * a) + jnp.sum(b * b)


VARIANTS = {"one_dir": one_dir, "bilstm": both_directions, "two_scans": two_scans}


def whole_buffer_ops(hlo: str, length: int) -> dict[str, int]:
  """Per ``while`` loop (by body name): the body's own instructions whose result has
  the shape of one of the loop's stacked ``[L, ...]`` buffers (rank >= 3), other
  than in-place dynamic-update-slice fusions and tuple plumbing."""
  computations = {}
  for block in hlo.split("\n\n"):
    head = block.strip().splitlines()[0] if block.strip() else ""
    m = re.match(r"(?:ENTRY )?(%[\w.\-]+) ", head)
    if m:
      computations[m.group(1)] = block
  out = {}
  for line in hlo.splitlines():
    if " while(" not in line:
      continue
    body = re.search(r"body=(%[\w.\-]+)", line).group(1)
    loop_type = line.split(" while(")[0]
    stacked = {s for s in re.findall(r"\w+\[([\d,]+)\]", loop_type)
               if s.startswith(f"{length},") and s.count(",") >= 2}
    count = 0
    for inst in computations.get(body, "").splitlines()[1:]:
      m = re.match(r"\s*(?:ROOT )?(%[\w.\-]+) = \w+\[([\d,]+)\]\S* ([\w\-]+)\(", inst)
      if (m and m.group(2) in stacked and "dynamic-update-slice" not in m.group(1)
          and m.group(3) not in ("get-tuple-element", "parameter", "tuple")):
        count += 1
    out[body] = count
  return out


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--size", default="100x64", help="DxH")
  p.add_argument("--batch", type=int, default=128)
  p.add_argument("--lengths", default="16,32,64")
  p.add_argument("--rounds", type=int, default=7)
  p.add_argument("--inner", type=int, default=5)
  p.add_argument("--cpus", type=int, default=None, help="pin to this many CPUs")
  p.add_argument("--hlo", action="store_true", help="count whole-buffer ops in loop bodies")
  p.add_argument("--out", default="", help="file in results/ (or an absolute path); '' for none")
  args = p.parse_args(argv)
  d, h = map(int, args.size.split("x"))
  weights = (params(1, d, h), params(2, d, h))
  rng = np.random.default_rng(0)
  rows = []
  for length in map(int, args.lengths.split(",")):
    lengths = rng.integers(4, length + 1, size=args.batch)
    mask = jnp.asarray(np.arange(length)[None] < lengths[:, None])
    x = jnp.asarray(rng.normal(size=(args.batch, length, d)), jnp.float32)
    contenders, hlo = {}, {}
    for name, f in VARIANTS.items():
      for kind, g in (("fwd", f), ("grad", jax.grad(f))):
        jitted = jax.jit(g)
        contenders[f"{name}_{kind}"] = lambda j=jitted: j(weights, x, mask)
        if args.hlo and kind == "grad":
          hlo[name] = whole_buffer_ops(jitted.lower(weights, x, mask).compile().as_text(), length)
    res = _harness.compare(contenders, rounds=args.rounds, inner=args.inner, warmup=1)
    res.pop(next(k for k in res if k.startswith("ratio_vs_")))
    rows.append({"length": length, "median_s": res["median_s"],
                 "first_call_s": res["first_call_s"], "while_body_whole_buffer_ops": hlo})
    print(f"L={length}: " + " ".join(f"{n} {1e3 * s:.2f}ms" for n, s in res["median_s"].items())
          + (f" | whole-buffer ops in grad loop bodies: {hlo}" if hlo else ""), flush=True)
  for a, b in zip(rows, rows[1:]):
    growth = {n: b["median_s"][n] / a["median_s"][n] for n in a["median_s"]}
    print(f"L {a['length']} -> {b['length']}: "
          + " ".join(f"{n} x{v:.2f}" for n, v in growth.items()))
  if args.out:
    path = _harness.write_result(args.out, {
        "benchmark": "bilstm_growth", "cpus": CPUS, "size": args.size, "batch": args.batch,
        "rounds": args.rounds, "inner": args.inner, "rows": rows})
    print(f"wrote {path}")


if __name__ == "__main__":
  main()
