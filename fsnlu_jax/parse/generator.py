"""The CLASP teacher: parse -> utterance, sampled so that every entity of the parse is said.

:class:`Generator` holds an encoder-decoder trained tree -> utterance (a
``fsnlu parse`` workdir with ``data.direction="generate"``). :meth:`Generator.generate`
encodes each tree once and draws ``n`` utterances per tree in one jitted
:func:`fsnlu_jax.kernels.sample` call per batch under
:func:`fsnlu_jax.parse.mention.mention_constraint`: each request's phrases
(the entities' words) must all appear before EOS, so every finished utterance
mentions every entity of its parse.

Shapes: ``P`` trees per batch, ``n`` samples per tree, ``B = P * n`` rows,
``Ls`` tree pieces, ``L`` utterance pieces, ``K`` phrases, ``V`` vocabulary.
"""

from __future__ import annotations

import functools
import json
import os
import pathlib
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from fsnlu_jax.data.seq2seq_arrays import bucket
from fsnlu_jax.data.subword import SubwordTokenizer
from fsnlu_jax.kernels import sample
from fsnlu_jax.models import BertSeq2Seq, Seq2SeqConfig, seq2seq_tokens_to_logits
from fsnlu_jax.parse import data as data_lib
from fsnlu_jax.parse.mention import mention_constraint, phrase_arrays
from fsnlu_jax.parse.optim import optimizer_for
from fsnlu_jax.parse.parser import PARSER_FILE, TOKENIZER_FILE
from fsnlu_jax.parse.placeholders import fill, placeholder_pieces
from fsnlu_jax.train import restore_model


