"""The ``fsnlu`` command line. Thin: every command calls the library.

  fsnlu fewshot --config fewshot[:tiny|:clinc150|:hwu64][+minilm][+ft] --workdir DIR
  fsnlu fewshot-classifier --config fewshot_classifier:FILE.csv|FILE.jsonl --workdir DIR
  (a config is an installed name such as fewshot:tiny, or a file: path/to/config.py[:arg])
  fsnlu data stats NAME [--data-dir DIR] [--json]
  fsnlu data episode NAME [--n-way N --k-shot K --q-query Q --seed S]
  fsnlu data validate NAME [--data-dir DIR] [--allow-repairs]   (exit 1 on any drop or repair)
  fsnlu data clear-cache [NAME] [--cache-dir DIR]
  fsnlu pretrain --config configs/multitask_pretrain.py[:tiny] --workdir DIR
  fsnlu finetune --config configs/multitask_finetune.py[:tiny] --workdir DIR --pretrained DIR
  fsnlu scratch --config configs/multitask_scratch.py[:tiny] --workdir DIR
  fsnlu select --config configs/select.py[:tiny|:snips] --workdir DIR
  fsnlu explain --checkpoint WORKDIR [--target intent|slot] [--html F] [--png F] "text"
  fsnlu rewrite --config configs/rewrite.py[:tiny] --workdir DIR [--data-dir D]
  fsnlu rewrite --checkpoint WORKDIR [--previous TEXT] [--user ID] "play alien bridges"
  fsnlu teach --config teach[:tiny] --workdir DIR     (train a LINGUIST teacher)
  fsnlu generate --teacher DIR --intent NAME (--examples FILE.jsonl | --labels a,b) [--n N]
  fsnlu parse --config parse[:tiny] --workdir DIR [--set data.extra_train=ADDED.jsonl]
  fsnlu parse --checkpoint WORKDIR "large pizza with ham"          (JSON lines: tree, score)
  fsnlu clasp --parser DIR --method clasp_rs|clasp_gb|clasp_grammar|rs|grammar [--teacher DIR] --out ADDED.jsonl
  fsnlu predict --checkpoint WORKDIR [--input FILE|-] [--output FILE]   (JSON lines out)
  fsnlu serve --checkpoint WORKDIR [--host H] [--port P]               (HTTP: /health, /predict)
  fsnlu active select --workdir DIR --seed-data SEED.jsonl --pool POOL.jsonl [--k K --strategy S]
  fsnlu active import --workdir DIR ANNOTATED.jsonl [...]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import os
import pathlib
import sys
import traceback

import numpy as np

from fsnlu_jax import __version__
from fsnlu_jax import _progress as progress_lib
from fsnlu_jax.config import apply_overrides, load_config, on_config_change


def _add_data_args(parser: argparse.ArgumentParser) -> None:
  parser.add_argument("name", help="dataset NAME or NAME/CONFIG, e.g. clinc150, hwu64/standard,"
                      " synthetic (the embedded corpus)")
  parser.add_argument("--data-dir", help="folder with one sub-folder of raw files per dataset"
                      " (default $FSNLU_DATA_DIR; neither set: download)")
  parser.add_argument("--cache-dir", help="where built datasets are kept (default"
                      " $FSNLU_CACHE_DIR or ~/.cache/fsnlu_jax/datasets)")
  parser.add_argument("--on-error", choices=("raise", "skip"), default="raise",
                      help="malformed rows: stop naming file and line, or skip and count")


def _load(args) -> tuple:
  from fsnlu_jax.data import loading  # pylint: disable=g-import-not-at-top

  # TFDS reports building progress on stdout; keep stdout for our output alone
  # (`--json` must print exactly one JSON object).
  with contextlib.redirect_stdout(sys.stderr):
    builder = loading.prepare(args.name, data_dir=args.data_dir, cache_dir=args.cache_dir,
                              on_error=args.on_error,
                              progress=progress_lib.mode() != "off")  # -q: TFDS's bars too
  names = list(builder.info.splits.keys())
  splits = {split: loading.read_split(builder, split)
            for split in progress_lib.progress(names, desc=f"reading {args.name}", unit="split")}
  return builder, splits


def cmd_data_stats(args) -> int:
  from fsnlu_jax.data import stats  # pylint: disable=g-import-not-at-top

  builder, splits = _load(args)
  summary = stats.summarize(args.name, builder, splits)
  print(json.dumps(summary) if args.json else stats.format_table(summary))
  return 0


def cmd_data_episode(args) -> int:
  """Prints one sampled episode, to see what the few-shot learner sees."""
  from fsnlu_jax.data import episodes, loading  # pylint: disable=g-import-not-at-top
  from fsnlu_jax.data import schema as data_schema  # pylint: disable=g-import-not-at-top

  builder, splits = _load(args)
  if builder.RECORD is not data_schema.Example:  # e.g. pizza: trees, no intents to sample ways of
    raise ValueError(f"{args.name}: episodes need intent labels, but its records are"
                     f" {builder.RECORD.__name__} (trees)")
  if args.split not in splits:
    raise loading.UnknownSplitError(
        f"{args.name}: no split {args.split!r}; splits: {', '.join(splits)}")
  pool = splits[args.split]
  sampler = episodes.EpisodeSampler([e.intent for e in pool], n_way=args.n_way,
                                    k_shot=args.k_shot, q_query=args.q_query)
  batch = sampler.sample(np.random.default_rng(args.seed), 1)
  for way, cls in enumerate(batch.classes[0]):
    print(f"== {sampler.classes[cls]}")
    for kind, index in (("support", batch.support_index), ("query", batch.query_index)):
      for row in index[0, way]:
        print(f"  {kind:<8}{pool[row].text}")
  return 0


def cmd_data_validate(args) -> int:
  """Builds (or reads the cached build of) a dataset; exit 1 on any drop or repair."""
  from fsnlu_jax.data import defects, stats  # pylint: disable=g-import-not-at-top

  builder, splits = _load(args)
  summary = stats.summarize(args.name, builder, splits)
  print(stats.format_table(summary))
  dropped = builder.info.metadata.get("dropped") or {}
  kinds = {kind: defects.classify(kind) for kind in summary["defects"]}
  failing = [k for k, c in kinds.items()
             if c == "dropped" or (c == "repaired" and not args.allow_repairs)]
  print(f"dropped rows {dropped.get('rows', 0)}, dropped files"
        f" {', '.join(dropped.get('files', [])) or 'none'}")
  for kind in failing:
    where = builder.info.metadata.get("defect_examples", {}).get(kind, [])
    print(f"  {kinds[kind]:<9}{kind}: {summary['defects'][kind]}"
          + (f"  (e.g. {', '.join(where[:3])})" if where else ""))
  verdict = "FAIL" if failing else "OK"
  print(f"{verdict}: {len(failing)} kinds of dropped or repaired data"
        + (" (repairs allowed)" if args.allow_repairs else ""))
  return 1 if failing else 0


def cmd_data_clear_cache(args) -> int:
  """Removes the cached builds of one dataset, or of all."""
  from fsnlu_jax.data import loading  # pylint: disable=g-import-not-at-top

  removed = loading.clear_cache(args.name, args.cache_dir)
  for path in removed:
    print(f"removed {path}")
  if not removed:
    print(f"nothing cached for {args.name or 'any dataset'} under"
          f" {loading.cache.cache_root(args.cache_dir)}")
  return 0


def cmd_train(args) -> int:
  """Runs the multitask bi-LSTM pretraining, fine-tuning or from-scratch job of a config."""
  from fsnlu_jax import transfer  # pylint: disable=g-import-not-at-top

  config = _config(args)
  kwargs = dict(data_dir=args.data_dir, cache_dir=args.cache_dir)
  if args.command == "pretrain":
    result = transfer.run_pretrain(config, args.workdir, **kwargs)
  elif args.command == "scratch":
    result = transfer.run_scratch(config, args.workdir, **kwargs)
  else:
    result = transfer.run_finetune(config, args.workdir, args.pretrained, **kwargs)
  print(json.dumps(result))
  return 0


def cmd_fewshot(args) -> int:
  """Runs the few-shot job (ProtoNet, ProtoDA and baselines) of a config."""
  from fsnlu_jax import fewshot  # pylint: disable=g-import-not-at-top

  fewshot.run_fewshot(_config(args), args.workdir, data_dir=args.data_dir,
                          cache_dir=args.cache_dir, pretrained=args.pretrained)
  return 0


def cmd_fewshot_classifier(args) -> int:
  """Trains a few-shot intent classifier from a user's labelled file (contrastive + head)."""
  from fsnlu_jax.fewshot import classifier  # pylint: disable=g-import-not-at-top

  print(classifier.run_classifier(_config(args), args.workdir))
  return 0


