"""Prompts as grammar arrays for the decoder, and decoded pieces back to annotated utterances.

The teacher decodes word pieces of a BERT vocabulary under
:func:`fsnlu_jax.decoding.annotation_constraint`; this module builds that
constraint's host-side inputs from :class:`~fsnlu_jax.teach.format.Prompt`s
(slot numbers as piece ids, fixed values as piece sequences) and turns finished
sequences back into :class:`~fsnlu_jax.data.Example`s.

Shapes: ``B`` prompts, ``S`` slots per prompt, ``M`` longest fixed value (pieces),
``V`` vocabulary, ``L`` output length.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Sequence

import numpy as np

from fsnlu_jax.data.schema import OUTSIDE, Example
from fsnlu_jax.data.subword import SubwordTokenizer
from fsnlu_jax.decoding import PieceClasses, SlotArrays, min_length
from fsnlu_jax.teach.format import (Annotated, Prompt, check_against_prompt, normalize_words,
                                    parse_output)

# Pieces an output may never contain: the prompt's own separators besides the brackets.
_BANNED = {"|"}
_JOINERS = {"'", "’", "-"}  # in-word characters that word pieces split off ("what ' s")


def piece_classes(tokenizer: SubwordTokenizer, *, eos: str = "[SEP]") -> PieceClasses:
  """Word / continuation / bracket / end pieces of a BERT word-piece vocabulary (NumPy)."""
  size = tokenizer.vocab_size
  word, cont = np.zeros(size, bool), np.zeros(size, bool)
  for i in range(size):
    piece = tokenizer.id_to_piece(i)
    if piece is None or "[" in piece or "]" in piece or piece in _BANNED:
      continue  # specials ([PAD], [unused7]), the brackets themselves
    if piece.startswith("##"):
      cont[i] = len(piece) > 2
    else:
      word[i] = True
  return PieceClasses(word=word, cont=cont, open_id=np.int32(tokenizer.piece_id("[")),
                      close_id=np.int32(tokenizer.piece_id("]")),
                      eos_id=np.int32(tokenizer.piece_id(eos)))


class UnwritableValueError(ValueError):
  """A fixed value the teacher's word pieces cannot write back (``[UNK]`` pieces, dropped characters)."""


def writable(value: Sequence[str], tokenizer: SubwordTokenizer) -> bool:
  """Whether ``value``'s word pieces detokenize to it, compared as the parser compares fixed values.

  A value with characters outside the vocabulary (``楽園追放`` -> ``[UNK]``) or
  that the tokenizer's normaliser drops (some emoji) is not: the grammar would
  force its pieces, and the parsed output could never equal the requested value.
  """
  return _writable_pieces(value, tokenizer) is not None


def _writable_pieces(value: Sequence[str], tokenizer: SubwordTokenizer) -> list[int] | None:
  """``value``'s piece ids, or None when they do not write it back (:func:`writable`)."""
  ids = tokenizer.pieces(" ".join(value))
  text = detokenize(ids, tokenizer, eos_id=-1)
  same = "".join(normalize_words(text.split())) == "".join(normalize_words(value))
  return ids if same else None


def writable_requests(prompts: Sequence[Prompt], tokenizer: SubwordTokenizer
                      ) -> tuple[list[Prompt], int]:
  """``prompts`` with every fixed value that is not :func:`writable` asked as a wildcard.

  Only those requests change (so other prompts, and their samples, stay as
  they were). Returns the prompts and how many values were replaced.
  """
  out, replaced = [], 0
  for prompt in prompts:
    if prompt.slots is None:
      out.append(prompt)
      continue
    requests = []
    for request in prompt.slots:
      if request.value is not None and not writable(request.value, tokenizer):
        request = dataclasses.replace(request, value=None)
        replaced += 1
      requests.append(request)
    out.append(dataclasses.replace(prompt, slots=tuple(requests)))
  return out, replaced


