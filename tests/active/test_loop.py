"""The annotation loop end to end: select -> export -> annotate (scripted) -> import -> retrain.

Also the simulation protocol on a tiny synthetic corpus. Both share one tiny
model configuration, so they share compiles.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from fsnlu_jax import active, cli
from fsnlu_jax.active import annotation, loop
from fsnlu_jax.data import tokenize
from fsnlu_jax.data.bio import bio_to_spans
from fsnlu_jax.data.synthetic import generate_corpus

TAGGER = active.TaggerConfig(steps=20, num_buckets=1 << 12, length=24)
COMMITTEE = active.CommitteeConfig(steps=30)
TARGET = "music"


@pytest.fixture(scope="module")
def corpus():
  splits = generate_corpus(seed=0, per_intent={"train": 6, "validation": 0, "test": 2})
  keep = lambda e: tuple(tokenize(e.text)) == e.tokens  # rows the loop re-tokenises alike
  return [e for e in splits["train"] if keep(e)], [e for e in splits["test"] if keep(e)]


def _annotated(example, row_id):
  return {"id": row_id, "text": example.text,
          "intent": example.intent if example.domain == TARGET else active.OTHER,
          "slots": ([{"type": t, "start": a, "end": b} for t, a, b in bio_to_spans(example.slots)]
                    if example.domain == TARGET else [])}


def _write_lines(path, records):
  path.write_text("".join(json.dumps(r) + "\n" for r in records))
  return path


def test_round_trip_with_a_malformed_row_named_by_file_and_line(corpus, tmp_path, capsys):
  train, _ = corpus
  target = [e for e in train if e.domain == TARGET]
  others = [e for e in train if e.domain != TARGET]
  seed = _write_lines(tmp_path / "seed.jsonl", [_annotated(e, f"s{i}") for i, e in
                                                enumerate(target[:8] + others[:8])])
  # At most 64 pool rows: every prediction then has one padded shape (fewer compiles).
  pool_examples = {f"p{i}": e for i, e in enumerate((target[8:] + others[8:])[:60])}
  pool = _write_lines(tmp_path / "pool.jsonl",
                      [{"id": i, "text": e.text} for i, e in pool_examples.items()])
  workdir = tmp_path / "work"
  select = lambda: loop.select(workdir, seed, pool, k=5, strategy="majority_crf",
                               committee=COMMITTEE, tagger=TAGGER)

  first = select()
  assert (first["round"], first["selected"], first["annotated"]) == (0, 5, 16)
  assert first["kappa"] is None  # nothing to compare with yet
  batch = [json.loads(l) for l in (workdir / "batches/round_0.jsonl").read_text().splitlines()]
  assert len(batch) == 5 and all(r["id"] in pool_examples for r in batch)
  assert all(set(r["committee"]) == set(COMMITTEE.losses) for r in batch)
  assert all({"intent", "slots", "scores"} <= set(r) for r in batch)
  tasks = json.loads((workdir / "batches/round_0.labelstudio.json").read_text())
  assert [t["data"]["id"] for t in tasks] == [r["id"] for r in batch]
  assert tasks[0]["predictions"][0]["result"][0]["type"] == "choices"
  with pytest.raises(ValueError, match="not fully imported"):
    select()

  # The annotator's file: gold labels, and on line 3 a slot span past the utterance's end.
  answers = [_annotated(pool_examples[r["id"]], r["id"]) for r in batch]
  bad = [dict(a) for a in answers]
  bad[2]["slots"] = [{"type": "song", "start": 0, "end": 99}]
  bad_file = _write_lines(tmp_path / "annotated_bad.jsonl", bad)
  with pytest.raises(annotation.AnnotationError, match=r"annotated_bad\.jsonl:3: slot span"):
    loop.import_batch(workdir, bad_file)
  assert cli.main(["active", "import", "--workdir", str(workdir), str(bad_file)]) == 2
  assert "annotated_bad.jsonl:3:" in capsys.readouterr().err
  assert not (workdir / "annotated.jsonl").exists()  # nothing of a bad file is taken

  assert loop.import_batch(workdir, _write_lines(tmp_path / "a.jsonl", answers[:3]))["open"] == 2
  with pytest.raises(annotation.AnnotationError, match="a_again.jsonl:1: .*already imported"):
    loop.import_batch(workdir, _write_lines(tmp_path / "a_again.jsonl", answers[:1]))
  # The pre-annotated batch file itself imports as it is (here: the last two rows, corrected).
  corrected = [dict(r, intent=a["intent"], slots=a["slots"]) for r, a in zip(batch, answers)]
  assert loop.import_batch(workdir, _write_lines(tmp_path / "b.jsonl", corrected[3:]))["open"] == 0

  second = select()  # retrains on the seed set plus the imported batch
  assert (second["round"], second["annotated"]) == (1, 21)
  assert 0.0 <= second["changed"] <= 1.0 and np.isfinite(second["kappa"])
  state = json.loads((workdir / "state.json").read_text())
  assert set(state["selected"]["0"]).isdisjoint(state["selected"]["1"])
  assert state["annotated"] == [r["id"] for r in batch]


def test_simulation_records_every_round(corpus):
  domains = {TARGET, "lights", "banking"}  # a pool under 128 rows keeps the test quick
  train, test = ([e for e in split if e.domain in domains] for split in corpus)
  config = active.SimulationConfig(bootstrap=6, negatives=6, rounds=2, unlabelled_negatives=40,
                                   batch=active.BatchConfig(k=5), committee=COMMITTEE,
                                   tagger=TAGGER)
  records = active.simulate(train, test, TARGET, "majority_crf", 0, config)
  assert [r["round"] for r in records] == [0, 1, 2]
  assert [r["budget"] for r in records] == [0, 5, 10]
  assert all(0.0 <= r["semer"] and 0.0 <= r["slot_f1"] <= 1.0 for r in records)
  again = active.simulate(train, test, TARGET, "majority_crf", 0, config)
  assert again == records  # same seed, same campaign


def test_kappa_against_its_definition():
  a, b = np.array(["x", "x", "y", "y"]), np.array(["x", "y", "y", "y"])
  observed, expected = 0.75, 0.5 * 0.25 + 0.5 * 0.75
  assert loop.kappa(a, b) == pytest.approx((observed - expected) / (1 - expected))
  assert loop.kappa(a, a) == 1.0
