"""The two teacher-free augmentation baselines of CLASP on PIZZA.

* :func:`sample_grammar_example`: **grammar sampling**, the classic unrealistic
  baseline. A random EXR tree is drawn from the :class:`TreeSchema` (how many
  children of each label a node had in the seed trees) and the catalogues
  (entity values, uniformly), then rendered to an utterance and its TOP tree
  by fixed templates ("i want two large pizzas with ham and extra cheese
  without onions").
* :func:`substitute_slots`: **RS by direct substitution**: a real example's
  entity values (their spans known from its TOP tree) are replaced by other
  catalogue values of the same label, in the utterance and both trees at once.

Both are seeded (a ``numpy.random.Generator``) and return new
:class:`~fsnlu_jax.data.parses.ParseExample` records whose EXR tree is the
resolution of their TOP tree (:func:`~fsnlu_jax.data.catalogues.resolve_top`),
so utterance, TOP and EXR always agree. :func:`augment` draws many and drops
repeats. Host-side, no JAX.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from fsnlu_jax.data.catalogues import (Catalogues, TreeSchema, UnresolvedEntity,
                                       resolve_top)
from fsnlu_jax.data.parses import ParseExample
from fsnlu_jax.data.trees import Tree, parse_tree

# Labels RS substitutes by default. NUMBER is left alone: a new number would
# break agreement ("one pizzas") in the words around it, which substitution
# cannot fix.
RS_LABELS = ("TOPPING", "STYLE", "SIZE", "QUANTITY", "DRINKTYPE", "CONTAINERTYPE", "VOLUME")
_PREFIXES = ("i want", "i would like", "can i get", "i'd like to order", "please get me",
             "let me have", "i need")
_SUFFIXES = ("", "", "please", "thanks")
_MAX_TRIES = 100


def _choice(rng: np.random.Generator, items: Sequence):
  return items[int(rng.integers(len(items)))]


def _draw_count(rng: np.random.Generator, histogram: dict[int, int]) -> int:
  counts = sorted(histogram.items())
  weights = np.array([c for _, c in counts], dtype=np.float64)
  return counts[int(rng.choice(len(counts), p=weights / weights.sum()))][0]


def _surface(catalogues: Catalogues, label: str, value: str, rng: np.random.Generator) -> str:
  """A random surface form of ``value`` that resolves back to it."""
  forms = [s for s in catalogues.surfaces(label, value) if catalogues.resolve(label, s) == value]
  if not forms:
    raise UnresolvedEntity(f"no surface form of {label} {value!r} resolves back to it")
  return _choice(rng, forms)


# ---- grammar sampling ---------------------------------------------------------


def sample_exr(schema: TreeSchema, catalogues: Catalogues, rng: np.random.Generator) -> Tree:
  """A random EXR tree: child counts from the schema, values from the catalogues.

  Every constructor gets at least one child (drawn again otherwise); sibling
  entities of one label get distinct values.
  """

  def node(label: str) -> Tree:
    for _ in range(_MAX_TRIES):
      kids: list[Tree] = []
      for child in schema.order.get(label, sorted(schema.children[label])):
        used: set[str] = set()
        for _ in range(_draw_count(rng, schema.counts[label][child])):
          if child in schema.entities:
            values = [v for v in catalogues.values(child) if v not in used]
            if not values:
              break
            value = _choice(rng, values)
            used.add(value)
            kids.append(Tree(child, tuple(value.split())))
          else:
            kids.append(node(child))
      if kids:
        return Tree(label, tuple(kids))
    raise ValueError(f"the schema gives {label} no children in {_MAX_TRIES} draws")

  return schema.canonical(node(schema.root))


def _words(text: str) -> list[str]:
  return text.split()


def _entity(label: str, surface: str) -> Tree:
  return Tree(label, tuple(surface.split()))


def render_top(exr: Tree, catalogues: Catalogues, rng: np.random.Generator) -> Tree:
  """A TOP tree (utterance words and all) saying ``exr``, by fixed templates.

  ``(NUMBER 1 )`` is left unsaid one time in three (EXR's default number).
  """

  def say(node: Tree) -> Tree:
    return _entity(node.label, _surface(catalogues, node.label, node.text, rng))

  def listing(items: list[Tree], joiner: str) -> list:
    out: list = []
    for i, item in enumerate(items):
      if i:
        out.append(joiner)
      out.append(item)
    return out

  def complex_topping(node: Tree) -> Tree:
    return Tree(node.label, tuple(say(k) if k.label in catalogues.entries else complex_topping(k)
                                  for k in node.subtrees))

  def topping_like(node: Tree) -> Tree:
    return say(node) if node.is_leaf_node else complex_topping(node)

  def item(node: Tree) -> Tree:
    by_label: dict[str, list[Tree]] = {}
    for kid in node.subtrees:
      by_label.setdefault(kid.label, []).append(kid)
    words: list = []
    number = by_label.get("NUMBER", [])
    plural = bool(number) and number[0].text != "1"
    if number and (plural or rng.random() < 2 / 3):
      words.append(say(number[0]))
    if node.label == "PIZZAORDER":
      words += [say(k) for k in by_label.get("SIZE", [])]
      words += [say(k) for k in by_label.get("STYLE", [])]
      words.append("pizzas" if plural else "pizza")
      toppings = [topping_like(k) for k in by_label.get("COMPLEX_TOPPING", [])
                  + by_label.get("TOPPING", [])]
      if toppings:
        words += ["with"] + listing(toppings, "and")
      negated = [Tree("NOT", tuple(listing([topping_like(k) for k in nots.subtrees], "or")))
                 for nots in by_label.get("NOT", [])]
      if negated:
        words += ["without"] + listing(negated, "or")
    else:  # DRINKORDER and any other item: entities in a fixed order
      after = []
      for label in ("SIZE", "VOLUME", "CONTAINERTYPE", "DRINKTYPE"):
        for kid in by_label.get(label, []):
          spoken = say(kid)
          if label == "CONTAINERTYPE" and spoken.words[0] in ("in", "inside"):
            after.append(spoken)
          else:
            words.append(spoken)
      words += after
      for label, kids in by_label.items():
        if label not in ("NUMBER", "SIZE", "VOLUME", "CONTAINERTYPE", "DRINKTYPE"):
          words += [say(k) if k.is_leaf_node else item(k) for k in kids]
    return Tree(node.label, tuple(words))

  items = [item(kid) for kid in exr.subtrees]
  order_rng = rng.permutation(len(items))
  children: list = _words(_choice(rng, _PREFIXES))
  children += listing([items[i] for i in order_rng], "and")
  children += _words(_choice(rng, _SUFFIXES))
  return Tree(exr.label, tuple(children))


def sample_grammar_example(schema: TreeSchema, catalogues: Catalogues,
                           rng: np.random.Generator, *, source: str = "grammar") -> ParseExample:
  """One grammar-sampled example: a random EXR tree, its templated TOP and utterance."""
  exr = sample_exr(schema, catalogues, rng)
  top = render_top(exr, catalogues, rng)
  resolved = resolve_top(top, catalogues, schema)
  assert resolved == exr, (top.render(), exr.render())  # the templates say what was drawn
  return ParseExample(text=top.text, tokens=top.words, top=top.render(), exr=exr.render(),
                      pcfg_err=False, source=source)


# ---- RS by direct substitution ------------------------------------------------


def substitute_slots(example: ParseExample, catalogues: Catalogues, schema: TreeSchema,
                     rng: np.random.Generator, *, labels: Sequence[str] = RS_LABELS,
                     source: str | None = None) -> ParseExample | None:
  """``example`` with every entity of ``labels`` replaced by another catalogue value.

  Each entity span of the TOP tree gets a different value of its label (one
  not already under the same parent), said by one of its catalogue surface
  forms; the utterance is the new TOP tree's words and the EXR tree its
  resolution. The PCFG_ERR flag is kept (the sentence frame is the seed's).

  Returns:
    The new example, or None when nothing can be substituted, or when the
    seed's own TOP tree does not resolve to its EXR tree (a surface form no
    catalogue lists): then the EXR of a substitute could not be trusted.
  """
  top = parse_tree(example.top, example.source)
  try:
    if resolve_top(top, catalogues, schema) != schema.canonical(parse_tree(example.exr)):
      return None
  except UnresolvedEntity:
    return None
  changed = False

  def visit(node: Tree) -> Tree:
    nonlocal changed
    kids = list(node.children)
    taken = {(k.label, catalogues.resolve(k.label, k.text)) for k in node.subtrees
             if k.is_leaf_node and k.label in catalogues.entries}
    for i, kid in enumerate(kids):
      if not isinstance(kid, Tree):
        continue
      if kid.is_leaf_node and kid.label in labels and kid.label in catalogues.entries:
        options = [v for v in catalogues.values(kid.label) if (kid.label, v) not in taken]
        if options:
          value = _choice(rng, options)
          taken.add((kid.label, value))
          kids[i] = _entity(kid.label, _surface(catalogues, kid.label, value, rng))
          changed = True
      elif not kid.is_leaf_node:
        kids[i] = visit(kid)
    return Tree(node.label, tuple(kids))

  new_top = visit(top)
  if not changed:
    return None
  exr = resolve_top(new_top, catalogues, schema)
  return ParseExample(text=new_top.text, tokens=new_top.words, top=new_top.render(),
                      exr=exr.render(), pcfg_err=example.pcfg_err,
                      source=source or f"rs:{example.source}")


# ---- many at once --------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Augmented:
  """What :func:`augment` made.

  Attributes:
    examples: the new examples, in the order drawn, without repeats.
    repeats: draws dropped because their utterance was already there (a seed's
      or an earlier draw's).
    unusable: draws that gave nothing (RS: a seed that does not resolve, or
      has nothing to substitute).
  """

  examples: tuple[ParseExample, ...]
  repeats: int
  unusable: int


def augment(method: str, n: int, seeds: Sequence[ParseExample], catalogues: Catalogues,
            schema: TreeSchema, rng: np.random.Generator, *, max_draws: int | None = None
            ) -> Augmented:
  """``n`` new examples by ``method`` (``"grammar"`` or ``"rs"``), de-duplicated.

  Args:
    method: ``"grammar"`` (:func:`sample_grammar_example`) or ``"rs"``
      (:func:`substitute_slots` on seeds taken in turn from a shuffled order).
    n: how many to return (fewer when ``max_draws`` runs out).
    seeds: the real examples (RS substitutes into them; both methods never
      return an utterance a seed already has).
    max_draws: the most draws (default ``20 * n``).
  """
  if method not in ("grammar", "rs"):
    raise ValueError(f"method is 'grammar' or 'rs', got {method!r}")
  if method == "rs" and not seeds:
    raise ValueError("RS needs seed examples")
  seen = {e.text for e in seeds}
  out: list[ParseExample] = []
  repeats = unusable = 0
  order = rng.permutation(len(seeds)) if seeds else np.zeros(0, np.int64)
  for draw in range(max_draws if max_draws is not None else 20 * n):
    if len(out) == n:
      break
    if method == "grammar":
      example = sample_grammar_example(schema, catalogues, rng, source=f"grammar:{draw}")
    else:
      seed = seeds[int(order[draw % len(seeds)])]
      example = substitute_slots(seed, catalogues, schema, rng,
                                 source=f"rs:{draw}:{seed.source}")
    if example is None:
      unusable += 1
    elif example.text in seen:
      repeats += 1
    else:
      seen.add(example.text)
      out.append(example)
  return Augmented(tuple(out), repeats, unusable)
