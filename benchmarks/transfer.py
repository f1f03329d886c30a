"""The TL protocol of EVALUATION.md: transfer to a new domain against from scratch.

Goyal et al. (2018) pretrain the multitask bi-LSTM on mature domains, move it to
a new domain with a few labelled utterances, and compare it with the same model
trained from scratch on the same utterances. Here, for each held-out domain
(HWU64: six scenarios drawn up front with a fixed seed; SNIPS: each of its 7
intents, each its own domain):

1. pretrain on every other domain (``fsnlu_jax.transfer.run_pretrain``
   with ``configs/multitask_pretrain.py`` made smaller, see ``SCALE``);
2. for n in 25/50/100/200, draw n utterances of the held-out domain's training
   part (one seeded subset per n), then fine-tune the pretrained model on them
   (``run_finetune``, ``configs/multitask_finetune.py``) and train the same
   architecture from a random start (``run_scratch``,
   ``configs/multitask_scratch.py``): same subset, seed, optimizer, batch size
   and number of steps;
3. evaluate both every ``eval_every`` steps on the held-out domain's test part
   (HWU64: its utterances in fold 10; SNIPS: its utterances in ``test``).

Definitions (also written into the JSON):

* SemER, intent accuracy, slot F1: of the *last* step (the budget is fixed; no
  step is picked by looking at the test part);
* relative error reduction (RER): ``(SemER_scratch - SemER_transfer) /
  SemER_scratch`` per (domain, n); reported per n as the mean over domains, and
  overall as the mean over domains and n;
* steps to converge: the first eval step whose SemER is within
  ``CONVERGED_WITHIN`` (absolute) of the best SemER of that run's curve; the
  step ratio is ``steps_scratch / steps_transfer`` per (domain, n), reported as
  mean and median;
* match ratio: ``steps_scratch`` over the first step at which the transfer
  run's SemER is within ``CONVERGED_WITHIN`` of the scratch run's best (how soon
  transfer is as good as scratch ever gets), mean over the pairs where it is.

Resumable: every finished run is written to the JSON at once and skipped on a
rerun (a killed run resumes from its own checkpoints); pretraining is shared
by the eight runs of a domain. The JSON refuses to mix scales.

Usage (the full protocol, about an hour of two CPU cores)::

  nice -n 19 python benchmarks/transfer.py --data-dir /work/shared/data

``--quick`` runs a smoke version (two domains per dataset, n in 25/50, a tiny
model) into ``<workdir>/transfer_quick.json``.

References:
  Goyal, Metallinou & Matsoukas, "Fast and Scalable Expansion of Natural
  Language Understanding Functionality for Intelligent Agents", NAACL 2018.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import os
import pathlib
import platform
import shutil
import statistics
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"
SIZES = (25, 50, 100, 200)
CONVERGED_WITHIN = 0.01  # absolute SemER
N_HWU64_SCENARIOS = 6
DOMAIN_SEED = 0  # draws the HWU64 scenarios
SUBSET_SEED = 0  # draws the n utterances of a held-out domain

# Reduced from the configs' 300/256/384 widths and 4000 pretraining steps of
# batch 64 so the whole protocol fits about an hour of two CPU cores (the CRF
# over ~100 HWU64 tags dominates a pretraining step). max_length 24 truncates
# 0.03% of HWU64 and 0.08% of SNIPS utterances.
SCALE = dict(
    model=dict(embed_dim=64, shared_hidden=64, task_hidden=96, slot_decoder="crf",
               dropout=0.2, pooling="final"),
    max_length=24,
    pretrain=dict(steps=1000, batch_size=32, learning_rate=2e-3, eval_every=500),
    finetune=dict(steps=300, batch_size=16, learning_rate=2e-3, eval_every=10),
)
QUICK_SCALE = dict(
    model=dict(embed_dim=16, shared_hidden=16, task_hidden=16, slot_decoder="crf",
               dropout=0.0, pooling="final"),
    max_length=24,
    pretrain=dict(steps=100, batch_size=32, learning_rate=1e-2, eval_every=50),
    finetune=dict(steps=40, batch_size=16, learning_rate=1e-2, eval_every=10),
)

DATASETS = {
    "hwu64": dict(name="hwu64/crossval", train_splits=[f"fold_{k}" for k in range(1, 10)],
                  pretrain_eval="fold_10", test_split="fold_10"),
    "snips": dict(name="snips/bio", train_splits=["train"], pretrain_eval="validation",
                  test_split="test"),
}


# ------------------------------------------------------------------ configs


def _load_config(spec: str) -> dict:
  from fsnlu_jax.config import load_config  # pylint: disable=g-import-not-at-top
  return load_config(spec)


def pretrain_config(dataset: dict, heldout: str, scale: dict) -> dict:
  """``configs/multitask_pretrain.py`` on every domain but ``heldout``, at ``scale``."""
  config = _load_config(str(CONFIGS / "multitask_pretrain.py"))
  p = scale["pretrain"]
  config["data"].update(name=dataset["name"], train_splits=dataset["train_splits"],
                        eval_split=dataset["pretrain_eval"], domains=None,
                        exclude_domains=[heldout], max_train=None,
                        max_length=scale["max_length"])
  config["model"] = dict(scale["model"])
  config["optim"].update(learning_rate=p["learning_rate"], freeze=[])
  config["train"].update(steps=p["steps"], batch_size=p["batch_size"], log_every=50,
                         eval_every=p["eval_every"], checkpoint_every=p["eval_every"])
  return config


def target_config(mode: str, dataset: dict, heldout: str, n: int, scale: dict) -> dict:
  """The fine-tuning (``mode="transfer"``) or from-scratch config of one run."""
  name = "multitask_finetune.py" if mode == "transfer" else "multitask_scratch.py"
  config = _load_config(str(CONFIGS / name))
  f = scale["finetune"]
  config["data"].update(name=dataset["name"], train_splits=dataset["train_splits"],
                        eval_split=dataset["test_split"], domains=[heldout],
                        exclude_domains=[], max_train=n, subset_seed=SUBSET_SEED,
                        max_length=scale["max_length"])
  config["model"] = dict(scale["model"])  # the scratch model; transfer keeps the pretrained one
  config["optim"].update(learning_rate=f["learning_rate"], freeze=[])
  config["train"].update(steps=f["steps"], batch_size=f["batch_size"],
                         log_every=f["eval_every"], eval_every=f["eval_every"],
                         checkpoint_every=f["steps"] // 3, eval_batch_size=128)
  return config


def choose_domains(key: str, data_dir: str | None, quick: bool) -> tuple[list[str], dict]:
  """The held-out domains of a dataset and how they were chosen."""
  from fsnlu_jax.data import loading  # pylint: disable=g-import-not-at-top
  d = DATASETS[key]
  splits = loading.load(d["name"], splits=d["train_splits"], data_dir=data_dir, progress=False)
  counts: dict[str, int] = {}
  for split in d["train_splits"]:
    for e in splits[split]:
      counts[e.domain] = counts.get(e.domain, 0) + 1
  # Every n must be drawable from the domain's training part.
  eligible = sorted(k for k, c in counts.items() if c >= max(SIZES))
  if key == "snips":
    chosen = eligible
    rule = "every SNIPS intent (each its own domain)"
  else:
    rng = np.random.default_rng(DOMAIN_SEED)
    chosen = sorted(rng.choice(eligible, N_HWU64_SCENARIOS, replace=False).tolist())
    rule = (f"{N_HWU64_SCENARIOS} of the scenarios with >= {max(SIZES)} utterances in folds "
            f"1-9, drawn by default_rng({DOMAIN_SEED}).choice(sorted(eligible))")
  if quick:
    chosen = chosen[:2]
  return chosen, dict(rule=rule, eligible=eligible, train_utterances=counts)


# ------------------------------------------------------------------- runs


def first_step_within(curve: list[dict], target: float,
                      within: float = CONVERGED_WITHIN) -> int | None:
  """First eval step whose SemER is at most ``target + within``; None if none."""
  return next((r["step"] for r in curve if r["semer"] <= target + within), None)


def converged_step(curve: list[dict], within: float = CONVERGED_WITHIN) -> int:
  """First eval step whose SemER is within ``within`` of the curve's best."""
  return first_step_within(curve, min(r["semer"] for r in curve), within)


