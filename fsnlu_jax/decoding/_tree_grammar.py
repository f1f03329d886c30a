"""A tree grammar as a token-level constraint: every finished sequence is a well-formed tree.

A :class:`TreeGrammar` says which constructors may appear under which parent
and which values each entity may take (PIZZA: the EXR labels seen in the seed
trees, the catalogue values). Its sentences are bracketed trees written as
PIZZA writes EXR, one *symbol* per whitespace-separated chunk::

  (ORDER (PIZZAORDER (NUMBER 2 ) (TOPPING BANANA_PEPPERS ) ) )

A symbol is ``(LABEL``, ``)`` or a value word, and a subword tokenizer turns
each into word pieces (for BERT-style tokenizers the pieces of a string are
the pieces of its chunks, concatenated: ``(TOPPING`` -> ``( topping``). The
grammar is compiled on the host into a deterministic automaton over piece ids:

1. grammar states are ``(path of open labels, phase)``: a constructor just
   opened (a child must follow), a constructor with children (another child
   or ``)``), an entity opened (a value must follow), an entity with its value
   (``)`` must follow); the open labels bound the depth (``max_depth``), and
   each keeps the once-only children it holds (``once``);
2. each grammar state allows a set of symbols; a symbol's pieces are a path,
   so the automaton's states are sets of ``(grammar state, piece prefix)``,
   built by subset construction, which also resolves symbols whose pieces are
   a prefix of another's (``pepper`` / ``pepper ##oni``);
3. the state where the root is closed allows EOS only.

The automaton is stored as :class:`~fsnlu_jax.kernels.TrieArrays` (a graph in
compressed rows: the trie kernels never assume a tree), so the constraint is
:func:`~fsnlu_jax.decoding.trie_constraint` itself: static shapes, one
compiled function per grammar size (pad with :func:`~fsnlu_jax.kernels.pad_trie`).
:meth:`GrammarAutomaton.decode` maps finished piece ids back to the tree string.

Shapes: ``V`` vocab, ``S`` automaton states, ``A`` edges.
"""

from __future__ import annotations

import collections
import dataclasses
import itertools
from typing import Any, Callable, Container, Iterable, Mapping, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from fsnlu_jax.data.catalogues import Catalogues, TreeSchema
from fsnlu_jax.decoding._constraints import trie_constraint
from fsnlu_jax.decoding._tries import DEFAULT_DENSE_FANOUT, _dense_bits
from fsnlu_jax.kernels import Constraint, TrieArrays

_START, _DONE, _FINAL = ("start",), ("done",), ("final",)  # _FINAL: after EOS
# Phases of a grammar state (path, phase).
_OPENED, _HAS_CHILD, _NEEDS_VALUE, _HAS_VALUE = "opened", "has_child", "needs_value", "has_value"
_COPYING = "copying"  # an entity value being copied: another utterance piece, or ")"
_OTHER = -1  # a token's reading that completes no value (a label, a bracket, a value's prefix)


