"""Beam search against brute-force enumeration on toy Markov chains, with and without a trie.

The oracle scores every sequence ``t_1 .. t_n EOS`` (n + 1 <= L) under the chain,
``sum log softmax(table)[t_{i-1}, t_i]`` from BOS, divided by the GNMT length
penalty, and sorts them. With ``W`` beams at least the number of live prefixes
at every depth (and ``2W`` at least the candidates), beam search is exhaustive
and must return exactly the oracle's top ``W``.
"""

from __future__ import annotations

import functools
import itertools

import hypothesis
import hypothesis.strategies as st
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fsnlu_jax.decoding import build_forest, build_trie
from fsnlu_jax.decoding import trie_constraint
from fsnlu_jax.kernels import (beam_search, blocked_top_k, expand_to_beams, length_penalty,
                               pad_trie)
from fsnlu_jax.kernels._beam_search import NEG_INF, _search

BOS, EOS = 0, 1


def log_softmax(x):
  x = np.asarray(x, np.float64)
  return x - np.logaddexp.reduce(x, axis=-1, keepdims=True)


def oracle(table, *, max_length, alpha, allowed=None):
  """``[(score, sequence)]`` best first, for a first-order chain ``table [V, V]``."""
  lp = log_softmax(table)
  # Tokens the chain can never emit (BOS here) are left out, as beam search drops them.
  tokens = [t for t in range(table.shape[0]) if t != EOS and np.isfinite(lp[:, t]).all()]
  out = []
  for n in range(max_length):
    for body in itertools.product(tokens, repeat=n):
      if allowed is not None and body not in allowed:
        continue
      seq = body + (EOS,)
      score = sum(lp[a, b] for a, b in zip((BOS,) + seq[:-1], seq))
      out.append((score / ((5 + len(seq)) / 6) ** alpha, seq))
  return sorted(out, reverse=True)


def random_chains(seed, shape, scale):
  """Random logits with BOS never emitted: else BOS -> 0 -> 3 and BOS -> 3 -> 0 tie."""
  tables = jax.random.normal(jax.random.key(seed), shape) * scale
  return tables.at[..., BOS].set(-jnp.inf)


def chain_step(tables, beam_size):
  """``tokens_to_logits`` of per-row chains ``tables [B, V, V]``; ignores the cache."""
  def step(tokens, cache, i):
    rows = jnp.arange(tokens.shape[0]) // beam_size  # --> [B*W] batch row of each beam
    return tables[rows, tokens], cache
  return step


def assert_matches(result, b, expected, beam_size, max_length):
  expected = expected[:beam_size]
  n = len(expected)
  assert result.finished[b].tolist() == [True] * n + [False] * (beam_size - n)
  np.testing.assert_allclose(result.scores[b, :n], [s for s, _ in expected], rtol=1e-5, atol=1e-5)
  for w, (_, seq) in enumerate(expected):
    padded = list(seq) + [0] * (max_length - len(seq))
    assert result.sequences[b, w].tolist() == padded
    assert result.lengths[b, w] == len(seq)
  assert (np.asarray(result.scores[b, n:]) == NEG_INF).all()
  assert (np.asarray(result.sequences[b, n:]) == 0).all()
  assert (np.asarray(result.lengths[b, n:]) == 0).all()


TRACES = []  # one entry per trace of `decode`
TRIE_SHAPE = dict(num_states=64, num_edges=64, num_dense=8)  # tries padded to one shape


@functools.partial(jax.jit, static_argnames=("beam_size", "max_length", "alpha"))
def decode(tables, trie=None, trie_ids=None, *, beam_size, max_length, alpha):
  TRACES.append((beam_size, max_length, alpha))
  batch, vocab = tables.shape[0], tables.shape[-1]
  constraint = None if trie is None else trie_constraint(trie, vocab_size=vocab, trie_ids=trie_ids)
  return beam_search(chain_step(tables, beam_size), None, batch_size=batch, beam_size=beam_size,
                     max_length=max_length, vocab_size=vocab, bos_id=BOS, eos_id=EOS, alpha=alpha,
                     constraint=constraint)


def test_exhaustive_beam_equals_brute_force(alpha=0.6):  # alpha = 0 is tested below
  # V=5 (BOS never emitted), L=4: at most 3**3 = 27 live prefixes, 4 * 27 <= 2W candidates.
  tables = random_chains(0, (2, 5, 5), 2)
  result = decode(tables, beam_size=64, max_length=4, alpha=alpha)
  for b in range(2):
    expected = oracle(np.asarray(tables[b]), max_length=4, alpha=alpha)
    assert len(expected) == 40 and len({len(s) for _, s in expected}) == 4  # all lengths 1..4
    assert_matches(result, b, expected, 64, 4)