def match_ratio(transfer: dict, scratch: dict) -> float | None:
  """``steps_to_converge(scratch) / steps`` transfer needs to reach scratch's best SemER.

  A second reading of "converges faster": how soon the transfer model is as
  good as the from-scratch model ever gets. None when it never is.
  """
  reach = first_step_within(transfer["curve"], scratch["best_semer"])
  return None if reach is None else scratch["converged_step"] / reach


def eval_curve(workdir: pathlib.Path) -> list[dict]:
  """The eval records of a job's ``metrics.jsonl``."""
  records = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
  return [{k: r[k] for k in ("step", "semer", "intent_acc", "slot_f1")}
          for r in records if r["kind"] == "eval"]


def run_target(mode: str, config: dict, workdir: pathlib.Path, pretrained: pathlib.Path,
               data_dir: str | None, keep_checkpoints: bool) -> dict:
  """One fine-tuning or from-scratch run; its final metrics and eval curve."""
  from fsnlu_jax import transfer as transfer_lib  # pylint: disable=g-import-not-at-top
  start = time.perf_counter()
  if mode == "transfer":
    transfer_lib.run_finetune(config, workdir, pretrained, data_dir=data_dir)
  else:
    transfer_lib.run_scratch(config, workdir, data_dir=data_dir)
  wall = time.perf_counter() - start
  curve = eval_curve(workdir)
  final = curve[-1]
  if not keep_checkpoints:
    shutil.rmtree(workdir / "checkpoints", ignore_errors=True)
  return dict(semer=final["semer"], intent_acc=final["intent_acc"], slot_f1=final["slot_f1"],
              best_semer=min(r["semer"] for r in curve), converged_step=converged_step(curve),
              steps=final["step"], wall_s=round(wall, 2), curve=curve)