@dataclasses.dataclass(frozen=True)
class TreeGrammar:
  """Which trees are allowed.

  Attributes:
    root: the label of the root (``ORDER``).
    children: constructor label -> the labels allowed under it.
    values: entity label -> its allowed values (a value may hold spaces:
      ``2 LITER`` is two symbols).
    max_depth: the most nested open labels (bounds a recursive grammar).
    copy: entity labels whose value may instead be copied from the utterance:
      one or more of its pieces, in any order (the constraint then needs the
      utterance's pieces, see :func:`tree_grammar_constraint`).
    once: constructor label -> the child labels it may hold at most once
      (PIZZA: one ``NUMBER`` and one ``SIZE`` per order). Each open
      constructor's automaton state remembers which of them it has.
  """

  root: str
  children: Mapping[str, frozenset[str]]
  values: Mapping[str, tuple[str, ...]]
  max_depth: int = 8
  copy: frozenset[str] = frozenset()
  once: Mapping[str, frozenset[str]] = dataclasses.field(default_factory=dict)

  def __post_init__(self):
    both = set(self.children) & set(self.values)
    if both:
      raise ValueError(f"labels both constructors and entities: {sorted(both)}")
    if self.root not in self.children:
      raise ValueError(f"the root {self.root!r} is not a constructor")
    for parent, kids in self.children.items():
      unknown = [k for k in kids if k not in self.children and k not in self.values]
      if unknown:
        raise ValueError(f"{parent} allows {sorted(unknown)}, neither constructors nor entities")
    barren = [label for label, kids in self.children.items() if not kids]
    if barren:
      raise ValueError(f"constructors that allow no children: {sorted(barren)}")
    not_entities = sorted(set(self.copy) - set(self.values))
    if not_entities:
      raise ValueError(f"copy labels that are not entities: {not_entities}")
    empty = [label for label, values in self.values.items()
             if not values and label not in self.copy]
    if empty:
      raise ValueError(f"entities without values: {sorted(empty)}")
    stray = sorted(f"{p}/{c}" for p, labels in self.once.items() for c in labels
                   if c not in self.children.get(p, ()))
    if stray:
      raise ValueError(f"'once' labels that are not children of their parent: {stray}")

  @classmethod
  def from_schema(cls, schema: TreeSchema, catalogues: Catalogues, *,
                  extra_children: Mapping[str, Iterable[str]] | None = None,
                  copy: Iterable[str] = (), max_depth: int = 8,
                  once_only: bool = True) -> "TreeGrammar":
    """The schema's constructors, with the catalogue values for its entities.

    Args:
      schema: e.g. learnt from the seed EXR trees.
      catalogues: the values of each entity label (an entity without
        catalogue values is an error).
      extra_children: parent -> labels to allow besides the schema's (PIZZA:
        ``{"DRINKORDER": ["VOLUME"]}``, which the catalogues know but the 348
        dev trees never use).
      copy: entity labels whose value may also be copied from the utterance.
      once_only: an entity never seen more than once under its parent in the
      schema's trees may appear there at most once (``once``): an order has
      one size and one number. Constructors are left free: an exclusion
      (``NOT``) or a sub-order may repeat in trees the schema has not seen.
    """
    children = {p: set(c) for p, c in schema.children.items()}
    for parent, labels in (extra_children or {}).items():
      children.setdefault(parent, set()).update(labels)
    entities = {label for kids in children.values() for label in kids if label not in children}
    missing = sorted(e for e in entities if not catalogues.values(e) and e not in set(copy))
    if missing:
      raise ValueError(f"entities without catalogue values: {missing}")
    once = {}
    if once_only:
      for parent, per_child in schema.counts.items():
        single = {child for child, seen in per_child.items() if child in entities
                  and max(n for n, rows in seen.items() if rows) <= 1}
        if single:
          once[parent] = frozenset(single)
    return cls(root=schema.root, children={p: frozenset(c) for p, c in children.items()},
               values={e: catalogues.values(e) for e in sorted(entities)}, max_depth=max_depth,
               copy=frozenset(copy), once=once)


