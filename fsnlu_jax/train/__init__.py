"""The trainer: pure step functions, optimizers, orbax checkpoints, metrics."""