def plot_domain(root: pathlib.Path) -> None:
  """``root/comparison.png``: SemER against step, fine-tuned vs from scratch, per size."""
  from fsnlu_jax import transfer as transfer_lib  # pylint: disable=g-import-not-at-top
  runs = {f"{mode} n={n}": root / f"n{n}_{mode}" for n in SIZES for mode in ("transfer", "scratch")
          if (root / f"n{n}_{mode}" / "metrics.jsonl").exists()}
  transfer_lib.plot_comparison(runs, root / "comparison.png")


def run_pretrain(config: dict, workdir: pathlib.Path, data_dir: str | None) -> dict:
  from fsnlu_jax import transfer as transfer_lib  # pylint: disable=g-import-not-at-top
  start = time.perf_counter()
  result = transfer_lib.run_pretrain(config, workdir, data_dir=data_dir)
  wall = time.perf_counter() - start
  curve = eval_curve(workdir)
  return dict(steps=result["step"], wall_s=round(wall, 2), eval=curve[-1], curve=curve,
              note="eval on the pretraining domains' part of " + config["data"]["eval_split"])


# ---------------------------------------------------------------- summary


def _mean(xs: list[float]) -> float | None:
  return float(np.mean(xs)) if xs else None


def _median(xs: list[float]) -> float | None:
  return float(statistics.median(xs)) if xs else None


def summarize(runs: dict[str, dict], domains: list[str]) -> dict:
  """Mean SemER, RER and step ratios per n and overall, from finished pairs."""
  from fsnlu_jax.train import metrics  # pylint: disable=g-import-not-at-top
  per_n, all_rer, all_ratio, all_match = {}, [], [], []
  for n in SIZES:
    pairs = [(d, runs.get(f"{d}/{n}/transfer"), runs.get(f"{d}/{n}/scratch")) for d in domains]
    pairs = [(d, t, s) for d, t, s in pairs if t and s]
    if not pairs:
      continue
    rer = {d: metrics.relative_error_reduction(s["semer"], t["semer"]) for d, t, s in pairs
           if s["semer"] > 0}
    ratio = {d: s["converged_step"] / t["converged_step"] for d, t, s in pairs}
    match = {d: match_ratio(t, s) for d, t, s in pairs}
    reached = [r for r in match.values() if r is not None]
    all_rer += list(rer.values())
    all_ratio += list(ratio.values())
    all_match += reached
    per_n[str(n)] = dict(
        domains=[d for d, _, _ in pairs],
        semer_transfer=_mean([t["semer"] for _, t, _ in pairs]),
        semer_scratch=_mean([s["semer"] for _, _, s in pairs]),
        intent_acc_transfer=_mean([t["intent_acc"] for _, t, _ in pairs]),
        intent_acc_scratch=_mean([s["intent_acc"] for _, _, s in pairs]),
        slot_f1_transfer=_mean([t["slot_f1"] for _, t, _ in pairs]),
        slot_f1_scratch=_mean([s["slot_f1"] for _, _, s in pairs]),
        rer_per_domain=rer, rer_mean=_mean(list(rer.values())),
        step_ratio_per_domain=ratio, step_ratio_mean=_mean(list(ratio.values())),
        step_ratio_median=float(statistics.median(ratio.values())),
        match_ratio_per_domain=match, match_ratio_mean=_mean(reached),
        match_never=len(match) - len(reached))
  return dict(per_n=per_n, rer_mean=_mean(all_rer), step_ratio_mean=_mean(all_ratio),
              step_ratio_median=_median(all_ratio), match_ratio_mean=_mean(all_match),
              match_ratio_median=_median(all_match), pairs=len(all_ratio))


