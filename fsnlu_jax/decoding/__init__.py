"""Constrained generation: tries as arrays, the constraint hook, and beam search's masks.

Three constraints: the trie of known-good utterances; a tree grammar
(:func:`build_tree_grammar`) under which every finished sequence is a
well-formed tree (semantic parsing, e.g. PIZZA's EXR trees); and LINGUIST's
annotated-utterance grammar (:func:`annotation_constraint`).

Generic over tasks: query rewriting (:mod:`fsnlu_jax.rewrite`) and teaching
via data (:mod:`fsnlu_jax.teach`) give the beam search their own constraint.
Trie building is host-side NumPy, here rather than in ``data`` (which imports
no JAX) because its product is the kernels' :class:`~fsnlu_jax.kernels.TrieArrays`.
"""

from fsnlu_jax.decoding._constraints import trie_constraint
from fsnlu_jax.decoding._liveness import (ending_states, forbid_edges, live_states,
                                          prune_dead_ends)
from fsnlu_jax.decoding._tries import DEFAULT_DENSE_FANOUT, build_forest, build_trie
from fsnlu_jax.decoding._tree_grammar import (GrammarAutomaton, TreeGrammar, build_tree_grammar,
                                              tree_grammar_constraint)
from fsnlu_jax.decoding._annotation_grammar import (GrammarState, PieceClasses, SlotArrays,
                                                    annotation_constraint, min_length)
