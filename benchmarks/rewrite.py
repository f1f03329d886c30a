"""CGF query rewriting on held-out users: constrained vs unconstrained vs retrieval.

Trains (or resumes) the rewriter of ``configs/rewrite.py`` and scores every
system on the test pairs (:mod:`fsnlu_jax.rewrite`): precision =
correct rewrites / outputs, recall = correct rewrites / all pairs (a rewrite is
correct when it equals the intended utterance; for an uncorrupted pair that is
the request itself), thresholds chosen on validation to maximise F1, and the
share of outputs outside the global + the user's personal trie. Breakdowns by
where the target is (``by_target``). Writes ``benchmarks/results/rewrite.json``::

  nice -n 19 python benchmarks/rewrite.py --workdir /tmp/rewrite \
      --data-dir /work/shared/data [--config configs/rewrite.py[:tiny]]

Accuracy only: no timing comparison is made here (see the speed benchmarks).
"""

from __future__ import annotations

import argparse
import logging
import os
import pathlib
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _harness  # noqa: E402  pylint: disable=wrong-import-position

ROOT = pathlib.Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--config", default=str(ROOT / "configs" / "rewrite.py"))
  parser.add_argument("--workdir", required=True)
  parser.add_argument("--data-dir", default=os.environ.get("FSNLU_DATA_DIR"))
  parser.add_argument("--cache-dir", default=None)
  parser.add_argument("--out", default="rewrite.json")
  args = parser.parse_args(argv)
  logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
  # pylint: disable=g-import-not-at-top
  from fsnlu_jax.config import load_config
  from fsnlu_jax.rewrite import run_rewrite
  from fsnlu_jax.train import jsonl
  # pylint: enable=g-import-not-at-top

  config = load_config(args.config)
  results = run_rewrite(config, args.workdir, data_dir=args.data_dir, cache_dir=args.cache_dir)
  curve = jsonl.read(pathlib.Path(args.workdir) / "metrics.jsonl")
  path = _harness.write_result(args.out, dict(
      config=config, definitions=dict(
          correct="output == intended utterance (for a clean pair: the request itself)",
          precision="correct / outputs (abstentions are not outputs)",
          recall="correct / all test pairs (targets in no trie included)",
          outside_trie="share of outputs not in the global trie nor the user's personal trie",
          thresholds="chosen on validation pairs to maximise F1; *_all: no abstention"),
      results=results, learning_curve=[r for r in curve if r["kind"] in ("train", "eval")]))
  print(f"wrote {path}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
