"""Configs: by file or by installed name, read into typed frozen dataclasses, one per workdir."""

from __future__ import annotations

import dataclasses
import json
import pathlib

import pytest

from fsnlu_jax import config as config_lib
from fsnlu_jax.fewshot import ClassifierConfig, FewshotConfig
from fsnlu_jax.rewrite import RewriteConfig
from fsnlu_jax.selection import SelectionConfig
from fsnlu_jax.transfer import TransferConfig

_CONFIGS = pathlib.Path(__file__).resolve().parents[1] / "configs"
# Every shipped config and variant, and the typed config its job reads it into.
_SHIPPED = [
    ("fewshot", FewshotConfig, ["", "tiny", "clinc150", "hwu64", "tiny+minilm", "hwu64+minilm"]),
    ("multitask_pretrain", TransferConfig, ["", "tiny", "snips"]),
    ("multitask_finetune", TransferConfig, ["", "tiny", "snips"]),
    ("multitask_scratch", TransferConfig, ["", "tiny", "snips"]),
    ("select", SelectionConfig, ["", "hwu64", "snips", "tiny"]),
    ("rewrite", RewriteConfig, ["", "tiny", "subword", "tiny,subword", "nocopy", "contextual,copy"]),
    ("fewshot_classifier", ClassifierConfig, ["my.csv", "tiny:my.jsonl", "banking77:train.csv",
                                              "slurp:train.jsonl"]),
]


@pytest.mark.parametrize("name, cls, args", _SHIPPED)
def test_every_shipped_config_reads_into_its_typed_config(name, cls, args):
  assert name in config_lib.config_names()
  for arg in args:
    by_name = config_lib.load_config(f"{name}:{arg}")
    assert by_name == config_lib.load_config(f"{_CONFIGS / name}.py:{arg}")
    typed = config_lib.from_dict(cls, by_name)
    assert config_lib.from_dict(cls, config_lib.to_dict(typed)) == typed  # JSON round trip
    with pytest.raises(dataclasses.FrozenInstanceError):
      typed.seed = 1  # frozen


def test_the_word_level_rewriter_copies_unless_told_not_to():
  assert config_lib.load_config("rewrite")["model"]["copy"] is True
  assert config_lib.load_config("rewrite:copy") == config_lib.load_config("rewrite")
  assert config_lib.load_config("rewrite:tiny,nocopy")["model"]["copy"] is False
  assert "copy" not in config_lib.load_config("rewrite:subword")["model"]  # word-level only
  with pytest.raises(ValueError, match="exclude each other"):
    config_lib.load_config("rewrite:copy,nocopy")


def test_a_misspelt_missing_or_mistyped_key_is_an_error_naming_it():
  good = config_lib.load_config("multitask_pretrain:tiny")
  bad = config_lib.load_config("multitask_pretrain:tiny")
  bad["train"]["stpes"] = bad["train"].pop("steps")
  with pytest.raises(config_lib.ConfigError, match=r"unknown config key 'train\.stpes'"):
    config_lib.from_dict(TransferConfig, bad)
  del bad["train"]["stpes"]
  with pytest.raises(config_lib.ConfigError, match=r"missing config key 'train\.steps'"):
    config_lib.from_dict(TransferConfig, bad)
  good["model"]["slot_decoder"] = "hmm"
  with pytest.raises(config_lib.ConfigError, match=r"model\.slot_decoder"):
    config_lib.from_dict(TransferConfig, good)
  good["model"]["slot_decoder"] = "crf"
  good["seed"] = "0"
  with pytest.raises(config_lib.ConfigError, match="'seed' must be int"):
    config_lib.from_dict(TransferConfig, good)


def test_unknown_names_and_files_are_clear_errors():
  with pytest.raises(FileNotFoundError, match="no config named 'fewshoot'"):
    config_lib.load_config("fewshoot:tiny")
  with pytest.raises(FileNotFoundError, match="not found"):
    config_lib.load_config("nowhere/fewshot.py")


def test_a_workdir_keeps_one_config(tmp_path):
  first = config_lib.load_config("rewrite:tiny")
  config_lib.record_config(tmp_path, config_lib.from_dict(RewriteConfig, first))
  config_lib.record_config(tmp_path, config_lib.from_dict(RewriteConfig, first))  # a rerun
  steps = first["train"]["steps"]
  first["train"]["steps"] += 1
  with pytest.raises(ValueError, match=rf"another config; changed: train\.steps: {steps} -> "
                     rf"{steps + 1}\."):
    config_lib.record_config(tmp_path, config_lib.from_dict(RewriteConfig, first))


