"""The tree-grammar constraint against brute force: exactly the grammar's trees are reachable."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fsnlu_jax.data.trees import Tree, parse_tree
from fsnlu_jax.decoding import TreeGrammar, build_tree_grammar, tree_grammar_constraint
from fsnlu_jax.kernels import beam_search, expand_to_beams

# A small grammar whose values share piece prefixes ("ab" / "abc"), with one
# piece per character, so symbols are several pieces long.
GRAMMAR = TreeGrammar("R", {"R": frozenset({"P", "Q"}), "P": frozenset({"X", "N"}),
                            "N": frozenset({"X"}), "Q": frozenset({"X"})},
                      {"X": ("ab", "abc", "b")})
EOS = 0
CHARS = {c: i for i, c in enumerate("()RPQNXabcd", start=1)}
VOCAB = 16


def _ids(text: str) -> list[int]:
  return [CHARS[c] for word in text.split() for c in word] + [EOS]


@pytest.fixture(scope="module")
def automaton():
  # dense_fanout=2: states with more successors take the dense-bit path too
  return build_tree_grammar(GRAMMAR, lambda w: [CHARS[c] for c in w], vocab_size=VOCAB,
                            eos_id=EOS, dense_fanout=2)


def _in_grammar(tree: Tree, grammar: TreeGrammar = GRAMMAR) -> bool:
  """The oracle: the tree's every node is allowed where it is."""

  def ok(node: Tree) -> bool:
    if node.label in grammar.values:
      return node.text in grammar.values[node.label] and node.is_leaf_node
    return (node.label in grammar.children and not any(isinstance(c, str) for c in node.children)
            and all(c.label in grammar.children[node.label] and ok(c) for c in node.subtrees))

  return tree.label == grammar.root and ok(tree)


def _trees(label: str, max_children: int) -> list[Tree]:
  """Every tree under ``label`` with at most ``max_children`` children per constructor."""
  if label in GRAMMAR.values:
    return [Tree(label, (v,)) for v in GRAMMAR.values[label]]
  options = [t for child in sorted(GRAMMAR.children[label]) for t in _trees(child, 2)]
  out = []
  for n in range(1, max_children + 1):
    out += [Tree(label, kids) for kids in itertools.product(options, repeat=n)]
  return out


def test_every_tree_of_the_grammar_is_accepted_and_decoded(automaton):
  trees = _trees("R", 1)  # the root with one child; below it up to two children each
  rng = np.random.default_rng(0)
  two = [Tree("R", (trees[i].children[0], trees[j].children[0]))
         for i, j in rng.integers(len(trees), size=(100, 2))]
  assert len(trees) == 252
  for tree in trees + two:
    assert _in_grammar(tree)
    ids = _ids(tree.render())
    assert automaton.accepts(ids), tree.render()
    assert automaton.decode(ids) == tree.render()


@pytest.mark.parametrize("text", [
    "(R )",  # a constructor without children
    "(R (P (X abd ) ) )",  # a value not in the grammar
    "(R (P (X a ) ) )",  # a prefix of a value is not a value
    "(R (X ab ) )",  # an entity under a parent that does not allow it
    "(R (Q (N (X b ) ) ) )",  # a constructor where it is not allowed
    "(R (P (X ab ) )",  # unbalanced
    "(R (P (X ab ) ) ) )",
    "(P (X ab ) )",  # not the root
    "(R (P (X ab ab ) ) )",  # two values in one entity
    "(R (P (X ) ) )",
])
def test_trees_outside_the_grammar_are_rejected(automaton, text):
  assert not automaton.accepts(_ids(text))
  assert automaton.decode(_ids(text)) is None


def test_random_masked_walks_always_give_trees(automaton):
  """Uniform random choices among the allowed tokens (host-side; the JAX masks are the
  trie kernels', exercised under beam search below): no dead end, every end a tree."""
  rng = np.random.default_rng(0)
  finished = 0
  for _ in range(300):
    state, ids = int(automaton.arrays.roots[0]), []
    while len(ids) < 80 and (not ids or ids[-1] != EOS):
      allowed = automaton.allowed(state)
      assert allowed.size, f"dead end after {ids}"
      ids.append(int(rng.choice(allowed)))
      state = automaton.step(state, ids[-1])
    if ids[-1] == EOS:
      finished += 1
      text = automaton.decode(ids)
      assert text is not None and _in_grammar(parse_tree(text)), text
  assert finished > 150


