"""CGF query rewriting: a rewriter decoded inside tries of known-good utterances.

References:
  Ahmadvand et al., "Constrained generation framework for query rewriting in
  conversational AI", EMNLP 2022 (industry track).
"""

from fsnlu_jax.rewrite.config import (DecodeConfig, RewriteConfig, RewriteJobDataConfig,
                                      RewriterModelConfig, RewriteTrainConfig)
from fsnlu_jax.rewrite.scoring import (ABSTAIN, GLOBAL, NEG_INF_SCORE, PERSONAL, apply_threshold,
                                       choose_threshold, choose_thresholds, combine,
                                       rewrite_metrics)
from fsnlu_jax.rewrite.retrieval import (NgramIndex, candidates, char_ngrams, personal_candidates,
                                         retrieve, retrieve_personal)
from fsnlu_jax.rewrite.decoder import (Candidates, RewriteDecoder, candidate_arrays,
                                       global_trie_arrays, personal_forest_arrays)
from fsnlu_jax.rewrite.combined import best_of, fuse, generate_and_retrieve, score_retrieved
from fsnlu_jax.rewrite.data import RewriteJobData, build_data
from fsnlu_jax.rewrite.systems import evaluate, evaluate_retrieval, format_table, outcomes
from fsnlu_jax.rewrite.stats import compare as compare_systems
from fsnlu_jax.rewrite.job import make_optimizer, model_config, new_model, run_rewrite
from fsnlu_jax.rewrite.query import describe as describe_rewrite
from fsnlu_jax.rewrite.query import rewrite_query
from fsnlu_jax.rewrite.pieces import PieceVocab, detokenize, round_trip_failures
from fsnlu_jax.rewrite.subword import Seq2SeqRewriteDecoder, make_decoder
from fsnlu_jax.rewrite.loading import LoadedRewriter, load_rewriter
