"""Scoring few-shot systems on fixed episodes: FS-unseen settings and FS-full samplings.

Every system is scored on the *same* episodes (sampled once per ``(N, K)``
setting from a fixed seed, with one noise seed per episode), so differences
between systems are paired, not sampling noise of the episodes. Episodes are
scored in fixed-size chunks sharded over the data mesh, one compiled program
per setting.

Shapes: ``E`` episodes, ``N`` ways, ``K`` shots, ``Q`` queries per way, ``C`` intents.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from typing import Any, Mapping, Sequence

import jax
import numpy as np
from flax import nnx
from jax.sharding import PartitionSpec as P

from fsnlu_jax.data import episodes
from fsnlu_jax.fewshot import data as fsd
from fsnlu_jax.fewshot import stats
from fsnlu_jax.fewshot.config import FewshotConfig, SoftmaxConfig
from fsnlu_jax.models import episode_scores, softmax_baseline_scores
from fsnlu_jax.parallel import DATA_AXIS, make_data_mesh
from fsnlu_jax.train import map_in_chunks, to_global
from fsnlu_jax.train import metrics as metrics_lib

_log = logging.getLogger(__name__)


@dataclasses.dataclass
class FixedEpisodes:
  """Episodes sampled once, with the pools their indices point into."""

  batch: episodes.EpisodeBatch  # [E, N, K] / [E, N, Q] indices and masks
  support: fsd.Pool
  query: fsd.Pool
  classes: tuple[str, ...]  # batch.classes indexes this
  seed: int
  noise_seed: np.ndarray  # [E] each episode's seed for synthetic-sample noise


def fixed_episodes(pools: Mapping[str, fsd.Pool], query_split: str, classes, n_way, k_shot: int,
                   q_query: int, n_episodes: int, *, seed: int) -> FixedEpisodes:
  """``n_episodes`` episodes of ``classes``.

  Supports come from the ``train`` pool, queries from ``query_split``.
  """
  sampler = episodes.EpisodeSampler(pools["train"].labels, pools[query_split].labels,
                                    n_way=n_way, k_shot=k_shot, q_query=q_query, classes=classes)
  if sampler.excluded:
    _log.info("classes without enough examples, left out: %s", sampler.excluded)
  rng = np.random.default_rng(seed)
  batch = sampler.sample(rng, n_episodes)
  return FixedEpisodes(batch, pools["train"], pools[query_split], sampler.classes, seed,
                       rng.integers(2**31, size=n_episodes))


def _sharded(fn, mesh: jax.sharding.Mesh):
  """``fn(replicated..., episodes)`` run per device on its share of the episodes.

  ``shard_map`` (as the train step) rather than jit over sharded inputs: under
  the mesh's explicit axes, ``vmap`` over sharded episodes refuses the
  replicated arrays (keys, optimizer carries) made inside the function.
  """
  return jax.jit(jax.shard_map(fn, mesh=mesh, in_specs=(P(), P(DATA_AXIS)),
                               out_specs=P(DATA_AXIS)))


@functools.lru_cache(maxsize=None)
def _protonet_scorer(graphdef: nnx.GraphDef, mesh: jax.sharding.Mesh):
  def score(replicated, arrays):
    params, rest = replicated
    return episode_scores(nnx.merge(graphdef, params, rest), arrays, jax.random.key(0))
  return _sharded(score, mesh)


@functools.lru_cache(maxsize=None)
def _softmax_scorer(fit: SoftmaxConfig, mesh: jax.sharding.Mesh):
  def score(_, arrays):
    return softmax_baseline_scores(arrays["support"], arrays["support_mask"], arrays["query"],
                                   arrays["query_mask"], arrays["way_mask"],
                                   **dataclasses.asdict(fit))
  return _sharded(score, mesh)


def score_episodes(graphdef: nnx.GraphDef | None, state, fixed: FixedEpisodes, augment: bool,
                   *, chunk: int = 64, softmax_fit: SoftmaxConfig | None = None,
                   mesh: jax.sharding.Mesh | None = None,
                   desc: str = "evaluation episodes") -> dict[str, np.ndarray]:
  """Per-episode ``accuracy`` and ``macro_f1`` ``[E]`` and ``pred`` ``[E, N * Q]``.

  ``graphdef`` None scores the softmax transfer baseline (fit per episode with
  ``softmax_fit``) instead of a trained few-shot model. Each episode's
  synthetic samples come from its ``noise_seed``: the same for every system,
  chunk size and device count. Episodes go in chunks of ``chunk`` (rounded
  up to a multiple of the devices; :func:`fsnlu_jax.train.map_in_chunks`),
  each sharded over the mesh.
  """
  mesh = make_data_mesh() if mesh is None else mesh
  chunk = -(-chunk // mesh.size) * mesh.size

  def score(part):
    batch, seeds = part
    arrays = to_global(fsd.episode_batch(episodes.EpisodeBatch(*batch), fixed.support,
                                         fixed.query, augment=augment, noise_seed=seeds), mesh)
    if graphdef is None:
      return _softmax_scorer(softmax_fit or SoftmaxConfig(), mesh)((), arrays)
    return _protonet_scorer(graphdef, mesh)((state.params, state.rest), arrays)

  return map_in_chunks(score, (tuple(fixed.batch), fixed.noise_seed), chunk, desc=desc)


def confusion(fixed: FixedEpisodes, pred: np.ndarray) -> np.ndarray:
  """``[C, C]`` counts of (gold class, predicted class) over all episodes' queries."""
  b = fixed.batch
  e, n, q = b.query_mask.shape
  gold_way = np.repeat(np.arange(n), q)[None, :].repeat(e, 0)  # --> [E, N * Q]
  real = b.query_mask.reshape(e, n * q)
  rows = np.arange(e)[:, None].repeat(n * q, 1)
  gold, guess = b.classes[rows, gold_way][real], b.classes[rows, pred][real]
  counts = np.zeros((len(fixed.classes),) * 2, np.int64)
  np.add.at(counts, (gold, guess), 1)
  return counts


