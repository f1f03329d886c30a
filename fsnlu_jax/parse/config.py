"""The typed config of the semantic-parsing job (``configs/parse.py``)."""

from __future__ import annotations

import dataclasses

from fsnlu_jax.models import WarmStartConfig
from fsnlu_jax.train import WarmupCosineConfig
from fsnlu_jax.train.loop import LoopConfig


@dataclasses.dataclass(frozen=True)
class ParseDataConfig:
  """Which parses to learn from and to score on.

  Attributes:
    dataset: a loader name whose records are :class:`~fsnlu_jax.data.ParseExample`
      (``pizza``).
    train_split: where the real training examples come from (PIZZA: ``dev``, the
      348 CLASP training utterances).
    test_split: the evaluation split (PIZZA: ``test``, 1357).
    train_size: keep a seeded subset of this many training examples (CLASP: 16);
      None: all.
    subset_seed: the subset's seed (one subset per seed; >= 3 for figures).
    validation_size: rows of ``train_split`` outside the subset held out to pick
      the best checkpoint (0: the last checkpoint is kept).
    test_size: score only the first n test rows (None: all; ``:tiny`` only).
    schema_from_split: learn the tree grammar's constructors from every tree of
      ``train_split`` (labels and nesting only, no utterance) rather than from
      the subset alone; the entity values always come from the catalogues.
    copy_labels: entity labels whose value may also be copied from the
      utterance (PIZZA EXR: none needed, every value is in a catalogue).
    max_source_len: most utterance pieces (longer utterances are an error).
    max_target_len: most target pieces, EOS included (longer targets are
      dropped from training, counted).
    direction: ``"parse"`` (utterance -> tree: the student) or ``"generate"``
      (tree -> utterance: the CLASP teacher, :class:`fsnlu_jax.parse.Generator`;
      its source is the tree, so ``max_source_len`` must hold trees).
    target_order: the parser's target trees with siblings in PIZZA's
      ``"canonical"`` order or in ``"utterance"`` order
      (:func:`fsnlu_jax.parse.data.utterance_ordered`: monotone copying).
      Exact match ignores sibling order either way. Measured at 16 examples
      (subset 0, 200 steps): 3.8% exact match in utterance order, 4.2% in
      canonical order: the order is not what the student lacks.
    placeholders: the teacher (``direction="generate"``) learns on trees and
      utterances whose said values are placeholders
      (:mod:`fsnlu_jax.parse.placeholders`: copy by placeholder), so it writes
      a frame and the values are filled in; rows without a TOP tree or without
      a said value are dropped (counted). Off: it must copy values itself.
    extra_train: a JSONL file of added training parses (one
      :meth:`~fsnlu_jax.data.ParseExample.to_record` per line: generated or
      augmented data, :func:`fsnlu_jax.parse.write_parses`), appended to the
      subset; never used for validation. Its SHA-256 is recorded in the
      workdir, so a rerun over a changed file is refused.
  """

  dataset: str = "pizza"
  train_split: str = "dev"
  test_split: str = "test"
  train_size: int | None = None
  subset_seed: int = 0
  validation_size: int = 32
  test_size: int | None = None
  schema_from_split: bool = True
  copy_labels: tuple[str, ...] = ()
  max_source_len: int = 64
  max_target_len: int = 128
  direction: str = "parse"
  target_order: str = "canonical"
  extra_train: str | None = None
  placeholders: bool = False

  def __post_init__(self):
    if self.placeholders and self.direction != "generate":
      raise ValueError("data.placeholders is the teacher's (data.direction='generate')")
    if self.direction not in ("parse", "generate"):
      raise ValueError(f"data.direction is 'parse' or 'generate', got {self.direction!r}")
    if self.target_order not in ("utterance", "canonical"):
      raise ValueError(f"data.target_order is 'utterance' or 'canonical', got "
                       f"{self.target_order!r}")


