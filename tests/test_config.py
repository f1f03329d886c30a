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
