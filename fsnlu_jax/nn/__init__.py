"""Thin Flax NNX modules that hold parameters and call :mod:`fsnlu_jax.kernels`."""

from fsnlu_jax.nn._lstm import BiLSTM, LSTMWeights
from fsnlu_jax.nn._heads import CRF, Embedder
