"""The CGF query-rewriting job: data, rewriter training, and every system on test.

A config (``configs/rewrite.py``, ``get_config(arg) -> dict``) names the
datasets the utterances come from, how users and rewrite pairs are drawn
(:class:`fsnlu_jax.data.rewrite.RewriteDataConfig`), the rewriter's sizes, the
optimizer and the decoding. :func:`run_rewrite` writes into its ``workdir``:

* ``config.json``, ``vocab.json``, ``tries.json`` (the global trie and every
  user's personal trie, as text): what :func:`rewrite_query` needs;
* ``checkpoints/``: orbax checkpoints; a rerun resumes from the latest one;
* ``metrics.jsonl``: one JSON object per train log (``kind="train"``), the
  validation loss (``"eval"``), and the final test results (``"test"``);
* ``results.json``: thresholds chosen on validation, and per system the test
  precision / recall / F1 / output rate / share of outputs outside the
  known-good utterances, also broken down by where the target is.

Systems: the rewriter decoded in the global trie, in the user's personal trie,
in both (personal wins when its score passes its threshold, else global, else
no rewrite), and unconstrained; the character n-gram retrieval baseline in the
same three settings; and ``copy`` (output the request as heard). Thresholds
are chosen on validation pairs to maximise F1 (``decode.objective``; see
:mod:`fsnlu_jax.decoding._rewrite` for the metrics). Each system is also
scored with no abstention (``*_all`` entries).

Data order as in :mod:`fsnlu_jax.train.multitask_job`: the batch of step ``s``
is a pure function of ``s`` and the seed, so a resumed run draws the batches
the killed one would have.

Shapes: ``B`` batch, ``Ls`` source length, ``Lt`` target length.

References:
  Ahmadvand et al., "Constrained generation framework for query rewriting in
  conversational AI", EMNLP 2022 (industry track).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import pathlib
import sys
import time
from typing import Any, Mapping, Sequence

import jax
import numpy as np
import optax
import tqdm
from flax import nnx

from fsnlu_jax import decoding
from fsnlu_jax.data import rewrite as rw
from fsnlu_jax.data.arrays import pad_batch
from fsnlu_jax.data.vocab import EOS_ID, Vocab
from fsnlu_jax.models import Rewriter, RewriterConfig, rewriter_loss
from fsnlu_jax.parallel import make_data_mesh
from fsnlu_jax.train import checkpoint as ckpt_lib
from fsnlu_jax.train import jsonl
from fsnlu_jax.train.multitask_job import _to_global, batch_rows, load_config
from fsnlu_jax.train.step import init_train_state, make_eval_step, make_train_step

_log = logging.getLogger(__name__)

__all__ = ["load_config", "run_rewrite", "rewrite_query", "build_data", "format_table"]


# ---- data -----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, eq=False)
class RewriteJobData:
  """The dataset, its vocabulary and the train / validation / test arrays."""

  dataset: rw.RewriteDataset
  vocab: Vocab
  arrays: dict[str, dict[str, np.ndarray]]  # split -> encode_pairs arrays
  pairs: dict[str, tuple[rw.RewritePair, ...]]  # split -> the pairs of `arrays`


def _data_config(d: Mapping[str, Any]) -> rw.RewriteDataConfig:
  fields = {f.name for f in dataclasses.fields(rw.RewriteDataConfig)}
  kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k in fields}
  if "corruption" in kwargs:
    kwargs["corruption"] = rw.CorruptionConfig(**kwargs["corruption"])
  return rw.RewriteDataConfig(**kwargs)


def build_data(config: Mapping[str, Any], *, data_dir=None, cache_dir=None) -> RewriteJobData:
  """The pairs and tries of ``config["data"]``; evaluation splits subsampled (seeded)
  to ``data.max_eval_pairs`` pairs when set."""
  d = config["data"]
  corpus = rw.load_corpus(tuple(d["datasets"]), data_dir=data_dir, cache_dir=cache_dir)
  dataset = rw.build_rewrite_dataset(corpus, _data_config(d))
  vocab = rw.build_vocab(dataset)
  pairs, arrays = {}, {}
  for split, items in dataset.splits.items():
    limit = d.get("max_eval_pairs")
    if split != "train" and limit and len(items) > limit:
      keep = np.sort(np.random.default_rng([config["seed"], 7]).permutation(len(items))[:limit])
      items = tuple(items[i] for i in keep)
    pairs[split] = items
    arrays[split], stats = rw.encode_pairs(items, vocab, max_source_len=d["max_source_len"],
                                           max_target_len=d["max_target_len"])
    _log.info("%s: %s", split, stats)
  return RewriteJobData(dataset, vocab, arrays, pairs)


def _batch(arrays: Mapping[str, np.ndarray], rows: np.ndarray, batch_size: int
           ) -> dict[str, np.ndarray]:
  """The rows as a ``[B, ...]`` batch; filler rows repeat row 0 with no target tokens."""
  pad = batch_size - len(rows)
  take = np.concatenate([rows, np.full(pad, rows[0])]) if pad else rows
  keys = ("source_ids", "source_mask", "target_in", "target_out", "target_mask")
  batch = {k: arrays[k][take] for k in keys}
  if pad:
    batch["target_mask"] = batch["target_mask"].copy()
    batch["target_mask"][len(rows):] = False
  return batch


# ---- model and training -----------------------------------------------------------


def model_config(config: Mapping[str, Any], vocab_size: int) -> RewriterConfig:
  d = config["data"]
  return RewriterConfig(vocab_size=vocab_size, max_source_len=d["max_source_len"],
                        max_target_len=d["max_target_len"], **config["model"])


def make_optimizer(optim: Mapping[str, Any], steps: int) -> optax.GradientTransformation:
  """AdamW with linear warm-up then cosine decay to ``end_factor`` of the peak, and clipping."""
  schedule = optax.warmup_cosine_decay_schedule(
      0.0, optim["learning_rate"], min(optim["warmup_steps"], max(steps - 1, 1)), max(steps, 2),
      end_value=optim["learning_rate"] * optim["end_factor"])
  return optax.chain(optax.clip_by_global_norm(optim["clip_norm"]),
                     optax.adamw(schedule, weight_decay=optim["weight_decay"]))


def _init(config: Mapping[str, Any], vocab_size: int, mesh):
  model = Rewriter(model_config(config, vocab_size), rngs=nnx.Rngs(config["seed"]))
  optimizer = make_optimizer(config["optim"], config["train"]["steps"])
  graphdef, state = init_train_state(model, optimizer, jax.random.key(config["seed"]), mesh)
  return graphdef, state, optimizer


def _loss(label_smoothing: float):
  return lambda model, batch, rngs: rewriter_loss(model, batch, rngs,
                                                  label_smoothing=label_smoothing)


def train(data: RewriteJobData, config: Mapping[str, Any], workdir: pathlib.Path):
  """Trains (or resumes) the rewriter; ``(graphdef, state)`` after the last step."""
  t = config["train"]
  mesh = make_data_mesh()
  if t["batch_size"] % mesh.size:
    raise ValueError(f"batch_size {t['batch_size']} must divide by the {mesh.size} devices")
  graphdef, state, optimizer = _init(config, len(data.vocab), mesh)
  train_arrays = data.arrays["train"]
  n = len(train_arrays["source_ids"])
  data_state = dict(order="epoch_permutation", seed=config["seed"], n_train=n)
  with ckpt_lib.Checkpointer(workdir / "checkpoints", every=t["checkpoint_every"]) as ckpt:
    state, saved = ckpt_lib.restore_or_init(ckpt, state, data_state)
    if saved != data_state:
      raise ValueError(f"checkpoint was written for data {saved}, this run has {data_state}")
    start = int(state.step)
    if start >= t["steps"]:
      return graphdef, state
    metrics_path = workdir / "metrics.jsonl"
    jsonl.truncate_after(metrics_path, start)
    step_fn = make_train_step(graphdef, _loss(config["optim"]["label_smoothing"]), optimizer,
                              mesh)
    eval_fn = make_eval_step(graphdef, _loss(0.0), mesh)
    sums, began = None, time.time()
    for step in tqdm.trange(start, t["steps"], desc="rewrite", initial=start, total=t["steps"],
                            disable=None, file=sys.stderr):
      rows = batch_rows(step, n, t["batch_size"], config["seed"])
      state, m = step_fn(state, _to_global(_batch(train_arrays, rows, t["batch_size"]), mesh))
      sums = m if sums is None else jax.tree.map(lambda a, b: a + b, sums, m)
      done = step + 1
      if done % t["log_every"] == 0 or done == t["steps"]:
        s = jax.device_get(sums)
        jsonl.append(metrics_path, dict(
            kind="train", step=done, nll=float(s["nll_sum"] / max(s["count"], 1)),
            token_acc=float(s["correct"] / max(s["count"], 1)),
            seconds=round(time.time() - began, 1)))
        sums = None
      if done % t["eval_every"] == 0 or done == t["steps"]:
        jsonl.append(metrics_path, dict(kind="eval", step=done,
                                        **_teacher_forced(eval_fn, state, data, config, mesh)))
      ckpt.save(state, data_state, force=done == t["steps"])
  return graphdef, state


def _teacher_forced(eval_fn, state, data, config, mesh) -> dict[str, float]:
  """Validation token NLL, token accuracy and teacher-forced exact match."""
  arrays, b = data.arrays["validation"], config["train"]["batch_size"]
  n, total = len(arrays["source_ids"]), None
  for start in range(0, n, b):
    m = eval_fn(state, _to_global(_batch(arrays, np.arange(start, min(start + b, n)), b), mesh))
    total = m if total is None else jax.tree.map(lambda x, y: x + y, total, m)
  t = jax.device_get(total)
  return dict(nll=float(t["nll_sum"] / t["count"]), token_acc=float(t["correct"] / t["count"]),
              exact_teacher_forced=float(t["exact"]) / n)


# ---- evaluation -----------------------------------------------------------------------


@dataclasses.dataclass
class _Split:
  """One evaluation split's candidates and scores per system (before thresholds)."""

  pairs: Sequence[rw.RewritePair]
  cands: dict[str, list]  # system -> per pair words or None
  scores: dict[str, np.ndarray]  # system -> [B]

  def correct(self, system: str) -> np.ndarray:
    return np.array([c is not None and c == p.target
                     for c, p in zip(self.cands[system], self.pairs)])


