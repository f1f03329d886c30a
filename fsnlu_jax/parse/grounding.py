"""Grounded values: the parser writes only the entity values its utterance mentions.

Trained on 16 parses, the decoder learns the shape of the trees long before it
learns to copy: it writes a training tree's toppings for an utterance that
names others (measured on PIZZA, subset 0: 3% exact match, most errors a
wrong value in the right place). The catalogues say how each value is said,
so the parser need not guess: a value is *mentioned* when one of its
catalogue surface forms occurs in the utterance as whole words, and the
beam may write only mentioned values. PIZZA's implicit ``(NUMBER 1 )`` (an
order without a number) and values without any surface form are always
allowed.

The cost is bounded and measured: on PIZZA's 1705 dev and test rows, 96.4%
have every value of their EXR tree mentioned; the other rows say a value with
words no catalogue lists, and those values cannot be written.

The restriction is a per-row piece mask (``[B, V]``,
:func:`fsnlu_jax.kernels.row_masked_constraint`) on top of the grammar's
automaton: every piece of a constructor or a bracket is allowed, value
pieces only those of mentioned values (a piece a mentioned value shares with
an unmentioned one stays allowed: the mask relaxes, it never blocks a
mentioned value). With dead-end pruning the parser also applies it symbol by
symbol (:meth:`ValueGrounding.value_mask`, the automaton's ``edge_values``).

Shapes: ``B`` utterances, ``V`` vocabulary.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from fsnlu_jax.data import parse_tree
from fsnlu_jax.data.catalogues import DEFAULT_NUMBER, Catalogues
from fsnlu_jax.decoding import GrammarAutomaton, TreeGrammar

# Written without being said: an order's default count (EXR's (NUMBER 1 ) where TOP has none).
IMPLICIT = {("NUMBER", DEFAULT_NUMBER)}


def grammar_surfaces(grammar: TreeGrammar, catalogues: Catalogues
                     ) -> dict[str, dict[str, list[str]]]:
  """label -> value -> its catalogue surface forms, for every value of the grammar."""
  return {label: {value: list(catalogues.surfaces(label, value)) for value in values}
          for label, values in grammar.values.items()}


class ValueGrounding:
  """Which value pieces each utterance allows.

  Args:
    surfaces: label -> value -> surface forms (:func:`grammar_surfaces`;
      saved in ``parser.json``).
    automaton: the compiled grammar (its symbols' pieces).
    carrier_words: words the training parses use outside any entity ("can"
      in "can i get ..."): a one-word mention that is one of them is allowed
      but not required (:meth:`required`).
  """

  def __init__(self, surfaces: Mapping[str, Mapping[str, Sequence[str]]],
               automaton: GrammarAutomaton, carrier_words: Sequence[str] = ()):
    pieces = automaton.symbol_pieces  # a value is one symbol, even "2 LITER"
    value_of = lambda value: list(pieces[value])
    self.always = np.zeros(automaton.vocab_size, bool)
    for symbol, ids in pieces.items():
      if symbol == ")" or symbol.startswith("("):
        self.always[list(ids)] = True
    self.always[automaton.eos_id] = True
    # (" surface form ", the value's pieces, its index in automaton.value_symbols)
    self._said: list[tuple[str, list[int], int]] = []
    index = {v: i for i, v in enumerate(automaton.value_symbols)}
    self._always_values = np.zeros(len(index), bool)
    for label, values in surfaces.items():
      for value, forms in values.items():
        if (label, value) in IMPLICIT or not forms:
          self.always[value_of(value)] = True
          self._always_values[index[value]] = True
        else:
          ids = value_of(value)
          self._said += [(f" {' '.join(form.lower().split())} ", ids, index[value])
                         for form in forms]
    # Longest forms first: "green peppers" is one mention, not also "peppers".
    self._said.sort(key=lambda item: -len(item[0].split()))
    self.carrier_words = frozenset(carrier_words)

  def mask(self, texts: Sequence[str]) -> np.ndarray:
    """bool ``[B, V]``: per utterance, the pieces the parser may write."""
    out = np.repeat(self.always[None], len(texts), axis=0)
    for row, text in enumerate(texts):
      padded = f" {' '.join(text.lower().split())} "
      for form, ids, _ in self._said:
        if form in padded:
          out[row, ids] = True
    return out

  def value_mask(self, texts: Sequence[str]) -> np.ndarray:
    """bool ``[B, Nv]``: per utterance, the values (``automaton.value_symbols``) it may
    write, symbol by symbol, found as :meth:`required` finds them (longest mentions
    first: "feta cheese" allows FETA_CHEESE, not CHEESE; carrier words kept) plus the
    implicit ones. :meth:`mask` lets a value through whose pieces all belong to
    mentioned ones (``EXTRA_LARGE`` when "extra" and "large" are said; 150 of the 1357
    PIZZA test rows have such a value); this does not."""
    out = np.repeat(self._always_values[None], len(texts), axis=0)
    for row, text in enumerate(texts):
      for value in self._mentions(text, carriers=True, symbols=True)[0]:
        out[row, value] = True
    return out

  def required(self, texts: Sequence[str]) -> list[list[list[int]]]:
    """Per utterance, the pieces of each value it mentions, which the tree must contain.

    Mentions are found longest first, without overlap ("green peppers" is
    GREEN_PEPPERS, not also PEPPERS); a one-word mention that is a carrier
    word, the implicit values and repeats are left out.
    """
    return [self._mentions(text)[0] for text in texts]

  def mention_counts(self, texts: Sequence[str]) -> list[list[int]]:
    """Per utterance, how many times it mentions each value of :meth:`required` (same
    order): on PIZZA's 1705 dev and test rows no EXR tree writes a mentioned value
    more often than that, so it caps how often the parser may write it."""
    return [self._mentions(text)[1] for text in texts]

  def _mentions(self, text: str, *, carriers: bool = False, symbols: bool = False
                ) -> tuple[list, list[int]]:
    """``(the values of`` :meth:`required` ``, times each is mentioned)``, in the order
    first found: longest mentions first, without overlap. ``carriers``: keep one-word
    mentions that are carrier words; ``symbols``: values as indices into
    ``automaton.value_symbols`` instead of their pieces."""
    words = " ".join(text.lower().split()).split()
    taken = [False] * len(words)
    wanted: list = []
    counts: list[int] = []
    for form, ids, value in self._said:
      form_words = form.split()
      n = len(form_words)
      for i in range(len(words) - n + 1):
        if words[i:i + n] == form_words and not any(taken[i:i + n]):
          taken[i:i + n] = [True] * n
          if n == 1 and form_words[0] in self.carrier_words and not carriers:
            continue
          key = value if symbols else ids
          if key in wanted:
            counts[wanted.index(key)] += 1
          else:
            wanted.append(key)
            counts.append(1)
    return wanted, counts


def carrier_words(tops: Sequence[str]) -> list[str]:
  """The words of TOP trees outside every entity (the utterances' carrier words), sorted."""
  words: set[str] = set()
  for top in tops:
    tree = parse_tree(top)
    inside = {id(node) for node, _, _ in tree.entity_spans()}

    def visit(node):
      if id(node) in inside:
        return
      for child in node.children:
        if isinstance(child, str):
          words.add(child.lower())
        else:
          visit(child)

    visit(tree)
  return sorted(words)
