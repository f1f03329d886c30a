"""Episodes for few-shot learning, as static-shape index arrays with masks.

Shapes: E episodes per batch, N ways (classes per episode), K shots (support
examples per class), Q queries per class, C classes, P pool rows, L tokens.
An episode is returned as indices
into a *support pool* and a *query pool* (two splits, e.g. train and test, or
one split used for both), so the arrays stay small and a model gathers the
token arrays or precomputed embeddings it needs (:func:`gather`).

Same ``np.random.Generator`` state, same episodes.

Rule for small classes: a class is *eligible* when it has at least K support
and Q query examples (K + Q when both come from one pool, since supports and
queries of an episode never share an example). Ineligible classes are left out
of sampling and reported in ``EpisodeSampler.excluded`` -- never silently
padded with repeats, which would make a 5-shot episode secretly 3-shot.

References:
  Snell et al. 2017, Prototypical Networks for Few-shot Learning.
  Triantafillou et al. 2020, Meta-Dataset (variable ways and shots), as used
  for intents by Krone et al. 2020, Learning to Classify Intents and Slot
  Labels Given a Handful of Examples.
  Casanueva et al. 2020 (FS-full: K examples of every intent).
"""

from __future__ import annotations

import dataclasses
from typing import Iterator, Mapping, NamedTuple, Sequence

import numpy as np


class EpisodeBatch(NamedTuple):
  """E episodes of up to N ways, K shots and Q queries, padded with masks.

  Padded entries have index -1 and mask False; a padded way has class -1.
  """

  support_index: np.ndarray  # [E, N, K] int32, rows of the support pool
  support_mask: np.ndarray  # [E, N, K] bool, real support examples
  query_index: np.ndarray  # [E, N, Q] int32, rows of the query pool
  query_mask: np.ndarray  # [E, N, Q] bool, real queries
  classes: np.ndarray  # [E, N] int32, index into EpisodeSampler.classes
  way_mask: np.ndarray  # [E, N] bool, real ways


@dataclasses.dataclass(frozen=True)
class IntentSplit:
  """Disjoint train/validation/test intents for FS-unseen evaluation."""

  train: tuple[str, ...]
  validation: tuple[str, ...]
  test: tuple[str, ...]


def split_intents(intents: Sequence[str], *, seed: int,
                  fractions: tuple[float, float, float] = (0.6, 0.2, 0.2)) -> IntentSplit:
  """Splits intents into train/validation/test at random by a fixed seed.

  >>> s = split_intents([f"i{n}" for n in range(10)], seed=0)
  >>> len(s.train), len(s.validation), len(s.test)
  (6, 2, 2)
  """
  names = sorted(set(intents))
  order = np.random.default_rng(seed).permutation(len(names))
  n_train = int(round(fractions[0] * len(names)))
  n_val = int(round(fractions[1] * len(names)))
  pick = lambda part: tuple(sorted(names[i] for i in part))
  return IntentSplit(pick(order[:n_train]), pick(order[n_train:n_train + n_val]),
                     pick(order[n_train + n_val:]))


def split_intents_by_domain(domain_of: Mapping[str, str], *, seed: int,
                            n_domains: tuple[int, int, int] = (6, 2, 2)) -> IntentSplit:
  """Splits intents by whole domains (EVALUATION.md: CLINC150 uses 6/2/2).

  Args:
    domain_of: intent -> domain.
    seed: fixes which domains go where.
    n_domains: how many domains for train, validation, test.
  """
  domains = sorted(set(domain_of.values()))
  if sum(n_domains) > len(domains):
    raise ValueError(f"asked for {sum(n_domains)} domains, only {len(domains)} exist")
  order = [domains[i] for i in np.random.default_rng(seed).permutation(len(domains))]
  cut = np.cumsum(n_domains)
  parts = order[:cut[0]], order[cut[0]:cut[1]], order[cut[1]:cut[2]]
  pick = lambda ds: tuple(sorted(i for i, d in domain_of.items() if d in ds))
  return IntentSplit(*(pick(set(p)) for p in parts))


@dataclasses.dataclass(frozen=True)
class VariableShape:
  """Meta-Dataset-style variable ways and shots (Triantafillou et al. 2020).

  Each episode draws its number of ways uniformly in [min_way, N] and a
  support-set budget, shared among classes in proportion to class size with
  log-uniform noise; each class gets at least one and at most K shots.
  """

  min_way: int = 3
  max_support: int = 500  # the total support-set cap of Meta-Dataset


