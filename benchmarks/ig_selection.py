"""The IG selection protocol of EVALUATION.md: IG-selected training utterances against random ones.

For HWU64 and SNIPS and each of ``SEEDS`` seeds, ``configs/select.py`` (run by
``fsnlu_jax.selection.run_selection``):

1. draws ``TRAIN_FRACTION`` (10%) of the training utterances as the labelled
   set (the seed draws it), the rest is the pool with labels hidden;
2. trains the multitask bi-LSTM on it (the base model), finds its errors on the
   validation split (intents and tagged tokens), scores words by IG influence
   and pool utterances by their words' summed influence, after the filters
   (duplicates, base-model confidence below ``min_confidence``);
3. for each budget K, retrains the same model (same seed, steps, batch) on the
   labelled set plus the top-K pool utterances (``ig``) and plus K random
   eligible pool utterances (``random``), labels revealed;
4. scores every model on the test split (HWU64 fold 10, SNIPS ``test``) at its
   last step: intent error (1 - accuracy) and SemER;
5. a control the protocol does not ask for (``length``): IG's picks are much
   longer than random ones, so for each IG pick a random eligible pool
   utterance of the same length (nearest when none is left) is drawn with
   ``default_rng([seed, 3])``, and the same model retrained on those: what
   IG adds beyond choosing long utterances;
6. ``ig_rate``: the top-K pool utterances under the rate rule of
   ``fsnlu_jax.explain._influence`` (summed harm over the errors divided by
   the word's validation count + 1), decided before any test number, because
   the summed rule turned out to rank function words first and so long
   utterances. It is compared, paired, with ``random`` and with ``length``
   (whose lengths follow IG's picks, not ``ig_rate``'s: the picks' mean
   lengths are reported beside it), and with ``length_rate``, the control of
   step 5 matched to ``ig_rate``'s picks instead (``default_rng([seed, 4])``).

Reported per dataset, budget and strategy: mean ± 95% t-interval over the
seeds (``fsnlu_jax.train.metrics.EpisodeStats``), the paired differences
IG - random, IG - length, ig_rate - random, ig_rate - length,
ig_rate - length_rate and ig_rate - IG (per seed, then mean ± interval: the
strategies of a seed share the labelled set, so pairing removes its
variance), the relative change against random ``(random - ig) / random`` of
the means, the mean tokens per pick of each selection, and per dataset the
top-10 words of both rules for seed 0.

Resumable: every stage of every (dataset, seed) is kept under ``--workdir``
and skipped on a rerun. ``--quick`` runs one seed of one dataset into
``<workdir>/quick`` to measure the cost. A results file is only extended by
runs of its own ``PROTOCOL_VERSION`` and config (``--fresh`` starts it
over and keeps the old summaries under ``superseded``); datasets run side by
side go to their own ``--out`` files and are joined with ``--merge``.

Usage (about an hour of two busy CPU cores from scratch: 11 trainings per seed)::

  nice -n 19 python benchmarks/ig_selection.py --data-dir ../shared/data
  # or one dataset per process, then one file:
  python benchmarks/ig_selection.py --datasets snips --seeds 0 1 2 --out W/snips.json
  python benchmarks/ig_selection.py --datasets hwu64 --seeds 0 1 2 --out W/hwu64.json
  python benchmarks/ig_selection.py --merge W/snips.json W/hwu64.json
  python benchmarks/ig_selection.py --table          # the README table from the JSON

References:
  "Improving Large-Scale Conversational Assistants using Model Interpretation
  based Training Sample Selection", EMNLP 2022 (industry track).
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import os
import pathlib
import sys
import time

import numpy as np

import _harness

ROOT = pathlib.Path(__file__).resolve().parents[1]
SEEDS = (0, 1, 2, 3, 4)
DATASETS = ("hwu64", "snips")
METRICS = ("intent_error", "semer")
STRATEGIES = ("ig", "random", "length", "ig_rate", "length_rate", "ig_mean")
# The paired differences reported: (strategy, against).
PAIRS = (("ig", "random"), ("ig", "length"), ("ig_rate", "random"), ("ig_rate", "length"),
         ("ig_rate", "length_rate"), ("ig_rate", "ig"), ("ig_mean", "random"), ("ig_mean", "ig"))
PICKED = ("ig", "ig_rate", "random", "ig_mean")  # strategies whose picks' lengths are recorded
# Seeds needed to resolve a one-point difference: a two-sided 5% test with 80% power on
# the paired per-seed differences, n = ((z_.975 + z_.8) * sd / 0.01)^2.
RESOLVE = 0.01
Z_POWER = 1.959964 + 0.841621
OUT = "ig_selection.json"
# Bumped whenever a change makes earlier seeds incomparable; a file of another
# version is never extended (2: the selection model's vocabulary covers the pool).
PROTOCOL_VERSION = 2


def _config(dataset: str, seed: int, retrains: int = 1, budgets: list[int] | None = None
            ) -> dict:
  from fsnlu_jax.config import load_config  # pylint: disable=g-import-not-at-top
  config = load_config(f"{ROOT / 'configs' / 'select.py'}:{dataset}")
  config["seed"] = seed
  config["select"]["retrains"] = retrains
  if budgets:
    config["select"]["budgets"] = budgets
  return config


def _interval(values: list[float]) -> dict | None:
  from fsnlu_jax.train import metrics  # pylint: disable=g-import-not-at-top
  if len(values) < 2:
    return None
  mean, half = metrics.mean_confidence_interval(values)
  return dict(mean=mean, half_width=half, n=len(values), values=values)


def _value(record: dict, name: str, metric: str) -> float:
  """A seed's value of run ``name``: the mean over its retrains (``name``, ``name_r1``, ...)."""
  runs = record["runs"]
  values = [runs[name][metric]] + [runs[k][metric] for k in sorted(runs)
                                   if k.startswith(f"{name}_r") and k[len(name) + 2:].isdigit()]
  return float(np.mean(values))