def cmd_select(args) -> int:
  """Runs the training-sample selection pipeline of a config (resumable)."""
  from fsnlu_jax import selection  # pylint: disable=g-import-not-at-top

  results = selection.run_selection(_config(args), args.workdir, data_dir=args.data_dir,
                                        cache_dir=args.cache_dir)
  print(json.dumps(dict(base=results["base"], filters=results["filters"], runs=results["runs"])))
  return 0


def cmd_explain(args) -> int:
  """Prints IG word scores of a trained model for one utterance; optional HTML / PNG."""
  from fsnlu_jax import explain  # pylint: disable=g-import-not-at-top
  from fsnlu_jax import selection  # pylint: disable=g-import-not-at-top

  res = selection.explain_utterance(args.checkpoint, args.text, target=args.target,
                                      label=args.label, top=args.top, steps=args.steps)
  print(f"intent: {res['intent']} (p={res['confidence']:.3f})")
  print("tags:   " + " ".join(f"{w}/{t}" for w, t in zip(res["words"], res["tags"])))
  if res["unknown"]:
    print("not in the vocabulary (<unk>): " + " ".join(res["unknown"]))
  width = max(len(w) for w in res["words"]) + 2
  for label, row in zip(res["rows"], res["scores"]):
    print(f"\n{args.target} {label}")
    for word, score in zip(res["words"], row):
      print(f"  {word:<{width}}{score:+.4f}")
  title = f"why {args.target}: {args.text}"
  note = f"predicted intent {res['intent']} (p={res['confidence']:.3f})"
  if args.html:
    with open(args.html, "w", encoding="utf-8") as f:
      f.write(explain.words_html(res["words"], res["scores"], row_labels=res["rows"],
                                 title=title, note=note))
  if args.png and not explain.heatmap_png(args.png, res["words"], res["scores"],
                                          row_labels=res["rows"], title=title):
    print("fsnlu: no PNG written: matplotlib is not installed (extra 'plot')", file=sys.stderr)
  return 0