def test_beam_search_under_the_grammar_finishes_only_trees(automaton):
  batch, beam, length = 3, 4, 40

  @jax.jit
  def decode(arrays, table, bias):
    constraint = tree_grammar_constraint(arrays, vocab_size=VOCAB)
    step = lambda tokens, cache, i: (table[tokens] + cache, cache)
    return beam_search(step, expand_to_beams(bias, beam), batch_size=batch, beam_size=beam,
                       max_length=length, vocab_size=VOCAB, bos_id=EOS, eos_id=EOS,
                       constraint=constraint)

  arrays = jax.device_put(automaton.arrays)
  for seed in range(2):
    keys = jax.random.split(jax.random.key(seed))
    table = jax.nn.log_softmax(3 * jax.random.normal(keys[0], (VOCAB, VOCAB)))
    bias = jax.random.normal(keys[1], (batch, VOCAB))
    out = jax.device_get(decode(arrays, table, bias))
    assert out.finished.any()
    for b, w in zip(*np.nonzero(out.finished)):
      ids = out.sequences[b, w, :out.lengths[b, w]]
      text = automaton.decode(ids)
      assert text is not None and _in_grammar(parse_tree(text)), ids
  assert decode._cache_size() == 1  # a new table and bias reuse the compiled search


def test_bad_grammars_and_symbols_are_refused():
  with pytest.raises(ValueError, match="not a constructor"):
    TreeGrammar("X", {"R": frozenset({"X"})}, {"X": ("a",)})
  with pytest.raises(ValueError, match="neither"):
    TreeGrammar("R", {"R": frozenset({"Y"})}, {"X": ("a",)})
  with pytest.raises(ValueError, match="allow no children"):
    TreeGrammar("R", {"R": frozenset({"X"}), "P": frozenset()}, {"X": ("a",)})
  with pytest.raises(ValueError, match="without values"):
    TreeGrammar("R", {"R": frozenset({"X"})}, {"X": ()})
  with pytest.raises(ValueError, match="outside"):  # a symbol holding the EOS piece
    build_tree_grammar(GRAMMAR, lambda w: [0], vocab_size=VOCAB, eos_id=EOS)
  with pytest.raises(ValueError, match="no pieces"):
    build_tree_grammar(GRAMMAR, lambda w: [], vocab_size=VOCAB, eos_id=EOS)


def test_pizza_grammar_accepts_every_gold_exr_in_minilm_pieces(real_dataset, minilm_dir):
  """All 1705 PIZZA EXR trees, tokenized whole by the MiniLM tokenizer, are sentences (and
  so are 200 generated by the baselines)."""
  from fsnlu_jax.data.builders.pizza import catalogues_of  # pylint: disable=g-import-not-at-top
  from fsnlu_jax.data.catalogues import (  # pylint: disable=g-import-not-at-top
      CATALOGUE_PARENTS, TreeSchema)
  from fsnlu_jax.data.tree_augment import augment  # pylint: disable=g-import-not-at-top
  from fsnlu_jax.data.subword import SubwordTokenizer  # pylint: disable=g-import-not-at-top

  builder, splits = real_dataset("pizza")
  schema = TreeSchema.from_trees(parse_tree(e.exr) for e in splits["dev"])
  catalogues = catalogues_of(builder)
  grammar = TreeGrammar.from_schema(schema, catalogues, extra_children=CATALOGUE_PARENTS)
  tokenizer = SubwordTokenizer(minilm_dir)
  sep = tokenizer._id("[SEP]", -1)  # pylint: disable=protected-access
  automaton = build_tree_grammar(grammar, lambda w: tokenizer.encode([w])[0][0][1:-1],
                                 vocab_size=30522, eos_id=sep)
  print(f"PIZZA EXR grammar: {automaton.num_states} states, {automaton.arrays.num_edges} edges")
  # ... and so is every tree the two teacher-free baselines generate
  generated = [e for method in ("grammar", "rs") for e in augment(
      method, 100, splits["dev"], catalogues, schema, np.random.default_rng(0)).examples]
  examples = splits["dev"] + splits["test"] + generated
  encoded = tokenizer.encode([e.exr for e in examples])
  for example, (ids, _) in zip(examples, encoded):
    pieces = ids[1:]  # drop [CLS]; [SEP] is the EOS
    assert automaton.accepts(pieces), example.source
    assert automaton.decode(pieces) == example.exr


# ---- copying entity values from the utterance -----------------------------------

COPY_GRAMMAR = TreeGrammar("R", GRAMMAR.children, GRAMMAR.values, copy=frozenset({"X"}))
UTTERANCE = {CHARS["a"], CHARS["d"]}  # "a" also begins the catalogue values "ab", "abc"


@pytest.fixture(scope="module")
def copying():
  return build_tree_grammar(COPY_GRAMMAR, lambda w: [CHARS[c] for c in w], vocab_size=VOCAB,
                            eos_id=EOS, dense_fanout=2)


def _detok(ids) -> str:
  names = {i: c for c, i in CHARS.items()}
  return "".join(names[i] for i in ids)


def _in_copy_grammar(tree: Tree, utterance_chars: str) -> bool:
  values = {label: None for label in COPY_GRAMMAR.values}

  def ok(node: Tree) -> bool:
    if node.label in values:
      return node.is_leaf_node and (node.text in GRAMMAR.values[node.label]
                                    or set(node.text) <= set(utterance_chars))
    return all(c.label in GRAMMAR.children[node.label] and ok(c) for c in node.subtrees)

  return tree.label == "R" and ok(tree)