def test_known_best_sequence_needs_a_beam():
  # From BOS, token 2 (p=.5) beats 3 (p=.4), but after 2 all is spread thin while
  # 3 -> EOS is certain: greedy finds 2 ... ; a beam of 2 finds [3, EOS].
  p = np.full((5, 5), 1e-6)
  p[BOS, 2], p[BOS, 3], p[BOS, 4] = .5, .4, .1
  p[2, :] = .2
  p[3, EOS] = 1.
  p[4, EOS] = 1.
  tables = jnp.log(jnp.asarray(p / p.sum(1, keepdims=True), jnp.float32))[None]
  wide = decode(tables, beam_size=2, max_length=4, alpha=0.0)
  assert wide.sequences[0, 0, :2].tolist() == [3, EOS]
  np.testing.assert_allclose(wide.scores[0, 0], np.log(.4), rtol=1e-4)
  greedy = decode(tables, beam_size=1, max_length=4, alpha=0.0)
  assert greedy.sequences[0, 0, 0] == 2


def test_early_exit_when_no_live_beam_can_win():
  p = np.full((4, 4), .01)
  p[:, 2] = .02
  p[:, EOS] = .97  # EOS right away is best, by far: stop after [EOS] and [2, EOS]
  tables = jnp.log(jnp.asarray(p / p.sum(1, keepdims=True), jnp.float32))[None]
  state = jax.jit(lambda t: _search(
      chain_step(t, 2), None, batch_size=1, beam_size=2, max_length=10, vocab_size=4,
      bos_id=BOS, eos_id=EOS, alpha=0.6, constraint=None))(tables)
  assert int(state.cur_index) == 2
  expected = oracle(np.asarray(tables[0]), max_length=3, alpha=0.6)[:2]
  assert [tuple(s[:n]) for s, n in zip(state.finished_seqs[0].tolist(), (1, 2))] == [
      s for _, s in expected]
  np.testing.assert_allclose(state.finished_scores[0], [s for s, _ in expected], rtol=1e-5)


def test_cache_is_reordered_with_the_beams():
  """A second-order chain whose previous-but-one token lives only in the cache."""
  vocab, beams, length = 4, 16, 4
  table2 = random_chains(1, (vocab, vocab, vocab), 2)  # [prev2, prev, next]

  def step(tokens, cache, i):
    before, count = cache
    return table2[before, tokens], (tokens, count + 1)  # count: a scalar leaf, passed through

  cache = expand_to_beams((jnp.full((1,), BOS, jnp.int32), jnp.zeros((), jnp.int32)), beams)
  assert cache[0].shape == (beams,) and cache[1].shape == ()
  result = jax.jit(lambda c: beam_search(step, c, batch_size=1, beam_size=beams,
                                         max_length=length, vocab_size=vocab, bos_id=BOS,
                                         eos_id=EOS, alpha=0.0))(cache)
  lp = log_softmax(table2)
  expected = []
  for n in range(length):
    for body in itertools.product([2, 3], repeat=n):
      seq = body + (EOS,)
      hist = (BOS, BOS) + seq
      expected.append((sum(lp[hist[k], hist[k + 1], hist[k + 2]] for k in range(len(seq))), seq))
  assert_matches(result, 0, sorted(expected, reverse=True), beams, length)
  with pytest.raises(ValueError, match="leading dim must be B\\*W"):
    beam_search(step, (cache[0][:3], cache[1]), batch_size=1, beam_size=beams, max_length=length,
                vocab_size=vocab, bos_id=BOS, eos_id=EOS)


def test_constrained_exhaustive_equals_brute_force_on_trie_paths():
  paths = [(2, 3), (2, 3, 2), (3,), (2, 2, 2), (3, 3, 3), (4, 2)]
  trie = pad_trie(build_trie(paths, vocab_size=5, eos_id=EOS, dense_fanout=1), **TRIE_SHAPE)
  tables = random_chains(2, (2, 5, 5), 3)
  result = decode(tables, trie, beam_size=8, max_length=4, alpha=0.6)
  for b in range(2):
    expected = oracle(np.asarray(tables[b]), max_length=4, alpha=0.6, allowed=set(paths))
    assert len(expected) == 6
    assert_matches(result, b, expected, 8, 4)


