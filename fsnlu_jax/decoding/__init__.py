"""Constrained generation: a model step, a trie or grammar mask, and beam search."""

from fsnlu_jax.decoding._constraints import trie_constraint
from fsnlu_jax.decoding._rewrite import (ABSTAIN, GLOBAL, PERSONAL, Candidates, NgramIndex,
                                         RewriteDecoder, apply_threshold, char_ngrams,
                                         choose_threshold, choose_thresholds, combine,
                                         global_trie_arrays, personal_forest_arrays, retrieve,
                                         retrieve_personal, rewrite_metrics)
