"""The few-shot job's sentence encoders and example pools.

The bi-LSTM encoder is :mod:`fsnlu_jax.transfer`'s multitask model, trained on
the *train* intents through that capability's public API; a pretrained
transformer (e.g. all-MiniLM-L6-v2) is frozen (vectors computed once) or
fine-tuned inside the episodes.

Shapes: ``P`` pool rows, ``D`` sentence width, ``L`` tokens or word pieces.
"""

from __future__ import annotations

import functools
import logging
import pathlib
from typing import Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from fsnlu_jax import transfer
from fsnlu_jax.data import Example, encode_split, episodes
from fsnlu_jax.fewshot import data as fsd
from fsnlu_jax.fewshot.config import FewshotConfig
from fsnlu_jax.models import SentenceEncoder
from fsnlu_jax.train import map_in_chunks

_log = logging.getLogger(__name__)

# ``embed(examples, desc)``: ``desc`` labels the stage's progress, e.g. "embedding train".
Embed = Callable[[Sequence[Example], str], dict[str, np.ndarray]]


def encoder_config(config: FewshotConfig, train_intents: Sequence[str]) -> transfer.TransferConfig:
  """The multitask pretraining config of the bi-LSTM encoder: the dataset's train intents."""
  e = config.encoder
  if e.model is None or e.optim is None or e.train is None:
    raise ValueError("encoder.kind='bilstm' needs encoder.model, encoder.optim and encoder.train")
  data = transfer.DataConfig(name=config.data.name, train_splits=("train",),
                             eval_split="validation", intents=tuple(sorted(train_intents)),
                             max_length=config.data.max_length)
  return transfer.TransferConfig(job="encoder", seed=config.seed, data=data, model=e.model,
                                 optim=e.optim, train=e.train)


def get_encoder(config: FewshotConfig, split: episodes.IntentSplit, workdir: pathlib.Path,
                pretrained, data_dir, cache_dir):
  """``(encoder, vocab)``: from ``pretrained``, or trained on the train intents."""
  if pretrained is None:
    pretrained = workdir / "encoder"
    transfer.run_pretrain(encoder_config(config, split.train), pretrained,
                          data_dir=data_dir, cache_dir=cache_dir)
  return transfer.load_model(pretrained, finished=True)


def sentence_vectors(encode, vocab, examples: Sequence[Example], *, max_length: int,
                     batch_size: int = 256, desc: str = "embedding") -> np.ndarray:
  """``[P, D]`` sentence vectors from ``encode(token_ids [B, L], mask [B, L])``.

  Rows go in chunks of ``batch_size`` (:func:`fsnlu_jax.train.map_in_chunks`),
  so a jitted ``encode`` compiles once per padded length.
  """
  intents, tags = transfer.label_vocabs(examples)
  enc = encode_split(examples, vocab, intents, tags, max_length=max_length)
  # Unseen intents bring unseen words: they become <unk>, as for any user.
  _log.info("sentence vectors: %s", enc.stats.as_dict())
  return map_in_chunks(lambda chunk: encode(*chunk), (enc.token_ids, enc.mask), batch_size,
                       desc=desc)


def bilstm_embedder(encoder, vocab, max_length: int, *, finetune: bool = False) -> Embed:
  """Pool inputs from a trained multitask bi-LSTM's sentence encoder.

  Frozen: ``{"x": [P, D]}``. Fine-tuned (trained with the ProtoNet by the
  episodic loss): token ids ``{"x": [P, L], "x_tokens": [P, L]}`` for the
  episodes, plus ``"x_frozen": [P, D]`` for the softmax baseline.
  """
  graphdef, state = nnx.split(encoder)
  # One jit for every split; the weights are an argument, not baked-in constants.
  jitted = jax.jit(lambda s, ids, mask: nnx.merge(graphdef, s).encode(ids, mask))
  encode = functools.partial(jitted, state)

  def embed(examples, desc="embedding"):
    vectors = sentence_vectors(encode, vocab, examples, max_length=max_length, desc=desc)
    if not finetune:
      return dict(x=vectors)
    intents, tags = transfer.label_vocabs(examples)
    enc = encode_split(examples, vocab, intents, tags, max_length=max_length)
    return {"x": enc.token_ids, "x_tokens": np.asarray(enc.mask, bool), fsd.FROZEN: vectors}
  return embed