class EpisodeSampler:
  """Draws N-way K-shot Q-query episodes from labelled example pools.

  Args:
    support_labels: class of each row of the support pool.
    query_labels: class of each row of the query pool; None: the support pool
      serves both, with supports and queries disjoint.
    n_way: ways per episode, or ``"all"`` for every eligible class.
    k_shot: shots per class (the maximum, for variable shapes).
    q_query: queries per class.
    classes: the classes episodes may use (e.g. the test intents); default
      every class of the support pool.
    variable: None for fixed shapes, or a :class:`VariableShape`.

  Attributes:
    classes: eligible classes, sorted; ``EpisodeBatch.classes`` indexes this.
    excluded: ineligible class -> (support count, query count).

  Raises:
    ValueError: ``k_shot`` or ``q_query`` below 1, ``n_way`` not a whole
      number >= 1 (or ``"all"``), more ways than eligible classes, or a
      :class:`VariableShape` with ``min_way`` or ``max_support`` below 1.
  """

  def __init__(self, support_labels: Sequence[str], query_labels: Sequence[str] | None = None,
               *, n_way: int | str, k_shot: int, q_query: int,
               classes: Sequence[str] | None = None, variable: VariableShape | None = None):
    _check_shape(n_way, k_shot, q_query, variable)
    self.shared_pool = query_labels is None
    support_rows = _rows_by_class(support_labels)
    query_rows = support_rows if self.shared_pool else _rows_by_class(query_labels)
    wanted = sorted(set(classes) if classes is not None else support_rows)
    need_support = k_shot + q_query if self.shared_pool else k_shot
    self.excluded: dict[str, tuple[int, int]] = {}
    eligible = []
    for name in wanted:
      n_s, n_q = len(support_rows.get(name, ())), len(query_rows.get(name, ()))
      if n_s >= need_support and n_q >= q_query:
        eligible.append(name)
      else:
        self.excluded[name] = (n_s, n_q)
    self.classes = tuple(eligible)
    self.n_way = len(eligible) if n_way == "all" else int(n_way)
    if not 1 <= self.n_way <= len(eligible):
      raise ValueError(f"{self.n_way}-way episodes need that many eligible classes; "
                       f"{len(eligible)} have >= {need_support} supports and >= {q_query} "
                       f"queries (excluded: {self.excluded})")
    self.k_shot, self.q_query, self.variable = k_shot, q_query, variable
    self._support_rows = [support_rows[c] for c in eligible]
    self._query_rows = [query_rows[c] for c in eligible]

  def sample(self, rng: np.random.Generator, episodes: int) -> EpisodeBatch:
    """A batch of ``episodes`` episodes (E = episodes)."""
    if not _is_count(episodes) or episodes < 1:
      raise ValueError(f"episodes must be a whole number >= 1, got {episodes!r}")
    e, n, k, q = episodes, self.n_way, self.k_shot, self.q_query
    batch = EpisodeBatch(
        support_index=np.full((e, n, k), -1, np.int32),
        support_mask=np.zeros((e, n, k), bool),
        query_index=np.full((e, n, q), -1, np.int32),
        query_mask=np.zeros((e, n, q), bool),
        classes=np.full((e, n), -1, np.int32),
        way_mask=np.zeros((e, n), bool))
    for episode in range(e):
      self._fill_episode(rng, batch, episode)
    return batch

  def batches(self, rng: np.random.Generator, episodes: int) -> Iterator[EpisodeBatch]:
    """Endless batches of ``episodes`` episodes each."""
    while True:
      yield self.sample(rng, episodes)

  def _fill_episode(self, rng: np.random.Generator, batch: EpisodeBatch, episode: int) -> None:
    ways = self._draw_ways(rng)
    chosen = np.sort(rng.choice(len(self.classes), size=ways, replace=False))
    shots = self._draw_shots(rng, chosen)
    for way, (cls, k) in enumerate(zip(chosen, shots)):
      support, query = self._draw_examples(rng, cls, k)
      batch.classes[episode, way] = cls
      batch.way_mask[episode, way] = True
      batch.support_index[episode, way, :k] = support
      batch.support_mask[episode, way, :k] = True
      batch.query_index[episode, way] = query
      batch.query_mask[episode, way] = True

  def _draw_ways(self, rng: np.random.Generator) -> int:
    if self.variable is None:
      return self.n_way
    low = min(self.variable.min_way, self.n_way)
    return int(rng.integers(low, self.n_way + 1))

  def _draw_shots(self, rng: np.random.Generator, chosen: np.ndarray) -> np.ndarray:
    """Shots per chosen class: K each, or the Meta-Dataset budget rule."""
    if self.variable is None:
      return np.full(len(chosen), self.k_shot)
    spare = self.q_query if self.shared_pool else 0
    sizes = np.array([len(self._support_rows[c]) - spare for c in chosen])
    capped = np.minimum(sizes, self.k_shot)
    budget = min(self.variable.max_support, int(np.ceil(rng.uniform() * capped).sum()))
    weights = np.exp(rng.uniform(np.log(0.5), np.log(2.0), len(chosen))) * sizes
    share = np.floor(weights / weights.sum() * max(budget - len(chosen), 0)).astype(int) + 1
    return np.minimum(share, capped)

  def _draw_examples(self, rng: np.random.Generator, cls: int, k: int):
    support_rows, query_rows = self._support_rows[cls], self._query_rows[cls]
    if self.shared_pool:
      picked = rng.choice(support_rows, size=k + self.q_query, replace=False)
      return picked[:k], picked[k:]
    return (rng.choice(support_rows, size=k, replace=False),
            rng.choice(query_rows, size=self.q_query, replace=False))


