"""The parser's job (``fsnlu parse --config``): train on real parses, keep the best, score the test set.

A config (``configs/parse.py``, read into a :class:`~fsnlu_jax.parse.config.ParseConfig`)
names the dataset, the training subset, the checkpoint to warm-start from, the
loop and the beam. :func:`run_parser` writes into its ``workdir``:

* ``config.json``: the job's config (a rerun with another config is refused);
* ``parser.json``: the model's sizes and special ids, the tree grammar (the
  schema's constructors, the catalogue values) and the beam settings, and
  ``tokenizer.json`` (a copy): with the checkpoints, all
  :meth:`fsnlu_jax.parse.Parser.load` needs;
* ``checkpoints/``, ``metrics.jsonl``: the loop's (resumable); ``best/``: the
  state with the lowest validation NLL (the last one without validation rows);
* ``results.json``: exact match on the test split (EXR trees equal up to the
  order of siblings, :func:`fsnlu_jax.train.metrics.tree_exact_match`), the
  share of well-formed outputs (1.0 under the grammar), counts;
  ``predictions.jsonl``: one ``{text, gold, tree, score, match}`` per test row.

Data order: :func:`fsnlu_jax.train.epoch_rows`.

References:
  Rosenbaum et al., "CLASP: Few-Shot Cross-Lingual Data Augmentation for
  Semantic Parsing", AACL 2022 (the student parser on PIZZA).
  Rothe, Narayan & Severyn, "Leveraging Pre-trained Checkpoints for Sequence
  Generation Tasks", TACL 2020.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import pathlib
import shutil
import time
from typing import Any, Mapping

import jax
import numpy as np
from flax import nnx

from fsnlu_jax.config import WorkdirError, job_config, record_config, to_dict
from fsnlu_jax.data.subword import SubwordTokenizer
from fsnlu_jax.models import resolve_model_dir, seq2seq_loss, warm_start_seq2seq
from fsnlu_jax.parallel import make_data_mesh
from fsnlu_jax.parse import data as data_lib
from fsnlu_jax.parse.config import ParseConfig
from fsnlu_jax.parse.grounding import carrier_words, grammar_surfaces
from fsnlu_jax.parse.optim import optimizer_for_config
from fsnlu_jax.parse.placeholders import delexicalize_example
from fsnlu_jax.parse.parser import (PARSER_FILE, TOKENIZER_FILE, Parser, compile_grammar,
                                    grammar_shortlist)
from fsnlu_jax.train import (BestMetric, chunks, epoch_rows, init_train_state, jsonl,
                             make_eval_step, make_train_step, to_global, train)
from fsnlu_jax.train.metrics import trees_match


def _summarize(sums: Mapping[str, float]) -> dict[str, float]:
  return dict(nll=sums["nll_sum"] / max(sums["count"], 1),
              token_acc=sums["correct"] / max(sums["count"], 1))


def _evaluate(eval_step, state, arrays, batch_size: int, mesh) -> dict[str, float]:
  """Validation token NLL, token accuracy and teacher-forced exact match."""
  n, total = len(arrays["src_len"]), None
  for chunk in chunks(n, batch_size):
    m = eval_step(state, to_global(data_lib.batch(arrays, chunk.rows[:chunk.real], batch_size),
                                   mesh))
    total = m if total is None else jax.tree.map(lambda x, y: x + y, total, m)
  t = jax.device_get(total)
  return dict(nll=float(t["nll_sum"] / t["count"]), token_acc=float(t["correct"] / t["count"]),
              exact_teacher_forced=float(t["exact"]) / n)


def evaluate_parser(parser: Parser, examples, workdir: pathlib.Path | None = None, *,
                    predictions: str = "predictions.jsonl") -> dict[str, Any]:
  """Exact match and well-formed share of ``parser`` on ``examples`` (their EXR trees);
  with a ``workdir``, one row per example goes to ``workdir/predictions``."""
  outputs = parser.parse([e.text for e in examples])
  rows, hits, formed = [], 0, 0
  for example, (tree, score) in zip(examples, outputs):
    ok = data_lib.well_formed(tree)
    match = ok and trees_match(tree, example.exr)
    hits, formed = hits + match, formed + ok
    rows.append(dict(text=example.text, gold=example.exr, tree=tree,
                     score=score if math.isfinite(score) else None, match=match,
                     source=example.source))
  if workdir is not None and jax.process_index() == 0:
    with open(workdir / predictions, "w", encoding="utf-8") as f:
      for row in rows:
        f.write(json.dumps(row) + "\n")
  n = len(examples)
  return dict(exact_match=hits / n, well_formed=formed / n, n=n,
              ungrounded_rows=parser.ungrounded_rows, fallback_rows=parser.fallback_rows)


def _check_same_added_data(workdir: pathlib.Path, stats: Mapping[str, Any]) -> None:
  """Refuses to resume over a rewritten ``data.extra_train`` file (same path, other parses)."""
  path = workdir / "data.json"
  if not path.exists():
    return
  before = json.loads(path.read_text()).get("extra_train", {}).get("sha256")
  now = stats.get("extra_train", {}).get("sha256")
  if before != now:
    raise WorkdirError(f"{workdir} was trained on other added parses (data.extra_train sha256 "
                       f"{before} -> {now}); use a new --workdir or --overwrite")


def run_parser(config: Mapping[str, Any] | ParseConfig, workdir: str | os.PathLike, *,
               data_dir=None, cache_dir=None) -> dict[str, Any]:
  """Trains (resuming) the parser on the configured subset, then scores the test split.

  With ``data.direction="generate"`` the same model learns tree -> utterance
  (the CLASP teacher, loaded by :meth:`fsnlu_jax.parse.Generator.load`) and
  no test parsing is done.
  """
  config = job_config(ParseConfig, config, jobs=("parse",))
  workdir = pathlib.Path(workdir)
  record_config(workdir, config)
  began = time.time()
  data = data_lib.load_parse_data(config.data, data_dir=data_dir, cache_dir=cache_dir)
  folder = resolve_model_dir(config.model.checkpoint)
  d = config.data
  tokenizer = SubwordTokenizer(folder, max_length=d.max_source_len)
  grammar = data_lib.tree_grammar(data, d, config.decode.max_depth)
  warm_start = lambda output_ids: warm_start_seq2seq(
      folder, decoder_layers=config.model.decoder_layers,
      max_target_len=max(d.max_target_len, config.decode.max_length),
      label_smoothing=config.optim.label_smoothing, output_ids=output_ids,
      rngs=nnx.Rngs(config.seed))
  model = warm_start(None)
  if config.model.output_shortlist and d.direction == "parse" and not grammar.copy:
    c = model.config
    model = warm_start(grammar_shortlist(compile_grammar(grammar, tokenizer, c),
                                         bos_id=c.bos_id, eos_id=c.eos_id))
  c = model.config
  encode = lambda examples: data_lib.encode_parses(
      examples, tokenizer, max_source_len=d.max_source_len, max_target_len=d.max_target_len,
      bos_id=c.bos_id, eos_id=c.eos_id, pad_id=c.pad_id, reverse=d.direction == "generate",
      output_index=None if c.output_ids is None else c.output_index())
  ordered = lambda examples: [dataclasses.replace(e, exr=data_lib.utterance_ordered(
      e.exr, e.text, data.catalogues)) for e in examples]
  arrays, kept, dropped, unplaced = {}, {}, {}, {}
  for split in ("train", "validation"):
    examples = data.examples[split]
    if d.direction == "parse" and d.target_order == "utterance":
      examples = ordered(examples)
    if d.placeholders:
      made = [delexicalize_example(e, data.catalogues, data.schema) for e in examples]
      examples = [e for e in made if e is not None]
      unplaced[split] = len(made) - len(examples)
    arrays[split], kept[split], dropped[split] = encode(examples)
  if not kept["train"]:
    raise ValueError("no training parse fits data.max_target_len")
  stats = dict(data.stats, target_too_long=dropped)
  if d.placeholders:
    stats["without_placeholders"] = unplaced  # no TOP tree, or no value said: dropped
  _check_same_added_data(workdir, stats)
  if jax.process_index() == 0:
    saved = dict(model=to_dict(c), grammar=data_lib.grammar_to_dict(grammar),
                 surfaces=grammar_surfaces(grammar, data.catalogues),
                 carrier_words=carrier_words([e.top for e in data.examples["train"][
                     :data.stats["train"]]]),
                 decode=to_dict(config.decode), max_source_len=d.max_source_len,
                 direction=d.direction, placeholders=d.placeholders)
    if d.direction == "generate":  # the pieces its training utterances use: its free text
      t = arrays["train"]
      saved["target_pieces"] = np.unique(t["tgt_out"][t["tgt_mask"]]).tolist()
    (workdir / PARSER_FILE).write_text(json.dumps(saved, indent=1))
    shutil.copyfile(tokenizer.path, workdir / TOKENIZER_FILE)
    (workdir / "data.json").write_text(json.dumps(stats, indent=1))
  mesh = make_data_mesh()
  t = config.train
  if t.batch_size % mesh.size:
    raise ValueError(f"batch_size {t.batch_size} must divide by the {mesh.size} devices")
  optimizer = optimizer_for_config(config, model)
  graphdef, state = init_train_state(model, optimizer, jax.random.key(config.seed), mesh)
  step = make_train_step(graphdef, seq2seq_loss, optimizer, mesh)
  eval_step = make_eval_step(graphdef, seq2seq_loss, mesh)
  train_arrays = arrays["train"]
  n = len(train_arrays["src_len"])
  validate = len(kept["validation"]) > 0
  result = train(
      state, step, lambda s: data_lib.batch(train_arrays, epoch_rows(s, n, t.batch_size,
                                                                      config.seed), t.batch_size),
      mesh=mesh, config=t, workdir=workdir,
      data_order=dict(order="epoch_permutation", seed=config.seed, n_train=n),
      evaluate=(lambda s: _evaluate(eval_step, s, arrays["validation"], t.batch_size, mesh))
      if validate else None,
      best_metric=BestMetric("nll", "min") if validate else None, summarize=_summarize,
      desc="parse", keep_best=validate)
  out = dict(steps=int(result.state.step), best_step=result.best_step, best=result.best,
             final=result.final, data=stats, direction=d.direction)
  if d.direction == "parse":
    parser = Parser.load(workdir)
    out.update(test=evaluate_parser(parser, data.examples["test"], workdir),
               grammar_states=parser.automaton.num_states,
               grounded_values=config.decode.grounded_values,
               cover_mentions=config.decode.cover_mentions,
               output_size=parser.model.config.output_size)
  out["seconds"] = round(time.time() - began, 1)
  jsonl.write(workdir / "results.json", out)
  return out