def _decode_split(decoder, state, arrays, pairs, tries, vocab, idf, dataset) -> _Split:
  src, mask = arrays["source_ids"], arrays["source_mask"]
  users = arrays["user"]
  cands, scores = {}, {}
  for name, trie, ids in (("global", tries["global"], None),
                          ("personal", tries["personal"], users),
                          ("unconstrained", None, None)):
    began = time.time()
    c = decoder.decode(state.params, state.rest, src, mask, trie=trie, trie_ids=ids)
    cands[name], scores[name] = c.words(vocab, EOS_ID), c.scores
    _log.info("decoded %d pairs %s in %.1fs", len(pairs), name, time.time() - began)
  sources = [p.source for p in pairs]
  cands["retrieval_global"], scores["retrieval_global"] = decoding.retrieve(
      tries["index"], sources)
  cands["retrieval_personal"], scores["retrieval_personal"] = decoding.retrieve_personal(
      dataset.personal_trie, users, sources, idf)
  return _Split(pairs, cands, scores)


def _thresholds(val: _Split, d: Mapping[str, Any]) -> dict[str, Any]:
  kw = dict(objective=d["objective"], recall_floor=d["recall_floor"])
  out = {s: decoding.choose_threshold(val.scores[s], val.correct(s), **kw)
         for s in ("global", "personal", "unconstrained", "retrieval_global",
                   "retrieval_personal")}
  for prefix in ("", "retrieval_"):
    out[f"{prefix}both"] = decoding.choose_thresholds(
        val.scores[f"{prefix}personal"], val.correct(f"{prefix}personal"),
        val.scores[f"{prefix}global"], val.correct(f"{prefix}global"), **kw)
  return out


