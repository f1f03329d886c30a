"""fsnlu_jax: data-efficient natural-language understanding in JAX."""

__version__ = "0.1.0"
