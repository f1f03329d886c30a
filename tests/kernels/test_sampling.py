"""Constrained sampling against exact distributions enumerated in NumPy on toy Markov chains.

The oracle walks every prefix of a first-order chain ``table [V, V]`` (logits
of the next token given the last) under a trie, applies the documented order
(constraint mask, temperature, top-k, top-p) to get each step's distribution,
and multiplies: the exact probability of every finished sequence. Many rows
sampled in one call must show those frequencies; a fixed key makes every check
deterministic.
"""

from __future__ import annotations

import hypothesis
import hypothesis.strategies as st
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fsnlu_jax.decoding import build_forest, trie_constraint
from fsnlu_jax.kernels import _sampling, beam_search, filter_logits, pad_trie, sample
from fsnlu_jax.kernels._beam_search import NEG_INF

BOS, EOS, V, L = 0, 1, 6, 4
PATHS = [(2,), (2, 3), (2, 3, 4), (3, 5), (4,), (4, 2, 5), (5, 5, 5), (3, 2, 2), (5, 3)]
TRIE_SHAPE = dict(num_states=32, num_edges=32, num_dense=8, num_roots=3)
# Rows per setting, and the settings (temperature, top_p) sampled together (top_k = 3).
N = 6000
SETTINGS = [(1.0, 1.0), (0.6, 0.7), (1.5, 0.9), (1e-3, 1.0)]


def chain(seed: int) -> np.ndarray:
  return (1.5 * np.random.default_rng(seed).standard_normal((V, V))).astype(np.float32)


def softmax(x):
  z = np.exp(x - x.max())
  return z / z.sum()


def next_tokens(paths, prefix) -> set[int]:
  n = len(prefix)
  out = {p[n] for p in paths if len(p) > n and p[:n] == prefix}
  return out | ({EOS} if prefix in paths else set())


def step_distribution(logits, allowed, temperature, top_k, top_p) -> np.ndarray:
  """The documented order, in float64: mask, temperature, top-k, top-p."""
  x = np.full(V, -np.inf)
  idx = sorted(allowed)
  x[idx] = np.asarray(logits, np.float64)[idx] / temperature
  if top_k:
    x[x < np.sort(x)[::-1][top_k - 1]] = -np.inf
  if top_p < 1:
    ranked = np.sort(x)[::-1]
    probs = softmax(ranked)
    keep = (np.cumsum(probs) - probs < top_p) & np.isfinite(ranked)
    keep[0] = True
    x[x < ranked[keep].min()] = -np.inf
  return softmax(x)


def oracle(table, paths, *, temperature, top_k, top_p) -> dict[tuple, float]:
  """``{finished sequence: probability}`` (the rest of the mass: unfinished)."""
  out = {}

  def walk(prefix, prob):
    if len(prefix) == L:
      return
    allowed = next_tokens(paths, prefix)
    if not allowed:
      return
    dist = step_distribution(table[prefix[-1] if prefix else BOS], allowed, temperature,
                             top_k, top_p)
    for t in np.flatnonzero(dist):
      if t == EOS:
        out[prefix + (EOS,)] = prob * dist[t]
      else:
        walk(prefix + (int(t),), prob * dist[t])

  walk((), 1.0)
  return out


def greedy(table, paths) -> tuple:
  prefix = ()
  while True:
    allowed = sorted(next_tokens(paths, prefix))
    t = allowed[int(np.argmax(table[prefix[-1] if prefix else BOS][allowed]))]
    prefix += (t,)
    if t == EOS:
      return prefix


def forest(groups):
  """Padded to one shape (one compilation), on the device (usable eagerly too). The
  root's fan-out is above F = 2: its mask comes from a dense row, the others' from edges."""
  return jax.device_put(pad_trie(build_forest(groups, vocab_size=V, eos_id=EOS, dense_fanout=2),
                                 **TRIE_SHAPE))


TRACES = []