def _outputs(split: _Split, thresholds: Mapping[str, Any], abstain: bool) -> dict[str, list]:
  """Per system, the output per pair (None: no rewrite)."""
  out = {}
  for system, t in thresholds.items():
    if system.endswith("both"):
      prefix = system[:-len("both")]
      tp, tg = t if abstain else (-np.inf, -np.inf)
      pick = decoding.combine(split.scores[prefix + "personal"], split.scores[prefix + "global"],
                              threshold_personal=tp, threshold_global=tg)
      out[system] = [split.cands[prefix + "personal"][i] if k == decoding.PERSONAL
                     else split.cands[prefix + "global"][i] if k == decoding.GLOBAL else None
                     for i, k in enumerate(pick)]
    else:
      out[system] = decoding.apply_threshold(split.cands[system], split.scores[system],
                                             t if abstain else -np.inf)
  out["copy"] = [p.source for p in split.pairs]
  return out


_GROUPS = {
    "in_personal": lambda p: p.target_in_personal,
    "in_global_only": lambda p: p.target_in_global and not p.target_in_personal,
    "in_neither": lambda p: not (p.target_in_global or p.target_in_personal),
    "corrupted": lambda p: p.source != p.target,
    "clean": lambda p: p.source == p.target,
}


def _score(outputs: Mapping[str, list], pairs: Sequence[rw.RewritePair],
           dataset: rw.RewriteDataset) -> dict[str, Any]:
  personal = {}

  def allowed(words, i):
    u = pairs[i].user
    if u not in personal:
      personal[u] = dataset.personal_trie(u)
    return words in dataset.global_trie or words in personal[u]

  results = {}
  for system, outs in outputs.items():
    r = decoding.rewrite_metrics(outs, [p.target for p in pairs], allowed)
    r["by_target"] = {}
    for group, member in _GROUPS.items():
      rows = [i for i, p in enumerate(pairs) if member(p)]
      r["by_target"][group] = decoding.rewrite_metrics([outs[i] for i in rows],
                                                       [pairs[i].target for i in rows])
    results[system] = r
  return results


