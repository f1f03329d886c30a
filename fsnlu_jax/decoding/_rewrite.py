"""CGF query rewriting: constrained beam decoding, the preference rule, abstention.

The rewriter (:class:`fsnlu_jax.models.Rewriter`) proposes a rewrite of the
heard request; decoding is restricted to a trie of utterances known to have
succeeded, so every output is a known-good request (Ahmadvand et al. 2022):

* **global**: one trie of everyone's known-good utterances;
* **personal**: a forest with one trie per user; each batch row starts at the
  root of its user's trie (one compiled function for every user);
* **both**: the personal candidate wins when its score reaches
  ``threshold_personal``, else the global one when it reaches
  ``threshold_global``, else there is no rewrite (abstain).

Scores are the model's length-penalised log-probabilities of the output (the
beam search does not renormalise over the allowed tokens), so personal and
global candidates and a threshold are on one scale. Thresholds are chosen on
validation pairs (:func:`choose_threshold`, :func:`choose_thresholds`).

A retrieval baseline (:class:`NgramIndex`) returns the nearest known-good
utterance by cosine similarity of character n-gram TF-IDF vectors, with its
own threshold chosen the same way.

Metrics (:func:`rewrite_metrics`): a pair's rewrite is **correct** when it
equals the intended utterance (for an uncorrupted pair, that is the request
itself); **precision** = correct / outputs (abstentions are not outputs);
**recall** = correct / all pairs (pairs whose target is in no trie count too:
a constrained system cannot reach them, which is the price of the constraint).

Shapes: ``B`` pairs, ``W`` beam, ``L`` output length, ``Ls`` source length,
``V`` vocabulary, ``R`` tries of a forest, ``U`` indexed utterances, ``G``
character n-grams.

References:
  Ahmadvand et al., "Constrained generation framework for query rewriting in
  conversational AI", EMNLP 2022 (industry track).
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Callable, Iterable, Literal, Sequence

import jax
import numpy as np
from flax import nnx

from fsnlu_jax.data.trie import build_forest, build_trie
from fsnlu_jax.decoding._constraints import trie_constraint
from fsnlu_jax.kernels import TrieArrays, beam_search, expand_to_beams

Words = tuple[str, ...]
Objective = Literal["f1", "precision_at_recall"]
ABSTAIN, PERSONAL, GLOBAL = 0, 1, 2  # what combine() picked per pair
NEG_INF_SCORE = -1.0e9  # the beam search's score of "no finished sequence"


# ---- decoding -----------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Candidates:
  """The best finished rewrite per pair.

  Attributes:
    ids: ``[B, L]`` int32 token ids, EOS last, 0 after (all 0 when none).
    scores: ``[B]`` float32 length-penalised log-prob; ``-1e9`` when none.
    found: ``[B]`` bool, whether a finished rewrite exists.
  """

  ids: np.ndarray
  scores: np.ndarray
  found: np.ndarray

  def words(self, vocab, eos_id: int) -> list[Words | None]:
    """Each pair's rewrite as words (None when not found)."""
    out = []
    for row, ok in zip(self.ids, self.found):
      if not ok:
        out.append(None)
        continue
      ends = np.flatnonzero(row == eos_id)
      out.append(tuple(vocab.decode(row[:ends[0] if ends.size else len(row)])))
    return out


