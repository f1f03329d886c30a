"""The few-shot job: ProtoNet and ProtoDA on unseen intents, against two baselines.

Stages, each resumable from its ``workdir`` sub-folder:

1. ``encoder/``: the multitask bi-LSTM sentence encoder (768-d by default)
   trained to classify the *train* intents (:mod:`~fsnlu_jax.train.multitask_job`),
   unless ``--pretrained`` names one; or, with ``encoder.kind="pretrained"``, a
   frozen BERT-family checkpoint (e.g. all-MiniLM-L6-v2, 384-d) whose sentence
   vectors are computed once.
2. ``<system>/``: one episodic training run per few-shot system: ``protonet``,
   ``gaussian`` (one run per noise scale of the grid, the best on validation
   intents kept) and ``protoda``. The step is :func:`fsnlu_jax.train.step.make_train_step`
   (jitted, donated state, episodes sharded over devices) with the
   :func:`fsnlu_jax.models.episodic_loss`. The ``softmax`` transfer baseline
   needs no episodic training.
3. Evaluation on the same test episodes for every system and every ``(N, K)``
   setting: mean accuracy and macro-F1 with 95% intervals; ``results.json``,
   a printed table, ``learning_curve.png`` and ``confusion.png`` /
   ``confusion.json`` (ProtoDA on the largest setting).

Schedule: ProtoDA's generator joins after ``generator_warmup`` steps of
ProtoNet-only training (synthetic samples masked out), because a generator
trained against a still-random embedding learns nothing transferable and its
samples only add noise to early prototypes; the synthetic samples are also
used at test time, which is the point of the method. Training episodes take
their queries from ``episodes.query_split`` of the train intents (the
validation split by default: the encoder has memorised the train split). Episode batches of step
``s`` come from ``default_rng([seed, s])``: a resumed run draws the same
episodes, so no data state needs saving beyond the step.

Shapes: ``E`` episodes per step, ``N`` ways, ``K`` shots, ``Q`` queries per
way, ``D`` sentence width, ``P`` pool rows.

References:
  Kumar et al., "ProtoDA: Efficient Transfer Learning for Few-Shot Intent
  Classification", IEEE SLT 2021.
  Krone, Zhang & Diab, "Learning to Classify Intents and Slot Labels Given a
  Handful of Examples", 2020 (FS-unseen episodes).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import pathlib
import sys
from typing import Any, Callable, Mapping, Sequence

import jax
import numpy as np
import optax
import tqdm
from flax import nnx

from fsnlu_jax.data import Example, encode_split, episodes, loading
from fsnlu_jax.models import FewShotModel, ProtoDAConfig, SentenceEncoder, episodic_loss
from fsnlu_jax.parallel import data_sharding, make_data_mesh
from fsnlu_jax.train import checkpoint as ckpt_lib
from fsnlu_jax.train import fewshot_data as fsd
from fsnlu_jax.train import fewshot_report as report
from fsnlu_jax.train import jsonl
from fsnlu_jax.train import multitask_job
from fsnlu_jax.train.step import TrainState, init_train_state, make_train_step

_log = logging.getLogger(__name__)

SYSTEMS = ("softmax", "protonet", "gaussian", "protoda")


# ------------------------------------------------------------------ encoder


def _encoder_config(config: Mapping[str, Any], train_intents: Sequence[str]) -> dict:
  """A multitask pretraining config over the train intents of the dataset."""
  e = config["encoder"]
  return dict(job="encoder", seed=config["seed"],
              data=dict(name=config["data"]["name"], train_splits=["train"],
                        eval_split="validation", domains=None, exclude_domains=[],
                        intents=sorted(train_intents), max_train=None,
                        max_length=config["data"]["max_length"]),
              model=dict(e["model"]), optim=dict(e["optim"]), train=dict(e["train"]))


def get_encoder(config, split: episodes.IntentSplit, workdir: pathlib.Path, pretrained,
                data_dir, cache_dir):
  """``(encoder, vocab)``: from ``pretrained``, or trained on the train intents."""
  if pretrained is None:
    pretrained = workdir / "encoder"
    multitask_job.run_pretrain(_encoder_config(config, split.train), pretrained,
                               data_dir=data_dir, cache_dir=cache_dir)
  return multitask_job.load_pretrained(pretrained)


def sentence_vectors(encode, vocab, examples: Sequence[Example], *, max_length: int,
                     batch_size: int = 256) -> np.ndarray:
  """``[P, D]`` sentence vectors from ``encode(token_ids [B, L], mask [B, L])``.

  Chunks are padded to ``batch_size`` rows, so a jitted ``encode`` compiles
  once per padded length.
  """
  intents, tags = multitask_job.label_vocabs(examples)
  enc = encode_split(examples, vocab, intents, tags, max_length=max_length)
  # Unseen intents bring unseen words: they become <unk>, as for any user.
  _log.info("sentence vectors: %s", enc.stats.as_dict())
  out = []
  for start in range(0, len(enc), batch_size):
    rows = np.arange(start, min(start + batch_size, len(enc)))
    batch = multitask_job.padded_batch(enc, rows, batch_size)
    out.append(np.asarray(encode(batch["token_ids"], batch["mask"]))[:len(rows)])
  return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


Embed = Callable[[Sequence[Example]], dict[str, np.ndarray]]


def bilstm_embedder(encoder, vocab, max_length: int) -> Embed:
  """``examples -> {"x": [P, D]}`` with a trained multitask bi-LSTM's sentence encoder."""
  graphdef, state = nnx.split(encoder)
  # One jit for every split; the weights are an argument, not baked-in constants.
  jitted = jax.jit(lambda s, ids, mask: nnx.merge(graphdef, s).encode(ids, mask))
  encode = functools.partial(jitted, state)
  return lambda examples: dict(x=sentence_vectors(encode, vocab, examples,
                                                  max_length=max_length))


