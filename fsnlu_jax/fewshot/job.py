"""The few-shot job: ProtoNet and ProtoDA on unseen intents, against two baselines.

Stages, each resumable from its ``workdir`` sub-folder:

1. ``encoder/``: the multitask bi-LSTM sentence encoder trained to classify
   the *train* intents through :mod:`fsnlu_jax.transfer` (768-d by default),
   unless ``--pretrained`` names one; or, with ``encoder.kind="pretrained"``, a
   BERT-family checkpoint (e.g. all-MiniLM-L6-v2, 384-d), see
   :mod:`fsnlu_jax.fewshot.encoders`.
2. ``<system>/``: one episodic training run per few-shot system: ``protonet``,
   ``gaussian`` (one run per noise scale of the grid, the best on validation
   intents kept) and ``protoda``, each through THE loop
   (:func:`fsnlu_jax.train.train`) with :func:`fsnlu_jax.models.episodic_loss`.
   Every run is selected on validation intents: the state of its best
   evaluation, the untrained start (step 0) included, is the system tested.
   The ``softmax`` transfer baseline needs no episodic training.
3. Evaluation on the same test episodes for every system and every ``(N, K)``
   setting (:mod:`fsnlu_jax.fewshot.evaluate`, :mod:`fsnlu_jax.fewshot.report`): ``results.json``, a printed
   table, ``learning_curve.png`` and ``confusion.png`` / ``confusion.json``.

Schedule: ProtoDA's generator joins after ``generator_warmup`` steps of
ProtoNet-only training (synthetic samples masked out), because a generator
trained against a still-random embedding learns nothing transferable and its
samples only add noise to early prototypes; the synthetic samples are also
used at test time, which is the point of the method. Training episodes take
their queries from ``episodes.query_split`` of the train intents (the
validation split by default: the encoder has memorised the train split).
Episode batches of step ``s`` come from ``default_rng([seed, s])``: a resumed
run draws the same episodes.

Shapes: ``E`` episodes per step, ``N`` ways, ``K`` shots, ``Q`` queries per way.

References:
  Kumar et al., "ProtoDA: Efficient Transfer Learning for Few-Shot Intent
  Classification", IEEE SLT 2021.
  Krone, Zhang & Diab, "Learning to Classify Intents and Slot Labels Given a
  Handful of Examples", 2020 (FS-unseen episodes).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import pathlib
from typing import Any, Mapping, NamedTuple

import jax
import numpy as np
import optax
from flax import nnx

from fsnlu_jax.config import job_config, record_config
from fsnlu_jax.data import episodes, loading
from fsnlu_jax.fewshot import data as fsd
from fsnlu_jax.fewshot import encoders
from fsnlu_jax.fewshot import evaluate as evaluate_lib
from fsnlu_jax.fewshot import report
from fsnlu_jax.fewshot.config import FewshotConfig
from fsnlu_jax.models import FewShotModel, ProtoDAConfig, episodic_loss
from fsnlu_jax.parallel import make_data_mesh
from fsnlu_jax.train import (BestMetric, TrainState, init_train_state, jsonl, make_train_step,
                             train)

_log = logging.getLogger(__name__)

SYSTEMS = ("softmax", "protonet", "gaussian", "protoda")


class TrainedSystem(NamedTuple):
  """One trained few-shot system."""

  config: ProtoDAConfig  # the model's
  graphdef: nnx.GraphDef
  state: TrainState  # at the best validation step (step 0 included)
  validation: dict[str, float]  # that step's validation-intent scores, with its "step"


def system_config(config: FewshotConfig, system: str, noise_scale: float | None,
                  input_dim: int) -> ProtoDAConfig:
  """The :class:`ProtoDAConfig` of one system."""
  augment = {"protonet": "none", "gaussian": "gaussian", "protoda": "generator"}[system]
  return ProtoDAConfig(input_dim=input_dim, augment=augment,
                       noise_scale=noise_scale if noise_scale is not None else 0.0,
                       **dataclasses.asdict(config.protonet))


def make_optimizer(config: FewshotConfig) -> optax.GradientTransformation:
  """Adam; a fine-tuned encoder gets its own (small) learning rate."""
  head = optax.adam(config.episodes.learning_rate)
  encoder_lr = config.encoder.learning_rate
  if not config.encoder.finetune or encoder_lr is None:
    return head
  label = lambda path, _: "encoder" if getattr(path[0], "key", None) == "encoder" else "head"
  return optax.multi_transform({"encoder": optax.adam(encoder_lr), "head": head},
                               lambda params: jax.tree_util.tree_map_with_path(label, params))


class TrainingEpisodes:
  """The episode batch of each training step: a pure function of the step (module docs)."""

  def __init__(self, config: FewshotConfig, pools: Mapping[str, fsd.Pool], classes):
    t = config.episodes
    self.config, self.support = config, pools["train"]
    # Queries from the train split share its pool (disjoint from the supports).
    self.query = pools[t.query_split]
    self.sampler = episodes.EpisodeSampler(
        self.support.labels, None if t.query_split == "train" else self.query.labels,
        n_way=t.n_way, k_shot=t.k_shot, q_query=t.q_query, classes=classes)

  def __call__(self, step: int) -> dict[str, np.ndarray]:
    t = self.config.episodes
    rng = np.random.default_rng([self.config.seed, step])
    batch = self.sampler.sample(rng, t.per_step)
    return fsd.episode_batch(batch, self.support, self.query, augment=step >= t.generator_warmup,
                             noise_seed=rng.integers(2**31, size=t.per_step))


def _summarize(sums: Mapping[str, float]) -> dict[str, float]:
  return dict(loss=sums["loss_sum"] / max(sums["count"], 1),
              accuracy=sums["correct"] / max(sums["count"], 1))


def train_system(model_config: ProtoDAConfig, config: FewshotConfig, pools, split,
                 workdir: pathlib.Path, desc: str, encoder: nnx.Module | None = None,
                 mesh: jax.sharding.Mesh | None = None) -> TrainedSystem:
  """Episodic training of one system, resuming from ``workdir`` if it can.

  ``encoder`` (fine-tuning): a copy of it is trained with the ProtoNet, so
  every system starts from the same pretrained weights.
  """
  t = config.episodes
  mesh = make_data_mesh() if mesh is None else mesh
  if t.per_step % mesh.size:
    raise ValueError(f"episodes.per_step {t.per_step} must divide by the {mesh.size} devices")
  model = FewShotModel(model_config, rngs=nnx.Rngs(config.seed),
                       encoder=None if encoder is None else encoders.fresh_copy(encoder))
  optimizer = make_optimizer(config)
  graphdef, state = init_train_state(model, optimizer, jax.random.key(config.seed), mesh)
  validation = evaluate_lib.fixed_episodes(pools, "validation", split.validation, t.n_way, t.k_shot,
                                     config.evaluation.q_query, t.eval_episodes,
                                     seed=config.seed + 1)
  augment = model_config.augment != "none"

  def evaluate(state: TrainState) -> dict[str, float]:
    scores = evaluate_lib.score_episodes(graphdef, state, validation, augment, mesh=mesh,
                                         desc=f"{desc}: validation")
    return dict(accuracy=float(np.mean(scores["accuracy"])),
                macro_f1=float(np.mean(scores["macro_f1"])))

  result = train(state, make_train_step(graphdef, episodic_loss, optimizer, mesh),
                 TrainingEpisodes(config, pools, split.train), mesh=mesh, config=t,
                 workdir=workdir, data_order=dict(order="episodes_seeded_by_step",
                                                  seed=config.seed),
                 evaluate=evaluate, best_metric=BestMetric("accuracy"), summarize=_summarize,
                 desc=desc, keep_best=True)
  # Model selection on validation intents: the best step's state is the
  # system (episodes are solved long before unseen intents stop improving).
  _log.info("%s: best validation step %s of %d (%s)", desc, result.best_step, t.steps,
            result.best)
  if result.best_state is None:
    raise ValueError(f"{workdir} was trained before the best state was kept; use a new workdir")
  return TrainedSystem(model_config, graphdef, result.best_state, result.best)


def choose_noise_scale(config: FewshotConfig, pools, split, workdir: pathlib.Path,
                       input_dim: int, encoder: nnx.Module | None = None, mesh=None
                       ) -> tuple[float, TrainedSystem]:
  """Trains the Gaussian baseline for each scale of the grid; keeps the best on validation."""
  best = None
  for sigma in config.gaussian_noise_scales:
    trained = train_system(system_config(config, "gaussian", sigma, input_dim), config, pools,
                           split, workdir / f"gaussian_sigma{sigma:g}", f"gaussian σ={sigma:g}",
                           encoder, mesh)
    accuracy = trained.validation["accuracy"]
    _log.info("gaussian sigma=%g: validation accuracy %.4f", sigma, accuracy)
    if best is None or accuracy > best[0]:
      best = (accuracy, sigma, trained)
  return best[1], best[2]


def train_systems(config: FewshotConfig, pools, split, workdir: pathlib.Path, input_dim: int,
                  systems, encoder: nnx.Module | None = None, label: str = "", mesh=None,
                  noise_scale: float | None = None
                  ) -> tuple[dict[str, TrainedSystem], float | None]:
  """Trains ``systems`` in order (``softmax`` needs no training and is skipped).

  Returns:
    ``({system: TrainedSystem}, sigma)``: ``gaussian``'s noise scale is
    ``noise_scale``, or chosen on the validation intents when None (None
    without ``gaussian``). Each system trains under ``workdir / system``,
    logged as ``label + system``.
  """
  mesh = make_data_mesh() if mesh is None else mesh
  trained, sigma = {}, noise_scale
  for system in systems:
    if system == "softmax":
      continue
    if system == "gaussian" and noise_scale is not None:
      trained[system] = train_system(system_config(config, system, noise_scale, input_dim),
                                     config, pools, split, workdir / system, label + system,
                                     encoder, mesh)
      continue
    if system == "gaussian":
      sigma, trained[system] = choose_noise_scale(config, pools, split, workdir, input_dim,
                                                  encoder, mesh)
      continue
    trained[system] = train_system(system_config(config, system, None, input_dim), config,
                                   pools, split, workdir / system, label + system, encoder, mesh)
  return trained, sigma


def train_seeds(config: FewshotConfig, pools, split, workdir: pathlib.Path, input_dim: int,
                systems, encoder: nnx.Module | None = None, label: str = "", mesh=None
                ) -> tuple[list[dict[str, TrainedSystem]], float | None]:
  """:func:`train_systems` once per training seed (``config.training_seeds``).

  The first seed trains under ``workdir`` and chooses ``gaussian``'s noise
  scale; seed ``s`` after it under ``workdir / f"seed{s}"``, with that scale.
  The encoder is shared (trained once, from ``config.seed``).

  Returns:
    ``([{system: TrainedSystem} per seed], sigma)``.
  """
  trained_by_seed, sigma = [], None
  for i, seed in enumerate(config.training_seeds or (config.seed,)):
    trained, chosen = train_systems(
        dataclasses.replace(config, seed=seed), pools, split,
        workdir if i == 0 else workdir / f"seed{seed}", input_dim, systems, encoder,
        label if i == 0 else f"{label}seed {seed} ", mesh, noise_scale=sigma)
    sigma = chosen if i == 0 else sigma
    trained_by_seed.append(trained)
  return trained_by_seed, sigma


def run_fewshot(config: Mapping[str, Any] | FewshotConfig, workdir: str | os.PathLike, *,
                data_dir=None, cache_dir=None, pretrained=None) -> dict[str, Any]:
  """Trains and evaluates the four systems; returns (and writes) the results."""
  config = job_config(FewshotConfig, config, jobs=("fewshot",))
  workdir = pathlib.Path(workdir)
  record_config(workdir, config)
  mesh = make_data_mesh()
  d = config.data
  splits = loading.load(d.name, splits=["train", "validation", "test"], data_dir=data_dir,
                        cache_dir=cache_dir, progress=False)
  domain_of = fsd.domain_of_intents([e for s in splits.values() for e in s
                                     if e.intent not in d.exclude_intents])
  split = fsd.split_intents(config.split, domain_of)
  _log.info("intents: %d train, %d validation, %d test", len(split.train),
            len(split.validation), len(split.test))
  embed, encoder = encoders.get_embedder(config, split, workdir, pretrained, data_dir, cache_dir)
  pools = encoders.make_pools(splits, set(domain_of), embed)
  input_dim = encoders.sentence_width(pools["train"])

  trained_by_seed, sigma = train_seeds(config, pools, split, workdir, input_dim, config.systems,
                                       encoder, mesh=mesh)
  trained = trained_by_seed[0]
  results = evaluate_lib.evaluate_all(config, pools, split, trained_by_seed, mesh=mesh)
  fs_full = config.evaluation.fs_full
  if fs_full:
    # FS-full over the test intents: K train examples of each, all their test examples.
    results["fs_full"] = evaluate_lib.evaluate_fs_full(
        config, pools, trained_by_seed, classes=split.test, k_shots=fs_full.k_shot,
        samplings=fs_full.samplings, seed=config.evaluation.seed, mesh=mesh)
  view = results.pop("confusion", None)
  if view is not None:
    results["top_confusions"] = report.top_confusions(view)
  results.update(dataset=d.name, intent_split=dict(
      train=list(split.train), validation=list(split.validation), test=list(split.test)))
  if "gaussian" in trained:
    results["gaussian_noise_scale"] = sigma
  results["training_seeds"] = list(config.training_seeds or (config.seed,))
  # Model selection: each run's best validation step (0: training never helped).
  results["best_validation_step"] = [{s: t.validation["step"] for s, t in by_system.items()}
                                     for by_system in trained_by_seed]
  if jax.process_index() == 0:  # one writer: the processes share the folder
    jsonl.write(workdir / "results.json", results, indent=2)  # strict JSON
    if view is not None:
      report.write_confusion(workdir, view)
    report.plot_learning_curves(workdir, [s for s in config.systems if s in trained])
  print(report.format_table(results))
  return results
