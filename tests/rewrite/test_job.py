"""The CGF rewrite job end to end on the tiny config, and the CLI query path."""

from __future__ import annotations

import json
import math
import pathlib
import shutil

import pytest

from fsnlu_jax import cli, rewrite
from fsnlu_jax.train import jsonl

CONFIG = str(pathlib.Path(__file__).resolve().parents[2] / "configs" / "rewrite.py")


@pytest.fixture(scope="module")
def workdir(tiny_rewrite):
  """``fsnlu rewrite`` of ``CONFIG:tiny``: the session's (tests/serve uses it too)."""
  return tiny_rewrite


def test_job_writes_results_with_every_system(workdir):
  results = json.loads((workdir / "results.json").read_text())
  systems = results["test"]
  for name in ("global", "personal", "both", "unconstrained", "retrieval_global",
               "retrieval_personal", "retrieval_both", "retrieval_context_both", "combined_global",
               "combined_personal", "combined_both", "fused_global", "fused_personal",
               "fused_both", "copy", "both_all"):
    assert {"precision", "recall", "f1", "output_rate", "by_target"} <= set(systems[name])
  for name in ("global", "personal", "both", "global_all", "personal_all", "both_all",
               "retrieval_both", "combined_both", "combined_both_all", "fused_both",
               "fused_both_all"):
    assert systems[name]["outside_trie"] == 0.0  # constrained: never outside the tries
  assert set(results["fused_weights"]) == {"global", "personal"}
  assert set(systems["both"]["by_target"]) >= {"in_personal", "in_global_only", "in_neither",
                                                "cutoff", "confusable", "spelling_undoable"}
  assert len(results["thresholds"]["both"]) == 2
  # Per-pair outcomes agree with the counts (paired statistics are built on them).
  outcomes = json.loads((workdir / "test_outcomes.json").read_text())
  assert "test_outcomes" not in results
  assert set(outcomes["systems"]) >= {"both", "retrieval_both", "copy"}
  for group, member in outcomes["groups"].items():
    assert member.count("1") == systems["both"]["by_target"][group]["pairs"], group
  for name, codes in outcomes["systems"].items():
    assert len(codes) == results["test_pairs"] and set(codes) <= set("awc"), name
    assert codes.count("c") == systems[name]["correct"], name
    assert len(codes) - codes.count("a") == systems[name]["outputs"], name
  kinds = {r["kind"] for r in jsonl.read(workdir / "metrics.jsonl")}
  assert kinds == {"train", "eval", "test"}


def test_constrained_systems_output_inside_the_tries(workdir):
  # "outside_trie == 0" above holds for a system that never outputs: here the
  # outputs exist. Without abstention a search in a trie always ends in one of
  # its utterances (longer ones are not in it), so every pair gets an output.
  systems = json.loads((workdir / "results.json").read_text())["test"]
  for name in ("global_all", "personal_all", "both_all", "retrieval_global_all",
               "retrieval_personal_all", "retrieval_both_all", "combined_global_all",
               "combined_personal_all", "combined_both_all", "retrieval_context_both_all"):
    assert systems[name]["outputs"] == systems[name]["pairs"] > 0, name
    assert systems[name]["outside_trie"] == 0.0, name
  # The preference rule with no thresholds: the personal candidate always wins.
  for prefix in ("", "retrieval_", "retrieval_context_", "combined_"):
    assert systems[f"{prefix}both_all"] == systems[f"{prefix}personal_all"], prefix


def test_thresholded_retrieval_beats_abstaining_and_copying(workdir):
  # The tiny rewriter (6 steps) is untrained: its systems rightly abstain at
  # their validation thresholds. The retrieval baseline, with thresholds
  # chosen the same way, must rewrite; an abstainer scores 0 and copy only
  # gets the uncorrupted pairs (0.125 of these 16). Measured: retrieval_both
  # 0.69 precision and recall, retrieval_personal 0.82 / 0.56, and 9 of 9
  # targets in the user's trie found by retrieval_personal.
  results = json.loads((workdir / "results.json").read_text())
  systems, thresholds = results["test"], results["thresholds"]
  chosen = [thresholds["retrieval_global"], thresholds["retrieval_personal"],
            *thresholds["retrieval_both"]]
  assert all(map(math.isfinite, chosen)), thresholds  # inf: always abstain
  copy = systems["copy"]
  assert copy["recall"] < 0.3
  for name, floor in (("retrieval_both", 0.4), ("retrieval_personal", 0.35)):
    r = systems[name]
    assert r["outputs"] > 0 and r["precision"] >= floor and r["recall"] >= floor, (name, r)
    assert r["f1"] >= copy["f1"] + 0.2, name
  assert systems["retrieval_personal"]["by_target"]["in_personal"]["recall"] >= 0.6