class RewriteDecoder:
  """Jitted beam decoding of a :class:`~fsnlu_jax.models.Rewriter`, free or in a trie.

  The model comes as its ``graphdef`` and variables (``nnx.split(model,
  nnx.Param, ...)``, or a train state's ``params`` and ``rest``), which are
  arguments of the jitted functions, as are the trie arrays: new weights or a
  new trie of the same shapes reuse the compiled code. Pairs are decoded in
  chunks of ``batch_size`` rows (the last chunk padded), so shapes never change.

  >>> # decoder = RewriteDecoder(graphdef, vocab_size=len(vocab), max_length=24)
  >>> # cands = decoder.decode(params, rest, arrays["source_ids"], arrays["source_mask"],
  >>> #                        trie=global_trie)
  """

  def __init__(self, graphdef: nnx.GraphDef, *, vocab_size: int, max_length: int,
               beam_size: int = 4, alpha: float = 0.6, batch_size: int = 64, bos_id: int = 2,
               eos_id: int = 3):
    """Args: graphdef: the rewriter's; vocab_size: ``V``; max_length: ``L``, tokens
    with EOS (at most the model's ``max_target_len``); beam_size: ``W``; alpha:
    length-penalty exponent; batch_size: rows per jitted call; bos_id, eos_id."""
    self.graphdef, self.vocab_size, self.max_length = graphdef, vocab_size, max_length
    self.beam_size, self.alpha, self.batch_size = beam_size, alpha, batch_size
    self.bos_id, self.eos_id = bos_id, eos_id
    self._constrained = jax.jit(self._search_constrained)
    self._free = jax.jit(self._search_free)

  def _search(self, params, rest, source_ids, source_mask, constraint):
    model = nnx.merge(self.graphdef, params, rest)
    w = self.beam_size
    encoded = model.encode(source_ids, source_mask)  # --> [B, Ls, D]
    encoded, mask = expand_to_beams((encoded, source_mask), w)  # --> [B*W, Ls, D]
    result = beam_search(
        lambda tokens, cache, step: model.decode_step(tokens, cache, step, encoded, mask),
        model.init_cache(source_ids.shape[0] * w, self.max_length),
        batch_size=source_ids.shape[0], beam_size=w, max_length=self.max_length,
        vocab_size=self.vocab_size, bos_id=self.bos_id, eos_id=self.eos_id, alpha=self.alpha,
        constraint=constraint)
    # Slot 0 is the best finished sequence (best first).
    return result.sequences[:, 0], result.scores[:, 0], result.finished[:, 0]

  def _search_constrained(self, params, rest, source_ids, source_mask, trie, trie_ids):
    constraint = trie_constraint(trie, vocab_size=self.vocab_size, trie_ids=trie_ids)
    return self._search(params, rest, source_ids, source_mask, constraint)

  def _search_free(self, params, rest, source_ids, source_mask):
    return self._search(params, rest, source_ids, source_mask, None)

  def decode(self, params, rest, source_ids: np.ndarray, source_mask: np.ndarray, *,
             trie: TrieArrays | None = None, trie_ids: np.ndarray | None = None) -> Candidates:
    """The best rewrite of every pair.

    Args:
      params, rest: the model's variables (``nnx.Param`` and the others).
      source_ids, source_mask: ``[B, Ls]`` (from
        :func:`fsnlu_jax.data.rewrite.encode_pairs`).
      trie: a trie or forest (device arrays: ``jax.device_put`` once); None:
        unconstrained.
      trie_ids: ``[B]`` int, each pair's trie in the forest (e.g. its user);
        None: trie 0.

    Returns:
      :class:`Candidates` of the ``B`` pairs.
    """
    n, c = source_ids.shape[0], self.batch_size
    # Decoding runs on one device: a train state replicated over an explicit
    # data mesh would carry its mesh typing into the cache updates. A bare
    # device keeps that typing; a SingleDeviceSharding drops it (no host copy).
    params, rest = jax.device_put(
        (params, rest), jax.sharding.SingleDeviceSharding(jax.local_devices()[0]))
    if trie is not None:
      trie_ids = np.zeros(n, np.int32) if trie_ids is None else np.asarray(trie_ids, np.int32)
    results = []
    for start in range(0, n, c):
      rows = np.arange(start, min(start + c, n))
      # Filler rows repeat the last real row: no empty sources in the search.
      pick = np.concatenate([rows, np.full(c - len(rows), rows[-1])])
      args = (params, rest, source_ids[pick], np.asarray(source_mask[pick], bool))
      if trie is None:
        got = self._free(*args)
      else:
        got = self._constrained(*args, trie, trie_ids[pick])
      results.append((got, len(rows)))
    # Read back only after every chunk is dispatched: no host sync per chunk.
    out = [[np.asarray(x)[:m] for x in got] for got, m in results]
    ids, scores, found = (np.concatenate(parts) for parts in zip(*out))
    return Candidates(ids.astype(np.int32), scores.astype(np.float32), found.astype(bool))


