"""PIZZA's entity catalogues, the tree schema learnt from parses, and TOP -> EXR resolution.

A catalogue line maps a surface form to a resolved value, tab-separated::

  black olives<TAB>topping(OLIVES)
  two liters<TAB>volume(2,LITER)

:class:`Catalogues` holds them per EXR label (``topping`` -> ``TOPPING``; the
value ``volume(2,LITER)`` is written ``2 LITER`` as in EXR trees).
:class:`TreeSchema` records, from a set of EXR trees, which constructors occur
under which parent and which labels are entities (their children are words):
the basis of the tree grammar that constrains a parser and of grammar sampling.
:func:`resolve_top` turns a TOP tree into its EXR tree with the catalogues.

Malformed catalogue lines raise :class:`~fsnlu_jax.data.defects.MalformedRowError`
naming file and line. Pure Python: no JAX.
"""

from __future__ import annotations

import collections
import dataclasses
import pathlib
import re
from typing import Iterable, Mapping, Sequence

from fsnlu_jax.data.defects import MalformedRowError
from fsnlu_jax.data.trees import Tree

# Catalogue file -> the EXR label of its values.
CATALOGUE_FILES = {
    "topping.txt": "TOPPING", "style.txt": "STYLE", "size.txt": "SIZE", "number.txt": "NUMBER",
    "quant_qualifier.txt": "QUANTITY", "drinks.txt": "DRINKTYPE",
    "drink_volume.txt": "VOLUME", "container.txt": "CONTAINERTYPE",
}
# The function name written in a catalogue line -> the EXR label.
_FUNCTIONS = {"topping": "TOPPING", "style": "STYLE", "size": "SIZE", "number": "NUMBER",
              "quantity": "QUANTITY", "drinkType": "DRINKTYPE", "volume": "VOLUME",
              "containerType": "CONTAINERTYPE"}
_VALUE = re.compile(r"([A-Za-z]+)\(([^()]+)\)")
# Where a catalogue's entities go that the 348 dev trees never show: drink volumes
# (drink_volume.txt) are said of drinks; 12 test trees hold (DRINKORDER ... (VOLUME ...)).
# Pass it as TreeGrammar.from_schema(..., extra_children=CATALOGUE_PARENTS).
CATALOGUE_PARENTS = {"DRINKORDER": ("VOLUME",)}
# An order with no NUMBER means one item: EXR writes (NUMBER 1 ) where TOP has none.
DEFAULT_NUMBER = "1"
ITEM_ORDERS = ("PIZZAORDER", "DRINKORDER")


@dataclasses.dataclass(frozen=True)
class Entry:
  """One catalogue line: a surface form and the EXR value it resolves to.

  Attributes:
    surface: the words as said (``black olives``).
    value: the EXR value (``OLIVES``; ``2 LITER`` for a volume).
    where: ``file:line``.
  """

  surface: str
  value: str
  where: str


def parse_line(line: str, where: str) -> tuple[str, Entry]:
  """``(label, entry)`` of one catalogue line.

  Raises:
    MalformedRowError: not ``surface<TAB>function(args)``, or an unknown function.
  """
  fields = line.split("\t")
  if len(fields) != 2 or not fields[0].strip():
    raise MalformedRowError(*where.rsplit(":", 1), "bad_record",
                            f"not 'surface<TAB>function(value)': {line!r}")
  surface, resolved = fields[0].strip(), fields[1].strip()
  match = _VALUE.fullmatch(resolved)
  if match is None or match.group(1) not in _FUNCTIONS:
    raise MalformedRowError(*where.rsplit(":", 1), "bad_value",
                            f"{resolved!r} is not one of {', '.join(sorted(_FUNCTIONS))}(...)")
  value = " ".join(part.strip() for part in match.group(2).split(","))
  return _FUNCTIONS[match.group(1)], Entry(" ".join(surface.split()), value, where)