@pytest.fixture(scope="module")
def query(workdir):
  """``rewrite_query`` of user 0's first personal utterance with one letter dropped."""
  tries = json.loads((workdir / "tries.json").read_text())
  words = tries["personal"]["0"][0].split()
  words[0] = words[0][:-1] if len(words[0]) > 1 else words[0] + "x"
  return tries, " ".join(words), rewrite.rewrite_query(workdir, " ".join(words), user=0)


def test_query_decodes_a_candidate_in_each_trie_and_applies_the_thresholds(workdir, query):
  tries, _, res = query
  # Both searches find a candidate (a trie search always ends in an utterance),
  # inside its trie, scored as a log-probability (finite, at most 0).
  assert res["personal"] is not None and res["global"] is not None
  assert res["personal"][0] in tries["personal"]["0"]
  assert res["global"][0] in tries["global_trie"]
  for _, score in (res["personal"], res["global"]):
    assert -1e8 < score <= 0.0
  # The preference rule against the thresholds chosen on validation.
  tp, tg = (math.inf if t is None else t  # null: never output (strict JSON)
            for t in json.loads((workdir / "results.json").read_text())["thresholds"]["both"])
  assert res["thresholds"] == {"personal": tp, "global": tg}
  if res["personal"][1] >= tp:
    assert (res["rewrite"], res["source"]) == (res["personal"][0], "personal")
  elif res["global"][1] >= tg:
    assert (res["rewrite"], res["source"]) == (res["global"][0], "global")
  else:
    assert res["rewrite"] is None and res["source"] is None


def test_cli_query_prints_the_preferred_rewrite(workdir, query, tmp_path, capsys):
  # The tiny run's thresholds abstain on everything, so the CLI would print
  # "no rewrite" whatever it decoded: a copy of the run with thresholds every
  # candidate passes must print the personal candidate (the preference rule).
  tries, text, res = query
  run = tmp_path / "run"
  shutil.copytree(workdir, run)
  results = json.loads((run / "results.json").read_text())
  results["thresholds"].update(both=[-1e8, -1e8], **{"global": -1e8})
  (run / "results.json").write_text(json.dumps(results))
  capsys.readouterr()
  assert cli.main(["rewrite", "--checkpoint", str(run), "--user", "0", text]) == 0
  captured = capsys.readouterr()
  out = captured.out.strip().splitlines()[-1]
  assert out in set(tries["personal"]["0"])
  assert out == res["personal"][0]  # the same model and request: the same search
  assert f"(personal trie): score {res['personal'][1]:.3f} >= threshold -100000000.000" in (
      captured.err)


def test_results_are_strict_json_with_null_for_a_threshold_no_score_reaches(workdir):
  # Issue 19: results.json held `Infinity`, which strict JSON readers reject.
  def refuse(constant):
    raise ValueError(f"not strict JSON: {constant}")
  text = (workdir / "results.json").read_text()
  results = json.loads(text, parse_constant=refuse)
  # The tiny rewriter's global-trie candidates are never right on validation.
  assert results["thresholds"]["global"] is None
  assert "null" in results["null_threshold"]
  for line in (workdir / "metrics.jsonl").read_text().splitlines():
    json.loads(line, parse_constant=refuse)
  assert (workdir / "results.png").stat().st_size > 0


def test_no_rewrite_says_why(query):
  # Issue 19: the CLI printed a bare "no rewrite"; it prints this line.
  _, _, res = query
  assert res["rewrite"] is None  # the tiny run's thresholds abstain
  out = rewrite.describe_rewrite(res)
  best = max((res[s] for s in ("personal", "global")), key=lambda c: c[1])
  assert out.startswith(f"no rewrite: best candidate {best[0]!r} (")
  assert f"scores {best[1]:.3f}, " in out
  assert "never output" in out or "below the threshold" in out


def test_an_unknown_user_is_an_error_saying_where_the_users_are(workdir, capsys):
  tries = json.loads((workdir / "tries.json").read_text())
  assert cli.main(["rewrite", "--checkpoint", str(workdir), "--user", "999", "play it"]) == 2
  err = capsys.readouterr().err
  assert f"unknown user 999: {workdir} has {len(tries['personal'])} users (0-" in err
  assert "tries.json" in err and "Traceback" not in err


def test_cli_rewrite_without_config_or_checkpoint_is_a_clear_error(capsys):
  assert cli.main(["rewrite", "hello"]) == 2
  assert "--config" in capsys.readouterr().err