def _sample(table, trie, trie_ids, key, temperature, top_p, *, top_k):
  TRACES.append(top_k)
  return sample(lambda tokens, cache, i: (table[tokens], cache), None, rng=key,
                batch_size=trie_ids.shape[0], max_length=L, vocab_size=V, bos_id=BOS,
                eos_id=EOS, temperature=temperature, top_k=top_k, top_p=top_p,
                constraint=trie_constraint(trie, vocab_size=V, trie_ids=trie_ids))


draw = jax.jit(_sample, static_argnames=("top_k",))


def per_row(settings, rows):
  """``temperature``, ``top_p`` as ``[B, 1]``: ``rows`` rows of each setting."""
  values = np.repeat(np.asarray(settings, np.float32), rows, axis=0)
  return jnp.asarray(values[:, :1]), jnp.asarray(values[:, 1:])


def sequences(result) -> list[tuple]:
  """Finished rows as tuples ending in EOS; None for the others."""
  return [tuple(s[:n]) if f else None for s, n, f in zip(
      result.sequences.tolist(), result.lengths.tolist(), result.finished.tolist())]


def model_logprob(table, seq) -> float:
  lp = table - np.logaddexp.reduce(table.astype(np.float64), axis=-1, keepdims=True)
  return sum(lp[a, b] for a, b in zip((BOS,) + seq[:-1], seq))


@pytest.fixture(scope="module")
def many():
  """One call: N rows for each setting, top_k = 3, under the trie of PATHS."""
  table = chain(0)
  temperature, top_p = per_row(SETTINGS, N)
  result = draw(jnp.asarray(table), forest([PATHS]), jnp.zeros(len(SETTINGS) * N, jnp.int32),
                jax.random.key(0), temperature, top_p, top_k=3)
  return table, sequences(result), result


def test_frequencies_match_the_exact_constrained_top_k_top_p_distribution(many):
  table, drawn, result = many
  for g, (temperature, top_p) in enumerate(SETTINGS):
    exact = oracle(table, PATHS, temperature=temperature, top_k=3, top_p=top_p)
    assert abs(sum(exact.values()) - 1) < 1e-9  # every path fits in L: all finish
    rows = drawn[g * N:(g + 1) * N]
    assert None not in rows
    counts = {s: rows.count(s) / N for s in set(rows)}
    assert set(counts) <= set(exact), set(counts) - set(exact)  # nothing the oracle excludes
    for seq, p in exact.items():
      tolerance = 4.5 * np.sqrt(p * (1 - p) / N) + 2 / N
      assert abs(counts.get(seq, 0.0) - p) <= tolerance, (temperature, top_p, seq, p, counts)
  # The settings differ: top-p and temperature change what is drawn.
  assert len(set(drawn[N:2 * N])) < len(set(drawn[:N]))


def test_every_sample_is_a_trie_path_scored_by_the_untempered_model(many):
  table, drawn, result = many
  assert all(s[-1] == EOS and s[:-1] in PATHS for s in drawn)
  firsts = {s: i for i, s in enumerate(drawn)}  # one row per distinct sequence
  for seq, i in firsts.items():
    np.testing.assert_allclose(result.logprobs[i], model_logprob(table, seq), rtol=1e-5)
  assert (np.asarray(result.sequences)[np.arange(len(drawn)), np.asarray(result.lengths) - 1]
          == EOS).all()
  # Nothing after EOS.
  after = np.arange(L)[None] >= np.asarray(result.lengths)[:, None]
  assert not np.asarray(result.sequences)[after].any()