def fs_full_episodes(pools: Mapping[str, fsd.Pool], k_shot: int, samplings: int, *,
                     seed: int, classes=None) -> FixedEpisodes:
  """FS-full (Casanueva et al. 2020) as ``samplings`` episodes of every class.

  Episode ``e`` holds the ``e``-th sampling of ``K`` train examples per class
  as supports and the *whole* test split as queries (each class's test
  examples in its row, padded to the largest class), so every system and
  sampling is scored by the same code as FS-unseen episodes.
  """
  rng = np.random.default_rng(seed)
  test_labels = pools["test"].labels
  names = tuple(sorted(classes if classes is not None else set(test_labels)))
  rows = [np.flatnonzero(test_labels == c) for c in names]
  q = max(len(r) for r in rows)
  query_index = np.full((len(names), q), -1, np.int32)
  for c, r in enumerate(rows):
    query_index[c, :len(r)] = r
  index, mask, _ = zip(*(episodes.sample_fs_full(pools["train"].labels, k_shot=k_shot, rng=rng,
                                                  classes=names) for _ in range(samplings)))
  every = lambda a: np.repeat(a[None], samplings, axis=0)  # the same in every episode
  batch = episodes.EpisodeBatch(
      support_index=np.stack(index), support_mask=np.stack(mask),  # --> [E, N, K]
      query_index=every(query_index), query_mask=every(query_index >= 0),
      classes=every(np.arange(len(names), dtype=np.int32)),
      way_mask=np.ones((samplings, len(names)), bool))
  return FixedEpisodes(batch, pools["train"], pools["test"], names, seed,
                       rng.integers(2**31, size=samplings))


def score_systems(config: FewshotConfig, fixed: FixedEpisodes,
                  trained_by_seed: Sequence[Mapping[str, Any]], *, chunk: int = 64,
                  mesh: jax.sharding.Mesh | None = None
                  ) -> tuple[dict[str, Any], dict[str, np.ndarray], dict[str, dict[str, np.ndarray]]]:
  """Scores every system of ``config.systems`` on ``fixed``, for every training seed.

  Args:
    trained_by_seed: one ``{system: TrainedSystem}`` per training seed
      (:class:`~fsnlu_jax.fewshot.job.TrainedSystem`); ``softmax`` needs no
      training and is scored once.

  Returns:
    ``({system: summary}, {system: pred [E, N * Q]} of the first seed,
    {system: {metric: [S, E]}})``; a summary is :func:`stats.summary` of
    each metric over seeds and episodes.
  """
  summaries, preds, per_episode = {}, {}, {}
  for system in config.systems:
    if system == "softmax":
      # With a fine-tuned encoder the pools hold word pieces; the transfer
      # baseline classifies the pretrained encoder's frozen vectors instead.
      frozen = dataclasses.replace(fixed, support=fsd.frozen_view(fixed.support),
                                   query=fsd.frozen_view(fixed.query))
      runs = [score_episodes(None, None, frozen, False, chunk=chunk,
                             softmax_fit=config.softmax, mesh=mesh, desc=f"test {system}")]
    else:
      runs = [score_episodes(t[system].graphdef, t[system].state, fixed,
                             t[system].config.augment != "none", chunk=chunk, mesh=mesh,
                             desc=f"test {system}")
              for t in trained_by_seed]
    per_episode[system] = {m: np.stack([np.asarray(r[m]) for r in runs])
                           for m in ("accuracy", "macro_f1")}
    summaries[system] = {m: stats.summary(v) for m, v in per_episode[system].items()}
    preds[system] = runs[0]["pred"]
  return summaries, preds, per_episode