def sample_fs_full(labels: Sequence[str], *, k_shot: int, rng: np.random.Generator,
                   classes: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
  """FS-full (Casanueva et al. 2020): K labelled examples of every class.

  A class with fewer than K examples contributes all it has; the rest of its
  row is masked (the stated rule; no example is repeated).

  Returns:
    ``(index [C, K] int32, mask [C, K] bool, classes)`` with C = number of
    classes, rows of ``labels`` in ``index`` (-1 where masked).
  """
  if not _is_count(k_shot) or k_shot < 1:
    raise ValueError(f"k_shot must be a whole number >= 1, got {k_shot!r}")
  rows = _rows_by_class(labels)
  names = tuple(sorted(classes if classes is not None else rows))
  index = np.full((len(names), k_shot), -1, np.int32)
  for c, name in enumerate(names):
    pool = rows.get(name, np.zeros(0, np.int32))
    take = min(k_shot, len(pool))
    index[c, :take] = rng.choice(pool, size=take, replace=False)
  return index, index >= 0, names


def _is_count(value) -> bool:
  return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _check_shape(n_way, k_shot, q_query, variable) -> None:
  """Episode arguments that cannot make an episode, refused with the argument's name."""
  for name, value in (("k_shot", k_shot), ("q_query", q_query)):
    if not _is_count(value) or value < 1:
      raise ValueError(f"{name} must be a whole number >= 1, got {value!r}")
  if n_way != "all" and (not _is_count(n_way) or n_way < 1):
    raise ValueError(f"n_way must be a whole number >= 1 or 'all', got {n_way!r}")
  if variable is not None and (variable.min_way < 1 or variable.max_support < 1):
    raise ValueError(f"VariableShape needs min_way >= 1 and max_support >= 1, got {variable}")


def gather(values: np.ndarray, index: np.ndarray) -> np.ndarray:
  """``values[index]`` with -1 (padding) rows zeroed.

  Args:
    values: [P, ...] per-row arrays (token ids, embeddings) of a pool.
    index: any shape of row indices, -1 for padding, e.g. [E, N, K].

  Returns:
    [*index.shape, ...], e.g. [E, N, K, L] for token ids.
  """
  out = values[np.maximum(index, 0)]
  pad = (index < 0).reshape(index.shape + (1,) * (values.ndim - 1))
  return np.where(pad, np.zeros((), values.dtype), out)


def _rows_by_class(labels: Sequence[str]) -> dict[str, np.ndarray]:
  labels = np.asarray(labels)
  order = np.argsort(labels, kind="stable")
  names, starts = np.unique(labels[order], return_index=True)
  groups = np.split(order.astype(np.int32), starts[1:])
  return {str(name): rows for name, rows in zip(names, groups)}