def evaluate(graphdef, state, data: RewriteJobData, config: Mapping[str, Any]
             ) -> dict[str, Any]:
  """Thresholds on validation, then every system on test (module docs)."""
  d, dc = config["data"], config["decode"]
  vocab, dataset = data.vocab, data.dataset
  decoder = decoding.RewriteDecoder(graphdef, vocab_size=len(vocab),
                                    max_length=d["max_target_len"], beam_size=dc["beam_size"],
                                    alpha=dc["alpha"], batch_size=dc["batch_size"])
  tries = {"global": decoding.global_trie_arrays(dataset.global_trie, vocab,
                                                max_length=d["max_target_len"]),
           "personal": decoding.personal_forest_arrays(
               [u.personal_trie for u in dataset.users], vocab, max_length=d["max_target_len"]),
           "index": decoding.NgramIndex(dataset.global_trie)}
  idf = tries["index"].idf
  splits = {s: _decode_split(decoder, state, data.arrays[s], data.pairs[s], tries, vocab, idf,
                             dataset) for s in ("validation", "test")}
  thresholds = _thresholds(splits["validation"], dc)
  test = splits["test"]
  systems = _score(_outputs(test, thresholds, True), test.pairs, dataset)
  no_abstain = _score(_outputs(test, thresholds, False), test.pairs, dataset)
  systems.update({f"{k}_all": v for k, v in no_abstain.items() if k != "copy"})
  return dict(thresholds=thresholds, test=systems,
              validation_pairs=len(data.pairs["validation"]), test_pairs=len(test.pairs),
              data_stats=dataset.stats())


def format_table(results: Mapping[str, Any]) -> str:
  """A plain-text table of the test systems (precision, recall, F1, outputs, outside trie)."""
  rows = ["system                    P      R      F1    out%  outside  P(pers) P(glob) P(neith)"]
  for system, r in results["test"].items():
    by = r["by_target"]
    rows.append(f"{system:<24}{r['precision']:6.3f} {r['recall']:6.3f} {r['f1']:6.3f} "
                f"{100 * r['output_rate']:6.1f} {r.get('outside_trie', 0.0):7.3f}  "
                f"{by['in_personal']['precision']:6.3f}  {by['in_global_only']['precision']:6.3f}"
                f"  {by['in_neither']['precision']:6.3f}")
  return "\n".join(rows)


def _write_artefacts(workdir: pathlib.Path, config, data: RewriteJobData) -> None:
  (workdir / "config.json").write_text(json.dumps(config, indent=1))
  data.vocab.save(workdir / "vocab.json")
  tries = dict(global_trie=sorted(" ".join(w) for w in data.dataset.global_trie),
               personal={str(u.user_id): sorted(" ".join(w) for w in u.personal_trie)
                         for u in data.dataset.users})
  (workdir / "tries.json").write_text(json.dumps(tries))


