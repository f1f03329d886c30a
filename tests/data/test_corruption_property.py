"""Property: a corrupted raw file is named or counted, never silently lost (issue 19).

For every builder that reads files, a tiny copy of the real files (the first
rows of each, made at test time; nothing from ../shared is committed) gets one
random corruption in one file: a line truncated, a field dropped, bytes that
are not UTF-8 inserted, a quote unbalanced, a label blanked. Then either the
build raises naming that file (and, for line-based files, that line), or it
succeeds and examples out + rows dropped (+ the rows of files lost whole) =
rows in.
"""

from __future__ import annotations

import collections
import json
import pathlib
import re
import shutil
import tempfile

import hypothesis
import hypothesis.strategies as st
import pytest

from fsnlu_jax.data import loading
from fsnlu_jax.data.defects import MalformedRowError

_RAW = "snips/raw_2017-06-custom-intent-engines"
_SPANS = "span_extraction/dstc8/Buses_1"
# name -> (folder copied, line-based (errors in its non-JSON files name the exact
# line; a JSON parser may notice a cut a line later), label pattern)
_BUILDERS = {
    "banking77": ("banking77", True, r",([a-z_]+)$"),
    "clinc150": ("clinc150", False, r'^\s*"([a-z_]+)"\s*$'),
    "hwu64/crossval": ("hwu64", False, r'"intent": "([^"]*)"'),
    "hwu64/standard": ("hwu64", True, r"^(\w+)$"),
    "slurp": ("slurp", True, r'"intent": "([^"]*)"'),
    "snips/bio": ("snips", True, r"^([A-Za-z]+)$"),
    "snips/raw": ("snips", False, r'^  "(\w+)": \['),
    "span_extraction/buses": ("span_extraction", False, r'"slot": "([^"]*)"'),
}
_LABEL_FILES = ("label", ".csv", ".json", ".jsonl")


def _head_lines(src: pathlib.Path, dst: pathlib.Path, n: int) -> None:
  dst.parent.mkdir(parents=True, exist_ok=True)
  with open(src, "rb") as f:
    dst.write_bytes(b"".join(line for line, _ in zip(f, range(n))))


def _head_json(src: pathlib.Path, dst: pathlib.Path, n: int, indent: int) -> None:
  data = json.loads(src.read_bytes().decode("utf-8", "surrogatepass"))

  def cut(node):
    if isinstance(node, list):
      return node[:n]
    return {k: cut(v) if isinstance(v, (dict, list)) else v for k, v in node.items()}

  dst.parent.mkdir(parents=True, exist_ok=True)
  dst.write_text(json.dumps(cut(data), indent=indent), encoding="utf-8")


@pytest.fixture(scope="module")
def tiny_root(shared_data, tmp_path_factory) -> pathlib.Path:
  """The first rows of every file the builders read, in one data dir."""
  root = tmp_path_factory.mktemp("tiny_data")
  for name in ("train.csv", "test.csv"):
    _head_lines(shared_data / "banking77" / name, root / "banking77" / name, 8)
  shutil.copy(shared_data / "banking77" / "categories.json", root / "banking77")
  _head_json(shared_data / "clinc150" / "data_full.json", root / "clinc150" / "data_full.json",
             2, 4)
  shutil.copy(shared_data / "clinc150" / "domains.json", root / "clinc150")
  for k in range(1, 11):
    rel = f"hwu64/crossval/KFold_{k}_testset.json"
    _head_json(shared_data / rel, root / rel, 2, 2)
  for folder in ("train", "valid", "test"):
    for name in ("seq.in", "label"):
      rel = f"hwu64/standard_split/{folder}/{name}"
      _head_lines(shared_data / rel, root / rel, 5)
    for name in ("seq.in", "seq.out", "label"):
      rel = f"snips/bio_slotgated/{folder}/{name}"
      _head_lines(shared_data / rel, root / rel, 5)
  for split in ("devel", "test"):
    _head_lines(shared_data / "slurp" / f"{split}.jsonl", root / "slurp" / f"{split}.jsonl", 4)
  for path in (shared_data / _RAW).glob("*/*.json"):
    _head_json(path, root / _RAW / path.parent.name / path.name, 2, 2)
  for path in (shared_data / _SPANS).glob("*.json"):
    _head_json(path, root / _SPANS / path.name, 3, 4)
  return root


