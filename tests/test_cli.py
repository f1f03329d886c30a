"""The `fsnlu` command line: `data stats` output, and clear errors."""

import json

import pytest

from fsnlu_jax import cli


def _stats(capsys, *argv):
  code = cli.main(["data", "stats", *argv])
  out, err = capsys.readouterr()
  return code, out, err


def test_stats_json_on_clinc150(shared_data, cache_dir, capsys):
  code, out, _ = _stats(capsys, "clinc150", "--data-dir", str(shared_data),
                        "--cache-dir", str(cache_dir), "--json")
  assert code == 0
  summary = json.loads(out)
  assert set(summary) >= {"dataset", "splits", "intents", "domains", "slot_types", "defects"}
  assert summary["dataset"] == "clinc150"
  assert summary["splits"]["train"] == 15000
  assert summary["splits"]["validation"] == 3000
  assert summary["splits"]["test"] == 4500
  assert (summary["intents"], summary["domains"], summary["slot_types"]) == (150, 10, 0)
  assert summary["out_of_scope"] == {"label": "oos", "count": 1200}
  assert summary["defects"]["cross_split_duplicate/conflicting_label"] == 4


def test_stats_table_is_readable(shared_data, cache_dir, capsys):
  code, out, _ = _stats(capsys, "banking77", "--data-dir", str(shared_data),
                        "--cache-dir", str(cache_dir))
  assert code == 0
  assert "train" in out and "10003" in out and "intents     77" in out


def test_unknown_dataset_is_a_clear_error(capsys):
  code, _, err = _stats(capsys, "no_such_data")
  assert code == 2 and "unknown dataset 'no_such_data'" in err and "clinc150" in err


def test_missing_folder_is_a_clear_error(tmp_path, capsys):
  code, _, err = _stats(capsys, "banking77", "--data-dir", str(tmp_path))
  assert code == 2 and "no 'banking77' folder" in err


def test_malformed_row_names_file_and_line(tmp_path, capsys):
  folder = tmp_path / "banking77"
  folder.mkdir()
  (folder / "categories.json").write_text('["card_arrival"]')
  (folder / "train.csv").write_text("text,category\nwhere is my card,card_arrival\n"
                                    "hello,not_a_label\n")
  (folder / "test.csv").write_text("text,category\nmy card?,card_arrival\n")
  argv = ["banking77", "--data-dir", str(tmp_path), "--cache-dir", str(tmp_path / "cache")]
  code, _, err = _stats(capsys, *argv)
  assert code == 2 and "banking77/train.csv:3" in err and "unknown_label" in err
  code, out, _ = _stats(capsys, *argv, "--on-error", "skip", "--json")
  assert code == 0
  summary = json.loads(out)
  assert summary["splits"] == {"train": 1, "test": 1}
  assert summary["defects"]["malformed/unknown_label"] == 1


@pytest.mark.parametrize("argv", [["--help"], ["data", "--help"], ["data", "stats", "--help"]])
def test_help(argv, capsys):
  with pytest.raises(SystemExit) as exit_info:
    cli.main(argv)
  assert exit_info.value.code == 0
  assert "usage: fsnlu" in capsys.readouterr().out


def test_version_and_verbosity_flags(capsys):
  with pytest.raises(SystemExit) as exit_info:
    cli.main(["--version"])
  assert exit_info.value.code == 0 and capsys.readouterr().out.startswith("fsnlu 0.")
  with pytest.raises(SystemExit):
    cli.main(["-v", "-q", "data", "stats", "synthetic"])  # one or the other