def pretrained_embedder(encoder: SentenceEncoder, batch_size: int, *, finetune: bool) -> Embed:
  """Pool inputs from a pretrained transformer (e.g. MiniLM).

  Frozen: ``{"x": [P, D]}``, computed once. Fine-tuned: word pieces ``{"x":
  [P, L], "x_tokens": [P, L]}`` padded to the length bucket of the pool's
  longest utterance (longer than ``max_length``: cut, and counted in the
  tokenizer's stats) for the episodes to run through the encoder, plus
  ``"x_frozen": [P, D]`` for the softmax baseline, which classifies the
  pretrained encoder's vectors.
  """
  def embed(examples, desc="embedding"):
    tok = encoder.tokenizer
    encoded = tok.encode([e.text for e in examples])  # once: stats count each text once
    out = dict(x=encoder.embed_pieces(encoded, batch_size=batch_size, desc=desc))
    if finetune:
      # Padded to the bucket of the pool's longest row, not to max_length.
      pieces = tok.pad(encoded, np.arange(len(encoded)), len(encoded))
      out = {"x": pieces.token_ids, "x_tokens": pieces.mask, fsd.FROZEN: out["x"]}
    _log.info("word pieces so far: %s", encoder.tokenizer.stats)
    return out
  return embed


def get_embedder(config: FewshotConfig, split, workdir: pathlib.Path, pretrained, data_dir,
                 cache_dir) -> tuple[Embed, nnx.Module | None]:
  """``(embed, encoder to fine-tune or None)`` for ``config.encoder``.

  ``kind="bilstm"`` (default): the multitask bi-LSTM of :func:`get_encoder`,
  frozen or, with ``finetune=True``, trained with the ProtoNet; ``kind="pretrained"``: a BERT-family checkpoint folder or hub name
  (``pretrained`` overrides ``encoder.path``), frozen or, with
  ``finetune=True``, trained with the ProtoNet.
  """
  e = config.encoder
  if e.kind == "pretrained":
    encoder = SentenceEncoder.from_pretrained(pretrained or e.path, max_length=e.max_length)
    return (pretrained_embedder(encoder, e.batch_size, finetune=e.finetune),
            encoder.model if e.finetune else None)
  encoder, vocab = get_encoder(config, split, workdir, pretrained, data_dir, cache_dir)
  return (bilstm_embedder(encoder, vocab, config.data.max_length, finetune=e.finetune),
          encoder if e.finetune else None)


def fresh_copy(module: nnx.Module) -> nnx.Module:
  """A copy of ``module`` with buffers of its own, to train: the train step
  donates its state, which would otherwise delete the arrays of ``module``
  (the pretrained weights the next system or sampling starts from)."""
  copy = nnx.clone(module)
  nnx.update(copy, jax.tree.map(lambda x: jnp.array(x, copy=True), nnx.state(copy)))
  return copy


def make_pools(splits: Mapping[str, list[Example]], intents: set[str],
               embed: Embed) -> dict[str, fsd.Pool]:
  """Each split's examples of ``intents`` as a pool (see :data:`Embed`)."""
  pools = {}
  for name, examples in splits.items():
    kept = [e for e in examples if e.intent in intents]
    _log.info("%s: %d examples of %d intents", name, len(kept), len({e.intent for e in kept}))
    pools[name] = fsd.Pool(kept, np.array([e.intent for e in kept]),
                           embed(kept, f"embedding {name}"))
  return pools


def sentence_width(pool: fsd.Pool) -> int:
  """``D``: the width of the pool's (frozen) sentence vectors."""
  return fsd.frozen_view(pool).inputs["x"].shape[1]
