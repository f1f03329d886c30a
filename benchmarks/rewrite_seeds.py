"""CGF rewriting over training seeds: every system's mean and interval, and paired differences.

Reads finished ``fsnlu rewrite`` workdirs that differ only in the training
seed (``seed``; refused otherwise, so a summary never mixes configs), which
therefore score the same test pairs (they depend on ``data.seed`` alone), and
writes per system precision / recall / F1 as mean, sd and 95% t interval over
the seeds, and the comparisons the paper makes, paired
(:func:`fsnlu_jax.rewrite.compare_systems`): each constrained system against
retrieval in the same tries, retrieval and generation together (combined and
fused) against retrieval, and retrieval that reads the previous turn against plain
retrieval; over all test pairs and within the groups where spelling cannot
undo the error (cut-offs whose value the previous turn names, confusables)::

  for s in 0 1 2; do fsnlu rewrite --config rewrite:contextual,nocopy --set seed=$s \
      --workdir /tmp/rw/ctx_s$s --data-dir ../shared/data; done
  python benchmarks/rewrite_seeds.py --name contextual --workdirs /tmp/rw/ctx_s{0,1,2}

Results go to ``benchmarks/results/rewrite_seeds.json`` under ``--name`` (other
names in the file are kept). Accuracy only: no timing.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _harness  # noqa: E402  pylint: disable=wrong-import-position

# (new, baseline): the paper's comparisons, and the checks that context has value.
COMPARISONS = (("global", "retrieval_global"), ("personal", "retrieval_personal"),
               ("both", "retrieval_both"), ("combined_global", "retrieval_global"),
               ("combined_personal", "retrieval_personal"), ("combined_both", "retrieval_both"),
               ("fused_global", "retrieval_global"), ("fused_personal", "retrieval_personal"),
               ("fused_both", "retrieval_both"),
               ("retrieval_context_both", "retrieval_both"), ("both", "unconstrained"))
GROUPS = ("cutoff_value_in_previous", "cutoff", "confusable", "spelling_undoable", "clean")


def read_runs(workdirs) -> list[dict]:
  """Each workdir's config, results and per-pair outcomes; refuses runs of other configs."""
  runs = []
  for w in map(pathlib.Path, workdirs):
    try:
      runs.append(dict(workdir=str(w), config=json.loads((w / "config.json").read_text()),
                       results=json.loads((w / "results.json").read_text()),
                       outcomes=json.loads((w / "test_outcomes.json").read_text())))
    except FileNotFoundError as e:
      raise SystemExit(f"{w}: not a finished rewrite run with per-pair outcomes ({e.filename})")
  first = {k: v for k, v in runs[0]["config"].items() if k != "seed"}
  for run in runs[1:]:
    other = {k: v for k, v in run["config"].items() if k != "seed"}
    if other != first:
      changed = sorted(k for k in set(first) | set(other) if first.get(k) != other.get(k))
      raise SystemExit(f"{run['workdir']}: config differs from {runs[0]['workdir']} in "
                       f"{changed}, not only in the seed")
    if run["outcomes"]["groups"] != runs[0]["outcomes"]["groups"]:
      raise SystemExit(f"{run['workdir']}: other test pairs than {runs[0]['workdir']}")
  seeds = [r["config"]["seed"] for r in runs]
  if len(set(seeds)) != len(seeds):
    raise SystemExit(f"the same training seed twice: {seeds}")
  return runs