class Generator:
  """A trained tree -> utterance encoder-decoder and its word pieces.

  Args:
    model: the :class:`~fsnlu_jax.models.BertSeq2Seq`.
    tokenizer: its word pieces.
    max_source_len: most tree pieces (longer trees are an error).
    placeholders: it writes ``[unusedK]`` where a request's values go.
    target_pieces: the pieces its free text may use (besides the words each
      request owes); None: any text piece. :meth:`load` gives the pieces of
      its training utterances: a decoder fine-tuned on a few hundred pairs
      spreads its leftover mass over the other 30k pieces, which sampling
      turns into noise words (measured: foreign-script pieces and words such as
      "deciduous" in 7 of the first 24 utterances of a 16-seed teacher given
      grammar sampling's trees).
  """

  def __init__(self, model: BertSeq2Seq, tokenizer: SubwordTokenizer, *, max_source_len: int,
               placeholders: bool = False, target_pieces: Sequence[int] | None = None):
    if model.config.output_ids is not None:
      raise ValueError("the teacher writes utterances: it needs the whole vocabulary, not an "
                       "output shortlist (output_ids)")
    self.model, self.tokenizer, self.max_source_len = model, tokenizer, max_source_len
    self.placeholders = placeholders
    # A scan of the vocabulary: once per teacher, not per generate() call.
    self._placeholder_ids = placeholder_pieces(tokenizer) if placeholders else ()
    self._piece = data_lib.chunk_tokenizer(tokenizer)
    usable = tokenizer.text_pieces()  # no [PAD], [unused7], ... in free text
    if target_pieces is not None:
      trained = np.zeros_like(usable)
      trained[np.asarray(target_pieces, np.int64)] = True
      usable &= trained
    self.usable = usable  # [V] bool

  @classmethod
  def load(cls, workdir: str | os.PathLike, *, free_text: str = "trained") -> "Generator":
    """The best-validation generator of a ``data.direction="generate"`` workdir;
    ``free_text``: ``"trained"`` (the pieces of its training utterances, where the
    workdir records them) or ``"any"`` (every text piece)."""
    if free_text not in ("trained", "any"):
      raise ValueError(f"free_text is 'trained' or 'any', got {free_text!r}")
    workdir = pathlib.Path(workdir)
    saved = json.loads((workdir / PARSER_FILE).read_text())
    if saved.get("direction") != "generate":
      raise ValueError(f"{workdir} holds a parser, not a generator (data.direction='generate')")
    config = Seq2SeqConfig(**saved["model"])
    template = nnx.eval_shape(lambda: BertSeq2Seq(config, rngs=nnx.Rngs(0)))
    folder = workdir / "best" if (workdir / "best").is_dir() else workdir / "checkpoints"
    model, _ = restore_model(folder, template, optimizer_for(workdir, template))
    return cls(model, SubwordTokenizer(workdir / TOKENIZER_FILE, max_length=saved["max_source_len"]),
               max_source_len=saved["max_source_len"],
               placeholders=saved.get("placeholders", False),
               target_pieces=saved.get("target_pieces") if free_text == "trained" else None)

  def phrase_pieces(self, phrase: str) -> list[int]:
    return data_lib.tree_pieces(phrase, self.tokenizer, self._piece)

  def generate(self, trees: Sequence[str], phrases: Sequence[Sequence[str]], n: int, *,
               seed: int, temperature: float = 1.0, top_p: float = 0.9, max_length: int = 48,
               batch_size: int = 32, fills: Sequence[Sequence[str]] | None = None
               ) -> list[list[tuple[str | None, float]]]:
    """``n`` ``(utterance, log-probability)`` per tree; ``(None, -inf)`` for a sample
    that did not finish (its phrases do not fit ``max_length``).

    Args:
      trees: the parses (EXR strings), the model's source.
      phrases: per tree, the words each utterance must contain (its entities;
        a placeholder teacher's trees and phrases hold ``[unusedK]`` words:
        :func:`fsnlu_jax.parse.placeholders.delexicalize_tree`).
      n: samples per tree.
      seed: the sampling seed (same seed, same outputs).
      fills: per tree, what each placeholder stands for: the utterances come
        back with their placeholders filled in (:func:`~fsnlu_jax.parse.placeholders.fill`).
    """
    c = self.model.config
    sources = []
    for tree in trees:
      ids = [c.bos_id] + data_lib.tree_pieces(tree, self.tokenizer, self._piece) + [c.eos_id]
      if len(ids) > self.max_source_len:
        raise ValueError(f"a tree of {len(ids)} pieces; the generator reads at most "
                         f"{self.max_source_len}: {tree}")
      sources.append(ids)
    wanted = [[self.phrase_pieces(p) for p in row] for row in phrases]
    k = max((len(row) for row in wanted), default=1) or 1
    width = max((len(p) for row in wanted for p in row), default=1) or 1
    per_batch = max(1, batch_size // n)
    run = _sampler(nnx.graphdef(self.model), n=n, max_length=max_length,
                   vocab_size=c.encoder.vocab_size, bos_id=c.bos_id, eos_id=c.eos_id,
                   placeholder_ids=self._placeholder_ids)
    usable = jnp.asarray(self.usable)
    state = nnx.state(self.model)
    key = jax.random.key(seed)
    out: list[list[tuple[str | None, float]]] = []
    for start in range(0, len(sources), per_batch):
      rows = list(range(start, min(start + per_batch, len(sources))))
      padded = rows + [rows[0]] * (per_batch - len(rows))
      length = bucket(max(len(sources[r]) for r in rows), data_lib.SOURCE_BUCKETS,
                      self.max_source_len)
      src = np.full((per_batch, length), c.pad_id, np.int32)
      for i, r in enumerate(padded):
        src[i, :len(sources[r])] = sources[r]
      pieces, lengths = phrase_arrays([wanted[r] for r in padded], max_phrases=k, max_pieces=width)
      result = jax.device_get(run(state, jnp.asarray(src), jnp.asarray(src != c.pad_id),
                                  jnp.asarray(pieces), jnp.asarray(lengths), usable,
                                  jax.random.fold_in(key, start), jnp.float32(temperature),
                                  jnp.float32(top_p)))
      for i, r in enumerate(rows):
        samples = []
        for j in range(i * n, (i + 1) * n):
          if not result.finished[j]:
            samples.append((None, float("-inf")))
            continue
          ids = [int(t) for t in result.sequences[j, :int(result.lengths[j]) - 1]]
          text = self.tokenizer._tokenizer.decode(ids)  # pylint: disable=protected-access
          text = " ".join(text.split())
          samples.append((text if fills is None else fill(text, fills[r]),
                          float(result.logprobs[j])))
        out.append(samples)
    return out


@functools.lru_cache(maxsize=16)
def _sampler(graphdef, *, n, max_length, vocab_size, bos_id, eos_id, placeholder_ids=()):
  """The jitted ``run(state, src_ids [P, Ls], src_mask, pieces [P, K, W], lengths [P, K],
  usable [V], key, temperature, top_p)``: ``n`` samples per tree.

  With ``placeholder_ids`` the phrases are placeholders said in order: the model
  decides *where* a value goes (the mass of every placeholder piece, given to
  each), the order decides *which* (only the next one is allowed)."""

  def placeholder_logits(tokens_to_logits):
    ids = jnp.asarray(placeholder_ids, jnp.int32)

    def step(tokens, cache, i):
      logits, cache = tokens_to_logits(tokens, cache, i)  # --> [B, V]
      mass = jax.nn.logsumexp(logits[..., ids], axis=-1, keepdims=True)
      return logits.at[..., ids].set(jnp.broadcast_to(mass, logits.shape[:-1] + ids.shape)), cache

    return step

  @jax.jit
  def run(state, src_ids, src_mask, pieces, lengths, usable, key, temperature, top_p):
    model = nnx.merge(graphdef, state)
    encoded = model.encode(src_ids, src_mask)  # --> [P, Ls, D]
    repeat = lambda x: jnp.repeat(x, n, axis=0)
    cache = jax.tree.map(repeat, model.init_cache(encoded, src_mask, max_length))
    constraint = mention_constraint(repeat(pieces), repeat(lengths), vocab_size=vocab_size,
                                    eos_id=eos_id, max_length=max_length, usable=usable,
                                    in_order=bool(placeholder_ids))
    logits = seq2seq_tokens_to_logits(model)
    return sample(placeholder_logits(logits) if placeholder_ids else logits, cache, rng=key,
                  batch_size=src_ids.shape[0] * n, max_length=max_length, vocab_size=vocab_size,
                  bos_id=bos_id, eos_id=eos_id, temperature=temperature, top_p=top_p,
                  constraint=constraint)

  return run
