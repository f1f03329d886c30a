"""A trained parser: utterances in, EXR trees out, by beam search under the tree grammar.

:class:`Parser` holds the encoder-decoder of a ``fsnlu parse`` workdir, its
word pieces and the compiled tree grammar
(:func:`fsnlu_jax.decoding.build_tree_grammar`). :meth:`Parser.parse` encodes
a batch of utterances, runs one jitted :func:`fsnlu_jax.kernels.beam_search`
under :meth:`~fsnlu_jax.decoding.GrammarAutomaton.constraint` (each row's
utterance pieces as its copy mask), and reads the best finished beam back as a
tree string. Under the constraint every finished beam is a tree of the grammar;
a row whose beams all run past ``max_length`` gives ``(None, -inf)`` (counted
as ill-formed by the evaluation, never seen in practice).

Shapes: ``B`` utterances per batch, ``W`` beam, ``Ls`` utterance pieces (a
bucket), ``L`` output pieces, ``V`` vocabulary.
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

from fsnlu_jax.data.subword import SubwordTokenizer
from fsnlu_jax.decoding import (GrammarAutomaton, build_tree_grammar, ending_states, forbid_edges,
                                live_states, prune_dead_ends, tree_grammar_constraint)
from fsnlu_jax.kernels import (all_of, beam_search, expand_to_beams, row_masked_constraint,
                               sample, shortlist_constraint)
from fsnlu_jax.models import BertSeq2Seq, Seq2SeqConfig, seq2seq_tokens_to_logits
from fsnlu_jax.parse import data as data_lib
from fsnlu_jax.parse.config import ParserDecodeConfig
from fsnlu_jax.parse.grounding import ValueGrounding
from fsnlu_jax.parse.mention import mention_constraint, phrase_arrays
from fsnlu_jax.parse.optim import optimizer_for
from fsnlu_jax.train import restore_model

PARSER_FILE = "parser.json"
# Static shapes of the mentions a tree must cover (one compile): more are not required.
MAX_MENTIONS, MAX_VALUE_PIECES = 12, 12
TOKENIZER_FILE = "tokenizer.json"


def compile_grammar(grammar, tokenizer: SubwordTokenizer, config: Seq2SeqConfig
                    ) -> GrammarAutomaton:
  """The grammar over the tokenizer's pieces (host-side; seconds for PIZZA's)."""
  return build_tree_grammar(grammar, data_lib.chunk_tokenizer(tokenizer),
                            vocab_size=config.encoder.vocab_size, eos_id=config.eos_id)


def grammar_shortlist(automaton: GrammarAutomaton, *, bos_id: int, eos_id: int
                      ) -> tuple[int, ...]:
  """The pieces a compiled grammar (without copying) can write, plus BOS and EOS, ascending:
  the parser's output shortlist (:class:`~fsnlu_jax.models.Seq2SeqConfig` ``output_ids``)."""
  pieces = set(np.asarray(automaton.arrays.edge_tokens).tolist()) | {bos_id, eos_id}
  return tuple(sorted(pieces))


