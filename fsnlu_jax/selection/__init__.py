"""Training-sample selection by model interpretation (IG word influence), and ``fsnlu explain``.

The base model's errors are explained by integrated gradients
(:mod:`fsnlu_jax.selection.errors`), words are scored by the harm they did
(:mod:`fsnlu_jax.explain`), pool utterances by their words, and the top ones
are labelled and trained on (:mod:`fsnlu_jax.selection.job`); the models are
:mod:`fsnlu_jax.transfer`'s.

References:
  "Improving Large-Scale Conversational Assistants using Model Interpretation
  based Training Sample Selection", EMNLP 2022 (industry track).
"""

from fsnlu_jax.selection.config import IGConfig, SelectConfig, SelectionConfig, SelectionDataConfig
from fsnlu_jax.selection.data import SelectionData, load_data, split_pool, token_arrays
from fsnlu_jax.selection.errors import (attribute_errors, error_records, find_errors,
                                        subsample_errors)
from fsnlu_jax.selection.pool import (SCORED, STRATEGIES, pool_filters, select, top_ids,
                                      top_words)
from fsnlu_jax.selection.job import (RETRAIN_SEED_STRIDE, retrain_config, retrain_name,
                                     run_selection, train_model)
from fsnlu_jax.selection.interpret import explain_utterance
