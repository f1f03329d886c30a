"""Is a value said in the scope its tree gives it? A check of added PIZZA parses.

For each added (utterance, EXR tree) row (``benchmarks/clasp.py``'s
``<system>.jsonl`` files), every value the tree negates (under ``NOT``) is
looked up in the utterance by its catalogue surface forms (the longest that
occurs), and counted *in scope* when a negation word (``CUES``) is among the
``--window`` words before it; every topping or style the tree does *not*
negate counts in scope when none is. A value the utterance does not say is
left out. It is a heuristic (a long "without x or y or z" list puts z past
the window), so read it side by side: grammar sampling's templates are the
reference (93% of negated values, 99% of the others, subset 0), and a
teacher's set is compared with them on the same trees.

Usage::

  python benchmarks/clasp_scope.py --data-dir ../shared/data \\
      runs/n16/s0/grammar.jsonl runs/n16/s0/clasp_grammar.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys

CUES = frozenset({"no", "without", "hold", "not", "none", "avoid", "skip", "nothing"})


def said_at(words: list[str], surfaces) -> int | None:
  """The index of the first word of the longest surface form found in ``words``."""
  for surface in sorted(surfaces, key=lambda s: -len(s.split())):
    form = surface.split()
    for i in range(len(words) - len(form) + 1):
      if words[i:i + len(form)] == form:
        return i
  return None


def scope_counts(examples, catalogues, *, window: int = 4) -> dict[str, int]:
  """Counts of negated and other (topping, style) values said, and said in scope."""
  counts = dict(negated=0, negated_in_scope=0, other=0, other_in_scope=0, unsaid=0)
  for example in examples:
    words = example.text.split()
    tree = example.exr_tree()
    negated = {id(leaf) for node in tree.walk() if node.label == "NOT"
               for leaf in node.walk() if leaf.is_leaf_node}
    for leaf in tree.walk():
      if not leaf.is_leaf_node or leaf.label not in catalogues.labels:
        continue
      is_negated = id(leaf) in negated
      if not is_negated and leaf.label not in ("TOPPING", "STYLE"):
        continue
      at = said_at(words, catalogues.surfaces(leaf.label, leaf.text))
      if at is None:
        counts["unsaid"] += 1
        continue
      cued = bool(CUES.intersection(words[max(0, at - window):at]))
      kind = "negated" if is_negated else "other"
      counts[kind] += 1
      counts[f"{kind}_in_scope"] += cued if is_negated else not cued
  return counts


def main(argv: list[str] | None = None) -> int:
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("sets", nargs="+", help="added-parse JSONL files")
  p.add_argument("--data-dir", default=os.environ.get("FSNLU_DATA_DIR"))
  p.add_argument("--window", type=int, default=4)
  args = p.parse_args(argv)
  from fsnlu_jax.parse import data as data_lib  # pylint: disable=g-import-not-at-top
  from fsnlu_jax.parse.config import ParseDataConfig  # pylint: disable=g-import-not-at-top
  catalogues = data_lib.load_parse_data(ParseDataConfig(), data_dir=args.data_dir).catalogues
  for path in args.sets:
    c = scope_counts(data_lib.read_parses(path), catalogues, window=args.window)
    share = lambda k: c[f"{k}_in_scope"] / max(c[k], 1)
    print(json.dumps(dict(set=str(pathlib.Path(path)), negated_share=round(share("negated"), 3),
                          other_share=round(share("other"), 3), **c)))
  return 0


if __name__ == "__main__":
  sys.exit(main())