@dataclasses.dataclass
class GrammarAutomaton:
  """A :class:`TreeGrammar` compiled to piece ids.

  Attributes:
    arrays: the automaton as :class:`~fsnlu_jax.kernels.TrieArrays` (NumPy
      leaves; ``roots[0]`` is the start state).
    vocab_size: ``V``.
    eos_id: the token allowed once the root is closed.
    symbol_pieces: symbol -> its piece ids.
    copy: the copy arrays (:class:`CopyArrays`); all ``-1`` / equal to
      ``edge_child`` when the grammar copies nothing.
    value_symbols: every entity value of the grammar, sorted (a value shared
      by two labels, ``LARGE``, is one symbol).
    edge_values: int32 ``[A]``: per edge of ``arrays``, the index in
      ``value_symbols`` of the value it completes when that is all it can
      mean; -1 for every other edge (a label, a bracket, a piece that also
      continues a longer value). Lets a decoder allow values per input,
      symbol by symbol (:mod:`fsnlu_jax.parse.grounding`).
  """

  arrays: TrieArrays
  vocab_size: int
  eos_id: int
  symbol_pieces: dict[str, tuple[int, ...]]
  copy: "CopyArrays"
  value_symbols: tuple[str, ...]
  edge_values: np.ndarray
  _grammar: TreeGrammar = dataclasses.field(repr=False)
  _tables: "_Tables | None" = dataclasses.field(default=None, repr=False)

  @property
  def num_states(self) -> int:
    return self.arrays.num_states

  @property
  def copies(self) -> bool:
    """Whether some entity's value may be copied from the utterance."""
    return bool(self._grammar.copy)

  def constraint(self, arrays: TrieArrays | None = None, copy: "CopyArrays | None" = None,
                 utterance_mask: Any = None) -> Constraint:
    """:func:`tree_grammar_constraint` of this automaton (its own arrays by default)."""
    return tree_grammar_constraint(self.arrays if arrays is None else arrays,
                                   vocab_size=self.vocab_size,
                                   copy=(self.copy if copy is None else copy)
                                   if utterance_mask is not None else None,
                                   utterance_mask=utterance_mask, eos_id=self.eos_id)

  def step(self, state: int, token: int, utterance: Container[int] = ()) -> int:
    """Host-side advance: the next state, or -1 (NumPy, for filters and tests).

    ``utterance``: the piece ids that may be copied (a set).
    """
    if state < 0:
      return -1
    lo, hi = int(self.arrays.offsets[state]), int(self.arrays.offsets[state + 1])
    tokens = self.arrays.edge_tokens[lo:hi]
    at = int(np.searchsorted(tokens, token))
    found = at < hi - lo and tokens[at] == token
    if token in utterance and token != self.eos_id:
      return int(self.copy.edge_child[lo + at]) if found else int(self.copy.copy_to[state])
    return int(self.arrays.edge_child[lo + at]) if found else -1

  def allowed(self, state: int, utterance: Iterable[int] = ()) -> np.ndarray:
    """Host-side: the token ids allowed after ``state``, ascending."""
    if state < 0:
      return np.zeros(0, np.int32)
    own = np.asarray(self.arrays.edge_tokens[self.arrays.offsets[state]:
                                             self.arrays.offsets[state + 1]])
    if self.copy.copy_to[state] < 0:
      return own
    copied = np.asarray([t for t in utterance if t != self.eos_id], np.int32)
    return np.union1d(own, copied).astype(np.int32)

  def accepts(self, ids: Sequence[int], utterance: Container[int] = ()) -> bool:
    """Whether ``ids`` (EOS last) is a sentence of the grammar."""
    state = int(self.arrays.roots[0])
    for token in ids:
      state = self.step(state, int(token), utterance)
    return state >= 0 and len(ids) > 0 and int(ids[-1]) == self.eos_id

  def decode(self, ids: Sequence[int], utterance: Container[int] = (),
             detokenize: Callable[[list[int]], str] | None = None) -> str | None:
    """The tree string of a piece sequence (up to EOS), or None if it is not a full tree.

    Symbols are recovered by re-running the grammar with the symbols read so
    far, so labels and values come back exactly as the grammar writes them
    (``BANANA_PEPPERS``, not the tokenizer's lower-cased pieces). A copied
    value is written ``detokenize(its pieces)`` (default: the ids, joined by
    ``_``), with its spaces kept as separate words.
    """
    if self._tables is None:
      self._tables = _Tables(self._grammar, self.symbol_pieces)
    tables = self._tables
    frontier: dict[tuple, tuple] = {(_START, ()): ()}
    for token in ids:
      token = int(token)
      if token == self.eos_id:
        break
      copied = token in utterance
      nxt: dict[tuple, tuple] = {}
      for (state, prefix), symbols in frontier.items():
        for target, symbol in tables.moves(state, prefix).get(token, ()):
          nxt.setdefault(target, symbols + ((symbol,) if symbol is not None else ()))
        if copied:
          for target in tables.copy_moves(state, prefix):
            nxt.setdefault(target, symbols + (token,))
      frontier = nxt
      if not frontier:
        return None
    done = frontier.get((_DONE, ()))
    if done is None:
      return None
    words: list[str] = []
    for is_copy, group in itertools.groupby(done, key=lambda x: isinstance(x, int)):
      group = list(group)
      if is_copy:
        text = detokenize(group) if detokenize else "_".join(map(str, group))
        words += text.split() or ["_"]
      else:
        words += group
    return " ".join(words)


