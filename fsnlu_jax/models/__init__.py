"""Task models: multitask bi-LSTM, ProtoNet and generator, rewriter, transformer encoder."""