def test_personal_tries_per_row_without_recompilation():
  # User 1 has no utterance and user 3 only one longer than L: neither gets an output.
  groups = [[(2,), (2, 3)], [], [(3, 2)], [(2, 2, 2, 2)]]
  forest = build_forest(groups, vocab_size=4, eos_id=EOS)
  tables = random_chains(3, (4, 4, 4), 1)
  before = len(TRACES)
  result = decode(tables, forest, jnp.array([0, 1, 2, 3]), beam_size=4, max_length=4, alpha=0.6)
  assert {tuple(s[:n]) for s, n, f in zip(result.sequences[0].tolist(), result.lengths[0],
                                          result.finished[0]) if f} == {(2, EOS), (2, 3, EOS)}
  assert result.sequences[2, 0, :3].tolist() == [3, 2, EOS] and result.finished[2].sum() == 1
  for b in (1, 3):
    assert not result.finished[b].any() and not result.sequences[b].any()
    assert (np.asarray(result.scores[b]) == NEG_INF).all()
  # Other tables, rows and a forest of the same (padded) shapes: no new trace.
  other = pad_trie(build_forest([[(3,)], [(2, 2)], [], []], vocab_size=4, eos_id=EOS),
                   num_states=forest.num_states, num_edges=forest.num_edges, num_dense=0)
  decode(tables * 2, forest, jnp.array([2, 2, 0, 1]), beam_size=4, max_length=4, alpha=0.6)
  decode(tables, other, jnp.array([0, 1, 2, 3]), beam_size=4, max_length=4, alpha=0.6)
  assert len(TRACES) == before + 1
  np.testing.assert_allclose(length_penalty(1, 0.6), 1.0)


trie_paths = st.lists(st.lists(st.integers(2, 4), min_size=1, max_size=3), min_size=1,
                      max_size=6, unique_by=tuple)


@hypothesis.settings(max_examples=20, deadline=None)
@hypothesis.given(trie_paths, st.integers(0, 2**31 - 1), st.sampled_from([1, 2]))
def test_every_constrained_output_is_a_trie_path(paths, seed, dense_fanout):
  """Random tries (padded to one shape: one compilation) and random chains."""
  trie = pad_trie(build_trie(paths, vocab_size=5, eos_id=EOS, dense_fanout=dense_fanout),
                  **TRIE_SHAPE)
  tables = random_chains(seed, (2, 5, 5), 3)
  result = decode(tables, trie, beam_size=8, max_length=4, alpha=0.6)
  allowed = {tuple(p) for p in paths}
  for b in range(2):
    for seq, n, done in zip(result.sequences[b].tolist(), result.lengths[b].tolist(),
                            result.finished[b].tolist()):
      if done:
        assert seq[n - 1] == EOS and tuple(seq[:n - 1]) in allowed
    # <= 6 paths of <= 3 tokens: W = 8 is exhaustive, so this is the exact top.
    assert_matches(result, b, oracle(np.asarray(tables[b]), max_length=4, alpha=0.6,
                                     allowed=allowed), 8, 4)


@pytest.mark.parametrize("shape,k", [((3, 1200), 4), ((2, 5, 4000), 8), ((4, 30000), 16),
                                     ((3, 1201), 4), ((2, 100), 8)])  # last two: lax.top_k
def test_blocked_top_k_equals_lax_top_k_with_ties(shape, k):
  """Values and indices as lax.top_k's, ties (to the lower index) included, also
  inside a while loop (where XLA:CPU lowers top_k differently)."""
  x = jnp.round(jax.random.normal(jax.random.key(sum(shape)), shape) * 4) / 4  # many ties
  x = x.at[..., : shape[-1] // 3].set(NEG_INF)  # a masked third, all tied
  x = x.at[0].set(NEG_INF)  # a fully masked row
  want = jax.lax.top_k(x, k)
  got = jax.jit(blocked_top_k, static_argnums=1)(x, k)
  np.testing.assert_array_equal(np.asarray(got[0]), np.asarray(want[0]))
  np.testing.assert_array_equal(np.asarray(got[1]), np.asarray(want[1]))
  body = lambda i, carry: tuple(blocked_top_k(x + 0 * i, k))
  in_loop = jax.jit(lambda x: jax.lax.fori_loop(0, 2, body, tuple(want)))(x)
  np.testing.assert_array_equal(np.asarray(in_loop[1]), np.asarray(want[1]))
