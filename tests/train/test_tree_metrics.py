"""Exact match of semantic trees up to sibling order (the PIZZA/CLASP metric)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from fsnlu_jax.data.trees import Tree, TreeSyntaxError, parse_tree
from fsnlu_jax.train.metrics import semantics_only, tree_exact_match, trees_match

_GOLD = ("(ORDER (PIZZAORDER (NOT (TOPPING HAM ) ) (NUMBER 2 ) (SIZE LARGE ) (TOPPING OLIVES )"
         " (TOPPING ONIONS ) ) (DRINKORDER (DRINKTYPE COKE ) (NUMBER 1 ) ) )")


@pytest.mark.parametrize("pred, equal", [
    (_GOLD, True),
    # siblings reordered at every level, spacing changed
    ("(ORDER (DRINKORDER (NUMBER 1) (DRINKTYPE COKE)) (PIZZAORDER (TOPPING ONIONS ) (SIZE LARGE )"
     " (TOPPING OLIVES ) (NUMBER 2 ) (NOT (TOPPING HAM ) ) ) )", True),
    # a leaf differs
    (_GOLD.replace("OLIVES", "PEPPERS"), False),
    # the negation moves to another topping: same multiset of labels, different tree
    ("(ORDER (PIZZAORDER (NOT (TOPPING OLIVES ) ) (NUMBER 2 ) (SIZE LARGE ) (TOPPING HAM )"
     " (TOPPING ONIONS ) ) (DRINKORDER (DRINKTYPE COKE ) (NUMBER 1 ) ) )", False),
    # a topping moved from one order to another (nested orders are not flattened)
    ("(ORDER (PIZZAORDER (NOT (TOPPING HAM ) ) (NUMBER 2 ) (SIZE LARGE ) (TOPPING OLIVES ) )"
     " (DRINKORDER (DRINKTYPE COKE ) (NUMBER 1 ) (TOPPING ONIONS ) ) )", False),
    # a child missing, a child extra
    (_GOLD.replace(" (TOPPING ONIONS )", ""), False),
    (_GOLD.replace("(TOPPING ONIONS )", "(TOPPING ONIONS ) (STYLE THIN_CRUST )"), False),
    # a repeated child is counted: children are a multiset, not a set
    (_GOLD.replace("(TOPPING ONIONS )", "(TOPPING ONIONS ) (TOPPING ONIONS )"), False),
    # labels compare exactly (no case folding)
    (_GOLD.replace("COKE", "coke"), False),
    # malformed predictions match nothing
    (_GOLD[:-2], False),
    ("", False),
    (None, False),
])
def test_hand_made_cases(pred, equal):
  assert trees_match(pred, _GOLD) is equal


def test_duplicates_are_a_multiset_both_ways():
  two = "(PIZZAORDER (TOPPING HAM ) (TOPPING HAM ) (TOPPING ONIONS ) )"
  assert trees_match("(PIZZAORDER (TOPPING HAM ) (TOPPING ONIONS ) (TOPPING HAM ) )", two)
  assert not trees_match("(PIZZAORDER (TOPPING HAM ) (TOPPING ONIONS ) (TOPPING ONIONS ) )", two)
  assert not trees_match("(PIZZAORDER (TOPPING HAM ) (TOPPING ONIONS ) )", two)


def test_words_of_an_entity_are_siblings_too():
  """As in the authors' matcher, where every word is a leaf node."""
  assert trees_match("(VOLUME LITER 2 )", "(VOLUME 2 LITER )")
  assert not trees_match("(VOLUME 2 2 LITER )", "(VOLUME 2 LITER )")


def test_semantics_only_drops_words_beside_sub_trees():
  a = "(ORDER can i have (PIZZAORDER (SIZE large ) pie ) please )"
  b = "(ORDER please (PIZZAORDER a (SIZE large ) ) now )"
  assert not trees_match(a, b) and trees_match(a, b, semantics_only_top=True)
  assert not trees_match(a, b.replace("large", "small"), semantics_only_top=True)
  assert semantics_only(parse_tree(a)).render() == "(ORDER (PIZZAORDER (SIZE large ) ) )"


def test_accuracy_and_errors():
  assert tree_exact_match([_GOLD, "(ORDER", _GOLD.replace("2", "3")], [_GOLD] * 3) == 1 / 3
  with pytest.raises(ValueError, match="2 predictions"):
    tree_exact_match([_GOLD, _GOLD], [_GOLD])
  with pytest.raises(ValueError, match="no trees"):
    tree_exact_match([], [])
  with pytest.raises(TreeSyntaxError):  # a broken reference is a bug, not a miss
    trees_match(_GOLD, "(ORDER (A x )")


def _ordered_equal_under_some_permutation(a, b) -> bool:
  """Brute force: some reordering of every node's children makes the trees identical."""
  if isinstance(a, str) or isinstance(b, str):
    return a == b
  if a.label != b.label or len(a.children) != len(b.children):
    return False
  return any(all(_ordered_equal_under_some_permutation(x, y) for x, y in zip(a.children, perm))
             for perm in itertools.permutations(b.children))


def _random_tree(rng, depth: int) -> Tree:
  kids = []
  for _ in range(int(rng.integers(1, 4))):
    if depth and rng.random() < 0.5:
      kids.append(_random_tree(rng, depth - 1))
    else:
      kids.append(str(rng.choice(["x", "y"])))
  return Tree(str(rng.choice(["A", "B"])), tuple(kids))


def _shuffled(tree: Tree, rng) -> Tree:
  kids = [_shuffled(c, rng) if isinstance(c, Tree) else c for c in tree.children]
  return Tree(tree.label, tuple(kids[i] for i in rng.permutation(len(kids))))


def test_matches_a_brute_force_permutation_oracle():
  rng = np.random.default_rng(0)
  agree = equal = 0
  for _ in range(400):
    a = _random_tree(rng, 2)
    b = _shuffled(a, rng) if rng.random() < 0.5 else _random_tree(rng, 2)
    expected = _ordered_equal_under_some_permutation(a, b)
    assert trees_match(a, b) is expected, (a.render(), b.render())
    agree += 1
    equal += expected
  assert 150 < equal < 400  # both outcomes were exercised
