"""The simulation protocol of EVALUATION.md ("Active learning"), one run per (domain, strategy, seed).

A held-out target domain starts from a bootstrap of a few dozen of its
utterances (plus as many random utterances of other domains, annotated as
negatives: a team knows a few things its domain is not, and the committee
needs both classes). The pool is every other training utterance of every
domain, labels hidden. Each round the committee and the target model are
retrained on what is annotated, the strategy ranks the pool, and the batch of
``k`` is annotated from the hidden labels: another domain's utterance costs
budget like any other and becomes a negative (intent :data:`OTHER`: it
trains the committee and the intent head, not the CRF). The target model is
evaluated on the domain's test utterances after every round: SemER, intent
error, slot F1.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from fsnlu_jax.active import batch as batch_lib
from fsnlu_jax.active import committee as committee_lib
from fsnlu_jax.active import strategies, tagger as tagger_lib
from fsnlu_jax.active.features import hash_ngrams
from fsnlu_jax.active.tagger import OTHER
from fsnlu_jax.data import Example
from fsnlu_jax.train import metrics


@dataclasses.dataclass(frozen=True)
class SimulationConfig:
  """One simulated annotation campaign.

  Attributes:
    bootstrap: target-domain utterances annotated before round 1.
    negatives: other-domain utterances annotated (as negatives) before round 1.
    rounds: annotation rounds.
    unlabelled_negatives: pool rows drawn each round as the committee's
      presumed negatives (most of the pool is other domains': positive-unlabelled
      learning, at no annotation cost); 0 for annotated rows only. Too many
      make the committee so sure of "not the domain" that the majority filter
      keeps a few per cent of the domain's pool utterances (1000 against a
      bootstrap of 30 kept 5-20% on HWU64, fewer rows than a batch in a third
      of the rounds), leaving the CRF nothing to rank; too few (0) let
      through mostly other domains'. 300 was chosen on HWU64 scenarios outside
      the reported six (README.md, "Active learning for a new domain").
    batch: the per-round batch (``k``, de-duplication, diversity).
    committee: the committee's training.
    tagger: the target model's training.
  """

  bootstrap: int = 30
  negatives: int = 30
  rounds: int = 5
  unlabelled_negatives: int = 300
  batch: batch_lib.BatchConfig = batch_lib.BatchConfig()
  committee: committee_lib.CommitteeConfig = committee_lib.CommitteeConfig()
  tagger: tagger_lib.TaggerConfig = tagger_lib.TaggerConfig()


def as_negative(example: Example) -> Example:
  """An annotated utterance of another domain, as the target model sees it."""
  return dataclasses.replace(example, intent=OTHER, slots=("O",) * len(example.tokens))


def label_space(train: Sequence[Example], target: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
  """The target domain's intents (plus :data:`OTHER`) and BIO tags (``O`` first): its schema."""
  mine = [e for e in train if e.domain == target]
  if not mine:
    raise ValueError(f"no training utterance of the target domain {target!r}")
  intents = tuple(sorted({e.intent for e in mine})) + (OTHER,)
  tags = ("O",) + tuple(sorted({t for e in mine for t in e.slots} - {"O"}))
  return intents, tags


def evaluate(model: tagger_lib.Tagger, test: Sequence[Example]) -> dict[str, float]:
  """Target-domain SemER, intent error and slot F1 of the model on ``test``."""
  tokens = [e.tokens for e in test]
  hyps = tagger_lib.decode(model, tokens, tagger_lib.predict(model, tokens))
  refs = [(e.intent, metrics.slot_items(e.tokens, e.slots)) for e in test]
  hyp_items = [(intent, metrics.slot_items(e.tokens, tags)) for (intent, tags), e in zip(hyps, test)]
  return {
      "semer": metrics.semantic_error_rate(refs, hyp_items),
      "intent_error": float(np.mean([h[0] != e.intent for h, e in zip(hyps, test)])),
      "slot_f1": metrics.slot_f1([h[1] for h in hyps], [e.slots for e in test]).f1,
  }


def pool_view(committee: committee_lib.Committee, model: tagger_lib.Tagger, pool_rows,
              pool_tokens: Sequence[Sequence[str]], rng: np.random.Generator
              ) -> strategies.PoolView:
  """The committee's scores of the pool, and the target model's predictions on demand."""
  scores = committee_lib.committee_scores(committee, pool_rows)
  return strategies.PoolView(
      scores, committee_lib.member(committee, "log_loss"),
      lambda rows, crf=True: tagger_lib.predict(model, [pool_tokens[i] for i in rows], crf=crf),
      rng)


def _train_committee(rows, annotated, is_target, pool, rng, config: SimulationConfig):
  """The committee on the annotated rows plus a sample of the pool as presumed negatives."""
  unlabelled = rng.choice(pool, min(config.unlabelled_negatives, len(pool)), replace=False)
  train = np.concatenate([np.array(annotated), unlabelled])
  positive = np.concatenate([is_target[annotated], np.zeros(len(unlabelled), bool)])
  return committee_lib.train_committee(rows.take(train), positive, config.committee)


def simulate(train: Sequence[Example], test: Sequence[Example], target: str, strategy: str,
             seed: int, config: SimulationConfig = SimulationConfig()) -> list[dict]:
  """One campaign; returns one record per round (round 0 = the bootstrap alone).

  Each record: ``round``, ``budget`` (utterances annotated after the
  bootstrap), ``positives`` (of them, the target domain's), the metrics of
  :func:`evaluate`, and the batch step's counts.
  """
  rank = strategies.get_strategy(strategy)
  test = [e for e in test if e.domain == target]
  if not test:
    raise ValueError(f"no test utterance of the target domain {target!r}")
  intents, tags = label_space(train, target)
  rng = np.random.default_rng(seed)
  is_target = np.array([e.domain == target for e in train])
  start = np.concatenate([
      rng.choice(np.flatnonzero(is_target), config.bootstrap, replace=False),
      rng.choice(np.flatnonzero(~is_target), config.negatives, replace=False)])
  annotated = [int(i) for i in start]
  in_pool = np.ones(len(train), bool)
  in_pool[start] = False
  all_rows = hash_ngrams([e.tokens for e in train], num_buckets=1 << 18)
  # The strategy's randomness is its own stream, so that every strategy draws the same bootstrap.
  strategy_rng = np.random.default_rng([seed, 1])
  records, budget, positives = [], 0, 0
  for round_ in range(config.rounds + 1):
    examples = [train[i] if is_target[i] else as_negative(train[i]) for i in annotated]
    model = tagger_lib.train_tagger(examples, intents, tags, config.tagger)
    record = dict(round=round_, budget=budget, positives=positives, **evaluate(model, test))
    records.append(record)
    if round_ == config.rounds:
      break
    pool = np.flatnonzero(in_pool)
    committee = _train_committee(all_rows, annotated, is_target, pool, strategy_rng, config)
    view = pool_view(committee, model, all_rows.take(pool), [train[i].tokens for i in pool],
                 strategy_rng)
    priority, eligible = rank(view)
    seen = {batch_lib.normalise(train[i].tokens) for i in annotated}
    picked, report = batch_lib.select_batch(priority, eligible, [train[i].tokens for i in pool],
                                            all_rows.take(pool), config.batch, seen=seen)
    chosen = pool[picked]
    in_pool[chosen] = False
    annotated += [int(i) for i in chosen]
    budget += len(chosen)
    positives += int(is_target[chosen].sum())
    record.update(dataclasses.asdict(report))
  return records
