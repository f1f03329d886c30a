"""The mention constraint against a brute-force check: every finished sample holds every phrase."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fsnlu_jax.kernels import sample
from fsnlu_jax.parse.mention import mention_constraint, phrase_arrays

V, EOS, BOS = 12, 1, 0


def _contains(seq: list[int], phrase: list[int]) -> bool:
  return any(seq[i:i + len(phrase)] == phrase for i in range(len(seq) - len(phrase) + 1))


def test_every_finished_sample_mentions_every_phrase_and_rows_that_fit_finish():
  rng = np.random.default_rng(0)
  rows = [[[3, 4], [5]], [[6, 6, 7]], [], [[3, 4, 3], [4, 3]], [[2], [8, 9, 10]]] * 8
  pieces, lengths = phrase_arrays(rows)
  assert pieces.shape == (40, 2, 3) and lengths[2].tolist() == [0, 0]
  # A model that loves EOS and the tokens no phrase uses: left alone it would never mention.
  table = np.log(rng.dirichlet(np.ones(V), size=V)).astype(np.float32)
  table[:, EOS] += 3.0
  step = lambda tokens, cache, i: (jnp.asarray(table)[tokens], cache)
  max_length = 9

  # Free text may not use 2 or 11 (a tokenizer's specials); 2 still comes when a phrase needs it.
  usable = np.ones(V, bool)
  usable[[2, 11]] = False
  table[:, 11] += 3.0

  @jax.jit
  def run(pieces, lengths, key, usable):
    return sample(step, None, rng=key, batch_size=len(rows), max_length=max_length,
                  vocab_size=V, bos_id=BOS, eos_id=EOS, temperature=1.5,
                  constraint=mention_constraint(pieces, lengths, vocab_size=V, eos_id=EOS,
                                                max_length=max_length, usable=usable))

  for seed in range(3):
    out = jax.device_get(run(pieces, lengths, jax.random.key(seed), usable))
    assert out.finished.all()  # every row's phrases fit in 9 tokens
    for b, row in enumerate(rows):
      seq = out.sequences[b, :out.lengths[b]].tolist()
      assert seq[-1] == EOS and EOS not in seq[:-1]
      assert all(_contains(seq, phrase) for phrase in row), (row, seq)
      assert 11 not in seq and seq.count(2) == sum(p.count(2) for p in row), (row, seq)


def test_phrase_arrays_refuse_empty_or_too_many():
  with pytest.raises(ValueError, match="pieces"):
    phrase_arrays([[[]]])
  with pytest.raises(ValueError, match="phrases"):
    phrase_arrays([[[1], [2]]], max_phrases=1)


def test_an_owed_piece_free_text_may_not_use_is_written_anywhere_and_once():
  # A placeholder ([unused0]-like piece 2) the model likes: written where the model puts it,
  # not only when the constraint forces it at the end, and never a second time.
  table = np.zeros((V, V), np.float32)
  table[:, 2] = 4.0
  table[:, EOS] = -4.0
  step = lambda tokens, cache, i: (jnp.asarray(table)[tokens], cache)
  pieces, lengths = phrase_arrays([[[2], [5]]] * 16)
  usable = np.ones(V, bool)
  usable[2] = False
  max_length = 12
  out = jax.device_get(sample(
      step, None, rng=jax.random.key(0), batch_size=16, max_length=max_length, vocab_size=V,
      bos_id=BOS, eos_id=EOS, constraint=mention_constraint(
          pieces, lengths, vocab_size=V, eos_id=EOS, max_length=max_length, usable=usable)))
  for b in range(16):
    seq = out.sequences[b, :out.lengths[b]].tolist()
    assert seq.count(2) == 1 and 5 in seq, seq
  assert (out.sequences[:, 0] == 2).mean() > 0.5  # the model's choice (p = 0.85) at the first step


def test_in_order_phrases_start_only_after_the_ones_before():
  # Two placeholders (unusable pieces 3 and 2) the model prefers in the wrong order.
  table = np.zeros((V, V), np.float32)
  table[:, 3] = 3.0
  table[:, 2] = 2.0
  step = lambda tokens, cache, i: (jnp.asarray(table)[tokens], cache)
  pieces, lengths = phrase_arrays([[[2], [3]]] * 16)
  usable = np.ones(V, bool)
  usable[[2, 3]] = False
  for in_order in (False, True):
    out = jax.device_get(sample(
        step, None, rng=jax.random.key(1), batch_size=16, max_length=10, vocab_size=V,
        bos_id=BOS, eos_id=EOS, constraint=mention_constraint(
            pieces, lengths, vocab_size=V, eos_id=EOS, max_length=10, usable=usable,
            in_order=in_order)))
    seqs = [out.sequences[b, :out.lengths[b]].tolist() for b in range(16)]
    assert all(s.count(2) == 1 and s.count(3) == 1 for s in seqs), seqs
    first_is_2 = [s.index(2) < s.index(3) for s in seqs]
    assert all(first_is_2) if in_order else not all(first_is_2)


def _occurrences(seq: list[int], phrase: list[int]) -> int:
  """Non-overlapping left-to-right occurrences of ``phrase`` in ``seq``."""
  count = i = 0
  while i <= len(seq) - len(phrase):
    if seq[i:i + len(phrase)] == phrase:
      count, i = count + 1, i + len(phrase)
    else:
      i += 1
  return count


def test_capped_phrases_are_said_at_least_once_and_at_most_their_cap():
  """A model that loves the phrases' pieces: uncapped it says them again and again;
  capped, each is said between once and its cap (0: unlimited) in every sample."""
  rows = [[[3], [4, 5]], [[6, 7, 8], [3]], [[4, 5], [9]]] * 6
  caps = np.array([[1, 2], [1, 0], [2, 1]] * 6, np.int32)
  pieces, lengths = phrase_arrays(rows)
  table = np.zeros((V, V), np.float32)
  table[:, [3, 4, 5, 6, 7, 8, 9]] = 2.5
  table[:, EOS] = -1.0
  step = lambda tokens, cache, i: (jnp.asarray(table)[tokens], cache)
  max_length = 16

  @jax.jit
  def run(key, caps):
    return sample(step, None, rng=key, batch_size=len(rows), max_length=max_length,
                  vocab_size=V, bos_id=BOS, eos_id=EOS,
                  constraint=mention_constraint(pieces, lengths, vocab_size=V, eos_id=EOS,
                                                max_length=max_length, caps=caps))

  over_uncapped = 0
  for seed in range(4):
    free = jax.device_get(run(jax.random.key(seed), jnp.zeros_like(caps)))
    capped = jax.device_get(run(jax.random.key(seed), jnp.asarray(caps)))
    for b, row in enumerate(rows):
      seq = capped.sequences[b, :capped.lengths[b]].tolist()
      assert capped.finished[b] and seq[-1] == EOS
      for phrase, cap in zip(row, caps[b]):
        n = _occurrences(seq, phrase)
        assert n >= 1 and (cap == 0 or n <= cap), (row, caps[b].tolist(), seq)
      loose = free.sequences[b, :free.lengths[b]].tolist()
      over_uncapped += any(cap and _occurrences(loose, p) > cap for p, cap in zip(row, caps[b]))
  assert over_uncapped > 10  # the caps are what held the capped samples back