def _add_explain_parser(commands) -> None:
  parser = commands.add_parser("explain", help="IG word scores of a trained model's output")
  parser.add_argument("--checkpoint", required=True, help="workdir of a trained multitask model")
  parser.add_argument("--target", choices=("intent", "slot"), default="intent")
  parser.add_argument("--label", help="also explain this intent (e.g. the right one)")
  parser.add_argument("--top", type=int, default=2, help="explain the TOP most probable intents")
  parser.add_argument("--steps", type=int, default=64, help="IG steps")
  parser.add_argument("--html", help="write the coloured words to this HTML file")
  parser.add_argument("--png", help="write a heat map to this PNG file (needs matplotlib)")
  parser.add_argument("text", help="the utterance")
  parser.set_defaults(func=cmd_explain)


def cmd_rewrite(args) -> int:
  """Trains and evaluates the CGF rewriter (``--config``), or rewrites one request."""
  from fsnlu_jax import rewrite  # pylint: disable=g-import-not-at-top

  if args.checkpoint:
    if not args.text:
      raise ValueError("rewrite --checkpoint needs the request text")
    res = rewrite.rewrite_query(args.checkpoint, args.text, previous=args.previous,
                                    user=args.user)
    if res["rewrite"] is not None:  # stdout: the rewrite alone; why, on stderr
      print(res["rewrite"])
      print(f"fsnlu: {rewrite.describe_rewrite(res)}", file=sys.stderr)
    else:  # why not: the best candidate, its score and the threshold that decided
      print(rewrite.describe_rewrite(res))
    return 0
  if not (args.config and args.workdir):
    raise ValueError("rewrite needs --config and --workdir (train) or --checkpoint (query)")
  rewrite.run_rewrite(_config(args), args.workdir,
                          data_dir=args.data_dir, cache_dir=args.cache_dir)
  return 0


