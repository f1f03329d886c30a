"""Dead-end pruning against a brute-force oracle: host-side co-reachability of EOS."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fsnlu_jax.decoding import (TreeGrammar, build_tree_grammar, ending_states, forbid_edges,
                                live_states, prune_dead_ends, tree_grammar_constraint)
from fsnlu_jax.kernels import (Constraint, all_of, beam_search, expand_to_beams,
                               row_masked_constraint)

# Two entities whose values a row mask can take away: X ("ab", "abc", "b") and Y ("cd", "d").
GRAMMAR = TreeGrammar("R", {"R": frozenset({"P", "Q"}), "P": frozenset({"X", "N", "Y"}),
                            "N": frozenset({"X"}), "Q": frozenset({"Y"})},
                      {"X": ("ab", "abc", "b"), "Y": ("cd", "d")})
EOS = 0
CHARS = {c: i for i, c in enumerate("()RPQNXYabcd", start=1)}
VALUE_PIECES = [CHARS[c] for c in "abcd"]
VOCAB = 16


def _automaton(dense_fanout: int):
  return build_tree_grammar(GRAMMAR, lambda w: [CHARS[c] for c in w], vocab_size=VOCAB,
                            eos_id=EOS, dense_fanout=dense_fanout)


def _masks(rng: np.random.Generator, rows: int) -> np.ndarray:
  """bool [rows, V]: every grammar piece allowed, each value piece at random."""
  mask = np.ones((rows, VOCAB), bool)
  mask[:, VALUE_PIECES] = rng.random((rows, len(VALUE_PIECES))) < 0.5
  return mask


def _edge(automaton, state: int, token: int) -> int:
  """The index of the edge ``state -token->`` (host-side)."""
  lo, hi = automaton.arrays.offsets[state], automaton.arrays.offsets[state + 1]
  return int(lo + np.flatnonzero(automaton.arrays.edge_tokens[lo:hi] == token)[0])


def _edge_ok(automaton, state: int, token: int, ok_edges) -> bool:
  return ok_edges is None or bool(ok_edges[_edge(automaton, state, token)])


def _oracle_live(automaton, mask: np.ndarray, ok_edges=None) -> np.ndarray:
  """bool [S]: states with a path of allowed tokens (and edges) to EOS (backward search)."""
  num_states = automaton.num_states
  into: dict[int, list[int]] = {s: [] for s in range(num_states)}
  live = np.zeros(num_states, bool)
  for state in range(num_states):
    for token in automaton.allowed(state):
      if not mask[token] or not _edge_ok(automaton, state, int(token), ok_edges):
        continue
      if token == EOS:
        live[state] = True
      else:
        into[automaton.step(state, int(token))].append(state)
  todo = list(np.flatnonzero(live))
  while todo:
    for parent in into[todo.pop()]:
      if not live[parent]:
        live[parent] = True
        todo.append(parent)
  # The state after EOS is the goal (live_states counts it live).
  for state in range(num_states):
    if EOS in automaton.allowed(state):
      live[automaton.step(state, EOS)] = True
  return live


@pytest.mark.parametrize("dense_fanout", [2, 32])
def test_live_states_equal_the_oracle_and_jit_equals_eager(dense_fanout):
  automaton = _automaton(dense_fanout)
  masks = _masks(np.random.default_rng(dense_fanout), 24)
  arrays = jax.device_put(automaton.arrays)
  eager = np.asarray(live_states(arrays, jnp.asarray(masks), eos_id=EOS))
  jitted = jax.jit(lambda a, m: live_states(a, m, eos_id=EOS))
  np.testing.assert_array_equal(np.asarray(jitted(arrays, jnp.asarray(masks))), eager)
  for row, mask in enumerate(masks):
    np.testing.assert_array_equal(eager[row], _oracle_live(automaton, mask), err_msg=str(row))
  # The masks take values away, so some rows lose states and some keep all.
  starts = eager[:, 0]
  assert 0 < starts.sum() < len(starts)
  jitted(arrays, jnp.asarray(masks[::-1].copy()))
  assert jitted._cache_size() == 1  # a new mask reuses the compiled fixed point


@pytest.mark.parametrize("dense_fanout,every_state,value_rule", [
    (2, False, False), (32, False, False), (2, True, False), (2, True, True)])
def test_pruned_mask_is_exactly_the_allowed_tokens_that_can_still_finish(
    dense_fanout, every_state, value_rule):
  """Sparse states pruned (dense ones too with ``max_fanout``); with an edge mask (the
  value "b" forbidden in odd rows, by its completing edge) the oracle walks it too."""
  automaton = _automaton(dense_fanout)
  masks = _masks(np.random.default_rng(7), 16)
  arrays = jax.device_put(automaton.arrays)
  fanout = np.diff(np.asarray(automaton.arrays.offsets))
  edge_mask = None
  if value_rule:
    b_edges = automaton.edge_values == automaton.value_symbols.index("b")
    edge_mask = np.ones((len(masks), len(b_edges)), bool)
    edge_mask[1::2] = ~b_edges
  live = live_states(arrays, jnp.asarray(masks), eos_id=EOS,
                     edge_mask=None if edge_mask is None else jnp.asarray(edge_mask))
  constraint = prune_dead_ends(
      row_masked_constraint(tree_grammar_constraint(arrays, vocab_size=VOCAB), masks),
      arrays, live, edge_mask=None if edge_mask is None else jnp.asarray(edge_mask),
      max_fanout=int(fanout.max()) if every_state else None)
  num_states = automaton.num_states
  states = jnp.broadcast_to(jnp.arange(num_states, dtype=jnp.int32), (len(masks), num_states))
  got = np.asarray(jax.jit(constraint.allowed)(states))  # --> [B, S, V]
  for row, mask in enumerate(masks):
    ok_edges = None if edge_mask is None else edge_mask[row]
    oracle = _oracle_live(automaton, mask, ok_edges)
    for state in range(num_states):
      want = np.zeros(VOCAB, bool)
      for token in automaton.allowed(state):
        if not mask[token]:
          continue
        skipped = fanout[state] > dense_fanout and not every_state
        if skipped or (_edge_ok(automaton, state, int(token), ok_edges)
                       and oracle[automaton.step(state, int(token))]):
          want[token] = True
      np.testing.assert_array_equal(got[row, state], want, err_msg=f"row {row} state {state}")


def test_edge_values_name_the_value_an_edge_completes_when_that_is_all_it_means():
  automaton = _automaton(2)
  assert automaton.value_symbols == ("ab", "abc", "b", "cd", "d")
  for text, said in [("(R (P (X ab ) ) )", []),  # "b" after "a" also goes on to "abc"
                     ("(R (P (X abc ) ) )", ["abc"]), ("(R (Q (Y cd ) ) )", ["cd"]),
                     ("(R (P (X b ) (N (X b ) ) (Y d ) ) )", ["b", "b", "d"])]:
    state, found = int(automaton.arrays.roots[0]), []
    for token in [CHARS[c] for word in text.split() for c in word] + [EOS]:
      edge = _edge(automaton, state, token)
      if automaton.edge_values[edge] >= 0:
        found.append(automaton.value_symbols[automaton.edge_values[edge]])
      state = automaton.step(state, token)
    assert found == said, text


def test_random_walks_under_pruning_never_dead_end():
  automaton = _automaton(32)  # every state sparse: pruning is complete
  rng = np.random.default_rng(1)
  masks = _masks(rng, 40)
  arrays = jax.device_put(automaton.arrays)
  live = np.asarray(live_states(arrays, jnp.asarray(masks), eos_id=EOS))
  constraint = prune_dead_ends(
      row_masked_constraint(tree_grammar_constraint(arrays, vocab_size=VOCAB), masks),
      arrays, jnp.asarray(live))
  allowed, advance = jax.jit(constraint.allowed), jax.jit(constraint.advance)
  for _ in range(5):
    states = constraint.init(len(masks), 1)
    done = ~live[:, :1]  # rows where no tree is possible: nothing to check
    for _ in range(300):
      options = np.asarray(allowed(states))[:, 0]
      assert (options.any(-1) | done[:, 0]).all(), "a live row reached a dead end"
      tokens = np.asarray([rng.choice(np.flatnonzero(o)) if o.any() else EOS for o in options])
      done |= (tokens == EOS)[:, None]
      states = advance(states, jnp.asarray(tokens[:, None]))
      if done.all():
        break
    assert done.mean() > 0.9  # uniform choices may nest long; none may get stuck


def _greedy(constraint, bias: np.ndarray, later: np.ndarray | None = None):
  """The ids of a greedy search (beam 1) under fixed logits ``bias`` [1, V] (plus ``later``
  from step 8 on), or None if it did not finish."""
  later = np.zeros_like(bias) if later is None else later
  step = lambda tokens, cache, i: (jax.nn.log_softmax(cache + (i >= 8) * later), cache)
  out = beam_search(step, expand_to_beams(jnp.asarray(bias), 1), batch_size=1, beam_size=1,
                    max_length=40, vocab_size=VOCAB, bos_id=EOS, eos_id=EOS,
                    constraint=constraint)
  if not bool(out.finished[0, 0]):
    return None
  return np.asarray(out.sequences[0, 0, :int(out.lengths[0, 0])])


def test_greedy_search_finishes_where_the_unpruned_one_dies():
  """The model wants Y; the row mentions no Y value: unpruned, the greedy beam opens Y and
  dies; pruned, it writes X instead."""
  automaton = _automaton(32)
  arrays = jax.device_put(automaton.arrays)
  mask = np.ones((1, VOCAB), bool)
  mask[0, [CHARS["c"], CHARS["d"]]] = False  # no Y value can be written
  bias = np.zeros((1, VOCAB), np.float32)
  bias[0, CHARS["Y"]] = 5.0
  bias[0, CHARS[")"]] = 2.0  # close when allowed, so the greedy tree ends

  def decode(prune: bool):
    constraint = row_masked_constraint(tree_grammar_constraint(arrays, vocab_size=VOCAB), mask)
    if prune:
      constraint = prune_dead_ends(constraint, arrays,
                                   live_states(arrays, jnp.asarray(mask), eos_id=EOS))
    return _greedy(constraint, bias)

  assert decode(False) is None
  tree = automaton.decode(decode(True))
  assert tree is not None and "(Y" not in tree and "(X" in tree


def test_ending_states_are_those_with_only_eos_after_them():
  automaton = _automaton(2)
  got = np.asarray(ending_states(jax.device_put(automaton.arrays), eos_id=EOS))
  want = [list(automaton.allowed(s)) == [EOS] for s in range(automaton.num_states)]
  np.testing.assert_array_equal(got, want)
  assert got.sum() == 1  # the root closed


def test_forbid_edges_keeps_the_root_open_until_another_constraint_lets_it_end():
  """A second constraint forbids EOS until ``d`` was written; the model wants to close
  at once. Unguarded, the greedy beam closes the root and dies (only EOS may follow);
  with the edges into ending states forbidden until then, it writes a Y with ``d``."""
  automaton = _automaton(32)
  arrays = jax.device_put(automaton.arrays)
  needs_d = Constraint(init=lambda b, w: jnp.zeros((b, w), bool),
                       allowed=lambda seen: (jnp.arange(VOCAB) != EOS) | seen[..., None],
                       advance=lambda seen, tokens: seen | (tokens == CHARS["d"]))
  bias = np.zeros((1, VOCAB), np.float32)
  bias[0, CHARS[")"]] = 3.0
  bias[0, CHARS["X"]] = 2.0  # an X is opened before anything else
  bias[0, CHARS["b"]] = 1.0
  bias[0, CHARS["d"]] = 0.5
  later = np.zeros((1, VOCAB), np.float32)
  later[0, CHARS["Q"]] = 1.0  # after the first order, the model would take a Q (whose Y says d)

  def decode(guard: bool):
    constraint = all_of(tree_grammar_constraint(arrays, vocab_size=VOCAB), needs_d)
    if guard:
      ending = ending_states(arrays, eos_id=EOS)
      constraint = forbid_edges(
          constraint, arrays,
          lambda s, edges: ending[arrays.edge_child[edges]] & ~s[1][..., None],
          automaton_state=lambda s: s[0])
    return _greedy(constraint, bias, later)

  assert decode(False) is None
  tree = automaton.decode(decode(True))
  assert tree is not None and "d" in tree.split(), tree