def test_near_zero_temperature_and_top_k_1_are_greedy_as_beam_search_of_one(many):
  """Also: rows of an empty trie (no allowed token) and of a trie whose only
  path is longer than L stop unfinished."""
  table, drawn, _ = many
  best = greedy(table, PATHS)
  assert set(drawn[3 * N:]) == {best}  # temperature 1e-3
  trie = forest([PATHS, [], [(2, 3, 4, 5, 2)]])
  out = draw(jnp.asarray(table), trie, jnp.array([0, 1, 2, 0], jnp.int32), jax.random.key(1),
             1.0, 1.0, top_k=1)
  assert sequences(out) == [best, None, None, best]
  assert out.lengths[1] == out.lengths[2] == 0 and not out.sequences[1:3].any()
  assert (np.asarray(out.logprobs[1:3]) == NEG_INF).all()
  beam = jax.jit(lambda table, trie: beam_search(
      lambda tokens, cache, i: (table[tokens], cache), None, batch_size=1, beam_size=1,
      max_length=L, vocab_size=V, bos_id=BOS, eos_id=EOS, alpha=0.0,
      constraint=trie_constraint(trie, vocab_size=V)))(jnp.asarray(table), trie)
  assert tuple(beam.sequences[0, 0, :int(beam.lengths[0, 0])].tolist()) == best


def test_jit_equals_eager_and_settings_are_checked(many):
  table, _, result = many
  temperature, top_p = per_row(SETTINGS, N)
  args = (jnp.asarray(table), forest([PATHS]), jnp.zeros(len(SETTINGS) * N, jnp.int32),
          jax.random.key(0))
  eager = _sample(*args, temperature, top_p, top_k=3)
  for a, b in zip(result, eager):
    np.testing.assert_array_equal(a, b)
  with pytest.raises(ValueError, match="temperature"):
    _sample(*args, 0.0, 0.9, top_k=3)
  with pytest.raises(ValueError, match="top_p"):
    _sample(*args, 1.0, 0.0, top_k=3)
  with pytest.raises(ValueError, match="leading dim must be B"):
    sample(lambda tokens, cache, i: (tokens, cache), jnp.zeros(3), rng=jax.random.key(0),
           batch_size=2, max_length=L, vocab_size=V, bos_id=BOS, eos_id=EOS)


def test_filter_logits_keeps_the_documented_tokens():
  cases = [dict(top_k=2), dict(top_p=0.7), dict(top_p=0.71), dict(top_p=0.01),
           dict(top_k=3, top_p=0.9)]
  logits = jnp.log(jnp.array([[0.5, 0.2, 0.15, 0.1, 0.05, 0.0]]))
  kept = jax.jit(lambda x: [jnp.isfinite(filter_logits(x, **kw)[0]) for kw in cases])(logits)
  assert [np.flatnonzero(k).tolist() for k in kept] == [
      [0, 1],  # top-k 2
      [0, 1],  # 0.5 + 0.2 reaches 0.7
      [0, 1, 2],  # ... but not 0.71
      [0],  # the top token always stays
      [0, 1, 2]]  # top-p over the top 3


@pytest.mark.parametrize("seed", range(4))
def test_bisection_thresholds_equal_a_sort(seed):
  """k-th largest and the top-p cut against sorting, with ties, -inf, signed zeros."""
  rng = np.random.default_rng(seed)
  x = rng.choice(np.float32([-np.inf, -3.5, -1.0, -0.0, 0.0, 0.25, 2.0, 7.5]), (5, 37))
  x = np.where(rng.random(x.shape) < 0.5, rng.standard_normal(x.shape) * 10, x).astype(np.float32)
  x[0] = -np.inf
  x[0, 3] = 1.0  # one finite value
  for k in (1, 2, 5, 36, 37):
    assert np.array_equal(np.asarray(_sampling.kth_largest(jnp.asarray(x), k)),
                          np.sort(x, axis=-1)[:, ::-1][:, k - 1:k])
  # A traced top_p of 1 keeps all when the float32 total rounds below 1 (0.99999994 here).
  row = jnp.asarray([[0.18859532, -0.1981573, 0.960634, -np.inf]], jnp.float32)
  assert (row >= _sampling.nucleus_threshold(row, jnp.ones((1, 1))))[:, :3].all()
  for top_p in (0.05, 0.5, 0.9, 0.999):
    got = np.asarray(_sampling.nucleus_threshold(jnp.asarray(x), jnp.full((5, 1), top_p)))[:, 0]
    for row, t in zip(x.astype(np.float64), got):
      ranked = np.sort(row)[::-1]
      probs = softmax(ranked)
      keep = (np.cumsum(probs) - probs < top_p) & np.isfinite(ranked)
      keep[0] = True
      kept = np.isfinite(row) & (row >= ranked[keep].min())
      assert np.array_equal(np.isfinite(row) & (row >= t), kept), (top_p, row, t)


