"""The CGF rewrite job end to end on the tiny config, and the CLI query path."""

from __future__ import annotations

import json
import pathlib

import pytest

from fsnlu_jax import cli
from fsnlu_jax.train import jsonl

CONFIG = str(pathlib.Path(__file__).resolve().parents[2] / "configs" / "rewrite.py")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, cache_dir):
  path = tmp_path_factory.mktemp("rewrite")
  code = cli.main(["rewrite", "--config", f"{CONFIG}:tiny", "--workdir", str(path),
                   "--cache-dir", str(cache_dir)])
  assert code == 0
  return path


def test_job_writes_results_with_every_system(workdir):
  results = json.loads((workdir / "results.json").read_text())
  systems = results["test"]
  for name in ("global", "personal", "both", "unconstrained", "retrieval_global",
               "retrieval_personal", "retrieval_both", "copy", "both_all"):
    assert {"precision", "recall", "f1", "output_rate", "by_target"} <= set(systems[name])
  for name in ("global", "personal", "both", "global_all", "personal_all", "both_all",
               "retrieval_both"):
    assert systems[name]["outside_trie"] == 0.0  # constrained: never outside the tries
  assert set(systems["both"]["by_target"]) >= {"in_personal", "in_global_only", "in_neither"}
  assert len(results["thresholds"]["both"]) == 2
  kinds = {r["kind"] for r in jsonl.read(workdir / "metrics.jsonl")}
  assert kinds == {"train", "eval", "test"}


def test_cli_query_prints_a_known_utterance_or_no_rewrite(workdir, capsys):
  tries = json.loads((workdir / "tries.json").read_text())
  capsys.readouterr()
  assert cli.main(["rewrite", "--checkpoint", str(workdir), "--user", "0",
                   "--previous", "hello", "play alien bridges"]) == 0
  out = capsys.readouterr().out.strip().splitlines()[-1]
  assert out == "no rewrite" or out in set(tries["global_trie"]) | set(tries["personal"]["0"])


def test_cli_rewrite_without_config_or_checkpoint_is_a_clear_error(capsys):
  assert cli.main(["rewrite", "hello"]) == 2
  assert "--config" in capsys.readouterr().err
