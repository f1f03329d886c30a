"""One request rewritten with a finished rewriting workdir (``fsnlu rewrite --checkpoint``)."""

from __future__ import annotations

import json
import os
import pathlib
from typing import Any

import numpy as np

from fsnlu_jax.data import rewrite as rw
from fsnlu_jax.rewrite import scoring
from fsnlu_jax.rewrite.decoder import personal_forest_arrays
from fsnlu_jax.rewrite.loading import load_rewriter


def rewrite_query(checkpoint_dir: str | os.PathLike, text: str, previous: str = "",
                  user: int | None = None) -> dict[str, Any]:
  """Rewrites one request with a trained workdir's model, tries and thresholds.

  Args:
    checkpoint_dir: the ``workdir`` of a finished :func:`~fsnlu_jax.rewrite.run_rewrite`.
    text: the request as heard, e.g. ``"play alien bridges"``.
    previous: the previous turn ("" for none).
    user: a user id whose personal trie is used (preference rule), or None
      for the global trie alone.

  Returns:
    ``{"rewrite": text or None, "source": "personal" | "global" | None,
    "score", "personal": (text, score) or None, "global": (text, score) or
    None, "thresholds": {"personal", "global"}}``: the least score each
    trie's candidate needed (``inf``: that trie never outputs; ``personal``
    is ``inf`` without a user). With no rewrite, the candidates and the
    thresholds say why.

  Raises:
    ValueError: ``user`` is not one of the workdir's users (the message says
      where they are listed).
  """
  workdir = pathlib.Path(checkpoint_dir)
  thresholds = json.loads((workdir / "results.json").read_text())["thresholds"]
  tries = json.loads((workdir / "tries.json").read_text())
  if user is not None and str(user) not in tries["personal"]:
    raise ValueError(f"unknown user {user}: {workdir} has {len(tries['personal'])} users "
                     f"({_id_ranges(tries['personal'])}); they are the keys of \"personal\" "
                     f"in {workdir / 'tries.json'}")
  loaded = load_rewriter(workdir, batch_size=2)
  words, prev = tuple(rw.normalise(text.split())[0]), tuple(rw.normalise(previous.split())[0])
  src, mask = loaded.sources([(prev, words), (prev, words)])
  # One search of two rows: row 0 in the global trie, row 1 in the user's (a forest of two).
  mine = tries["personal"].get(str(user), []) if user is not None else []
  forest = personal_forest_arrays(
      [[tuple(u.split()) for u in group] for group in (tries["global_trie"], mine)],
      loaded.vocab, max_length=loaded.config.data.max_target_len,
      eos_id=loaded.decoder.eos_id)
  c = loaded.decoder.decode(loaded.params, loaded.rest, src, mask, trie=forest,
                            trie_ids=np.array([0, 1]))
  found = [None if w is None else (" ".join(w), float(x))
           for w, x in zip(loaded.words(c), c.scores)]
  glob, personal = found
  # results.json writes an infinite threshold (never output) as null: strict JSON.
  both = [np.inf if t is None else t for t in thresholds["both"]]
  tp, tg = both if personal is not None else (np.inf, _finite(thresholds["global"]))
  pick = scoring.combine(np.array([personal[1] if personal else -1e9]),
                          np.array([glob[1] if glob else -1e9]),
                          threshold_personal=tp, threshold_global=tg)[0]
  chosen = {scoring.PERSONAL: ("personal", personal), scoring.GLOBAL: ("global", glob)}.get(
      int(pick), (None, None))
  return dict(rewrite=chosen[1][0] if chosen[1] else None, source=chosen[0],
              score=chosen[1][1] if chosen[1] else None, personal=personal, **{"global": glob},
              thresholds=dict(personal=float(tp), **{"global": float(tg)}))


def _finite(threshold: float | None) -> float:
  return np.inf if threshold is None else threshold


def _id_ranges(users) -> str:
  """``0-49`` or ``0-3, 7, 9-12``: user ids as compact ranges."""
  ids = sorted(int(u) for u in users)
  spans, start = [], None
  for i, u in enumerate(ids):
    start = u if start is None else start
    if i + 1 == len(ids) or ids[i + 1] != u + 1:
      spans.append(f"{start}" if start == u else f"{start}-{u}")
      start = None
  return ", ".join(spans) or "none"


def describe(result: dict[str, Any]) -> str:
  """One line for the CLI: the rewrite and why, or why none (best candidate, score, threshold)."""
  if result["rewrite"] is not None:
    source = result["source"]
    return (f"rewrite {result['rewrite']!r} ({source} trie): score {result['score']:.3f} >= "
            f"threshold {result['thresholds'][source]:.3f}")
  found = [(src, result[src]) for src in ("personal", "global") if result[src] is not None]
  if not found:
    return "no rewrite: no known-good utterance was reachable (no candidate in any trie)"
  src, (text, score) = max(found, key=lambda f: f[1][1])
  limit = result["thresholds"][src]
  rule = "never output" if np.isinf(limit) else f"below the threshold {limit:.3f}"
  return (f"no rewrite: best candidate {text!r} ({src} trie) scores {score:.3f}, {rule}")
