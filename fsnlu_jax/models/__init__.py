"""Task models: multitask bi-LSTM, ProtoNet and generator, rewriter, transformer encoders
(BERT family, MPNet), and the BERT2BERT encoder-decoder warm-started from a BERT checkpoint."""

from fsnlu_jax.models._multitask import (NEW_ROWS, MultitaskBiLSTM, MultitaskConfig,
                                         MultitaskOutput, decode_output, extend_vocabulary,
                                         multitask_loss, new_embedding_rows, predict,
                                         replace_heads, trainable_filter, trainable_mask)
from fsnlu_jax.models._protoda import (ClassGenerator, FewShotModel, Generator, ProtoDAConfig,
                                       ProtoNet, batch_logits, episode_logits, episode_scores,
                                       episodic_loss)
from fsnlu_jax.models._softmax_baseline import fit_softmax_classifier, softmax_baseline_scores
from fsnlu_jax.models._rewriter import (DecoderCache, KVCache, Rewriter, RewriterConfig,
                                        rewriter_loss, tokens_to_logits_fn)
from fsnlu_jax.models._bert import BertConfig, BertEncoder, mean_pool
from fsnlu_jax.models._mpnet import MPNetConfig, MPNetEncoder, relative_position_bucket
from fsnlu_jax.models._pretrained import (SentenceEncoder, load_bert, load_encoder,
                                         resolve_model_dir, save_bert, save_encoder)
from fsnlu_jax.models._seq2seq import (BertDecoderLayer, BertSeq2Seq, Seq2SeqCache, Seq2SeqConfig,
                                       WarmStartConfig, seq2seq_loss, seq2seq_tokens_to_logits,
                                       seq2seq_trainable_labels, warm_start_seq2seq)
