"""Trie masks and state advance against a Python walk of a dictionary trie."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fsnlu_jax.decoding import build_forest, build_trie
from fsnlu_jax.kernels import advance, allowed_tokens, pad_trie, root_states

EOS, V = 3, 40


def dict_trie(sequences):
  root = {}
  for seq in sequences:
    node = root
    for token in list(seq) + [EOS]:
      node = node.setdefault(int(token), {})
  return root


def random_groups(rng, num_groups, size, vocab=V):
  # Few distinct first tokens and a skewed draw, so that some states are wide (dense).
  def utterance():
    return [int(t) for t in 4 + rng.zipf(1.3, size=rng.integers(1, 6)) % (vocab - 4)]
  return [[utterance() for _ in range(size)] for _ in range(num_groups)]


def walk(trie, tries, vocab_size):
  """Walks every dict trie alongside the kernels' answers for all states (one call each)."""
  states = jnp.arange(-1, trie.num_states)  # -1: the dead state
  masks = np.asarray(jax.jit(allowed_tokens, static_argnums=2)(trie, states, vocab_size))
  tokens = jnp.tile(jnp.arange(vocab_size), (states.shape[0], 1))  # --> [S + 1, V]
  children = np.asarray(jax.jit(advance)(trie, jnp.repeat(states[:, None], vocab_size, 1), tokens))
  assert not masks[0].any() and (children[0] == -1).all()
  frontier = [(int(r), node) for r, node in zip(trie.roots, tries) if r >= 0]
  visited = set()
  while frontier:
    state, node = frontier.pop()
    visited.add(state)
    mask, row = masks[state + 1], children[state + 1]
    assert np.flatnonzero(mask).tolist() == sorted(node), f"state {state}"
    assert np.flatnonzero(row >= 0).tolist() == sorted(node), f"state {state}"
    frontier += [(int(row[t]), child) for t, child in node.items()]
  return len(visited)


@pytest.mark.parametrize("dense_fanout", [1, 3, 64])
def test_masks_and_advance_equal_a_python_walk(dense_fanout):
  rng = np.random.default_rng(dense_fanout)
  groups = random_groups(rng, 3, 40) + [[]]
  forest = jax.device_put(build_forest(groups, vocab_size=V, eos_id=EOS, dense_fanout=dense_fanout))
  assert (np.asarray(forest.dense_row) > 0).any() == (dense_fanout < 64)
  tries = [dict_trie(g) for g in groups]
  assert walk(forest, tries, V) == forest.num_states


def test_dead_states_and_shapes():
  trie = build_trie([[4, 5], [6]], vocab_size=8, eos_id=EOS)
  states = jnp.array([[0, -1], [-1, 0]])  # --> [B, W]
  mask = allowed_tokens(trie, states, 8)
  assert mask.shape == (2, 2, 8)
  assert not mask[0, 1].any() and mask[0, 0].tolist() == [t in (4, 6) for t in range(8)]
  nxt = advance(trie, states, jnp.array([[4, 4], [5, 7]]))
  assert nxt.shape == (2, 2) and nxt[0, 1] == -1 and nxt[1, 1] == -1 and nxt[0, 0] > 0
  assert advance(trie, nxt[:1, :1], jnp.array([[9]]))[0, 0] == -1  # out of vocab
  with pytest.raises(ValueError, match="vocab_size"):
    allowed_tokens(trie, states, 100)


def test_root_states_per_row():
  forest = build_forest([[[4]], [], [[5]]], vocab_size=8, eos_id=EOS)
  roots = root_states(forest, jnp.array([2, 1, 0]), beam_size=3)
  assert roots.shape == (3, 3)
  assert roots[:, 0].tolist() == [forest.roots[2], -1, forest.roots[0]]


def test_padded_tries_share_one_compilation_and_keep_their_paths():
  traces = []

  @jax.jit
  def step(trie, states, tokens):
    traces.append(1)
    return allowed_tokens(trie, states, V), advance(trie, states, tokens)

  rng = np.random.default_rng(7)
  for i in range(3):
    trie = build_trie(random_groups(rng, 1, 20 + 10 * i)[0], vocab_size=V, eos_id=EOS,
                      dense_fanout=4)
    padded = pad_trie(trie, num_states=400, num_edges=400, num_dense=20, num_roots=2)
    states = jnp.array(rng.integers(-1, trie.num_states, size=(4, 3)), jnp.int32)
    tokens = jnp.array(rng.integers(0, V, size=(4, 3)), jnp.int32)
    got, want = step(padded, states, tokens), step.__wrapped__(trie, states, tokens)
    for g, w in zip(got, want):
      np.testing.assert_array_equal(g, w)
  assert len(traces) == 1 + 3  # one jitted trace, three eager calls of the wrapped function
  with pytest.raises(ValueError, match="cannot pad"):
    pad_trie(trie, num_states=1, num_edges=1, num_dense=0)