def summarize(runs: list[dict], resamples: int) -> dict:
  """Per system over seeds, and the paired comparisons (module docs)."""
  from fsnlu_jax.rewrite import compare_systems  # pylint: disable=g-import-not-at-top
  from fsnlu_jax.train import metrics as metrics_lib  # pylint: disable=g-import-not-at-top

  systems = {}
  for name in runs[0]["results"]["test"]:
    per_seed = {m: [r["results"]["test"][name][m] for r in runs]
                for m in ("precision", "recall", "f1", "outside_trie") if
                m in runs[0]["results"]["test"][name]}
    systems[name] = {m: dict(mean=float(np.mean(v)), sd=float(np.std(v, ddof=1)) if len(v) > 1
                             else None,
                             half_width=metrics_lib.mean_confidence_interval(v)[1]
                             if len(v) > 1 else None, seeds=v)
                     for m, v in per_seed.items()}
  groups = {g: np.array(list(s)) == "1" for g, s in runs[0]["outcomes"]["groups"].items()}
  codes = {name: [r["outcomes"]["systems"][name] for r in runs]
           for name in runs[0]["outcomes"]["systems"]}
  paired = {}
  for new, base in COMPARISONS:
    if new not in codes or base not in codes:
      continue
    entry = dict(all=compare_systems(codes[new], codes[base], resamples=resamples))
    for g in GROUPS:
      rows = np.flatnonzero(groups.get(g, np.zeros(0, bool)))
      if rows.size:
        pick = lambda cs: ["".join(c[i] for i in rows) for c in cs]  # noqa: E731
        entry[g] = dict(pairs=int(rows.size), **compare_systems(pick(codes[new]),
                                                                pick(codes[base]),
                                                                resamples=resamples))
    paired[f"{new}-{base}"] = entry
  return dict(seeds=[r["config"]["seed"] for r in runs], workdirs=[r["workdir"] for r in runs],
              test_pairs=runs[0]["results"]["test_pairs"], systems=systems, paired=paired,
              data_stats=runs[0]["results"]["data_stats"]["test"])


def table(summary: dict) -> str:
  """Markdown: the paired comparisons over all pairs, and recall where spelling cannot help."""
  lines = ["| new − baseline | P new / base (relative) | ΔP [pairs 95%] | ΔR [pairs 95%] | "
           "ΔF1 ± seeds (95%) | ΔR cut-off, value in previous | ΔR confusable |",
           "|---|---|---|---|---|---|---|"]
  for key, e in summary["paired"].items():
    a = e["all"]
    p, r, f = a["precision"], a["recall"], a["f1"]
    iv = lambda d: f"[{100 * d['pairs_interval'][0]:+.1f}, {100 * d['pairs_interval'][1]:+.1f}]"  # noqa: E731
    rel = f"{100 * p['relative']:+.0f}%" if p["relative"] is not None else "-"
    half = f"{100 * f['seed_half_width']:.1f}" if f["seed_half_width"] is not None else "-"
    grp = lambda g: (f"{100 * e[g]['recall']['difference']:+.1f} {iv(e[g]['recall'])}"  # noqa: E731
                     if g in e else "-")
    lines.append(f"| {key} | {p['new']:.3f} / {p['base']:.3f} ({rel}) | "
                 f"{100 * p['difference']:+.1f} {iv(p)} | {100 * r['difference']:+.1f} {iv(r)} | "
                 f"{100 * f['difference']:+.1f} ± {half} | {grp('cutoff_value_in_previous')} | "
                 f"{grp('confusable')} |")
  return "\n".join(lines)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--workdirs", nargs="+", required=True)
  parser.add_argument("--name", required=True, help="the entry in the results file")
  parser.add_argument("--resamples", type=int, default=2000)
  parser.add_argument("--out", default="rewrite_seeds.json")
  args = parser.parse_args(argv)
  summary = summarize(read_runs(args.workdirs), args.resamples)
  path = _harness.RESULTS_DIR / args.out if not os.path.isabs(args.out) else pathlib.Path(args.out)
  entries = json.loads(path.read_text()).get("entries", {}) if path.exists() else {}
  entries[args.name] = summary
  written = _harness.write_result(str(path), dict(
      definitions=dict(
          precision="correct / outputs; recall: correct / all test pairs; thresholds chosen "
                    "on validation per run",
          pairs_interval="percentile interval of the seed-averaged difference over bootstrap "
                         "resamples of the test pairs (paired: the same pairs for both systems)",
          half_width="95% t interval over the training seeds"),
      entries=entries))
  print(table(summary))
  print(f"wrote {written}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
