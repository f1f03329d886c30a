"""A trained teacher: prompts in, labelled utterances out, by grammar-constrained sampling.

:class:`Teacher` holds the warm-started encoder-decoder of a ``fsnlu teach``
workdir and its word pieces. :meth:`Teacher.generate` encodes each prompt once,
draws ``n`` samples per prompt in one jitted :func:`fsnlu_jax.kernels.sample`
call per batch under :func:`fsnlu_jax.decoding.annotation_constraint`, and
parses each output back into an :class:`~fsnlu_jax.data.Example`. Under the
constraint every output finishes and parses; ``constrained=False`` shows what
the same model writes without it (outputs that do not parse are counted, not
kept).

Shapes: ``P`` prompts per batch, ``n`` samples per prompt, ``B = P * n`` rows,
``Ls`` prompt pieces (a bucket), ``L`` output pieces, ``V`` vocabulary.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import pathlib
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from fsnlu_jax.data.schema import Example
from fsnlu_jax.data.subword import SubwordTokenizer
from fsnlu_jax.decoding import PieceClasses, SlotArrays, annotation_constraint
from fsnlu_jax.kernels import sample
from fsnlu_jax.models import BertSeq2Seq, Seq2SeqConfig, seq2seq_tokens_to_logits
from fsnlu_jax.teach import grammar
from fsnlu_jax.teach.config import SamplingConfig
from fsnlu_jax.teach.format import FormatError, Prompt, render_prompt
from fsnlu_jax.teach.job import TOKENIZER_FILE, optimizer_for, teacher_config
from fsnlu_jax.train import restore_model


@dataclasses.dataclass(frozen=True)
class Generated:
  """One sampled output.

  Attributes:
    prompt: index of its prompt in the :meth:`Teacher.generate` call.
    text: the decoded pieces (``[ 1 boston ]`` marks spans).
    example: the labelled utterance, or None when the output did not parse
      (only possible with ``constrained=False``).
    logprob: the model's log-probability of the output (untempered, unmasked).
    error: why it did not parse, else ``""``.
  """

  prompt: int
  text: str
  example: Example | None
  logprob: float
  error: str = ""


@dataclasses.dataclass
class GenerationStats:
  """Outputs drawn, finished within the length, parsed; prompt examples dropped to fit."""

  outputs: int = 0
  finished: int = 0
  parsed: int = 0
  examples_dropped_to_fit: int = 0
  prompts_longer_than_trained: int = 0


class Teacher:
  """A trained encoder-decoder teacher and its word pieces.

  Args:
    model: the :class:`~fsnlu_jax.models.BertSeq2Seq`.
    tokenizer: its word pieces (``tokenizer.json``).
    max_source_len: most prompt pieces (longer prompts are an error).
  """

  def __init__(self, model: BertSeq2Seq, tokenizer: SubwordTokenizer, *, max_source_len: int):
    self.model = model
    self.tokenizer = tokenizer
    self.max_source_len = max_source_len
    self.pieces = grammar.piece_classes(tokenizer)
    self.stats = GenerationStats()

  @classmethod
  def load(cls, workdir: str | os.PathLike) -> "Teacher":
    """The best-validation teacher of a ``fsnlu teach`` workdir."""
    workdir = pathlib.Path(workdir)
    config = Seq2SeqConfig(**teacher_config(workdir))
    template = nnx.eval_shape(lambda: BertSeq2Seq(config, rngs=nnx.Rngs(0)))
    folder = workdir / "best"
    if not folder.is_dir():
      folder = workdir / "checkpoints"
    model, _ = restore_model(folder, template, optimizer_for(workdir, template))
    job = json.loads((workdir / "config.json").read_text())
    max_source = job["data"]["max_source_len"]
    # Pieces are cut at the encoder's positions, not at the trained length (fit_prompt decides).
    tokenizer = SubwordTokenizer(workdir / TOKENIZER_FILE,
                                 max_length=config.encoder.max_position_embeddings)
    return cls(model, tokenizer, max_source_len=max_source)

  def fit_prompt(self, prompt: Prompt) -> tuple[Prompt, list[int]]:
    """``prompt`` with examples removed from the end until it fits ``max_source_len``
    (the longest prompt the teacher was trained on), and its piece ids (``[CLS] ... [SEP]``).

    A prompt still longer without examples (many labels, long fixed values) is
    read whole up to the encoder's positions, and counted in :attr:`stats`.

    Raises:
      ValueError: a prompt longer than the encoder's positions even without examples.
    """
    limit = self.model.config.encoder.max_position_embeddings
    while True:
      ids = self.tokenizer.pieces(render_prompt(prompt))
      if len(ids) + 2 <= self.max_source_len or (not prompt.examples and len(ids) + 2 <= limit):
        self.stats.prompts_longer_than_trained += len(ids) + 2 > self.max_source_len
        return prompt, [self.model.config.bos_id] + ids + [self.model.config.eos_id]
      if not prompt.examples:
        raise ValueError(f"a prompt of {len(ids) + 2} pieces without examples; the encoder "
                         f"reads at most {limit}")
      prompt = dataclasses.replace(prompt, examples=prompt.examples[:-1])
      self.stats.examples_dropped_to_fit += 1

  def generate(self, prompts: Sequence[Prompt], n: int, *, seed: int,
               sampling: SamplingConfig = SamplingConfig(), constrained: bool = True
               ) -> list[Generated]:
    """``n`` sampled outputs per prompt, in prompt order.

    Args:
      prompts: what to write.
      n: samples per prompt.
      seed: the sampling seed (the same seed and prompts give the same outputs).
      sampling: temperature, top-k, top-p, output length, rows per batch.
      constrained: decode under the annotation grammar (False: only to measure
        what the grammar prevents).
    """
    c = self.model.config
    max_length = sampling.max_length
    prompts, sources = zip(*(self.fit_prompt(p) for p in prompts)) if prompts else ((), ())
    slots = grammar.slot_arrays(prompts, self.tokenizer, max_length=max_length)
    per_batch = max(1, sampling.batch_size // n)
    run = _sampler(nnx.graphdef(self.model), n=n, max_length=max_length,
                   vocab_size=c.encoder.vocab_size, bos_id=c.bos_id, eos_id=c.eos_id,
                   temperature=sampling.temperature, top_k=sampling.top_k,
                   top_p=sampling.top_p, constrained=constrained)
    state = nnx.state(self.model)
    key = jax.random.key(seed)
    out = []
    for start in range(0, len(prompts), per_batch):
      rows = list(range(start, min(start + per_batch, len(prompts))))
      fill = rows + [rows[0]] * (per_batch - len(rows))  # a static P: one compile
      length = self.tokenizer.bucket(max(len(sources[r]) for r in rows))
      src = np.full((per_batch, length), c.pad_id, np.int32)
      for i, r in enumerate(fill):
        src[i, :len(sources[r])] = sources[r]
      batch_slots = SlotArrays(*(np.asarray(a)[fill] for a in slots))
      result = jax.device_get(run(state, jnp.asarray(src), jnp.asarray(src != c.pad_id),
                                  batch_slots, self.pieces, jax.random.fold_in(key, start)))
      for i, r in enumerate(rows):
        for j in range(n):
          row = i * n + j
          out.append(self._parse(r, prompts[r], result.sequences[row], result.lengths[row],
                                 bool(result.finished[row]), float(result.logprobs[row])))
    return out

  def _parse(self, index, prompt, sequence, length, finished, logprob) -> Generated:
    self.stats.outputs += 1
    ids = [int(t) for t in sequence[:int(length)]]
    text = grammar.detokenize(ids, self.tokenizer, eos_id=self.model.config.eos_id)
    if not finished:
      return Generated(index, text, None, logprob, error="unfinished")
    self.stats.finished += 1
    try:
      example = grammar.to_example(ids, prompt, self.tokenizer, eos_id=self.model.config.eos_id,
                                   source=f"generated:{prompt.intent}")
    except FormatError as e:
      return Generated(index, text, None, logprob, error=f"{type(e).__name__}: {e}")
    self.stats.parsed += 1
    return Generated(index, text, example, logprob)


def sampling_config(workdir: str | os.PathLike, temperature: float | None = None,
                    top_p: float | None = None, top_k: int | None = None) -> SamplingConfig:
  """The teacher workdir's sampling settings, with the given ones replaced."""
  job = json.loads((pathlib.Path(workdir) / "config.json").read_text())
  config = SamplingConfig(**job.get("sampling", {}))
  changes = dict(temperature=temperature, top_p=top_p, top_k=top_k)
  return dataclasses.replace(config, **{k: v for k, v in changes.items() if v is not None})


