"""Host-side data of the few-shot job: intent splits, example pools, episode batches.

FS-unseen (EVALUATION.md): the intents are split into train / validation /
test intents; the model trains on episodes of train intents (supports and
queries from the dataset's train split), is tuned on validation intents and
tested on test intents, supports from the train split and queries from the
validation or test split.

A :class:`Pool` is one dataset split turned into arrays once (sentence
vectors ``[P, D]`` from a frozen encoder, or token ids ``[P, L]`` when the
encoder trains with the rest); an episode batch gathers rows of two pools.

Shapes: ``P`` pool rows, ``E`` episodes, ``N`` ways, ``K`` shots, ``Q``
queries per way, ``L`` tokens, ``D`` sentence width.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping, Sequence

import numpy as np

from fsnlu_jax.data import Example, episodes
from fsnlu_jax.fewshot.config import SplitConfig

FROZEN = "x_frozen"  # a pool input of frozen sentence vectors beside word pieces (frozen_view)


@dataclasses.dataclass
class Pool:
  """One split's examples as arrays.

  Attributes:
    examples: the ``P`` examples.
    labels: ``[P]`` their intents.
    inputs: ``{"x": [P, D] or [P, L]}`` plus ``"x_tokens": [P, L]`` bool
      with token ids, and ``"x_frozen": [P, D]`` beside word pieces of a
      fine-tuned encoder (:func:`frozen_view`).
  """

  examples: list[Example]
  labels: np.ndarray
  inputs: dict[str, np.ndarray]


def split_intents(config: SplitConfig, domain_of: Mapping[str, str]) -> episodes.IntentSplit:
  """The config's intent split.

  ``by="domain"`` splits whole domains (``n_domains``); ``by="intent"``
  splits intents at random (``fractions``).
  """
  if config.by == "domain" and config.n_domains is not None:
    return episodes.split_intents_by_domain(domain_of, seed=config.seed,
                                            n_domains=config.n_domains)
  if config.by == "intent" and config.fractions is not None:
    return episodes.split_intents(sorted(domain_of), seed=config.seed,
                                  fractions=config.fractions)
  raise ValueError(f"split.by={config.by!r} needs split."
                   f"{'n_domains' if config.by == 'domain' else 'fractions'}")


def domain_of_intents(examples: Sequence[Example]) -> dict[str, str]:
  """intent -> domain; an intent seen under two domains is a data error."""
  out: dict[str, str] = {}
  for e in examples:
    if out.setdefault(e.intent, e.domain) != e.domain:
      raise ValueError(f"intent {e.intent!r} appears in domains {out[e.intent]!r} and "
                       f"{e.domain!r} ({e.source})")
  return out


def episode_batch(batch: episodes.EpisodeBatch, support: Pool, query: Pool, *,
                  augment: bool, noise_seed: np.ndarray) -> dict[str, np.ndarray]:
  """The arrays of a batch of episodes, for :func:`fsnlu_jax.models.batch_logits`.

  Args:
    batch: E episodes' indices into ``support`` and ``query``.
    support, query: the pools.
    augment: whether synthetic samples are on (off during warm-up).
    noise_seed: ``[E]`` ints, one per episode: its synthetic samples' noise.

  Returns:
    ``support [E, N, K, ...]``, ``query [E, N, Q, ...]`` (and their
    ``*_tokens`` masks with token ids), ``support_mask``, ``query_mask``,
    ``way_mask``, ``augment [E]`` and ``noise_seed [E]``.
  """
  e = batch.way_mask.shape[0]
  out = dict(support_mask=batch.support_mask, query_mask=batch.query_mask,
             way_mask=batch.way_mask, augment=np.full(e, augment, bool),
             noise_seed=np.asarray(noise_seed, np.uint32).reshape(e))
  for name, pool, index in (("support", support, batch.support_index),
                            ("query", query, batch.query_index)):
    for key, values in pool.inputs.items():
      if key != FROZEN:  # the models never read it (see frozen_view)
        out[key.replace("x", name, 1)] = episodes.gather(values, index)
  return out


def frozen_view(pool: Pool) -> Pool:
  """``pool`` with the frozen encoder's vectors as its only input, ``{"x": [P, D]}``.

  A fine-tuned encoder's pools hold word pieces in ``x`` (what the episodes
  run through the encoder) and the pretrained vectors in ``x_frozen`` (what the
  softmax baseline classifies); other pools are returned as they are.
  """
  if FROZEN not in pool.inputs:
    return pool
  return Pool(pool.examples, pool.labels, dict(x=pool.inputs[FROZEN]))
