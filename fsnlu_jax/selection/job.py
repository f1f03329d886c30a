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
   labelled set (:func:`fsnlu_jax.transfer.train_model`) and scored
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
5. ``selected.json``: for each budget ``Kb``, ``ig``: the ``Kb`` eligible
   utterances of highest score; ``ig_rate``: the same under the rate rule;
   ``ig_mean``: the same by the length-normalised score (summed influence per
   token, so long utterances are not favoured for their length alone);
   ``random``: ``Kb`` eligible utterances drawn with ``default_rng([seed, 1])``
   (same filters, same budget). All are nested: a smaller budget's set is a
   prefix of a larger one's. They are pool rows; ``text`` maps each selected
   row to its utterance.
6. ``<strategy>_k<Kb>/``: the same model, seed, steps and batch trained from a
   random start on the labelled set plus the ``Kb`` selected utterances, their
   labels now revealed, and scored on the test split; with ``select.retrains``
   R > 1, also ``<strategy>_k<Kb>_r<r>/`` for r = 1..R-1, the same data trained
   with seed ``seed + 1000 r`` (training noise averaged, not only split noise).

``results.json`` gathers every stage's numbers (``selection.png`` draws the
runs against the budget); ``selection.jsonl`` gets one record per stage as it
finishes. Each training is labelled by its run in the progress output
(``select base``, ``select ig_k50`` …).

A workdir written before the rate rule existed (no ``counts``, no
``rate_scores``, no ``ig_rate`` in ``selected.json``) is completed in place:
the counts and the rate scores need neither the model nor IG, the ``ig`` and
``random`` selections are kept as stored, and only the ``ig_rate`` models are
trained.

Shapes: ``U`` utterances, ``L`` padded length, ``X`` errors, ``V`` vocabulary, ``P``
pool utterances, ``Kb`` budget.

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
from typing import Any, Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.experimental import multihost_utils

from fsnlu_jax import explain, models, transfer
from fsnlu_jax.config import job_config, record_config, to_dict
from fsnlu_jax.data import EncodedSplit, Example, Vocab, encode_split
from fsnlu_jax.selection import errors as errors_lib
from fsnlu_jax.selection import plots
from fsnlu_jax.selection.config import SelectionConfig
from fsnlu_jax.selection.data import SelectionData, load_data, token_arrays
from fsnlu_jax.selection.pool import SCORED, STRATEGIES, pool_filters, select, top_ids, top_words
from fsnlu_jax.train import jsonl
from fsnlu_jax.train import metrics as metrics_lib

_log = logging.getLogger(__name__)


def train_model(config: SelectionConfig, workdir: pathlib.Path, train: Sequence[Example],
                data: SelectionData, *, keep_checkpoints: bool = True) -> dict[str, Any]:
  """Trains from a random start on ``train``; its test metrics at the last step.

  Both splits are encoded at the one length ``max_length`` (not the bucket of
  the longest utterance) with the job's one vocabulary and label set, so every
  model of a job has the same shapes and a persistent compilation cache
  compiles its training step once. Test labels outside the inventory become
  -1: counted, scored as errors. Resumable: a finished run's ``result.json``
  is read back, a killed one resumes from its checkpoints.
  """
  done = workdir / "result.json"
  if done.exists():
    return json.loads(done.read_text())
  _log.info("training %s", workdir)
  start = time.perf_counter()
  length = config.data.max_length
  train_data = transfer.encode(data.vocab, data.intents, data.tags, train, data.test,
                               max_length=length, buckets=(length,))
  model_config = transfer.model_config_for(config.model, data.vocab, data.intents, data.tags)
  # transfer's own setup, so a workdir here loads like any multitask one.
  transfer.write_setup(workdir, config, model_config, train_data)
  model = models.MultitaskBiLSTM(model_config, rngs=nnx.Rngs(config.seed))
  final = transfer.train_model(model, train_data, optim=config.optim, loop=config.train,
                               seed=config.seed, workdir=workdir,
                               desc=f"{config.job} {workdir.name}").final  # base, ig_k50 …
  result = dict(n_train=len(train), step=final["step"], intent_acc=final["intent_acc"],
                intent_error=1.0 - final["intent_acc"], slot_f1=final["slot_f1"],
                semer=final["semer"], wall_s=round(time.perf_counter() - start, 1))
  if not keep_checkpoints:
    _on_process_zero(lambda: shutil.rmtree(workdir / "checkpoints", ignore_errors=True),
                     workdir / "checkpoints")
  _write_json(done, result)  # last: the run's "done" marker
  return result


