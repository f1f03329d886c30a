"""Which Flax encoder each Hugging Face ``model_type`` becomes, and the
checkpoint name of each of its parameters.

A ``Names`` iterator yields ``(our parameter path, checkpoint tensor name,
transpose)`` for every parameter of a model built from a config, in the
checkpoint layout of Hugging Face's ``BertModel`` / ``MPNetModel``; the loader
and the saver in :mod:`fsnlu_jax.models._pretrained` both walk it.
"""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Any, Callable, Iterator

from fsnlu_jax.models._bert import BertConfig, BertEncoder
from fsnlu_jax.models._mpnet import MPNetConfig, MPNetEncoder

Encoder = BertEncoder | MPNetEncoder
Names = Iterator[tuple[tuple, str, bool]]


def _layer_names(i: int, dense: dict[tuple, str], norms: dict[str, str]) -> Names:
  hf = f"encoder.layer.{i}."
  for ours, theirs in dense.items():
    # torch Linear stores [out, in]; nnx.Linear's kernel is [in, out].
    yield ("layers", i, *ours, "kernel"), f"{hf}{theirs}.weight", True
    yield ("layers", i, *ours, "bias"), f"{hf}{theirs}.bias", False
  for ours, theirs in norms.items():
    yield ("layers", i, ours, "scale"), f"{hf}{theirs}.weight", False
    yield ("layers", i, ours, "bias"), f"{hf}{theirs}.bias", False


def _embedding_names(tables: dict[str, str]) -> Names:
  for ours, theirs in tables.items():
    yield ("embeddings", ours, "embedding"), f"embeddings.{theirs}.weight", False
  for ours, theirs in (("scale", "weight"), ("bias", "bias")):
    yield ("embeddings", "norm", ours), f"embeddings.LayerNorm.{theirs}", False


def bert_names(config: BertConfig) -> Names:
  """Every parameter of :class:`BertEncoder` as ``BertModel`` names it."""
  yield from _embedding_names({"word": "word_embeddings", "position": "position_embeddings",
                               "segment": "token_type_embeddings"})
  dense = {("attention", "query"): "attention.self.query",
           ("attention", "key"): "attention.self.key",
           ("attention", "value"): "attention.self.value",
           ("attention", "out"): "attention.output.dense",
           ("intermediate",): "intermediate.dense", ("output",): "output.dense"}
  norms = {"attention_norm": "attention.output.LayerNorm", "output_norm": "output.LayerNorm"}
  for i in range(config.num_hidden_layers):
    yield from _layer_names(i, dense, norms)


def bert2bert_names(config: BertConfig, decoder_layers: int) -> Names:
  """The warm-started parameters of a :class:`~fsnlu_jax.models.BertSeq2Seq`
  and the ``BertModel`` tensor each comes from (Rothe et al. 2020).

  The encoder's under ``("encoder", ...)`` as :func:`bert_names`; decoder
  layer ``i``'s self-attention, its norm and its feed-forward from checkpoint
  layer ``i`` (``i < decoder_layers``). The cross-attention, its norm and the
  output bias are new: they have no name here.
  """
  if decoder_layers > config.num_hidden_layers:
    raise ValueError(f"decoder_layers {decoder_layers} exceeds the checkpoint's "
                     f"{config.num_hidden_layers} layers")
  for path, name, transpose in bert_names(config):
    yield ("encoder", *path), name, transpose
    if path[0] == "layers" and path[1] < decoder_layers:
      yield ("decoder", *path[1:]), name, transpose


def mpnet_names(config: MPNetConfig) -> Names:
  """Every parameter of :class:`MPNetEncoder` as ``MPNetModel`` names it."""
  yield from _embedding_names({"word": "word_embeddings", "position": "position_embeddings"})
  yield ("relative_bias", "embedding"), "encoder.relative_attention_bias.weight", False
  dense = {("attention", "query"): "attention.attn.q", ("attention", "key"): "attention.attn.k",
           ("attention", "value"): "attention.attn.v", ("attention", "out"): "attention.attn.o",
           ("intermediate",): "intermediate.dense", ("output",): "output.dense"}
  norms = {"attention_norm": "attention.LayerNorm", "output_norm": "output.LayerNorm"}
  for i in range(config.num_hidden_layers):
    yield from _layer_names(i, dense, norms)


@dataclasses.dataclass(frozen=True)
class Architecture:
  """How one ``model_type`` is built and named in checkpoints."""

  config: Any  # the config class, with from_dict
  model: type
  names: Callable[[Any], Names]
  prefix: str  # of the encoder's tensors in task models' checkpoints (BertForMaskedLM...)
  ignored: tuple[str, ...]  # checkpoint tensors the sentence encoder does not use
  hf_class: str


ARCHITECTURES = {
    "bert": Architecture(BertConfig, BertEncoder, bert_names, "bert.",
                         ("pooler.", "embeddings.position_ids", "cls."), "BertModel"),
    "mpnet": Architecture(MPNetConfig, MPNetEncoder, mpnet_names, "mpnet.",
                          ("pooler.", "embeddings.position_ids", "lm_head."), "MPNetModel"),
}


def architecture(raw: dict, folder: pathlib.Path) -> Architecture:
  """The architecture ``config.json`` (parsed: ``raw``) names; BERT when it names none."""
  model_type = raw.get("model_type", "bert")
  if model_type not in ARCHITECTURES:
    raise ValueError(f"{folder / 'config.json'}: unsupported architecture: model_type "
                     f"{model_type!r} (supported: {sorted(ARCHITECTURES)})")
  return ARCHITECTURES[model_type]
