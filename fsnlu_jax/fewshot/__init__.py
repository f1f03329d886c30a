"""Few-shot intents: ProtoNet and ProtoDA on unseen intents, against the softmax and noise baselines.

Also contrastive fine-tuning of a pretrained encoder (SetFit recipe,
:mod:`~fsnlu_jax.fewshot.contrastive`), the classifier a user trains from a
labelled file (:mod:`~fsnlu_jax.fewshot.classifier`, ``fsnlu
fewshot-classifier``), and the seed-aware summaries and paired differences
that compare systems (:mod:`~fsnlu_jax.fewshot.stats`).

References:
  Kumar et al., "ProtoDA: Efficient Transfer Learning for Few-Shot Intent
  Classification", IEEE SLT 2021.
  Tunstall et al., "Efficient Few-Shot Learning Without Prompts" (SetFit), 2022.
"""

from fsnlu_jax.fewshot.config import (EncoderConfig, EpisodesConfig, EvaluationConfig,
                                      FewshotConfig, FewshotDataConfig, FsFullConfig,
                                      ProtonetConfig, SoftmaxConfig, SplitConfig)
from fsnlu_jax.fewshot.data import (FROZEN, Pool, domain_of_intents, episode_batch, frozen_view,
                                    split_intents)
from fsnlu_jax.fewshot.encoders import (bilstm_embedder, encoder_config, get_embedder,
                                        get_encoder, make_pools, pretrained_embedder,
                                        sentence_vectors, sentence_width)
from fsnlu_jax.fewshot.evaluate import (FixedEpisodes, confusion, evaluate_all, evaluate_fs_full,
                                        fixed_episodes, fs_full_episodes, score_episodes,
                                        score_systems)
from fsnlu_jax.fewshot.report import format_table, plot_learning_curves, write_confusion
from fsnlu_jax.fewshot.job import (SYSTEMS, TrainedSystem, TrainingEpisodes, run_fewshot,
                                   system_config, train_seeds, train_system, train_systems)
from fsnlu_jax.fewshot.contrastive import (ContrastiveConfig, LogisticHead, PairBatches,
                                           cosine_pair_loss, finetune_encoder, fit_head,
                                           pair_batches)
from fsnlu_jax.fewshot.classifier import (Classifier, ClassifierConfig, load_classifier,
                                          read_labelled, run_classifier)
from fsnlu_jax.fewshot.stats import paired_differences, summary
