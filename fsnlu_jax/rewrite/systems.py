"""Every rewriting system on the test pairs, with thresholds chosen on validation pairs.

Systems: the rewriter decoded in the global trie, in the user's personal trie,
in both (personal wins when its score passes its threshold, else global, else
no rewrite), and unconstrained; the character n-gram retrieval baseline in the
same three settings (``retrieval_*``); retrieval that also reads the previous
turn (``retrieval_context_*``: a sanity check that the simulation gives the
context value, :mod:`fsnlu_jax.rewrite.retrieval`); retrieval and generation
together (``combined_*``: the rewriter scores retrieval's ``decode.combined_k``
nearest candidates beside its own beam, :mod:`fsnlu_jax.rewrite.combined`);
``fused_*`` (the same candidates ranked by the rewriter's score plus a weight
times their spelling similarity to the heard request, the weight of
:data:`FUSION_WEIGHTS` with the best validation F1, reported in
``fused_weights``); and ``copy`` (output the request as heard). Thresholds are chosen on
validation pairs to maximise F1 (``decode.objective``; see
:mod:`fsnlu_jax.rewrite.scoring` for the metrics). Each system is also scored
with no abstention (``*_all`` entries), and broken down by where the target is
and what was heard (``by_target``: a confusable, a cut-off, one whose lost
value the previous turn names, errors spelling can undo). ``test_outcomes``
gives every system's outcome per test pair (``systems``: :func:`outcomes`) and
each pair's groups (``groups``: ``"0"``/``"1"`` per pair), for paired
statistics between systems and runs that share the pairs.
:func:`evaluate_retrieval` scores the retrieval systems alone (no model).

Shapes: ``B`` pairs.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any, Mapping, Sequence

import numpy as np

from fsnlu_jax.data import rewrite as rw
from fsnlu_jax.rewrite import combined, retrieval, scoring
from fsnlu_jax.rewrite.config import DecodeConfig, RewriteConfig
from fsnlu_jax.rewrite.data import RewriteJobData
from fsnlu_jax.rewrite.decoder import global_trie_arrays, personal_forest_arrays
from fsnlu_jax.rewrite.subword import make_decoder

_log = logging.getLogger(__name__)


@dataclasses.dataclass
class _Split:
  """One evaluation split's candidates and scores per system (before thresholds)."""

  pairs: Sequence[rw.RewritePair]
  cands: dict[str, list]  # system -> per pair words or None
  scores: dict[str, np.ndarray]  # system -> [B]
  # trie -> combined.fuse's arguments but the weight (beam, its scores and
  # similarity, retrieved, their scores and similarity)
  fusion: dict[str, tuple] = dataclasses.field(default_factory=dict)

  def correct(self, system: str) -> np.ndarray:
    return np.array([c is not None and c == p.target
                     for c, p in zip(self.cands[system], self.pairs)])


def _retrieval_split(pairs, index: retrieval.NgramIndex, dataset, d: DecodeConfig) -> _Split:
  """The retrieval systems' candidates: heard request alone, and with the previous turn."""
  users = [p.user for p in pairs]
  sources, previous = [p.source for p in pairs], [p.previous for p in pairs]
  cands, scores = {}, {}
  for prefix, kw in (("retrieval_", {}),
                     ("retrieval_context_", dict(previous=previous, k=d.context_k,
                                                 context_weight=d.context_weight))):
    cands[prefix + "global"], scores[prefix + "global"] = retrieval.retrieve(index, sources, **kw)
    cands[prefix + "personal"], scores[prefix + "personal"] = retrieval.retrieve_personal(
        dataset.personal_trie, users, sources, index.idf, **kw)
  return _Split(pairs, cands, scores)


def _decode_split(decoder, state, arrays, pairs, tries, vocab, dataset, d: DecodeConfig
                  ) -> _Split:
  src, mask = arrays["source_ids"], arrays["source_mask"]
  users = arrays["user"]
  cands, scores = {}, {}
  for name, trie, ids in (("global", tries["global"], None),
                          ("personal", tries["personal"], users),
                          ("unconstrained", None, None)):
    began = time.time()
    c = decoder.decode(state.params, state.rest, src, mask, trie=trie, trie_ids=ids)
    cands[name], scores[name] = c.words(vocab, decoder.eos_id), c.scores
    _log.info("decoded %d pairs %s in %.1fs", len(pairs), name, time.time() - began)
  retrieved = _retrieval_split(pairs, tries["index"], dataset, d)
  cands.update(retrieved.cands)
  scores.update(retrieved.scores)
  # Retrieval and generation together: the rewriter scores retrieval's top k too.
  sources, index = [p.source for p in pairs], tries["index"]
  top_k = {"global": retrieval.candidates(index, sources, d.combined_k),
           "personal": retrieval.personal_candidates(
               dataset.personal_trie, users, sources, index.idf, d.combined_k)}
  fusion = {}
  for name in ("global", "personal"):
    began = time.time()
    retrieved, model_scores = combined.score_retrieved(
        decoder, state.params, state.rest, src, mask, top_k[name][0], vocab)
    cands[f"combined_{name}"], scores[f"combined_{name}"] = combined.best_of(
        cands[name], scores[name], retrieved, model_scores)
    fusion[name] = (cands[name], scores[name], index.similarity(sources, cands[name]),
                    retrieved, model_scores, top_k[name][1][:, :model_scores.shape[1]])
    _log.info("scored %d pairs' retrieved candidates (%s) in %.1fs", len(pairs), name,
              time.time() - began)
  return _Split(pairs, cands, scores, fusion)


