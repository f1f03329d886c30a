"""Pure, jit-able array functions (no Flax): ProtoNet prototypes and loss, CRF
forward/Viterbi, LSTM scan, trie masks, beam search, constrained sampling,
integrated gradients, acquisition scores. Private ``_x.py`` modules are
re-exported here.

Imports flow one way: kernels <- nn <- models <- decoding/explain/active <-
train <- cli; ``fsnlu_jax.data`` is host-side NumPy and needs none of them.
"""

from fsnlu_jax.kernels._lstm import (LSTMParams, LSTMState, bilstm, bilstm_from_projection,
                                    bilstm_projection, lstm_scan)
from fsnlu_jax.kernels._crf import (DEFAULT_PENALTY, bio_transition_mask, crf_log_likelihood, crf_log_partition,
                                    crf_marginals, crf_path_score, masked_transitions,
                                    viterbi_decode)
from fsnlu_jax.kernels._protonet import (cosine_similarity, episode_accuracy, episode_macro_f1,
                                         prototypes, protonet_logits, protonet_loss, query_labels,
                                         squared_euclidean, synthesize)
from fsnlu_jax.kernels._integrated_gradients import (IG_METHODS, IGMethod, IGResult,
                                                     ig_quadrature, integrated_gradients)
from fsnlu_jax.kernels._acquisition import (LOSSES, crf_marginal_confidence, crf_viterbi_confidence,
                                            entropy, hashed_scores, least_confidence, loss_indices,
                                            majority_positive, margin, margin_loss,
                                            packed_hashed_scores, summed_score_magnitude,
                                            vote_entropy)
from fsnlu_jax.kernels._trie import (TrieArrays, advance, allowed_tokens, pad_trie, root_states)
from fsnlu_jax.kernels._beam_search import (BeamResult, BeamState, Constraint, all_of, beam_search,
                                            blocked_top_k, expand_to_beams, length_penalty,
                                            row_masked_constraint, shortlist_constraint)
from fsnlu_jax.kernels._sampling import SampleResult, SampleState, filter_logits, sample