def _add_rewrite_parser(commands) -> None:
  parser = commands.add_parser("rewrite", help="CGF query rewriting: train+evaluate, or query")
  parser.add_argument("--config", help="rewrite[:tiny] or a config file (train and evaluate)")
  _add_set_argument(parser)
  parser.add_argument("--workdir", help="checkpoints, metrics, results.json; resumes")
  _add_on_change_arguments(parser)
  parser.add_argument("--data-dir", help="raw dataset folders (as for `fsnlu data`)")
  parser.add_argument("--cache-dir", help="built dataset cache (as for `fsnlu data`)")
  parser.add_argument("--checkpoint", help="workdir of a finished `fsnlu rewrite --config` run")
  parser.add_argument("--previous", default="", help="the previous turn")
  parser.add_argument("--user", type=int, help="user id: also decode in their personal trie"
                      " (the users: the keys of \"personal\" in the workdir's tries.json)")
  parser.add_argument("text", nargs="?", help="the request as heard (with --checkpoint)")
  parser.set_defaults(func=cmd_rewrite)


def cmd_parse(args) -> int:
  """Trains and evaluates the semantic parser (``--config``), or parses utterances (JSON out)."""
  from fsnlu_jax import parse  # pylint: disable=g-import-not-at-top

  if args.checkpoint:
    if not args.text:
      raise ValueError("parse --checkpoint needs at least one utterance")
    parser = parse.Parser.load(args.checkpoint)
    for text, (tree, score) in zip(args.text, parser.parse(args.text)):
      print(json.dumps(dict(text=text, tree=tree, score=score if tree is not None else None)))
    return 0
  if not (args.config and args.workdir):
    raise ValueError("parse needs --config and --workdir (train) or --checkpoint (parse)")
  out = parse.run_parser(_config(args), args.workdir, data_dir=args.data_dir,
                         cache_dir=args.cache_dir)
  print(json.dumps(out.get("test", dict(best=out["best"]))))
  return 0


def _add_parse_parser(commands) -> None:
  parser = commands.add_parser("parse", help="semantic parsing into trees (PIZZA): train+evaluate,"
                               " or parse utterances")
  parser.add_argument("--config", help="parse[:tiny] or a config file (train and evaluate)")
  _add_set_argument(parser)
  parser.add_argument("--workdir", help="checkpoints, metrics, results.json; resumes")
  _add_on_change_arguments(parser)
  parser.add_argument("--data-dir", help="raw dataset folders (as for `fsnlu data`)")
  parser.add_argument("--cache-dir", help="built dataset cache (as for `fsnlu data`)")
  parser.add_argument("--checkpoint", help="workdir of a finished `fsnlu parse --config` run")
  parser.add_argument("text", nargs="*", help="utterances to parse (with --checkpoint): one JSON"
                      " line each, {text, tree, score}")
  parser.set_defaults(func=cmd_parse)


def cmd_clasp(args) -> int:
  """Writes parses to add to a parser's training subset (CLASP or a baseline), as JSONL."""
  from fsnlu_jax import parse  # pylint: disable=g-import-not-at-top
  from fsnlu_jax.config import job_config  # pylint: disable=g-import-not-at-top
  from fsnlu_jax.parse import data as data_lib  # pylint: disable=g-import-not-at-top

  workdir = pathlib.Path(args.parser)
  config = job_config(parse.ParseConfig, json.loads((workdir / "config.json").read_text()),
                      jobs=("parse",))
  data = data_lib.load_parse_data(dataclasses.replace(config.data, extra_train=None),
                                  data_dir=args.data_dir, cache_dir=args.cache_dir)
  teaches = args.method.startswith("clasp")
  if teaches and not args.teacher:
    raise ValueError(f"clasp --method {args.method} needs --teacher (a generate workdir)")
  examples, counts = parse.added_parses(
      args.method, data.examples["train"], data.catalogues, data.schema, args.n, seed=args.seed,
      parser=parse.Parser.load(workdir) if teaches else None,
      teacher=parse.Generator.load(args.teacher) if teaches else None,
      filter_round_trip=args.round_trip, temperature=args.temperature, top_p=args.top_p)
  parse.write_parses(args.out, examples)
  print(json.dumps(dict(counts, out=args.out)))
  return 0