def influence_stage(model: models.MultitaskBiLSTM, config: SelectionConfig, data: SelectionData,
                    workdir: pathlib.Path) -> dict[str, Any]:
  """Stage 3: validation errors, their attributions, word influence ``[V]``."""
  s = config.select
  # Validation labels outside the inventory become -1 (counted in enc.stats), never errors.
  enc = encode_split(data.validation, data.vocab, data.intents, data.tags,
                     max_length=config.data.max_length, unknown_label="ignore")
  predict = transfer.predict_probabilities(model, config.train.eval_batch_size)
  intent_pred, _, tags_pred = predict(enc.token_ids, enc.mask)
  errors = errors_lib.find_errors(enc, intent_pred, tags_pred, s.targets)
  influence = np.zeros(len(data.vocab), np.float32)
  records, counts = [], {}
  for i, (kind, err) in enumerate(errors.items()):
    err = errors_lib.subsample_errors(err, s.max_errors,
                                      np.random.default_rng([config.seed, 2, i]))
    counts[kind] = dict(found=len(errors[kind]["row"]), explained=len(err["row"]))
    if not len(err["row"]):
      continue
    attr_pred, attr_gold = errors_lib.attribute_errors(model, enc, kind, err, s.ig)
    mask = enc.mask[err["row"]]
    harm = np.asarray(explain.error_token_influence(attr_pred, attr_gold, mask))
    influence += np.asarray(explain.word_influence(harm, enc.token_ids[err["row"]], mask,
                                                   vocab_size=len(data.vocab)))
    records += errors_lib.error_records(kind, err, enc, harm, data.validation,
                                        data.intents if kind == "intent" else data.tags)
  lines = "".join(jsonl.dumps(r) + "\n" for r in records)
  _on_process_zero(lambda: (workdir / "errors.jsonl").write_text(lines), workdir / "errors.jsonl")
  _savez(workdir / "influence.npz", influence=influence,
         counts=validation_counts(config, data, enc))
  valid_acc = metrics_lib.intent_accuracy(intent_pred, enc.intent)
  return dict(validation_intent_acc=valid_acc, errors=counts, top_words=top_words(
      influence, data.vocab, 15))


def validation_counts(config: SelectionConfig, data: SelectionData,
                      enc: EncodedSplit | None = None) -> np.ndarray:
  """Each word's occurrences ``[V]`` among the validation tokens, errors or not."""
  if enc is None:  # only the word ids are read: labels need not be encoded
    ids, mask = token_arrays(data.validation, data.vocab, config.data.max_length)
  else:
    ids, mask = enc.token_ids, enc.mask
  return np.asarray(explain.occurrence_counts(ids, mask, vocab_size=len(data.vocab)))