def test_filter_logits_through_the_chunk_pool_equals_a_sort():
  """V = 1000, k = 5: the pre-selected chunks hold the whole answer (ties, -inf, top-p)."""
  rng = np.random.default_rng(0)
  x = rng.standard_normal((6, 1000)).astype(np.float32) * 3
  x[:, rng.integers(0, 1000, 300)] = -np.inf
  x[0, [10, 400, 900]] = x[0].max() - 1.0  # ties at the k-th value, in different chunks
  x[1, 200:] = -np.inf  # the answer in the first chunks only
  for top_k, top_p in ((5, 1.0), (40, 1.0), (5, 0.6), (40, 0.8)):
    got = np.isfinite(np.asarray(filter_logits(jnp.asarray(x), top_k=top_k, top_p=top_p)))
    for row, kept in zip(x.astype(np.float64), got):
      want = row >= np.sort(row)[::-1][top_k - 1]
      if top_p < 1:
        ranked = np.sort(np.where(want, row, -np.inf))[::-1]
        probs = softmax(ranked)
        keep = (np.cumsum(probs) - probs < top_p) & np.isfinite(ranked)
        keep[0] = True
        want &= row >= ranked[keep].min()
      assert np.array_equal(kept, want & np.isfinite(row)), (top_k, top_p)


def test_categorical_draws_each_token_with_its_probability():
  """Two-level inverse CDF against the exact softmax, -inf tokens and empty chunks included."""
  logits = np.random.default_rng(1).standard_normal(100).astype(np.float32)
  logits[[0, 31, 32, 33, 63, 64, 99]] = -np.inf  # chunk ends and a whole chunk (64..95)
  logits[64:96] = -np.inf
  rows = 40_000
  drawn = np.asarray(_sampling.categorical(jax.random.key(0),
                                           jnp.broadcast_to(jnp.asarray(logits), (rows, 100))))
  freq = np.bincount(drawn, minlength=100) / rows
  exact = softmax(logits.astype(np.float64))
  assert freq[~np.isfinite(logits)].sum() == 0
  tolerance = 4 * np.sqrt(exact * (1 - exact) / rows) + 1e-9  # 4 sd of each frequency
  assert np.all(np.abs(freq - exact) <= tolerance), np.abs(freq - exact) / tolerance
  assert _sampling.categorical(jax.random.key(0), jnp.full((2, 5), -jnp.inf)).tolist() == [0, 0]


trie_paths = st.lists(st.lists(st.integers(2, 5), min_size=1, max_size=L - 1), min_size=1,
                      max_size=6, unique_by=tuple)


@hypothesis.settings(max_examples=6, deadline=None)
@hypothesis.given(trie_paths, st.integers(0, 2**31 - 1))
def test_random_tries_are_never_left_and_nothing_recompiles(many, paths, seed):
  """Other tries, tables and keys of the same shapes reuse the compiled sampler."""
  traces = len(TRACES)
  temperature, top_p = per_row(SETTINGS, N)
  result = draw(jnp.asarray(chain(seed)), forest([[tuple(p) for p in paths]]),
                jnp.zeros(len(SETTINGS) * N, jnp.int32), jax.random.key(seed), temperature,
                top_p, top_k=3)
  allowed = {tuple(p) for p in paths}
  drawn = set(sequences(result))
  assert None not in drawn and all(s[:-1] in allowed for s in drawn)
  assert len(TRACES) == traces
