"""Which intents each selection's picks come from, read from ``ig_selection.py``'s workdirs.

For every finished (dataset, seed) under ``--workdir`` and every strategy and
budget: the distinct intents of the picks, the share of picks whose true
intent is among the quarter of intents with the highest validation
intent-error rate of the base model (``errors.jsonl``; the pool's labels are
read after the fact, never by the selection), and the largest share of one
intent. Means over the seeds; the README's "why" paragraph of the IG
selection section quotes them::

  python benchmarks/ig_selection_coverage.py --workdir W --data-dir ../shared/data
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import pathlib
import sys

import numpy as np

STRATEGIES = ("ig", "random", "ig_rate", "ig_mean")


def coverage(workdir: pathlib.Path, data_dir: str | None) -> dict[tuple[str, str], list[tuple]]:
  """``(strategy, K) -> [(distinct intents, share from the worst quarter, largest share)]``."""
  # pylint: disable=g-import-not-at-top
  from fsnlu_jax import selection
  from fsnlu_jax.config import from_dict
  # pylint: enable=g-import-not-at-top
  rows = collections.defaultdict(list)
  for seed_dir in sorted(workdir.glob("seed*")):
    if not (seed_dir / "selected.json").exists():
      continue
    config = from_dict(selection.SelectionConfig, json.loads((seed_dir / "config.json").read_text()))
    data = selection.load_data(config, data_dir)
    errors = [json.loads(line) for line in (seed_dir / "errors.jsonl").read_text().splitlines()]
    wrong = collections.Counter(e["gold"] for e in errors if e["kind"] == "intent")
    seen = collections.Counter(e.intent for e in data.validation)
    rate = {k: wrong[k] / n for k, n in seen.items()}
    worst = set(sorted(rate, key=rate.get, reverse=True)[:max(1, len(rate) // 4)])
    selected = json.loads((seed_dir / "selected.json").read_text())
    for strategy in STRATEGIES:
      for k, picks in selected[strategy].items():
        intents = [data.pool[i].intent for i in picks]
        counts = collections.Counter(intents)
        rows[(strategy, k)].append((len(counts), float(np.mean([i in worst for i in intents])),
                                    max(counts.values()) / len(intents)))
  return rows


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--workdir", default=os.path.expanduser("~/.cache/fsnlu_jax/ig_selection"),
                      help="ig_selection.py's --workdir")
  parser.add_argument("--data-dir", default=os.environ.get("FSNLU_DATA_DIR"))
  parser.add_argument("--datasets", nargs="+", default=["hwu64", "snips"])
  args = parser.parse_args(argv)
  print("| dataset | K | strategy | seeds | distinct intents | share from the worst quarter "
        "| largest one-intent share |\n|---|---:|---|---:|---:|---:|---:|")
  for key in args.datasets:
    rows = coverage(pathlib.Path(args.workdir) / key, args.data_dir)
    for (strategy, k), values in sorted(rows.items(), key=lambda x: (int(x[0][1]), x[0][0])):
      v = np.array(values)
      print(f"| {key} | {k} | {strategy} | {len(v)} | {v[:, 0].mean():.1f} | {v[:, 1].mean():.2f} "
            f"| {v[:, 2].mean():.2f} |")
  return 0


if __name__ == "__main__":
  sys.exit(main())