@pytest.fixture(scope="module")
def clean(tiny_root):
  """name -> (files it reads, {file: its rows}, rows in), from a clean read of the copy."""
  out = {}
  for name in _BUILDERS:
    builder = loading.get_builder(name, data_dir=tiny_root, cache_dir=tiny_root / "cache")
    splits = builder.read_examples()
    rows = collections.Counter(e.source.rpartition(":")[0] for s in splits.values() for e in s)
    files = [f"{builder.FOLDER}/{rel}" for rel in builder._files()]  # pylint: disable=protected-access
    for rel in files:  # the partner files of a line-aligned seq.in
      partner = re.sub(r"/(seq\.out|label)$", "/seq.in", rel)
      rows.setdefault(rel, rows.get(partner, 0))
    assert builder.defects.dropped() == {"rows": 0, "files": []}, name
    out[name] = files, dict(rows), sum(map(len, splits.values()))
  return out


def _corrupt(data: bytes, kind: str, line: int, position: float, label_pattern: str,
             is_label_file: bool) -> tuple[bytes, int] | None:
  """``data`` with one corruption on 0-based ``line``; None when it does not apply."""
  lines = data.split(b"\n")
  text = lines[line]
  if not text.strip():
    return None
  cut = max(1, min(len(text) - 1, int(position * len(text))))
  if kind == "truncate" and len(text) > 1:
    text = text[:cut]
  elif kind == "bad_bytes":
    text = text[:cut] + b"\xff\xfe" + text[cut:]
  elif kind == "quote":
    starts = [0] + [m.end() for m in re.finditer(rb"[,\s]", text)]
    at = starts[int(position * len(starts)) % len(starts)]
    text = text[:at] + b'"' + text[at:]
  elif kind == "drop_field":
    fields = list(re.finditer(rb'"\w+": ("[^"]*"|[^,{}\[\]]*)(, ?)?|,[^,]*$|\s+\S+$', text))
    if not fields:
      return None
    field = fields[int(position * len(fields)) % len(fields)]
    text = text[:field.start()] + text[field.end():]
  elif kind == "blank_label" and is_label_file:
    match = re.search(label_pattern.encode(), text)
    if match is None:
      return None
    text = text[:match.start(1)] + text[match.end(1):]
  else:
    return None
  lines[line] = text
  return b"\n".join(lines), line + 1


@hypothesis.settings(max_examples=60, deadline=None, derandomize=True,
                     suppress_health_check=[hypothesis.HealthCheck.too_slow])
@hypothesis.given(name=st.sampled_from(sorted(_BUILDERS)), which=st.integers(0, 10**6),
                  kind=st.sampled_from(["truncate", "drop_field", "bad_bytes", "quote",
                                        "blank_label"]),
                  line=st.integers(0, 10**6), position=st.floats(0, 1, exclude_max=True))
def test_a_corruption_is_named_or_counted(tiny_root, clean, name, which, kind, line, position):
  folder, line_based, label_pattern = _BUILDERS[name]
  files, rows_of, rows_in = clean[name]
  rel = files[which % len(files)]
  data = (tiny_root / rel).read_bytes()
  corrupted = _corrupt(data, kind, line % max(1, data.count(b"\n")), position, label_pattern,
                       rel.endswith(_LABEL_FILES))
  hypothesis.assume(corrupted is not None)
  content, line_no = corrupted
  with tempfile.TemporaryDirectory() as tmp:
    root = pathlib.Path(tmp)
    shutil.copytree(tiny_root / folder, root / folder)
    (root / rel).write_bytes(content)
    for policy in ("raise", "skip"):
      builder = loading.get_builder(name, data_dir=root, cache_dir=root / "cache",
                                    on_error=policy)
      try:
        splits = builder.read_examples()
      except (MalformedRowError, ValueError) as error:
        message = str(error)
        assert rel in message, (kind, rel, line_no, message)
        if line_based and not rel.endswith(".json") and isinstance(error, MalformedRowError):
          assert f"{rel}:{line_no}" in message, (kind, line_no, message)
        assert policy == "raise" or not isinstance(error, MalformedRowError) or rel.endswith(
            "categories.json") or rel.endswith("domains.json"), message
        continue
      dropped = builder.defects.dropped()
      out = sum(len(examples) for examples in splits.values())
      lost = dropped["rows"] + sum(rows_of.get(f, 0) for f in dropped["files"])
      assert out + lost == rows_in, (kind, rel, line_no, builder.defects.as_dict())