def pretrained_embedder(encoder: SentenceEncoder, batch_size: int, *, finetune: bool) -> Embed:
  """Pool inputs from a pretrained transformer (e.g. MiniLM).

  Frozen: ``{"x": [P, D]}``, computed once. Fine-tuned: word pieces ``{"x":
  [P, L], "x_tokens": [P, L]}`` padded to the length bucket of the pool's
  longest utterance (longer than ``max_length``: cut, and counted in the
  tokenizer's stats) for the episodes to
  run through the encoder, plus ``"x_frozen": [P, D]`` for the softmax
  baseline, which classifies the pretrained encoder's vectors.
  """
  def embed(examples):
    tok = encoder.tokenizer
    encoded = tok.encode([e.text for e in examples])  # once: stats count each text once
    out = dict(x=encoder.embed_pieces(encoded, batch_size=batch_size))
    if finetune:
      # Padded to the bucket of the pool's longest row, not to max_length.
      pieces = tok.pad(encoded, np.arange(len(encoded)), len(encoded))
      out = {"x": pieces.token_ids, "x_tokens": pieces.mask, fsd.FROZEN: out["x"]}
    _log.info("word pieces so far: %s", encoder.tokenizer.stats)
    return out
  return embed


def get_embedder(config, split, workdir: pathlib.Path, pretrained, data_dir, cache_dir
                 ) -> tuple[Embed, nnx.Module | None]:
  """``(embed, encoder to fine-tune or None)`` for ``config["encoder"]``.

  ``kind="bilstm"`` (default): the multitask bi-LSTM of :func:`get_encoder`,
  frozen; ``kind="pretrained"``: a BERT-family checkpoint folder or hub name
  (``pretrained`` overrides ``encoder.path``), frozen or, with
  ``finetune=True``, trained with the ProtoNet.
  """
  e = config["encoder"]
  kind = e.get("kind", "bilstm")
  if kind == "pretrained":
    encoder = SentenceEncoder.from_pretrained(pretrained or e["path"],
                                              max_length=e.get("max_length"))
    finetune = bool(e.get("finetune"))
    return (pretrained_embedder(encoder, e.get("batch_size", 64), finetune=finetune),
            encoder.model if finetune else None)
  if kind != "bilstm":
    raise ValueError(f"encoder.kind must be 'bilstm' or 'pretrained', got {kind!r}")
  encoder, vocab = get_encoder(config, split, workdir, pretrained, data_dir, cache_dir)
  return bilstm_embedder(encoder, vocab, config["data"]["max_length"]), None


def make_pools(splits: Mapping[str, list[Example]], intents: set[str],
               embed: Embed) -> dict[str, fsd.Pool]:
  """Each split's examples of ``intents`` as a pool (see :data:`Embed`)."""
  pools = {}
  for name, examples in splits.items():
    kept = [e for e in examples if e.intent in intents]
    _log.info("%s: %d examples of %d intents", name, len(kept), len({e.intent for e in kept}))
    pools[name] = fsd.Pool(kept, np.array([e.intent for e in kept]), embed(kept))
  return pools


def sentence_width(pool: fsd.Pool) -> int:
  """``D_s``: the width of the pool's (frozen) sentence vectors."""
  return fsd.frozen_view(pool).inputs["x"].shape[1]


