"""Training-sample selection by model interpretation: the whole pipeline, driven by a config.

A config (``configs/select.py``, ``get_config(arg) -> dict``) holds the
multitask job's keys (``data``, ``model``, ``optim``, ``train``, ``seed``) and
a ``select`` dict. The job writes into its ``workdir``, one stage at a time;
a stage whose output exists is skipped, so a killed run resumes at the stage
it was in (training stages resume from their own checkpoints):

1. **split**: the examples of ``data.train_splits`` are shuffled with
   ``default_rng([seed, 0])``; the first ``train_fraction`` are the labelled
   training set, the rest the *pool*, whose labels stay hidden until an
   utterance is selected. The vocabulary is built from all of their text
   (unlabelled text is at hand), the intents and tags from all of their
   labels (the label inventory), so every model of the job has the same
   sizes.
2. ``base/``: the multitask bi-LSTM trained from a random start on the
   labelled set (:func:`fsnlu_jax.train.multitask_job.train_loop`) and scored
   on ``data.test_split`` at its last step.
3. ``influence.npz``, ``errors.jsonl``: the base model's errors on
   ``data.validation_split`` (wrong intents; tokens with a wrong tag), each
   explained by integrated gradients toward the predicted and the gold output,
   and the summed word influence of :mod:`fsnlu_jax.explain._influence` (the
   rules are documented there); with it, ``counts``: each word's occurrences
   in the whole validation split, from which the rate rule is derived.
4. ``pool.npz``: each pool utterance's summed word influence under each rule
   (``scores``, ``rate_scores``) and the base model's confidence (top intent
   probability) in it; the filters drop utterances that repeat a training
   utterance or an earlier pool one, and those with confidence below
   ``min_confidence`` (a stand-in for the paper's low speech-recognition
   scores), and count them.
5. ``selected.json``: for each budget ``K``, ``ig``: the ``K`` eligible
   utterances of highest score; ``ig_rate``: the same under the rate rule;
   ``random``: ``K`` eligible utterances drawn with ``default_rng([seed, 1])``
   (same filters, same budget). All are nested: a smaller budget's set is a
   prefix of a larger one's.
6. ``<strategy>_k<K>/``: the same model, seed, steps and batch trained from a
   random start on the labelled set plus the ``K`` selected utterances, their
   labels now revealed, and scored on the test split.

``results.json`` gathers every stage's numbers; ``selection.jsonl`` gets one
record per stage as it finishes.

A workdir written before the rate rule existed (no ``counts``, no
``rate_scores``, no ``ig_rate`` in ``selected.json``) is completed in place:
the counts and the rate scores need neither the model nor IG, the ``ig`` and
``random`` selections are kept as stored, and only the ``ig_rate`` models are
trained.

Shapes: ``N`` utterances, ``L`` padded length, ``E`` errors, ``V`` vocabulary.

References:
  "Improving Large-Scale Conversational Assistants using Model Interpretation
  based Training Sample Selection", EMNLP 2022 (industry track).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import pathlib
import shutil
import time
from typing import Any, Mapping, Sequence

import jax.numpy as jnp
import numpy as np
from flax import nnx

from fsnlu_jax import explain
from fsnlu_jax.data import (EncodedSplit, Example, LabelVocab, Vocab, encode_split, loading,
                            pad_batch)
from fsnlu_jax import models as mt
from fsnlu_jax.train import jsonl
from fsnlu_jax.train import metrics as metrics_lib
from fsnlu_jax.train import multitask_job as mtj

_log = logging.getLogger(__name__)
STRATEGIES = ("ig", "random", "ig_rate")
# The scored strategies and the pool.npz array each one ranks by.
SCORED = dict(ig="scores", ig_rate="rate_scores")


@dataclasses.dataclass
class SelectionData:
  """The job's examples and the label and word ids every model of it shares."""

  train: list[Example]  # the labelled fraction
  pool: list[Example]  # the rest; labels read only once selected
  validation: list[Example]  # where the base model's errors are found
  test: list[Example]  # where every model is scored
  vocab: Vocab
  intents: LabelVocab
  tags: LabelVocab


