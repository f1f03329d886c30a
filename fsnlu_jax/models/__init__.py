"""Task models: multitask bi-LSTM, ProtoNet and generator, rewriter, transformer encoder."""

from fsnlu_jax.models._multitask import (MultitaskBiLSTM, MultitaskConfig, MultitaskOutput,
                                         multitask_loss, predict, replace_heads,
                                         trainable_filter, trainable_mask)
