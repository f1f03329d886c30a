"""Copy by placeholder: the teacher writes where each value goes, the values are filled in.

Trained tree -> words on a few hundred pairs, the warm-started teacher does not
learn to copy a value from the tree into the text: it replays a seed's frame
with the seed's own values (measured on PIZZA, subset 0, 1000 steps; README,
CLASP section). Delexicalisation (Wen et al., EMNLP 2015; Juraska et al., NAACL
2018) takes copying off the model: every value the utterance says becomes a
placeholder on both sides, so the teacher learns only the frame,

  ``(ORDER (PIZZAORDER (NOT (TOPPING [unused2] ) ) (NUMBER 1 ) (SIZE [unused0] ) (TOPPING [unused1] ) ) )``
  ``->  "i want [unused0] pizza with [unused1] and no [unused2] please"``

and :func:`fill` puts the request's surface forms back. The placeholders are
BERT's ``[unusedK]`` pieces: one piece each, never in ordinary text, so the
mention constraint (:mod:`fsnlu_jax.parse.mention`) can require each exactly
once. Placeholder ``K`` is the ``K``-th value the utterance says (for a
request: the ``K``-th of its phrases), so placeholders are written in
increasing order; an unsaid value (PIZZA's implicit ``(NUMBER 1 )``) stays in
the tree as it is.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Sequence

from fsnlu_jax.data import ParseExample, parse_tree
from fsnlu_jax.data.catalogues import Catalogues, TreeSchema, UnresolvedEntity, resolve_top
from fsnlu_jax.data.trees import Tree

MAX_PLACEHOLDERS = 100  # BERT's [unused0] .. [unused99] are single pieces below id 105
_PLACEHOLDER = re.compile(r"\[unused(\d+)\]")


def placeholder(k: int) -> str:
  """The word of placeholder ``k`` (``[unused3]``)."""
  if not 0 <= k < MAX_PLACEHOLDERS:
    raise ValueError(f"placeholder {k}: at most {MAX_PLACEHOLDERS} per tree")
  return f"[unused{k}]"


def placeholder_pieces(tokenizer) -> tuple[int, ...]:
  """The ids of every ``[unusedK]`` piece of a :class:`~fsnlu_jax.data.subword.SubwordTokenizer`
  (BERT has 994, not only the first ``MAX_PLACEHOLDERS``): the pieces a teacher
  trained on placeholders writes where a value goes, all alike before training."""
  return tuple(i for i in range(tokenizer.vocab_size)
               if _PLACEHOLDER.fullmatch(tokenizer.id_to_piece(i) or ""))


def align(exr: Tree, mentions: Sequence[str], catalogues: Catalogues
          ) -> tuple[list[int | None], dict[int, int]]:
  """``(per mention its placeholder or None, id(leaf) -> placeholder)``.

  The EXR tree's values are taken in pre-order; each claims the first
  unclaimed mention that its label's catalogue resolves to it, and gets the
  next placeholder. A mention no value claims gets None; a value no mention
  says (PIZZA's implicit ``(NUMBER 1 )``) gets no placeholder.
  """
  slot: list[int | None] = [None] * len(mentions)
  leaves: dict[int, int] = {}
  for node in exr.walk():
    if not node.is_leaf_node:
      continue
    for j, mention in enumerate(mentions):
      if slot[j] is None and catalogues.resolve(node.label, mention) == node.text:
        slot[j] = leaves[id(node)] = len(leaves)
        break
  return _in_mention_order(slot, leaves)


def _in_mention_order(slot: list[int | None], leaves: dict[int, int]
                      ) -> tuple[list[int | None], dict[int, int]]:
  """Placeholders renumbered in the order of the mentions: placeholder ``k`` is the
  ``k``-th value said. So the teacher always writes them in increasing order
  (:func:`fsnlu_jax.parse.mention.mention_constraint`'s ``in_order``): it learns
  only *where* a value goes, never *which* one: the ``[unusedK]`` embeddings
  were never trained and the CPU-scale model keeps its tables frozen
  (``model.train_embeddings=False``), so their logits are alike (measured: a
  teacher numbering in tree order wrote ``[unused293]`` where ``[unused0]`` was due)."""
  rank = {k: r for r, k in enumerate(k for k in slot if k is not None)}
  return ([None if k is None else rank[k] for k in slot],
          {leaf: rank[k] for leaf, k in leaves.items()})


def delexicalize_tree(exr: str, mentions: Sequence[str], catalogues: Catalogues
                      ) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
  """``(tree with placeholders, fills, left)``: ``fills[k]`` is the mention placeholder
  ``k`` stands for; ``left`` are the mentions no value of the tree claims."""
  tree = parse_tree(exr)
  slot, leaves = align(tree, mentions, catalogues)
  fills = [""] * len(leaves)
  for mention, k in zip(mentions, slot):
    if k is not None:
      fills[k] = mention

  left = tuple(m for m, k in zip(mentions, slot) if k is None)
  return _swap(tree, leaves).render(), tuple(fills), left


def delexicalize_example(example: ParseExample, catalogues: Catalogues, schema: TreeSchema
                         ) -> ParseExample | None:
  """``example`` with each said value a placeholder in both its EXR tree and its
  utterance; None without a TOP tree or when no value is said.

  The spans come from the TOP tree, paired with the values by structure: the
  TOP tree resolved in its own order keeps each entity where the utterance
  says it, so a value of the second pizza is never taken for the same value
  said for the first. The tree is that resolution in EXR order
  (:meth:`TreeSchema.canonical`), placeholders numbered in pre-order as
  :func:`delexicalize_tree` numbers a request's. Where the resolution is not
  the EXR tree (a surface no catalogue lists), values claim mentions in
  pre-order (:func:`align`).
  """
  if not example.top:
    return None
  top = parse_tree(example.top, example.source)
  spans = top.entity_spans()
  words = list(top.words)
  structural = _structural_slots(top, spans, example, catalogues, schema)
  if structural is None:
    slot, leaves = align(parse_tree(example.exr), [n.text for n, _, _ in spans], catalogues)
    tree = _swap(parse_tree(example.exr), leaves)
  else:
    slot, tree = structural
  if all(k is None for k in slot):
    return None
  out, at = [], 0
  for (_, start, end), k in zip(spans, slot):
    if k is not None:
      out += words[at:start] + [placeholder(k)]
      at = end
  text = " ".join(out + words[at:])
  return dataclasses.replace(example, text=text, tokens=tuple(text.split()), exr=tree.render())


def _structural_slots(top: Tree, spans, example: ParseExample, catalogues: Catalogues,
                      schema: TreeSchema) -> tuple[list[int | None], Tree] | None:
  """Per TOP span its placeholder, and the delexicalized EXR tree, pairing spans and
  values through the TOP tree's own resolution; None when that is not the EXR tree."""
  try:
    resolved = resolve_top(top, catalogues)
  except UnresolvedEntity:
    return None
  canonical = schema.canonical(resolved)  # keeps the leaf objects: id() still names them
  if canonical != schema.canonical(parse_tree(example.exr)):
    return None
  span_of: dict[int, int] = {}  # id(leaf) -> span; leaves in TOP order, defaults unpaired
  j = 0
  for node in resolved.walk():
    if not node.is_leaf_node or j >= len(spans):
      continue
    said = spans[j][0]
    if said.label == node.label and catalogues.resolve(said.label, said.text) == node.text:
      span_of[id(node)], j = j, j + 1
  slot: list[int | None] = [None] * len(spans)
  leaves: dict[int, int] = {}
  for node in canonical.walk():
    if node.is_leaf_node and id(node) in span_of:
      slot[span_of[id(node)]] = leaves[id(node)] = len(leaves)
  slot, leaves = _in_mention_order(slot, leaves)
  return slot, _swap(canonical, leaves)


def _swap(tree: Tree, leaves: dict[int, int]) -> Tree:
  """``tree`` with each leaf of ``leaves`` (``id(leaf) -> k``) replaced by placeholder ``k``."""
  if tree.is_leaf_node:
    return Tree(tree.label, (placeholder(leaves[id(tree)]),)) if id(tree) in leaves else tree
  return Tree(tree.label, tuple(_swap(kid, leaves) for kid in tree.subtrees))


def fill(text: str, fills: Sequence[str]) -> str:
  """``text`` with each ``[unusedK]`` replaced by ``fills[K]``.

  Raises:
    ValueError: a placeholder without a fill.
  """

  def value(match: re.Match) -> str:
    k = int(match.group(1))
    if k >= len(fills):
      raise ValueError(f"placeholder {match.group(0)} in {text!r}: only {len(fills)} fills")
    return f" {fills[k]} "

  return " ".join(_PLACEHOLDER.sub(value, text).split())
