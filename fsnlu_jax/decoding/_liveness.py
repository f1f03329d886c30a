"""Dead-end pruning: a beam may take a token only if a finished sequence can still follow.

A per-row piece mask on top of a shared automaton (the parser's grounded
values, :func:`fsnlu_jax.kernels.row_masked_constraint`) can leave a state
with no allowed way on: PIZZA's parser opens ``(TOPPING`` in an utterance that
names no topping, and every value piece after it is masked. Beam search finds
out one step too late: the beam has no allowed token and dies, and when all
beams of a row die the row has no tree (the parser then decodes it again with
fewer constraints). Measured on PIZZA's test split, 16-example parser: about
half the rows fell back.

The fix is exact for the automaton and the mask: a state is *live* in a row
when some path of tokens the row allows leads from it to EOS
(:func:`live_states`, the least fixed point of ``live(s) = s follows EOS, or
any edge s -t-> c with t allowed and live(c)``, over all edges at once, once per
batch), and :func:`prune_dead_ends` forbids every edge into a state that is not
live. A beam then always has a way to finish, so a row's beams die only when
its start state is dead (no tree at all is possible under the mask).

Two limits: by default only states with at most ``F`` children
(``arrays.window``) are pruned (``max_fanout`` widens that to every state,
at ``[B, W, max_fanout]`` per step); and the automaton is taken as it is,
without copying from the utterance (a copying grammar moves on other edges,
:class:`~fsnlu_jax.decoding.CopyArrays`).

Shapes: ``B`` rows, ``W`` beams, ``S`` automaton states, ``A`` edges, ``V``
vocabulary, ``F`` the sparse fan-out bound.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

from fsnlu_jax.kernels import Constraint, TrieArrays


def live_states(arrays: TrieArrays, row_mask: jax.Array, *, eos_id: int,
                edge_mask: jax.Array | None = None) -> jax.Array:
  """bool ``[B, S]``: whether state ``s`` can still reach EOS in row ``b`` (the states
  after EOS count as live: they are the goal).

  Args:
    arrays: the automaton (edges in compressed rows; padded edges lead to -1).
    row_mask: bool ``[B, V]``, the tokens each row may emit.
    eos_id: the token that ends a sequence (an edge labelled with it finishes).
    edge_mask: bool ``[B, A]``, the edges each row may take besides (e.g. only
      those completing a value the row mentions); None: all.
  """
  num_states = arrays.num_states
  tokens = jnp.asarray(arrays.edge_tokens, jnp.int32)
  children = jnp.asarray(arrays.edge_child, jnp.int32)
  parents = _edge_parents(arrays)  # --> [A]
  vocab = row_mask.shape[1]
  real = (tokens >= 0) & (tokens < vocab)
  usable = row_mask[:, jnp.where(real, tokens, 0)] & real  # --> [B, A]
  if edge_mask is not None:
    usable &= edge_mask
  has_child = children >= 0
  safe_child = jnp.where(has_child, children, 0)
  empty = jnp.zeros((row_mask.shape[0], num_states), bool)
  # The states EOS leads to are the goal (live, though no edge leaves them).
  final = empty.at[:, jnp.where((tokens == eos_id) & has_child, children, num_states)].set(
      True, mode="drop")

  def step(live: jax.Array) -> jax.Array:
    via = usable & has_child & live[:, safe_child]  # --> [B, A]
    return final | empty.at[:, parents].max(via, mode="drop")

  def grows(carry) -> jax.Array:
    old, new = carry
    return jnp.any(old != new)

  # Each round adds the states one edge further from EOS; at most S rounds.
  _, live = jax.lax.while_loop(grows, lambda carry: (carry[1], step(carry[1])),
                               (empty, step(empty)))
  return live


def prune_dead_ends(constraint: Constraint, arrays: TrieArrays, live: jax.Array,
                    edge_mask: jax.Array | None = None, *,
                    max_fanout: int | None = None) -> Constraint:
  """``constraint`` that also forbids every edge into a state that is not live in its row
  (and, with ``edge_mask``, every edge the row may not take).

  Args:
    constraint: a constraint whose state is the automaton state per beam,
      int32 ``[B, W]`` (-1 dead), e.g. the tree grammar's (without copying),
      row-masked.
    arrays: the automaton ``constraint`` walks.
    live: bool ``[B, S]`` from :func:`live_states` (with the same masks).
    edge_mask: bool ``[B, A]`` as given to :func:`live_states`; None: all edges.
    max_fanout: as in :func:`forbid_edges`.
  """
  children_of = jnp.asarray(arrays.edge_child, jnp.int32)

  def forbidden(states: jax.Array, edges: jax.Array) -> jax.Array:
    rows = jnp.arange(edges.shape[0])[:, None, None]
    children = children_of[edges]
    ok = live[rows, jnp.maximum(children, 0)] & (children >= 0)
    if edge_mask is not None:
      ok &= edge_mask[rows, edges]
    return ~ok

  return forbid_edges(constraint, arrays, forbidden, max_fanout=max_fanout)


def forbid_edges(constraint: Constraint, arrays: TrieArrays,
                 forbidden: Callable[[Any, jax.Array], jax.Array],
                 automaton_state: Callable[[Any], jax.Array] = lambda state: state, *,
                 max_fanout: int | None = None) -> Constraint:
  """``constraint`` that also forbids the edges ``forbidden`` picks.

  Only states with at most ``max_fanout`` children are looked at (static; default
  ``F``, ``arrays.window``'s length: the sparse states). Give the automaton's
  largest fan-out (``np.diff(arrays.offsets).max()``) to look at every state:
  ``[B, W, max_fanout]`` edges per step.

  Args:
    constraint: any constraint; ``automaton_state(its state)`` is the state of
      ``arrays`` per beam, int32 ``[B, W]`` (-1 dead).
    arrays: the automaton.
    forbidden: ``(constraint state, edges int32 [B, W, F]) -> bool [B, W, F]``:
      True forbids that edge (``arrays.edge_child[edges]`` is where it leads;
      padding slots are ignored).
    automaton_state: where the automaton state sits in ``constraint``'s state
      (e.g. ``lambda s: s[0]`` under :func:`~fsnlu_jax.kernels.all_of`).
  """
  window = (jnp.asarray(arrays.window, jnp.int32) if max_fanout is None
            else jnp.arange(max_fanout, dtype=jnp.int32))  # --> [F]
  offsets = jnp.asarray(arrays.offsets, jnp.int32)
  last_edge = max(arrays.num_edges - 1, 0)

  def allowed(state) -> jax.Array:
    mask = constraint.allowed(state)  # --> [B, W, V]
    vocab = mask.shape[-1]
    states = automaton_state(state)  # --> [B, W]
    safe = jnp.maximum(states, 0)
    start = offsets[safe]
    count = offsets[safe + 1] - start
    sparse = (states >= 0) & (count <= window.shape[0])  # --> [B, W]
    real = sparse[..., None] & (window < count[..., None])  # --> [B, W, F]
    edges = jnp.minimum(start[..., None] + window, last_edge)
    tokens = jnp.asarray(arrays.edge_tokens)[edges]
    blocked = real & forbidden(state, edges)
    blocked_tokens = jnp.where(blocked, tokens, vocab)  # out of range: dropped
    b, w, _ = jnp.indices(blocked_tokens.shape)
    block = jnp.zeros(mask.shape, bool).at[b, w, blocked_tokens].set(True, mode="drop")
    return mask & ~block

  return Constraint(init=constraint.init, allowed=allowed, advance=constraint.advance)


def ending_states(arrays: TrieArrays, *, eos_id: int) -> jax.Array:
  """bool ``[S]``: the states whose only way on is EOS (a tree's root closed)."""
  tokens = jnp.asarray(arrays.edge_tokens, jnp.int32)
  parents = _edge_parents(arrays)
  real = jnp.asarray(arrays.edge_child) >= 0  # padded edges lead nowhere
  zeros = jnp.zeros(arrays.num_states, jnp.int32)
  edges = zeros.at[parents].add(real, mode="drop")
  others = zeros.at[parents].add(real & (tokens != eos_id), mode="drop")
  return (edges > 0) & (others == 0)


def _edge_parents(arrays: TrieArrays) -> jax.Array:
  """int32 ``[A]``: the state each edge leaves (edges ``offsets[s]:offsets[s+1]`` are s's)."""
  return jnp.searchsorted(jnp.asarray(arrays.offsets, jnp.int32)[1:],
                          jnp.arange(arrays.num_edges), side="right")
