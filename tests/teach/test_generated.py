"""Generated-data files: one path per (dataset, intent, seed, system), read back strictly."""

from __future__ import annotations

import json

import pytest

from fsnlu_jax import teach
from fsnlu_jax.data import Example

EXAMPLE = Example("play jazz", ("play", "jazz"), "PlayMusic", ("O", "B-genre"), "PlayMusic",
                  "teacher#0")


def test_path_and_round_trip(tmp_path):
  path = teach.generated_path(tmp_path, "snips", "PlayMusic", 2, "linguist")
  assert path == tmp_path / "snips" / "PlayMusic" / "seed2" / "linguist.jsonl"
  teach.write_generated(path, [EXAMPLE, EXAMPLE])
  assert teach.read_generated(path, intent="PlayMusic") == [EXAMPLE, EXAMPLE]


@pytest.mark.parametrize("name", ["a/b", "..", "x y", ""])
def test_names_that_would_escape_the_folder_are_refused(tmp_path, name):
  with pytest.raises(ValueError, match="cannot be part of a file name"):
    teach.generated_path(tmp_path, "snips", name, 0, "linguist")


@pytest.mark.parametrize("line, message", [
    ("{not json", ":2: not an example record"),
    (json.dumps({"text": "x"}), ":2: not an example record"),
    (json.dumps(dict(EXAMPLE.to_record(), slots=["O", "I-genre"])), ":2: invalid BIO tag 'I-genre'"),
    (json.dumps(dict(EXAMPLE.to_record(), slots=["O"])), ":2: not an example record"),
    (json.dumps(dict(EXAMPLE.to_record(), intent="GetWeather")), ":2: intent 'GetWeather'"),
])
def test_a_bad_line_is_named_by_file_and_line(tmp_path, line, message):
  path = tmp_path / "g.jsonl"
  path.write_text(json.dumps(EXAMPLE.to_record()) + "\n" + line + "\n")
  with pytest.raises(teach.GeneratedDataError, match=message):
    teach.read_generated(path, intent="PlayMusic")


def test_an_empty_file_is_an_error(tmp_path):
  (tmp_path / "g.jsonl").write_text("\n")
  with pytest.raises(teach.GeneratedDataError, match="no generated example"):
    teach.read_generated(tmp_path / "g.jsonl")
