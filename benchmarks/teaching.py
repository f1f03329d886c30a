"""The 10-shot novel-intent protocol of LINGUIST (EVALUATION.md, "Teaching via data").

For each target intent and seed (a *run*, :func:`fsnlu_jax.teach.novel_intent_split`):
the target's training examples are cut to its 10 seeds, the other intents
kept in full; each *system* adds ``--n-augment`` utterances of the target
intent made from those 10 seeds, a student (:mod:`fsnlu_jax.teach.student`)
is trained on real plus added data, and scored on the test split:
target-intent recall, target-intent slot F1 (conlleval), overall intent
accuracy, SemER. Systems of a run share its seeds, its student seed and its
validation data, so they are compared by paired differences.

Systems:

* ``none``: the reduced training data only (no utterance added);
* ``upsample``: the 10 seeds copied to ``--n-augment`` utterances;
* ``catalogue``: each copy's slot values swapped for uniform draws from the
  values of the same slot type in the reduced training data;
* any other name ``X``: the utterances a generator wrote to
  ``generated_path(--generated, dataset, intent, seed, X)``
  (:func:`fsnlu_jax.teach.generated_path`), the first ``--n-augment`` of the file;
* ``X+filtered``: ``X``'s file after de-duplication (against the reduced
  training data and itself) and the round-trip filter (a MiniLM + softmax
  intent classifier of the reduced training data must give the target
  intent), then its first ``--n-augment``. Every drop is counted in the run;
* ``X+clean``: ``X``'s file less outputs with a bracket-like word or no word
  outside slots (:func:`fsnlu_jax.teach.well_formed`), counted; before
  ``+filtered`` when both are given (``X+clean+filtered``);
* ``X+Y`` (``Y`` not ``filtered`` or ``clean``): a union, the first ``--n-augment / 2`` of
  ``X``'s utterances and of ``Y``'s (the first part takes an odd one), e.g.
  ``catalogue+linguist_t2``: whether the teacher adds what resampling the
  seeds cannot, at the same number of added utterances.

A generated system with fewer utterances than ``--n-augment`` uses what it
has; the run records ``n_added``.

Per system and metric the JSON holds the mean, sd and 95% t-interval over
runs (and over the per-seed means), and the paired differences ``system -
best baseline`` over shared (intent, seed) runs, the best baseline being, per
metric, the one of ``none``/``upsample``/``catalogue`` with the highest mean
on those runs.

Resumable: each finished run is written at once and skipped on a rerun with
the same ``--out``; ``--merge`` joins files written side by side (same
student and ``--n-augment`` required).

Usage (SNIPS baselines)::

  nice -n 10 python benchmarks/teaching.py --dataset snips --seeds 0 1 2 \\
      --systems none upsample catalogue

``--quick`` is a smoke run (the synthetic corpus, tiny student, two intents).

References:
  Rosenbaum et al., "LINGUIST: Language Model Instruction Tuning to Generate
  Annotated Utterances for Intent Classification and Slot Tagging", COLING 2022.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import pathlib
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import _harness  # pylint: disable=g-import-not-at-top,wrong-import-position

BASELINES = ("none", "upsample", "catalogue")
METRICS = ("target_recall", "target_slot_f1", "intent_acc", "semer", "target_semer")
HIGHER_IS_BETTER = {"target_recall": True, "target_slot_f1": True, "intent_acc": True,
                    "semer": False, "target_semer": False}
N_AUGMENT = 200  # utterances each system adds: 20 per seed, about a tenth of a full SNIPS intent
FILTERED = "+filtered"
CLEAN = "+clean"
QUICK_STUDENT = dict(embed_dim=16, shared_hidden=16, task_hidden=16, steps=30, eval_every=15,
                     batch_size=32)
PUBLISHED = dict(target_recall=0.019, target_slot_f1=0.025,
                 source="Rosenbaum et al. 2022, SNIPS 10-shot novel intent, LINGUIST over the "
                        "best baseline (absolute)")


# ------------------------------------------------------------------- data


def load_protocol(dataset: str, data_dir: str | None, quick: bool):
  """The dataset's :class:`~fsnlu_jax.teach.ProtocolSplits`; ``quick``: the synthetic corpus."""
  from fsnlu_jax import teach  # pylint: disable=g-import-not-at-top
  if not quick:
    return teach.protocol_splits(dataset, data_dir=data_dir)
  from fsnlu_jax.data.synthetic import generate_corpus  # pylint: disable=g-import-not-at-top
  corpus = generate_corpus(seed=0)
  keep = {"weather", "music"}
  pick = lambda split: [e for e in corpus[split] if e.domain in keep]
  return teach.ProtocolSplits("synthetic", "synthetic (weather, music)", pick("train"),
                              pick("validation"), pick("test"), dict(quick=True))