class _Tables:
  """The grammar states, their symbols and piece moves (memoised)."""

  def __init__(self, grammar: TreeGrammar, pieces: Mapping[str, tuple[int, ...]]):
    self.grammar, self.pieces = grammar, pieces
    self._symbols: dict[tuple, list[tuple[str, tuple]]] = {}
    self._moves: dict[tuple, dict[int, list[tuple[tuple, str | None]]]] = {}

  def symbols(self, state: tuple) -> list[tuple[str, tuple]]:
    """``(symbol, next grammar state)`` allowed in a grammar state."""
    if state in self._symbols:
      return self._symbols[state]
    g = self.grammar
    out: list[tuple[str, tuple]] = []
    # A path holds each open label with the once-only children it already has.
    if state == _START:
      out.append((f"({g.root}", (((g.root, frozenset()),), _OPENED)))
    elif state not in (_DONE, _FINAL):
      path, phase = state
      label, used = path[-1]
      parent = _DONE if len(path) == 1 else (path[:-1], _HAS_CHILD)
      if phase in (_OPENED, _HAS_CHILD) and len(path) < g.max_depth:
        once = g.once.get(label, frozenset())
        for child in sorted(g.children[label] - used):
          marked = path[:-1] + ((label, used | {child} if child in once else used),)
          out.append((f"({child}", (marked + ((child, frozenset()),),
                                    _NEEDS_VALUE if child in g.values else _OPENED)))
      if phase in (_HAS_CHILD, _HAS_VALUE, _COPYING):
        out.append((")", parent))
      if phase == _NEEDS_VALUE:
        out += [(value, (path, _HAS_VALUE)) for value in g.values[label]]
    self._symbols[state] = out
    return out

  def copy_moves(self, state: tuple, prefix: tuple[int, ...]) -> tuple[tuple, ...]:
    """The NFA states an utterance piece leads to from ``(state, prefix)`` (empty: none)."""
    if prefix or state in (_START, _DONE, _FINAL):
      return ()
    path, phase = state
    if phase in (_NEEDS_VALUE, _COPYING) and path[-1][0] in self.grammar.copy:
      return (((path, _COPYING), ()),)
    return ()

  def moves(self, state: tuple,
            prefix: tuple[int, ...]) -> dict[int, list[tuple[tuple, str | None]]]:
    """token -> ``[((grammar state, prefix), completed symbol or None)]`` from one NFA state."""
    key = (state, prefix)
    if key in self._moves:
      return self._moves[key]
    out: dict[int, list] = collections.defaultdict(list)
    depth = len(prefix)
    for symbol, target in self.symbols(state):
      ids = self.pieces[symbol]
      if len(ids) > depth and ids[:depth] == prefix:
        token = ids[depth]
        if len(ids) == depth + 1:
          out[token].append(((target, ()), symbol))
        else:
          out[token].append(((state, ids[:depth + 1]), None))
    self._moves[key] = dict(out)
    return self._moves[key]


def _symbols_of(grammar: TreeGrammar) -> list[str]:
  labels = set(grammar.children) | set(grammar.values)
  out = [f"({label}" for label in sorted(labels)] + [")"]
  for values in grammar.values.values():
    out += list(values)
  return list(dict.fromkeys(out))