def make_optimizer(config: Mapping[str, Any]) -> optax.GradientTransformation:
  """Adam; a fine-tuned encoder gets its own (small) learning rate."""
  head = optax.adam(config["episodes"]["learning_rate"])
  encoder_lr = config["encoder"].get("learning_rate")
  if not config["encoder"].get("finetune") or encoder_lr is None:
    return head
  label = lambda path, _: "encoder" if getattr(path[0], "key", None) == "encoder" else "head"
  return optax.multi_transform({"encoder": optax.adam(encoder_lr), "head": head},
                               lambda params: jax.tree_util.tree_map_with_path(label, params))


# ------------------------------------------------------------ episodic runs


def system_config(config: Mapping[str, Any], system: str, noise_scale: float | None,
                  input_dim: int) -> ProtoDAConfig:
  """The :class:`ProtoDAConfig` of one system."""
  augment = {"protonet": "none", "gaussian": "gaussian", "protoda": "generator"}[system]
  m = dict(config["protonet"])
  return ProtoDAConfig(input_dim=input_dim, augment=augment,
                       noise_scale=noise_scale if noise_scale is not None else 0.0, **m)


def train_system(model_config: ProtoDAConfig, config: Mapping[str, Any], pools, split,
                 workdir: pathlib.Path, desc: str, encoder: nnx.Module | None = None
                 ) -> tuple[nnx.GraphDef, TrainState]:
  """Episodic training of one system, resuming from ``workdir`` if it can.

  ``encoder`` (fine-tuning): a copy of it is trained with the ProtoNet, so
  every system starts from the same pretrained weights.
  """
  t = config["episodes"]
  mesh = make_data_mesh()
  if t["per_step"] % mesh.size:
    raise ValueError(f"episodes.per_step {t['per_step']} must divide by the {mesh.size} devices")
  model = FewShotModel(model_config, rngs=nnx.Rngs(config["seed"]),
                       encoder=None if encoder is None else nnx.clone(encoder))
  optimizer = make_optimizer(config)
  graphdef, state = init_train_state(model, optimizer, jax.random.key(config["seed"]), mesh)
  data_state = dict(order="episodes_seeded_by_step", seed=config["seed"])
  workdir.mkdir(parents=True, exist_ok=True)
  with ckpt_lib.Checkpointer(workdir / "checkpoints", every=t["checkpoint_every"]) as checkpointer:
    state, _ = ckpt_lib.restore_or_init(checkpointer, state, data_state)
    step_fn = make_train_step(graphdef, episodic_loss, optimizer, mesh)
    loop = _EpisodicLoop(config, pools, split, model_config, workdir / "metrics.jsonl")
    state = loop.run(graphdef, step_fn, state, lambda s, done: checkpointer.save(
        s, data_state, force=done == t["steps"]), desc)
  return graphdef, state


class _EpisodicLoop:
  """The episode batches, logging and validation of :func:`train_system`."""

  def __init__(self, config, pools, split, model_config: ProtoDAConfig,
               metrics_path: pathlib.Path):
    self.config, self.pools, self.metrics_path = config, pools, metrics_path
    self.augment = model_config.augment != "none"
    t = config["episodes"]
    # Queries from the train split share its pool (disjoint from the supports).
    self.query_pool = pools[t["query_split"]]
    self.sampler = episodes.EpisodeSampler(
        pools["train"].labels, None if t["query_split"] == "train" else self.query_pool.labels,
        n_way=t["n_way"], k_shot=t["k_shot"], q_query=t["q_query"], classes=split.train)
    self.validation = report.fixed_episodes(
        pools, "validation", split.validation, t["n_way"], t["k_shot"],
        config["evaluation"]["q_query"], t["eval_episodes"], seed=config["seed"] + 1)

  def batch(self, step: int) -> dict[str, np.ndarray]:
    """The episodes of ``step``: a pure function of the step (module docs)."""
    t = self.config["episodes"]
    rng = np.random.default_rng([self.config["seed"], step])
    batch = self.sampler.sample(rng, t["per_step"])
    return fsd.episode_batch(batch, self.pools["train"], self.query_pool,
                             augment=step >= t["generator_warmup"],
                             noise_seed=rng.integers(2**31, size=t["per_step"]))

  def run(self, graphdef, step_fn, state: TrainState, save, desc: str) -> TrainState:
    t = self.config["episodes"]
    start = int(state.step)
    jsonl.truncate_after(self.metrics_path, start)
    sharding = data_sharding(make_data_mesh())
    for step in tqdm.trange(start, t["steps"], desc=desc, initial=start, total=t["steps"],
                            disable=None, file=sys.stderr):
      state, m = step_fn(state, jax.device_put(self.batch(step), sharding))
      done = step + 1
      if done % t["log_every"] == 0 or done == t["steps"]:
        m = jax.device_get(m)
        jsonl.append(self.metrics_path, dict(kind="train", step=done, loss=float(m["loss"]),
                                             accuracy=float(m["correct"] / m["count"])))
      if done % t["eval_every"] == 0 or done == t["steps"]:
        scores = report.score_episodes(graphdef, state, self.validation, self.augment)
        jsonl.append(self.metrics_path, dict(
            kind="eval", step=done, accuracy=float(np.mean(scores["accuracy"])),
            macro_f1=float(np.mean(scores["macro_f1"]))))
      save(state, done)  # `done`, not state.step: no host sync per step
    return state


