"""Semantic parsing: utterances -> executable trees (PIZZA's EXR), never an ill-formed tree.

The student of CLASP (Rosenbaum et al., AACL 2022): the warm-started
encoder-decoder (:func:`fsnlu_jax.models.warm_start_seq2seq`) trained on real
parses through :func:`fsnlu_jax.train.train`, decoding with
:func:`fsnlu_jax.kernels.beam_search` under the tree grammar
(:func:`fsnlu_jax.decoding.build_tree_grammar`: constructors in their allowed
places, entity values from the catalogues or copied from the utterance)::

  fsnlu parse --config parse --workdir /tmp/parser --data-dir /work/shared/data
  fsnlu parse --checkpoint /tmp/parser "large pizza with ham"

Modules: :mod:`~fsnlu_jax.parse.config` (typed config), :mod:`~fsnlu_jax.parse.data`
(subset, piece arrays, the grammar), :mod:`~fsnlu_jax.parse.optim`,
:mod:`~fsnlu_jax.parse.parser` (:class:`Parser`: load and parse),
:mod:`~fsnlu_jax.parse.job` (:func:`run_parser`: train and evaluate),
:mod:`~fsnlu_jax.parse.mention` (every entity said), :mod:`~fsnlu_jax.parse.generator`
(the teacher, tree -> utterance), :mod:`~fsnlu_jax.parse.placeholders` (copy by
placeholder: the teacher writes the frame, the values are filled in), :mod:`~fsnlu_jax.parse.clasp` (CLASP-RS, CLASP-GB,
round trip, de-duplication).
"""

from fsnlu_jax.parse.config import ParseConfig
from fsnlu_jax.parse.job import evaluate_parser, run_parser
from fsnlu_jax.parse.parser import Parser
from fsnlu_jax.parse.data import read_parses, write_parses
from fsnlu_jax.parse.clasp import (METHODS, Request, added_parses, dedupe, gb_requests,
                                   grammar_requests, round_trip, rs_requests, write_utterances)
from fsnlu_jax.parse.generator import Generator
