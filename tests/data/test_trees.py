"""The bracketed-tree reader (TOP and EXR): parse, render, named errors, spans."""

from __future__ import annotations

import json

import pytest

from fsnlu_jax.data.trees import Tree, TreeSyntaxError, parse_tree, try_parse_tree

_TOP = ("(ORDER i want (PIZZAORDER (NUMBER two ) (SIZE large ) pizzas with (TOPPING black olives )"
        " and (COMPLEX_TOPPING (QUANTITY extra ) (TOPPING cheese ) ) ) please )")
_EXR = ("(ORDER (PIZZAORDER (NOT (TOPPING HAM ) ) (NUMBER 2 ) (SIZE LARGE ) (TOPPING OLIVES ) ) )")


@pytest.mark.parametrize("text", [_TOP, _EXR, "(A x )", "(A (B (C y z ) ) w )",
                                  "(ORDER (DRINKORDER (VOLUME 2 LITER ) ) )"])
def test_round_trip_of_hand_made_trees(text):
  tree = parse_tree(text)
  assert tree.render() == text
  assert parse_tree(tree.render()) == tree


def test_structure_words_and_spans():
  tree = parse_tree(_TOP)
  assert tree.label == "ORDER"
  assert [c if isinstance(c, str) else c.label for c in tree.children] == [
      "i", "want", "PIZZAORDER", "please"]
  assert tree.text == ("i want two large pizzas with black olives and extra cheese please")
  pizza = tree.subtrees[0]
  assert not pizza.is_leaf_node and pizza.subtrees[2].is_leaf_node
  spans = [(node.label, start, end) for node, start, end in tree.entity_spans()]
  assert spans == [("NUMBER", 2, 3), ("SIZE", 3, 4), ("TOPPING", 6, 8), ("QUANTITY", 9, 10),
                   ("TOPPING", 10, 11)]
  for node, start, end in tree.entity_spans():
    assert tree.words[start:end] == node.words
  assert [n.label for n in tree.walk()] == ["ORDER", "PIZZAORDER", "NUMBER", "SIZE", "TOPPING",
                                            "COMPLEX_TOPPING", "QUANTITY", "TOPPING"]


def test_brackets_need_no_spaces_and_trees_are_immutable_values():
  assert parse_tree("(A (B x)(C y))") == parse_tree("(A (B x ) (C y ) )")
  assert parse_tree("(A (B x))").render() == "(A (B x ) )"
  tree = parse_tree(_EXR)
  assert hash(tree) == hash(parse_tree(_EXR)) and tree != parse_tree(_EXR.replace("HAM", "X"))
  with pytest.raises(AttributeError):
    tree.label = "X"  # frozen


@pytest.mark.parametrize("text, reason, offset", [
    ("", "empty", 0),
    ("   ", "empty", 0),
    ("ORDER (A x )", "no_root", 0),
    ("(A (B x )", "unclosed_bracket", 0),
    ("(A (B x ) ) )", "unmatched_close", 12),
    ("(A x ) (B y )", "after_root", 7),
    ("(A x ) y", "after_root", 7),
    ("( (A x ) )", "missing_label", 0),
    ("(A (B ) )", "empty_node", 3),
    ("(A (", "missing_label", 3),
])
def test_malformed_strings_raise_named_errors(text, reason, offset):
  with pytest.raises(TreeSyntaxError) as caught:
    parse_tree(text, where="pizza/PIZZA_dev.json:7")
  assert caught.value.reason == reason and caught.value.offset == offset
  assert str(caught.value).startswith(f"pizza/PIZZA_dev.json:7: malformed tree ({reason})")
  assert try_parse_tree(text) is None


def test_tree_constructor_rejects_bad_parts():
  with pytest.raises(ValueError, match="no children"):
    Tree("A", ())
  with pytest.raises(ValueError, match="label"):
    Tree("A B", ("x",))
  with pytest.raises(ValueError, match="word"):
    Tree("A", ("x y",))


def test_every_row_of_the_shared_files_round_trips(shared_data):
  """Both trees of all 1705 rows parse and render back byte for byte; TOP words = SRC."""
  rows = 0
  for split in ("dev", "test"):
    with open(shared_data / "pizza" / f"PIZZA_{split}.json", encoding="utf-8") as f:
      for line, raw in enumerate(f, start=1):
        record = json.loads(raw)
        for key in ("TOP", "EXR"):
          text = record[f"{split}.{key}"]
          assert parse_tree(text, f"PIZZA_{split}.json:{line}").render() == text
        assert parse_tree(record[f"{split}.TOP"]).words == tuple(record[f"{split}.SRC"].split())
        rows += 1
  assert rows == 348 + 1357
