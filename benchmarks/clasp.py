"""CLASP on PIZZA (EVALUATION.md, "Teaching via data"): student parsers trained on real plus added parses.

For each ``--subsets`` seed (a *run*): the parser job's seeded subset of
``--train-size`` real parses from PIZZA's 348 dev rows (CLASP's few-shot
setting: 16; ``all``: 348), its 32 validation rows (other dev rows, for the
best checkpoint), and the 1357 test rows. Each *system* adds ``--n-augment``
parses made from the subset, a student parser
(:func:`fsnlu_jax.parse.run_parser`, ``configs/parse.py``) is trained on real
plus added parses, and scored by EXR exact match (up to sibling order) on
the whole test split under the tree grammar (every output well formed).

Systems (``--systems``):

* ``none``: the real subset only;
* ``grammar``: random trees of the schema and catalogues rendered by
  templates (:func:`fsnlu_jax.data.tree_augment.sample_grammar_example`);
* ``rs``: replace slots by direct substitution in the utterance text (the
  spans come from the seeds' TOP trees; no teacher);
* ``clasp_rs``: CLASP-RS, the same kind of substituted trees, each put into
  words by the teacher (:class:`fsnlu_jax.parse.Generator`) that must say
  every new entity;
* ``clasp_gb``: CLASP-GB, new trees sampled under the grammar from the
  ``none`` parser given the seed utterances, then put into words by the
  teacher;
* ``clasp_grammar``: ``grammar``'s own trees (the same draws), put into
  words by the teacher instead of the templates;
* ``grammar+X``: ``grammar``'s parses and ``X``'s together (twice as many
  added): does a system add to the best baseline (``grammar+rs`` is its control);
* ``X+rt``: ``X`` after the round-trip filter (the ``none`` parser must
  recover the tree from the teacher's utterance).

The teacher of a run is the parser job in the other direction (tree ->
utterance, ``data.direction="generate"``), warm-started from the same
checkpoint and trained on the run's real subset plus its ``rs`` parses: it
never sees a parse the baselines do not have. ``--teacher placeholders``
(default; ``configs/parse.py:teacher``) trains it with the values as
placeholders that each request's values fill; ``words`` makes it write them. (CLASP's teacher is a 20B
LM prompted with the seeds; no such model can be fetched here.)

Every generated utterance is de-duplicated against the seeds and the earlier
ones; every drop (unfinished sample, repeat, round-trip failure) is counted
in the run. Systems of a run share its subset, its validation rows and the
parser's seed, so they are compared by paired differences: per run (over
the subsets) and per test utterance (over subsets x 1357).

Every parser is scored twice on the test split: with the protocol's decoding
(``--cover-mentions``, default on: the tree must write every value the
utterance mentions) and with that setting flipped (``variants``, per-row
matches kept, summarized and paired the same way), so what coverage is worth
is measured on every system; ``none`` is also decoded without grounding.

Resumable: each finished (run, system) is written to ``--out`` at once and
skipped on a rerun; each parser's workdir resumes from its checkpoints; a
finished run without its variant gets it on the next rerun.

Usage (the figures in benchmarks/README.md)::

  nice -n 10 python benchmarks/clasp.py --subsets 0 1 2 --train-size 16 \\
      --workdir /tmp/clasp --out benchmarks/results/clasp.json

``--quick`` is a smoke run (the tiny config on the first 16 test rows).

References:
  Rosenbaum et al., "CLASP: Few-Shot Cross-Lingual Data Augmentation for
  Semantic Parsing", AACL 2022.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _harness  # pylint: disable=g-import-not-at-top,wrong-import-position

BASELINES = ("none", "grammar", "rs", "grammar+rs")
SYSTEMS = ("none", "grammar", "rs", "clasp_rs", "clasp_gb", "clasp_grammar", "clasp_rs+rt",
           "clasp_gb+rt", "clasp_grammar+rt", "grammar+rs", "grammar+clasp_rs")
# What sets and result files made before a teacher option existed were made with.
BEFORE_OPTIONS = dict(teacher="words", teacher_text="any", teacher_data="rs")
PAPER = ("CLASP (AACL 2022), PIZZA, 16 real examples, English: the best CLASP system tops 85% "
         "exact match, +5 points over the best baseline (grammar sampling, no augmentation)")


def parser_config(args, subset: int, *, extra: str | None = None, generate: bool = False
                  ) -> dict:
  """The parse job's config for one subset (``configs/parse.py``, or its ``:tiny``)."""
  sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
  from configs import parse as parse_configs  # pylint: disable=g-import-not-at-top
  config = parse_configs.get_config("tiny" if args.quick else "")
  config["data"].update(train_size=args.train_size, subset_seed=subset, extra_train=extra)
  config["train"].update(steps=args.steps or config["train"]["steps"])
  config["decode"].update(cover_mentions=args.cover_mentions == "on")
  if args.quick:
    config["data"].update(test_size=16)
  if generate and args.teacher == "placeholders":
    config = parse_configs.teacher(config)  # values as placeholders (configs/parse.py)
    config["train"].update(steps=args.teacher_steps or config["train"]["steps"])
  elif generate:  # the words teacher: reads trees (<= 119 pieces), writes utterances (<= 49)
    config["data"].update(direction="generate", max_source_len=128, max_target_len=64)
    config["train"].update(steps=args.teacher_steps or config["train"]["steps"])
  return config