def run_rewrite(config: Mapping[str, Any], workdir: str | os.PathLike, *, data_dir=None,
                cache_dir=None) -> dict[str, Any]:
  """Builds the data, trains (resuming) and evaluates; returns and writes ``results.json``."""
  workdir = pathlib.Path(workdir)
  workdir.mkdir(parents=True, exist_ok=True)
  began = time.time()
  data = build_data(config, data_dir=data_dir, cache_dir=cache_dir)
  _write_artefacts(workdir, config, data)
  graphdef, state = train(data, config, workdir)
  trained = time.time()
  results = evaluate(graphdef, state, data, config)
  results.update(steps=int(state.step), vocab_size=len(data.vocab),
                 train_pairs=len(data.pairs["train"]),
                 seconds=dict(train=round(trained - began, 1),
                              evaluate=round(time.time() - trained, 1)))
  (workdir / "results.json").write_text(json.dumps(results, indent=1, default=float))
  jsonl.append(workdir / "metrics.jsonl", dict(
      kind="test", step=int(state.step),
      **{s: dict(precision=r["precision"], recall=r["recall"], f1=r["f1"])
         for s, r in results["test"].items()}))
  print(format_table(results))
  return results


# ---- one query (the CLI) -------------------------------------------------------------


def rewrite_query(checkpoint_dir: str | os.PathLike, text: str, previous: str = "",
                  user: int | None = None) -> dict[str, Any]:
  """Rewrites one request with a trained workdir's model, tries and thresholds.

  Args:
    checkpoint_dir: the ``workdir`` of a finished :func:`run_rewrite`.
    text: the request as heard, e.g. ``"play alien bridges"``.
    previous: the previous turn ("" for none).
    user: a user id whose personal trie is used (preference rule), or None
      for the global trie alone.

  Returns:
    ``{"rewrite": text or None, "source": "personal" | "global" | None,
    "score", "personal": (text, score) or None, "global": (text, score)}``.
  """
  workdir = pathlib.Path(checkpoint_dir)
  config = json.loads((workdir / "config.json").read_text())
  thresholds = json.loads((workdir / "results.json").read_text())["thresholds"]
  vocab = Vocab.load(workdir / "vocab.json")
  tries = json.loads((workdir / "tries.json").read_text())
  mesh = make_data_mesh()
  graphdef, like, _ = _init(config, len(vocab), mesh)
  with ckpt_lib.Checkpointer(workdir / "checkpoints", every=1) as ckpt:
    state, _ = ckpt.restore(like)
  d, dc = config["data"], config["decode"]
  words, prev = tuple(rw.normalise(text.split())[0]), tuple(rw.normalise(previous.split())[0])
  ids, _ = rw.source_ids(prev, words, vocab, d["max_source_len"])
  src, mask = pad_batch([ids, ids], d["max_source_len"])
  decoder = decoding.RewriteDecoder(graphdef, vocab_size=len(vocab),
                                    max_length=d["max_target_len"], beam_size=dc["beam_size"],
                                    alpha=dc["alpha"], batch_size=2)
  # One search of two rows: row 0 in the global trie, row 1 in the user's (a forest of two).
  mine = tries["personal"].get(str(user), []) if user is not None else []
  forest = decoding.personal_forest_arrays(
      [[tuple(u.split()) for u in group] for group in (tries["global_trie"], mine)], vocab,
      max_length=d["max_target_len"])
  c = decoder.decode(state.params, state.rest, src, mask, trie=forest, trie_ids=np.array([0, 1]))
  found = [None if w is None else (" ".join(w), float(x))
           for w, x in zip(c.words(vocab, EOS_ID), c.scores)]
  glob, personal = found
  tp, tg = thresholds["both"] if personal is not None else (np.inf, thresholds["global"])
  pick = decoding.combine(np.array([personal[1] if personal else -1e9]),
                          np.array([glob[1] if glob else -1e9]),
                          threshold_personal=tp, threshold_global=tg)[0]
  chosen = {decoding.PERSONAL: ("personal", personal), decoding.GLOBAL: ("global", glob)}.get(
      int(pick), (None, None))
  return dict(rewrite=chosen[1][0] if chosen[1] else None, source=chosen[0],
              score=chosen[1][1] if chosen[1] else None, personal=personal, **{"global": glob})