class Parser:
  """A trained encoder-decoder parser, its word pieces and its grammar.

  Args:
    model: the :class:`~fsnlu_jax.models.BertSeq2Seq`.
    tokenizer: its word pieces.
    automaton: the compiled tree grammar.
    decode: beam size, length penalty, output length, batch, grounding.
    max_source_len: most utterance pieces (longer utterances are cut).
    grounding: the values each utterance mentions (used when
      ``decode.grounded_values``; None: every value of the grammar).
  """

  def __init__(self, model: BertSeq2Seq, tokenizer: SubwordTokenizer,
               automaton: GrammarAutomaton, decode: ParserDecodeConfig, *, max_source_len: int,
               grounding: ValueGrounding | None = None):
    self.model, self.tokenizer, self.automaton = model, tokenizer, automaton
    self.decode, self.max_source_len, self.grounding = decode, max_source_len, grounding
    self.fallback_rows: dict[str, int] = {}
    self._arrays = jax.device_put(automaton.arrays)
    self._copy = jax.device_put(automaton.copy)
    self._edge_values = jax.device_put(automaton.edge_values)
    # Pruning looks at every edge of a beam's state (value choices are the widest).
    self._max_fanout = int(np.diff(np.asarray(automaton.arrays.offsets)).max())

  @classmethod
  def load(cls, workdir: str | os.PathLike) -> "Parser":
    """The best-validation parser of a ``fsnlu parse`` workdir."""
    workdir = pathlib.Path(workdir)
    path = workdir / PARSER_FILE
    if not path.is_file():
      raise FileNotFoundError(f"{path}: not a parser workdir (run `fsnlu parse --config` first)")
    saved = json.loads(path.read_text())
    if saved.get("direction", "parse") != "parse":
      raise ValueError(f"{workdir} holds a {saved['direction']!r} model, not a parser")
    config = Seq2SeqConfig(**saved["model"])
    template = nnx.eval_shape(lambda: BertSeq2Seq(config, rngs=nnx.Rngs(0)))
    folder = workdir / "best"
    if not folder.is_dir():
      folder = workdir / "checkpoints"
    model, _ = restore_model(folder, template, optimizer_for(workdir, template))
    tokenizer = SubwordTokenizer(workdir / TOKENIZER_FILE, max_length=saved["max_source_len"])
    automaton = compile_grammar(data_lib.grammar_from_dict(saved["grammar"]), tokenizer, config)
    grounding = (ValueGrounding(saved["surfaces"], automaton, saved.get("carrier_words", ()))
                 if "surfaces" in saved else None)
    return cls(model, tokenizer, automaton, ParserDecodeConfig(**saved["decode"]),
               max_source_len=saved["max_source_len"], grounding=grounding)

  def parse(self, texts: Sequence[str]) -> list[tuple[str | None, float]]:
    """``(tree string, score)`` per utterance, in order: the best beam's tree and its
    length-penalised log-probability (``(None, -inf)`` if no beam finished).

    With ``decode.grounded_values`` (and a grounding) only the entity values
    an utterance mentions can be written (:mod:`fsnlu_jax.parse.grounding`).
    With ``decode.cover_mentions`` too, every mentioned value must be written.
    A constrained beam can reach a dead end (an entity opened with none of its
    values mentioned, a mention the grammar cannot place); a row whose beams
    all die is decoded again with one constraint less (coverage, then
    grounding), so it still gets a tree; with ``decode.fallback_beam_size``
    such a row is first decoded again under every constraint with that wider
    beam. ``self.fallback_rows`` counts the rows per retry and
    ``self.ungrounded_rows`` those decoded without grounding (last call).
    """
    d = self.decode
    grounded = d.grounded_values and self.grounding is not None
    # The strictest decoding first; a row whose beams all die goes to the next.
    modes = [(True, True, d.beam_size)] if grounded and d.cover_mentions else []
    if modes and d.fallback_beam_size > d.beam_size:
      modes += [(True, True, d.fallback_beam_size)]
    modes += [(True, False, d.beam_size)] if grounded else []
    modes += [(False, False, d.beam_size)]
    out: list[tuple[str | None, float]] = [(None, float("-inf"))] * len(texts)
    todo = list(range(len(texts)))
    self.fallback_rows = {}
    for level, (ground, cover, beam) in enumerate(modes):
      if level:
        wide = f",beam={beam}" if beam != d.beam_size else ""
        self.fallback_rows[f"grounded={ground},cover={cover}{wide}"] = len(todo)
      for i, result in zip(todo, self._parse([texts[i] for i in todo], ground, cover, beam)):
        out[i] = result
      todo = [i for i in todo if out[i][0] is None]
      if not todo:
        break
    return out

  @property
  def ungrounded_rows(self) -> int:
    """Rows of the last :meth:`parse` decoded without grounding (every constraint failed)."""
    return self.fallback_rows.get("grounded=False,cover=False", 0)

  def _parse(self, texts: Sequence[str], grounded: bool, cover: bool,
             beam_size: int) -> list[tuple[str | None, float]]:
    c, d = self.model.config, self.decode
    encoded = self.tokenizer.encode(list(texts))
    # Pruning reads the automaton's own edges; a copying grammar moves on others as well.
    prune = grounded and d.prune_dead_ends and not self.automaton.copies
    run = _searcher(nnx.graphdef(self.model), beam_size=beam_size, max_length=d.max_length,
                    alpha=d.alpha, prune=self._max_fanout if prune else 0)
    # A wider beam decodes fewer rows at once: the same batch x beam hypotheses in memory.
    batch_size = max(1, d.batch_size * d.beam_size // beam_size)
    pieces = c.output_pieces()
    state = nnx.state(self.model)
    out: list[tuple[str | None, float]] = []
    detokenize = lambda ids: self.tokenizer._tokenizer.decode(ids)  # pylint: disable=protected-access
    for start in range(0, len(encoded), batch_size):
      rows = list(range(start, min(start + batch_size, len(encoded))))
      fill = rows + [rows[0]] * (batch_size - len(rows))  # a static B: one compile
      length = self.tokenizer.bucket(max(len(encoded[r][0]) for r in rows))
      src = np.full((batch_size, length), c.pad_id, np.int32)
      mask = np.zeros((batch_size, c.encoder.vocab_size), bool)
      for i, r in enumerate(fill):
        ids = encoded[r][0]
        src[i, :len(ids)] = ids
        mask[i, ids[1:-1]] = True  # the utterance's own pieces, specials left out
      # None leaves a restriction out of the trace (jit retraces once per combination).
      batch_texts = [texts[r] for r in fill]
      values = jnp.asarray(self.grounding.mask(batch_texts)) if grounded else None
      # Pruning also allows values symbol by symbol.
      value_ok = jnp.asarray(self.grounding.value_mask(batch_texts)) if prune else None
      phrases = lengths = caps = None
      if grounded and cover:
        phrases, lengths = phrase_arrays(
            [row[:MAX_MENTIONS] for row in self.grounding.required(batch_texts)],
            max_phrases=MAX_MENTIONS, max_pieces=MAX_VALUE_PIECES)
        phrases, lengths = jnp.asarray(phrases), jnp.asarray(lengths)
        if d.cap_mentions:
          caps = np.zeros(lengths.shape, np.int32)
          for i, counts in enumerate(self.grounding.mention_counts(batch_texts)):
            caps[i, :len(counts[:MAX_MENTIONS])] = counts[:MAX_MENTIONS]
          caps = jnp.asarray(caps)
      result = jax.device_get(run(state, jnp.asarray(src), jnp.asarray(src != c.pad_id),
                                  self._arrays, self._copy, jnp.asarray(mask), values,
                                  phrases, lengths, caps, self._edge_values, value_ok))
      for i, r in enumerate(rows):
        if not result.finished[i, 0]:
          out.append((None, float("-inf")))
          continue
        ids = pieces[result.sequences[i, 0, :int(result.lengths[i, 0])]]
        tree = self.automaton.decode(ids, set(encoded[r][0][1:-1]), detokenize)
        out.append((tree, float(result.scores[i, 0])))
    return out

  def sample_trees(self, texts: Sequence[str], n: int, *, seed: int, temperature: float = 1.0,
                   top_p: float = 1.0) -> list[list[str | None]]:
    """``n`` trees sampled per utterance under the grammar (CLASP-GB's new parses).

    Every finished sample is a tree of the grammar; a sample that runs past
    ``max_length`` is None. The same seed and texts give the same trees.
    """
    c, d = self.model.config, self.decode
    encoded = self.tokenizer.encode(list(texts))
    per_batch = max(1, d.batch_size // n)
    run = _tree_sampler(nnx.graphdef(self.model), n=n, max_length=d.max_length)
    pieces = c.output_pieces()
    state = nnx.state(self.model)
    key = jax.random.key(seed)
    detokenize = lambda ids: self.tokenizer._tokenizer.decode(ids)  # pylint: disable=protected-access
    out: list[list[str | None]] = []
    for start in range(0, len(encoded), per_batch):
      rows = list(range(start, min(start + per_batch, len(encoded))))
      fill = rows + [rows[0]] * (per_batch - len(rows))
      length = self.tokenizer.bucket(max(len(encoded[r][0]) for r in rows))
      src = np.full((per_batch, length), c.pad_id, np.int32)
      mask = np.zeros((per_batch, c.encoder.vocab_size), bool)
      for i, r in enumerate(fill):
        ids = encoded[r][0]
        src[i, :len(ids)] = ids
        mask[i, ids[1:-1]] = True
      result = jax.device_get(run(state, jnp.asarray(src), jnp.asarray(src != c.pad_id),
                                  self._arrays, self._copy, jnp.asarray(mask),
                                  jax.random.fold_in(key, start), jnp.float32(temperature),
                                  jnp.float32(top_p)))
      for i, r in enumerate(rows):
        trees = []
        for j in range(i * n, (i + 1) * n):
          ids = pieces[result.sequences[j, :int(result.lengths[j])]]
          trees.append(self.automaton.decode(ids, set(encoded[r][0][1:-1]), detokenize)
                       if result.finished[j] else None)
        out.append(trees)
    return out


def _search_space(model: BertSeq2Seq, constraint):
  """``(constraint, vocab_size, bos, eos)`` of a search over the model's outputs: the pieces,
  or the positions of its shortlist (:func:`fsnlu_jax.kernels.shortlist_constraint`)."""
  c = model.config
  if c.output_ids is None:
    return constraint, c.encoder.vocab_size, c.bos_id, c.eos_id
  index = c.output_index()
  return (shortlist_constraint(constraint, c.output_pieces()), c.output_size,
          int(index[c.bos_id]), int(index[c.eos_id]))


@functools.lru_cache(maxsize=16)
def _tree_sampler(graphdef, *, n, max_length):
  """The jitted ``run(state, src_ids [P, Ls], src_mask, arrays, copy, utterance_mask [P, V],
  key, temperature, top_p)``: ``n`` samples per row (tokens as output positions)."""

  @jax.jit
  def run(state, src_ids, src_mask, arrays, copy, utterance_mask, key, temperature, top_p):
    model = nnx.merge(graphdef, state)
    c = model.config
    encoded = model.encode(src_ids, src_mask)  # --> [P, Ls, D]
    repeat = lambda x: jnp.repeat(x, n, axis=0)
    cache = jax.tree.map(repeat, model.init_cache(encoded, src_mask, max_length))
    constraint, vocab_size, bos, eos = _search_space(model, tree_grammar_constraint(
        arrays, vocab_size=c.encoder.vocab_size, copy=copy,
        utterance_mask=repeat(utterance_mask), eos_id=c.eos_id))
    return sample(seq2seq_tokens_to_logits(model), cache, rng=key,
                  batch_size=src_ids.shape[0] * n, max_length=max_length, vocab_size=vocab_size,
                  bos_id=bos, eos_id=eos, temperature=temperature, top_p=top_p,
                  constraint=constraint)

  return run


@functools.lru_cache(maxsize=16)
def _searcher(graphdef, *, beam_size, max_length, alpha, prune=0):
  """The jitted ``run(state, src_ids [B, Ls], src_mask, arrays, copy, utterance_mask [B, V],
  value_mask [B, V], phrases [B, K, P], lengths [B, K], caps [B, K], edge_values [A],
  value_ok [B, Nv])`` (tokens as output positions; ``value_mask``: the pieces each row may
  write, ``phrases``: the values it must write, ``caps``: at most how often, ``value_ok``: the
  values it may write, by the automaton's ``edge_values``,
  :class:`~fsnlu_jax.parse.grounding.ValueGrounding`; None leaves any of them out).
  ``prune`` (the automaton's largest fan-out; 0: off): no edge completing a value
  ``value_ok`` forbids, nor into a state from which the row cannot finish (:func:`fsnlu_jax.decoding.prune_dead_ends`), and
  with ``phrases`` no closing of the root while a mention is owed."""

  @jax.jit
  def run(state, src_ids, src_mask, arrays, copy, utterance_mask, value_mask, phrases, lengths,
          caps, edge_values, value_ok):
    model = nnx.merge(graphdef, state)
    c = model.config
    encoded = model.encode(src_ids, src_mask)  # --> [B, Ls, D]
    cache = expand_to_beams(model.init_cache(encoded, src_mask, max_length), beam_size)
    constraint = tree_grammar_constraint(arrays, vocab_size=c.encoder.vocab_size, copy=copy,
                                         utterance_mask=utterance_mask, eos_id=c.eos_id)
    if value_mask is not None:
      constraint = row_masked_constraint(constraint, value_mask)
      if prune:
        # [B, A]: the edges each row may take (one completing an unmentioned value: not).
        edge_ok = value_ok[:, jnp.maximum(edge_values, 0)] | (edge_values < 0)
        live = live_states(arrays, value_mask, eos_id=c.eos_id, edge_mask=edge_ok)
        constraint = prune_dead_ends(constraint, arrays, live, edge_mask=edge_ok,
                                     max_fanout=prune)
    if phrases is not None:
      constraint = all_of(constraint, mention_constraint(
          phrases, lengths, vocab_size=c.encoder.vocab_size, eos_id=c.eos_id,
          max_length=max_length, caps=caps))
      if prune:
        ending = ending_states(arrays, eos_id=c.eos_id)

        def early(s, edges):
          """Closing the root leaves only EOS, which the mentions forbid until each is said."""
          children = arrays.edge_child[edges]
          return (ending[jnp.maximum(children, 0)] & (children >= 0)
                  & ~s[1].done.all(-1)[..., None])

        constraint = forbid_edges(constraint, arrays, early, automaton_state=lambda s: s[0],
                                  max_fanout=prune)
    constraint, vocab_size, bos, eos = _search_space(model, constraint)
    return beam_search(seq2seq_tokens_to_logits(model), cache, batch_size=src_ids.shape[0],
                       beam_size=beam_size, max_length=max_length, vocab_size=vocab_size,
                       bos_id=bos, eos_id=eos, alpha=alpha, constraint=constraint)

  return run
