"""Thin Flax NNX modules that hold parameters and call :mod:`fsnlu_jax.kernels`."""
