"""Generic training: the data-parallel step, THE loop, batching, checkpoints, metrics.

Nothing here knows a task: every capability package (``fewshot``,
``transfer``, ``rewrite``, ``selection``) trains through :func:`train` with its
own loss, batches and evaluation.
"""

from fsnlu_jax.train.metrics import (EpisodeStats, SemanticErrors, SlotScores, SpanCounts,
                                     corpus_semantic_errors, intent_accuracy, macro_f1,
                                     mean_confidence_interval, relative_error_reduction,
                                     semantic_error_rate, semantic_errors, semantics_only,
                                     slot_f1, slot_items, student_t_quantile, tree_exact_match,
                                     trees_match, unordered_key)
from fsnlu_jax.train.step import TrainState, init_train_state, make_eval_step, make_train_step
from fsnlu_jax.train.checkpoint import (Checkpointer, generator_from_state, generator_state,
                                        restore_model, restore_or_init)
from fsnlu_jax.train.batching import (Chunk, chunks, epoch_rows, map_in_chunks, to_global,
                                      to_host)
from fsnlu_jax.train.loop import BestMetric, LoopConfig, LoopResult, mean_loss, train
from fsnlu_jax.train.optim import WarmupCosineConfig, summed_metrics, warmup_cosine_adamw