@dataclasses.dataclass(frozen=True)
class ParserModelConfig(WarmStartConfig):
  """The warm-started encoder-decoder, plus its output layer.

  Attributes:
    output_shortlist: score only the pieces the tree grammar can write (plus
      BOS/EOS; :class:`fsnlu_jax.models.Seq2SeqConfig` ``output_ids``): a
      softmax over ~300 pieces instead of 30,522. The output layer was about
      half of a CPU training step and most of a decoding step, and under the
      grammar the other pieces can never be written. Off (the whole
      vocabulary) for a grammar that copies from the utterance (any piece)
      and for the teacher (``direction="generate"``: it writes words).
  """

  output_shortlist: bool = True


@dataclasses.dataclass(frozen=True)
class ParserTrainConfig(LoopConfig):
  """The loop's lengths plus the global batch."""

  batch_size: int = 16


@dataclasses.dataclass(frozen=True)
class ParserDecodeConfig:
  """Beam search under the tree grammar.

  Attributes:
    beam_size: ``W``.
    alpha: GNMT length-penalty exponent.
    max_length: most tree pieces, EOS included.
    batch_size: utterances decoded together (a static shape: one compile).
    max_depth: the grammar's most nested open labels.
    grounded_values: write only entity values the utterance mentions (a
      catalogue surface form of the value occurs in it;
      :mod:`fsnlu_jax.parse.grounding`).
    cover_mentions: with ``grounded_values``, the tree must also contain every
      value the utterance mentions (longest mentions, carrier words of the
      training parses left out: :meth:`~fsnlu_jax.parse.grounding.ValueGrounding.required`),
      at most ``MAX_MENTIONS`` per utterance. A plain beam of 4 cannot always
      place a value the model finds unlikely; such dead-end rows are decoded
      again without it (:attr:`~fsnlu_jax.parse.Parser.fallback_rows`). It pays
      even so (first 300 PIZZA test rows, subset 0, 1000 steps): 16 examples
      5.3% -> 9.7% exact match (135 rows fall back), 16 + 256 grammar-sampled
      19.3% -> 42.0% (46 fall back), all 348 74.7% -> 78.7% (30 fall back);
      the usual errors it removes are a mentioned topping left out and another
      written twice. A constrained beam search that reserves beams per
      constraint met (Post & Vilar 2018) would cut the fallbacks, not built.
    prune_dead_ends: with ``grounded_values``, a beam never enters a state
      from which the row's allowed pieces cannot finish a tree (an entity
      opened when none of its values is mentioned,
      :func:`fsnlu_jax.decoding.prune_dead_ends`), and with ``cover_mentions``
      never closes the root while a mention is owed (only EOS may follow,
      which coverage forbids). Off: such beams die a step later, and a row
      whose beams all die falls back.
    cap_mentions: with ``cover_mentions``, each mentioned value is written at
      most as often as the utterance mentions it
      (:meth:`~fsnlu_jax.parse.grounding.ValueGrounding.mention_counts`; never
      exceeded by a gold tree of PIZZA's dev and test). Without it a
      16-example parser loops (``(TOPPING TUNA )`` three times in one order)
      until ``max_length`` and the row falls back.
    fallback_beam_size: with ``cover_mentions``, a row whose beams all die is
      decoded again under every constraint with this wider beam before
      coverage is dropped (0 or at most ``beam_size``: not), ``batch_size`` cut
      to keep ``batch_size * beam_size`` hypotheses. 16, on the subset-2
      16-example parsers (benchmarks/results/clasp_decoding.json): 428 -> 218
      rows still falling back and +1.3 points exact match without added data,
      180 -> 43 and +1.8 with grammar sampling; the wide rows cost ~4x a row.
  """

  beam_size: int = 4
  alpha: float = 0.6
  max_length: int = 128
  batch_size: int = 32
  max_depth: int = 6
  grounded_values: bool = True
  cover_mentions: bool = True
  prune_dead_ends: bool = True
  cap_mentions: bool = True
  fallback_beam_size: int = 16


@dataclasses.dataclass(frozen=True)
class ParseConfig:
  """The parser's training and evaluation job."""

  job: str
  seed: int
  data: ParseDataConfig
  model: ParserModelConfig
  optim: WarmupCosineConfig
  train: ParserTrainConfig
  decode: ParserDecodeConfig = ParserDecodeConfig()
