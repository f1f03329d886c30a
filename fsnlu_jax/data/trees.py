"""Bracketed semantic trees (PIZZA's TOP and EXR strings): parse, inspect, render.

Both notations are s-expressions: ``(LABEL child child ... )`` where a child is
another bracketed node or a word. TOP trees keep the utterance's own words::

  (ORDER i want (PIZZAORDER (NUMBER two ) (SIZE large ) pizzas with (TOPPING ham ) ) )

EXR trees hold resolved entities only::

  (ORDER (PIZZAORDER (NUMBER 2 ) (SIZE LARGE ) (TOPPING HAM ) ) )

A :class:`Tree` is immutable and hashable; :func:`parse_tree` reads either
notation, :meth:`Tree.render` writes the dataset's own spacing (a space before
every ``)``), so ``parse_tree(s).render() == s`` for every PIZZA string.
Malformed strings raise :class:`TreeSyntaxError`, whose ``reason`` is a stable
name (``unclosed_bracket``, ``unmatched_close``, ...) and whose message says
where (``where``, e.g. ``pizza/PIZZA_dev.json:12``, and the character offset).

Pure Python: no NumPy, no JAX.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Iterator, Union

Child = Union["Tree", str]

_TOKEN = re.compile(r"\(|\)|[^\s()]+")

# Stable names of what can be wrong with a bracketed string.
SYNTAX_ERRORS = ("empty", "no_root", "unclosed_bracket", "unmatched_close", "missing_label",
                 "empty_node", "after_root")


class TreeSyntaxError(ValueError):
  """A string that is not one well-formed bracketed tree.

  Attributes:
    reason: one of :data:`SYNTAX_ERRORS`.
    offset: 0-based character offset of the offending token in ``text``.
    text: the string.
    where: the file and line it was read from, or ``""``.
  """

  def __init__(self, reason: str, offset: int, text: str, detail: str, where: str = ""):
    self.reason, self.offset, self.text, self.where = reason, offset, text, where
    prefix = f"{where}: " if where else ""
    shown = text if len(text) <= 120 else text[:117] + "..."
    super().__init__(f"{prefix}malformed tree ({reason}) at character {offset}: {detail}"
                     f" in {shown!r}")


@dataclasses.dataclass(frozen=True)
class Tree:
  """One node: a label and its children (sub-trees or words), in order.

  Attributes:
    label: the constructor or slot name (``ORDER``, ``PIZZAORDER``, ``TOPPING``).
    children: sub-trees and words, in the order written; never empty.
  """

  label: str
  children: tuple[Child, ...]

  def __post_init__(self):
    if not self.label or _TOKEN.fullmatch(self.label) is None or self.label in "()":
      raise ValueError(f"a tree label is one word without brackets, got {self.label!r}")
    if not self.children:
      raise ValueError(f"({self.label} ) has no children")
    for child in self.children:
      if isinstance(child, str) and (_TOKEN.fullmatch(child) is None or child in "()"):
        raise ValueError(f"a word child is one token without brackets, got {child!r}")
      if not isinstance(child, (str, Tree)):
        raise TypeError(f"a child is a Tree or a str, got {type(child).__name__}")

  def render(self) -> str:
    """The bracketed string, spaced as PIZZA writes it: ``(A x (B y ) )``."""
    parts = [child.render() if isinstance(child, Tree) else child for child in self.children]
    return f"({self.label} {' '.join(parts)} )"

  def __str__(self) -> str:
    return self.render()

  @property
  def is_leaf_node(self) -> bool:
    """Whether every child is a word: an entity such as ``(TOPPING black olives )``."""
    return all(isinstance(child, str) for child in self.children)

  @property
  def subtrees(self) -> tuple["Tree", ...]:
    """The children that are trees, in order."""
    return tuple(child for child in self.children if isinstance(child, Tree))

  @property
  def words(self) -> tuple[str, ...]:
    """Every word under this node, left to right (for TOP: the utterance's tokens)."""
    out: list[str] = []
    for child in self.children:
      out.extend(child.words if isinstance(child, Tree) else (child,))
    return tuple(out)

  @property
  def text(self) -> str:
    """The words joined by spaces (an entity's value, or a TOP tree's utterance)."""
    return " ".join(self.words)

  def entity_spans(self) -> list[tuple["Tree", int, int]]:
    """``(node, start, end)`` of every all-word node, pre-order: ``words[start:end]``.

    For a TOP tree the offsets index the utterance's tokens, so
    ``tokens[start:end] == node.words``.
    """
    out: list[tuple[Tree, int, int]] = []

    def visit(node: Tree, start: int) -> int:
      if node.is_leaf_node:
        out.append((node, start, start + len(node.children)))
        return start + len(node.children)
      for child in node.children:
        start = visit(child, start) if isinstance(child, Tree) else start + 1
      return start

    visit(self, 0)
    return out

  def walk(self) -> Iterator["Tree"]:
    """This node and every node below it, pre-order."""
    yield self
    for child in self.subtrees:
      yield from child.walk()


def tree_tokens(text: str) -> list[tuple[str, int]]:
  """``(token, character offset)`` pairs: ``(``, ``)`` and whitespace-free words."""
  return [(m.group(), m.start()) for m in _TOKEN.finditer(text)]


def parse_tree(text: str, where: str = "") -> Tree:
  """Reads one bracketed tree (TOP or EXR notation).

  Brackets need no surrounding spaces (``(A (B x))`` reads like ``(A (B x ) )``).

  Args:
    text: the string.
    where: ``file:line`` to name in errors.

  Raises:
    TreeSyntaxError: empty string, text before the root bracket, an unclosed
      ``(``, an unmatched ``)``, a ``(`` without a label, a node without
      children, or anything after the root is closed.
  """
  tokens = tree_tokens(text)
  if not tokens:
    raise TreeSyntaxError("empty", 0, text, "no tree", where)

  def fail(reason: str, index: int, detail: str):
    offset = tokens[index][1] if index < len(tokens) else len(text)
    raise TreeSyntaxError(reason, offset, text, detail, where)

  if tokens[0][0] != "(":
    fail("no_root", 0, f"starts with {tokens[0][0]!r}, not '('")
  # A stack of (label, children, index of its "(") for the open nodes.
  stack: list[tuple[str, list[Child], int]] = []
  root: Tree | None = None
  index = 0
  while index < len(tokens):
    token = tokens[index][0]
    if root is not None and token != ")":
      fail("after_root", index, f"{token!r} after the root's closing bracket")
    if token == "(":
      label = tokens[index + 1][0] if index + 1 < len(tokens) else None
      if label is None or label in "()":
        fail("missing_label", index, "'(' not followed by a label")
      stack.append((label, [], index))
      index += 2
      continue
    if token == ")":
      if not stack:
        fail("unmatched_close", index, "')' closes nothing")
      label, children, opened = stack.pop()
      if not children:
        fail("empty_node", opened, f"({label} ) has no children")
      node = Tree(label, tuple(children))
      if stack:
        stack[-1][1].append(node)
      else:
        root = node
    else:
      stack[-1][1].append(token)
    index += 1
  if stack:
    label, _, opened = stack[-1]
    fail("unclosed_bracket", opened, f"({label} is never closed ({len(stack)} open)")
  assert root is not None
  return root


def try_parse_tree(text: str) -> Tree | None:
  """:func:`parse_tree`, or None for a malformed string."""
  try:
    return parse_tree(text)
  except TreeSyntaxError:
    return None