def word_rules(config: SelectionConfig, data: SelectionData, workdir: pathlib.Path
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


def _on_process_zero(write: Callable[[], Any], what: pathlib.Path) -> None:
  """Runs ``write`` (of ``what``) on process 0 only, then waits until every process gets here.

  The processes of a run share the workdir: one writes, and none reads a file
  (a stage's "done" marker) before it is whole.
  """
  if jax.process_index() == 0:
    write()
  if jax.process_count() > 1:
    multihost_utils.sync_global_devices(f"fsnlu_jax.selection wrote {what}")


def _savez(path: pathlib.Path, **arrays: np.ndarray) -> None:
  def write():
    tmp = path.with_name(path.stem + ".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)  # atomic: a killed rewrite leaves the old file whole
  _on_process_zero(write, path)


def pool_word_scores(config, data: SelectionData, rules: Mapping[str, np.ndarray],
                     ids: np.ndarray | None = None, mask: np.ndarray | None = None
                     ) -> dict[str, np.ndarray]:
  """``{scores, rate_scores, mean_scores}`` ``[P]``: the pool's word influence under each rule.

  ``scores`` and ``rate_scores`` sum over an utterance's tokens (so they grow
  with its length); ``mean_scores`` is ``scores`` per token, the
  length-normalised score reported and selected by beside the summed one.
  ``ids``, ``mask``: the pool's :func:`token_arrays` when the caller has them.
  """
  if ids is None:
    ids, mask = token_arrays(data.pool, data.vocab, config.data.max_length)
  out = {SCORED[s]: np.asarray(explain.pool_scores(jnp.asarray(rules[word]), ids, mask))
         for s, word in (("ig", "influence"), ("ig_rate", "rate"))}
  out[SCORED["ig_mean"]] = out[SCORED["ig"]] / np.maximum(np.asarray(mask).sum(axis=1), 1)
  return out


def pool_stage(model, config, data: SelectionData, rules: Mapping[str, np.ndarray]
               ) -> dict[str, Any]:
  """Stage 4: the pool's scores under each rule, base-model confidence and filters."""
  ids, mask = token_arrays(data.pool, data.vocab, config.data.max_length)
  _, probs, _ = transfer.predict_probabilities(model, config.train.eval_batch_size)(ids, mask)
  confidence = probs.max(axis=1)
  eligible, counts = pool_filters(data, confidence, config.select.min_confidence)
  return dict(**pool_word_scores(config, data, rules, ids, mask), confidence=confidence,
              eligible=eligible, counts=counts)


def _selection_stats(rows: list[int], pool: dict, data: SelectionData, scores: str = "scores"
                     ) -> dict[str, Any]:
  """The picks' mean score (under the rule ``scores`` names), length, intents, first texts."""
  chosen = [data.pool[i] for i in rows]
  return dict(n=len(rows), mean_score=float(np.mean(pool[scores][rows])),
              positive_score=int(np.sum(pool[scores][rows] > 0)),
              mean_tokens=float(np.mean([len(e.tokens) for e in chosen])),
              intents=len({e.intent for e in chosen}),
              examples=[e.text for e in chosen[:5]])


def _done(path: pathlib.Path) -> Any:
  return json.loads(path.read_text()) if path.exists() else None


def _write_json(path: pathlib.Path, value: Any) -> None:
  # Strict JSON, atomic (the file doubles as the stage's "done" marker); then the barrier.
  _on_process_zero(lambda: jsonl.write(path, value, indent=1), path)


class _Base:
  """The base model, loaded from its workdir once and only if a stage needs it."""

  def __init__(self, workdir: pathlib.Path):
    self.workdir, self._model = workdir, None

  @property
  def model(self) -> models.MultitaskBiLSTM:
    if self._model is None:
      self._model, _ = transfer.load_model(self.workdir)
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


def _selected(config, workdir: pathlib.Path, pool: Mapping[str, Any], data: SelectionData
              ) -> dict[str, Any]:
  """Stage 5, or its saved rows; strategies missing from an older run's file are added,
  and so is ``text``: ``{row: utterance}`` of every selected pool row."""
  saved = _done(workdir / "selected.json") or {}
  missing = [st for st in STRATEGIES if st not in saved]
  if missing:
    chosen = select({st: pool[SCORED[st]] for st in SCORED}, pool["eligible"],
                    config.select.budgets, config.seed)
    saved.update({st: {str(k): v for k, v in chosen[st].items()} for st in missing})
  rows = sorted({r for st in STRATEGIES for picks in saved[st].values() for r in picks})
  text = {str(r): data.pool[r].text for r in rows}
  if missing or saved.get("text") != text:
    saved["text"] = text
    _write_json(workdir / "selected.json", saved)
  return saved


def _top_rates(rules: Mapping[str, np.ndarray], vocab: Vocab, k: int) -> list[list]:
  """The ``k`` words of highest rate as ``[word, rate, summed harm, validation count]``."""
  rate = rules["rate"]
  return [[vocab.id_to_token(i), round(float(rate[i]), 5), round(float(rules["influence"][i]), 5),
           int(rules["counts"][i])] for i in top_ids(rate, k)]


# Retrain r > 0 of a selection trains with seed ``config.seed + RETRAIN_SEED_STRIDE * r``.
RETRAIN_SEED_STRIDE = 1000


def retrain_name(name: str, r: int) -> str:
  """The folder (and ``results["runs"]`` key) of retrain ``r`` of selection ``name``."""
  return name if r == 0 else f"{name}_r{r}"


def retrain_config(config: SelectionConfig, r: int) -> SelectionConfig:
  """The config retrain ``r`` trains with: another training seed for ``r > 0``.

  Same data, selection, steps and batch; only the model's initialisation,
  data order and dropout change, so a selection's effect is averaged over
  training noise (``select.retrains``) as well as over the job seeds.
  """
  return config if r == 0 else dataclasses.replace(config,
                                                   seed=config.seed + RETRAIN_SEED_STRIDE * r)


def run_selection(config: SelectionConfig, workdir: str | os.PathLike, *, data_dir=None,
                  cache_dir=None) -> dict[str, Any]:
  """Runs (or resumes) every stage of the module docs; returns ``results.json``'s content."""
  config = job_config(SelectionConfig, config, jobs=("select",))
  workdir, s = pathlib.Path(workdir), config.select
  record_config(workdir, config)
  data = load_data(config, data_dir, cache_dir)
  results = dict(config=to_dict(config), data=dict(
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
  selected = _selected(config, workdir, pool, data)
  results["selections"], results["runs"] = {}, {}
  for strategy in STRATEGIES:
    for k in s.budgets:
      rows, name = selected[strategy][str(k)], f"{strategy}_k{k}"
      results["selections"][name] = _selection_stats(rows, pool, data,
                                                     SCORED.get(strategy, "scores"))
      for r in range(s.retrains):
        run_name = retrain_name(name, r)
        already = (workdir / run_name / "result.json").exists()  # a rerun logs no stage twice
        run = train_model(retrain_config(config, r), workdir / run_name,
                          [*data.train, *(data.pool[i] for i in rows)], data,
                          keep_checkpoints=s.keep_checkpoints)
        results["runs"][run_name] = run
        if not already:
          jsonl.append(workdir / "selection.jsonl", dict(stage="retrain", run=run_name, **run))
        _write_json(workdir / "results.json", results)  # after each run: progress survives a kill
  _write_json(workdir / "results.json", results)  # also when there are no budgets
  _on_process_zero(lambda: plots.plot_selection(results, workdir / "selection.png"),
                   workdir / "selection.png")
  return results
