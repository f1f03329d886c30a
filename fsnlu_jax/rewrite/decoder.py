"""Constrained beam decoding of the rewriter: global trie, personal forest, or free.

The rewriter (:class:`fsnlu_jax.models.Rewriter`) proposes a rewrite of the
heard request; decoding is restricted to a trie of utterances known to have
succeeded, so every output is a known-good request (Ahmadvand et al. 2022):

* **global**: one trie of everyone's known-good utterances;
* **personal**: a forest with one trie per user; each batch row starts at the
  root of its user's trie (one compiled function for every user).

Scores are the model's length-penalised log-probabilities of the output (the
beam search does not renormalise over the allowed tokens), so personal and
global candidates and a threshold are on one scale
(:mod:`fsnlu_jax.rewrite.scoring`). :meth:`RewriteDecoder.score` gives given
candidates (e.g. retrieval's) the same score, teacher-forced.

Shapes: ``B`` pairs, ``W`` beam, ``L`` output length, ``Ls`` source length,
``V`` vocabulary, ``R`` tries of a forest, ``K`` given candidates per pair.

References:
  Ahmadvand et al., "Constrained generation framework for query rewriting in
  conversational AI", EMNLP 2022 (industry track).
"""

from __future__ import annotations

import dataclasses
from typing import Iterable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from fsnlu_jax.decoding import build_forest, build_trie
from fsnlu_jax.decoding import trie_constraint
from fsnlu_jax.kernels import TrieArrays, beam_search, expand_to_beams, length_penalty
from fsnlu_jax.models import tokens_to_logits_fn
from fsnlu_jax.rewrite.scoring import NEG_INF_SCORE, Words
from fsnlu_jax.train import map_in_chunks

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
    self._teacher_forced = jax.jit(self._score)

  def _start(self, model, source_ids, source_mask):
    """``(tokens_to_logits, cache)`` of the beam search over ``B * W`` rows (a
    subclass decodes another model: :mod:`fsnlu_jax.rewrite.subword`)."""
    w = self.beam_size
    encoded = model.encode(source_ids, source_mask)  # --> [B, Ls, D]
    encoded, mask, ids = expand_to_beams((encoded, source_mask, source_ids), w)  # --> [B*W, ...]
    return (tokens_to_logits_fn(model, encoded, mask, ids),
            model.init_cache(source_ids.shape[0] * w, self.max_length))

  def _search(self, params, rest, source_ids, source_mask, constraint):
    model = nnx.merge(self.graphdef, params, rest)
    w = self.beam_size
    result = beam_search(
        *self._start(model, source_ids, source_mask),
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

  def _score(self, params, rest, source_ids, source_mask, candidates):
    model = nnx.merge(self.graphdef, params, rest)
    b, k, length = candidates.shape
    flat = candidates.reshape(b * k, length)  # --> [B*K, L]
    tokens_in = jnp.concatenate([jnp.full((b * k, 1), self.bos_id, flat.dtype), flat[:, :-1]], 1)
    logits = model(jnp.repeat(source_ids, k, 0), jnp.repeat(source_mask, k, 0), tokens_in)
    logprobs = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)  # --> [B*K, L, V]
    token_lp = jnp.take_along_axis(logprobs, flat[..., None], -1)[..., 0]
    real = flat != 0
    n = real.sum(1)
    scores = jnp.where(real, token_lp, 0.0).sum(1) / length_penalty(n, self.alpha)
    return jnp.where(n > 0, scores, NEG_INF_SCORE).reshape(b, k)

  def score(self, params, rest, source_ids: np.ndarray, source_mask: np.ndarray,
            candidates: np.ndarray) -> np.ndarray:
    """The beam search's score of given candidates, teacher-forced.

    Args:
      params, rest, source_ids, source_mask: as :meth:`decode`.
      candidates: ``[B, K, L]`` int token ids, EOS last, 0 after; all 0 for
        no candidate (:func:`candidate_arrays`).

    Returns:
      ``[B, K]`` float32: ``log p(candidate | source) / ((5 + n) / 6) **
      alpha`` with ``n`` its tokens, EOS included (the beam search's score
      of the same output); ``-1e9`` where there is none.
    """
    params, rest = _on_one_device(params, rest)
    if candidates.shape[1] == 0:
      return np.zeros((len(source_ids), 0), np.float32)
    rows = (source_ids, np.asarray(source_mask, bool), np.asarray(candidates, np.int32))
    scores = map_in_chunks(lambda chunk: self._teacher_forced(params, rest, *chunk), rows,
                           self.batch_size)
    return scores.astype(np.float32)

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
    n = source_ids.shape[0]
    params, rest = _on_one_device(params, rest)
    if trie is not None:
      trie_ids = np.zeros(n, np.int32) if trie_ids is None else np.asarray(trie_ids, np.int32)
    rows = (source_ids, np.asarray(source_mask, bool))
    if trie is None:
      search = lambda chunk: self._free(params, rest, *chunk)
    else:
      rows += (trie_ids,)
      search = lambda chunk: self._constrained(params, rest, *chunk[:2], trie, chunk[2])
    # Chunks of real sources only (map_in_chunks' filler rows are copies).
    ids, scores, found = map_in_chunks(search, rows, self.batch_size,
                                       desc="beam search" if n > self.batch_size else None)
    return Candidates(ids.astype(np.int32), scores.astype(np.float32), found.astype(bool))


def _on_one_device(params, rest):
  """The variables on this process's first device.

  Decoding runs on one device: a train state replicated over an explicit data
  mesh would carry its mesh typing into the cache updates. A bare device keeps
  that typing; a SingleDeviceSharding drops it (no host copy). Replicated over
  other processes' devices too: this process's copy is the whole value
  (device_put refuses cross-host transfers).
  """
  local = lambda x: x.addressable_data(0) if isinstance(x, jax.Array) else x
  return jax.device_put(jax.tree.map(local, (params, rest)),
                        jax.sharding.SingleDeviceSharding(jax.local_devices()[0]))


def candidate_arrays(candidates: Sequence[Sequence[Words]], vocab, *, k: int, max_length: int,
                     eos_id: int = 3) -> np.ndarray:
  """``[B, k, max_length]`` ids of each pair's first ``k`` candidates (words), EOS last,
  0 after; all 0 (no candidate) past a pair's list, for an empty one, and for
  one too long for ``max_length`` with its EOS (as the tries drop it: the
  search cannot reach it)."""
  out = np.zeros((len(candidates), k, max_length), np.int32)
  for i, cands in enumerate(candidates):
    for j, words in enumerate(cands[:k]):
      ids = list(vocab.encode(words)) if words else []  # words, or word pieces
      if 0 < len(ids) < max_length:
        out[i, j, :len(ids) + 1] = ids + [eos_id]
  return out


def global_trie_arrays(utterances: Iterable[Words], vocab, *, max_length: int,
                       eos_id: int = 3) -> TrieArrays:
  """The global trie of ``utterances`` (words) over ``vocab``, on the device.

  Utterances longer than ``max_length`` tokens (EOS included) or with a word
  outside ``vocab`` are dropped (counted by :func:`fsnlu_jax.decoding.build_trie`).
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