def choose_noise_scale(config, pools, split, workdir: pathlib.Path, input_dim: int,
                       encoder: nnx.Module | None = None):
  """Trains the Gaussian baseline for each scale of the grid; keeps the best on validation."""
  best = None
  for sigma in config["gaussian_noise_scales"]:
    model_config = system_config(config, "gaussian", sigma, input_dim)
    trained = train_system(model_config, config, pools, split,
                           workdir / f"gaussian_sigma{sigma:g}", f"gaussian σ={sigma:g}", encoder)
    val = report.validation_accuracy(workdir / f"gaussian_sigma{sigma:g}" / "metrics.jsonl")
    _log.info("gaussian sigma=%g: validation accuracy %.4f", sigma, val)
    if best is None or val > best[0]:
      best = (val, sigma, model_config, trained)
  return best[1], best[2], best[3]


def train_systems(config: Mapping[str, Any], pools, split, workdir: pathlib.Path,
                  input_dim: int, systems, encoder: nnx.Module | None = None, label: str = ""
                  ) -> tuple[dict[str, tuple], float | None]:
  """Trains ``systems`` in order (``softmax`` needs no training and is skipped).

  Returns:
    ``({system: (ProtoDAConfig, graphdef, state)}, sigma)``: ``gaussian``'s
    noise scale is chosen on the validation intents (None without it). Each
    system trains under ``workdir / system``, logged as ``label + system``.
  """
  trained, sigma = {}, None
  for system in systems:
    if system == "softmax":
      continue
    if system == "gaussian":
      sigma, model_config, state = choose_noise_scale(config, pools, split, workdir, input_dim,
                                                      encoder)
      trained[system] = (model_config, *state)
      continue
    model_config = system_config(config, system, None, input_dim)
    trained[system] = (model_config, *train_system(model_config, config, pools, split,
                                                    workdir / system, label + system, encoder))
  return trained, sigma


# --------------------------------------------------------------------- job


def run_fewshot(config: Mapping[str, Any], workdir: str | os.PathLike, *, data_dir=None,
                cache_dir=None, pretrained=None) -> dict[str, Any]:
  """Trains and evaluates the four systems; returns (and writes) the results."""
  workdir = pathlib.Path(workdir)
  workdir.mkdir(parents=True, exist_ok=True)
  (workdir / "config.json").write_text(json.dumps(config, indent=2))
  d = config["data"]
  splits = loading.load(d["name"], splits=["train", "validation", "test"], data_dir=data_dir,
                        cache_dir=cache_dir, progress=False)
  domain_of = fsd.domain_of_intents([e for s in splits.values() for e in s
                                     if e.intent not in d.get("exclude_intents", ())])
  split = fsd.split_intents(config["split"], domain_of)
  _log.info("intents: %d train, %d validation, %d test", len(split.train),
            len(split.validation), len(split.test))
  embed, encoder = get_embedder(config, split, workdir, pretrained, data_dir, cache_dir)
  pools = make_pools(splits, set(domain_of), embed)
  input_dim = sentence_width(pools["train"])

  trained, sigma = train_systems(config, pools, split, workdir, input_dim, config["systems"],
                                 encoder)
  results = report.evaluate_all(config, pools, split, trained)
  fs_full = config["evaluation"].get("fs_full")
  if fs_full:
    # FS-full over the test intents: K train examples of each, all their test examples.
    results["fs_full"] = report.evaluate_fs_full(
        config, pools, trained, classes=split.test, k_shots=fs_full["k_shot"],
        samplings=fs_full["samplings"], seed=config["evaluation"]["seed"])
  if "confusion" in results:
    view = results.pop("confusion")
    report.write_confusion(workdir, view)
    results["top_confusions"] = report.top_confusions(view)
  results.update(dataset=d["name"], intent_split=dict(
      train=list(split.train), validation=list(split.validation), test=list(split.test)))
  if "gaussian" in trained:
    results["gaussian_noise_scale"] = sigma
  (workdir / "results.json").write_text(json.dumps(results, indent=2))
  report.plot_learning_curves(workdir, [s for s in config["systems"] if s in trained])
  print(report.format_table(results))
  return results
