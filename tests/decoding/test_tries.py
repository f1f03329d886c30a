"""The vectorised trie builder against a dictionary trie built one utterance at a time."""

from __future__ import annotations

import hypothesis
import hypothesis.strategies as st
import numpy as np
import pytest

from fsnlu_jax.data.defects import DefectLog
from fsnlu_jax.decoding import build_forest, build_trie

EOS = 3
utterances = st.lists(st.lists(st.integers(4, 9), min_size=1, max_size=5), max_size=12)


def dict_trie(sequences):
  """A nested-dict trie of ``sequence + [EOS]``; returns ``(root, number of nodes)``."""
  root, nodes = {}, 1
  for seq in sequences:
    node = root
    for token in list(seq) + [EOS]:
      if token not in node:
        node[token] = {}
        nodes += 1
      node = node[token]
  return root, nodes


def paths(trie, state):
  """Every root-to-EOS path below ``state`` of the array trie, read on the host."""
  if state < 0:
    return set()
  found, stack = set(), [(int(state), ())]
  while stack:
    s, prefix = stack.pop()
    for e in range(trie.offsets[s], trie.offsets[s + 1]):
      token = int(trie.edge_tokens[e])
      if token == EOS:
        found.add(prefix)
        assert trie.offsets[trie.edge_child[e] + 1] == trie.offsets[trie.edge_child[e]], "EOS leaf"
      else:
        stack.append((int(trie.edge_child[e]), prefix + (token,)))
  return found


def check_layout(trie, vocab_size):
  """Edges sorted by token within each state; dense rows hold exactly the children."""
  fanout = np.diff(trie.offsets)
  dense_fanout = trie.window.shape[0]
  for s in range(trie.num_states):
    tokens = trie.edge_tokens[trie.offsets[s]:trie.offsets[s + 1]]
    assert np.all(np.diff(tokens) > 0)
    row = trie.dense_row[s]
    assert (row > 0) == (fanout[s] > dense_fanout)
    if row:
      bits = np.unpackbits(trie.dense_bits[row].view(np.uint8), bitorder="little")[:vocab_size]
      np.testing.assert_array_equal(np.flatnonzero(bits), tokens)


@hypothesis.settings(max_examples=60, deadline=None)
@hypothesis.given(utterances, st.integers(1, 4))
def test_paths_and_states_match_dict_trie(sequences, dense_fanout):
  trie = build_trie(sequences, vocab_size=10, eos_id=EOS, dense_fanout=dense_fanout)
  _, nodes = dict_trie(sequences)
  assert paths(trie, trie.roots[0]) == {tuple(s) for s in sequences}
  if sequences:
    assert trie.num_states == nodes and trie.num_edges == nodes - 1
  check_layout(trie, 10)


def test_forest_has_one_root_per_group_and_empty_groups_are_dead():
  groups = [[[4, 5], [4, 6]], [], [[9], [4, 5]], [[3]]]  # group 3: only an EOS-inside row
  forest = build_forest(groups, vocab_size=10, eos_id=EOS, dense_fanout=1)
  assert forest.roots.shape == (4,)
  assert forest.roots[1] == -1 and forest.roots[3] == -1
  assert paths(forest, forest.roots[0]) == {(4, 5), (4, 6)}
  assert paths(forest, forest.roots[2]) == {(9,), (4, 5)}
  check_layout(forest, 10)


def test_bad_utterances_are_counted_and_dropped():
  log = DefectLog()
  sequences = [[4, 5], [4, 5, EOS], [4, 10], [-1], [], [EOS], [4, EOS, 5], [6, 7, 8, 9]]
  trie = build_trie(sequences, vocab_size=10, eos_id=EOS, max_length=4, log=log)
  assert paths(trie, 0) == {(4, 5)}
  assert log.as_dict() == {"trie/duplicate": 1, "trie/empty": 2, "trie/eos_inside": 1,
                           "trie/out_of_vocab": 2, "trie/too_long": 1}


def test_nothing_kept_gives_an_empty_trie():
  trie = build_trie([[], [11]], vocab_size=10, eos_id=EOS)
  assert trie.roots.tolist() == [-1] and trie.num_edges >= 1  # never an empty array


def test_accepts_generators_and_arrays():
  seqs = [np.array([4, 5]), np.array([6])]
  a = build_trie((s for s in seqs), vocab_size=10, eos_id=EOS)
  b = build_trie([list(s) for s in seqs], vocab_size=10, eos_id=EOS)
  for x, y in zip(a, b):
    np.testing.assert_array_equal(x, y)


def test_wide_vocab_dense_root_bits():
  rng = np.random.default_rng(0)
  sequences = [list(rng.integers(4, 1000, size=rng.integers(1, 4))) for _ in range(300)]
  trie = build_trie(sequences, vocab_size=1000, eos_id=EOS, dense_fanout=8)
  assert trie.dense_row[0] > 0 and trie.dense_bits.shape[1] == 32
  check_layout(trie, 1000)
  assert paths(trie, 0) == {tuple(int(t) for t in s) for s in sequences}


def test_bad_arguments_raise():
  with pytest.raises(ValueError, match="eos_id"):
    build_trie([[4]], vocab_size=3, eos_id=3)
  with pytest.raises(ValueError, match="dense_fanout"):
    build_trie([[4]], vocab_size=10, eos_id=EOS, dense_fanout=0)


def test_out_of_vocabulary_ids_are_never_dropped_silently(caplog):
  # Issue 19: build_trie dropped them with only an INFO log unless a log was passed.
  with caplog.at_level("WARNING", logger="fsnlu_jax.decoding"):
    trie = build_trie([[4, 5], [4, 12], [-3]], vocab_size=10, eos_id=EOS)
  assert paths(trie, 0) == {(4, 5)}
  warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
  assert len(warned) == 1
  assert "2 of 3 utterances dropped: 2 out_of_vocab (first: utterance 1)" in warned[0]
  with pytest.raises(ValueError, match=r"2 out_of_vocab \(first: utterance 1\).*vocab_size 10"):
    build_trie([[4, 5], [4, 12], [-3]], vocab_size=10, eos_id=EOS, on_drop="raise")
  caplog.clear()
  log = DefectLog()
  with caplog.at_level("WARNING", logger="fsnlu_jax.decoding"):
    build_trie([[4, 12]], vocab_size=10, eos_id=EOS, on_drop="count", log=log)
  assert log.as_dict() == {"trie/out_of_vocab": 1} and not caplog.records
  with pytest.raises(ValueError, match="on_drop"):
    build_trie([[4]], vocab_size=10, eos_id=EOS, on_drop="ignore")
