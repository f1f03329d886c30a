"""FS-unseen accuracy of the four few-shot systems on real data -> results/protoda.json.

Runs the main job (:func:`fsnlu_jax.fewshot.run_fewshot`) with the
``clinc150`` and ``hwu64`` variants of ``configs/fewshot.py`` and gathers
their ``results.json`` with the machine, versions, scale and command::

  python benchmarks/protoda.py --data-dir ../shared/data --workdir /tmp/protoda \\
      [--scale cpu] [--datasets clinc150 hwu64]

``--scale cpu`` shrinks the encoder (256-d sentence vectors instead of 768-d)
and the step budgets so both datasets finish in well under an hour on a 2-core
CPU; the JSON records which scale ran. Reruns resume finished stages.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _cpu_scale(config: dict) -> dict:
  """The reduced budget of a CPU-only machine (module docs)."""
  config["encoder"]["model"].update(embed_dim=64, shared_hidden=64, task_hidden=128)
  config["encoder"]["train"].update(steps=800, batch_size=64, eval_every=400,
                                    checkpoint_every=400)
  config["episodes"].update(steps=800, generator_warmup=300, eval_every=200,
                            checkpoint_every=200)
  return config


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--data-dir", required=True)
  parser.add_argument("--workdir", required=True)
  parser.add_argument("--cache-dir")
  parser.add_argument("--scale", choices=("full", "cpu"), default="full")
  parser.add_argument("--datasets", nargs="+", default=["clinc150", "hwu64"])
  parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "protoda.json"))
  args = parser.parse_args()

  import jax  # pylint: disable=g-import-not-at-top
  # pylint: disable=g-import-not-at-top
  from fsnlu_jax.config import load_config
  from fsnlu_jax.fewshot import run_fewshot
  # pylint: enable=g-import-not-at-top

  out = dict(command=" ".join([os.path.basename(sys.executable), *sys.argv]), scale=args.scale,
             machine=dict(platform=platform.platform(), processor=platform.processor(),
                          cpu_count=os.cpu_count(), devices=[str(d) for d in jax.devices()]),
             versions=dict(jax=jax.__version__), datasets={})
  for name in args.datasets:
    config = load_config(f"{ROOT / 'configs' / 'fewshot.py'}:{name}")
    if args.scale == "cpu":
      config = _cpu_scale(config)
    start = time.time()
    results = run_fewshot(config, pathlib.Path(args.workdir) / name,
                          data_dir=args.data_dir, cache_dir=args.cache_dir)
    results["wall_seconds"] = round(time.time() - start, 1)
    results["config"] = config
    out["datasets"][name] = results
    pathlib.Path(args.out).write_text(json.dumps(out, indent=1))
  return 0


if __name__ == "__main__":
  sys.exit(main())
