"""The standard NLU metrics, computed host-side in NumPy.

Intent accuracy and macro-F1, slot micro-F1 over BIO spans (conlleval rules),
semantic error rate (SemER), episode means with t-distribution confidence
intervals, relative error reduction, and exact match of semantic trees up to
the order of siblings (PIZZA). Arrays may be NumPy or JAX: everything
goes through ``np.asarray`` first, so no device work happens here.
"""

from fsnlu_jax.train.metrics._intents import intent_accuracy, macro_f1
from fsnlu_jax.train.metrics._intervals import (EpisodeStats, mean_confidence_interval,
                                                relative_error_reduction, student_t_quantile)
from fsnlu_jax.train.metrics._semer import (SemanticErrors, corpus_semantic_errors,
                                            semantic_error_rate, semantic_errors, slot_items)
from fsnlu_jax.train.metrics._slots import SlotScores, SpanCounts, slot_f1
from fsnlu_jax.train.metrics._trees import (semantics_only, tree_exact_match, trees_match,
                                            unordered_key)

__all__ = [
    "EpisodeStats",
    "SemanticErrors",
    "SlotScores",
    "SpanCounts",
    "corpus_semantic_errors",
    "intent_accuracy",
    "macro_f1",
    "mean_confidence_interval",
    "relative_error_reduction",
    "semantic_error_rate",
    "semantic_errors",
    "semantics_only",
    "slot_f1",
    "slot_items",
    "student_t_quantile",
    "tree_exact_match",
    "trees_match",
    "unordered_key",
]