@pytest.mark.parametrize("value, copied", [("ab", False), ("abc", False), ("a", True),
                                           ("ad", True), ("dda", True), ("abd", None),
                                           ("c", None)])
def test_copied_values_need_their_pieces_in_the_utterance(copying, value, copied):
  text = f"(R (P (N (X {value} ) ) (X b ) ) )"
  ids = _ids(text)
  assert copying.accepts(ids, UTTERANCE) is (copied is not None)
  assert copying.accepts(ids) is (copied is False)  # nothing to copy: catalogue values only
  if copied is not None:
    assert copying.decode(ids, UTTERANCE, _detok) == text


def test_random_walks_through_the_jax_copy_constraint(copying):
  """Masks and advances of the JAX constraint, per batch row's own utterance, against the host."""
  utterances = ["ad", "d", "", "bd"]
  mask = np.zeros((len(utterances), VOCAB), bool)
  for row, chars in enumerate(utterances):
    mask[row, [CHARS[c] for c in chars]] = True
  mask[:, EOS] = True  # a careless mask holding EOS: cleared, copying never ends a sequence
  batch, steps = 64, 40

  @jax.jit
  def walk(arrays, copy, utterance_mask, key):
    constraint = tree_grammar_constraint(arrays, vocab_size=VOCAB, copy=copy,
                                         utterance_mask=utterance_mask, eos_id=EOS)
    state = constraint.init(batch, 1)

    def step(carry, k):
      state, done = carry
      allowed = constraint.allowed(state)  # --> [B, 1, V]
      token = jax.random.categorical(k, jnp.where(allowed, 0.0, -jnp.inf))
      token = jnp.where(done, EOS, token)
      return (constraint.advance(state, token), done | (token == EOS)), (
          token[:, 0], allowed[:, 0], state[:, 0])

    _, out = jax.lax.scan(step, (state, jnp.zeros((batch, 1), bool)), jax.random.split(key, steps))
    return out

  rows = np.arange(batch) % len(utterances)
  tokens, allowed, states = jax.device_get(walk(jax.device_put(copying.arrays),
                                                jax.device_put(copying.copy),
                                                jnp.asarray(mask[rows]), jax.random.key(1)))
  finished = 0
  for b in range(batch):
    utterance = {CHARS[c] for c in utterances[rows[b]]}
    state = int(copying.arrays.roots[0])
    for t in range(steps):
      assert states[t, b] == state  # the JAX advance equals the host's
      if state == -1 or tokens[t, b] == EOS and t and tokens[t - 1, b] == EOS:
        break
      assert set(np.flatnonzero(allowed[t, b])) == set(copying.allowed(state, utterance))
      state = copying.step(state, int(tokens[t, b]), utterance)
    ends = np.flatnonzero(tokens[:, b] == EOS)
    if ends.size:
      finished += 1
      ids = tokens[:ends[0] + 1, b]
      text = copying.decode(ids, utterance, _detok)
      assert text is not None and _in_copy_grammar(parse_tree(text), utterances[rows[b]]), text
  assert finished > batch // 4


def test_copy_needs_the_utterance_mask_and_entity_labels(copying):
  with pytest.raises(ValueError, match="utterance_mask"):
    tree_grammar_constraint(copying.arrays, vocab_size=VOCAB, copy=copying.copy)
  with pytest.raises(ValueError, match="not entities"):
    TreeGrammar("R", GRAMMAR.children, GRAMMAR.values, copy=frozenset({"P"}))


def test_once_only_children_appear_at_most_once_under_each_parent():
  """With ``once`` (P holds at most one X; N at most one X), exactly the trees of the
  plain grammar that repeat no once-only child under one parent are accepted."""
  once = TreeGrammar("R", GRAMMAR.children, GRAMMAR.values, once={"P": frozenset({"X"}),
                                                                    "N": frozenset({"X"})})
  automaton = build_tree_grammar(once, lambda w: [CHARS[c] for c in w], vocab_size=VOCAB,
                                 eos_id=EOS, dense_fanout=2)

  def repeats(tree: Tree) -> bool:
    labels = [c.label for c in tree.subtrees]
    own = any(labels.count(c) > 1 for c in once.once.get(tree.label, ()))
    return own or any(repeats(c) for c in tree.subtrees)

  trees = list(_trees("R", 1))
  trees += [Tree("P", kids) for kids in itertools.product(_trees("X", 1) + _trees("N", 2), repeat=2)]
  trees = [t if t.label == "R" else Tree("R", (t,)) for t in trees]
  kept = 0
  for tree in trees:
    ids = _ids(tree.render())
    assert automaton.accepts(ids) == (not repeats(tree)), tree.render()
    kept += not repeats(tree)
  assert 0 < kept < len(trees)
  with pytest.raises(ValueError, match="not children"):
    TreeGrammar("R", GRAMMAR.children, GRAMMAR.values, once={"P": frozenset({"Q"})})
