"""A finished rewriting workdir answering new requests, loaded once.

The model, the vocabulary, the thresholds chosen on validation and every trie
(``tries.json``) are read once; the tries become one forest on the device
(trie 0 the global one, trie ``1 + k`` the ``k``-th user's personal one, users in
id order), so any mix of users decodes in one jitted search. Each request is
two rows of that search: its source in the global trie and, with a user, in
the user's trie; CGF's preference rule
(:func:`fsnlu_jax.rewrite.combine`) then decides, as ``fsnlu rewrite
--checkpoint`` does. Sources are padded to the job's ``max_source_len`` and
rows decoded in chunks of ``rows_per_call``: one compilation.

Shapes: ``R`` rows (two per request with a user, one without).
"""

from __future__ import annotations

import json
import math
import os
import pathlib
from typing import Any, Mapping, Sequence

import numpy as np

from fsnlu_jax import rewrite
from fsnlu_jax.config import from_dict
from fsnlu_jax.data import rewrite as rw
from fsnlu_jax.serve.errors import InputError

_FIELDS = {"text", "previous", "user"}


def _threshold(x: Any) -> float:
  """A stored threshold; None (or a non-finite one) means "never output" (+inf)."""
  return math.inf if x is None else float(x)


def _json_threshold(x: float) -> float | None:
  """Strict JSON: +inf ("never output") is written as null."""
  return x if math.isfinite(x) else None