def _job(config, workdir, args) -> dict:
  from fsnlu_jax import parse  # pylint: disable=g-import-not-at-top
  return parse.run_parser(config, workdir, data_dir=args.data_dir)


def _matches(workdir: pathlib.Path, predictions: str = "predictions.jsonl") -> list[bool]:
  """Per test row, whether the parser's tree matched (``predictions``, in test order)."""
  with open(workdir / predictions, encoding="utf-8") as f:
    return [bool(json.loads(line)["match"]) for line in f]


def components(system: str) -> list[str]:
  """The systems whose parses ``system`` adds: ``grammar+rs`` is two; ``clasp_rs+rt``
  (a filter, not a union) one."""
  return [system] if system.endswith("+rt") else system.split("+")


def needs_none_parser(system: str) -> bool:
  """GB samples its trees from the ``none`` parser; the round trip parses with it."""
  return system.startswith("clasp_gb") or system.endswith("+rt")


def added_parses(system: str, run_dir: pathlib.Path, subset: int, args, counts: dict):
  """The parses ``system`` adds (written to ``run_dir/<system>.jsonl``); None for ``none``
  or when nothing is left (:func:`fsnlu_jax.parse.added_parses`)."""
  if len(components(system)) > 1:  # a union: its components' files, each made (or cached) alone
    parts = {c: {} for c in components(system)}
    files = [added_parses(c, run_dir, subset, args, parts[c]) for c in parts]
    counts.update(parts=parts, added=sum(p.get("added", 0) for p in parts.values()))
    path = run_dir / f"{system}.jsonl"
    path.write_text("".join(pathlib.Path(f).read_text() for f in files if f))
    return str(path) if counts["added"] else None
  from fsnlu_jax import parse  # pylint: disable=g-import-not-at-top
  from fsnlu_jax.parse import data as data_lib  # pylint: disable=g-import-not-at-top
  from fsnlu_jax.parse.config import ParseDataConfig  # pylint: disable=g-import-not-at-top
  if system == "none":
    return None
  path = run_dir / f"{system}.jsonl"
  method = system.split("+")[0]
  teaches = method.startswith("clasp")
  # What the set depends on besides the subset: a set made otherwise is never reused.
  made_with = dict(n_augment=args.n_augment)
  if teaches:
    made_with.update(temperature=args.temperature, top_p=args.top_p,
                     teacher_steps=args.teacher_steps, parser_steps=args.steps,
                     teacher=args.teacher, teacher_text=args.teacher_text,
                     teacher_data=args.teacher_data)
  if (run_dir / f"{system}.counts.json").exists():
    cached = json.loads((run_dir / f"{system}.counts.json").read_text())
    before = dict(cached.get("made_with") or {})
    if teaches:
      before = dict(BEFORE_OPTIONS, **before)
    if before != made_with:
      raise SystemExit(f"{run_dir / system}.jsonl was made with {before}, "
                       f"this run asks for {made_with}: use another --workdir")
    counts.update(cached)
    return str(path) if counts["added"] else None
  data = data_lib.load_parse_data(
      ParseDataConfig(**dict(parser_config(args, subset)["data"], extra_train=None)),
      data_dir=args.data_dir)
  examples, made = parse.added_parses(
      method, data.examples["train"], data.catalogues, data.schema, args.n_augment, seed=subset,
      parser=parse.Parser.load(run_dir / "none") if needs_none_parser(system) else None,
      teacher=parse.Generator.load(run_dir / "teacher", free_text=args.teacher_text)
      if teaches else None,
      filter_round_trip=system.endswith("+rt"), temperature=args.temperature, top_p=args.top_p)
  counts.update(made, made_with=made_with)
  if examples:  # else (e.g. the round trip kept nothing) the system is the seeds alone
    parse.write_parses(path, examples)
  (run_dir / f"{system}.counts.json").write_text(json.dumps(counts))
  return str(path) if examples else None


