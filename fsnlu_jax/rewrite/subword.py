"""The sub-word rewriter: an encoder-decoder warm-started from a BERT checkpoint.

``model.kind = "subword"`` replaces the word-level transformer trained from
scratch by :class:`fsnlu_jax.models.BertSeq2Seq` (Rothe et al. 2020) started
from ``model.checkpoint`` (all-MiniLM-L6-v2): it reads ``[CLS] previous turn
[SEP] request [SEP]`` in word pieces and writes the meant utterance's pieces
then ``[SEP]`` (:mod:`fsnlu_jax.rewrite.pieces`). At CPU scale only the
decoder (``model.n_decoder_layers`` blocks, the checkpoint's first), the
encoder's top ``model.train_encoder_layers`` blocks and the layer norms are
trained; the tables stay the checkpoint's (``model.train_embeddings``).

Everything else is the word-level job's: the same training loop (best
validation NLL kept), the same tries (built over piece ids from the same
utterances, EOS ``[SEP]``), the same beam search under
:func:`fsnlu_jax.decoding.trie_constraint`
(:class:`Seq2SeqRewriteDecoder`), and outputs decoded back to words
(:meth:`~fsnlu_jax.rewrite.pieces.PieceVocab.decode`) and compared with the
word-level targets, so every system of :mod:`fsnlu_jax.rewrite.systems` runs
on it unchanged.

A workdir holds, besides the checkpoints, ``seq2seq.json`` (the model's
sizes and special ids), ``tokenizer.json`` (a copy) and ``pieces.json`` (the
known-good utterances whose pieces do not detokenize back to them): with
``config.json``, what :func:`load_model` needs.

Shapes: ``B`` pairs, ``W`` beam, ``Ls`` source length.

References:
  Rothe, Narayan & Severyn, "Leveraging Pre-trained Checkpoints for Sequence
  Generation Tasks", TACL 2020.
  Ahmadvand et al., "Constrained generation framework for query rewriting in
  conversational AI", EMNLP 2022 (industry track).
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
from typing import Mapping

import jax
from flax import nnx

from fsnlu_jax.config import from_dict, to_dict
from fsnlu_jax.kernels import expand_to_beams
from fsnlu_jax.models import (BertSeq2Seq, Seq2SeqConfig, resolve_model_dir, seq2seq_loss,
                              warm_start_seq2seq)
from fsnlu_jax.rewrite.config import RewriteConfig
from fsnlu_jax.rewrite.decoder import RewriteDecoder
from fsnlu_jax.rewrite.pieces import PieceVocab

MODEL_FILE = "seq2seq.json"
TOKENIZER_FILE = "tokenizer.json"
KNOWN_FILE = "pieces.json"


class Seq2SeqRewriteDecoder(RewriteDecoder):
  """:class:`~fsnlu_jax.rewrite.decoder.RewriteDecoder` of a :class:`~fsnlu_jax.models.BertSeq2Seq`.

  Its cache holds the cross-attention keys and values, computed once from the
  encoder output and tiled to the beams.
  """

  def _start(self, model, source_ids, source_mask):
    encoded = model.encode(source_ids, source_mask)  # --> [B, Ls, D]
    cache = model.init_cache(encoded, source_mask, self.max_length)
    return model.decode_step, expand_to_beams(cache, self.beam_size)


def make_decoder(graphdef: nnx.GraphDef, config: RewriteConfig, vocab, *,
                 batch_size: int | None = None) -> RewriteDecoder:
  """The decoder of the config's rewriter kind, with its vocabulary's BOS and EOS."""
  dc, kind = config.decode, config.model.kind
  kw = dict(vocab_size=len(vocab), max_length=config.data.max_target_len,
            beam_size=dc.beam_size, alpha=dc.alpha,
            batch_size=dc.batch_size if batch_size is None else batch_size)
  if kind == "subword":
    return Seq2SeqRewriteDecoder(graphdef, bos_id=vocab.bos_id, eos_id=vocab.eos_id, **kw)
  return RewriteDecoder(graphdef, **kw)


def warm_start(config: RewriteConfig) -> BertSeq2Seq:
  """The encoder-decoder warm-started from ``model.checkpoint`` (module docs)."""
  m = config.model
  return warm_start_seq2seq(resolve_model_dir(m.checkpoint), decoder_layers=m.n_decoder_layers,
                            max_target_len=config.data.max_target_len,
                            label_smoothing=config.optim.label_smoothing,
                            rngs=nnx.Rngs(config.seed))


def loss(model: BertSeq2Seq, batch: Mapping[str, jax.Array], rngs: nnx.Rngs | None = None):
  """:func:`fsnlu_jax.models.seq2seq_loss` of a rewrite batch (its array names)."""
  return seq2seq_loss(model, dict(src_ids=batch["source_ids"], src_mask=batch["source_mask"],
                                  tgt_in=batch["target_in"], tgt_out=batch["target_out"],
                                  tgt_mask=batch["target_mask"]), rngs)


def vocab_for(config: RewriteConfig) -> PieceVocab:
  """The checkpoint's word pieces as the job's vocabulary."""
  return PieceVocab(resolve_model_dir(config.model.checkpoint))


def write_artefacts(workdir: pathlib.Path, model: BertSeq2Seq, vocab: PieceVocab) -> None:
  """``seq2seq.json``, ``tokenizer.json`` and ``pieces.json`` (module docs)."""
  (workdir / MODEL_FILE).write_text(json.dumps(to_dict(model.config), indent=1))
  if vocab.path.resolve() != (workdir / TOKENIZER_FILE).resolve():
    shutil.copyfile(vocab.path, workdir / TOKENIZER_FILE)
  vocab.save_known(workdir / KNOWN_FILE)


def load_vocab(workdir: str | os.PathLike) -> PieceVocab:
  """A workdir's :class:`~fsnlu_jax.rewrite.pieces.PieceVocab` (with its known utterances)."""
  workdir = pathlib.Path(workdir)
  return PieceVocab(workdir / TOKENIZER_FILE).load_known(workdir / KNOWN_FILE)


def template(workdir: str | os.PathLike) -> BertSeq2Seq:
  """An abstract model of a workdir's sizes, for :func:`fsnlu_jax.train.restore_model`."""
  path = pathlib.Path(workdir) / MODEL_FILE
  if not path.is_file():
    raise FileNotFoundError(f"{path}: not a sub-word rewrite workdir (no {MODEL_FILE})")
  config = from_dict(Seq2SeqConfig, json.loads(path.read_text()))
  return nnx.eval_shape(lambda: BertSeq2Seq(config, rngs=nnx.Rngs(0)))