@functools.lru_cache(maxsize=16)
def _sampler(graphdef, *, n, max_length, vocab_size, bos_id, eos_id, temperature, top_k, top_p,
             constrained):
  """The jitted ``run(state, src_ids [P, Ls], src_mask, slots, pieces, key)``; cached per settings."""

  @jax.jit
  def run(state, src_ids, src_mask, slots: SlotArrays, pieces: PieceClasses, key):
    model = nnx.merge(graphdef, state)
    encoded = model.encode(src_ids, src_mask)  # --> [P, Ls, D]
    # Each prompt encoded once, its cache repeated for its n samples.
    cache = jax.tree.map(lambda x: x if jnp.ndim(x) == 0 else jnp.repeat(x, n, axis=0),
                         model.init_cache(encoded, src_mask, max_length))
    rows = jax.tree.map(lambda x: jnp.repeat(x, n, axis=0), slots)
    constraint = (annotation_constraint(pieces, rows, max_length=max_length)
                  if constrained else None)
    return sample(seq2seq_tokens_to_logits(model), cache, rng=key,
                  batch_size=src_ids.shape[0] * n, max_length=max_length, vocab_size=vocab_size,
                  bos_id=bos_id, eos_id=eos_id, temperature=temperature, top_k=top_k,
                  top_p=top_p, constraint=constraint)

  return run