def run_one(system: str, subset: int, args, root: pathlib.Path) -> dict:
  """Trains and scores ``system``'s parser on one subset (its teacher first, if it needs one)."""
  began = time.time()
  run_dir = root / f"n{args.train_size}" / f"s{subset}"
  run_dir.mkdir(parents=True, exist_ok=True)
  counts: dict = {}
  if any(c.startswith("clasp") for c in components(system)):
    if needs_none_parser(system) and not (run_dir / "none" / "results.json").exists():
      raise ValueError(f"{system} needs the none run of subset {subset} first "
                       "(list it before in --systems)")
    teacher_dir = run_dir / "teacher"
    if not (teacher_dir / "results.json").exists():  # taught on the seeds and --teacher-data
      # rs's parses, or (rs+grammar) those and grammar's templates: a union like the systems'.
      extra = added_parses(args.teacher_data, run_dir, subset, args, {})
      _job(parser_config(args, subset, extra=extra, generate=True), teacher_dir, args)
  extra = added_parses(system, run_dir, subset, args, counts)
  workdir = run_dir / parser_dir(system, bool(extra))
  out = _job(parser_config(args, subset, extra=extra), workdir, args)
  test = out["test"]
  record = dict(exact_match=test["exact_match"], well_formed=test["well_formed"], n_test=test["n"],
                ungrounded_rows=test.get("ungrounded_rows"),
                matches=_matches(workdir), added=counts, best_step=out["best_step"],
                steps=out["steps"], grounded_values=out["grounded_values"],
                cover_mentions=out["cover_mentions"], fallback_rows=test.get("fallback_rows"),
                workdir=str(workdir.relative_to(root)))
  if system == "none" and out["grounded_values"]:
    record["ungrounded"] = redecode(workdir, args, "ungrounded", grounded_values=False)
  if not args.no_variant:
    add_variant(record, root, args)
  record["wall_s"] = round(time.time() - began, 1)
  return record


def parser_dir(system: str, added: bool) -> str:
  """The folder of ``system``'s parser in its run; nothing added (a filter kept
  nothing) is the same job as ``none``, so its folder."""
  return system.replace("+", "_") if added or system == "none" else "none"


def variant_name(record: dict) -> str:
  """The other decoding every run is also scored with: coverage flipped."""
  return f"cover_mentions={'off' if record.get('cover_mentions') else 'on'}"


def add_variant(record: dict, root: pathlib.Path, args) -> bool:
  """Scores ``record``'s parser again with mention coverage flipped (same trained
  parser, per-row matches kept); False when it already has that score."""
  name = variant_name(record)
  if name in record.setdefault("variants", {}):
    return False
  workdir = root / record["workdir"]
  record["variants"][name] = redecode(workdir, args, name.replace("=", "_"),
                                      cover_mentions=not record.get("cover_mentions", False))
  return True


def redecode(workdir: pathlib.Path, args, name: str, **decode) -> dict:
  """The same parser decoded with ``decode`` changes (``ungrounded``: what grounding
  is worth; coverage flipped: what covering mentions is worth); its predictions go
  to ``predictions_<name>.jsonl`` and its per-row matches into the record."""
  import dataclasses  # pylint: disable=g-import-not-at-top
  from fsnlu_jax import parse  # pylint: disable=g-import-not-at-top
  from fsnlu_jax.parse import data as data_lib  # pylint: disable=g-import-not-at-top
  from fsnlu_jax.parse.config import ParseDataConfig  # pylint: disable=g-import-not-at-top
  parser = parse.Parser.load(workdir)
  parser.decode = dataclasses.replace(parser.decode, **decode)
  config = dict(parser_config(args, 0)["data"], extra_train=None)
  test = data_lib.load_parse_data(ParseDataConfig(**config), data_dir=args.data_dir
                                  ).examples["test"]
  predictions = f"predictions_{name}.jsonl"
  out = parse.evaluate_parser(parser, test, workdir, predictions=predictions)
  return dict(out, matches=_matches(workdir, predictions))