def components(system: str) -> list[str]:
  """The systems a union ``X+Y`` is made of (``X+filtered``, ``X+clean`` are one system).

  >>> components("catalogue+linguist_t2+clean+filtered")
  ['catalogue', 'linguist_t2+clean+filtered']
  """
  parts: list[str] = []
  for part in system.split("+"):
    if "+" + part in (FILTERED, CLEAN) and parts:
      parts[-1] += "+" + part
    else:
      parts.append(part)
  return parts


def added_data(system: str, split, *, n: int, seed: int, dataset: str, generated: str | None,
               round_trip) -> tuple[list, dict]:
  """The utterances ``system`` adds to a run, and how they were obtained (counts)."""
  from fsnlu_jax import teach  # pylint: disable=g-import-not-at-top
  parts = components(system)
  if len(parts) > 1:
    shares = [n // len(parts) + (i < n % len(parts)) for i in range(len(parts))]
    added, info = [], {}
    for part, share in zip(parts, shares):
      examples, info[part] = added_data(part, split, n=share, seed=seed, dataset=dataset,
                                        generated=generated, round_trip=round_trip)
      added += examples
    return added, info
  rng = np.random.default_rng([seed, 7])  # the same draw for a run whatever else runs
  if system == "none":
    return [], {}
  if system == "upsample":
    return teach.upsample(split.seeds, n, rng), {}
  if system == "catalogue":
    catalogue = teach.slot_catalogue(split.train)
    return teach.slot_catalogue_resample(split.seeds, catalogue, n, rng), dict(
        catalogue_types=len(catalogue), catalogue_values=sum(len(v) for v in catalogue.values()))
  if generated is None:
    raise SystemExit(f"system {system!r} needs --generated DIR")
  filtered = system.endswith(FILTERED)
  base = system[:-len(FILTERED)] if filtered else system
  clean = base.endswith(CLEAN)
  base = base[:-len(CLEAN)] if clean else base
  path = teach.generated_path(generated, dataset, split.target, seed, base)
  examples = teach.read_generated(path, intent=split.target)
  info = dict(file=str(path), n_in_file=len(examples), dropped={})
  if clean:
    examples, dropped = teach.well_formed(examples)
    info["dropped"].update(dropped)
  if filtered:
    examples, dropped = teach.deduplicate(examples, split.train)
    examples, more = round_trip(split.train)(examples)
    info["dropped"].update({**dropped, **more})
  return examples[:n], info


# ------------------------------------------------------------------- runs


def run_one(split, validation, test, system: str, *, args, student_config, round_trip,
            split_dataset: str) -> dict:
  from fsnlu_jax import teach  # pylint: disable=g-import-not-at-top
  start = time.perf_counter()
  added, info = added_data(system, split, n=args.n_augment, seed=split.seed,
                           dataset=split_dataset, generated=args.generated, round_trip=round_trip)
  prepared = time.perf_counter()
  student = teach.train_student(split.train + added, validation, student_config, seed=split.seed)
  trained = time.perf_counter()
  scores = teach.score(student, test, split.target)
  return dict(scores, n_added=len(added), added=info, best_step=student.best_step,
              validation=student.validation, prepare_s=round(prepared - start, 2),
              train_s=round(trained - prepared, 2),
              wall_s=round(time.perf_counter() - start, 2))


def make_round_trip(models_dir: str | None):
  """``round_trip(train) -> RoundTripFilter``, one MiniLM and one text cache for all runs."""
  state = {}

  def get(train):
    from fsnlu_jax import teach  # pylint: disable=g-import-not-at-top
    if "embed" not in state:
      folder = pathlib.Path(models_dir or os.environ.get("FSNLU_MODELS_DIR", "")) / \
          "all-MiniLM-L6-v2"
      state["embed"] = teach.cached_embed(teach.encoder_embed(folder))
    return teach.RoundTripFilter(train, state["embed"])

  return get


# ---------------------------------------------------------------- summary


def interval(xs) -> dict | None:
  """Mean, sd, 95% t half-width and n (sd and half-width None below 2 values)."""
  from fsnlu_jax.train import metrics  # pylint: disable=g-import-not-at-top
  xs = [float(x) for x in xs]
  if len(xs) < 2:
    return dict(mean=xs[0], sd=None, half_width=None, n=1) if xs else None
  mean, half = metrics.mean_confidence_interval(xs)
  return dict(mean=mean, sd=float(np.std(xs, ddof=1)), half_width=half, n=len(xs))


def _grid(runs: dict, system: str, keys: list[tuple[str, int]], metric: str) -> np.ndarray:
  """``[S, I]`` values over the seeds and intents of ``keys`` (a full grid) or ``[1, n]``."""
  intents = sorted({i for i, _ in keys})
  seeds = sorted({s for _, s in keys})
  values = [runs[f"{i}/{s}/{system}"][metric] for i, s in keys]
  if len(keys) == len(intents) * len(seeds):
    lookup = dict(zip(keys, values))
    return np.array([[lookup[(i, s)] for i in intents] for s in seeds])
  return np.array([values])


def summarize(runs: dict) -> dict:
  """Per system: metric intervals; per metric: the best baseline and paired differences."""
  from fsnlu_jax.fewshot import stats  # pylint: disable=g-import-not-at-top
  parsed = [(k.split("/")[0], int(k.split("/")[1]), k.split("/")[2]) for k in runs]
  systems = sorted({s for _, _, s in parsed})
  keys_of = {s: sorted((i, sd) for i, sd, ss in parsed if ss == s) for s in systems}
  out = dict(systems={}, per_intent={}, paired={}, seconds_per_run=interval(
      [r["wall_s"] for r in runs.values()]))
  for system in systems:
    keys = keys_of[system]
    out["systems"][system] = {m: stats.summary(_grid(runs, system, keys, m))
                              if len(keys) >= 2 else interval([runs[f"{i}/{s}/{system}"][m]
                                                               for i, s in keys])
                              for m in METRICS}
    for intent in sorted({i for i, _ in keys}):
      out["per_intent"].setdefault(intent, {})[system] = {
          m: interval([runs[f"{i}/{s}/{system}"][m] for i, s in keys if i == intent])
          for m in METRICS}
  for metric in METRICS:
    entry = out["paired"].setdefault(metric, {})
    for system in systems:
      if system in BASELINES and len([b for b in BASELINES if b in systems]) < 2:
        continue
      bases = [b for b in BASELINES if b in systems and b != system]
      shared = sorted(set(keys_of[system]).intersection(*[keys_of[b] for b in bases])
                      ) if bases else []
      if len(shared) < 2:
        continue
      sign = 1 if HIGHER_IS_BETTER[metric] else -1
      best = max(bases, key=lambda b: sign * np.mean(_grid(runs, b, shared, metric)))
      diff = _grid(runs, system, shared, metric) - _grid(runs, best, shared, metric)
      entry[system] = dict(best_baseline=best, runs=len(shared), difference=stats.summary(diff))
  return out


def markdown_table(results: dict) -> str:
  """The README table: per dataset and system, each metric as mean ± 95% half-width."""
  lines = ["| dataset | system | runs | target intent recall | target slot F1 | "
           "intent accuracy | SemER | Δ recall vs best baseline | Δ slot F1 vs best baseline |",
           "|---|---|---:|---:|---:|---:|---:|---:|---:|"]

  def pm(x, spec=".3f"):
    if x is None:
      return "n/a"
    half = "" if x.get("half_width") is None else f" ± {x['half_width']:.3f}"
    return f"{format(x['mean'], spec)}{half}"

  def delta(s, system, metric):
    d = s["paired"].get(metric, {}).get(system)
    return "n/a" if d is None else f"{pm(d['difference'], '+.3f')} ({d['best_baseline']})"

  for key, entry in results["datasets"].items():
    s = entry["summary"]
    for system, row in s["systems"].items():
      lines.append(f"| {key} | {system} | {row['target_recall']['n']} | "
                   f"{pm(row['target_recall'])} | {pm(row['target_slot_f1'])} | "
                   f"{pm(row['intent_acc'])} | {pm(row['semer'])} | "
                   f"{delta(s, system, 'target_recall')} | {delta(s, system, 'target_slot_f1')} |")
  return "\n".join(lines)


# ------------------------------------------------------------------- main


def _save(path: pathlib.Path, results: dict) -> None:
  path.parent.mkdir(parents=True, exist_ok=True)
  tmp = path.with_suffix(".tmp")
  tmp.write_text(json.dumps(results, indent=1) + "\n")
  tmp.replace(path)  # atomic: a kill never leaves half a file


def protocol_record(args, student_config) -> dict:
  return dict(
      shots=10, n_augment=args.n_augment, student=dataclasses.asdict(student_config),
      quick=args.quick,
      run="(dataset, target intent, seed): seed draws the 10 target seeds "
          "(novel_intent_split), the augmentation and the student's initialisation and data "
          "order; every system of a run shares them",
      validation="the dataset's validation part (SNIPS: validation; HWU64: fold 9) without "
                 "the target intent; the student state of lowest validation SemER is scored",
      test="SNIPS: test; HWU64: fold 10 (train folds 1-8)",
      target_recall="share of the target's test utterances predicted as the target",
      target_slot_f1="conlleval span micro-F1 over the target's test utterances",
      interval="mean, sd, 95% Student-t half-width over runs; seed_*: over the per-seed means",
      paired="system - best baseline (per metric, highest mean among none/upsample/catalogue "
             "on the shared runs), per shared (intent, seed)",
      published=PUBLISHED)


def merge(paths: list[pathlib.Path], out: pathlib.Path) -> dict:
  """One JSON from result files of the same protocol settings (runs added up)."""
  files = [json.loads(p.read_text()) for p in paths]
  first = files[0]
  merged = {k: v for k, v in first.items() if k not in ("datasets", "command")}
  merged["datasets"], merged["merged_from"] = {}, []
  for path, f in zip(paths, files):
    if f["protocol"]["student"] != first["protocol"]["student"] or \
        f["protocol"]["n_augment"] != first["protocol"]["n_augment"]:
      raise SystemExit(f"{path}: another student or --n-augment than {paths[0]}")
    # A file that is itself a merge names its own sources (their commands are what ran).
    merged["merged_from"].extend(f.get("merged_from") or [dict(
        file=str(path), command=f["command"], niceness=f.get("niceness"),
        machine=f.get("machine"))])
    for key, entry in f["datasets"].items():
      target = merged["datasets"].setdefault(key, {k: v for k, v in entry.items()
                                                   if k not in ("runs", "summary")})
      target.setdefault("runs", {}).update(entry["runs"])
  for entry in merged["datasets"].values():
    entry["summary"] = summarize(entry["runs"])
  _save(out, merged)
  return merged


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--dataset", default="snips", choices=("snips", "hwu64"))
  parser.add_argument("--intents", nargs="+", help="target intents (default: the protocol's)")
  parser.add_argument("--limit-intents", type=int, help="the first K target intents")
  parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
  parser.add_argument("--systems", nargs="+", default=list(BASELINES))
  parser.add_argument("--generated", help="folder of generated utterances (generated_path)")
  parser.add_argument("--n-augment", type=int, default=N_AUGMENT)
  parser.add_argument("--steps", type=int, help="student updates (default StudentConfig's)")
  parser.add_argument("--data-dir", default=os.environ.get("FSNLU_DATA_DIR"))
  parser.add_argument("--models-dir", default=os.environ.get("FSNLU_MODELS_DIR"))
  parser.add_argument("--workdir", default=os.path.expanduser("~/.cache/fsnlu_jax/teaching"),
                      help="the JAX compilation cache")
  parser.add_argument("--out", type=pathlib.Path,
                      help="default benchmarks/results/teaching.json (--quick: WORKDIR/"
                           "teaching_quick.json)")
  parser.add_argument("--quick", action="store_true", help="smoke run on the synthetic corpus")
  parser.add_argument("--fresh", action="store_true", help="ignore runs already in --out")
  parser.add_argument("--merge", nargs="+", type=pathlib.Path,
                      help="write --out from these result files and exit")
  parser.add_argument("--table", action="store_true", help="print --out's README table")
  args = parser.parse_args(argv)
  out = args.out or (pathlib.Path(args.workdir) / "teaching_quick.json" if args.quick
                     else ROOT / "benchmarks/results/teaching.json")
  if args.table:
    print(markdown_table(json.loads(out.read_text())))
    return 0
  if args.merge:
    print(markdown_table(merge(args.merge, out)))
    return 0

  import jax  # pylint: disable=g-import-not-at-top
  # Systems of one run share the student's shapes: compile them once.
  jax.config.update("jax_compilation_cache_dir", os.path.join(args.workdir, "jax_cache"))
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
  logging.basicConfig(level=logging.WARNING)
  from fsnlu_jax import teach  # pylint: disable=g-import-not-at-top

  overrides = dict(QUICK_STUDENT) if args.quick else {}
  if args.steps:
    overrides["steps"] = args.steps
  student_config = dataclasses.replace(teach.StudentConfig(), **overrides)
  protocol = protocol_record(args, student_config)
  results = json.loads(out.read_text()) if out.exists() and not args.fresh else None
  if results is not None and (results["protocol"]["student"] != protocol["student"]
                              or results["protocol"]["n_augment"] != args.n_augment):
    raise SystemExit(f"{out} holds runs of another student or --n-augment; pass --fresh or "
                     "another --out")
  results = results or dict(benchmark="teaching via data (EVALUATION.md)", datasets={})
  # What ran, as it ran (it said "nice -n 10" whatever the niceness was); the niceness apart.
  results.update(command=_harness.command() if argv is None else
                 "python benchmarks/teaching.py " + " ".join(argv), niceness=os.nice(0),
                 protocol=protocol,
                 machine=_harness.machine_info(matmul=False),
                 versions=_harness.library_versions())

  splits = load_protocol(args.dataset, args.data_dir, args.quick)
  if args.quick:
    targets = sorted({e.intent for e in splits.train})[:2]
    choice = dict(rule="quick: the first two synthetic intents")
  else:
    targets, choice = teach.target_intents(splits)
  if args.intents:
    unknown = sorted(set(args.intents) - {e.intent for e in splits.train})
    if unknown:
      parser.error(f"unknown intents {unknown}")
    targets, choice = list(args.intents), dict(choice, rule="--intents " + " ".join(args.intents))
  if args.limit_intents:
    targets = targets[:args.limit_intents]
    choice = dict(choice, limited=f"the first {args.limit_intents} (--limit-intents)")
  entry = results["datasets"].setdefault(splits.dataset, dict(runs={}))
  entry.update(name=splits.name, splits=splits.split_names, target_choice=choice)
  round_trip = make_round_trip(args.models_dir)
  # Seeds outermost: a run cut short still holds whole seeds of every intent.
  for seed in args.seeds:
    for target in targets:
      pending = [s for s in args.systems if f"{target}/{seed}/{s}" not in entry["runs"]]
      if not pending:
        continue
      split = teach.novel_intent_split(splits.train, target, seed=seed)
      validation = teach.validation_without(splits.validation, target)
      for system in pending:
        run = run_one(split, validation, splits.test, system, args=args,
                      student_config=student_config, round_trip=round_trip,
                      split_dataset=splits.dataset)
        entry["runs"][f"{target}/{seed}/{system}"] = run
        entry["summary"] = summarize(entry["runs"])
        _save(out, results)
        print(f"[{splits.dataset}] {target} seed {seed} {system}: recall "
              f"{run['target_recall']:.3f} slot F1 {run['target_slot_f1']:.3f} intent acc "
              f"{run['intent_acc']:.3f} ({run['wall_s']:.0f} s)", flush=True)
  entry["summary"] = summarize(entry["runs"])
  _save(out, results)
  print(markdown_table(results))
  print(f"wrote {out}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
