"""Visible work (issue 19, problem 5): every long stage reports, labelled, also off a terminal."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from fsnlu_jax import _progress as progress_lib
from fsnlu_jax import train
from fsnlu_jax.decoding import build_forest


@pytest.fixture
def lines(monkeypatch):
  """Plain-line mode, one line per item (the interval is 0 s)."""
  monkeypatch.setenv("FSNLU_PROGRESS", "lines")
  monkeypatch.setenv("FSNLU_PROGRESS_SECONDS", "0")


def test_off_a_terminal_a_labelled_line_every_interval_and_at_the_end(lines, capsys):
  assert list(progress_lib.progress(range(3), desc="embedding train", unit="batch")) == [0, 1, 2]
  err = capsys.readouterr().err.splitlines()
  assert err[:3] == [line for line in err[:3] if line.startswith("fsnlu: embedding train: ")]
  assert [line.split(": ")[2].split(" (")[0] for line in err] == [
      "1/3 batches", "2/3 batches", "3/3 batches", "3/3 batches"]
  assert err[-1].startswith("fsnlu: embedding train: 3/3 batches (100%) in ")


def test_mode_follows_the_terminal_unless_forced(monkeypatch, capsys):
  monkeypatch.delenv("FSNLU_PROGRESS", raising=False)
  assert progress_lib.mode() == "lines"  # pytest's captured stderr is no terminal
  monkeypatch.setenv("FSNLU_PROGRESS", "bar")
  assert progress_lib.mode() == "bar"
  list(progress_lib.progress(range(2), desc="training", unit="step"))
  assert "training" in capsys.readouterr().err  # tqdm's bar
  progress_lib.set_mode("off")
  try:
    list(progress_lib.progress(range(2), desc="silent"))
    assert capsys.readouterr().err == ""
  finally:
    progress_lib.set_mode(None)
  with pytest.raises(ValueError, match="progress mode"):
    progress_lib.set_mode("loud")


def test_chunked_stages_and_trie_building_report_their_label(lines, capsys):
  out = train.map_in_chunks(lambda x: x * 2, np.arange(10), 4, desc="evaluation")
  np.testing.assert_array_equal(out, np.arange(10) * 2)
  build_forest([[[4, 5]], [[6]], []], vocab_size=8, eos_id=3)
  err = capsys.readouterr().err
  assert "fsnlu: evaluation: 3/3 batches (100%)" in err
  assert "fsnlu: trie building: 3/3 tries (100%)" in err


def test_quiet_cli_switches_progress_off(capsys):
  from fsnlu_jax import cli  # pylint: disable=g-import-not-at-top
  seen = {}

  def fake(args):
    seen["mode"] = progress_lib.mode()
    return 0

  parser_args = ["-q", "data", "stats", "synthetic"]
  level = logging.getLogger("fsnlu_jax").level
  import unittest.mock as mock  # pylint: disable=g-import-not-at-top
  with mock.patch.object(cli, "cmd_data_stats", fake):
    assert cli.main(parser_args) == 0
  assert seen["mode"] == "off" and progress_lib.mode() != "off"  # restored after the command
  # So is the package's log level: a later test's caplog still sees fsnlu_jax's warnings.
  assert logging.getLogger("fsnlu_jax").level == level
