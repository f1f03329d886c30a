"""Constrained generation: a model step, a trie or grammar mask, and beam search."""

from fsnlu_jax.decoding._constraints import trie_constraint
