"""The annotation loop a team runs: select a batch, annotate it elsewhere, import it, repeat.

A workdir holds everything, so the loop resumes anywhere::

  state.json                  round, seed, strategy, k, selected ids per round, annotated ids,
                              the stopping signal per round
  annotated.jsonl             every imported annotated row (the seed set is read from its file)
  batches/round_<r>.jsonl     the round's batch with pre-annotations (also importable as is)
  batches/round_<r>.labelstudio.json   the same batch as Label Studio tasks
  predictions/round_<r>.json  the model's intents on the pool, for the stopping signal

:func:`select` refuses to draw a new batch while the last one is not fully
imported; :func:`import_batch` takes a file only if every row is good, and
only rows of the open batch.

The stopping signal is the stability of predictions (Bloodgood & Vijay-Shanker,
"A Method for Stopping Active Learning Based on Stabilizing Predictions",
CoNLL 2009): Cohen's kappa between this round's and the last round's intent
predictions on the pool; near 1 for a few rounds, more annotation changes
little.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
from typing import Any, Sequence

import numpy as np

from fsnlu_jax.active import annotation
from fsnlu_jax.active import batch as batch_lib
from fsnlu_jax.active import committee as committee_lib
from fsnlu_jax.active import strategies
from fsnlu_jax.active import tagger as tagger_lib
from fsnlu_jax.active.features import hash_ngrams
from fsnlu_jax.active.tagger import OTHER
from fsnlu_jax.train import jsonl


@dataclasses.dataclass
class LoopState:
  """What survives between rounds (``state.json``)."""

  seed: int
  strategy: str
  k: int
  round: int = 0  # the round whose batch is selected next (or is open)
  selected: dict[str, list[str]] = dataclasses.field(default_factory=dict)  # round -> ids
  annotated: list[str] = dataclasses.field(default_factory=list)  # imported ids, in order
  stability: list[dict[str, float | None]] = dataclasses.field(default_factory=list)  # per round

  def open_batch(self) -> list[str]:
    """Ids of the current round's batch not yet imported."""
    done = set(self.annotated)
    return [i for i in self.selected.get(str(self.round), []) if i not in done]


def _write_atomic(path: pathlib.Path, text: str) -> None:
  path.parent.mkdir(parents=True, exist_ok=True)
  tmp = path.with_suffix(path.suffix + ".tmp")
  tmp.write_text(text, encoding="utf-8")
  os.replace(tmp, path)


def load_state(workdir: pathlib.Path, *, seed: int, strategy: str, k: int) -> LoopState:
  """The workdir's state, or a new one; a different strategy or k than recorded is an error."""
  path = workdir / "state.json"
  if not path.exists():
    strategies.get_strategy(strategy)
    return LoopState(seed=seed, strategy=strategy, k=k)
  state = LoopState(**json.loads(path.read_text()))
  if (state.strategy, state.k) != (strategy, k):
    raise ValueError(f"{path} records strategy={state.strategy!r}, k={state.k}; "
                     f"asked strategy={strategy!r}, k={k}")
  return state


def save_state(workdir: pathlib.Path, state: LoopState) -> None:
  _write_atomic(workdir / "state.json", jsonl.dumps(dataclasses.asdict(state), indent=1))


def _annotated_rows(workdir: pathlib.Path, seed_file: pathlib.Path) -> list[annotation.Row]:
  rows = annotation.read_rows(seed_file, annotated=True)
  imported = workdir / "annotated.jsonl"
  if imported.exists():
    rows += annotation.read_rows(imported, annotated=True)
  return rows


def _label_space(rows: Sequence[annotation.Row]) -> tuple[tuple[str, ...], tuple[str, ...]]:
  target = sorted({r.intent for r in rows if r.intent != OTHER})
  if not target:
    raise ValueError("the seed set has no utterance of the target domain (intent other than "
                     f"{OTHER!r})")
  if not any(r.intent == OTHER for r in rows):
    raise ValueError(f"the seed set needs a few utterances of other domains (intent {OTHER!r})")
  tags = sorted({t for r in rows if r.intent != OTHER for t in r.slots} - {"O"})
  return tuple(target) + (OTHER,), ("O",) + tuple(tags)


