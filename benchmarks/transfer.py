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

Variants of a (domain, n, seed), on the same subset, seed and budget:

* ``transfer``: fine-tuning as it now is: the pretrained vocabulary extended
  with the n utterances' words (new rows ``--new-rows``), word dropout
  ``--word-dropout`` in fine-tuning and ``--pretrain-word-dropout`` in the
  pretraining it starts from;
* ``transfer_kept``: fine-tuning as it was: the pretrained vocabulary kept
  (the new domain's own words are ``<unk>``), no word dropout anywhere;
* ``scratch``: the same architecture from a random start, vocabulary of the n
  utterances, word dropout ``--word-dropout``.

Seeds: ``--seeds`` training seeds (output layers, data order, dropout) per
(domain, n); the n utterances are one seeded subset per n (``SUBSET_SEED``)
and the pretraining is one run per (domain, word dropout), seed 0.

Definitions (also written into the JSON):

* SemER, intent accuracy, slot F1: of the *last* step (the budget is fixed; no
  step is picked by looking at the test part);
* relative error reduction (RER): ``(SemER_scratch - SemER_transfer) /
  SemER_scratch`` per (domain, n, seed); reported per n and overall as mean ±
  95% t half-width over those (domain, seed) pairs, and as the published
  figure's reading: the mean over domains of the RER of seed-mean SemERs;
* the vocabulary fix: ``SemER(transfer) - SemER(transfer_kept)`` per (domain,
  n, seed), mean ± 95% t half-width (paired: same subset, seed, test part);
* convergence (:mod:`fsnlu_jax.transfer.convergence`): per pair, the steps
  scratch needs to reach its best SemER over the steps transfer needs to reach
  that SemER (the speed-up), and the ratio of each run's steps to within
  ``CONVERGED_WITHIN`` of its own best; a run that never learns (best SemER
  not ``MIN_GAIN`` below its first evaluation) and a transfer run that never
  reaches scratch's best are counted apart, never as fast.

``--split validation`` scores on the held-out domain's part of the validation
split instead (SNIPS only: HWU64's folds have no separate validation part):
how ``--word-dropout`` and ``--new-rows`` were chosen.

Resumable: every finished run is written to the JSON at once and skipped on a
rerun (a killed run resumes from its own checkpoints). The JSON refuses to mix
scales or settings.

Usage (the whole protocol: 13 pretrainings, 468 runs with ``transfer_kept``; about
two hours of two CPU cores; variants may run side by side into separate
files and be merged, see ``--merge`` and ``merged_from`` in the JSON)::

  python benchmarks/transfer.py --data-dir ../shared/data --workdir W \
      --variants scratch --out W/scratch.json
  python benchmarks/transfer.py --data-dir ../shared/data --workdir W \
      --variants transfer --out W/transfer.json
  python benchmarks/transfer.py --merge W/transfer.json W/scratch.json \
      --validation W/dev_*.json --superseded benchmarks/results/transfer.json

``--quick`` runs a smoke version (two domains, n in 25/50, one seed, a tiny
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
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"
SIZES = (25, 50, 100, 200)
CONVERGED_WITHIN = 0.01  # absolute SemER
MIN_GAIN = 0.05  # absolute SemER a run must gain over its first evaluation to have learned
VARIANTS = ("transfer", "transfer_kept", "scratch")
N_HWU64_SCENARIOS = 6
N_SNIPS_INTENTS = 7  # the protocol holds out each of them in turn
DOMAIN_SEED = 0  # draws the HWU64 scenarios
SUBSET_SEED = 0  # draws the n utterances of a held-out domain

# Reduced from the configs' 300/256/384 widths and batch 64 so the whole
# protocol fits about two hours of two CPU cores (the CRF over ~100 HWU64 tags
# dominates a pretraining step). The pretraining keeps the config's 4000 steps:
# cut to 1000 (before stop 11) it was still learning fast (HWU64 without iot,
# SemER on the pretraining domains' fold 10: 0.52, 0.39 at steps 500, 1000;
# 0.32, 0.31, 0.30 at 2000-4000), and transfer started from an undertrained
# model. max_length 24 truncates 0.03% of HWU64 and 0.08% of SNIPS utterances.
SCALE = dict(
    model=dict(embed_dim=64, shared_hidden=64, task_hidden=96, slot_decoder="crf",
               dropout=0.2, pooling="final"),
    max_length=24,
    pretrain=dict(steps=4000, batch_size=32, learning_rate=2e-3, eval_every=1000),
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
                  test_split="test", validation_split="validation"),
}


# ------------------------------------------------------------------ configs


def _load_config(spec: str) -> dict:
  from fsnlu_jax.config import load_config  # pylint: disable=g-import-not-at-top
  return load_config(spec)


def pretrain_config(dataset: dict, heldout: str, scale: dict, word_dropout: float = 0.0,
                    units: str = "words") -> dict:
  """``configs/multitask_pretrain.py`` on every domain but ``heldout``, at ``scale``, over
  ``units`` (``data.units``: words, or MiniLM's word pieces)."""
  config = _load_config(str(CONFIGS / "multitask_pretrain.py"))
  p = scale["pretrain"]
  config["data"].update(name=dataset["name"], train_splits=dataset["train_splits"],
                        eval_split=dataset["pretrain_eval"], domains=None,
                        exclude_domains=[heldout], max_train=None,
                        max_length=scale["max_length"], units=units)
  config["model"] = dict(scale["model"], word_dropout=word_dropout)
  config["optim"].update(learning_rate=p["learning_rate"], freeze=[])
  config["train"].update(steps=p["steps"], batch_size=p["batch_size"], log_every=50,
                         eval_every=p["eval_every"], checkpoint_every=p["eval_every"])
  return config


def target_config(variant: str, dataset: dict, heldout: str, n: int, scale: dict, *,
                  seed: int = 0, settings: dict | None = None) -> dict:
  """The config of one run of a :data:`VARIANTS` entry (see the module docs).

  ``settings``: ``word_dropout``, ``new_rows``, ``reinit_task_lstms``, ``split``,
  ``units`` (default: none, mean, False, test, words).
  """
  settings = {**dict(word_dropout=0.0, new_rows="mean", reinit_task_lstms=False, split="test"),
              **(settings or {})}
  transfer = variant.startswith("transfer")
  config = _load_config(str(CONFIGS / ("multitask_finetune.py" if transfer
                                       else "multitask_scratch.py")))
  f = scale["finetune"]
  split = dataset["test_split"] if settings["split"] == "test" else dataset["validation_split"]
  config["seed"] = seed
  config["data"].update(name=dataset["name"], train_splits=dataset["train_splits"],
                        eval_split=split, domains=[heldout],
                        exclude_domains=[], max_train=n, subset_seed=SUBSET_SEED,
                        max_length=scale["max_length"], units=settings.get("units", "words"))
  # Scratch's model; transfer keeps the pretrained sizes and takes only word_dropout from here.
  kept = variant == "transfer_kept"
  config["model"] = dict(scale["model"], word_dropout=0.0 if kept else settings["word_dropout"])
  if transfer:
    config["finetune"].update(extend_vocab=not kept, new_rows=settings["new_rows"],
                              reinit_task_lstms=settings["reinit_task_lstms"] and not kept)
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


def eval_curve(workdir: pathlib.Path) -> list[dict]:
  """The eval records of a job's ``metrics.jsonl``."""
  records = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
  return [{k: r[k] for k in ("step", "semer", "intent_acc", "slot_f1")}
          for r in records if r["kind"] == "eval"]


def unknown_share(workdir: pathlib.Path, config: dict, data_dir: str | None) -> float:
  """The share of the eval part's tokens (words or pieces, as the run reads them) that the
  run's vocabulary maps to ``<unk>``."""
  from fsnlu_jax import transfer as transfer_lib  # pylint: disable=g-import-not-at-top
  from fsnlu_jax.config import from_dict  # pylint: disable=g-import-not-at-top
  from fsnlu_jax.data import UNK_ID, Vocab  # pylint: disable=g-import-not-at-top
  vocab = Vocab.load(workdir / "vocab.json")
  data = from_dict(transfer_lib.DataConfig, config["data"])
  _, evals = transfer_lib.load_examples(data, data_dir)
  _, evals, _ = transfer_lib.in_units(data, [], evals)
  ids = np.concatenate([vocab.encode(e.tokens) for e in evals])
  return float(np.mean(ids == UNK_ID))


def run_target(variant: str, config: dict, workdir: pathlib.Path, pretrained: pathlib.Path,
               data_dir: str | None, keep_checkpoints: bool) -> dict:
  """One fine-tuning or from-scratch run; its final metrics and eval curve."""
  from fsnlu_jax import transfer as transfer_lib  # pylint: disable=g-import-not-at-top
  start = time.perf_counter()
  if variant.startswith("transfer"):
    transfer_lib.run_finetune(config, workdir, pretrained, data_dir=data_dir)
  else:
    transfer_lib.run_scratch(config, workdir, data_dir=data_dir)
  wall = time.perf_counter() - start
  curve = eval_curve(workdir)
  final = curve[-1]
  if not keep_checkpoints:
    shutil.rmtree(workdir / "checkpoints", ignore_errors=True)
  from fsnlu_jax.transfer import run_convergence  # pylint: disable=g-import-not-at-top
  return dict(semer=final["semer"], intent_acc=final["intent_acc"], slot_f1=final["slot_f1"],
              vocab=len(json.loads((workdir / "vocab.json").read_text())),
              eval_unk_share=unknown_share(workdir, config, data_dir),
              convergence=run_convergence(curve, within=CONVERGED_WITHIN, min_gain=MIN_GAIN),
              steps=final["step"], wall_s=round(wall, 2), curve=curve)


def plot_domain(root: pathlib.Path) -> None:
  """``root/comparison.png``: SemER against step of every run of one held-out domain
  (fine-tuned, vocabulary kept, from scratch; each size and seed), labelled by its folder."""
  from fsnlu_jax import transfer as transfer_lib  # pylint: disable=g-import-not-at-top
  runs = {d.name: d for d in sorted(root.glob("n*_*")) if (d / "metrics.jsonl").exists()}
  if runs:
    transfer_lib.plot_comparison(runs, root / "comparison.png")


def run_pretrain(config: dict, workdir: pathlib.Path, data_dir: str | None) -> dict:
  from fsnlu_jax import transfer as transfer_lib  # pylint: disable=g-import-not-at-top
  start = time.perf_counter()
  result = transfer_lib.run_pretrain(config, workdir, data_dir=data_dir)
  wall = time.perf_counter() - start
  curve = eval_curve(workdir)
  return dict(steps=result["step"], wall_s=round(wall, 2), eval=curve[-1], curve=curve,
              word_dropout=config["model"]["word_dropout"],
              note="eval on the pretraining domains' part of " + config["data"]["eval_split"])


# ---------------------------------------------------------------- summary


def _interval(xs: list[float]) -> dict | None:
  """Mean, sd, 95% t half-width and n of ``xs`` (None when fewer than 2)."""
  from fsnlu_jax.train import metrics  # pylint: disable=g-import-not-at-top
  if len(xs) < 2:
    return dict(mean=float(np.mean(xs)), sd=None, half_width=None, n=len(xs)) if xs else None
  mean, half = metrics.mean_confidence_interval(xs)
  return dict(mean=mean, sd=float(np.std(xs, ddof=1)), half_width=half, n=len(xs))


def _rer(scratch: float, transfer: float) -> float:
  from fsnlu_jax.train import metrics  # pylint: disable=g-import-not-at-top
  return metrics.relative_error_reduction(scratch, transfer)


def summarize_group(runs: dict[str, dict], keys: list[tuple[str, int, int]]) -> dict:
  """SemER, RER, the vocabulary fix and convergence over the (domain, n, seed) ``keys``."""
  from fsnlu_jax import transfer as transfer_lib  # pylint: disable=g-import-not-at-top
  get = lambda d, n, s, v: runs.get(f"{d}/{n}/{v}/{s}")
  out = dict(semer={}, intent_acc={}, slot_f1={}, eval_unk_share={}, rer={}, rer_of_means={},
             convergence={})
  for v in VARIANTS:
    done = [get(d, n, s, v) for d, n, s in keys if get(d, n, s, v)]
    for metric in ("semer", "intent_acc", "slot_f1", "eval_unk_share"):
      out[metric][v] = _interval([r[metric] for r in done])
  scratch_keys = [(d, n, s) for d, n, s in keys if get(d, n, s, "scratch")]
  for v in ("transfer", "transfer_kept"):
    pairs = [(get(d, n, s, v), get(d, n, s, "scratch")) for d, n, s in scratch_keys
             if get(d, n, s, v)]
    out["rer"][v] = _interval([_rer(sc["semer"], t["semer"]) for t, sc in pairs
                               if sc["semer"] > 0])
    # The published reading: seed-mean SemERs per (domain, n), RER of those, mean.
    cells = sorted({(d, n) for d, n, _ in scratch_keys})
    per_cell = []
    for d, n in cells:
      both = [(get(d, n, s, v), get(d, n, s, "scratch")) for dd, nn, s in scratch_keys
              if (dd, nn) == (d, n) and get(d, n, s, v)]
      if both:
        per_cell.append(_rer(float(np.mean([sc["semer"] for _, sc in both])),
                             float(np.mean([t["semer"] for t, _ in both]))))
    out["rer_of_means"][v] = float(np.mean(per_cell)) if per_cell else None
    out["convergence"][v] = transfer_lib.summarize_pairs(
        [transfer_lib.pair_convergence(t["curve"], sc["curve"], within=CONVERGED_WITHIN,
                                       min_gain=MIN_GAIN) for t, sc in pairs])
  fix = [get(d, n, s, "transfer")["semer"] - get(d, n, s, "transfer_kept")["semer"]
         for d, n, s in keys if get(d, n, s, "transfer") and get(d, n, s, "transfer_kept")]
  out["vocab_fix_semer_diff"] = _interval(fix)
  return out


def summarize(runs: dict[str, dict], domains: list[str], sizes: list[int],
              seeds: list[int]) -> dict:
  """:func:`summarize_group` per n, per (domain, n) and over everything."""
  per_n = {str(n): summarize_group(runs, [(d, n, s) for d in domains for s in seeds])
           for n in sizes}
  per_domain = {f"{d}/{n}": summarize_group(runs, [(d, n, s) for s in seeds])
                for d in domains for n in sizes}
  overall = summarize_group(runs, [(d, n, s) for d in domains for n in sizes for s in seeds])
  return dict(per_n=per_n, per_domain_n=per_domain, overall=overall)


def markdown_table(results: dict) -> str:
  """The README table: SemER and RER per n (mean ± 95% half-width), the fix, convergence."""
  lines = ["| dataset: held-out domains | n | runs (domain × seed) | SemER transfer | "
           "SemER transfer, vocab kept | "
           "SemER scratch | RER transfer | RER vocab kept | Δ SemER (fix) | "
           "speed-up to scratch's best: mean (min), ≥3x | apart (scratch flat / never reached) | "
           "speed-up, vocab kept |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]

  def pm(x, spec=".3f"):
    if x is None:
      return "n/a"
    half = ("" if x["half_width"] is None else
            f" ± {format(x['half_width'], spec.replace('+', ''))}")
    return f"{format(x['mean'], spec)}{half}"

  def conv(c):
    if not c["pairs"]:
      return "n/a", "n/a"
    k = c["counts"]
    speed = ("n/a" if c["speedup_mean"] is None else
             f"{c['speedup_mean']:.2f} ({c['speedup_min']:.2f}), {c['at_least_goal']}/{k['ok']}")
    return speed, (f"{k['scratch_never_learned']} / {k['never_reached']}"
                   + (f" (+{k['transfer_never_learned']} transfer flat)"
                      if k["transfer_never_learned"] else ""))

  for key, entry in results["datasets"].items():
    s, shape = entry["summary"], ", ".join(entry["domains"])
    rows = [*s["per_n"].items(), ("all", s["overall"])]
    for n, row in rows:
      if row["semer"]["transfer"] is None:
        continue
      speed, apart = conv(row["convergence"]["transfer"])
      kept_speed, kept_apart = conv(row["convergence"]["transfer_kept"])
      lines.append(
          f"| {key}: {shape} | {n} | {row['semer']['transfer']['n']} | "
          f"{pm(row['semer']['transfer'])} | "
          f"{pm(row['semer']['transfer_kept'])} | {pm(row['semer']['scratch'])} | "
          f"{pm(row['rer']['transfer'], '+.1%')} | {pm(row['rer']['transfer_kept'], '+.1%')} | "
          f"{pm(row['vocab_fix_semer_diff'], '+.3f')} | {speed} | {apart} | "
          f"{kept_speed}; apart {kept_apart} |")
  return "\n".join(lines)


# ------------------------------------------------------------------- main


def machine() -> dict:
  import jax  # pylint: disable=g-import-not-at-top
  cpu = next((line.split(":", 1)[1].strip() for line in
              pathlib.Path("/proc/cpuinfo").read_text().splitlines()
              if line.startswith("model name")), platform.processor())
  return dict(cpu=cpu, cores=os.cpu_count(), platform=platform.platform(),
              python=platform.python_version(), devices=[str(d) for d in jax.devices()],
              load_average_at_start=os.getloadavg())


def versions() -> dict:
  import importlib.metadata as md  # pylint: disable=g-import-not-at-top
  return {p: md.version(p) for p in ("jax", "jaxlib", "flax", "optax", "orbax-checkpoint",
                                     "numpy", "fsnlu_jax")}


def _save(path: pathlib.Path, results: dict) -> None:
  tmp = path.with_suffix(".tmp")
  tmp.write_text(json.dumps(results, indent=1) + "\n")
  tmp.replace(path)  # atomic: a kill never leaves half a file


def _load_results(path: pathlib.Path, scale: dict, settings: dict, fresh: bool) -> dict:
  if path.exists() and not fresh:
    results = json.loads(path.read_text())
    if results.get("scale") != scale or results.get("settings") != settings:
      raise SystemExit(f"{path} holds results at another scale or settings; pass --fresh "
                       "(or another --out) to start over")
    return results
  return dict(benchmark="transfer (TL protocol, EVALUATION.md)", scale=scale,
              settings=settings, datasets={})


def run_dataset(key: str, results: dict, args, scale: dict, settings: dict,
                out: pathlib.Path) -> None:
  domains, chosen = choose_domains(key, args.data_dir, args.quick)
  if args.domains:
    domains = [d for d in args.domains if d in chosen["eligible"]]
  elif args.max_domains:
    chosen["rule"] += f"; the first {args.max_domains} of them (--max-domains)"
    domains = domains[:args.max_domains]
  entry = results["datasets"].setdefault(key, dict(runs={}, pretrain={}))
  entry.update(name=DATASETS[key]["name"], domains=domains, domain_choice=chosen,
               eval_split=DATASETS[key][f"{settings['split']}_split"])
  # The pretraining each variant starts from, by its word dropout (and units: pieces apart).
  dropouts = {v: 0.0 if v == "transfer_kept" else settings["pretrain_word_dropout"]
              for v in args.variants}
  units = settings.get("units", "words")
  in_units = "" if units == "words" else f"_{units}"
  pending = [(s, d, n, v) for s in args.seeds for d in domains for n in args.sizes
             for v in args.variants if f"{d}/{n}/{v}/{s}" not in entry["runs"]]
  for heldout in domains:  # the pretrainings first: later runs of all domains share them
    for wd in sorted({dropouts[v] for _, d, _, v in pending
                      if d == heldout and v.startswith("transfer")}):
      if f"{heldout}/wd{wd}{in_units}" not in entry["pretrain"]:
        print(f"[{key}] pretrain without {heldout}, word dropout {wd}, {units}", flush=True)
        entry["pretrain"][f"{heldout}/wd{wd}{in_units}"] = run_pretrain(
            pretrain_config(DATASETS[key], heldout, scale, wd, units),
            pathlib.Path(args.workdir) / key / heldout / f"pretrain_wd{wd}{in_units}",
            args.data_dir)
        _save(out, results)
  # Seeds outermost: a run cut short still holds whole seeds of every domain and n.
  for seed, heldout, n, variant in pending:
    root = pathlib.Path(args.workdir) / key / heldout
    config = target_config(variant, DATASETS[key], heldout, n, scale, seed=seed,
                           settings=settings)
    # Runs of other settings live beside these in the same workdir (pretrainings shared).
    name = (f"n{n}_{variant}_s{seed}_{settings['split']}"
            + ("" if variant == "transfer_kept" else f"_wd{settings['word_dropout']}")
            + (f"_pwd{dropouts[variant]}" if variant == "transfer" else "")
            + (f"_{settings['new_rows']}" if variant == "transfer" else "")
            + ("_reinit" if variant == "transfer" and settings["reinit_task_lstms"] else "")
            + in_units)
    run = run_target(variant, config, root / name,
                     root / f"pretrain_wd{dropouts[variant]}{in_units}", args.data_dir,
                     args.keep_checkpoints)
    entry["runs"][f"{heldout}/{n}/{variant}/{seed}"] = run
    entry["summary"] = summarize(entry["runs"], domains, args.sizes, args.seeds)
    _save(out, results)
    print(f"[{key}] {heldout} n={n} {variant} seed {seed}: SemER {run['semer']:.3f} "
          f"intent {run['intent_acc']:.3f} slot F1 {run['slot_f1']:.3f} unk "
          f"{run['eval_unk_share']:.3f} ({run['wall_s']:.0f} s)", flush=True)
  for heldout in domains:
    plot_domain(pathlib.Path(args.workdir) / key / heldout)
  entry["summary"] = summarize(entry["runs"], domains, args.sizes, args.seeds)
  entry["complete_for_this_run"] = all(
      f"{d}/{n}/{v}/{s}" in entry["runs"] for d in domains for n in args.sizes
      for s in args.seeds for v in args.variants)


def validation_record(paths: list[pathlib.Path]) -> dict:
  """What ``--split validation`` runs chose: each file's settings and its runs' SemER."""
  out = []
  for path in paths:
    f = json.loads(path.read_text())
    out.append(dict(file=path.name, command=f["command"], settings=f["settings"],
                    semer={k: r["semer"] for e in f["datasets"].values()
                           for k, r in e["runs"].items()}))
  return dict(rule="lowest validation SemER", runs=out)


def merge(paths: list[pathlib.Path], out: pathlib.Path, previous: dict | None,
          validation: dict | None = None) -> dict:
  """One JSON from runs written by separate invocations (e.g. run side by side).

  The first file's settings are the result's (every file with ``transfer``
  runs must share them); a later file may add runs of a variant those settings do not
  change: ``transfer_kept`` reads none of them, ``scratch`` only the word
  dropout, recorded as ``settings.scratch_word_dropout``. The same scale and
  split are required; each file's command and settings are kept under
  ``merged_from``.
  """
  files = [json.loads(p.read_text()) for p in paths]
  first = files[0]
  merged = {k: v for k, v in first.items() if k != "datasets"}
  merged["datasets"], merged["merged_from"] = {}, []
  merged["settings"] = dict(first["settings"])
  for i, (path, f) in enumerate(zip(paths, files)):
    if f["scale"] != first["scale"] or f["settings"]["split"] != first["settings"]["split"]:
      raise SystemExit(f"{path}: another scale or split than {paths[0]}")
    variants = {k.split("/")[2] for e in f["datasets"].values() for k in e["runs"]}
    if i and "transfer" in variants and f["settings"] != first["settings"]:
      raise SystemExit(f"{path}: transfer runs under other settings than {paths[0]}'s")
    if "scratch" in variants:
      merged["settings"]["scratch_word_dropout"] = f["settings"]["word_dropout"]
    merged["merged_from"].append(dict(file=str(path), command=f["command"],
                                      settings=f["settings"], variants=sorted(variants)))
    for key, entry in f["datasets"].items():
      target = merged["datasets"].setdefault(key, {k: v for k, v in entry.items()
                                                   if k not in ("runs", "pretrain", "summary")})
      target.setdefault("runs", {}).update(entry["runs"])
      target.setdefault("pretrain", {}).update(entry["pretrain"])
  sizes = sorted({int(k.split("/")[1]) for e in merged["datasets"].values() for k in e["runs"]})
  seeds = sorted({int(k.split("/")[3]) for e in merged["datasets"].values() for k in e["runs"]})
  merged["protocol"].update(sizes=sizes, seeds=seeds, variants=sorted(
      {k.split("/")[2] for e in merged["datasets"].values() for k in e["runs"]}))
  for entry in merged["datasets"].values():
    entry.pop("complete_for_this_run", None)
    entry["domains"] = sorted({k.split("/")[0] for k in entry["runs"]})
    entry["summary"] = summarize(entry["runs"], entry["domains"], sizes, seeds)
  # The protocol's two systems; transfer_kept (the code before the vocabulary fix) is extra.
  missing = [f"{key}/{d}/{n}/{v}/{s}" for key, e in merged["datasets"].items()
             for d in e["domains"] for n in sizes for s in seeds for v in ("transfer", "scratch")
             if f"{d}/{n}/{v}/{s}" not in e["runs"]]
  domains = {key: len(e["domains"]) for key, e in merged["datasets"].items()}
  whole = (domains == dict(hwu64=N_HWU64_SCENARIOS, snips=N_SNIPS_INTENTS) and sizes == list(SIZES)
           and len(seeds) >= 3 and not missing)
  merged.pop("partial", None)
  if not whole:
    merged["partial"] = dict(note="a reduced subset of the TL protocol (see protocol and "
                                  "merged_from): not every domain, n and dataset of "
                                  "EVALUATION.md", missing_runs=missing)
  if previous is not None:
    merged["superseded"] = previous
  if validation is not None:
    merged["chosen_on_validation"] = validation
  _save(out, merged)
  return merged


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--data-dir", default=os.environ.get("FSNLU_DATA_DIR"))
  parser.add_argument("--workdir", default=os.path.expanduser("~/.cache/fsnlu_jax/transfer"),
                      help="pretraining and run folders (checkpoints, metrics.jsonl)")
  parser.add_argument("--out", help="default benchmarks/results/transfer.json"
                      " (--quick: WORKDIR/transfer_quick.json)")
  parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
  parser.add_argument("--domains", nargs="+", help="these held-out domains (default: drawn)")
  parser.add_argument("--max-domains", type=int, help="the first K of the drawn domains")
  parser.add_argument("--sizes", nargs="+", type=int, default=list(SIZES))
  parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
  parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
  parser.add_argument("--word-dropout", type=float, default=0.0,
                      help="word dropout of transfer (pretraining and fine-tuning) and scratch")
  parser.add_argument("--pretrain-word-dropout", type=float, default=0.0,
                      help="word dropout of the pretraining transfer starts from")
  parser.add_argument("--new-rows", default="mean", choices=("random", "mean", "unk"))
  parser.add_argument("--reinit-task-lstms", action="store_true",
                      help="transfer re-draws the intent and slot bi-LSTMs (keeps the "
                           "embeddings and the shared bi-LSTM)")
  parser.add_argument("--units", default="words", choices=("words", "pieces"),
                      help="the bi-LSTM's tokens: words, or all-MiniLM-L6-v2's word pieces "
                           "(data.units; slots are scored on words either way)")
  parser.add_argument("--split", default="test", choices=("test", "validation"),
                      help="score on the held-out domain's test or validation part")
  parser.add_argument("--quick", action="store_true", help="smoke run at a tiny scale")
  parser.add_argument("--fresh", action="store_true", help="ignore results already in --out")
  parser.add_argument("--merge", nargs="+", type=pathlib.Path,
                      help="write --out from these result files (see merge()) and exit")
  parser.add_argument("--validation", nargs="+", type=pathlib.Path,
                      help="with --merge: record these --split validation result files")
  parser.add_argument("--superseded", type=pathlib.Path,
                      help="with --merge: keep this older result file's summaries in the JSON")
  parser.add_argument("--table", action="store_true",
                      help="print the README table of --out and exit")
  parser.add_argument("--keep-checkpoints", action="store_true",
                      help="keep fine-tuning/scratch checkpoints (default: delete when done)")
  args = parser.parse_args(argv)
  if args.quick:
    args.workdir = os.path.join(args.workdir, "quick")
    args.sizes, args.seeds = [s for s in args.sizes if s <= 50], args.seeds[:1]
  if args.split == "validation" and "hwu64" in args.datasets:
    parser.error("--split validation: SNIPS only (HWU64's folds have no validation part)")
  scale = copy.deepcopy(QUICK_SCALE if args.quick else SCALE)
  settings = dict(word_dropout=args.word_dropout,
                  pretrain_word_dropout=args.pretrain_word_dropout,
                  new_rows=args.new_rows, reinit_task_lstms=args.reinit_task_lstms,
                  split=args.split)
  if args.units != "words":  # only then: files of word runs keep their settings as they were
    settings["units"] = args.units
  out = pathlib.Path(args.out or (pathlib.Path(args.workdir) / "transfer_quick.json"
                                  if args.quick else ROOT / "benchmarks/results/transfer.json"))
  if args.table:
    print(markdown_table(json.loads(out.read_text())))
    return 0
  if args.merge:
    previous = None
    if args.superseded:
      old = json.loads(args.superseded.read_text())
      # The file this one replaces, with what it replaced in turn: nothing measured is dropped.
      previous = dict(note="the previous benchmarks/results/transfer.json: its command, scale, "
                           "settings and summaries",
                      command=old.get("command"), scale=old.get("scale"),
                      settings=old.get("settings"), partial=old.get("partial"),
                      summaries={k: e.get("summary") for k, e in old["datasets"].items()},
                      superseded=old.get("superseded"))
    validation = validation_record(args.validation) if args.validation else None
    print(markdown_table(merge(args.merge, out, previous, validation)))
    return 0
  out.parent.mkdir(parents=True, exist_ok=True)
  pathlib.Path(args.workdir).mkdir(parents=True, exist_ok=True)

  import jax  # pylint: disable=g-import-not-at-top
  # Fine-tuning runs of one domain share their shapes: compile them once.
  jax.config.update("jax_compilation_cache_dir", os.path.join(args.workdir, "jax_cache"))
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
  logging.basicConfig(level=logging.WARNING)

  results = _load_results(out, scale, settings, args.fresh)
  results.update(
      # What ran, as it ran (it said "nice -n 10" whatever the niceness was).
      command=" ".join([sys.executable, "benchmarks/transfer.py",
                        *(sys.argv[1:] if argv is None else argv)]), niceness=os.nice(0),
      machine=machine(), versions=versions(),
      protocol=dict(sizes=args.sizes, seeds=args.seeds, variants=args.variants,
                    subset_seed=SUBSET_SEED, pretrain_seed=0,
                    seeds_vary="training seed (output layers, data order, dropout); the n "
                               "utterances are one subset per n; one pretraining per (domain, "
                               "word dropout)",
                    converged_within=CONVERGED_WITHIN, min_gain=MIN_GAIN,
                    semer="of the last step", interval="mean ± 95% Student-t half-width",
                    rer="(SemER_scratch - SemER_transfer) / SemER_scratch per (domain, n, seed)",
                    rer_of_means="mean over (domain, n) of the RER of seed-mean SemERs",
                    vocab_fix_semer_diff="SemER(transfer) - SemER(transfer_kept), paired",
                    speedup="first step scratch reaches its best SemER / first step transfer "
                            "reaches it; pairs where scratch never learned (best not "
                            f"{MIN_GAIN} below its first eval) or transfer never reaches it "
                            "are counted apart",
                    own_ratio=f"steps to within {CONVERGED_WITHIN} of own best, scratch / "
                              "transfer, pairs where both learned",
                    transfer="pretrained embeddings (vocabulary extended with the n utterances' "
                             "words), shared and task bi-LSTMs kept; output layers and CRF "
                             "drawn afresh; nothing frozen",
                    transfer_kept="as transfer before the fix: pretrained vocabulary kept (new "
                                  "words are <unk>), no word dropout",
                    scratch="same sizes, random start, vocabulary of the n utterances",
                    published=dict(rer_mean=0.14, step_ratio=5.0,
                                   source="Goyal et al. 2018 (200 skills)")))
  for key in args.datasets:
    run_dataset(key, results, args, scale, settings, out)
    _save(out, results)
  print(markdown_table(results))
  print(f"wrote {out}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
