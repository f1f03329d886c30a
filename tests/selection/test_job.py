"""The IG training-sample selection job: split, errors, filters, selection, end to end (tiny)."""

from __future__ import annotations

import contextlib
import io
import json
import pathlib
import shutil
import types

import numpy as np
import pytest

from fsnlu_jax import cli
from fsnlu_jax.data import UNK_ID, Example, LabelVocab, Vocab
from fsnlu_jax.explain import SPECIAL_IDS
from fsnlu_jax import selection as sj
from fsnlu_jax.config import from_dict, load_config

_CONFIGS = pathlib.Path(__file__).resolve().parents[2] / "configs"
_TINY = f"{_CONFIGS / 'select.py'}:tiny"  # budget 12: base, ig/random/ig_rate/ig_mean _k12


def _ex(text: str, intent: str = "a") -> Example:
  tokens = tuple(text.split())
  return Example(text, tokens, intent, ("O",) * len(tokens), "d", f"doc:{text}")


_STDERR: dict[str, str] = {}  # what the module's one run printed on stderr


@pytest.fixture(scope="module")
def selection_run(tmp_path_factory, cache_dir) -> pathlib.Path:
  workdir = tmp_path_factory.mktemp("select")
  stderr = io.StringIO()
  with contextlib.redirect_stderr(stderr), pytest.MonkeyPatch.context() as patch:
    patch.setenv("FSNLU_PROGRESS", "lines")
    patch.setenv("FSNLU_PROGRESS_SECONDS", "0")  # short stages print too
    assert cli.main(["select", "--config", _TINY, "--workdir", str(workdir),
                     "--cache-dir", str(cache_dir)]) == 0
  _STDERR["run"] = stderr.getvalue()
  return workdir


def test_each_training_and_stage_is_labelled_in_the_progress_output(selection_run):
  # Not a terminal here: plain lines, one per stage at least (issue 19: the
  # seven trainings of `select` were all labelled "select").
  err = _STDERR["run"]
  for label in ("select base: ", "select ig_k12: ", "select random_k12: ",
                "select ig_rate_k12: ", "select ig_mean_k12: ", "IG attribution (",
                "evaluation: "):
    assert f"fsnlu: {label}" in err, label
  results = json.loads((selection_run / "results.json").read_text())
  assert (selection_run / "selection.png").stat().st_size > 0  # drawn from these results
  assert set(results["runs"]) == {"ig_k12", "random_k12", "ig_rate_k12", "ig_mean_k12"}


def test_end_to_end_writes_every_stage_and_resumes(selection_run, cache_dir):
  w = selection_run
  results = json.loads((w / "results.json").read_text())
  base = results["base"]
  assert set(results["runs"]) == {"ig_k12", "random_k12", "ig_rate_k12", "ig_mean_k12"}
  for run in results["runs"].values():  # the same budget of steps, 12 more utterances
    assert run["n_train"] == base["n_train"] + 12 and run["step"] == base["step"]
    assert 0.0 <= run["semer"] and 0.0 <= run["intent_error"] <= 1.0
  f = results["filters"]
  assert f["pool"] == f["duplicate_of_train"] + f["duplicate_in_pool"] + f["low_confidence"] + \
      f["eligible"]
  errors = results["influence"]["errors"]
  explained = sum(e["explained"] for e in errors.values())
  assert all(e["explained"] <= min(e["found"], 32) for e in errors.values())
  assert len((w / "errors.jsonl").read_text().splitlines()) == explained
  stages = [json.loads(line)["stage"] for line in (w / "selection.jsonl").read_text().splitlines()]
  assert stages == ["influence", "filters", "retrain", "retrain", "retrain", "retrain"]
  assert results["influence"]["top_words_rate"] and "rate_scores" in np.load(w / "pool.npz")
  assert not (w / "ig_k12" / "checkpoints").exists() and (w / "base" / "checkpoints").exists()

  # A rerun finds every stage done: the same numbers, nothing trained again.
  config = load_config(_TINY)
  log = (w / "base" / "metrics.jsonl").read_text()
  stages = (w / "selection.jsonl").read_text()
  # As if killed after the last training, before results.json and the plot:
  # the rerun writes them again (issue 19), and logs no stage twice.
  (w / "results.json").unlink()
  (w / "selection.png").unlink()
  again = sj.run_selection(config, w, cache_dir=cache_dir)
  assert again["runs"] == results["runs"] and again["filters"] == f
  assert (w / "base" / "metrics.jsonl").read_text() == log
  assert json.loads((w / "results.json").read_text())["runs"] == results["runs"]
  assert (w / "selection.png").stat().st_size > 0
  assert (w / "selection.jsonl").read_text() == stages
  config["seed"] = 1
  with pytest.raises(ValueError, match="another config"):
    sj.run_selection(config, w, cache_dir=cache_dir)