def markdown_table(results: dict) -> str:
  """The README table: mean SemER per n and dataset, RER, step ratios."""
  lines = ["| dataset (held-out domains) | n | SemER transfer | SemER scratch | mean RER |"
           " step ratio mean (median) | match ratio mean |", "|---|---:|---:|---:|---:|---:|---:|"]

  def fmt(x, spec):
    return "n/a" if x is None else format(x, spec)

  for key, entry in results["datasets"].items():
    s = entry["summary"]
    for n, row in s["per_n"].items():
      never = f", never {row['match_never']}" if row["match_never"] else ""
      lines.append(f"| {key} ({len(row['domains'])}) | {n} | {row['semer_transfer']:.3f} | "
                   f"{row['semer_scratch']:.3f} | {row['rer_mean']:+.1%} | "
                   f"{row['step_ratio_mean']:.2f} ({row['step_ratio_median']:.2f}) | "
                   f"{fmt(row['match_ratio_mean'], '.2f')}{never} |")
    if s["pairs"]:
      lines.append(f"| {key}, all n | | | | **{s['rer_mean']:+.1%}** | "
                   f"**{s['step_ratio_mean']:.2f}** ({s['step_ratio_median']:.2f}) | "
                   f"{fmt(s['match_ratio_mean'], '.2f')} |")
  return "\n".join(lines)


# ------------------------------------------------------------------- main


def machine() -> dict:
  import jax  # pylint: disable=g-import-not-at-top
  cpu = next((line.split(":", 1)[1].strip() for line in
              pathlib.Path("/proc/cpuinfo").read_text().splitlines()
              if line.startswith("model name")), platform.processor())
  return dict(cpu=cpu, cores=os.cpu_count(), platform=platform.platform(),
              python=platform.python_version(), devices=[str(d) for d in jax.devices()])


def versions() -> dict:
  import importlib.metadata as md  # pylint: disable=g-import-not-at-top
  return {p: md.version(p) for p in ("jax", "jaxlib", "flax", "optax", "orbax-checkpoint",
                                     "numpy", "fsnlu_jax")}


def _save(path: pathlib.Path, results: dict) -> None:
  tmp = path.with_suffix(".tmp")
  tmp.write_text(json.dumps(results, indent=1) + "\n")
  tmp.replace(path)  # atomic: a kill never leaves half a file


def _load_results(path: pathlib.Path, scale: dict, fresh: bool) -> dict:
  if path.exists() and not fresh:
    results = json.loads(path.read_text())
    if results["scale"] != scale:
      raise SystemExit(f"{path} holds results at another scale; pass --fresh to start over")
    return results
  return dict(benchmark="transfer (TL protocol, EVALUATION.md)", scale=scale, datasets={})