def seeds_to_resolve(interval: dict | None) -> int | None:
  """Seeds a paired difference with this spread needs to resolve ``RESOLVE`` (see above)."""
  if interval is None:
    return None
  sd = float(np.std(interval["values"], ddof=1))
  return int(np.ceil((Z_POWER * sd / RESOLVE) ** 2))


def summarize(seeds: dict[str, dict], budgets: list[int]) -> dict:
  """Means ± 95% t-intervals per strategy and budget, and paired IG - other differences.

  A seed's value is the mean over its retrains; each paired difference also
  gets ``seeds_needed``: the seeds its measured spread needs to resolve one
  point (:func:`seeds_to_resolve`).
  """
  from fsnlu_jax.train import metrics  # pylint: disable=g-import-not-at-top
  done = [r for r in seeds.values() if "runs" in r]
  many = len(done) > 1
  base = metrics.EpisodeStats()
  for r in done:
    base.add(**{m: r["base"][m] for m in METRICS})
  out = dict(seeds=len(done), base=base.summary() if many else None, budgets={})
  for k in budgets:
    present = [s for s in STRATEGIES if all(f"{s}_k{k}" in r["runs"] for r in done)]
    stats = {s: metrics.EpisodeStats() for s in present}
    for r in done:
      for s in present:
        stats[s].add(**{m: _value(r, f"{s}_k{k}", m) for m in METRICS})
    row = {s: st.summary() if many else None for s, st in stats.items()}
    for a, b in PAIRS:
      if a in present and b in present:
        row[f"{a}_minus_{b}"] = {m: _interval([_value(r, f"{a}_k{k}", m) - _value(
            r, f"{b}_k{k}", m) for r in done]) for m in METRICS}
        row[f"{a}_minus_{b}"]["seeds_needed"] = {
            m: seeds_to_resolve(row[f"{a}_minus_{b}"][m]) for m in METRICS}
    row["mean_tokens"] = {s: float(np.mean([r["selections"][f"{s}_k{k}"]["mean_tokens"]
                                            for r in done]))
                          for s in PICKED if all(f"{s}_k{k}" in r["selections"] for r in done)}
    if many:
      row["relative_change_vs_random"] = {
          m: (row["random"][m]["mean"] - row["ig"][m]["mean"]) / row["random"][m]["mean"]
          for m in METRICS}
    out["budgets"][str(k)] = row
  return out