def test_both_strategies_pick_the_budget_from_the_eligible_pool(selection_run):
  selected = json.loads((selection_run / "selected.json").read_text())
  pool = np.load(selection_run / "pool.npz")
  scores, eligible = pool["scores"], pool["eligible"]
  for strategy in sj.STRATEGIES:
    rows = np.asarray(selected[strategy]["12"])
    assert len(set(rows.tolist())) == 12 and eligible[rows].all()
  for strategy, values in (("ig", scores), ("ig_rate", pool["rate_scores"]),
                           ("ig_mean", pool["mean_scores"])):
    top = np.asarray(selected[strategy]["12"])
    rest = np.setdiff1d(np.flatnonzero(eligible), top)
    assert values[top].min() >= values[rest].max()  # the top 12 eligible by score
    assert np.all(np.diff(values[top]) <= 0)


def test_selected_json_names_each_pick_with_its_text(selection_run, cache_dir):
  data = sj.load_data(from_dict(sj.SelectionConfig, load_config(_TINY)), cache_dir=cache_dir)
  selected = json.loads((selection_run / "selected.json").read_text())
  rows = {r for strategy in sj.STRATEGIES for r in selected[strategy]["12"]}
  assert selected["text"] == {str(r): data.pool[r].text for r in sorted(rows)}


def test_rate_rule_is_the_summed_harm_per_validation_occurrence(selection_run, cache_dir):
  config = from_dict(sj.SelectionConfig, load_config(_TINY))
  data = sj.load_data(config, cache_dir=cache_dir)
  saved = np.load(selection_run / "influence.npz")
  counts = np.zeros(len(data.vocab))
  for e in data.validation:  # every validation utterance, right or wrong
    for token in e.tokens[:config.data.max_length]:
      counts[data.vocab.token_to_id(token)] += 1
  counts[list(SPECIAL_IDS)] = 0
  np.testing.assert_array_equal(saved["counts"], counts)
  rate = saved["influence"] / (counts + 1)
  pool = np.load(selection_run / "pool.npz")
  ids, mask = sj.token_arrays(data.pool, data.vocab, config.data.max_length)
  np.testing.assert_allclose(pool["rate_scores"], np.where(mask, rate[ids], 0).sum(1),
                             rtol=1e-5, atol=1e-7)
  # The length-normalised score beside the summed one: summed influence per token.
  summed = np.where(mask, saved["influence"][ids], 0).sum(1)
  np.testing.assert_allclose(pool["scores"], summed, rtol=1e-5, atol=1e-7)
  np.testing.assert_allclose(pool["mean_scores"], summed / mask.sum(1), rtol=1e-5, atol=1e-7)
  # The selection model's vocabulary covers the pool's text: no pool word is <unk>.
  assert not (ids[mask] == UNK_ID).any()


def test_retrains_change_only_the_training_seed():
  config = from_dict(sj.SelectionConfig, load_config(_TINY))
  assert sj.retrain_config(config, 0) is config and sj.retrain_name("ig_k12", 0) == "ig_k12"
  again = sj.retrain_config(config, 2)
  assert again.seed == config.seed + 2 * sj.RETRAIN_SEED_STRIDE
  assert again.select == config.select and again.data == config.data
  assert sj.retrain_name("ig_k12", 2) == "ig_k12_r2"
  with pytest.raises(ValueError, match="retrains"):
    from_dict(sj.SelectionConfig, {**load_config(_TINY), "select": {
        **load_config(_TINY)["select"], "retrains": 0}})


def test_a_run_from_before_the_rate_rule_is_completed_without_the_model(
    selection_run, tmp_path, cache_dir):
  old = tmp_path / "old"
  shutil.copytree(selection_run, old)
  # What a run of the two-strategy job left: no counts, no rate scores, no ig_rate.
  with np.load(old / "influence.npz") as f:
    np.savez(old / "influence.npz", influence=f["influence"])
  with np.load(old / "pool.npz") as f:
    np.savez(old / "pool.npz", **{k: f[k] for k in ("scores", "confidence", "eligible")})
  selected = json.loads((old / "selected.json").read_text())
  (old / "selected.json").write_text(json.dumps({k: selected[k] for k in ("ig", "random")}))
  shutil.rmtree(old / "ig_rate_k12")
  shutil.rmtree(old / "base" / "checkpoints")  # the base model cannot be loaded: not needed
  results = sj.run_selection(load_config(_TINY), old, cache_dir=cache_dir)
  assert json.loads((old / "selected.json").read_text()) == selected
  for name in ("influence", "pool"):
    with np.load(old / f"{name}.npz") as got, np.load(selection_run / f"{name}.npz") as want:
      assert set(got) == set(want)
      for key in want:
        np.testing.assert_array_equal(got[key], want[key])
  fresh = json.loads((selection_run / "results.json").read_text())
  assert results["influence"] == fresh["influence"]
  assert results["selections"] == fresh["selections"]
  assert results["runs"]["ig_rate_k12"]["n_train"] == fresh["runs"]["ig_rate_k12"]["n_train"]


def test_explain_cli_prints_scores_and_renders(selection_run, tmp_path, capsys):
  html, png = tmp_path / "why.html", tmp_path / "why.png"
  assert cli.main(["explain", "--checkpoint", str(selection_run / "base"), "--steps", "16",
                   "--html", str(html), "--png", str(png), "wake me up at seven"]) == 0
  out = capsys.readouterr().out
  assert out.startswith("intent: ") and "\n  wake" in out
  assert "wake" in html.read_text()
  assert png.read_bytes()[:4] == b"\x89PNG"