def kappa(a: np.ndarray, b: np.ndarray) -> float:
  """Cohen's kappa of two labelings (1: identical; 1.0 when both are one constant label)."""
  a, b = np.asarray(a), np.asarray(b)
  labels = np.union1d(a, b)
  observed = float(np.mean(a == b))
  expected = float(sum(np.mean(a == x) * np.mean(b == x) for x in labels))
  return 1.0 if expected == 1.0 else (observed - expected) / (1.0 - expected)


def select(workdir: str | os.PathLike, seed_file: str | os.PathLike, pool_file: str | os.PathLike,
           *, k: int = 50, strategy: str = "majority_crf", seed: int = 0,
           committee: committee_lib.CommitteeConfig = committee_lib.CommitteeConfig(),
           tagger: tagger_lib.TaggerConfig = tagger_lib.TaggerConfig()) -> dict[str, Any]:
  """Retrains on everything annotated, writes the next batch; returns the round's report."""
  workdir = pathlib.Path(workdir)
  state = load_state(workdir, seed=seed, strategy=strategy, k=k)
  if state.open_batch():
    raise ValueError(f"round {state.round}'s batch is not fully imported yet: "
                     f"{len(state.open_batch())} row(s) open in "
                     f"{workdir / 'batches' / f'round_{state.round}.jsonl'}")
  if str(state.round) in state.selected:  # the last batch is complete: a new round
    state.round += 1
  labelled = _annotated_rows(workdir, pathlib.Path(seed_file))
  intents, tags = _label_space(labelled)
  examples = [r.example(intents[:-1]) for r in labelled]
  model = tagger_lib.train_tagger(examples, intents, tags, tagger)
  taken = {r.id for r in labelled} | {i for ids in state.selected.values() for i in ids}
  pool_all = annotation.read_rows(pool_file, annotated=False)
  pool = [r for r in pool_all if r.id not in taken]
  if not pool:
    raise ValueError(f"{pool_file}: every pool row is annotated or selected")
  rows = hash_ngrams([r.tokens for r in labelled] + [r.tokens for r in pool])
  labelled_rows, pool_rows = rows.take(np.arange(len(labelled))), rows.take(
      np.arange(len(labelled), len(rows)))
  board = committee_lib.train_committee(labelled_rows,
                                        np.array([r.intent != OTHER for r in labelled]), committee)
  rng = np.random.default_rng([state.seed, state.round])
  view = strategies.PoolView(
      committee_lib.committee_scores(board, pool_rows),
      committee_lib.member(board, "log_loss"),
      lambda idx, crf=True: tagger_lib.predict(model, [pool[i].tokens for i in idx], crf=crf), rng)
  priority, eligible = strategies.get_strategy(strategy)(view)
  picked, report = batch_lib.select_batch(
      priority, eligible, [r.tokens for r in pool], pool_rows, batch_lib.BatchConfig(k=k),
      seen={batch_lib.normalise(r.tokens) for r in labelled})
  chosen = [pool[i] for i in picked]
  predictions = tagger_lib.predict(model, [r.tokens for r in chosen])
  guesses = tagger_lib.decode(model, [r.tokens for r in chosen], predictions, exclude=())
  _write_batch(workdir, state.round, chosen, guesses, predictions, view.committee_scores[picked],
               board.losses, priority[picked])
  state.selected[str(state.round)] = [r.id for r in chosen]
  stability = _stability(workdir, state.round, model, pool_all)
  state.stability.append(stability)
  save_state(workdir, state)
  return {"round": state.round, "selected": len(chosen), "annotated": len(labelled),
          "pool": len(pool), **dataclasses.asdict(report), **stability}