def global_trie_arrays(utterances: Iterable[Words], vocab, *, max_length: int,
                       eos_id: int = 3) -> TrieArrays:
  """The global trie of ``utterances`` (words) over ``vocab``, on the device.

  Utterances longer than ``max_length`` tokens (EOS included) or with a word
  outside ``vocab`` are dropped (counted by :func:`fsnlu_jax.data.trie.build_trie`).
  """
  seqs = [vocab.encode(u) for u in sorted(utterances)]
  return jax.device_put(build_trie(seqs, vocab_size=len(vocab), eos_id=eos_id,
                                   max_length=max_length))


def personal_forest_arrays(tries: Sequence[Iterable[Words]], vocab, *, max_length: int,
                           eos_id: int = 3) -> TrieArrays:
  """One personal trie per user (``tries[u]``), as a forest whose trie ``u`` is user ``u``'s."""
  groups = [[vocab.encode(u) for u in sorted(t)] for t in tries]
  return jax.device_put(build_forest(groups, vocab_size=len(vocab), eos_id=eos_id,
                                     max_length=max_length))


# ---- the preference rule and thresholds ---------------------------------------


def combine(personal_scores: np.ndarray, global_scores: np.ndarray, *,
            threshold_personal: float, threshold_global: float) -> np.ndarray:
  """CGF's preference rule: which candidate each pair outputs.

  Args:
    personal_scores, global_scores: ``[B]``, the candidates' scores
      (``-1e9`` where there is none).
    threshold_personal, threshold_global: the least score output.

  Returns:
    ``[B]`` int: :data:`PERSONAL` when the personal score reaches its
    threshold, else :data:`GLOBAL` when the global one does, else
    :data:`ABSTAIN`.

  >>> combine(np.array([-1., -5., -5.]), np.array([-2., -1., -9.]),
  ...         threshold_personal=-3., threshold_global=-4.).tolist()
  [1, 2, 0]
  """
  personal = np.asarray(personal_scores) >= threshold_personal
  glob = np.asarray(global_scores) >= threshold_global
  return np.where(personal, PERSONAL, np.where(glob, GLOBAL, ABSTAIN))


def _prf(correct_out: np.ndarray, outputs: np.ndarray, total: int):
  """Precision, recall, F1 arrays from counts (0 where undefined)."""
  precision = np.where(outputs > 0, correct_out / np.maximum(outputs, 1), 0.0)
  recall = correct_out / max(total, 1)
  f1 = np.where(precision + recall > 0, 2 * precision * recall
                / np.maximum(precision + recall, 1e-12), 0.0)
  return precision, recall, f1


def _pick(precision, recall, f1, objective: Objective, recall_floor: float) -> int:
  if objective == "f1":
    return int(np.argmax(f1))
  if objective != "precision_at_recall":
    raise ValueError(f"objective must be 'f1' or 'precision_at_recall', got {objective!r}")
  ok = recall >= recall_floor
  # No threshold reaches the floor: the one with the most recall.
  return int(np.argmax(np.where(ok, precision, -1.0))) if ok.any() else int(np.argmax(recall))


def choose_threshold(scores: np.ndarray, correct: np.ndarray, *, objective: Objective = "f1",
                     recall_floor: float = 0.5) -> float:
  """The abstention threshold of one system, chosen on validation pairs.

  Every distinct score is tried (outputs: pairs with ``score >= t``); the
  objective is the F1 of correct rewrites (precision over outputs, recall over
  all pairs), or, with ``"precision_at_recall"``, precision among thresholds
  whose recall is at least ``recall_floor``.

  Args:
    scores: ``[B]`` candidate scores (``-1e9`` or ``-inf``: no candidate).
    correct: ``[B]`` bool, whether the candidate equals the target.

  Returns:
    The threshold (``inf`` when no candidate is right: always abstain).

  >>> choose_threshold(np.array([-1., -2., -3., -4.]), np.array([True, True, False, False]))
  -2.0
  """
  scores, correct = np.asarray(scores, np.float64), np.asarray(correct, bool)
  live = scores > NEG_INF_SCORE / 2
  if not (correct & live).any():
    return float("inf")
  order = np.argsort(-scores[live], kind="stable")
  s, c = scores[live][order], correct[live][order]
  # A threshold at s[i] outputs every pair scoring >= s[i]: the last of a run of ties.
  last = np.r_[s[1:] != s[:-1], True]
  outputs, correct_out = np.arange(1, len(s) + 1)[last], np.cumsum(c)[last]
  best = _pick(*_prf(correct_out, outputs, len(scores)), objective, recall_floor)
  return float(s[last][best])