def slot_arrays(prompts: Sequence[Prompt], tokenizer: SubwordTokenizer, *, max_length: int,
                num_slots: int | None = None, value_length: int | None = None) -> SlotArrays:
  """The slots each prompt may or must write, as arrays (NumPy).

  Under slot control the requested slots are required (fixed values as their
  pieces); without it (``prompt.slots is None``) every numbered label is an
  optional wildcard.

  Args:
    prompts: ``B`` prompts.
    tokenizer: the teacher's word pieces.
    max_length: ``L``; a prompt that cannot be satisfied within it is an error.
    num_slots, value_length: pad to ``S`` and ``M`` (static shapes across calls);
      default: the batch's largest.

  Raises:
    ValueError: a slot number that is not one piece, or a prompt longer than ``L``.
    UnwritableValueError: a fixed value that is not :func:`writable` (no output
      could honour it; :func:`writable_requests` asks such values as wildcards).
  """
  rows = []
  for b, prompt in enumerate(prompts):
    if prompt.slots is None:
      row = [(n, False, ()) for n in sorted(prompt.labels)]
    else:
      row = []
      for s in prompt.slots:
        ids = () if s.value is None else _writable_pieces(s.value, tokenizer)
        if ids is None:
          raise UnwritableValueError(
              f"prompt {b}: the fixed {s.label} value {' '.join(s.value)!r} cannot be written "
              f"with the teacher's word pieces; ask it as a wildcard (writable_requests)")
        row.append((prompt.numbers[s.label], True, tuple(ids)))
    rows.append(row)
  s_max = max([len(r) for r in rows] + [1]) if num_slots is None else num_slots
  m_max = max([len(v) for r in rows for _, _, v in r] + [1]) if value_length is None else value_length
  number_ids = np.full((len(rows), s_max), -1, np.int32)
  required = np.zeros((len(rows), s_max), bool)
  value_ids = np.full((len(rows), s_max, m_max), -1, np.int32)
  value_len = np.zeros((len(rows), s_max), np.int32)
  for b, row in enumerate(rows):
    if len(row) > s_max:
      raise ValueError(f"prompt {b} has {len(row)} slots; at most {s_max}")
    for s, (number, must, value) in enumerate(row):
      ids = tokenizer.pieces(str(number))
      if len(ids) != 1:
        raise ValueError(f"slot number {number} is not one piece: {ids}")
      if len(value) > m_max:
        raise ValueError(f"prompt {b}: a fixed value of {len(value)} pieces; at most {m_max}")
      number_ids[b, s], required[b, s] = ids[0], must
      value_ids[b, s, :len(value)], value_len[b, s] = value, len(value)
  out = SlotArrays(number_ids, required, value_ids, value_len)
  need = min_length(out)
  if (need > max_length).any():
    b = int(np.argmax(need > max_length))
    raise ValueError(f"prompt {b} needs at least {need[b]} output tokens; max_length is "
                     f"{max_length}")
  return out


def detokenize(ids: Sequence[int], tokenizer: SubwordTokenizer, *, eos_id: int) -> str:
  """Pieces up to EOS as spaced words: ``##`` pieces joined to their word."""
  words: list[str] = []
  for i in ids:
    if i == eos_id:
      break
    piece = tokenizer.id_to_piece(int(i))
    if piece.startswith("##") and words:
      words[-1] += piece[2:]
    else:
      words.append(piece)
  return " ".join(words)


def rejoin(out: Annotated) -> Annotated:
  """Glues in-word apostrophes and hyphens that word pieces split off
  (``what ' s`` -> ``what's``), within one span or outside spans, so generated
  words look like the datasets' (the project's tokenizer keeps them whole)."""
  tokens, tags = list(out.tokens), list(out.slots)
  merged_tokens, merged_tags, old_to_new = [], [], []
  i = 0
  while i < len(tokens):
    glue = (tokens[i] in _JOINERS and merged_tokens and i + 1 < len(tokens)
            and re.search(r"\w$", merged_tokens[-1]) and re.match(r"\w", tokens[i + 1])
            and _same_region(merged_tags[-1], tags[i]) and _same_region(tags[i], tags[i + 1]))
    if glue:
      merged_tokens[-1] += tokens[i] + tokens[i + 1]
      old_to_new += [len(merged_tokens) - 1] * 2
      i += 2
      continue
    merged_tokens.append(tokens[i])
    merged_tags.append(tags[i])
    old_to_new.append(len(merged_tokens) - 1)
    i += 1
  old_to_new.append(len(merged_tokens))
  spans = {n: tuple((old_to_new[a], old_to_new[b - 1] + 1) for a, b in spans)
           for n, spans in out.spans.items()}
  return Annotated(tuple(merged_tokens), tuple(merged_tags), spans)


def _same_region(left: str, right: str) -> bool:
  """``right`` continues ``left``'s span (or both are outside)."""
  return (left == OUTSIDE and right == OUTSIDE) or (right.startswith("I-")
                                                     and left[2:] == right[2:])


def to_example(ids: Sequence[int], prompt: Prompt, tokenizer: SubwordTokenizer, *, eos_id: int,
               source: str = "generated", domain: str = "") -> Example:
  """A decoded sequence as a labelled :class:`Example`, checked against its prompt.

  Raises:
    FormatError: the output breaks the format or the prompt's slot control
      (impossible under the grammar constraint; possible without it).
  """
  text = detokenize(ids, tokenizer, eos_id=eos_id)
  out = rejoin(parse_output(text, prompt.labels))
  check_against_prompt(out, prompt, text)
  return out.to_example(prompt.intent, domain=domain, source=source)