def _write_batch(workdir, round_, chosen, guesses, predictions, votes, losses, priority) -> None:
  lines, tasks = [], []
  for j, row in enumerate(chosen):
    intent, tags = guesses[j]
    scores = {"priority": float(priority[j]),
              "intent_probability": float(predictions.intent_probs[j].max()),
              "crf_confidence": float(predictions.crf_confidence[j])}
    lines.append(jsonl.dumps(annotation.pre_annotation(
        row, intent, tags, scores, {loss: float(v) for loss, v in zip(losses, votes[j])})))
    tasks.append(annotation.label_studio_task(row, intent, tags, scores["crf_confidence"],
                                              f"fsnlu-active-round-{round_}"))
  batches = workdir / "batches"
  _write_atomic(batches / f"round_{round_}.jsonl", "\n".join(lines) + "\n")
  _write_atomic(batches / f"round_{round_}.labelstudio.json", jsonl.dumps(tasks, indent=1))


def _stability(workdir, round_, model, pool_all) -> dict[str, float | None]:
  """Kappa of this round's intent predictions on the whole pool file against the last round's."""
  probs = tagger_lib.predict(model, [r.tokens for r in pool_all], crf=False).intent_probs
  now = [model.intents[int(i)] for i in np.argmax(probs, axis=-1)]
  path = workdir / "predictions" / f"round_{round_}.json"
  _write_atomic(path, json.dumps(dict(zip((r.id for r in pool_all), now))))
  before_path = workdir / "predictions" / f"round_{round_ - 1}.json"
  if not before_path.exists():
    return {"round": round_, "kappa": None, "changed": None}  # no earlier round to compare
  before = json.loads(before_path.read_text())
  ids = [r.id for r in pool_all if r.id in before]
  old = np.array([before[i] for i in ids])
  new = np.array([n for r, n in zip(pool_all, now) if r.id in before])
  return {"round": round_, "kappa": kappa(old, new), "changed": float(np.mean(old != new))}


def import_batch(workdir: str | os.PathLike, path: str | os.PathLike) -> dict[str, Any]:
  """Imports an annotated file of the open batch: all its rows, or none (AnnotationError)."""
  workdir = pathlib.Path(workdir)
  state_path = workdir / "state.json"
  if not state_path.exists():
    raise ValueError(f"{workdir} has no state.json: run select first")
  state = LoopState(**json.loads(state_path.read_text()))
  rows = annotation.read_rows(path, annotated=True)
  open_ids = set(state.open_batch())
  expected = {}
  batch_file = workdir / "batches" / f"round_{state.round}.jsonl"
  for line in batch_file.read_text().splitlines():
    record = json.loads(line)
    expected[record["id"]] = record["text"]
  problems = []
  for number, row in _numbered(path, rows):
    if row.id not in open_ids:
      why = "already imported" if row.id in state.annotated else "not in the open batch"
      problems.append(f"{path}:{number}: id {row.id!r} is {why} (round {state.round})")
    elif row.text != expected[row.id]:
      problems.append(f"{path}:{number}: id {row.id!r}: text differs from the batch's "
                      f"{expected[row.id]!r}")
  if problems:
    raise annotation.AnnotationError(problems)
  with (workdir / "annotated.jsonl").open("a", encoding="utf-8") as f:
    for row in rows:
      f.write(json.dumps(annotation.annotated_record(row)) + "\n")
  state.annotated += [r.id for r in rows]
  save_state(workdir, state)
  return {"round": state.round, "imported": len(rows), "open": len(state.open_batch())}


def _numbered(path, rows):
  """``(line number, row)``: the file's non-blank lines in order, as read_rows read them."""
  lines = [n for n, line in enumerate(pathlib.Path(path).read_text(encoding="utf-8").splitlines(),
                                      start=1) if line.strip()]
  return zip(lines, rows)
