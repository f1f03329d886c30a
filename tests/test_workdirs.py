"""Workdir safety and one-line errors of every job's command (issue 19, problems 4 and 7).

Each refusal happens before any data is loaded or any model trained, so these
run in well under a second each.
"""

from __future__ import annotations

import pytest

from fsnlu_jax import cli
from fsnlu_jax.config import from_dict, load_config, record_config
from fsnlu_jax.fewshot import FewshotConfig
from fsnlu_jax.rewrite import RewriteConfig
from fsnlu_jax.selection import SelectionConfig
from fsnlu_jax.transfer import TransferConfig

# command: (config, typed config, a model size the rerun changes, old -> new)
JOBS = {
    "pretrain": ("multitask_pretrain:tiny", TransferConfig, "model.shared_hidden=32", "16 -> 32"),
    "scratch": ("multitask_scratch:tiny", TransferConfig, "model.shared_hidden=32", "16 -> 32"),
    "fewshot": ("fewshot:tiny", FewshotConfig, "protonet.proto_dim=16", "8 -> 16"),
    "rewrite": ("rewrite:tiny", RewriteConfig, "model.d_model=64", "-> 64"),
    "select": ("select:tiny", SelectionConfig, "model.shared_hidden=32", "-> 32"),
}


def _one_line_error(capsys) -> str:
  err = capsys.readouterr().err.strip()
  assert "Traceback" not in err
  lines = [line for line in err.splitlines() if line.startswith("fsnlu: error:")]
  assert len(lines) == 1, err
  return lines[0]


@pytest.mark.parametrize("command", JOBS)
def test_every_job_refuses_a_workdir_of_another_model_size_naming_the_change(
    command, tmp_path, capsys):
  spec, cls, change, shown = JOBS[command]
  record_config(tmp_path, from_dict(cls, load_config(spec)))
  before = (tmp_path / "config.json").read_text()
  rc = cli.main([command, "--config", spec, "--set", change, "--workdir", str(tmp_path)])
  assert rc == 2
  error = _one_line_error(capsys)
  key = change.split("=")[0]
  assert f"{key}: " in error and shown in error, error
  assert "--overwrite" in error and "--continue" in error
  assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json"]  # nothing written
  assert (tmp_path / "config.json").read_text() == before


def test_a_workdir_that_is_a_file_is_one_line(tmp_path, capsys):
  path = tmp_path / "notes.txt"
  path.write_text("mine")
  assert cli.main(["fewshot", "--config", "fewshot:tiny", "--workdir", str(path)]) == 2
  assert "is a file, not a folder" in _one_line_error(capsys)
  assert path.read_text() == "mine"


@pytest.mark.parametrize("command, spec, job", [
    ("fewshot", "select:tiny", "select"),
    ("pretrain", "fewshot:tiny", "fewshot"),
    ("select", "multitask_pretrain:tiny", "pretrain"),
    ("rewrite", "fewshot:tiny", "fewshot"),
    ("fewshot-classifier", "fewshot:tiny", "fewshot"),
    ("fewshot", "fewshot_classifier:tiny:x.csv", "fewshot_classifier"),
])
def test_another_jobs_config_names_its_job(command, spec, job, tmp_path, capsys):
  assert cli.main([command, "--config", spec, "--workdir", str(tmp_path / "w")]) == 2
  assert f"this config is for job {job!r}" in _one_line_error(capsys)
  assert not (tmp_path / "w").exists()


def test_verbose_shows_the_traceback(tmp_path, capsys):
  path = tmp_path / "file"
  path.write_text("")
  assert cli.main(["-v", "fewshot", "--config", "fewshot:tiny", "--workdir", str(path)]) == 2
  err = capsys.readouterr().err
  assert "Traceback" in err and "is a file" in err