def _add_clasp_parser(commands) -> None:
  parser = commands.add_parser(
      "clasp", help="write parses to add to a parser's subset (CLASP-RS/GB, or a baseline), "
      "for `fsnlu parse --set data.extra_train=FILE`")
  parser.add_argument("--parser", required=True,
                      help="workdir of `fsnlu parse` trained on the seeds (its subset is used)")
  parser.add_argument("--method", required=True,
                      choices=("grammar", "rs", "clasp_rs", "clasp_gb", "clasp_grammar"))
  parser.add_argument("--teacher", help="workdir of `fsnlu parse --config parse:teacher` "
                      "(or any data.direction=generate run; clasp_*)")
  parser.add_argument("--n", type=int, default=256, help="most parses to write")
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--round-trip", action="store_true",
                      help="keep a teacher's pair only if --parser recovers its tree")
  parser.add_argument("--temperature", type=float, default=1.0,
                      help="teacher sampling (benchmarks: 0.7 for the placeholder teacher)")
  parser.add_argument("--top-p", type=float, default=0.9)
  parser.add_argument("--data-dir", help="raw dataset folders (as for `fsnlu data`)")
  parser.add_argument("--cache-dir", help="built dataset cache (as for `fsnlu data`)")
  parser.add_argument("--out", required=True, help="the JSONL file to write")
  parser.set_defaults(func=cmd_clasp)


def cmd_predict(args) -> int:
  """Answers utterances (text or JSON lines) from a file or stdin with JSON lines."""
  from fsnlu_jax import serve  # pylint: disable=g-import-not-at-top

  predictor = serve.load_predictor(args.checkpoint, top_k=args.top_k)
  with contextlib.ExitStack() as stack:
    # Bytes: a line that is not UTF-8 gets an error record naming it.
    lines = (sys.stdin.buffer if args.input == "-" else stack.enter_context(open(args.input, "rb")))
    out = (sys.stdout if args.output == "-" else
           stack.enter_context(open(args.output, "w", encoding="utf-8")))
    chunk = 1 if lines.isatty() else args.chunk_size  # a person typing sees each answer
    counts = serve.predict_lines(predictor, lines, out, chunk_size=chunk)
  if counts["errors"]:
    print(f"fsnlu: {counts['errors']} of {counts['lines']} lines were not answered "
          "(their output lines hold the error)", file=sys.stderr)
  return 1 if counts["errors"] else 0


def cmd_serve(args) -> int:
  """Serves a trained model over HTTP until interrupted."""
  from fsnlu_jax import serve  # pylint: disable=g-import-not-at-top
  try:
    from fsnlu_jax.serve import server  # pylint: disable=g-import-not-at-top
  except ModuleNotFoundError as error:
    raise ValueError(f"fsnlu serve needs the 'serve' extra ({error.name} is missing): "
                     "pip install 'fsnlu_jax[serve]'") from None

  predictor = serve.load_predictor(args.checkpoint, top_k=args.top_k)
  limits = server.Limits(max_chars=args.max_chars, max_batch=args.max_batch,
                         max_body_bytes=args.max_body_bytes, max_wait_ms=args.max_wait_ms)
  if not args.no_warmup:
    logging.getLogger("fsnlu_jax").warning("compiling every bucket before serving...")
    predictor.warmup()
  print(f"fsnlu: serving {predictor.kind} model {args.checkpoint} on "
        f"http://{args.host}:{args.port} (GET /health, POST /predict)", file=sys.stderr)
  server.run(predictor, host=args.host, port=args.port, limits=limits,
             log_level="info" if args.verbose else "warning")
  return 0


def cmd_teach(args) -> int:
  """Trains (resuming) a LINGUIST teacher; prints its validation record."""
  from fsnlu_jax import teach  # pylint: disable=g-import-not-at-top

  out = teach.run_teach(_config(args), args.workdir, data_dir=args.data_dir,
                        cache_dir=args.cache_dir)
  print(json.dumps(dict(steps=out["steps"], best_step=out["best_step"], best=out["best"])))
  return 0


def cmd_generate(args) -> int:
  """Writes labelled utterances for an intent, from seed examples or label names alone."""
  from fsnlu_jax import teach  # pylint: disable=g-import-not-at-top

  seeds = teach.read_generated(args.examples, intent=args.intent) if args.examples else []
  labels = [x for x in (args.labels or "").split(",") if x]
  mode = args.mode or ("linguist" if seeds else "zero_shot")
  teacher = teach.Teacher.load(args.teacher)
  prompts = teach.generation_prompts(args.intent, seeds, args.prompts, mode=mode, seed=args.seed,
                                     catalogue=teach.slot_catalogue(seeds), labels=labels,
                                     repeated_labels=not args.one_span_anchors)
  outputs = teacher.generate(prompts, args.n, seed=args.seed,
                             sampling=teach.sampling_config(args.teacher, args.temperature,
                                                            args.top_p, args.top_k))
  with contextlib.ExitStack() as stack:
    out = sys.stdout if args.output == "-" else stack.enter_context(open(args.output, "w"))
    for g in outputs:
      record = dict(g.example.to_record(), annotated=g.text, logprob=round(g.logprob, 4)) \
          if g.example is not None else dict(annotated=g.text, error=g.error)
      out.write(json.dumps(record, ensure_ascii=False) + "\n")
  s = teacher.stats
  anchors = "one-span anchors" if args.one_span_anchors else "repeated labels allowed"
  print(f"fsnlu: {s.parsed} of {s.outputs} outputs parsed ({mode}, {len(prompts)} prompts, "
        f"{anchors})", file=sys.stderr)
  return 0


