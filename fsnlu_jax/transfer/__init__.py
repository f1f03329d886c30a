"""Transfer to a new domain: the multitask bi-LSTM pretrained, fine-tuned or trained from scratch.

The public API other capabilities use: :func:`run_pretrain` /
:func:`train_model` to train, :func:`load_model` to bring a workdir's model
back, :func:`predict_probabilities` and :func:`evaluate` to use it. The model
reads the dataset's words or, with ``data.units = "pieces"``, a pretrained
tokenizer's word pieces (:mod:`~fsnlu_jax.transfer.pieces`).

References:
  Goyal, Metallinou & Matsoukas, "Fast and Scalable Expansion of Natural
  Language Understanding Functionality for Intelligent Agents", NAACL 2018.
"""

from fsnlu_jax.transfer.config import (DataConfig, FinetuneConfig, ModelConfig, OptimConfig,
                                       TrainConfig, TransferConfig)
from fsnlu_jax.transfer.convergence import (PAIR_STATUSES, first_step_at_most,
                                            pair_convergence, run_convergence, summarize_pairs)
from fsnlu_jax.transfer.data import (TransferData, encode, in_units, label_vocabs, load_examples,
                                     padded_batch, select_examples)
from fsnlu_jax.transfer.pieces import PieceExamples, to_pieces, word_tags
from fsnlu_jax.transfer.model import (evaluate, loss_fn, make_optimizer, model_config_for,
                                      predict_probabilities, summarize)
from fsnlu_jax.transfer.job import (load_model, plot_comparison, plot_learning_curve, run_finetune,
                                    run_pretrain, run_scratch, train_model, write_setup)
