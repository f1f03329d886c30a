"""A finished rewriting workdir's model, vocabulary and decoder, of either kind.

The one way :func:`fsnlu_jax.rewrite.rewrite_query` and ``fsnlu serve`` get a
trained rewriter back: the word-level one (``vocab.json``, its latest
checkpoint) or the sub-word one (``seq2seq.json``, ``tokenizer.json``,
``pieces.json``, its best-validation checkpoint in ``best/``;
:mod:`fsnlu_jax.rewrite.subword`).

Shapes: ``B`` requests, ``Ls`` source length.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
from typing import Any, Sequence

import numpy as np
from flax import nnx

from fsnlu_jax.config import from_dict
from fsnlu_jax.data import rewrite as rw
from fsnlu_jax.data.arrays import pad_batch
from fsnlu_jax.data.vocab import Vocab
from fsnlu_jax.models import Rewriter
from fsnlu_jax.rewrite import pieces, subword
from fsnlu_jax.rewrite.config import RewriteConfig
from fsnlu_jax.rewrite.decoder import RewriteDecoder
from fsnlu_jax.rewrite.job import make_optimizer, model_config
from fsnlu_jax.train import restore_model


@dataclasses.dataclass(frozen=True, eq=False)
class LoadedRewriter:
  """A trained rewriter ready to decode.

  Attributes:
    config: the job's config.
    vocab: a :class:`~fsnlu_jax.data.vocab.Vocab` (words) or a
      :class:`~fsnlu_jax.rewrite.pieces.PieceVocab` (word pieces).
    decoder: its :class:`~fsnlu_jax.rewrite.RewriteDecoder`.
    params, rest: the model's variables.
  """

  config: RewriteConfig
  vocab: Any
  decoder: RewriteDecoder
  params: Any
  rest: Any

  def sources(self, turns: Sequence[tuple[rw.Words, rw.Words]]) -> tuple[np.ndarray, np.ndarray]:
    """``(ids, mask)`` ``[B, Ls]`` of ``(previous turn, request)`` word pairs."""
    length = self.config.data.max_source_len
    if isinstance(self.vocab, Vocab):
      ids = [rw.source_ids(prev, words, self.vocab, length)[0] for prev, words in turns]
    else:
      ids = [pieces.source_ids(self.vocab.encode(prev), self.vocab.encode(words), self.vocab,
                               length)[0] for prev, words in turns]
    return pad_batch(ids, length)

  def words(self, found) -> list[rw.Words | None]:
    """Each :class:`~fsnlu_jax.rewrite.Candidates` row as words (None: not found)."""
    return found.words(self.vocab, self.decoder.eos_id)


def load_rewriter(workdir: str | os.PathLike, *, batch_size: int = 2) -> LoadedRewriter:
  """The rewriter of a ``fsnlu rewrite --config`` workdir, decoding ``batch_size`` rows a call."""
  workdir = pathlib.Path(workdir)
  config = from_dict(RewriteConfig, json.loads((workdir / "config.json").read_text()))
  if config.model.kind == "subword":
    vocab = subword.load_vocab(workdir)
    # Abstract template: nothing to initialise before the restore (restore_model's docs).
    template = subword.template(workdir)
    folder = workdir / "best"  # the best validation NLL, as the job evaluated
  else:
    vocab = Vocab.load(workdir / "vocab.json")
    template = nnx.eval_shape(lambda: Rewriter(model_config(config, len(vocab)),
                                               rngs=nnx.Rngs(0)))
    folder = workdir / "checkpoints"
  model, _ = restore_model(folder, template, make_optimizer(config, template))
  graphdef, params, rest = nnx.split(model, nnx.Param, ...)
  return LoadedRewriter(config, vocab, subword.make_decoder(graphdef, config, vocab,
                                                            batch_size=batch_size), params, rest)