FUSION_WEIGHTS = (0.0, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0)  # tried on validation


def _fuse(splits: Mapping[str, _Split], d: DecodeConfig) -> dict[str, float]:
  """Adds the ``fused_*`` systems to every split, each with the weight of
  :data:`FUSION_WEIGHTS` whose validation F1 (at its own chosen threshold) is
  best; returns the weights (trie -> weight). Nothing without a rewriter."""
  val, weights = splits["validation"], {}
  for name in val.fusion:
    def at(split, weight):
      return combined.fuse(*split.fusion[name], weight=weight)

    def validation_f1(weight):
      words, scores = at(val, weight)
      correct = np.array([w is not None and w == p.target for w, p in zip(words, val.pairs)])
      t = scoring.choose_threshold(scores, correct, objective=d.objective,
                                   recall_floor=d.recall_floor)
      return scoring.rewrite_metrics(scoring.apply_threshold(words, scores, t),
                                     [p.target for p in val.pairs])["f1"]

    weights[name] = max(FUSION_WEIGHTS, key=validation_f1)  # ties: the smaller weight
    for split in splits.values():
      split.cands[f"fused_{name}"], split.scores[f"fused_{name}"] = at(split, weights[name])
  return weights


def _thresholds(val: _Split, d: DecodeConfig) -> dict[str, Any]:
  """Each system's threshold; ``PREFIXboth`` for every system with a personal and a global."""
  kw = dict(objective=d.objective, recall_floor=d.recall_floor)
  out = {s: scoring.choose_threshold(val.scores[s], val.correct(s), **kw) for s in val.cands}
  for prefix in sorted(s[:-len("personal")] for s in val.cands if s.endswith("personal")):
    if f"{prefix}global" in val.cands:
      out[f"{prefix}both"] = scoring.choose_thresholds(
          val.scores[f"{prefix}personal"], val.correct(f"{prefix}personal"),
          val.scores[f"{prefix}global"], val.correct(f"{prefix}global"), **kw)
  return out


def _outputs(split: _Split, thresholds: Mapping[str, Any], abstain: bool) -> dict[str, list]:
  """Per system, the output per pair (None: no rewrite)."""
  out = {}
  for system, t in thresholds.items():
    if system.endswith("both"):
      prefix = system[:-len("both")]
      tp, tg = t if abstain else (-np.inf, -np.inf)
      pick = scoring.combine(split.scores[prefix + "personal"], split.scores[prefix + "global"],
                              threshold_personal=tp, threshold_global=tg)
      out[system] = [split.cands[prefix + "personal"][i] if k == scoring.PERSONAL
                     else split.cands[prefix + "global"][i] if k == scoring.GLOBAL else None
                     for i, k in enumerate(pick)]
    else:
      out[system] = scoring.apply_threshold(split.cands[system], split.scores[system],
                                             t if abstain else -np.inf)
  out["copy"] = [p.source for p in split.pairs]
  return out


_GROUPS = {  # by_target: where the target is, and what was heard
    "in_personal": lambda p: p.target_in_personal,
    "in_global_only": lambda p: p.target_in_global and not p.target_in_personal,
    "in_neither": lambda p: not (p.target_in_global or p.target_in_personal),
    "corrupted": lambda p: p.source != p.target,
    "clean": lambda p: p.source == p.target,
    # Spelling cannot undo these (contextual simulation); does the context help?
    "confusable": lambda p: rw.CONFUSABLE in p.kinds,
    "cutoff": lambda p: rw.CUTOFF in p.kinds,
    "cutoff_value_in_previous": lambda p: rw.CUTOFF in p.kinds and rw.previous_names_value(p),
    "spelling_undoable": lambda p: p.source != p.target and not (
        {rw.CONFUSABLE, rw.CUTOFF} & set(p.kinds)),
}
OUTCOME_CODES = {None: "a", False: "w", True: "c"}  # per pair: abstained, wrong, correct