def test_explain_slot_rows_are_the_tokens(selection_run):
  res = sj.explain_utterance(selection_run / "base", "Play some jazz", target="slot", steps=8)
  assert res["words"] == ["play", "some", "jazz"]
  assert len(res["rows"]) == 3 and np.asarray(res["scores"]).shape == (3, 3)
  assert res["rows"][2].startswith("jazz: ")


def test_split_pool_is_a_seeded_partition():
  train, pool = sj.split_pool(50, 0.2, seed=3)
  assert len(train) == 10 and sorted([*train, *pool]) == list(range(50))
  np.testing.assert_array_equal(train, sj.split_pool(50, 0.2, seed=3)[0])
  assert not np.array_equal(train, sj.split_pool(50, 0.2, seed=4)[0])
  with pytest.raises(ValueError, match="train_fraction"):
    sj.split_pool(50, 1.0, seed=0)


def test_filters_count_duplicates_and_low_confidence():
  data = types.SimpleNamespace(
      train=[_ex("set an alarm"), _ex("play jazz")],
      pool=[_ex("play jazz"), _ex("stop it"), _ex("stop it"), _ex("lights on"), _ex("be quiet")])
  confidence = np.array([0.9, 0.9, 0.9, 0.05, 0.5])
  eligible, counts = sj.pool_filters(data, confidence, min_confidence=0.1)
  assert eligible.tolist() == [False, True, False, False, True]
  assert counts == dict(pool=5, duplicate_of_train=1, duplicate_in_pool=1, low_confidence=1,
                        min_confidence=0.1, eligible=2)


def test_selection_is_deterministic_nested_and_random_has_the_same_budget():
  rng = np.random.default_rng(0)
  scores = rng.integers(0, 5, 40).astype(np.float32)  # many ties
  eligible = rng.uniform(size=40) < 0.7
  rate = rng.uniform(size=40).astype(np.float32)
  a = sj.select(dict(ig=scores, ig_rate=rate), eligible, [3, 8], seed=5)
  assert a == sj.select(dict(ig=scores, ig_rate=rate), eligible, [3, 8], seed=5)
  oracle = sorted(np.flatnonzero(eligible), key=lambda i: (-scores[i], i))
  assert a["ig"][8] == oracle[:8] and a["ig"][3] == oracle[:3]
  oracle = sorted(np.flatnonzero(eligible), key=lambda i: (-rate[i], i))
  assert a["ig_rate"][8] == oracle[:8] and a["ig_rate"][3] == oracle[:3]
  # The random draw does not depend on which rules are scored.
  assert sj.select(dict(ig=scores), eligible, [3, 8], seed=5) == {
      k: a[k] for k in ("ig", "random")}
  assert len(a["random"][8]) == 8 and a["random"][3] == a["random"][8][:3]
  assert all(eligible[i] for i in a["random"][8])
  assert a["random"] != sj.select(dict(ig=scores), eligible, [3, 8], seed=6)["random"]
  with pytest.raises(ValueError, match="pass the filters"):
    sj.select(dict(ig=scores), eligible, [int(eligible.sum()) + 1], seed=0)


def test_find_errors_and_error_records():
  enc = types.SimpleNamespace(
      intent=np.array([0, 1, -1]), mask=np.array([[1, 1, 0], [1, 1, 1], [1, 0, 0]], bool),
      slots=np.array([[0, 1, -1], [0, 0, -1], [1, -1, -1]]), index=np.arange(3), length=3)
  errors = sj.find_errors(enc, np.array([0, 0, 1]), np.array([[0, 0, 0], [0, 0, 1], [0, 0, 0]]),
                          ["intent", "slot"])
  assert errors["intent"]["row"].tolist() == [1]  # row 2's gold intent is unknown (-1)
  assert errors["intent"]["gold"].tolist() == [1] and errors["intent"]["pred"].tolist() == [0]
  # Row 0 token 1 and row 2 token 0 are wrong; row 1 token 2 has no known gold tag.
  assert list(zip(errors["slot"]["row"].tolist(), errors["slot"]["position"].tolist())) == [
      (0, 1), (2, 0)]
  sub = sj.subsample_errors(errors["slot"], 1, np.random.default_rng(0))
  assert len(sub["row"]) == 1 and sj.subsample_errors(errors["slot"], None, None) == errors["slot"]
  data = types.SimpleNamespace(intents=LabelVocab.build(["x", "y"]),
                               tags=LabelVocab.build_bio([("O", "B-t")]))
  examples = [_ex("play some jazz"), _ex("stop the music now"), _ex("hi")]
  records = sj.error_records("slot", errors["slot"], enc, np.array([[0.1, 0.9, 0], [0.5, 0, 0]]),
                             examples, data.tags)
  assert records[0]["harmful_words"][0] == ["some", 0.9]
  assert (records[0]["gold"], records[0]["pred"]) == ("B-t", "O")
  assert Vocab.build([["a"]]).token_to_id("zz") == 1  # sanity: unknown words map to <unk>