def _add_teach_parsers(commands) -> None:
  _add_train_parser(commands, "teach", "train a LINGUIST teacher (annotated-utterance writer)",
                    func=cmd_teach)
  parser = commands.add_parser("generate", help="write labelled utterances for an intent "
                               "with a trained teacher (JSON lines in the dataset schema)")
  parser.add_argument("--teacher", required=True, help="workdir of a `fsnlu teach` run")
  parser.add_argument("--intent", required=True, help="the intent to write utterances for")
  parser.add_argument("--examples", help="JSON lines of seed examples (text, tokens, slots, "
                      "intent; as `fsnlu data` and `fsnlu generate` write them)")
  parser.add_argument("--labels", help="comma-separated slot labels (zero-shot: no examples)")
  parser.add_argument("--mode", choices=["linguist", "extrapolate", "zero_shot"],
                      help="default: linguist with --examples, zero_shot without")
  parser.add_argument("--prompts", type=int, default=10, help="prompts to sample from")
  parser.add_argument("--n", type=int, default=10, help="samples per prompt")
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--temperature", type=float)
  parser.add_argument("--top-p", type=float)
  parser.add_argument("--top-k", type=int)
  parser.add_argument("--one-span-anchors", action="store_true",
                      help="only seeds with one span per slot label anchor a prompt (what "
                      "`fsnlu generate` did before a label could be requested twice)")
  parser.add_argument("--output", default="-", help="JSON lines out; - is stdout")
  parser.set_defaults(func=cmd_generate)


def _add_predict_parsers(commands) -> None:
  for name, help_text in (("predict", "answer utterances from a file or stdin (JSON lines)"),
                          ("serve", "serve a trained model over HTTP with request batching")):
    parser = commands.add_parser(name, help=help_text)
    parser.add_argument("--checkpoint", required=True,
                        help="workdir of a trained multitask model (pretrain, finetune, "
                        "scratch, a selection run's base/ ...), of a finished rewrite run "
                        "or of a fewshot-classifier run")
    parser.add_argument("--top-k", type=int, default=5, help="intent scores per utterance")
    if name == "predict":
      parser.add_argument("--input", default="-", help="one utterance per line, or JSON lines "
                          "with \"text\" (and \"previous\", \"user\" for rewriting); - is stdin")
      parser.add_argument("--output", default="-", help="JSON lines, one per input line")
      parser.add_argument("--chunk-size", type=int, default=64, help="lines per model call")
      parser.set_defaults(func=cmd_predict)
      continue
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--max-chars", type=int, default=1000, help="characters per text")
    parser.add_argument("--max-batch", type=int, default=64, help="texts per request")
    parser.add_argument("--max-body-bytes", type=int, default=1 << 20)
    parser.add_argument("--max-wait-ms", type=float, default=5.0,
                        help="how long a request waits to be batched with others")
    parser.add_argument("--no-warmup", action="store_true",
                        help="do not compile every bucket before serving")
    parser.set_defaults(func=cmd_serve)


def _add_train_parser(commands, name: str, help_text: str, func=cmd_train
                      ) -> argparse.ArgumentParser:
  parser = commands.add_parser(name, help=help_text)
  parser.add_argument("--config", required=True,
                      help="an installed config NAME[:ARG] (e.g. fewshot:tiny) or FILE.py[:ARG]")
  _add_set_argument(parser)
  parser.add_argument("--workdir", required=True, help="checkpoints, metrics, vocab; resumes")
  _add_on_change_arguments(parser)
  parser.add_argument("--data-dir", help="raw dataset folders (as for `fsnlu data`)")
  parser.add_argument("--cache-dir", help="built dataset cache (as for `fsnlu data`)")
  parser.set_defaults(func=func)
  return parser


