"""The parser's data: PIZZA-style parses -> a seeded subset, word-piece arrays, the tree grammar.

Sources are utterances (``[CLS] pieces [SEP]``); targets are EXR trees
tokenized exactly as :func:`fsnlu_jax.decoding.build_tree_grammar` tokenizes
them, chunk by chunk (:func:`tree_pieces`), so the decoder is trained on the
very piece sequences the grammar constraint allows.

Shapes: ``N`` rows, ``Ls`` source pieces, ``Lt`` target pieces (EOS included),
``B`` batch.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import pathlib
from typing import Callable, Mapping, Sequence

import numpy as np

from fsnlu_jax.data import ParseExample, loading, parse_tree
from fsnlu_jax.data.builders.pizza import catalogues_of
from fsnlu_jax.data.cache import file_digest
from fsnlu_jax.data.catalogues import CATALOGUE_PARENTS, Catalogues, TreeSchema
from fsnlu_jax.data.trees import Tree
from fsnlu_jax.data.seq2seq_arrays import pack_pairs, padded_batch
from fsnlu_jax.data.subword import SubwordTokenizer
from fsnlu_jax.decoding import TreeGrammar
from fsnlu_jax.parse.config import ParseDataConfig

_log = logging.getLogger(__name__)
SOURCE_BUCKETS = (32, 64, 128, 256, 512)
TARGET_BUCKETS = (32, 64, 96, 128, 192, 256)


def chunk_tokenizer(tokenizer: SubwordTokenizer) -> Callable[[str], list[int]]:
  """One whitespace-free chunk -> its pieces without ``[CLS]``/``[SEP]`` (the grammar's), memoised.

  A chunk that is a bracketed piece of the vocabulary (a placeholder such as
  ``[unused0]``, :mod:`fsnlu_jax.parse.placeholders`) is that one piece.
  """
  memo: dict[str, list[int]] = {}

  def pieces(word: str) -> list[int]:
    if word not in memo:
      memo[word] = _bracketed(tokenizer, word) or list(tokenizer.encode([word])[0][0][1:-1])
    return memo[word]

  return pieces


def _bracketed(tokenizer: SubwordTokenizer, word: str) -> list[int] | None:
  """``[id]`` when ``word`` is a bracketed piece of the vocabulary (``[unused0]``), else None."""
  if not (len(word) > 2 and word[0] == "[" and word[-1] == "]"):
    return None
  try:
    return [tokenizer.piece_id(word)]
  except KeyError:
    return None


def tree_pieces(tree: str, tokenizer: SubwordTokenizer,
                piece: Callable[[str], list[int]] | None = None) -> list[int]:
  """The pieces of a tree string, chunk by chunk, as the grammar writes it."""
  piece = piece or chunk_tokenizer(tokenizer)
  return [i for word in tree.split() for i in piece(word)]


@dataclasses.dataclass(frozen=True, eq=False)
class ParseData:
  """The examples of each split, and what the grammar needs.

  Attributes:
    examples: ``train`` (the subset), ``validation``, ``test``.
    catalogues: the entity catalogues of the build.
    schema: the constructors the grammar allows (see ``schema_from_split``).
    stats: counts (rows per split, subset, targets too long).
  """

  examples: dict[str, list[ParseExample]]
  catalogues: Catalogues
  schema: TreeSchema
  stats: dict


def load_parse_data(config: ParseDataConfig, *, data_dir=None, cache_dir=None) -> ParseData:
  """The configured splits, the seeded training subset and its validation rows."""
  builder = loading.prepare(config.dataset, data_dir=data_dir, cache_dir=cache_dir)
  pool = loading.read_split(builder, config.train_split)
  test = loading.read_split(builder, config.test_split)
  if not all(isinstance(e, ParseExample) for e in pool[:1] + test[:1]):
    raise ValueError(f"{config.dataset}: its records are not parses (ParseExample)")
  if config.test_size is not None:
    test = test[:config.test_size]
  order = np.random.default_rng([config.subset_seed, 21]).permutation(len(pool))
  size = len(pool) if config.train_size is None else config.train_size
  if size > len(pool):
    raise ValueError(f"data.train_size {size} > the {len(pool)} rows of {config.train_split}")
  train = [pool[i] for i in sorted(order[:size])]
  rest = order[size:]
  validation = [pool[i] for i in sorted(rest[:config.validation_size])]
  if not train or not test:
    raise ValueError(f"{config.dataset}: an empty {'train' if not train else 'test'} split")
  schema_trees = pool if config.schema_from_split else train
  schema = TreeSchema.from_trees(e.exr_tree() for e in schema_trees)
  stats = dict(pool=len(pool), train=len(train), validation=len(validation), test=len(test),
               subset_seed=config.subset_seed)
  if config.extra_train:
    extra = read_parses(config.extra_train)
    if not extra:
      raise ValueError(f"data.extra_train {config.extra_train}: no parses")
    train = train + extra
    stats["extra_train"] = dict(path=str(config.extra_train), rows=len(extra),
                                sha256=file_digest(pathlib.Path(config.extra_train)))
  return ParseData(dict(train=train, validation=validation, test=test), catalogues_of(builder),
                   schema, stats)


def utterance_ordered(exr: str, text: str, catalogues: Catalogues) -> str:
  """``exr`` with every node's children in the order the utterance says them.

  PIZZA writes EXR siblings in a canonical order (``NOT`` first, then by
  label and value), so a decoder trained on it must reorder what it reads:
  "pesto and mushrooms but no pineapple" becomes ``(NOT (TOPPING PINEAPPLE ) )
  ... (TOPPING MUSHROOMS ) (TOPPING PESTO )``. Exact match ignores sibling
  order, so the target can follow the utterance instead (monotone copying;
  ``data.target_order="utterance"``).

  A leaf is placed at the first unclaimed occurrence of one of its catalogue
  surface forms (longer forms claim their words first, then leaves in EXR
  order); a node at its earliest placed leaf. Unplaced leaves (the implicit
  ``(NUMBER 1 )``) and nodes without any placed leaf come first among their
  siblings; ties keep the EXR order.
  """
  tree = parse_tree(exr)
  if any(isinstance(child, str) for node in tree.walk() if not node.is_leaf_node
         for child in node.children):
    raise ValueError(f"an EXR tree has words outside its entities: {exr}")
  words = " ".join(text.lower().split()).split()
  leaves = [node for node in tree.walk() if node.is_leaf_node]
  candidates = []  # (-form length, leaf index, start)
  for index, leaf in enumerate(leaves):
    for form in catalogues.surfaces(leaf.label, leaf.text):
      form_words = form.lower().split()
      n = len(form_words)
      candidates += [(-n, index, i) for i in range(len(words) - n + 1)
                     if words[i:i + n] == form_words]
  taken, placed = [False] * len(words), {}
  for minus_n, index, start in sorted(candidates):
    span = range(start, start - minus_n)
    if index not in placed and not any(taken[i] for i in span):
      placed[index] = start
      for i in span:
        taken[i] = True
  position = {id(leaf): placed.get(index, -1) for index, leaf in enumerate(leaves)}

  def order(node: Tree) -> tuple[Tree, int]:
    if node.is_leaf_node:
      return node, position[id(node)]
    kids = [order(kid) for kid in node.subtrees]
    kids.sort(key=lambda kid: kid[1])  # stable: ties keep the EXR order
    anchors = [a for _, a in kids if a >= 0]
    return Tree(node.label, tuple(k for k, _ in kids)), min(anchors) if anchors else -1

  return order(tree)[0].render()


def write_parses(path: str | os.PathLike, examples: Sequence[ParseExample]) -> None:
  """``examples`` as JSONL, one :meth:`ParseExample.to_record` per line (``data.extra_train``)."""
  with open(path, "w", encoding="utf-8") as f:
    for example in examples:
      f.write(json.dumps(example.to_record()) + "\n")


def read_parses(path: str | os.PathLike) -> list[ParseExample]:
  """The parses of a :func:`write_parses` file; a malformed line is an error naming it."""
  out = []
  with open(path, encoding="utf-8") as f:
    for number, line in enumerate(f, 1):
      if not line.strip():
        continue
      where = f"{path}:{number}"
      try:
        example = ParseExample.from_record(json.loads(line))
        example.exr_tree()
      except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{where}: not a parse record ({e})") from e
      if not example.text.strip():
        raise ValueError(f"{where}: an empty utterance")
      out.append(example)
  return out


def tree_grammar(data: ParseData, config: ParseDataConfig, max_depth: int) -> TreeGrammar:
  """The grammar of the data's schema and catalogues (plus the catalogues' drink volumes)."""
  extra = {p: c for p, c in CATALOGUE_PARENTS.items() if p in data.schema.children}
  return TreeGrammar.from_schema(data.schema, data.catalogues, extra_children=extra,
                                 copy=config.copy_labels, max_depth=max_depth)


def grammar_to_dict(grammar: TreeGrammar) -> dict:
  """A JSON form of a :class:`TreeGrammar` (``parser.json``)."""
  return dict(root=grammar.root, children={k: sorted(v) for k, v in grammar.children.items()},
              values={k: list(v) for k, v in grammar.values.items()},
              max_depth=grammar.max_depth, copy=sorted(grammar.copy),
              once={k: sorted(v) for k, v in grammar.once.items()})


def grammar_from_dict(d: Mapping) -> TreeGrammar:
  """The inverse of :func:`grammar_to_dict` (a parser saved before ``once`` existed has none)."""
  return TreeGrammar(root=d["root"], children={k: frozenset(v) for k, v in d["children"].items()},
                     values={k: tuple(v) for k, v in d["values"].items()},
                     max_depth=d["max_depth"], copy=frozenset(d["copy"]),
                     once={k: frozenset(v) for k, v in d.get("once", {}).items()})


def encode_parses(examples: Sequence[ParseExample], tokenizer: SubwordTokenizer, *,
                  max_source_len: int, max_target_len: int, bos_id: int, eos_id: int,
                  pad_id: int, reverse: bool = False, output_index: np.ndarray | None = None
                  ) -> tuple[dict[str, np.ndarray], list[ParseExample], int]:
  """Arrays of the examples whose target fits; ``(arrays, kept, dropped)``.

  ``reverse``: the tree is the source and the utterance the target (the
  teacher's direction, parse -> utterance). A target longer than
  ``max_target_len`` (EOS included) is dropped, not cut; a source longer than
  ``max_source_len`` is an error naming the row.

  Returns ``src_ids [N, Ls]``, ``src_len [N]``, ``tgt_in``, ``tgt_out [N, Lt]``
  int32, ``tgt_mask [N, Lt]`` bool.
  """
  kept, src, tgt = [], [], []
  piece = chunk_tokenizer(tokenizer)
  for example in examples:
    tree = tree_pieces(example.exr, tokenizer, piece)
    # The teacher's target word by word: the same pieces as the whole text (BERT splits at
    # whitespace first), and placeholder words stay one piece.
    text = (tree_pieces(example.text, tokenizer, piece) if reverse
            else list(tokenizer.encode([example.text])[0][0][1:-1]))
    source, target = (tree, text) if reverse else (text, tree)
    source = [bos_id] + source + [eos_id]
    if len(source) > max_source_len:
      raise ValueError(f"{example.source}: {len(source)} source pieces; data.max_source_len is "
                       f"{max_source_len}")
    if len(target) + 1 > max_target_len:
      continue
    if output_index is not None and (output_index[target + [eos_id]] < 0).any():
      outside = [p for p in target if output_index[p] < 0]
      raise ValueError(f"{example.source}: target pieces {outside} are not in the output "
                       "shortlist (the grammar cannot write this tree)")
    kept.append(example)
    src.append(source)
    tgt.append(target)
  arrays = pack_pairs(src, tgt, max_source_len=max_source_len, max_target_len=max_target_len,
                      bos_id=bos_id, eos_id=eos_id, pad_id=pad_id)
  if output_index is not None:
    arrays["tgt_out"] = np.where(arrays["tgt_mask"], output_index[arrays["tgt_out"]],
                                 0).astype(np.int32)
  return arrays, kept, len(examples) - len(kept)


def batch(arrays: Mapping[str, np.ndarray], rows: np.ndarray, batch_size: int
          ) -> dict[str, np.ndarray]:
  """Rows as a ``[B, ...]`` batch cut to the parser's buckets
  (:func:`fsnlu_jax.data.seq2seq_arrays.padded_batch`)."""
  return padded_batch(arrays, rows, batch_size, source_buckets=SOURCE_BUCKETS,
                      target_buckets=TARGET_BUCKETS)


def well_formed(tree: str | None) -> bool:
  """Whether a parser output is one bracketed tree."""
  if tree is None:
    return False
  try:
    parse_tree(tree)
  except ValueError:
    return False
  return True
