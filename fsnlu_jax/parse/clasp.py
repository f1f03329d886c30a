"""CLASP's strategies on top of the teacher and the student: RS, GB, round trip, de-duplication.

Rosenbaum et al. (AACL 2022) ask a teacher to write (parse, utterance) pairs:

* **CLASP-RS** (:func:`rs_requests`): a seed's entity values are replaced by
  other catalogue values (:func:`fsnlu_jax.data.tree_augment.substitute_slots`
  on its TOP tree, so each new value comes with a surface form), and the
  teacher writes an utterance for the new EXR tree that must say each new
  surface form;
* **CLASP-GB** (:func:`gb_requests`): new parses are sampled under the tree
  grammar from the parser conditioned on seed utterances
  (:meth:`fsnlu_jax.parse.Parser.sample_trees`), each entity gets a surface
  form from the catalogues, then the teacher writes the utterance;
* **grammar trees** (:func:`grammar_requests`, ``clasp_grammar``): the trees of
  grammar sampling (:func:`fsnlu_jax.data.tree_augment.sample_grammar_example`,
  the baseline's own draws), put into words by the teacher instead of the
  templates; a GB whose parse writer is the grammar (ours is the only parse
  writer here that knows the whole schema: a 16-seed parser samples near its seeds);
* (CLASP-TS/TB translate into other languages: PIZZA is English only, out of scope.)

:func:`write_utterances` runs the teacher (:class:`fsnlu_jax.parse.Generator`)
on the requests; :func:`dedupe` drops repeats (of a seed's utterance or an
earlier one); :func:`round_trip` keeps a pair only when a parser trained on
the seeds recovers its tree (exact match up to sibling order).
Generated rows have no TOP tree (``top=""``): the teacher writes words, not
brackets; the parser learns EXR.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from fsnlu_jax.data import ParseExample, parse_tree
from fsnlu_jax.data.catalogues import Catalogues, TreeSchema, UnresolvedEntity
from fsnlu_jax.data.tree_augment import RS_LABELS, render_top, substitute_slots
from fsnlu_jax.data.trees import Tree, try_parse_tree
from fsnlu_jax.parse.placeholders import delexicalize_tree, placeholder
from fsnlu_jax.train.metrics import trees_match, unordered_key



@dataclasses.dataclass(frozen=True)
class Request:
  """A parse for the teacher to put into words.

  Attributes:
    exr: the tree (EXR string).
    phrases: the words the utterance must contain (its entities' surface forms).
    source: where it came from (``rs:<seed source>``, ``gb:<seed source>``).
  """

  exr: str
  phrases: tuple[str, ...]
  source: str


def top_phrases(top: Tree) -> tuple[str, ...]:
  """The words of every entity of a TOP tree, in order (what an utterance must say)."""
  return tuple(node.text for node, _, _ in top.entity_spans())


def exr_phrases(exr: Tree, catalogues: Catalogues, rng: np.random.Generator
                ) -> tuple[str, ...] | None:
  """A surface form per entity of an EXR tree (one that resolves back to its value), in
  the order the grammar-sampling templates say them (number, size, style, toppings,
  what is left out: :func:`~fsnlu_jax.data.tree_augment.render_top`), the usual order
  of an utterance, which a placeholder teacher writes them in; the default
  ``(NUMBER 1 )`` is said ("a", "one") two times in three. None when a value has no
  such form."""
  try:
    return top_phrases(render_top(exr, catalogues, rng))
  except UnresolvedEntity:
    return None


def rs_requests(seeds: Sequence[ParseExample], catalogues: Catalogues, schema: TreeSchema,
                n: int, rng: np.random.Generator, *, labels: Sequence[str] = RS_LABELS
                ) -> list[Request]:
  """Up to ``n`` CLASP-RS requests: seeds (in a shuffled cycle) with substituted values.

  At most ``20 n`` draws; a seed that cannot be substituted gives nothing.
  """
  if not seeds:
    raise ValueError("CLASP-RS needs seed examples")
  order = rng.permutation(len(seeds))
  out, seen = [], set()
  for draw in range(20 * n):
    if len(out) == n:
      break
    seed = seeds[int(order[draw % len(seeds)])]
    new = substitute_slots(seed, catalogues, schema, rng, labels=labels)
    if new is None or new.exr in seen:
      continue
    seen.add(new.exr)
    out.append(Request(new.exr, top_phrases(parse_tree(new.top)), f"rs:{seed.source}"))
  return out


def gb_requests(parser, seeds: Sequence[ParseExample], catalogues: Catalogues, n: int, *,
                seed: int, samples_per_seed: int = 4, temperature: float = 1.0
                ) -> list[Request]:
  """Up to ``n`` CLASP-GB requests: trees sampled under the grammar from the parser
  given the seed utterances, new ones only (not a seed's tree, not a repeat)."""
  rng = np.random.default_rng([seed, 7])
  known = {unordered_key(e.exr_tree()) for e in seeds}
  trees = parser.sample_trees([e.text for e in seeds], samples_per_seed, seed=seed,
                              temperature=temperature)
  out = []
  for example, drawn in zip(seeds, trees):
    for tree in drawn:
      if tree is None or len(out) == n:
        continue
      node = parse_tree(tree)
      if unordered_key(node) in known:
        continue
      phrases = exr_phrases(node, catalogues, rng)
      if phrases is None:
        continue
      known.add(unordered_key(node))
      out.append(Request(tree, phrases, f"gb:{example.source}"))
  return out


def grammar_requests(seeds: Sequence[ParseExample], catalogues: Catalogues, schema: TreeSchema,
                     n: int, rng: np.random.Generator) -> list[Request]:
  """Up to ``n`` requests for the trees grammar sampling draws with ``rng`` (the same
  trees as ``tree_augment.augment("grammar", ...)`` with that generator), each with
  its templates' surface forms in their order."""
  from fsnlu_jax.data import tree_augment  # pylint: disable=g-import-not-at-top
  drawn = tree_augment.augment("grammar", n, seeds, catalogues, schema, rng).examples
  return [Request(e.exr, top_phrases(parse_tree(e.top)), e.source) for e in drawn]


def write_utterances(generator, requests: Sequence[Request], *, n: int = 1, seed: int,
                     catalogues: Catalogues | None = None, **sampling
                     ) -> tuple[list[ParseExample], int]:
  """The teacher's utterances for the requests as examples; ``(examples, unfinished)``.

  A placeholder teacher (``generator.placeholders``) gets each request's
  tree with its said values as placeholders and must write every placeholder
  once; the request's surface forms are filled in (``catalogues`` pairs them
  with the values: :func:`fsnlu_jax.parse.placeholders.delexicalize_tree`).
  """
  trees, phrases, fills = [r.exr for r in requests], [r.phrases for r in requests], None
  if getattr(generator, "placeholders", False):
    if catalogues is None:
      raise ValueError("a placeholder teacher needs the catalogues")
    trees, phrases, fills = [], [], []
    for r in requests:
      tree, filled, left = delexicalize_tree(r.exr, r.phrases, catalogues)
      trees.append(tree)
      phrases.append(tuple(placeholder(k) for k in range(len(filled))) + left)
      fills.append(filled)
  outputs = generator.generate(trees, phrases, n, seed=seed, fills=fills, **sampling)
  out, unfinished = [], 0
  for request, samples in zip(requests, outputs):
    for i, (text, _) in enumerate(samples):
      if text is None or not text.split():
        unfinished += 1
        continue
      out.append(ParseExample(text=text, tokens=tuple(text.split()), top="", exr=request.exr,
                              pcfg_err=False, source=f"{request.source}:{i}"))
  return out, unfinished


def dedupe(examples: Sequence[ParseExample], seeds: Sequence[ParseExample] = ()
           ) -> tuple[list[ParseExample], int]:
  """The examples whose utterance no seed and no earlier example has; ``(kept, dropped)``."""
  seen = {e.text for e in seeds}
  kept = []
  for example in examples:
    if example.text not in seen:
      seen.add(example.text)
      kept.append(example)
  return kept, len(examples) - len(kept)


def round_trip(parser, examples: Sequence[ParseExample]) -> tuple[list[ParseExample], int]:
  """The examples whose tree the parser recovers from the utterance; ``(kept, dropped)``."""
  parsed = parser.parse([e.text for e in examples]) if examples else []
  kept = [e for e, (tree, _) in zip(examples, parsed)
          if tree is not None and trees_match(tree, e.exr)]
  return kept, len(examples) - len(kept)


# ---- one call per system ---------------------------------------------------------

METHODS = ("grammar", "rs", "clasp_rs", "clasp_gb", "clasp_grammar")


def added_parses(method: str, seeds: Sequence[ParseExample], catalogues: Catalogues,
                 schema: TreeSchema, n: int, *, seed: int, parser=None, teacher=None,
                 filter_round_trip: bool = False, temperature: float = 1.0, top_p: float = 0.9
                 ) -> tuple[list[ParseExample], dict[str, int]]:
  """Up to ``n`` parses to add to ``seeds``, and the count of every drop.

  Args:
    method: ``grammar`` (random schema trees rendered by templates), ``rs``
      (replace slots by direct substitution in the utterance), ``clasp_rs``
      (substituted trees put into words by ``teacher``), ``clasp_gb``
      (trees sampled from ``parser`` given the seed utterances, put into
      words by ``teacher``) or ``clasp_grammar`` (``grammar``'s own trees, put
      into words by ``teacher`` instead of the templates).
    seeds: the real parses.
    parser: a :class:`~fsnlu_jax.parse.Parser` trained on the seeds
      (``clasp_gb``'s trees, and the round trip).
    teacher: a :class:`~fsnlu_jax.parse.Generator` (``clasp_*``).
    filter_round_trip: keep a teacher's pair only when ``parser`` recovers
      its tree from its utterance.
    seed: the draws' seed (same seed, same parses).

  Returns:
    ``(examples, counts)``: ``counts`` has ``added`` and, per method,
    ``repeats``, ``unusable`` (a seed with nothing to substitute),
    ``requests``, ``unfinished`` (a teacher sample that did not end in time),
    ``round_trip_failed``, ``ill_formed_trees`` (teacher requests whose tree
    does not parse: 0 by construction, counted to show it).
  """
  from fsnlu_jax.data import tree_augment  # pylint: disable=g-import-not-at-top
  if method not in METHODS:
    raise ValueError(f"method is one of {METHODS}, got {method!r}")
  # clasp_grammar draws grammar's trees: the two differ only in who writes the words.
  drawn_as = "grammar" if method == "clasp_grammar" else method
  rng = np.random.default_rng([seed, n, sum(map(ord, drawn_as))])
  counts: dict[str, int] = {}
  if method in ("grammar", "rs"):
    made = tree_augment.augment(method, n, seeds, catalogues, schema, rng)
    examples = list(made.examples)
    counts.update(repeats=made.repeats, unusable=made.unusable)
  else:
    if teacher is None or (parser is None and (method == "clasp_gb" or filter_round_trip)):
      raise ValueError(f"{method} needs a teacher (and a parser for GB or the round trip)")
    if method == "clasp_rs":
      requests = rs_requests(seeds, catalogues, schema, n, rng)
    elif method == "clasp_grammar":
      requests = grammar_requests(seeds, catalogues, schema, n, rng)
    else:  # twice the trees needed: some are repeats or a seed's own
      requests = gb_requests(parser, seeds, catalogues, n, seed=seed,
                             samples_per_seed=-(-2 * n // len(seeds)))
    # Every request's tree is a sentence of the grammar (GB) or a catalogue substitution (RS).
    counts["ill_formed_trees"] = sum(try_parse_tree(r.exr) is None for r in requests)
    written, unfinished = write_utterances(teacher, requests, seed=seed, catalogues=catalogues,
                                           temperature=temperature, top_p=top_p)
    examples, repeats = dedupe(written, seeds)
    counts.update(requests=len(requests), unfinished=unfinished, repeats=repeats)
    if filter_round_trip:
      examples, failed = round_trip(parser, examples)
      counts.update(round_trip_failed=failed)
  counts["added"] = len(examples)
  return examples, counts