def _add_on_change_arguments(parser: argparse.ArgumentParser) -> None:
  """A rerun in a workdir of another config is refused, unless one of these says otherwise."""
  group = parser.add_mutually_exclusive_group()
  group.add_argument("--overwrite", dest="on_change", action="store_const", const="overwrite",
                     help="start over: delete the workdir's previous run first")
  group.add_argument("--continue", dest="on_change", action="store_const", const="continue",
                     help="go on from the workdir's checkpoints with a changed config "
                     "(e.g. more train.steps); the old config goes to config_history.jsonl")
  parser.set_defaults(on_change="refuse")


def _add_set_argument(parser: argparse.ArgumentParser) -> None:
  parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                      help="override one config value, e.g. --set train.steps=200 "
                      "(repeatable; checked against the job's typed config)")


def _config(args) -> dict:
  """The command's config with its ``--set`` overrides."""
  return apply_overrides(load_config(args.config), args.set)


def cmd_active_select(args) -> int:
  """Retrains on everything annotated and writes the next batch to annotate."""
  from fsnlu_jax.active import loop  # pylint: disable=g-import-not-at-top

  print(json.dumps(loop.select(args.workdir, args.seed_data, args.pool, k=args.k,
                               strategy=args.strategy, seed=args.seed)))
  return 0


def cmd_active_import(args) -> int:
  """Imports annotated batch files (each whole, or none of its rows)."""
  from fsnlu_jax.active import loop  # pylint: disable=g-import-not-at-top

  for path in args.files:
    print(json.dumps({"file": path, **loop.import_batch(args.workdir, path)}))
  return 0


def _add_active_parser(commands) -> None:
  active = commands.add_parser("active", help="active learning for a new domain").add_subparsers(
      dest="active_command", required=True)
  select = active.add_parser("select", help="retrain and write the next batch to annotate")
  select.add_argument("--workdir", required=True)
  select.add_argument("--seed-data", required=True,
                      help="annotated JSON lines: the domain's bootstrap and a few <other> rows")
  select.add_argument("--pool", required=True, help='JSON lines {"id", "text"} to select from')
  select.add_argument("--k", type=int, default=50)
  select.add_argument("--strategy", default="majority_crf",
                      help="random, least_confidence, margin, vote_entropy, majority_sigma, "
                      "majority_crf (default), majority_joint or product_rule")
  select.add_argument("--seed", type=int, default=0)
  select.set_defaults(func=cmd_active_select)
  imports = active.add_parser("import", help="import annotated batch files")
  imports.add_argument("--workdir", required=True)
  imports.add_argument("files", nargs="+")
  imports.set_defaults(func=cmd_active_import)