# ---------------------------------------------------------------- summary


def summarize(runs: dict) -> dict:
  """Per system: exact match over subsets; paired differences against the best baseline.

  Each of the runs' other decodings (``variants``) is summarized the same way
  under ``"variants"``.
  """
  out = summarize_decoding(runs)
  names = sorted({v for r in runs.values() for v in r.get("variants", {})})
  if names:
    out["variants"] = {v: summarize_decoding({k: r["variants"][v] for k, r in runs.items()
                                              if v in r.get("variants", {})}) for v in names}
  return out


def summarize_decoding(runs: dict) -> dict:
  """:func:`summarize` of one decoding: ``runs`` maps ``subset/system`` to a record
  with ``matches`` and ``well_formed``."""
  from fsnlu_jax.fewshot import stats  # pylint: disable=g-import-not-at-top
  keys = [k.split("/") for k in runs]
  systems = [s for s in SYSTEMS if any(k[1] == s for k in keys)]
  subsets_of = {s: sorted(int(k[0]) for k in keys if k[1] == s) for s in systems}
  grid = lambda s, subs: np.array([runs[f"{i}/{s}"]["matches"] for i in subs], np.float64)
  out = dict(systems={}, paired={})
  ungrounded = [r["ungrounded"]["exact_match"] for k, r in sorted(runs.items())
                if "ungrounded" in r]
  if ungrounded:  # the none parsers decoded without value grounding
    out["none_ungrounded"] = (stats.summary(np.array([ungrounded]).T) if len(ungrounded) > 1
                              else dict(mean=ungrounded[0], n=1))
  for system in systems:
    # [S, N]: the half-width over subset means (seed_half_width) is the one that decides.
    out["systems"][system] = stats.summary(grid(system, subsets_of[system]))
    out["systems"][system]["well_formed"] = min(runs[f"{i}/{system}"]["well_formed"]
                                                for i in subsets_of[system])
  for system in systems:
    bases = [b for b in BASELINES if b in systems and b != system]
    shared = sorted(set(subsets_of[system]).intersection(*[subsets_of[b] for b in bases])
                    ) if bases else []
    if not shared:
      continue
    best = max(bases, key=lambda b: grid(b, shared).mean())
    diff = grid(system, shared) - grid(best, shared)
    out["paired"][system] = dict(best_baseline=best, subsets=shared,
                                 difference=stats.summary(diff))
  return out


def markdown_table(results: dict) -> str:
  """The README tables (the protocol's decoding, then each variant): exact match and
  paired difference, in points."""
  summary = results["summary"]
  tables = [_table(summary)]
  for name, variant in summary.get("variants", {}).items():
    tables.append(f"Decoded with {name}:\n\n" + _table(variant))
  return "\n\n".join(tables)


