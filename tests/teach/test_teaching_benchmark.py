"""benchmarks/teaching.py's summary: intervals per system and paired differences (no training)."""

from __future__ import annotations

import importlib.util
import json
import pathlib

import numpy as np
import pytest

_PATH = pathlib.Path(__file__).resolve().parents[2] / "benchmarks" / "teaching.py"


@pytest.fixture(scope="module")
def bench():
  spec = importlib.util.spec_from_file_location("teaching_benchmark", _PATH)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def _run(recall, f1):
  return dict(target_recall=recall, target_slot_f1=f1, intent_acc=0.9, semer=0.2,
              target_semer=0.5, wall_s=1.0)


def test_paired_differences_against_the_best_baseline(bench):
  rng = np.random.default_rng(0)
  runs = {}
  for intent in ("a", "b"):
    for seed in (0, 1, 2):
      base = rng.uniform(0.3, 0.6)
      runs[f"{intent}/{seed}/none"] = _run(0.0, base)
      runs[f"{intent}/{seed}/upsample"] = _run(0.5, base + 0.1)
      runs[f"{intent}/{seed}/linguist"] = _run(0.6, base + 0.12)
  s = bench.summarize(runs)
  for metric, best, diff in (("target_recall", "upsample", 0.1),
                             ("target_slot_f1", "upsample", 0.02)):
    entry = s["paired"][metric]["linguist"]
    assert entry["best_baseline"] == best and entry["runs"] == 6
    assert entry["difference"]["mean"] == pytest.approx(diff)
    assert entry["difference"]["sd"] == pytest.approx(0, abs=1e-9)  # paired: base cancels
  assert s["systems"]["none"]["target_slot_f1"]["n"] == 6
  assert s["systems"]["none"]["target_slot_f1"]["seeds"] == 3
  assert set(s["per_intent"]) == {"a", "b"}
  table = bench.markdown_table(dict(datasets=dict(snips=dict(summary=s))))
  assert "| snips | linguist | 6 | 0.600 ± 0.000 |" in table


def test_merge_adds_runs_and_keeps_the_sources_of_a_merged_file(bench, tmp_path):
  protocol = dict(student=dict(steps=400), n_augment=200)
  first = dict(protocol=protocol, merged_from=[dict(file="a.json", command="python a"),
                                               dict(file="b.json", command="python b")],
               datasets=dict(snips=dict(name="snips", runs={
                   f"x/{s}/catalogue": _run(0.5, 0.3) for s in (0, 1)})))
  second = dict(protocol=protocol, command="python c", niceness=5, datasets=dict(snips=dict(
      name="snips", runs={f"x/{s}/linguist_t2": _run(0.6, 0.4) for s in (0, 1)})))
  paths = [tmp_path / "first.json", tmp_path / "second.json"]
  for path, content in zip(paths, (first, second)):
    path.write_text(json.dumps(content))
  merged = bench.merge(paths, tmp_path / "out.json")
  assert [m["command"] for m in merged["merged_from"]] == ["python a", "python b", "python c"]
  assert merged["merged_from"][-1]["niceness"] == 5  # as that run ran, not a fixed "nice -n 10"
  assert len(merged["datasets"]["snips"]["runs"]) == 4
  paired = merged["datasets"]["snips"]["summary"]["paired"]["target_recall"]["linguist_t2"]
  assert paired["best_baseline"] == "catalogue" and paired["difference"]["mean"] == pytest.approx(0.1)
  other = dict(second, protocol=dict(protocol, n_augment=100))
  paths[1].write_text(json.dumps(other))
  with pytest.raises(SystemExit, match="another student"):
    bench.merge(paths, tmp_path / "out.json")


def test_a_union_takes_half_of_each_part(bench):
  from fsnlu_jax import teach  # pylint: disable=g-import-not-at-top
  from fsnlu_jax.data import Example  # pylint: disable=g-import-not-at-top
  assert bench.components("catalogue+linguist_t2+filtered") == ["catalogue",
                                                               "linguist_t2+filtered"]
  assert bench.components("linguist+filtered") == ["linguist+filtered"]
  train = [Example(f"play w{i}", ("play", f"w{i}"), intent, ("O", "B-x"), intent, f"h:{i}")
           for i in range(30) for intent in ("a", "b")]
  split = teach.novel_intent_split(train, "a", seed=0)
  kw = dict(seed=0, dataset="hand", generated=None, round_trip=None)
  added, info = bench.added_data("upsample+catalogue", split, n=5, **kw)
  assert len(added) == 5 and set(info) == {"upsample", "catalogue"}
  assert added[:3] == bench.added_data("upsample", split, n=3, **kw)[0]
  assert added[3:] == bench.added_data("catalogue", split, n=2, **kw)[0]


def test_clean_drops_bracket_like_and_bare_outputs_counted_before_the_union_takes_its_half(
    bench, tmp_path):
  from fsnlu_jax import teach  # pylint: disable=g-import-not-at-top
  from fsnlu_jax.data import Example  # pylint: disable=g-import-not-at-top
  assert bench.components("catalogue+gen+clean") == ["catalogue", "gen+clean"]
  assert bench.components("gen+clean+filtered") == ["gen+clean+filtered"]
  train = [Example(f"play w{i}", ("play", f"w{i}"), intent, ("O", "B-x"), intent, f"h:{i}")
           for i in range(30) for intent in ("a", "b")]
  split = teach.novel_intent_split(train, "a", seed=0)
  made = lambda tokens, slots: Example(" ".join(tokens), tuple(tokens), "a", tuple(slots), "a",
                                       "generated:a")
  good = [made(["play", f"g{i}"], ["O", "B-x"]) for i in range(4)]
  file = [good[0], made(["g9"], ["B-x"]), made(["play", "(", "1", "g8"], ["O"] * 3 + ["B-x"]),
          *good[1:]]
  teach.write_generated(teach.generated_path(tmp_path, "hand", "a", 0, "gen"), file)
  kw = dict(seed=0, dataset="hand", generated=str(tmp_path), round_trip=None)
  added, info = bench.added_data("gen+clean", split, n=3, **kw)
  assert added == good[:3] and info["n_in_file"] == 6
  assert info["dropped"] == {"no_carrier": 1, "bracket_like": 1}
  assert bench.added_data("gen", split, n=3, **kw)[0] == file[:3]  # unfiltered: as written
