"""Writes the teacher's utterances for every run of the novel-intent protocol (benchmarks/teaching.py).

For each target intent and seed, the run's 10 seeds come from
:func:`fsnlu_jax.teach.novel_intent_split` with the same seed the student
runs use, so the teacher sees exactly what the student sees. Per generation
mode (``linguist``: slot control with catalogue values and wildcards;
``extrapolate``: the seeds as examples, no slot control; ``zero_shot``: label
names alone) it writes ``--prompts`` prompts x ``--n`` samples to
``generated_path(--out, dataset, intent, seed, mode)``; ``teaching.py
--generated --out ... --systems linguist linguist+filtered ...`` trains the
students on them.

Every output is decoded under the annotation grammar; the summary
(``--summary``) counts outputs, finished, parsed (all three must be equal:
the grammar makes anything else impossible), distinct utterances, and what a
share of the same prompts gives without the grammar (``--unconstrained``).

Usage::

  python benchmarks/teach_generate.py --teacher /work/runs/teacher --dataset snips \\
      --seeds 0 1 2 --out ~/.cache/fsnlu_jax/teaching/generated
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pathlib
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import _harness  # pylint: disable=g-import-not-at-top,wrong-import-position


def generate_run(teacher, split, dataset: str, mode: str, *, prompts: int, n: int, seed: int,
                 sampling, out: pathlib.Path, max_examples: int, wildcard_rate: float = 0.5,
                 system: str | None = None, repeated_labels: bool = True) -> dict:
  """One (intent, seed, mode): sample, write to ``system``'s file (default: ``mode``), count."""
  from fsnlu_jax import teach  # pylint: disable=g-import-not-at-top
  before = dict(vars(teacher.stats))
  labels = sorted({t for e in split.seeds for t in e.slot_types})
  made = teach.generation_prompts(split.target, split.seeds, prompts, mode=mode, seed=seed,
                                  catalogue=teach.slot_catalogue(split.train), labels=labels,
                                  max_examples=max_examples, wildcard_rate=wildcard_rate,
                                  repeated_labels=repeated_labels)
  # A catalogue value the teacher's pieces cannot write ([UNK], dropped emoji) is
  # asked as a wildcard, and counted: no output could copy it.
  made, unwritable = teach.writable_requests(made, teacher.tokenizer)
  start = time.perf_counter()
  outputs = teacher.generate(made, n, seed=seed, sampling=sampling)
  seconds = time.perf_counter() - start
  examples = [g.example for g in outputs if g.example is not None]
  path = teach.write_generated(teach.generated_path(out, dataset, split.target, seed,
                                                    system or mode),
                               examples)
  counts = {k: v - before[k] for k, v in vars(teacher.stats).items()}
  return dict(file=str(path), mode=mode, wildcard_rate=wildcard_rate,
              repeated_labels=repeated_labels, prompts=len(made),
              samples_per_prompt=n, unwritable_values_as_wildcards=unwritable, **counts,
              distinct=len({" ".join(e.tokens) for e in examples}), seconds=round(seconds, 2),
              sample=[g.text for g in outputs[:30]])


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--teacher", required=True, help="a `fsnlu teach` workdir")
  parser.add_argument("--dataset", default="snips", choices=("snips", "hwu64"))
  parser.add_argument("--intents", nargs="+", help="target intents (default: the protocol's)")
  parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
  parser.add_argument("--modes", nargs="+", default=["linguist", "extrapolate", "zero_shot"])
  parser.add_argument("--prompts", type=int, default=40, help="prompts per run and mode")
  parser.add_argument("--n", type=int, default=10, help="samples per prompt")
  parser.add_argument("--max-examples", type=int, default=6, help="seed examples per prompt")
  parser.add_argument("--wildcard-rate", type=float, default=0.5,
                      help="linguist: chance a requested slot is a wildcard, else a catalogue value")
  parser.add_argument("--suffix", default="",
                      help="appended to the mode to name the system's files (another teacher "
                           "or setting: teaching.py --systems linguist_t2 ...)")
  parser.add_argument("--one-span-anchors", action="store_true",
                      help="only seeds with one span per label anchor a prompt (the runs "
                           "before stop 23; their summaries lack `repeated_labels`)")
  parser.add_argument("--top-p", type=float)
  parser.add_argument("--top-k", type=int, help="also bounds top-p's sort (a full sort of "
                      "the vocabulary per step is most of the sampling time on a CPU)")
  parser.add_argument("--temperature", type=float)
  parser.add_argument("--max-length", type=int, help="output pieces (default the teacher's); a "
                      "prompt whose requested slots need more is an error")
  parser.add_argument("--data-dir", default=os.environ.get("FSNLU_DATA_DIR"))
  parser.add_argument("--out", type=pathlib.Path,
                      default=pathlib.Path("~/.cache/fsnlu_jax/teaching/generated").expanduser())
  parser.add_argument("--summary", type=pathlib.Path,
                      default=ROOT / "benchmarks" / "results" / "teaching_generation.json")
  parser.add_argument("--unconstrained", type=int, default=20,
                      help="prompts per dataset also sampled without the grammar (0: none)")
  args = parser.parse_args(argv)

  from fsnlu_jax import teach  # pylint: disable=g-import-not-at-top
  teacher = teach.Teacher.load(args.teacher)
  sampling = teach.sampling_config(args.teacher, args.temperature, args.top_p, args.top_k)
  if args.max_length:
    sampling = dataclasses.replace(sampling, max_length=args.max_length)
  splits = teach.protocol_splits(args.dataset, data_dir=args.data_dir)
  intents = args.intents or teach.target_intents(splits)[0]
  summary = json.loads(args.summary.read_text()) if args.summary.is_file() else {}
  made_by = dict(teacher=str(args.teacher), sampling=vars(sampling))
  if summary and {k: summary.get(k) for k in made_by} != made_by:
    # One summary describes one teacher and one sampling setting: never mix runs.
    raise SystemExit(f"{args.summary} holds runs of another teacher or sampling setting "
                     f"({summary.get('teacher')}, {summary.get('sampling')}); pass another --summary")
  runs = summary.setdefault("runs", {})
  repeated_labels = not args.one_span_anchors
  for intent in intents:
    for seed in args.seeds:
      split = teach.novel_intent_split(splits.train, intent, seed=seed)
      for mode in args.modes:
        system = mode + args.suffix
        key = f"{args.dataset}/{intent}/seed{seed}/{system}"
        if key in runs and runs[key].get("repeated_labels", False) != repeated_labels:
          # The anchors changed the prompts: never overwrite a run of the other setting.
          raise SystemExit(f"{args.summary} holds {key} made with"
                           f"{'' if args.one_span_anchors else ' --one-span-anchors'}; "
                           f"pass another --suffix")
        runs[key] = generate_run(teacher, split, args.dataset, mode, prompts=args.prompts,
                                 n=args.n, seed=seed, sampling=sampling, out=args.out,
                                 max_examples=args.max_examples, wildcard_rate=args.wildcard_rate,
                                 system=system, repeated_labels=repeated_labels)
        r = runs[key]
        print(f"{key}: {r['parsed']}/{r['outputs']} parsed, {r['distinct']} distinct, "
              f"{r['seconds']} s", flush=True)
        args.summary.write_text(json.dumps(summary, indent=1))
  if args.unconstrained:
    # The same model without the grammar, on the first intent's LINGUIST prompts.
    split = teach.novel_intent_split(splits.train, intents[0], seed=args.seeds[0])
    made = teach.generation_prompts(split.target, split.seeds, args.unconstrained, mode="linguist",
                                    seed=args.seeds[0], catalogue=teach.slot_catalogue(split.train),
                                    max_examples=args.max_examples, repeated_labels=repeated_labels)
    free = teacher.generate(made, args.n, seed=0, sampling=sampling, constrained=False)
    errors: dict[str, int] = {}
    for g in free:
      if g.error:
        kind = g.error.split(":")[0]
        errors[kind] = errors.get(kind, 0) + 1
    summary.setdefault("unconstrained", {})[f"{args.dataset}/{intents[0]}"] = dict(
        outputs=len(free), parsed=sum(g.example is not None for g in free), errors=errors,
        repeated_labels=repeated_labels)
  totals = {k: sum(r[k] for r in runs.values()) for k in ("outputs", "finished", "parsed")}
  summary.update(totals=totals, **made_by,
                 machine=_harness.machine_info(matmul=False))
  args.summary.write_text(json.dumps(summary, indent=1))
  print(json.dumps(dict(totals=totals, unconstrained=summary.get("unconstrained"))))
  return 0


if __name__ == "__main__":
  sys.exit(main())