def _table(s: dict) -> str:
  pct = lambda x: f"{100 * x:.1f}"
  rows = ["| system | exact match (mean ± 95% over subsets) | per subset | "
          "− best baseline (paired, over subsets) | well formed |", "|---|---|---|---|---|"]
  for system, summ in s["systems"].items():
    half = summ.get("seed_half_width")
    paired = s["paired"].get(system)
    diff = "" if paired is None else (
        f"{100 * paired['difference']['mean']:+.1f} ± "
        f"{100 * (paired['difference'].get('seed_half_width') or float('nan')):.1f} "
        f"vs {paired['best_baseline']}")
    rows.append(f"| {system} | {pct(summ['mean'])}"
                f"{'' if half is None else ' ± ' + pct(half)} | "
                f"{' / '.join(pct(m) for m in summ.get('seed_means', [summ['mean']]))} | {diff} | "
                f"{pct(summ['well_formed'])}% |")
  if "none_ungrounded" in s:
    u = s["none_ungrounded"]
    rows.append(f"| none, values not grounded | {pct(u['mean'])} | "
                f"{' / '.join(pct(m) for m in u.get('seed_means', [u['mean']]))} | | 100.0% |")
  return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--subsets", type=int, nargs="+", default=[0, 1, 2])
  p.add_argument("--train-size", type=lambda v: None if v == "all" else int(v), default=16)
  p.add_argument("--systems", nargs="+", default=list(SYSTEMS[:5]), choices=SYSTEMS)
  p.add_argument("--n-augment", type=int, default=256)
  p.add_argument("--steps", type=int, help="parser steps (default: the config's)")
  p.add_argument("--teacher-steps", type=int, help="teacher steps (default: the config's)")
  p.add_argument("--temperature", type=float, default=1.0, help="teacher sampling")
  p.add_argument("--top-p", type=float, default=0.9, help="teacher sampling")
  p.add_argument("--teacher", choices=("words", "placeholders"), default="placeholders",
                 help="the teacher writes placeholders that the request's values fill "
                      "(configs/parse.py:teacher, copy by placeholder; measured better) or the "
                      "values itself (words: stop 16's teacher)")
  p.add_argument("--teacher-text", choices=("trained", "any"), default="trained",
                 help="the pieces the teacher's free text may use: those of its training "
                      "utterances (measured better) or any text piece (stop 17's teacher)")
  p.add_argument("--teacher-data", choices=("rs", "rs+grammar"), default="rs",
                 help="what the teacher learns from besides the seeds: rs's parses (the "
                      "seeds' frames) or those and grammar's templates")
  p.add_argument("--cover-mentions", choices=("on", "off"), default="on",
                 help="the parsers' decoding (decode.cover_mentions); every run is also "
                      "scored with the other setting unless --no-variant")
  p.add_argument("--no-variant", action="store_true",
                 help="skip scoring each run with coverage flipped")
  p.add_argument("--data-dir", default=os.environ.get("FSNLU_DATA_DIR"))
  p.add_argument("--workdir", required=True, help="parsers, teachers and added data")
  p.add_argument("--out", required=True)
  p.add_argument("--quick", action="store_true")
  args = p.parse_args(argv)
  out = pathlib.Path(args.out)
  protocol = dict(train_size=args.train_size, n_augment=args.n_augment, steps=args.steps,
                  teacher_steps=args.teacher_steps,
                  temperature=args.temperature, top_p=args.top_p, teacher=args.teacher,
                  teacher_text=args.teacher_text, teacher_data=args.teacher_data,
                  quick=args.quick, parser_config=parser_config(args, 0))
  results = json.loads(out.read_text()) if out.exists() else dict(protocol=protocol, runs={})
  results["protocol"] = dict(BEFORE_OPTIONS, **results["protocol"])
  if results["protocol"] != protocol:
    raise SystemExit(f"{out} holds runs of another protocol: {results['protocol']}; "
                     "use another --out")
  results["machine"] = _harness.machine_info(matmul=False)
  root = pathlib.Path(args.workdir)
  for subset in args.subsets:
    for system in args.systems:
      key = f"{subset}/{system}"
      if key in results["runs"]:
        continue
      results["runs"][key] = run_one(system, subset, args, root)
      print(key, f"{100 * results['runs'][key]['exact_match']:.1f}", flush=True)
      results["summary"] = summarize(results["runs"])
      results["paper"] = PAPER
      out.parent.mkdir(parents=True, exist_ok=True)
      out.write_text(json.dumps(results, indent=1))
  # Runs finished before variants existed get theirs now.
  for key, record in sorted(results["runs"].items()) if not args.no_variant else ():
    subset, system = key.split("/")
    record.setdefault("workdir", str(pathlib.Path(
        f"n{args.train_size}", f"s{subset}", parser_dir(system, bool(record["added"].get("added"))))))
    record.setdefault("cover_mentions", protocol["parser_config"]["decode"]["cover_mentions"])
    if add_variant(record, root, args):
      name = variant_name(record)
      print(key, name, f"{100 * record['variants'][name]['exact_match']:.1f}", flush=True)
      results["summary"] = summarize(results["runs"])
      out.write_text(json.dumps(results, indent=1))
  print(markdown_table(results))
  return 0


if __name__ == "__main__":
  sys.exit(main())