def choose_thresholds(personal_scores: np.ndarray, personal_correct: np.ndarray,
                      global_scores: np.ndarray, global_correct: np.ndarray, *,
                      objective: Objective = "f1", recall_floor: float = 0.5,
                      grid: int = 64) -> tuple[float, float]:
  """``(threshold_personal, threshold_global)`` of the preference rule, on validation.

  A grid search over ``grid`` quantiles of each system's scores (and "never"),
  scoring :func:`combine`'s outputs with the objective of :func:`choose_threshold`.
  """
  ps, gs = np.asarray(personal_scores, np.float64), np.asarray(global_scores, np.float64)
  pc, gc = np.asarray(personal_correct, bool), np.asarray(global_correct, bool)

  def candidates(s):
    live = s[s > NEG_INF_SCORE / 2]
    qs = np.quantile(live, np.linspace(0, 1, grid)) if live.size else np.zeros(0)
    return np.r_[np.unique(qs), np.inf]

  if not ((pc & (ps > NEG_INF_SCORE / 2)).any() or (gc & (gs > NEG_INF_SCORE / 2)).any()):
    return float("inf"), float("inf")  # nothing right to output: always abstain
  tp, tg = candidates(ps), candidates(gs)
  use_p = ps[None, :] >= tp[:, None]  # --> [Tp, B]
  use_g = gs[None, :] >= tg[:, None]  # --> [Tg, B]
  # Personal wins where it passes; global only where personal does not.
  outputs = use_p.sum(1)[:, None] + (~use_p).astype(np.int64) @ use_g.T.astype(np.int64)
  correct_out = (use_p & pc).sum(1)[:, None] + (~use_p).astype(np.int64) @ (
      use_g & gc).T.astype(np.int64)  # --> [Tp, Tg]
  metrics = _prf(correct_out.ravel(), outputs.ravel(), len(ps))
  i, j = np.unravel_index(_pick(*metrics, objective, recall_floor), outputs.shape)
  return float(tp[i]), float(tg[j])


# ---- the retrieval baseline ---------------------------------------------------


def char_ngrams(words: Sequence[str], n: int = 3) -> list[str]:
  """Character ``n``-grams of the words joined by spaces, padded with a space each side.

  >>> char_ngrams(("ab", "c"))
  [' ab', 'ab ', 'b c', ' c ']
  """
  text = f" {' '.join(words)} "
  return [text[i:i + n] for i in range(len(text) - n + 1)]


class NgramIndex:
  """Nearest known-good utterance by cosine similarity of character n-gram TF-IDF.

  Vectors are ``(1 + log tf) * idf``, L2-normalised; the IDF is fitted on the
  indexed utterances (or passed, to share one across indexes). Host-side NumPy
  with ``scipy.sparse`` (a JAX dependency).

  >>> index = NgramIndex([("play", "leon", "bridges"), ("set", "an", "alarm")])
  >>> best, sim = index.nearest([("play", "alien", "bridges")])
  >>> index.utterances[best[0]], round(float(sim[0]), 2)
  (('play', 'leon', 'bridges'), 0.81)
  """

  def __init__(self, utterances: Iterable[Words], *, n: int = 3,
               idf: dict[str, float] | None = None):
    from scipy import sparse  # pylint: disable=g-import-not-at-top

    self._sparse = sparse
    self.utterances = tuple(sorted(set(map(tuple, utterances))))
    self.n = n
    grams = [char_ngrams(u, n) for u in self.utterances]
    if idf is None:
      df = collections.Counter(g for gs in grams for g in set(gs))
      total = max(len(grams), 1)
      idf = {g: float(np.log((1 + total) / (1 + c)) + 1.0) for g, c in df.items()}
    self.idf = idf
    self._column = {g: i for i, g in enumerate(sorted(idf))}
    self.matrix = self._vectors(grams)  # --> [U, G]

  def _vectors(self, grams: Sequence[Sequence[str]]):
    rows, cols, vals = [], [], []
    for r, gs in enumerate(grams):
      for g, tf in collections.Counter(gs).items():
        if g in self._column:
          rows.append(r)
          cols.append(self._column[g])
          vals.append((1.0 + np.log(tf)) * self.idf[g])
    m = self._sparse.csr_matrix((np.asarray(vals, np.float32), (rows, cols)),
                                shape=(len(grams), len(self._column)))
    norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
    return self._sparse.diags(1.0 / np.maximum(norms, 1e-12)).astype(np.float32) @ m

  def nearest(self, queries: Sequence[Words], *, chunk: int = 512
              ) -> tuple[np.ndarray, np.ndarray]:
    """``(index [Q] int, cosine similarity [Q])`` of each query's nearest utterance
    (index -1 and similarity -1 when the index is empty)."""
    q = len(queries)
    if not self.utterances:
      return np.full(q, -1), np.full(q, -1.0)
    best, sims = np.zeros(q, np.int64), np.zeros(q, np.float64)
    for start in range(0, q, chunk):
      part = self._vectors([char_ngrams(w, self.n) for w in queries[start:start + chunk]])
      sim = (part @ self.matrix.T).toarray()  # --> [Q', U]
      best[start:start + len(sim)] = sim.argmax(1)
      sims[start:start + len(sim)] = sim.max(1)
    return best, sims


