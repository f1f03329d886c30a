"""Integrated-gradients attributions for intent and slot outputs, and their rendering."""

from fsnlu_jax.explain._attributions import (Target, TokenAttributions, aggregate_to_words,
                                             intent_target, slot_target, token_attributions)
from fsnlu_jax.explain._influence import (SPECIAL_IDS, error_token_influence,
                                          normalise_influence, occurrence_counts, pool_scores,
                                          top_k_eligible, word_influence)
from fsnlu_jax.explain._render import heatmap_png, score_colour, words_html