@dataclasses.dataclass(frozen=True)
class Catalogues:
  """The entity catalogues, per EXR label.

  Attributes:
    entries: label -> its entries in file order.
  """

  entries: Mapping[str, tuple[Entry, ...]]

  @classmethod
  def read(cls, folder: str | pathlib.Path, *, prefix: str = "") -> "Catalogues":
    """Reads ``folder/<file>`` for every file of :data:`CATALOGUE_FILES`.

    ``prefix``: shown before file names in errors (e.g. ``pizza/catalogs``).
    """
    folder = pathlib.Path(folder)
    lines = {}
    for name in CATALOGUE_FILES:
      path = folder / name
      lines[f"{prefix}/{name}" if prefix else str(path)] = path.read_text(
          encoding="utf-8").split("\n")
    return cls.from_lines(lines)

  @classmethod
  def from_lines(cls, files: Mapping[str, Sequence[str]]) -> "Catalogues":
    """Catalogues from ``{file name: its lines}``; blank lines are skipped.

    Raises:
      MalformedRowError: a malformed line (file and 1-based line named), or a
        line whose function does not match its file's label.
    """
    entries: dict[str, list[Entry]] = collections.defaultdict(list)
    for name, lines in files.items():
      expected = CATALOGUE_FILES.get(pathlib.Path(name).name)
      for number, line in enumerate(lines, start=1):
        if not line.strip():
          continue
        label, entry = parse_line(line, f"{name}:{number}")
        if expected is not None and label != expected:
          raise MalformedRowError(name, number, "wrong_catalogue",
                                  f"a {label} value in the {expected} catalogue: {line!r}")
        entries[label].append(entry)
    if not entries:
      raise ValueError(f"no catalogue entries in {', '.join(files) or 'no files'}")
    return cls({label: tuple(found) for label, found in entries.items()})

  @property
  def labels(self) -> tuple[str, ...]:
    return tuple(sorted(self.entries))

  def values(self, label: str) -> tuple[str, ...]:
    """The distinct values of ``label``, in catalogue order."""
    return tuple(dict.fromkeys(e.value for e in self.entries.get(label, ())))

  def surfaces(self, label: str, value: str) -> tuple[str, ...]:
    """The surface forms of one value, in catalogue order."""
    return tuple(e.surface for e in self.entries.get(label, ()) if e.value == value)

  def resolve(self, label: str, surface: str) -> str | None:
    """The value ``surface`` (words joined by single spaces) names, or None.

    Where one surface names several values, the first in the file wins.
    """
    return self._index().get((label, " ".join(surface.split())))

  def ambiguous(self) -> dict[tuple[str, str], tuple[str, ...]]:
    """``(label, surface) -> values`` for surfaces that name more than one value."""
    values: dict[tuple[str, str], list[str]] = collections.defaultdict(list)
    for label, found in self.entries.items():
      for entry in found:
        if entry.value not in values[(label, entry.surface)]:
          values[(label, entry.surface)].append(entry.value)
    return {key: tuple(v) for key, v in values.items() if len(v) > 1}

  def _index(self) -> dict[tuple[str, str], str]:
    index = self.__dict__.get("_cached_index")
    if index is None:
      index = {}
      for label, found in self.entries.items():
        for entry in found:
          index.setdefault((label, entry.surface), entry.value)
      object.__setattr__(self, "_cached_index", index)
    return index