def build_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(prog="fsnlu", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
  verbosity = parser.add_mutually_exclusive_group()
  verbosity.add_argument("-v", "--verbose", action="store_true",
                         help="log the jobs' progress messages (chosen settings, resumes, splits)")
  verbosity.add_argument("-q", "--quiet", action="store_true", help="log errors only")
  commands = parser.add_subparsers(dest="command", required=True)
  data = commands.add_parser("data", help="dataset builders").add_subparsers(
      dest="data_command", required=True)

  stats = data.add_parser("stats", help="build (if needed) and count a dataset")
  _add_data_args(stats)
  stats.add_argument("--json", action="store_true", help="print one JSON object")
  stats.set_defaults(func=cmd_data_stats)

  episode = data.add_parser("episode", help="print one sampled N-way K-shot episode")
  _add_data_args(episode)
  episode.add_argument("--split", default="train")
  episode.add_argument("--n-way", type=int, default=5)
  episode.add_argument("--k-shot", type=int, default=3)
  episode.add_argument("--q-query", type=int, default=2)
  episode.add_argument("--seed", type=int, default=0)
  episode.set_defaults(func=cmd_data_episode)

  validate = data.add_parser(
      "validate", help="build (if needed) and check a dataset: exit 1 on any dropped or repaired"
      " data, printing the counts")
  _add_data_args(validate)
  validate.set_defaults(on_error="skip")  # count every problem rather than stop at the first
  validate.add_argument("--allow-repairs", action="store_true",
                        help="exit 0 when data was only repaired (e.g. whitespace), not dropped")
  validate.set_defaults(func=cmd_data_validate)

  clear = data.add_parser("clear-cache", help="remove built datasets (all, or NAME's)")
  clear.add_argument("name", nargs="?", help="dataset NAME (default: every dataset)")
  clear.add_argument("--cache-dir", help="the cache (default $FSNLU_CACHE_DIR or"
                     " ~/.cache/fsnlu_jax/datasets)")
  clear.set_defaults(func=cmd_data_clear_cache)

  _add_train_parser(commands, "pretrain", "pretrain the multitask bi-LSTM")
  _add_train_parser(commands, "finetune", "fine-tune a pretrained multitask bi-LSTM").add_argument(
      "--pretrained", required=True, help="workdir of a finished `fsnlu pretrain`")
  _add_train_parser(commands, "scratch", "train the fine-tuning baseline from a random start")
  _add_train_parser(commands, "fewshot", "few-shot intents: ProtoNet, ProtoDA and baselines",
                    func=cmd_fewshot).add_argument(
                        "--pretrained", help="the sentence encoder: a finished `fsnlu pretrain`"
                        " workdir, or with encoder.kind='pretrained' a BERT-family model folder"
                        " or hub name (default: train a bi-LSTM on the train intents)")
  _add_train_parser(commands, "fewshot-classifier",
                    "a few-shot intent classifier from your own text,label file (SetFit recipe)",
                    func=cmd_fewshot_classifier)
  _add_train_parser(commands, "select", "training-sample selection by IG word influence",
                    func=cmd_select)
  _add_explain_parser(commands)
  _add_rewrite_parser(commands)
  _add_teach_parsers(commands)
  _add_parse_parser(commands)
  _add_clasp_parser(commands)
  _add_predict_parsers(commands)
  _add_active_parser(commands)
  return parser


# Commands that run a job: they join a multi-process run when one is configured.
_JOBS = ("pretrain", "finetune", "scratch", "fewshot", "fewshot-classifier", "select", "rewrite",
         "teach", "parse")
# Commands that answer from a trained model: their compiled functions are kept
# on disk, so the next run of the same model loads them instead of compiling
# (`fsnlu explain`: 11 s of its IG compilation on a busy 2-core CPU).
_MODEL_USERS = ("explain", "predict", "serve", "generate")


def _compilation_cache() -> None:
  """JAX's persistent compilation cache in $FSNLU_COMPILATION_CACHE
  (default ~/.cache/fsnlu_jax/xla; empty: off), unless one is configured already."""
  import jax  # pylint: disable=g-import-not-at-top

  folder = os.environ.get("FSNLU_COMPILATION_CACHE",
                          os.path.join(os.path.expanduser("~"), ".cache", "fsnlu_jax", "xla"))
  if folder and not jax.config.jax_compilation_cache_dir:
    jax.config.update("jax_compilation_cache_dir", folder)


def main(argv: list[str] | None = None) -> int:
  args = build_parser().parse_args(argv)
  level = logging.INFO if args.verbose else logging.ERROR if args.quiet else logging.WARNING
  logging.basicConfig(level=level, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
  package_logger = logging.getLogger("fsnlu_jax")
  # Restored below: main() called in-process (tests, notebooks) leaves no level behind.
  previous_level = package_logger.level
  package_logger.setLevel(level)
  progress_lib.set_mode("off" if args.quiet else None)
  try:
    if args.command in _JOBS:
      # FSNLU_COORDINATOR / FSNLU_NUM_PROCESSES / FSNLU_PROCESS_ID, or a cluster
      # launcher JAX detects: jax.distributed starts before any device is touched.
      from fsnlu_jax.parallel import initialize_distributed  # pylint: disable=g-import-not-at-top
      initialize_distributed()
    if args.command in _MODEL_USERS:
      _compilation_cache()
    with on_config_change(getattr(args, "on_change", "refuse")):
      return args.func(args)
  except (OSError, KeyError, ValueError) as error:
    # One line a user can act on (MalformedRowError names the file and line);
    # -v adds the traceback for a bug report.
    if args.verbose:
      traceback.print_exc()
    print(f"fsnlu: error: {_message(error)}", file=sys.stderr)
    return 2
  finally:
    progress_lib.set_mode(None)
    package_logger.setLevel(previous_level)


def _message(error: BaseException) -> str:
  if isinstance(error, KeyError):  # str() of a KeyError is the bare key in quotes
    return f"missing key {error}"
  if isinstance(error, OSError) and error.filename and str(error.filename) not in str(error):
    return f"{error.filename}: {error}"
  return str(error)


if __name__ == "__main__":
  sys.exit(main())