def split_pool(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
  """``(train_rows, pool_rows)``, sorted: ``round(fraction * n)`` rows drawn for training."""
  if not 0 < fraction < 1:
    raise ValueError(f"train_fraction must be in (0, 1), got {fraction}")
  perm = np.random.default_rng([seed, 0]).permutation(n)
  k = max(1, round(fraction * n))
  return np.sort(perm[:k]), np.sort(perm[k:])


def load_data(config: Mapping[str, Any], data_dir=None, cache_dir=None) -> SelectionData:
  """Reads the config's splits, applies its domain filter and draws the labelled set."""
  d = config["data"]
  names = [*d["train_splits"], d["validation_split"], d["test_split"]]
  splits = loading.load(d["name"], splits=names, data_dir=data_dir, cache_dir=cache_dir,
                        progress=False)

  def keep(examples: Sequence[Example]) -> list[Example]:
    return [e for e in examples if d["domains"] is None or e.domain in d["domains"]]

  everything = keep([e for s in d["train_splits"] for e in splits[s]])
  train_rows, pool_rows = split_pool(len(everything), d["train_fraction"], config["seed"])
  intents, tags = mtj.label_vocabs(everything)
  return SelectionData(
      train=[everything[i] for i in train_rows], pool=[everything[i] for i in pool_rows],
      validation=keep(splits[d["validation_split"]]), test=keep(splits[d["test_split"]]),
      vocab=Vocab.build([e.tokens for e in everything]), intents=intents, tags=tags)


# ------------------------------------------------------------------ training


def _job_data(config: Mapping[str, Any], data: SelectionData, train: Sequence[Example]
              ) -> mtj.JobData:
  """The training and test arrays, both at the one length ``max_length``.

  One length (not the bucket of the longest utterance) and one vocabulary and
  label set give every model of a job the same shapes, so a persistent
  compilation cache compiles its training step once.
  """
  length = config["data"]["max_length"]

  def encode(examples: Sequence[Example], unknown: str) -> EncodedSplit:
    return encode_split(examples, data.vocab, data.intents, data.tags, buckets=(length,),
                        max_length=length, unknown_label=unknown)

  # Test labels outside the inventory become -1: counted in stats, scored as errors.
  return mtj.JobData(data.vocab, data.intents, data.tags, encode(list(train), "raise"),
                     encode(data.test, "ignore"), list(data.test))


def train_model(config: Mapping[str, Any], workdir: pathlib.Path, train: Sequence[Example],
                data: SelectionData, *, keep_checkpoints: bool = True) -> dict[str, Any]:
  """Trains from a random start on ``train``; its test metrics at the last step.

  Resumable: a finished run's ``result.json`` is read back, a killed one
  resumes from its checkpoints.
  """
  done = workdir / "result.json"
  if done.exists():
    return json.loads(done.read_text())
  _log.info("training %s", workdir)
  start = time.perf_counter()
  job_data = _job_data(config, data, train)
  # multitask_job's own setup helpers, so a workdir here loads like any multitask one.
  model_config = mtj.model_config_for(config, data.vocab, data.intents, data.tags)
  mtj.write_setup(workdir, config, model_config, job_data)
  model = mt.MultitaskBiLSTM(model_config, rngs=nnx.Rngs(config["seed"]))
  mtj.train_loop(model, job_data, config, workdir)
  final = [r for r in jsonl.read(workdir / "metrics.jsonl") if r["kind"] == "eval"][-1]
  result = dict(n_train=len(train), step=final["step"], intent_acc=final["intent_acc"],
                intent_error=1.0 - final["intent_acc"], slot_f1=final["slot_f1"],
                semer=final["semer"], wall_s=round(time.perf_counter() - start, 1))
  done.write_text(json.dumps(result))
  if not keep_checkpoints:
    shutil.rmtree(workdir / "checkpoints", ignore_errors=True)
  return result


# --------------------------------------------------------------- prediction


def token_arrays(examples: Sequence[Example], vocab: Vocab, max_length: int
                 ) -> tuple[np.ndarray, np.ndarray]:
  """Word ids ``[N, max_length]`` and mask of ``examples``' tokens; labels are not read."""
  return pad_batch([vocab.encode(e.tokens[:max_length]) for e in examples], max_length)


# ------------------------------------------------------------------ errors


def find_errors(enc: EncodedSplit, intent_pred: np.ndarray, tags_pred: np.ndarray,
                targets: Sequence[str]) -> dict[str, dict[str, np.ndarray]]:
  """The wrong outputs on ``enc``: ``{kind: {row, position, gold, pred}}`` (``[E]`` each).

  ``intent``: utterances with a wrong intent (position 0); ``slot``: tokens
  with a wrong tag. Gold labels outside the inventory (-1) are not errors.
  """
  out = {}
  if "intent" in targets:
    rows = np.flatnonzero((enc.intent >= 0) & (intent_pred != enc.intent))
    out["intent"] = dict(row=rows, position=np.zeros_like(rows), gold=enc.intent[rows],
                         pred=intent_pred[rows])
  if "slot" in targets:
    rows, pos = np.nonzero(enc.mask & (enc.slots >= 0) & (tags_pred != enc.slots))
    out["slot"] = dict(row=rows, position=pos, gold=enc.slots[rows, pos],
                       pred=tags_pred[rows, pos])
  return out


def subsample_errors(errors: Mapping[str, np.ndarray], max_errors: int | None,
                     rng: np.random.Generator) -> dict[str, np.ndarray]:
  """At most ``max_errors`` of ``errors``, drawn by ``rng`` (in their order); None keeps all."""
  n = len(errors["row"])
  if max_errors is None or n <= max_errors:
    return dict(errors)
  keep = np.sort(rng.choice(n, max_errors, replace=False))
  return {k: v[keep] for k, v in errors.items()}


def _target(kind: str, labels: np.ndarray, positions: np.ndarray, output: str):
  if kind == "intent":
    return explain.intent_target(labels, output=output)
  return explain.slot_target(labels, positions, output=output)


def attribute_errors(model: mt.MultitaskBiLSTM, enc: EncodedSplit, kind: str,
                     errors: Mapping[str, np.ndarray], ig: Mapping[str, Any]
                     ) -> tuple[np.ndarray, np.ndarray]:
  """IG token scores ``[E, L]`` toward each error's predicted and gold output.

  Errors go in chunks of ``ig["batch_size"]`` rows, the last padded with
  copies of the first, so the attribution compiles once per kind.
  """
  n, b = len(errors["row"]), ig["batch_size"]
  scores = {"pred": [], "gold": []}
  for start in range(0, n, b):
    take = np.arange(start, min(start + b, n))
    take = np.concatenate([take, np.full(b - len(take), take[0])])
    rows = errors["row"][take]
    for which in scores:
      target = _target(kind, errors[which][take], errors["position"][take], ig["output"])
      att = explain.token_attributions(model, enc.token_ids[rows], enc.mask[rows], target,
                                       steps=ig["steps"], chunk_size=ig["chunk_size"])
      scores[which].append(att.scores)  # read back after the loop: no host sync per chunk
  cat = {k: np.concatenate([np.asarray(a) for a in v])[:n] if v else np.zeros((0, enc.length))
         for k, v in scores.items()}
  return cat["pred"], cat["gold"]


def _error_records(kind: str, errors, enc: EncodedSplit, harm: np.ndarray,
                   examples: Sequence[Example], data: SelectionData) -> list[dict]:
  """One ``errors.jsonl`` record per error: the utterance, labels, most harmful words."""
  labels = data.intents if kind == "intent" else data.tags
  out = []
  for e, (r, p, g, q) in enumerate(zip(errors["row"], errors["position"], errors["gold"],
                                       errors["pred"])):
    ex = examples[enc.index[r]]
    words = ex.tokens[:enc.length]
    top = np.argsort(-harm[e, :len(words)], kind="stable")[:3]
    out.append(dict(kind=kind, source=ex.source, text=ex.text, position=int(p),
                    gold=labels.id_to_label(int(g)), pred=labels.id_to_label(int(q)),
                    harmful_words=[[words[t], round(float(harm[e, t]), 5)] for t in top]))
  return out


def influence_stage(model: mt.MultitaskBiLSTM, config: Mapping[str, Any], data: SelectionData,
                    workdir: pathlib.Path) -> dict[str, Any]:
  """Stage 3: validation errors, their attributions, word influence ``[V]``."""
  s = config["select"]
  # Validation labels outside the inventory become -1 (counted in enc.stats), never errors.
  enc = encode_split(data.validation, data.vocab, data.intents, data.tags,
                     max_length=config["data"]["max_length"], unknown_label="ignore")
  predict = mtj.predict_probabilities(model, config["train"]["eval_batch_size"])
  intent_pred, _, tags_pred = predict(enc.token_ids, enc.mask)
  errors = find_errors(enc, intent_pred, tags_pred, s["targets"])
  influence = np.zeros(len(data.vocab), np.float32)
  records, counts = [], {}
  for i, (kind, err) in enumerate(errors.items()):
    err = subsample_errors(err, s["max_errors"], np.random.default_rng([config["seed"], 2, i]))
    counts[kind] = dict(found=len(errors[kind]["row"]), explained=len(err["row"]))
    if not len(err["row"]):
      continue
    attr_pred, attr_gold = attribute_errors(model, enc, kind, err, s["ig"])
    mask = enc.mask[err["row"]]
    harm = np.asarray(explain.error_token_influence(attr_pred, attr_gold, mask))
    influence += np.asarray(explain.word_influence(harm, enc.token_ids[err["row"]], mask,
                                                   vocab_size=len(data.vocab)))
    records += _error_records(kind, err, enc, harm, data.validation, data)
  with (workdir / "errors.jsonl").open("w") as f:
    f.writelines(json.dumps(r) + "\n" for r in records)
  np.savez(workdir / "influence.npz", influence=influence,
           counts=validation_counts(config, data, enc))
  valid_acc = metrics_lib.intent_accuracy(intent_pred, enc.intent)
  return dict(validation_intent_acc=valid_acc, errors=counts, top_words=top_words(
      influence, data.vocab, 15))


def validation_counts(config: Mapping[str, Any], data: SelectionData,
                      enc: EncodedSplit | None = None) -> np.ndarray:
  """Each word's occurrences ``[V]`` among the validation tokens, errors or not."""
  if enc is None:  # only the word ids are read: labels need not be encoded
    ids, mask = token_arrays(data.validation, data.vocab, config["data"]["max_length"])
  else:
    ids, mask = enc.token_ids, enc.mask
  return np.asarray(explain.occurrence_counts(ids, mask, vocab_size=len(data.vocab)))


def word_rules(config: Mapping[str, Any], data: SelectionData, workdir: pathlib.Path
               ) -> dict[str, np.ndarray]:
  """``influence`` (summed), ``counts`` and ``rate`` ``[V]`` from ``influence.npz``.

  A file of an older run lacks ``counts``: they are computed (no model, no IG)
  and written into it.
  """
  path = workdir / "influence.npz"
  with np.load(path) as f:
    arrays = dict(f)
  if "counts" not in arrays:
    arrays["counts"] = validation_counts(config, data)
    _savez(path, **arrays)
  rate = np.asarray(explain.normalise_influence(arrays["influence"], arrays["counts"]))
  return dict(influence=arrays["influence"], counts=arrays["counts"], rate=rate)


def _savez(path: pathlib.Path, **arrays: np.ndarray) -> None:
  tmp = path.with_name(path.stem + ".tmp.npz")
  np.savez(tmp, **arrays)
  tmp.replace(path)  # atomic: a killed rewrite leaves the old file whole


def _top_ids(values: np.ndarray, k: int) -> list[int]:
  """The ids of the ``k`` largest positive ``values``, largest first (ties: lower id)."""
  return [int(i) for i in np.argsort(-values, kind="stable")[:k] if values[i] > 0]


def top_words(influence: np.ndarray, vocab: Vocab, k: int) -> list[list]:
  """The ``k`` most influential words as ``[word, influence]``."""
  return [[vocab.id_to_token(i), round(float(influence[i]), 5)] for i in _top_ids(influence, k)]


# -------------------------------------------------------------- pool, select


def pool_filters(data: SelectionData, confidence: np.ndarray, min_confidence: float
                 ) -> tuple[np.ndarray, dict[str, int]]:
  """``eligible`` ``[N]`` bool and the count each filter dropped (applied in order)."""
  seen = {e.tokens for e in data.train}
  dup_train = np.array([e.tokens in seen for e in data.pool], bool)
  first, dup_pool = set(), np.zeros(len(data.pool), bool)
  for i, e in enumerate(data.pool):
    dup_pool[i] = not dup_train[i] and e.tokens in first
    first.add(e.tokens)
  low = ~dup_train & ~dup_pool & (confidence < min_confidence)
  eligible = ~(dup_train | dup_pool | low)
  return eligible, dict(pool=len(data.pool), duplicate_of_train=int(dup_train.sum()),
                        duplicate_in_pool=int(dup_pool.sum()), low_confidence=int(low.sum()),
                        min_confidence=min_confidence, eligible=int(eligible.sum()))


def pool_word_scores(config, data: SelectionData, rules: Mapping[str, np.ndarray],
                     ids: np.ndarray | None = None, mask: np.ndarray | None = None
                     ) -> dict[str, np.ndarray]:
  """``{scores, rate_scores}`` ``[N]``: the pool's summed word influence under each rule.

  ``ids``, ``mask``: the pool's :func:`token_arrays` when the caller has them.
  """
  if ids is None:
    ids, mask = token_arrays(data.pool, data.vocab, config["data"]["max_length"])
  return {SCORED[s]: np.asarray(explain.pool_scores(jnp.asarray(rules[word]), ids, mask))
          for s, word in (("ig", "influence"), ("ig_rate", "rate"))}


def pool_stage(model, config, data: SelectionData, rules: Mapping[str, np.ndarray]
               ) -> dict[str, Any]:
  """Stage 4: the pool's scores under each rule, base-model confidence and filters."""
  ids, mask = token_arrays(data.pool, data.vocab, config["data"]["max_length"])
  _, probs, _ = mtj.predict_probabilities(model, config["train"]["eval_batch_size"])(ids, mask)
  confidence = probs.max(axis=1)
  eligible, counts = pool_filters(data, confidence, config["select"]["min_confidence"])
  return dict(**pool_word_scores(config, data, rules, ids, mask), confidence=confidence,
              eligible=eligible, counts=counts)


def select(scores: Mapping[str, np.ndarray], eligible: np.ndarray, budgets: Sequence[int],
           seed: int) -> dict[str, dict[int, list[int]]]:
  """``{strategy: {K: pool rows}}``: each scored strategy's top ``K``, and ``random``.

  Args:
    scores: ``{strategy: [N] pool scores}`` for the scored strategies given
      (``ig``, ``ig_rate``; see ``SCORED``); each picks its top ``K``.
    eligible: ``[N]`` bool, rows that passed the filters.
    budgets: the ``K``s.
    seed: draws ``random`` (the same rows whichever scores are given).

  Raises:
    ValueError: fewer eligible utterances than the largest budget.
  """
  k = max(budgets)
  if eligible.sum() < k:
    raise ValueError(f"only {int(eligible.sum())} pool utterances pass the filters; "
                     f"budget {k} asked")
  order = {}
  for strategy, values in scores.items():
    top, _ = explain.top_k_eligible(jnp.asarray(values), jnp.asarray(eligible), k)
    order[strategy] = np.asarray(top)
  order["random"] = np.random.default_rng([seed, 1]).permutation(np.flatnonzero(eligible))
  return {s: {b: order[s][:b].tolist() for b in budgets} for s in STRATEGIES if s in order}


def _selection_stats(rows: list[int], pool: dict, data: SelectionData, scores: str = "scores"
                     ) -> dict[str, Any]:
  """The picks' mean score (under the rule ``scores`` names), length, intents, first texts."""
  chosen = [data.pool[i] for i in rows]
  return dict(n=len(rows), mean_score=float(np.mean(pool[scores][rows])),
              positive_score=int(np.sum(pool[scores][rows] > 0)),
              mean_tokens=float(np.mean([len(e.tokens) for e in chosen])),
              intents=len({e.intent for e in chosen}),
              examples=[e.text for e in chosen[:5]])


# ------------------------------------------------------------------- the job


def _done(path: pathlib.Path) -> Any:
  return json.loads(path.read_text()) if path.exists() else None


def _write_json(path: pathlib.Path, value: Any) -> None:
  tmp = path.with_suffix(".tmp")
  tmp.write_text(json.dumps(value, indent=1) + "\n")
  tmp.replace(path)  # atomic: the file doubles as the stage's "done" marker


def _check_workdir(config: Mapping[str, Any], workdir: pathlib.Path) -> None:
  saved, config = _done(workdir / "config.json"), json.loads(json.dumps(config))
  if saved is not None and saved != config:
    raise ValueError(f"{workdir} holds a selection run of another config; use a new workdir")
  workdir.mkdir(parents=True, exist_ok=True)
  _write_json(workdir / "config.json", config)


class _Base:
  """The base model, loaded from its workdir once and only if a stage needs it."""

  def __init__(self, workdir: pathlib.Path):
    self.workdir, self._model = workdir, None

  @property
  def model(self) -> mt.MultitaskBiLSTM:
    if self._model is None:
      self._model, _ = mtj.load_pretrained(self.workdir)
    return self._model


def _pool(config, data: SelectionData, workdir: pathlib.Path, base: _Base,
          rules: Mapping[str, np.ndarray]) -> dict[str, Any]:
  """Stage 4, or its saved arrays and counts (an older run's file gets ``rate_scores``)."""
  names = ("confidence", "eligible", *SCORED.values())
  if _done(workdir / "filters.json") is None:
    pool = pool_stage(base.model, config, data, rules)
    _savez(workdir / "pool.npz", **{n: pool[n] for n in names})
    _write_json(workdir / "filters.json", pool["counts"])
    jsonl.append(workdir / "selection.jsonl", dict(stage="filters", **pool["counts"]))
  with np.load(workdir / "pool.npz") as f:
    arrays = dict(f)
  if any(n not in arrays for n in names):  # scores need no model: filters stay as they were
    arrays.update(pool_word_scores(config, data, rules))
    _savez(workdir / "pool.npz", **{n: arrays[n] for n in names})
  return dict(**{n: arrays[n] for n in names}, counts=_done(workdir / "filters.json"))


def _selected(config, workdir: pathlib.Path, pool: Mapping[str, Any]) -> dict[str, Any]:
  """Stage 5, or its saved rows; strategies missing from an older run's file are added."""
  saved = _done(workdir / "selected.json") or {}
  missing = [st for st in STRATEGIES if st not in saved]
  if missing:
    chosen = select({st: pool[SCORED[st]] for st in SCORED}, pool["eligible"],
                    config["select"]["budgets"], config["seed"])
    saved.update({st: {str(k): v for k, v in chosen[st].items()} for st in missing})
    _write_json(workdir / "selected.json", saved)
  return saved


def _top_rates(rules: Mapping[str, np.ndarray], vocab: Vocab, k: int) -> list[list]:
  """The ``k`` words of highest rate as ``[word, rate, summed harm, validation count]``."""
  rate = rules["rate"]
  return [[vocab.id_to_token(i), round(float(rate[i]), 5), round(float(rules["influence"][i]), 5),
           int(rules["counts"][i])] for i in _top_ids(rate, k)]


def run_selection(config: Mapping[str, Any], workdir: str | os.PathLike, *, data_dir=None,
                  cache_dir=None) -> dict[str, Any]:
  """Runs (or resumes) every stage of the module docs; returns ``results.json``'s content."""
  workdir, s = pathlib.Path(workdir), config["select"]
  _check_workdir(config, workdir)
  data = load_data(config, data_dir, cache_dir)
  results = dict(config=config, data=dict(
      train=len(data.train), pool=len(data.pool), validation=len(data.validation),
      test=len(data.test), vocab=len(data.vocab), intents=len(data.intents),
      tags=len(data.tags)))
  results["base"] = train_model(config, workdir / "base", data.train, data)
  base = _Base(workdir / "base")
  if _done(workdir / "influence.json") is None:
    _write_json(workdir / "influence.json", influence_stage(base.model, config, data, workdir))
    jsonl.append(workdir / "selection.jsonl", dict(stage="influence",
                                                   **_done(workdir / "influence.json")))
  rules = word_rules(config, data, workdir)
  results["influence"] = dict(**_done(workdir / "influence.json"),
                              top_words_rate=_top_rates(rules, data.vocab, 15))
  pool = _pool(config, data, workdir, base, rules)
  results["filters"] = pool["counts"]
  selected = _selected(config, workdir, pool)
  results["selections"], results["runs"] = {}, {}
  for strategy in STRATEGIES:
    for k in s["budgets"]:
      rows, name = selected[strategy][str(k)], f"{strategy}_k{k}"
      results["selections"][name] = _selection_stats(rows, pool, data,
                                                     SCORED.get(strategy, "scores"))
      run = train_model(config, workdir / name, [*data.train, *(data.pool[i] for i in rows)],
                        data, keep_checkpoints=s["keep_checkpoints"])
      results["runs"][name] = run
      jsonl.append(workdir / "selection.jsonl", dict(stage="retrain", run=name, **run))
      _write_json(workdir / "results.json", results)  # after each run: progress survives a kill
  _write_json(workdir / "results.json", results)  # also when there are no budgets
  return results
