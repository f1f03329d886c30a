"""Paired differences between systems of several FS-full result files -> results/<out>.json.

``benchmarks/fewshot_pretrained.py`` scores every system of one run on the
same samplings; runs with other encoders (``--model``, ``--concat-model``)
draw the *same* samplings when their dataset, K, sampling seed and test split
agree, so their per-sampling scores pair across files. This script checks
that they do (same seed, number of ways and test examples per setting) and
gives, for each ``--pair NEW BASE`` (each ``LABEL=FILE:SYSTEM``), the
per-sampling difference NEW - BASE on the samplings both have (the
fine-tuned systems have only the first few): mean, sd and 95% t-interval, beside
each system's own mean and the published USE+ConveRT figure.

Usage::

  python benchmarks/fewshot_paired.py \\
      --pair concat=results/fewshot_pretrained_concat.json:softmax \\
             mpnet=results/fewshot_pretrained_mpnet.json:softmax \\
      --pair tuned=results/fewshot_pretrained_mpnet_contrastive.json:contrastive \\
             mpnet=results/fewshot_pretrained_mpnet.json:softmax \\
      --out fewshot_paired.json
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import _harness  # pylint: disable=g-import-not-at-top,wrong-import-position

# pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np

from fsnlu_jax.fewshot import stats as fsstats
# pylint: enable=g-import-not-at-top,wrong-import-position

# Casanueva et al. 2020, USE+ConveRT accuracy (EVALUATION.md), by K.
USE_CONVERT = {5: {"banking77": 77.75, "clinc150": 90.49, "hwu64": 80.01},
               10: {"banking77": 85.19, "clinc150": 93.26, "hwu64": 85.83}}
SAME_DRAWS = ("seed", "n_way", "test_examples")  # settings that fix the samplings


def parse_system(spec: str) -> tuple[str, pathlib.Path, str]:
  """``LABEL=FILE:SYSTEM`` -> (label, file, system)."""
  label, _, rest = spec.partition("=")
  path, _, system = rest.rpartition(":")
  if not (label and path and system):
    raise SystemExit(f"--pair takes LABEL=FILE:SYSTEM, not {spec!r}")
  return label, pathlib.Path(path), system


def per_sampling(setting: dict, system: str, metric: str) -> np.ndarray:
  """``[samplings]`` ``metric`` (accuracy or macro_f1) of ``system`` in one setting, in %."""
  values = np.asarray(setting["per_sampling"][system][metric], np.float64)
  if values.ndim == 2:  # [training seeds, samplings]: the frozen systems have one seed
    if values.shape[0] != 1:
      raise SystemExit(f"{system}: {values.shape[0]} training seeds; pair seed means instead")
    values = values[0]
  return 100 * values


def settings_of(path: pathlib.Path) -> dict[tuple[str, int], dict]:
  data = json.loads(path.read_text())
  targets = data.get("targets", data)  # a results file, or a run's partial file
  return {(target, s["k_shot"]): s for target, result in targets.items()
          if isinstance(result, dict) and "settings" in result for s in result["settings"]}


def pair(new_spec: str, base_spec: str, metric: str = "accuracy") -> dict:
  """Per (dataset, K) of both files: each system's mean and the paired difference."""
  (new, new_path, new_sys), (base, base_path, base_sys) = map(parse_system,
                                                              (new_spec, base_spec))
  new_settings, base_settings = settings_of(new_path), settings_of(base_path)
  cells = {}
  for key in sorted(set(new_settings) & set(base_settings)):
    a, b = new_settings[key], base_settings[key]
    if new_sys not in a["per_sampling"] or base_sys not in b["per_sampling"]:
      continue
    differ = [f for f in SAME_DRAWS if a[f] != b[f]]
    if differ:
      raise SystemExit(f"{key}: {new_path} and {base_path} drew other samplings ({differ} differ)")
    x, y = per_sampling(a, new_sys, metric), per_sampling(b, base_sys, metric)
    n = min(len(x), len(y))
    target, k = key
    cells[f"{target}/{k}"] = dict(
        samplings=n, new=fsstats.summary(x[:n]), base=fsstats.summary(y[:n]),
        difference=fsstats.summary(x[:n] - y[:n]), use_convert=USE_CONVERT[k].get(target),
        new_minus_use_convert=round(float(np.mean(x[:n])) - USE_CONVERT[k].get(target, np.nan), 2))
  if not cells:
    raise SystemExit(f"{new_spec} and {base_spec} share no setting with both systems")
  return dict(new=dict(label=new, file=str(new_path), system=new_sys),
              base=dict(label=base, file=str(base_path), system=base_sys), metric=metric,
              cells=cells)


def format_pair(result: dict) -> str:
  new, base = result["new"]["label"], result["base"]["label"]
  lines = [f"{new} - {base} ({result['metric']}, %; mean ± 95% CI over samplings)",
           f"{'data/K':<13}{'n':>3} {new:>14} {base:>14} {'difference':>14} {'USE+ConveRT':>12}"]
  for cell, c in result["cells"].items():
    show = lambda s: f"{s['mean']:.1f}±{s['half_width']:.1f}"
    lines.append(f"{cell:<13}{c['samplings']:>3} {show(c['new']):>14} {show(c['base']):>14} "
                 f"{c['difference']['mean']:>+8.1f}±{c['difference']['half_width']:.1f} "
                 f"{c['use_convert']:>12}")
  return "\n".join(lines)


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--pair", nargs=2, action="append", required=True, metavar=("NEW", "BASE"),
                 help="LABEL=FILE:SYSTEM twice: the difference NEW - BASE")
  p.add_argument("--metric", choices=("accuracy", "macro_f1"), default="accuracy")
  p.add_argument("--out", help="a results file name (benchmarks/results/...)")
  args = p.parse_args(argv)
  pairs = [pair(new, base, args.metric) for new, base in args.pair]
  for result in pairs:
    print(format_pair(result), end="\n\n")
  if args.out:
    print(f"wrote {_harness.write_result(args.out, dict(benchmark='fs_full_paired', pairs=pairs))}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