def build_tree_grammar(grammar: TreeGrammar, tokenize: Callable[[str], Sequence[int]], *,
                       vocab_size: int, eos_id: int,
                       dense_fanout: int = DEFAULT_DENSE_FANOUT) -> GrammarAutomaton:
  """Compiles ``grammar`` to an automaton over piece ids (host-side NumPy).

  A multi-word value (``2 LITER``) is one symbol whose pieces are those of its
  words in turn.

  Args:
    grammar: the trees to allow.
    tokenize: one whitespace-free chunk (``(TOPPING``, ``)``, ``HAM``) -> its
      piece ids, without special tokens or padding (with
      :class:`~fsnlu_jax.data.subword.SubwordTokenizer`:
      ``lambda w: tok.encode([w])[0][0][1:-1]``, dropping ``[CLS]``/``[SEP]``).
      The decoder's targets must be tokenized the same way, chunk by chunk
      (for BERT-style tokenizers, the same as tokenizing the whole string).
    vocab_size: ``V``.
    eos_id: the token that ends a sentence; no symbol may contain it.
    dense_fanout: states with more successors get a dense bit row.

  Raises:
    ValueError: a symbol with no pieces, or with a piece outside ``[0, V)``
      or equal to ``eos_id``.
  """
  pieces: dict[str, tuple[int, ...]] = {}
  for symbol in _symbols_of(grammar):
    ids = tuple(int(i) for word in symbol.split() for i in tokenize(word))
    if not ids:
      raise ValueError(f"symbol {symbol!r} has no pieces")
    if any(not 0 <= i < vocab_size or i == eos_id for i in ids):
      raise ValueError(f"symbol {symbol!r} has pieces {ids} outside [0, {vocab_size}) or EOS")
    pieces[symbol] = ids
  tables = _Tables(grammar, pieces)
  value_symbols = tuple(sorted({v for values in grammar.values.values() for v in values}))
  value_index = {v: i for i, v in enumerate(value_symbols)}
  start = frozenset({(_START, ())})
  ids_of: dict[frozenset, int] = {start: 0}
  order = [start]
  # (state, token, next state, next state when the token is also an utterance piece)
  edges: list[tuple[int, int, int, int, int]] = []
  copy_to: list[int] = []  # per state: where an utterance piece that is no edge leads

  def number(subset: frozenset) -> int:
    if subset not in ids_of:
      ids_of[subset] = len(order)
      order.append(subset)
    return ids_of[subset]

  final = frozenset({(_FINAL, ())})
  index = 0
  while index < len(order):
    subset = order[index]
    targets: dict[int, set] = collections.defaultdict(set)
    # What each token can mean here: the value it completes, or OTHER.
    readings: dict[int, set] = collections.defaultdict(set)
    copied: set = set()
    for state, prefix in subset:
      for token, moves in tables.moves(state, prefix).items():
        targets[token].update(target for target, _ in moves)
        readings[token].update(value_index.get(symbol, _OTHER) for _, symbol in moves)
      copied.update(tables.copy_moves(state, prefix))
    copy_to.append(number(frozenset(copied)) if copied else -1)
    if (_DONE, ()) in subset:
      edges.append((index, eos_id, number(final), number(final), _OTHER))
    for token in sorted(targets):
      with_copy = number(frozenset(targets[token] | copied)) if copied else -1
      plain = number(frozenset(targets[token]))
      # A value only when that is all the token can mean (and nothing may be copied here).
      (value,) = readings[token] if len(readings[token]) == 1 and not copied else (_OTHER,)
      edges.append((index, token, plain, with_copy if copied else plain, value))
    index += 1
  edges.sort(key=lambda e: (e[0], e[1]))  # EOS may sort before other tokens
  arrays = _as_arrays([e[:3] for e in edges], len(order), vocab_size=vocab_size,
                      dense_fanout=dense_fanout)
  copy = CopyArrays(copy_to=np.asarray(copy_to, np.int32),
                    edge_child=np.asarray([e[3] for e in edges], np.int32).reshape(-1))
  return GrammarAutomaton(arrays=arrays, vocab_size=vocab_size, eos_id=eos_id,
                          symbol_pieces=pieces, copy=copy, value_symbols=value_symbols,
                          edge_values=np.asarray([e[4] for e in edges], np.int32).reshape(-1),
                          _grammar=grammar, _tables=tables)


def _as_arrays(edges: list[tuple[int, int, int]], num_states: int, *, vocab_size: int,
               dense_fanout: int) -> TrieArrays:
  """Edges (grouped by state, tokens ascending) as compressed rows."""
  table = np.asarray(edges, np.int64).reshape(-1, 3)
  parents, tokens, children = table[:, 0], table[:, 1], table[:, 2]
  fanout = np.bincount(parents, minlength=num_states)
  offsets = np.concatenate([[0], np.cumsum(fanout)]).astype(np.int32)
  dense = fanout > dense_fanout
  dense_row = np.where(dense, np.cumsum(dense), 0).astype(np.int32)
  return TrieArrays(
      offsets=offsets, edge_tokens=tokens.astype(np.int32), edge_child=children.astype(np.int32),
      dense_row=dense_row,
      dense_bits=_dense_bits(parents, tokens, dense_row, int(dense.sum()), vocab_size),
      roots=np.zeros(1, np.int32), window=np.arange(dense_fanout, dtype=np.int32))