def outcomes(outputs: Sequence[rw.Words | None], pairs: Sequence[rw.RewritePair]) -> str:
  """One character per pair (``OUTCOME_CODES``): what paired statistics need."""
  return "".join(OUTCOME_CODES[None if o is None else tuple(o) == p.target]
                 for o, p in zip(outputs, pairs))


def _score(outputs: Mapping[str, list], pairs: Sequence[rw.RewritePair],
           dataset: rw.RewriteDataset) -> dict[str, Any]:
  personal = {}

  def allowed(words, i):
    u = pairs[i].user
    if u not in personal:
      personal[u] = dataset.personal_trie(u)
    return words in dataset.global_trie or words in personal[u]

  results = {}
  for system, outs in outputs.items():
    r = scoring.rewrite_metrics(outs, [p.target for p in pairs], allowed)
    r["by_target"] = {}
    for group, member in _GROUPS.items():
      rows = [i for i, p in enumerate(pairs) if member(p)]
      r["by_target"][group] = scoring.rewrite_metrics([outs[i] for i in rows],
                                                       [pairs[i].target for i in rows])
    results[system] = r
  return results


def evaluate(graphdef, state, data: RewriteJobData, config: RewriteConfig
             ) -> dict[str, Any]:
  """Thresholds on validation, then every system on test (module docs)."""
  d, dc = config.data, config.decode
  vocab, dataset = data.vocab, data.dataset
  decoder = make_decoder(graphdef, config, vocab)  # words or word pieces (model.kind)
  eos = decoder.eos_id
  tries = {"global": global_trie_arrays(dataset.global_trie, vocab,
                                        max_length=d.max_target_len, eos_id=eos),
           "personal": personal_forest_arrays(
               [u.personal_trie for u in dataset.users], vocab, max_length=d.max_target_len,
               eos_id=eos),
           "index": retrieval.NgramIndex(dataset.global_trie)}
  splits = {s: _decode_split(decoder, state, data.arrays[s], data.pairs[s], tries, vocab,
                             dataset, dc) for s in ("validation", "test")}
  return _report(splits, dataset, dc)


def evaluate_retrieval(dataset: rw.RewriteDataset, pairs: Mapping[str, Sequence[rw.RewritePair]],
                       decode: DecodeConfig = DecodeConfig()) -> dict[str, Any]:
  """The retrieval systems alone (no rewriter): thresholds on ``pairs["validation"]``,
  scores on ``pairs["test"]``, as :func:`evaluate` reports them."""
  index = retrieval.NgramIndex(dataset.global_trie)
  splits = {s: _retrieval_split(pairs[s], index, dataset, decode) for s in ("validation", "test")}
  return _report(splits, dataset, decode)


def _report(splits: Mapping[str, _Split], dataset: rw.RewriteDataset, dc: DecodeConfig
            ) -> dict[str, Any]:
  fused_weights = _fuse(splits, dc)
  thresholds = _thresholds(splits["validation"], dc)
  test = splits["test"]
  outputs = _outputs(test, thresholds, True)
  systems = _score(outputs, test.pairs, dataset)
  no_abstain = _score(_outputs(test, thresholds, False), test.pairs, dataset)
  systems.update({f"{k}_all": v for k, v in no_abstain.items() if k != "copy"})
  return dict(thresholds=thresholds, fused_weights=fused_weights, test=systems,
              validation_pairs=len(splits["validation"].pairs), test_pairs=len(test.pairs),
              data_stats=dataset.stats(),
              test_outcomes=dict(
                  systems={s: outcomes(o, test.pairs) for s, o in outputs.items()},
                  groups={g: "".join("1" if member(p) else "0" for p in test.pairs)
                          for g, member in _GROUPS.items()}))


def format_table(results: Mapping[str, Any]) -> str:
  """A plain-text table of the test systems (precision, recall, F1, outputs, outside trie)."""
  rows = ["system                    P      R      F1    out%  outside  P(pers) P(glob) P(neith)"]
  for system, r in results["test"].items():
    by = r["by_target"]
    rows.append(f"{system:<24}{r['precision']:6.3f} {r['recall']:6.3f} {r['f1']:6.3f} "
                f"{100 * r['output_rate']:6.1f} {r.get('outside_trie', 0.0):7.3f}  "
                f"{by['in_personal']['precision']:6.3f}  {by['in_global_only']['precision']:6.3f}"
                f"  {by['in_neither']['precision']:6.3f}")
  return "\n".join(rows)
