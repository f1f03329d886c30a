"""Configs: by file or by installed name, read into typed frozen dataclasses, one per workdir."""

from __future__ import annotations

import dataclasses
import pathlib

import pytest

from fsnlu_jax import config as config_lib
from fsnlu_jax.fewshot import FewshotConfig
from fsnlu_jax.rewrite import RewriteConfig
from fsnlu_jax.selection import SelectionConfig
from fsnlu_jax.transfer import TransferConfig

_CONFIGS = pathlib.Path(__file__).resolve().parents[1] / "configs"
# Every shipped config and variant, and the typed config its job reads it into.
_SHIPPED = [
    ("fewshot", FewshotConfig, ["", "tiny", "clinc150", "hwu64", "tiny+minilm", "hwu64+minilm"]),
    ("multitask_pretrain", TransferConfig, ["", "tiny"]),
    ("multitask_finetune", TransferConfig, ["", "tiny"]),
    ("multitask_scratch", TransferConfig, ["", "tiny"]),
    ("select", SelectionConfig, ["", "hwu64", "snips", "tiny"]),
    ("rewrite", RewriteConfig, ["", "tiny"]),
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
  first["train"]["steps"] += 1
  with pytest.raises(ValueError, match=r"another config \(differs at train\.steps\)"):
    config_lib.record_config(tmp_path, config_lib.from_dict(RewriteConfig, first))


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