def test_overwrite_starts_a_workdir_over_once_and_continue_keeps_its_run(tmp_path):
  config = config_lib.load_config("multitask_pretrain:tiny")
  old = config_lib.from_dict(TransferConfig, config)
  config["train"]["steps"] = 40
  new = config_lib.from_dict(TransferConfig, config)
  config_lib.record_config(tmp_path, old)
  (tmp_path / "checkpoints").mkdir()
  (tmp_path / "metrics.jsonl").write_text("{}\n")
  with config_lib.on_config_change("continue"):
    config_lib.record_config(tmp_path, new)
  assert json.loads((tmp_path / "config.json").read_text())["train"]["steps"] == 40
  history = [json.loads(line) for line in
             (tmp_path / "config_history.jsonl").read_text().splitlines()]
  assert history[0]["changed"] == ["train.steps"] and history[0]["replaced"]["train"]["steps"] == 20
  assert (tmp_path / "checkpoints").is_dir()  # continued: the run is kept
  with config_lib.on_config_change("overwrite"):
    config_lib.record_config(tmp_path, old)
    sub = tmp_path / "encoder"  # a job's own sub-run, recorded after: not emptied again
    config_lib.record_config(sub, old)
    (sub / "kept").write_text("")
    config_lib.record_config(tmp_path, old)
    config_lib.record_config(sub, old)
  assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "encoder"]
  assert (sub / "kept").exists()
  assert json.loads((tmp_path / "config.json").read_text())["train"]["steps"] == 20
  with pytest.raises(config_lib.WorkdirError, match="changed: train.steps: 20 -> 40"):
    config_lib.record_config(tmp_path, new)  # outside the block: refused again


def test_a_workdir_that_is_a_file_or_a_broken_config_json_is_named(tmp_path):
  config = config_lib.from_dict(TransferConfig, config_lib.load_config("multitask_pretrain:tiny"))
  (tmp_path / "file").write_text("")
  with pytest.raises(config_lib.WorkdirError, match="is a file, not a folder"):
    config_lib.record_config(tmp_path / "file", config)
  (tmp_path / "run").mkdir()
  (tmp_path / "run" / "config.json").write_text("{broken")
  with pytest.raises(config_lib.WorkdirError, match=r"run/config\.json: not valid JSON"):
    config_lib.record_config(tmp_path / "run", config)


def test_a_config_of_another_job_is_named_by_its_job():
  with pytest.raises(config_lib.ConfigError, match="this config is for job 'select'"):
    config_lib.job_config(FewshotConfig, config_lib.load_config("select:tiny"), jobs=("fewshot",))
  typed = config_lib.job_config(FewshotConfig, config_lib.load_config("fewshot:tiny"),
                                jobs=("fewshot",))
  assert config_lib.job_config(FewshotConfig, typed, jobs=("fewshot",)) is typed


def test_overrides_set_values_and_are_checked_by_the_typed_config():
  config = config_lib.load_config("fewshot:tiny")
  changed = config_lib.apply_overrides(config, [
      "episodes.steps=12", "evaluation.k_shot=[1, 5]", "data.name=hwu64/standard",
      "encoder.finetune=True", "evaluation.fs_full=None"])
  typed = config_lib.from_dict(FewshotConfig, changed)
  assert typed.episodes.steps == 12 and typed.evaluation.k_shot == (1, 5)
  assert typed.data.name == "hwu64/standard" and typed.encoder.finetune is True
  assert typed.evaluation.fs_full is None
  assert config["episodes"]["steps"] != 12  # the loaded dict is not changed
  with pytest.raises(config_lib.ConfigError, match=r"unknown config key 'episodes\.stpes'"):
    config_lib.from_dict(FewshotConfig, config_lib.apply_overrides(config, ["episodes.stpes=3"]))
  with pytest.raises(config_lib.ConfigError, match=r"'episodes\.steps' must be int"):
    config_lib.from_dict(FewshotConfig, config_lib.apply_overrides(config, ["episodes.steps=ten"]))
  with pytest.raises(config_lib.ConfigError, match="key=value"):
    config_lib.apply_overrides(config, ["episodes.steps"])
  with pytest.raises(config_lib.ConfigError, match="not a config section"):
    config_lib.apply_overrides(config, ["seed.x=1"])


def test_the_cli_applies_overrides_before_the_job_reads_its_config(tmp_path, capsys):
  from fsnlu_jax import cli  # pylint: disable=g-import-not-at-top
  rc = cli.main(["pretrain", "--config", "multitask_pretrain:tiny", "--set", "train.stpes=3",
                 "--workdir", str(tmp_path)])
  assert rc == 2 and "unknown config key 'train.stpes'" in capsys.readouterr().err
  assert not (tmp_path / "config.json").exists()  # refused before anything was written