def run_dataset(key: str, results: dict, args, scale: dict, out: pathlib.Path) -> None:
  domains, chosen = choose_domains(key, args.data_dir, args.quick)
  entry = results["datasets"].setdefault(key, dict(runs={}, pretrain={}))
  entry.update(name=DATASETS[key]["name"], domains=domains, domain_choice=chosen,
               test_split=DATASETS[key]["test_split"])
  for heldout in domains:
    root = pathlib.Path(args.workdir) / key / heldout
    pending = [(n, mode) for n in SIZES[:2 if args.quick else None]
               for mode in ("transfer", "scratch") if f"{heldout}/{n}/{mode}" not in entry["runs"]]
    if not pending:
      continue
    if heldout not in entry["pretrain"]:
      print(f"[{key}] pretrain without {heldout}", flush=True)
      entry["pretrain"][heldout] = run_pretrain(
          pretrain_config(DATASETS[key], heldout, scale), root / "pretrain", args.data_dir)
      _save(out, results)
    for n, mode in pending:
      config = target_config(mode, DATASETS[key], heldout, n, scale)
      run = run_target(mode, config, root / f"n{n}_{mode}", root / "pretrain", args.data_dir,
                       args.keep_checkpoints)
      entry["runs"][f"{heldout}/{n}/{mode}"] = run
      entry["summary"] = summarize(entry["runs"], domains)
      _save(out, results)
      print(f"[{key}] {heldout} n={n} {mode}: SemER {run['semer']:.3f} intent "
            f"{run['intent_acc']:.3f} slot F1 {run['slot_f1']:.3f} converged at "
            f"{run['converged_step']} ({run['wall_s']:.0f} s)", flush=True)
    plot_domain(root)
  entry["summary"] = summarize(entry["runs"], domains)
  entry["complete"] = all(f"{d}/{n}/{m}" in entry["runs"] for d in domains
                          for n in SIZES[:2 if args.quick else None]
                          for m in ("transfer", "scratch"))


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--data-dir", default=os.environ.get("FSNLU_DATA_DIR"))
  parser.add_argument("--workdir", default=os.path.expanduser("~/.cache/fsnlu_jax/transfer"),
                      help="pretraining and run folders (checkpoints, metrics.jsonl)")
  parser.add_argument("--out", help="default benchmarks/results/transfer.json"
                      " (--quick: WORKDIR/transfer_quick.json)")
  parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
  parser.add_argument("--quick", action="store_true", help="smoke run at a tiny scale")
  parser.add_argument("--fresh", action="store_true", help="ignore results already in --out")
  parser.add_argument("--table", action="store_true",
                      help="print the README table of --out and exit")
  parser.add_argument("--keep-checkpoints", action="store_true",
                      help="keep fine-tuning/scratch checkpoints (default: delete when done)")
  args = parser.parse_args(argv)
  if args.quick:
    args.workdir = os.path.join(args.workdir, "quick")
  scale = copy.deepcopy(QUICK_SCALE if args.quick else SCALE)
  out = pathlib.Path(args.out or (pathlib.Path(args.workdir) / "transfer_quick.json"
                                  if args.quick else ROOT / "benchmarks/results/transfer.json"))
  if args.table:
    print(markdown_table(json.loads(out.read_text())))
    return 0
  out.parent.mkdir(parents=True, exist_ok=True)
  pathlib.Path(args.workdir).mkdir(parents=True, exist_ok=True)

  import jax  # pylint: disable=g-import-not-at-top
  # Fine-tuning runs of one domain share their shapes: compile them once.
  jax.config.update("jax_compilation_cache_dir", os.path.join(args.workdir, "jax_cache"))
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
  logging.basicConfig(level=logging.WARNING)

  results = _load_results(out, scale, args.fresh)
  results.update(
      command="nice -n 19 python benchmarks/transfer.py " + " ".join(sys.argv[1:] if argv is None
                                                                    else argv),
      machine=machine(), versions=versions(),
      protocol=dict(sizes=list(SIZES), subset_seed=SUBSET_SEED, seed=0,
                    converged_within=CONVERGED_WITHIN, semer="of the last step",
                    rer="(SemER_scratch - SemER_transfer) / SemER_scratch per (domain, n)",
                    steps_to_converge="first eval step with SemER <= best SemER of the run + "
                                      f"{CONVERGED_WITHIN}",
                    step_ratio="steps_to_converge(scratch) / steps_to_converge(transfer)",
                    match_ratio="steps_to_converge(scratch) / first step at which transfer's "
                                f"SemER <= scratch's best + {CONVERGED_WITHIN}",
                    transfer="pretrained embeddings, shared and task bi-LSTMs kept; output layers"
                             " and CRF drawn afresh; nothing frozen",
                    scratch="same sizes, random start, vocabulary of the n utterances",
                    published=dict(rer_mean=0.14, step_ratio=5.0,
                                   source="Goyal et al. 2018 (200 skills)")))
  for key in args.datasets:
    run_dataset(key, results, args, scale, out)
    _save(out, results)
  for key in args.datasets:
    s = results["datasets"][key]["summary"]
    print(f"{key}: mean RER {s['rer_mean']}, step ratio mean {s['step_ratio_mean']} "
          f"median {s['step_ratio_median']} over {s['pairs']} pairs")
  print(f"wrote {out}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
