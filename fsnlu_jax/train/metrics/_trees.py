"""Exact match of semantic trees, up to the order of siblings (the PIZZA metric).

PIZZA (Arkoudas et al., 2022) and CLASP (Rosenbaum et al., 2022) score a parse
as right when its tree equals the gold tree *unordered*: at every node the
children may come in any order, but each must be matched by a distinct child
of the other tree. Hence:

* the children form a **multiset**: ``(PIZZAORDER (TOPPING HAM ) (TOPPING HAM ) )``
  does not match ``(PIZZAORDER (TOPPING HAM ) )``;
* a word is a child like any other, so the words of an entity are unordered
  too (``(VOLUME 2 LITER )`` matches ``(VOLUME LITER 2 )``), as in the authors'
  matcher, where every word is a leaf node;
* labels and words compare exactly (no case folding); spacing does not matter
  (``(A (B x))`` matches ``(A (B x ) )``);
* a prediction that is not a well-formed tree matches nothing.

For TOP trees the papers also report a *semantics-only* variant
(:func:`semantics_only`): the words of a node that has sub-trees (``i want``,
``pizzas with``) are dropped, the words of entities kept.

Two trees match exactly when their :func:`unordered_key` are equal: the key
sorts the children of every node, and sorted multisets are equal exactly when
a one-to-one matching of equal children exists.
"""

from __future__ import annotations

from typing import Any, Sequence

from fsnlu_jax.data.trees import Tree, TreeSyntaxError, parse_tree

# A word sorts before a sub-tree: (0, word) < (1, label, children).
Key = tuple


def unordered_key(tree: Tree) -> Key:
  """A hashable key equal for two trees exactly when they match up to sibling order.

  >>> a = parse_tree("(ORDER (PIZZAORDER (NUMBER 1 ) (TOPPING HAM ) ) )")
  >>> b = parse_tree("(ORDER (PIZZAORDER (TOPPING HAM ) (NUMBER 1 ) ) )")
  >>> unordered_key(a) == unordered_key(b)
  True
  """
  children = sorted(unordered_key(c) if isinstance(c, Tree) else (0, c) for c in tree.children)
  return (1, tree.label, tuple(children))


def semantics_only(tree: Tree) -> Tree:
  """A TOP tree without its non-semantic words (those beside a sub-tree).

  >>> semantics_only(parse_tree("(ORDER i want (PIZZAORDER (SIZE large ) pie ) )")).render()
  '(ORDER (PIZZAORDER (SIZE large ) ) )'
  """
  if tree.is_leaf_node:
    return tree
  return Tree(tree.label, tuple(semantics_only(child) for child in tree.subtrees))


def _as_tree(value: Tree | str | None, *, gold: bool) -> Tree | None:
  if value is None or isinstance(value, Tree):
    if value is None and gold:
      raise ValueError("a gold tree is None")
    return value
  try:
    return parse_tree(value)
  except TreeSyntaxError:
    if gold:
      raise
    return None


def trees_match(predicted: Tree | str | None, gold: Tree | str, *,
                semantics_only_top: bool = False) -> bool:
  """Whether ``predicted`` equals ``gold`` up to the order of siblings.

  Args:
    predicted: a tree or its string; a malformed string (or None) matches nothing.
    gold: a tree or its string.
    semantics_only_top: compare :func:`semantics_only` of both (TOP trees).

  Raises:
    TreeSyntaxError: ``gold`` is malformed (a broken reference is a bug, not a miss).
  """
  gold_tree = _as_tree(gold, gold=True)
  pred_tree = _as_tree(predicted, gold=False)
  if pred_tree is None:
    return False
  if semantics_only_top:
    pred_tree, gold_tree = semantics_only(pred_tree), semantics_only(gold_tree)
  return unordered_key(pred_tree) == unordered_key(gold_tree)


def tree_exact_match(predicted: Sequence[Any], gold: Sequence[Any], *,
                     semantics_only_top: bool = False) -> float:
  """Fraction of predictions matching their gold tree up to sibling order.

  Args:
    predicted: ``[B]`` trees or strings (malformed ones count as wrong).
    gold: ``[B]`` gold trees or strings.
    semantics_only_top: see :func:`trees_match`.

  Raises:
    ValueError: lengths differ, or nothing to score.
  """
  if len(predicted) != len(gold):
    raise ValueError(f"{len(predicted)} predictions but {len(gold)} gold trees")
  if not gold:
    raise ValueError("no trees to score")
  hits = sum(trees_match(p, g, semantics_only_top=semantics_only_top)
             for p, g in zip(predicted, gold))
  return hits / len(gold)