def _setting_comparisons(per_episode) -> dict[str, Any]:
  """The paired differences and the paper's F1 error reductions of one setting."""
  out = dict(paired_differences=stats.paired_differences(per_episode))
  out.update(_error_reductions({s: {m: dict(mean=float(v.mean())) for m, v in scores.items()}
                                for s, scores in per_episode.items()}))
  return out


def evaluate_all(config: FewshotConfig, pools, split, trained_by_seed, *,
                 mesh: jax.sharding.Mesh | None = None) -> dict[str, Any]:
  """Scores every system on the same test episodes of each ``(N, K)`` setting.

  Args:
    trained_by_seed: one ``{system: TrainedSystem}`` per training seed; the
      ``softmax`` baseline is added when ``config.systems`` names it.
  """
  ev = config.evaluation
  settings, confusion_view = [], None
  for n_way in ev.n_way:
    for k_shot in ev.k_shot:
      fixed = fixed_episodes(pools, "test", split.test, n_way, k_shot, ev.q_query,
                             ev.episodes, seed=ev.seed)
      systems, preds, per_episode = score_systems(config, fixed, trained_by_seed, mesh=mesh)
      if "protoda" in preds and n_way == "all" and k_shot == max(ev.k_shot):
        confusion_view = (fixed, preds["protoda"])
      n_real = int(fixed.batch.way_mask.sum(1).max())
      setting = dict(n_way=n_real, n_way_spec=n_way, k_shot=k_shot, q_query=ev.q_query,
                     episodes=ev.episodes, seed=ev.seed, training_seeds=len(trained_by_seed),
                     systems=systems)
      setting.update(_setting_comparisons(per_episode))
      settings.append(setting)
      _log.info("N=%s K=%d: %s", n_way, k_shot,
                {s: round(v["accuracy"]["mean"], 4) for s, v in systems.items()})
  results = dict(protocol="fs_unseen", settings=settings)
  if confusion_view is not None:
    fixed, pred = confusion_view
    results["confusion"] = dict(intents=list(fixed.classes),
                                counts=confusion(fixed, pred).tolist())
  return results


def evaluate_fs_full(config: FewshotConfig, pools, trained_by_seed, *,
                     k_shots=(5, 10), samplings: int = 10, seed: int = 0,
                     classes=None, mesh: jax.sharding.Mesh | None = None) -> dict[str, Any]:
  """FS-full scores of every system: mean, sd and 95% CI over ``samplings``
  (and training seeds), and paired differences on the same samplings.

  ``classes`` (default: every intent of the test pool) are the intents scored.
  """
  settings = []
  for k_shot in k_shots:
    fixed = fs_full_episodes(pools, k_shot, samplings, seed=seed + k_shot, classes=classes)
    # One episode per device at a time: each holds a whole test split.
    systems, _, per_episode = score_systems(config, fixed, trained_by_seed, chunk=1, mesh=mesh)
    setting = dict(n_way=len(fixed.classes), k_shot=k_shot, samplings=samplings,
                   training_seeds=len(trained_by_seed),
                   test_examples=int(fixed.batch.query_mask[0].sum()), seed=seed + k_shot,
                   systems=systems, per_sampling={s: {m: v.tolist() for m, v in scores.items()}
                                                  for s, scores in per_episode.items()})
    setting.update(_setting_comparisons(per_episode))
    settings.append(setting)
    _log.info("FS-full K=%d: %s", k_shot,
              {s: round(v["accuracy"]["mean"], 4) for s, v in systems.items()})
  return dict(protocol="fs_full", settings=settings)


def _error_reductions(systems: Mapping[str, Any]) -> dict[str, float]:
  """Relative macro-F1 error reductions the ProtoDA paper reports."""
  out = {}
  pairs = (("protoda", "gaussian"), ("protoda", "protonet"), ("protonet", "softmax"))
  for new, base in pairs:
    if new in systems and base in systems:
      base_err = 1.0 - systems[base]["macro_f1"]["mean"]
      new_err = 1.0 - systems[new]["macro_f1"]["mean"]
      if base_err > 0:
        out[f"f1_error_reduction_{new}_vs_{base}"] = metrics_lib.relative_error_reduction(
            base_err, new_err)
  return out
