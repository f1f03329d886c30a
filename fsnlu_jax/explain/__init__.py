"""Integrated-gradients attributions for intent and slot outputs, and their rendering."""

from fsnlu_jax.explain._attributions import (Target, TokenAttributions, aggregate_to_words,
                                             intent_target, slot_target, token_attributions)