class RewritePredictor:
  """Rewrites of heard requests: the candidates with their scores and the rule that decided.

  >>> # p = RewritePredictor.load("runs/rewrite")
  >>> # p.predict([{"text": "play alien bridges", "user": 3}])[0]["rewrite"]
  """

  kind = "rewrite"

  def __init__(self, workdir: str | os.PathLike, *, rows_per_call: int = 16):
    root = pathlib.Path(workdir)
    self.source = str(root)
    self.config = from_dict(rewrite.RewriteConfig,
                            json.loads((root / "config.json").read_text()))
    results = root / "results.json"
    if not results.is_file():
      raise FileNotFoundError(f"{root} has no results.json: the rewrite job did not finish "
                              "(rerun `fsnlu rewrite --config ... --workdir` to finish it)")
    thresholds = json.loads(results.read_text())["thresholds"]
    self.threshold_both = tuple(_threshold(x) for x in thresholds["both"])
    self.threshold_global = _threshold(thresholds["global"])
    # Either kind of rewriter (words, or word pieces: model.kind).
    self._loaded = rewrite.load_rewriter(root, batch_size=rows_per_call)
    self.vocab = self._loaded.vocab
    tries = json.loads((root / "tries.json").read_text())
    self.users = sorted(int(u) for u in tries["personal"])
    self._trie_of = {u: 1 + k for k, u in enumerate(self.users)}
    d = self.config.data
    groups = [tries["global_trie"]] + [tries["personal"][str(u)] for u in self.users]
    self._forest = rewrite.personal_forest_arrays(
        [[tuple(t.split()) for t in group] for group in groups], self.vocab,
        max_length=d.max_target_len, eos_id=self._loaded.decoder.eos_id)
    self._decoder, self._params, self._rest = (self._loaded.decoder, self._loaded.params,
                                               self._loaded.rest)

  @classmethod
  def load(cls, workdir: str | os.PathLike) -> RewritePredictor:
    return cls(workdir)

  def info(self) -> dict[str, Any]:
    """What ``/health`` reports about the model."""
    return dict(kind=self.kind, checkpoint=self.source, users=len(self.users),
                vocab=len(self.vocab), max_source_len=self.config.data.max_source_len,
                thresholds=self._thresholds())

  def _thresholds(self) -> dict[str, Any]:
    return dict(both=[_json_threshold(x) for x in self.threshold_both],
                global_only=_json_threshold(self.threshold_global))

  def warmup(self) -> None:
    """Compiles the search now (one shape: sources of ``max_source_len``, fixed rows per call)."""
    self.predict(["warm up"])  # any words: unknown ones are <unk>

  # ------------------------------------------------------------- requests

  def parse(self, item: Any, where: str = "text") -> dict[str, Any]:
    """One request: a string, or ``{"text", "previous"?, "user"?}``; raises :class:`InputError`."""
    item = dict(text=item) if isinstance(item, str) else item
    if not isinstance(item, Mapping):
      raise InputError("wrong_type", f"{where}: a request is a string or an object with "
                       f"'text', got {type(item).__name__}")
    unknown = sorted(set(item) - _FIELDS)
    if unknown:
      raise InputError("unknown_field", f"{where}: unknown field(s) {unknown}; a rewrite "
                       f"request takes {sorted(_FIELDS)}")
    text, previous, user = item.get("text"), item.get("previous", ""), item.get("user")
    for name, value in (("text", text), ("previous", previous)):
      if not isinstance(value, str):
        raise InputError("wrong_type", f"{where}: {name} must be a string, got "
                         f"{type(value).__name__}")
    if user is not None and (isinstance(user, bool) or not isinstance(user, int)):
      raise InputError("wrong_type", f"{where}: user must be an integer id, got {user!r}")
    if user is not None and user not in self._trie_of:
      raise InputError("unknown_user", f"{where}: unknown user {user}: this workdir has "
                       f"personal tries for {len(self.users)} users, ids "
                       f"{self.users[0]}..{self.users[-1]}" if self.users else
                       f"{where}: unknown user {user}: this workdir has no personal tries")
    words = rw.normalise(text.split())[0]
    if not words:
      raise InputError("empty_text", f"{where}: no words in {text[:80]!r}")
    return dict(text=text, previous=previous, user=user, words=words,
                previous_words=rw.normalise(previous.split())[0])

  def bucket(self, request: Mapping[str, Any]) -> int:
    """One bucket: every source is padded to ``max_source_len``."""
    del request
    return self.config.data.max_source_len

  # ------------------------------------------------------------- prediction

  def predict(self, items: Sequence[Any]) -> list[dict[str, Any]]:
    """One answer per request, in order.

    Each answer: ``text``, ``previous``, ``user``, ``rewrite`` (text or None:
    abstained), ``source`` (``"personal"``, ``"global"`` or None), ``score``,
    ``candidates`` (``{"personal", "global"}``: ``{"text", "score"}`` or None
    when the search found none), ``thresholds`` (those the rule applied;
    null: never) and ``decision`` (why, in words). Scores are length-penalised
    log-probabilities.
    """
    requests = [r if isinstance(r, Mapping) and "words" in r else self.parse(r, f"texts[{i}]")
                for i, r in enumerate(items)]
    if not requests:
      return []
    turns, trie_ids, owner = [], [], []
    for i, r in enumerate(requests):
      for trie in [0] + ([self._trie_of[r["user"]]] if r["user"] is not None else []):
        turns.append((r["previous_words"], r["words"]))
        trie_ids.append(trie)
        owner.append((i, "global" if trie == 0 else "personal"))
    src, mask = self._loaded.sources(turns)
    found = self._decoder.decode(self._params, self._rest, src, mask, trie=self._forest,
                                 trie_ids=np.array(trie_ids))
    words = self._loaded.words(found)
    candidates = [dict(personal=None, **{"global": None}) for _ in requests]
    for (i, name), w, score in zip(owner, words, found.scores):
      if w is not None:
        candidates[i][name] = dict(text=" ".join(w), score=round(float(score), 6))
    return [self._decide(r, c) for r, c in zip(requests, candidates)]

  def _decide(self, request: Mapping[str, Any], cands: Mapping[str, Any]) -> dict[str, Any]:
    """The preference rule on one request's candidates (as :func:`fsnlu_jax.rewrite.rewrite_query`)."""
    personal, glob = cands["personal"], cands["global"]
    tp, tg = self.threshold_both if personal is not None else (math.inf, self.threshold_global)
    score = lambda c: c["score"] if c is not None else rewrite.NEG_INF_SCORE
    pick = int(rewrite.combine(np.array([score(personal)]), np.array([score(glob)]),
                               threshold_personal=tp, threshold_global=tg)[0])
    chosen = {rewrite.PERSONAL: "personal", rewrite.GLOBAL: "global"}.get(pick)
    if chosen is not None:
      c = cands[chosen]
      limit = tp if chosen == "personal" else tg
      decision = f"{chosen} candidate scores {c['score']:.4f} >= its threshold {limit:.4f}"
    elif personal is None and glob is None:
      decision = "no candidate found in the tries"
    else:
      decision = "no candidate reaches its threshold: no rewrite"
    return dict(text=request["text"], previous=request["previous"], user=request["user"],
                rewrite=cands[chosen]["text"] if chosen else None, source=chosen,
                score=cands[chosen]["score"] if chosen else None,
                candidates=dict(cands),
                thresholds=dict(personal=_json_threshold(tp), **{"global": _json_threshold(tg)}),
                decision=decision)
