"""Constrained generation: a model step, a trie or grammar mask, and beam search."""