@dataclasses.dataclass(frozen=True)
class TreeSchema:
  """Which constructor may appear under which, learnt from EXR trees.

  Attributes:
    root: the label of every root (``ORDER``).
    children: parent label -> the labels seen under it.
    entities: labels whose children are words (``TOPPING``, ``NUMBER``...).
    counts: parent label -> child label -> how often a parent had that many
      such children (``{"PIZZAORDER": {"TOPPING": {0: 120, 1: 90, 2: 150}}}``),
      the distribution grammar sampling draws from.
    order: parent label -> child labels in the order EXR writes them
      (children are written sorted by (this order, rendered string)).
  """

  root: str
  children: Mapping[str, frozenset[str]]
  entities: frozenset[str]
  counts: Mapping[str, Mapping[str, Mapping[int, int]]]
  order: Mapping[str, tuple[str, ...]]

  @classmethod
  def from_trees(cls, trees: Iterable[Tree]) -> "TreeSchema":
    """The schema of a set of EXR trees (e.g. the 348 dev parses).

    Raises:
      ValueError: no trees, roots with different labels, or a label that is
        an entity in one place and a constructor in another.
    """
    roots = set()
    children: dict[str, set[str]] = collections.defaultdict(set)
    entities, constructors = set(), set()
    counts: dict[str, dict[str, collections.Counter]] = collections.defaultdict(
        lambda: collections.defaultdict(collections.Counter))
    before: dict[str, set[tuple[str, str]]] = collections.defaultdict(set)
    seen_parents: collections.Counter = collections.Counter()
    parent_count_rows: list[tuple[str, collections.Counter]] = []
    for tree in trees:
      roots.add(tree.label)
      for node in tree.walk():
        if node.is_leaf_node:
          entities.add(node.label)
          continue
        constructors.add(node.label)
        seen_parents[node.label] += 1
        labels = [child.label for child in node.subtrees]
        children[node.label].update(labels)
        parent_count_rows.append((node.label, collections.Counter(labels)))
        for i, first in enumerate(labels):
          for second in labels[i + 1:]:
            if first != second:
              before[node.label].add((first, second))
    if not roots:
      raise ValueError("no trees to learn a schema from")
    if len(roots) != 1:
      raise ValueError(f"trees with different root labels: {sorted(roots)}")
    if entities & constructors:
      raise ValueError(f"labels used both as entities and as constructors:"
                       f" {sorted(entities & constructors)}")
    for parent, labels in parent_count_rows:
      for label in children[parent]:
        counts[parent][label][labels.get(label, 0)] += 1
    order = {parent: _topological(sorted(found), before[parent])
             for parent, found in children.items()}
    return cls(root=roots.pop(),
               children={p: frozenset(c) for p, c in children.items()},
               entities=frozenset(entities),
               counts={p: {c: dict(sorted(n.items())) for c, n in by.items()}
                       for p, by in counts.items()},
               order=order)

  def problems(self, tree: Tree, catalogues: Catalogues | None = None) -> list[str]:
    """What makes ``tree`` fall outside the schema (empty: it fits).

    A constructor under a parent it was never seen under, words under a
    constructor, a sub-tree under an entity, and (with ``catalogues``) an
    entity value no catalogue lists.
    """
    found = []
    if tree.label != self.root:
      found.append(f"root {tree.label!r} is not {self.root!r}")

    def visit(node: Tree) -> None:
      if node.label in self.entities:
        if not node.is_leaf_node:
          found.append(f"entity {node.label} has sub-trees")
        elif catalogues is not None and node.label in catalogues.entries and (
            node.text not in catalogues.values(node.label)):
          found.append(f"{node.label} value {node.text!r} is in no catalogue")
        return
      if node.label not in self.children:
        found.append(f"unknown constructor {node.label}")
        return
      for child in node.children:
        if isinstance(child, str):
          found.append(f"word {child!r} under constructor {node.label}")
        elif child.label not in self.children[node.label]:
          found.append(f"{child.label} under {node.label}")
        else:
          visit(child)

    visit(tree)
    return found

  def canonical(self, tree: Tree) -> Tree:
    """``tree`` with children in EXR's order: by label rank, then rendered string."""
    if tree.is_leaf_node:
      return tree
    rank = {label: i for i, label in enumerate(self.order.get(tree.label, ()))}
    kids = [self.canonical(child) for child in tree.subtrees]
    kids.sort(key=lambda c: (rank.get(c.label, len(rank)), c.render()))
    return Tree(tree.label, tuple(kids))


def _topological(labels: list[str], before: set[tuple[str, str]]) -> tuple[str, ...]:
  """``labels`` ordered so that each observed ``(a, b)`` puts a first (ties: alphabetical)."""
  remaining = list(labels)
  out = []
  while remaining:
    free = [x for x in remaining
            if not any((y, x) in before for y in remaining if y != x)]
    pick = min(free) if free else min(remaining)  # a cycle: fall back to alphabetical
    out.append(pick)
    remaining.remove(pick)
  return tuple(out)


class UnresolvedEntity(ValueError):
  """A TOP entity whose words no catalogue lists."""


def resolve_top(top: Tree, catalogues: Catalogues, schema: TreeSchema | None = None,
                *, default_number: bool = True) -> Tree:
  """The EXR tree a TOP tree means: entities resolved, words outside entities dropped.

  Args:
    top: a TOP tree.
    catalogues: the entity catalogues.
    schema: when given, children are put in EXR's order (:meth:`TreeSchema.canonical`).
    default_number: give an order without a NUMBER the EXR's ``(NUMBER 1 )``.

  Raises:
    UnresolvedEntity: an entity whose surface no catalogue lists.
  """

  def visit(node: Tree) -> Tree:
    if node.is_leaf_node and node.label in catalogues.entries:
      value = catalogues.resolve(node.label, node.text)
      if value is None:
        raise UnresolvedEntity(f"({node.label} {node.text} ) is in no catalogue")
      return Tree(node.label, tuple(value.split()))
    if node.is_leaf_node:  # a constructor with words only (not in PIZZA): keep its words
      return node
    kids = [visit(child) for child in node.subtrees]
    if (default_number and node.label in ITEM_ORDERS
        and not any(kid.label == "NUMBER" for kid in kids)):
      kids.append(Tree("NUMBER", (DEFAULT_NUMBER,)))
    return Tree(node.label, tuple(kids))

  exr = visit(top)
  return schema.canonical(exr) if schema is not None else exr