def retrieve(index: NgramIndex, queries: Sequence[Words]) -> tuple[list[Words | None], np.ndarray]:
  """``(nearest utterance per query, similarity [Q])`` (None, -1e9 when the index is empty)."""
  best, sims = index.nearest(queries)
  words = [index.utterances[b] if b >= 0 else None for b in best]
  return words, np.where(best >= 0, sims, NEG_INF_SCORE)


def retrieve_personal(personal: Callable[[int], Iterable[Words]], users: Sequence[int],
                      queries: Sequence[Words], idf: dict[str, float]
                      ) -> tuple[list[Words | None], np.ndarray]:
  """:func:`retrieve` in each query's own user's utterances ``personal(user)``."""
  out: list[Words | None] = [None] * len(queries)
  sims = np.full(len(queries), NEG_INF_SCORE, np.float64)
  by_user = collections.defaultdict(list)
  for i, u in enumerate(users):
    by_user[int(u)].append(i)
  for u, rows in by_user.items():
    words, s = retrieve(NgramIndex(personal(u), idf=idf), [queries[i] for i in rows])
    for i, w, x in zip(rows, words, s):
      out[i], sims[i] = w, x
  return out, sims


# ---- metrics -------------------------------------------------------------------


def rewrite_metrics(outputs: Sequence[Words | None], targets: Sequence[Words],
                    allowed: Sequence[Callable[[Words], bool]] | Callable[[Words, int], bool]
                    | None = None) -> dict[str, float]:
  """Precision, recall, F1 and output rate of rewrites (module docs), and how
  many outputs fall outside the known-good utterances.

  Args:
    outputs: per pair, the rewrite or None (abstained).
    targets: per pair, the intended utterance.
    allowed: ``allowed(words, i) -> bool``, whether pair ``i``'s output is a
      known-good utterance (global or its user's); None: not measured.

  Returns:
    ``pairs``, ``outputs``, ``correct``, ``precision``, ``recall``, ``f1``,
    ``output_rate`` and (with ``allowed``) ``outside_trie`` (share of outputs).
  """
  made = [i for i, o in enumerate(outputs) if o is not None]
  correct = sum(tuple(outputs[i]) == tuple(targets[i]) for i in made)
  p, r, f = (float(x) for x in _prf(np.array(correct), np.array(len(made)), len(targets)))
  out = dict(pairs=len(targets), outputs=len(made), correct=int(correct), precision=p, recall=r,
             f1=f, output_rate=len(made) / max(len(targets), 1))
  if allowed is not None:
    outside = sum(not allowed(tuple(outputs[i]), i) for i in made)
    out["outside_trie"] = outside / max(len(made), 1)
  return out


def apply_threshold(candidates: Sequence[Words | None], scores: np.ndarray, threshold: float
                    ) -> list[Words | None]:
  """The candidates scoring at least ``threshold``; None (abstain) for the others."""
  return [c if c is not None and s >= threshold else None for c, s in zip(candidates, scores)]