class CopyArrays(NamedTuple):
  """How utterance pieces move the automaton, for grammars that copy (a pytree).

  Attributes:
    copy_to: int32 ``[S]``: the state an utterance piece that is not an edge
      of the state leads to; -1 where nothing may be copied.
    edge_child: int32 ``[A]``: the state an edge leads to when its token is
      also an utterance piece (both readings stay open); ``arrays.edge_child``
      when nothing may be copied there.
  """

  copy_to: Any
  edge_child: Any


def tree_grammar_constraint(arrays: TrieArrays, *, vocab_size: int,
                            copy: CopyArrays | None = None,
                            utterance_mask: jax.Array | None = None,
                            eos_id: int | None = None) -> Constraint:
  """The beam-search constraint of a compiled grammar (see :func:`build_tree_grammar`).

  Without copying, :func:`~fsnlu_jax.decoding.trie_constraint` on the
  automaton's arrays. Pass the arrays into the jitted decode function as
  arguments and build the constraint inside it.

  Args:
    arrays: ``automaton.arrays``.
    vocab_size: ``V``.
    copy: ``automaton.copy``, for a grammar with ``copy`` labels.
    utterance_mask: bool ``[B, V]``, the pieces each batch row may copy (its
      utterance's pieces; special pieces left out). Needed with ``copy``.
    eos_id: cleared from ``utterance_mask``, so copying can never end a
      sequence inside an entity.

  Returns:
    A :class:`~fsnlu_jax.kernels.Constraint` whose state is int32 ``[B, W]``.
  """
  if copy is None:
    return trie_constraint(arrays, vocab_size=vocab_size)
  if utterance_mask is None:
    raise ValueError("a grammar that copies needs the utterance_mask [B, V]")
  base = trie_constraint(arrays, vocab_size=vocab_size)
  if eos_id is not None:
    utterance_mask = jnp.asarray(utterance_mask).at[:, eos_id].set(False)

  def allowed(states: jax.Array) -> jax.Array:
    mask = base.allowed(states)  # --> [B, W, V]
    can_copy = (states >= 0) & (copy.copy_to[jnp.maximum(states, 0)] >= 0)  # --> [B, W]
    return mask | (can_copy[:, :, None] & utterance_mask[:, None, :])

  def advance(states: jax.Array, tokens: jax.Array) -> jax.Array:
    plain = base.advance(states, tokens)  # --> [B, W]
    edge = _edge_index(arrays, states, tokens)  # --> [B, W], -1 when no edge
    in_utterance = jnp.take_along_axis(utterance_mask, tokens, axis=1)  # --> [B, W]
    live = states >= 0
    copied = jnp.where(edge >= 0, copy.edge_child[jnp.maximum(edge, 0)],
                       copy.copy_to[jnp.maximum(states, 0)])
    return jnp.where(live & in_utterance, copied, plain)

  return Constraint(init=base.init, allowed=allowed, advance=advance)


def _edge_index(arrays: TrieArrays, states: jax.Array, tokens: jax.Array) -> jax.Array:
  """The edge of each state labelled by its token, or -1 (a binary search, like ``advance``)."""
  shape = jnp.shape(states)
  flat = jnp.asarray(states, jnp.int32).reshape(-1)
  want = jnp.asarray(tokens, jnp.int32).reshape(-1)
  live = flat >= 0
  safe = jnp.where(live, flat, 0)
  start = arrays.offsets[safe]
  count = jnp.where(live, arrays.offsets[safe + 1] - start, 0)
  lo, hi = start, start + count
  last = max(arrays.num_edges - 1, 0)
  for _ in range((arrays.dense_bits.shape[1] * 32).bit_length()):
    mid = (lo + hi) // 2
    right = (lo < hi) & (arrays.edge_tokens[jnp.minimum(mid, last)] < want)
    lo, hi = jnp.where(right, mid + 1, lo), jnp.where(right, hi, mid)
  at = jnp.minimum(lo, last)
  found = live & (lo < start + count) & (arrays.edge_tokens[at] == want)
  return jnp.where(found, at, -1).reshape(shape)
