"""The summary table of a ``gpu_suite.sh`` run: each step's status, devices and headline.

Reads ``suite_status.jsonl`` and the ``<step>.json`` results the suite wrote in
one folder; prints one row per step (skipped and failed steps with their
reason). Imports nothing heavy: it runs at the end of the suite whatever
failed before it.

Usage::

  python benchmarks/gpu_summary.py benchmarks/results/gpu
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
from typing import Any


def _fmt(x: Any) -> str:
  if isinstance(x, float):
    return f"{x:.2f}"
  if isinstance(x, dict):
    return ", ".join(f"{k} {_fmt(v)}" for k, v in x.items())
  return str(x)


def _ours(name: str) -> bool:
  return name.startswith(("jax", "fsnlu_jax", "protonet", "protoda"))


def our_first_call_s(record: Any) -> float | None:
  """The slowest first call (compile) of our side anywhere in a result."""
  found = []

  def walk(x):
    if isinstance(x, dict):
      for k, v in x.items():
        if k in ("first_call_s", "compile_s") and isinstance(v, dict):
          found.extend(t for n, t in v.items() if _ours(n) and isinstance(t, (int, float)))
        elif k == "compile_s" and isinstance(v, (int, float)):
          found.append(v)
        else:
          walk(v)
    elif isinstance(x, list):
      for v in x:
        walk(v)

  walk(record)
  return max(found) if found else None


def headline(record: dict) -> str:
  """The figure a reader wants first, per benchmark (speed-ups: > 1 = fsnlu_jax faster)."""
  kind = record.get("benchmark")
  if kind == "bilstm_train_step":
    return f"{record.get('dtype', 'float32')}: " + _fmt(record["median_jax_speedup_over_cases"])
  if kind in ("crf", "sentence_encoder"):
    return _fmt(record["median_jax_speedup"])
  if kind == "integrated_gradients":
    return "vs fastest Captum: " + _fmt(record["jax_speedup_vs_fastest_captum"])
  if kind == "fewshot_train_step":
    parts = []
    for key, v in record["headline"].items():
      if key.endswith("_same_updates"):
        parts.append(f"{key}: {_fmt(v)}")
      elif "protonet_E1" in v:
        parts.append(f"{key}: E1 {v['protonet_E1']:.2f}, {v['best']} {v['best_speedup']:.2f}")
    return "; ".join(parts)
  if kind == "rewrite":
    modes = record["cases"][0]["speedup_fsnlu_jax_over_transformers"]
    return "median " + ", ".join(
        f"{m} {statistics.median(c['speedup_fsnlu_jax_over_transformers'][m] for c in record['cases']):.2f}"
        for m in modes)
  if kind == "trie":
    cases = record["step"]["cases"]
    out = []
    for key in ("ratio_vs_genre_dict_trie",):
      if cases and key in cases[0]:
        out.append("vs dict trie " + ", ".join(
            f"B{c['batch']}W{c['beams']} {c[key]['fsnlu_jax']:.1f}" for c in cases))
    if cases and "fsnlu_jax_speedup_vs_torch_tensor_trie" in cases[0]:
      out.append("vs torch tensor trie " + ", ".join(
          f"B{c['batch']}W{c['beams']} {c['fsnlu_jax_speedup_vs_torch_tensor_trie']:.1f}"
          for c in cases))
    return "; ".join(out)
  if kind == "multitask_train_step":
    devices = record["sweeps"].get("devices", [])
    return "ms/step by devices: " + ", ".join(
        f"{r['devices']}: {1e3 * r['median_step_s']:.0f}" for r in devices)
  return ""


def device(record: dict) -> str:
  m = record.get("machine", {})
  jax_side = f"jax {m.get('jax_backend', '?')} ({m.get('device_kind', '?')})"
  torch_side = record.get("torch_device")
  if torch_side:
    torch_side = f"torch {torch_side}" + (f" ({m['torch_cuda']})" if m.get("torch_cuda") and
                                          "cuda" in torch_side else "")
  return jax_side + (f", {torch_side}" if torch_side else "")


def rows(folder: pathlib.Path) -> list[dict]:
  status = folder / "suite_status.jsonl"
  if not status.exists():
    raise SystemExit(f"{status}: not found (run benchmarks/gpu_suite.sh first)")
  out = []
  for line in status.read_text().splitlines():
    entry = json.loads(line)
    result = folder / f"{entry['step']}.json"
    if entry["status"] == "ok" and result.exists():
      record = json.loads(result.read_text())
      try:
        entry["headline"] = headline(record)
      except (KeyError, TypeError, ValueError, statistics.StatisticsError) as error:
        entry["headline"] = f"(no headline: {type(error).__name__} {error})"
      entry["device"] = device(record)
      entry["compile_s"] = our_first_call_s(record)
    out.append(entry)
  return out


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("folder", type=pathlib.Path, help="the suite's --results folder")
  args = p.parse_args(argv)
  table = rows(args.folder)
  print("| step | status | s | devices | our first call s | headline (speed-up, >1: ours faster) |")
  print("|---|---|---|---|---|---|")
  for r in table:
    first = r.get("compile_s")
    detail = r.get("headline") if r["status"] == "ok" else r.get("reason")
    print(f"| {r['step']} | {r['status']} | {r['seconds']:.0f} | {r.get('device', '')} | "
          f"{'' if first is None else f'{first:.1f}'} | {detail or ''} |")
  ran = sum(r["status"] == "ok" for r in table)
  print(f"{ran} of {len(table)} steps ran")


if __name__ == "__main__":
  main()