def _pm(x: dict, sign: str = "") -> str:
  """``mean ± half-width`` of a summary entry, in percentage points."""
  return f"{100 * x['mean']:{sign}.1f} ± {100 * x['half_width']:.1f}"


def markdown_table(results: dict) -> str:
  """The README table: per dataset and budget, both strategies and their paired difference."""
  lines = ["| dataset (labelled / pool) | added K | intent error: IG | random | IG − random "
           "| SemER: IG | random | IG − random |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
  ci, diff = _pm, lambda x: _pm(x, "+")

  for key, entry in results["datasets"].items():
    s, d = entry["summary"], entry["data"]
    if not s.get("base"):
      continue
    name = f"{key} ({d['train']} / {d['pool']})"
    lines.append(f"| {name} | 0 (base) | {ci(s['base']['intent_error'])} | | | "
                 f"{ci(s['base']['semer'])} | | |")
    for k, row in s["budgets"].items():
      lines.append(
          f"| {name} | {k} | {ci(row['ig']['intent_error'])} | {ci(row['random']['intent_error'])}"
          f" | {diff(row['ig_minus_random']['intent_error'])} | {ci(row['ig']['semer'])} | "
          f"{ci(row['random']['semer'])} | {diff(row['ig_minus_random']['semer'])} |")
  return "\n".join(lines)


def control_table(results: dict) -> str:
  """The length control: IG against random picks of the same lengths."""
  lines = ["| dataset | added K | tokens per pick: IG / random | SemER: length-matched | "
           "IG − length-matched | intent error: length-matched | IG − length-matched |",
           "|---|---:|---:|---:|---:|---:|---:|"]
  for key, entry in results["datasets"].items():
    for k, row in entry["summary"]["budgets"].items():
      if not row.get("length"):
        continue
      tokens = [row["mean_tokens"][s] for s in ("ig", "random")]
      diff, pm = row["ig_minus_length"], _pm
      lines.append(f"| {key} | {k} | {tokens[0]:.1f} / {tokens[1]:.1f} | "
                   f"{pm(row['length']['semer'])} | {pm(diff['semer'], '+')} | "
                   f"{pm(row['length']['intent_error'])} | {pm(diff['intent_error'], '+')} |")
  return "\n".join(lines)


def rate_table(results: dict) -> str:
  """The rate rule against random picks and against the length control."""
  others = ("random", "length", "length_rate")
  head = " | ".join(f"ig_rate − {o}" for o in others)
  lines = [f"| dataset | added K | tokens per pick: ig_rate / IG / random | SemER: ig_rate | "
           f"{head} | intent error: ig_rate | {head} |", "|---|---:|---:" + "|---:" * 8 + "|"]
  pm = _pm

  for key, entry in results["datasets"].items():
    for k, row in entry["summary"]["budgets"].items():
      if not row.get("ig_rate") or "ig_rate_minus_length" not in row:
        continue
      t = row["mean_tokens"]
      cells = [f"{t['ig_rate']:.1f} / {t['ig']:.1f} / {t['random']:.1f}"]
      for m in ("semer", "intent_error"):
        diffs = [row.get(f"ig_rate_minus_{o}") for o in others]
        cells += [pm(row["ig_rate"][m])] + [pm(d[m], "+") if d else "" for d in diffs]
      lines.append(f"| {key} | {k} | " + " | ".join(cells) + " |")
  return "\n".join(lines)


def mean_table(results: dict) -> str:
  """The length-normalised score (``ig_mean``) against random and against IG, with the seeds
  each paired difference would need to resolve one point."""
  lines = ["| dataset | added K | tokens per pick: ig_mean / IG / random | SemER: ig_mean | "
           "ig_mean − random (seeds needed) | ig_mean − IG | intent error: ig_mean | "
           "ig_mean − random (seeds needed) | ig_mean − IG |", "|---|---:|---:" + "|---:" * 6 + "|"]
  for key, entry in results["datasets"].items():
    for k, row in entry["summary"]["budgets"].items():
      if not row.get("ig_mean") or "ig_mean_minus_random" not in row:
        continue
      t, vs_random, vs_ig = row["mean_tokens"], row["ig_mean_minus_random"], row["ig_mean_minus_ig"]
      cells = [f"{t['ig_mean']:.1f} / {t['ig']:.1f} / {t['random']:.1f}"]
      for m in ("semer", "intent_error"):
        cells += [_pm(row["ig_mean"][m]),
                  f"{_pm(vs_random[m], '+')} ({vs_random['seeds_needed'][m]})",
                  _pm(vs_ig[m], "+")]
      lines.append(f"| {key} | {k} | " + " | ".join(cells) + " |")
  return "\n".join(lines)


def top_words_table(results: dict) -> str:
  """Seed 0's ten most influential words under each rule, per dataset."""
  lines = []
  for key, entry in results["datasets"].items():
    top = entry.get("top_words_seed0")
    if top:
      for rule, words in top.items():
        lines.append(f"{key} {rule}: " + ", ".join(w[0] for w in words))
  return "\n".join(lines)


def length_matched(ig_rows: list[int], lengths: np.ndarray, eligible: np.ndarray,
                   rng: np.random.Generator) -> list[int]:
  """For each IG pick, in order, a random eligible row of the same length (else the nearest)."""
  strata: dict[int, list[int]] = {}
  for row in rng.permutation(np.flatnonzero(eligible)).tolist():
    strata.setdefault(int(lengths[row]), []).append(row)
  out = []
  for row in ig_rows:
    want = int(lengths[row])
    length = min((n for n, rows in strata.items() if rows), key=lambda n: (abs(n - want), n))
    out.append(strata[length].pop())
  return out


# Length controls: name -> (the strategy whose pick lengths are matched, rng stream, rows file).
CONTROLS = dict(length=("ig", 3, "length_matched.json"),
                length_rate=("ig_rate", 4, "length_matched_ig_rate.json"))


def run_length_control(config: dict, workdir: pathlib.Path, data_dir: str | None,
                       controls: tuple[str, ...] = tuple(CONTROLS)) -> dict:
  """Trains ``<control>_k<K>`` of every length control and budget (resumable); their results."""
  # pylint: disable=g-import-not-at-top
  from fsnlu_jax import selection
  from fsnlu_jax.config import from_dict
  # pylint: enable=g-import-not-at-top
  config = from_dict(selection.SelectionConfig, config)
  data = selection.load_data(config, data_dir)
  budgets = config.select.budgets
  runs = {}
  for name, (source, stream, file) in CONTROLS.items():
    if name not in controls:
      continue
    path = workdir / file
    if not path.exists():
      lengths = np.array([min(len(e.tokens), config.data.max_length) for e in data.pool])
      picks = json.loads((workdir / "selected.json").read_text())[source][str(max(budgets))]
      rows = length_matched(picks, lengths, np.load(workdir / "pool.npz")["eligible"],
                            np.random.default_rng([config.seed, stream]))
      path.write_text(json.dumps({"rows": rows,
                                  f"overlap_with_{source}": len(set(rows) & set(picks))}))
    rows = json.loads(path.read_text())["rows"]
    for k in budgets:
      for r in range(config.select.retrains):  # retrained like the strategies it controls
        run = selection.retrain_name(f"{name}_k{k}", r)
        runs[run] = selection.train_model(
            selection.retrain_config(config, r), workdir / run,
            [*data.train, *(data.pool[i] for i in rows[:k])], data, keep_checkpoints=False)
  return runs


def _seed_record(result: dict, wall: float) -> dict:
  """What the JSON keeps of one (dataset, seed) run."""
  keep = ("base", "influence", "filters", "selections", "runs")
  return dict(**{k: result[k] for k in keep if k in result}, wall_s=round(wall, 1))


def run_dataset(key: str, seeds: list[int], args, results: dict, save) -> None:
  from fsnlu_jax import selection  # pylint: disable=g-import-not-at-top
  entry = results["datasets"].setdefault(key, dict(seeds={}))
  for seed in seeds:
    config = _config(key, seed, args.retrains, args.budgets)
    scale = copy.deepcopy({k: v for k, v in config.items() if k != "seed"})
    if entry["seeds"] and entry.get("scale") != scale:  # a rerun never mixes configs
      raise SystemExit(f"{key}: the results file holds seeds of another config (steps, "
                       "budgets, model ...); pass --fresh or another --out")
    start = time.perf_counter()
    print(f"[{key}] seed {seed}", flush=True)
    workdir = pathlib.Path(args.workdir) / key / f"seed{seed}"
    result = selection.run_selection(config, workdir, data_dir=args.data_dir)
    result["runs"].update(run_length_control(config, workdir, args.data_dir, args.controls))
    # Summed over invocations: a rerun that only reads finished stages adds seconds.
    wall = entry["seeds"].get(str(seed), {}).get("wall_s", 0.0) + time.perf_counter() - start
    entry["seeds"][str(seed)] = _seed_record(result, wall)
    entry.update(data=result["data"], scale=scale,
                 summary=summarize(entry["seeds"], config["select"]["budgets"]))
    if seed == 0:  # what each rule promotes: [word, influence] / [word, rate, harm, count]
      entry["top_words_seed0"] = dict(ig=result["influence"]["top_words"][:10],
                                      ig_rate=result["influence"]["top_words_rate"][:10])
    save(results)
    runs = " ".join(f"{n}: SemER {r['semer']:.3f} IE {r['intent_error']:.3f}"
                    for n, r in result["runs"].items())
    print(f"[{key}] seed {seed} base SemER {result['base']['semer']:.3f} IE "
          f"{result['base']['intent_error']:.3f} | {runs} ({wall:.0f} s in all)", flush=True)


def _tables(results: dict) -> str:
  return "\n\n".join([markdown_table(results), control_table(results), rate_table(results),
                       mean_table(results), top_words_table(results)])


def _protocol(seeds: list[int], retrains: int) -> dict:
  return dict(
      version=PROTOCOL_VERSION, seeds=seeds,
      metrics="test split, last step; intent_error = 1 - intent accuracy",
      interval="mean ± 95% Student-t half-width over seeds",
      paired="<a>_minus_<b>: per-seed a - b, then mean ± 95% t half-width",
      length="control: per IG pick a random eligible pool utterance of the same length",
      ig_rate="top K by summed word rate: harm summed over errors / (validation count + 1)",
      length_rate="control: per ig_rate pick a random eligible pool utterance of its length",
      mean_tokens="tokens per pick, mean over seeds of each selection's mean",
      relative_change_vs_random="(random - ig) / random of the means",
      ig_mean="top K by summed word influence per token (length-normalised ig)",
      retrains=f"{retrains} per (seed, strategy, budget); a seed's value is their mean",
      seeds_needed=f"((z_.975 + z_.8) * sd / {RESOLVE})^2 of the paired differences",
      published="+0.05% utterances, -0.45% relative SemER (offline), EMNLP 2022 industry")


def _superseded(old: dict) -> dict:
  """What a new file keeps of the results it replaces: how they were made and their summaries."""
  keep = {k: old[k] for k in ("command", "utc", "protocol") if k in old}
  return dict(**keep, datasets={k: dict(data=e.get("data"), summary=e.get("summary"))
                                for k, e in old.get("datasets", {}).items()})


def _previous(out: pathlib.Path, args) -> dict:
  """The results a run extends: ``out``'s, when of this protocol version.

  Seeds of another version are never mixed in: the run stops unless
  ``--fresh``, which starts over and keeps the old file's summaries under
  ``superseded``. (Another config, ``--retrains`` included, is refused per
  dataset by :func:`run_dataset`'s ``scale`` check.)
  """
  if not out.exists():
    return dict(datasets={})
  old = json.loads(out.read_text())
  if args.fresh:
    return dict(datasets={}, superseded=_superseded(old))
  if old.get("protocol", {}).get("version") != PROTOCOL_VERSION:
    raise SystemExit(f"{out} holds seeds of another protocol version; pass --fresh (its "
                     "summaries are kept under 'superseded') or another --out")
  return old


def merge(paths: list[pathlib.Path], out: pathlib.Path) -> dict:
  """One JSON from files written side by side (e.g. one dataset each) by this script.

  Every file must be of this protocol version and the same retrains; a
  dataset may come from one file only. ``superseded`` is taken from the
  first file that has one, else from ``out`` when that holds another
  protocol version; each file's command is kept under ``merged_from``.
  """
  files = [json.loads(p.read_text()) for p in paths]
  retrains = {f["protocol"].get("retrains") for f in files}
  if {f["protocol"].get("version") for f in files} != {PROTOCOL_VERSION} or len(retrains) > 1:
    raise SystemExit(f"{[str(p) for p in paths]}: not all of protocol version "
                     f"{PROTOCOL_VERSION} with one --retrains")
  datasets, merged_from = {}, []
  for path, f in zip(paths, files):
    clash = set(datasets) & set(f["datasets"])
    if clash:
      raise SystemExit(f"{path}: dataset(s) {sorted(clash)} already come from another file")
    datasets.update(f["datasets"])
    merged_from.append(dict(file=str(path), command=f["command"], utc=f["utc"],
                            datasets=sorted(f["datasets"]),
                            wall_s=f.get("total_wall_s_this_invocation")))
  seeds = sorted({int(s) for e in datasets.values() for s in e["seeds"]})
  superseded = next((f["superseded"] for f in files if "superseded" in f), None)
  if superseded is None and out.exists():
    old = json.loads(out.read_text())
    if old.get("protocol", {}).get("version") != PROTOCOL_VERSION:
      superseded = _superseded(old)
  result = dict(benchmark=files[0]["benchmark"], datasets=datasets, merged_from=merged_from,
                protocol=dict(files[0]["protocol"], seeds=seeds),
                **({"superseded": superseded} if superseded else {}))
  _harness.write_result(str(out), result)
  return result


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--data-dir", default=os.environ.get("FSNLU_DATA_DIR"))
  parser.add_argument("--workdir", default=os.path.expanduser("~/.cache/fsnlu_jax/ig_selection"))
  parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
  parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
  parser.add_argument("--retrains", type=int, default=1,
                      help="models per (seed, strategy, budget), each its own training seed")
  parser.add_argument("--budgets", type=int, nargs="+",
                      help="utterances added (default: configs/select.py's budgets)")
  parser.add_argument("--controls", nargs="*", default=list(CONTROLS), choices=list(CONTROLS),
                      help="the length controls to train (default: all)")
  parser.add_argument("--quick", action="store_true",
                      help="one seed of the first dataset into WORKDIR/quick: the cost estimate")
  parser.add_argument("--table", action="store_true", help="print the README table and exit")
  parser.add_argument("--out", type=pathlib.Path, default=_harness.RESULTS_DIR / OUT,
                      help="the results file (default benchmarks/results/ig_selection.json)")
  parser.add_argument("--fresh", action="store_true",
                      help="start --out over; its old summaries are kept under 'superseded'")
  parser.add_argument("--merge", nargs="+", type=pathlib.Path,
                      help="write --out from these result files (see merge()) and exit")
  args = parser.parse_args(argv)
  out = args.out
  if args.merge:
    print(_tables(merge(args.merge, out)))
    return 0
  if args.table:
    results = json.loads(out.read_text())
    print(_tables(results))
    return 0
  if args.quick:
    args.workdir, args.datasets, args.seeds = (os.path.join(args.workdir, "quick"),
                                               args.datasets[:1], args.seeds[:1])
  pathlib.Path(args.workdir).mkdir(parents=True, exist_ok=True)

  import jax  # pylint: disable=g-import-not-at-top
  # Every model of a (dataset, seed) has the same shapes: compile them once.
  jax.config.update("jax_compilation_cache_dir", os.path.join(args.workdir, "jax_cache"))
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
  logging.basicConfig(level=logging.WARNING)

  name = "ig_selection_quick.json" if args.quick else str(out)
  results = _previous(out, args) if not args.quick else dict(datasets={})
  results = dict(benchmark="IG training-sample selection (EVALUATION.md)", datasets=results[
      "datasets"], **{k: results[k] for k in ("superseded",) if k in results},
                 protocol=dict(_protocol(args.seeds, args.retrains),
                               controls=list(args.controls)))

  def save(res: dict) -> None:
    if args.quick:
      path = pathlib.Path(args.workdir) / name
      path.write_text(json.dumps(res, indent=1) + "\n")
    else:
      _harness.write_result(name, res)

  start = time.perf_counter()
  for key in args.datasets:
    run_dataset(key, args.seeds, args, results, save)
  results["total_wall_s_this_invocation"] = round(time.perf_counter() - start, 1)
  save(results)
  print(_tables(results))
  return 0


if __name__ == "__main__":
  sys.exit(main())
