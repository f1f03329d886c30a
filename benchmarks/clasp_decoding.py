"""The same trained PIZZA parsers decoded several ways: what a decoding setting is worth.

Reads the parsers of a :mod:`benchmarks.clasp` run (each ``subset/system`` record
names its workdir), decodes the whole test split once per ``--settings`` entry
(:class:`~fsnlu_jax.parse.config.ParserDecodeConfig` fields, e.g.
``cover_mentions=True,prune_dead_ends=False``), and pairs every setting with the
first per test row: same parser, same rows, so the difference is the decoding's
alone. Each setting also records the rows that fell back to a weaker decoding
(:attr:`~fsnlu_jax.parse.Parser.fallback_rows`) and the well-formed share.

Usage (the README's "dead-end pruning" figures)::

  python benchmarks/clasp_decoding.py --clasp-results runs/clasp.json --workdir runs/clasp \\
      --settings cover_mentions=True,prune_dead_ends=False cover_mentions=True,prune_dead_ends=True \\
      --out benchmarks/results/clasp_decoding.json

Resumable: a (run, setting) already in ``--out`` is skipped.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pathlib
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _harness  # pylint: disable=g-import-not-at-top,wrong-import-position


def parse_setting(text: str) -> dict:
  """``"a=True,b=False"`` -> ``{"a": True, "b": False}`` (booleans and numbers)."""
  out = {}
  for item in text.split(","):
    key, _, value = item.partition("=")
    if not key or not value:
      raise argparse.ArgumentTypeError(f"{text!r}: expected field=value[,field=value]")
    out[key] = json.loads(value.lower()) if value.lower() in ("true", "false") else json.loads(value)
  return out


def decode_run(workdir: pathlib.Path, setting: dict, name: str, data_dir: str | None) -> dict:
  """Exact match, fallbacks and per-row matches of ``workdir``'s parser under ``setting``."""
  from fsnlu_jax import parse  # pylint: disable=g-import-not-at-top
  from fsnlu_jax.parse import data as data_lib  # pylint: disable=g-import-not-at-top
  from fsnlu_jax.parse.config import ParseDataConfig  # pylint: disable=g-import-not-at-top
  parser = parse.Parser.load(workdir)
  parser.decode = dataclasses.replace(parser.decode, **setting)
  config = json.loads((workdir / "config.json").read_text())["data"]
  test = data_lib.load_parse_data(ParseDataConfig(**dict(config, extra_train=None)),
                                  data_dir=data_dir).examples["test"]
  began = time.time()
  predictions = f"predictions_{name}.jsonl"
  out = parse.evaluate_parser(parser, test, workdir, predictions=predictions)
  with open(workdir / predictions, encoding="utf-8") as f:
    matches = [bool(json.loads(line)["match"]) for line in f]
  return dict(out, matches=matches, decode=dataclasses.asdict(parser.decode),
              wall_s=round(time.time() - began, 1))


def summarize(runs: dict, names: list[str]) -> dict:
  """Per setting: exact match over runs; each setting − the first, paired per test row."""
  from fsnlu_jax.fewshot import stats  # pylint: disable=g-import-not-at-top
  keys = sorted(k for k in runs if all(n in runs[k] for n in names))
  out = dict(runs=keys, settings={}, paired={})
  if not keys:
    return out
  grid = lambda n: np.array([runs[k][n]["matches"] for k in keys], np.float64)  # --> [R, N]
  for name in names:
    out["settings"][name] = dict(
        stats.summary(grid(name)),
        fallback_rows={k: runs[k][name]["fallback_rows"] for k in keys},
        well_formed=min(runs[k][name]["well_formed"] for k in keys))
  for name in names[1:]:
    out["paired"][f"{name} − {names[0]}"] = stats.summary(grid(name) - grid(names[0]))
  return out


def main(argv: list[str] | None = None) -> int:
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--clasp-results", required=True, help="a benchmarks/clasp.py --out file")
  p.add_argument("--workdir", required=True, help="that run's --workdir")
  p.add_argument("--runs", nargs="*", help="subset/system keys (default: all)")
  p.add_argument("--settings", nargs="+", type=parse_setting, required=True)
  p.add_argument("--data-dir", default=os.environ.get("FSNLU_DATA_DIR"))
  p.add_argument("--out", required=True)
  args = p.parse_args(argv)
  source = json.loads(pathlib.Path(args.clasp_results).read_text())
  names = [",".join(f"{k}={v}" for k, v in sorted(s.items())) for s in args.settings]
  out_path = pathlib.Path(args.out)
  results = (json.loads(out_path.read_text()) if out_path.exists()
             else dict(clasp_results=str(args.clasp_results), runs={}))
  results.update(command=_harness.command(), machine=_harness.machine_info(matmul=False))
  root = pathlib.Path(args.workdir)
  for key in args.runs or sorted(source["runs"]):
    record = results["runs"].setdefault(key, {})
    for name, setting in zip(names, args.settings):
      if name in record:
        continue
      tag = name.replace("=", "_").replace(",", "__")
      record[name] = decode_run(root / source["runs"][key]["workdir"], setting, tag,
                                args.data_dir)
      print(key, name, f"{100 * record[name]['exact_match']:.1f}",
            record[name]["fallback_rows"], flush=True)
      results["summary"] = summarize(results["runs"], names)
      out_path.parent.mkdir(parents=True, exist_ok=True)
      out_path.write_text(json.dumps(results, indent=1))
  print(json.dumps({k: {m: v.get(m) for m in ("mean", "half_width", "seed_half_width")}
                    for k, v in {**results["summary"]["settings"],
                                 **results["summary"]["paired"]}.items()}, indent=1))
  return 0


if __name__ == "__main__":
  sys.exit(main())
