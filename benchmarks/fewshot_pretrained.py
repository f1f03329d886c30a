"""FS-full accuracy on a pretrained transformer -> results/fewshot_pretrained.json.

The protocol of Casanueva et al. 2020 (EVALUATION.md): for each target
dataset (CLINC150, HWU64, and BANKING77 last and untuned), K = 5 or 10 train
examples of *every* intent (``--samplings``, 10 by default, the same draws for
every system), scored on the whole test split: mean, sd and 95% interval over
the samplings, and paired per-sampling differences between systems. The
sentence encoder is ``--model`` (all-MiniLM-L6-v2 by default; any BERT or
MPNet folder, :mod:`fsnlu_jax.models`); ``--concat-model`` gives the systems
the concatenation of several encoders' unit vectors, as USE+ConveRT
concatenates USE's and ConveRT's (``contrastive``: the tuned ``--model``'s
vectors concatenated with the other, frozen, encoders'). Vectors are cached
per encoder in the workdir, with the checkpoint's sha256 (another checkpoint
is refused). Systems:

* ``centroid``: nearest class mean of the raw (frozen) sentence vectors;
* ``softmax``: the transfer baseline, a linear softmax fit on the supports
  with a penalty *per way* (independent of the number of intents), its
  strength chosen on the validation splits of CLINC150 and HWU64 only
  (``--softmax-grid``, or an earlier choice with ``--softmax-choice``);
* ``protonet``, ``gaussian``, ``protoda``: a linear ProtoNet, plain, with
  Gaussian noise augmentation (scale chosen on validation intents) and with
  ProtoDA's generator, meta-trained on episodes of the *other* two datasets
  (the protocol allows anything but the target for pretraining; 20% of their
  intents are held out to validate on) and selected on those validation
  intents (the best step, step 0 -- the identity, i.e. the centroids --
  included). By default the ProtoNet is 384 -> 384 and starts as the identity
  (``--proto-init identity``; ``lecun``: configs/fewshot.py's random 384 -> 128
  map, ``results/fewshot_pretrained_lecun.json``);
* ``contrastive``: SetFit's recipe (:mod:`fsnlu_jax.fewshot.contrastive`):
  the encoder fine-tuned on pairs of the supports with the cosine-similarity loss
  (``--pair-iterations``, or chosen on CLINC150/HWU64 validation with
  ``--pair-iteration-grid``; ``--pair-steps``; ``--no-pack``), then a logistic head; one
  encoder training per sampling, so on the first ``--finetuned-samplings``
  draws only.

Usage (reruns reuse embeddings and runs)::

  nice -n 10 python benchmarks/fewshot_pretrained.py --data-dir ../shared/data \
      --model ../shared/models/all-MiniLM-L6-v2 --workdir /tmp/fs_pretrained \
      --softmax-grid 0 1e-4 3e-4 1e-3 3e-3 1e-2 3e-2 0.1 --systems centroid softmax protonet
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import pathlib
import sys
import time
from typing import NamedTuple, Sequence

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import _harness  # pylint: disable=g-import-not-at-top,wrong-import-position

# pylint: disable=g-import-not-at-top,wrong-import-position
import jax
import numpy as np
import optax
from flax import nnx

from fsnlu_jax.config import from_dict, load_config, to_dict
from fsnlu_jax.data import episodes, loading
from fsnlu_jax.data.cache import file_digest
from fsnlu_jax.fewshot import (FewshotConfig, Pool, TrainedSystem, evaluate_fs_full, format_table,
                               fs_full_episodes, train_systems)
from fsnlu_jax.fewshot import contrastive
from fsnlu_jax.fewshot import stats as fsstats
from fsnlu_jax.train import metrics as metrics_lib
from fsnlu_jax.models import FewShotModel, ProtoDAConfig, SentenceEncoder
from fsnlu_jax.parallel import make_data_mesh
from fsnlu_jax.train.step import init_train_state
# pylint: enable=g-import-not-at-top,wrong-import-position

ROOT = pathlib.Path(__file__).resolve().parents[1]
DATASETS = {"clinc150": "clinc150", "hwu64": "hwu64/standard", "banking77": "banking77"}
# Casanueva et al. 2020, USE+ConveRT, 10-shot accuracy (EVALUATION.md).
PUBLISHED_10_SHOT = {"banking77": 85.19, "clinc150": 93.26, "hwu64": 85.83}
SYSTEMS = ("centroid", "softmax", "protonet", "gaussian", "protoda", "contrastive")
JOB_SYSTEMS = ("softmax", "protonet", "gaussian", "protoda", "centroid")  # scored by the job's code


class CachedEncoder(NamedTuple):
  """A pretrained encoder whose vectors are cached: ``key`` names its cache
  folder, ``identity`` (folder name and the sha256 of its ``config.json`` and
  weights) is stored with every cached file and checked when it is read."""

  key: str
  identity: str
  encoder: SentenceEncoder


def cached_encoder(path: str) -> CachedEncoder:
  """The encoder in folder ``path`` and its identity (reads and hashes its weights)."""
  folder = pathlib.Path(path)
  weights = next((folder / f for f in ("model.safetensors", "pytorch_model.bin")
                  if (folder / f).is_file()), folder / "model.safetensors")
  identity = json.dumps(dict(model=folder.name, config=file_digest(folder / "config.json"),
                             weights=file_digest(weights)), sort_keys=True)
  return CachedEncoder(folder.name, identity, SentenceEncoder.from_pretrained(path))


def embedded_splits(name: str, encoders: Sequence[CachedEncoder], workdir: pathlib.Path, args,
                    splits=("train", "test")):
  """``{split: Pool}`` (train, test) of dataset ``name``, embedded once per
  encoder and cached; with several encoders the vectors are concatenated
  (``[N, D_1 + D_2 + ...]``, each part unit-length).

  ``splits=("validation",)``: the validation split (its own cache file), where
  the softmax penalty is chosen (CLINC150 and HWU64 only). A cached file made
  by another checkpoint (same folder name, other weights) is an error, never
  served.
  """
  filename = f"{name}.npz" if "train" in splits else f"{name}_{'_'.join(splits)}.npz"
  splits = loading.load(DATASETS[name], splits=list(splits), data_dir=args.data_dir,
                        cache_dir=args.cache_dir or workdir / "tfds", progress=False)
  parts = []
  for cached in encoders:
    cache = workdir / "embeddings" / cached.key / filename
    if not cache.is_file():
      cache.parent.mkdir(parents=True, exist_ok=True)
      start = time.time()
      vectors = {s: cached.encoder.embed([e.text for e in ex]) for s, ex in splits.items()}
      print(f"{name}: embedded {sum(map(len, splits.values()))} utterances with {cached.key} in "
            f"{time.time() - start:.0f}s ({cached.encoder.tokenizer.stats})", flush=True)
      np.savez(cache, __encoder__=np.array(cached.identity), **vectors)
    stored = np.load(cache)
    if "__encoder__" not in stored or str(stored["__encoder__"]) != cached.identity:
      raise ValueError(f"{cache} was embedded by another encoder than {cached.identity} "
                       "(delete it to embed again)")
    parts.append(stored)
  return {s: Pool(ex, np.array([f"{name}:{e.intent}" for e in ex]),
                  dict(x=np.concatenate([part[s] for part in parts], axis=1)))
          for s, ex in splits.items()}


def source_pools(target: str, pools_by_name, seed: int):
  """Meta-training pools from every dataset but ``target``, and their intent split."""
  sources = [n for n in pools_by_name if n != target]
  merge = lambda split: Pool(
      [e for n in sources for e in pools_by_name[n][split].examples],
      np.concatenate([pools_by_name[n][split].labels for n in sources]),
      dict(x=np.concatenate([pools_by_name[n][split].inputs["x"] for n in sources])))
  # The sources' test splits serve as their validation queries.
  pools = {"train": merge("train"), "validation": merge("test")}
  intents = sorted(set(pools["train"].labels))
  rng = np.random.default_rng(seed)
  held = set(rng.choice(intents, size=len(intents) // 5, replace=False))
  split = episodes.IntentSplit(tuple(i for i in intents if i not in held), tuple(sorted(held)),
                               ())
  return sources, pools, split


def centroid_system(dim: int) -> TrainedSystem:
  """An untrained ProtoNet whose embedding is the identity: raw class means."""
  config = ProtoDAConfig(input_dim=dim, proto_dim=dim, proto_hidden=0, augment="none",
                         proto_init="identity")
  model = FewShotModel(config, rngs=nnx.Rngs(0))
  graphdef, state = init_train_state(model, optax.identity(), jax.random.key(0),
                                     make_data_mesh())
  return TrainedSystem(config, graphdef, state, validation={})


def job_config(args, dim: int) -> FewshotConfig:
  """The few-shot config this protocol trains with (configs/fewshot.py, adapted)."""
  config = load_config(f"{ROOT / 'configs' / 'fewshot.py'}:clinc150+minilm")
  config["systems"] = [s for s in JOB_SYSTEMS if s != "centroid"]
  config["training_seeds"] = None
  if args.proto_init == "identity":
    # Start at the centroid classifier of the encoder's own (L2-normalised)
    # space; the scale turns its squared distances (0..4) into usable logits.
    config["protonet"].update(proto_dim=dim, proto_init="identity", scale=args.proto_scale)
  config["episodes"].update(n_way=args.train_ways, k_shot=5, q_query=5, query_split="train",
                            steps=args.steps, generator_warmup=args.steps // 4,
                            eval_every=args.steps // 4, checkpoint_every=args.steps // 4)
  # ``centroid`` is this benchmark's own system, outside the job's schema: it
  # joins the scored systems after the schema check (its model is in ``trained``).
  return dataclasses.replace(from_dict(FewshotConfig, config),
                             systems=tuple(s for s in args.systems if s in JOB_SYSTEMS))


def choose_softmax_penalty(encoders: Sequence[CachedEncoder], workdir: pathlib.Path,
                           config: FewshotConfig, args) -> dict:
  """The softmax baseline's per-way penalty, chosen on CLINC150 and HWU64 only.

  FS-full with supports from the train split, scored on the *validation*
  split (the test splits stay unseen), ``args.samplings`` samplings per
  ``(dataset, K)``; the penalty with the best mean accuracy over the four
  ``(dataset, K)`` cells wins. BANKING77 plays no part.
  """
  table = {}
  for name in ("clinc150", "hwu64"):
    pools = embedded_splits(name, encoders, workdir, args)
    pools["test"] = embedded_splits(name, encoders, workdir, args, ("validation",))["validation"]
    for wd in args.softmax_grid:
      cfg = dataclasses.replace(config, systems=("softmax",),
                                softmax=dataclasses.replace(config.softmax, weight_decay=wd))
      result = evaluate_fs_full(cfg, pools, [{}], k_shots=args.k_shots,
                                samplings=args.samplings, seed=config.evaluation.seed + 1)
      for st in result["settings"]:
        table.setdefault(str(wd), {})[f"{name}/{st['k_shot']}"] = (
            st["systems"]["softmax"]["accuracy"]["mean"])
      print(f"softmax penalty {wd:g} on {name} validation: {table[str(wd)]}", flush=True)
  means = {wd: float(np.mean(list(cells.values()))) for wd, cells in table.items()}
  best = max(means, key=means.get)
  return dict(chosen=float(best), mean_validation_accuracy=means, cells=table,
              how="FS-full on the validation split of CLINC150 and HWU64, "
                  f"K in {args.k_shots}, {args.samplings} samplings; best mean accuracy")


def contrastive_scores(encoder: SentenceEncoder, pools, k: int, seed: int, samplings: int, cfg,
                       workdir: pathlib.Path, label: str) -> dict[str, list]:
  """SetFit-style fine-tuning (``cfg``) on the first ``samplings`` FS-full draws
  (seed ``seed``, the frozen systems' draws), scored on ``pools["test"]``:
  ``{accuracy, macro_f1, seconds}`` per sampling; ``encoder`` (the pretrained
  one) is not modified. Runs resume from ``workdir``. Where the pools' vectors
  are ``encoder``'s concatenated with other frozen encoders' (``--concat-model``),
  the head reads the tuned vectors concatenated with those frozen parts."""
  fixed = fs_full_episodes(pools, k, samplings, seed=seed)
  texts = lambda pool, rows: [pool.examples[r].text for r in rows]
  # [n, D_frozen]: the frozen encoders' part after the tuned encoder's D (empty without any).
  frozen_part = lambda pool, rows: pool.inputs["x"][rows, encoder.dim:]
  test_rows = np.arange(len(pools["test"].examples))
  gold = np.array([fixed.classes.index(c) for c in pools["test"].labels])
  scores = dict(accuracy=[], macro_f1=[], seconds=[])
  for e in range(samplings):
    start = time.time()
    index, mask = fixed.batch.support_index[e], fixed.batch.support_mask[e]
    rows = index[mask]
    labels = np.repeat(np.arange(len(fixed.classes)), index.shape[1])[mask.reshape(-1)]
    encoded = encoder.tokenizer.encode(texts(pools["train"], rows))
    pieces = encoder.tokenizer.pad(encoded, np.arange(len(encoded)), len(encoded))
    tuned = contrastive.finetune_encoder(
        encoder.model, pieces.token_ids, pieces.mask, labels,
        dataclasses.replace(cfg, seed=e), workdir / f"k{k}_s{e}",
        desc=f"{label} K={k} sampling {e} contrastive")
    tuned_encoder = SentenceEncoder(tuned, encoder.tokenizer)
    head = contrastive.fit_head(np.concatenate([tuned_encoder.embed_pieces(encoded),
                                                frozen_part(pools["train"], rows)], 1), labels, cfg)
    test_vectors = np.concatenate([tuned_encoder.embed(texts(pools["test"], test_rows)),
                                   frozen_part(pools["test"], test_rows)], 1)
    pred = np.asarray(head.classes)[np.argmax(head.logits(test_vectors), -1)]
    scores["accuracy"].append(float(np.mean(pred == gold)))
    scores["macro_f1"].append(metrics_lib.macro_f1(pred, gold))
    scores["seconds"].append(round(time.time() - start, 1))
    print(f"{label} K={k} sampling {e}: contrastive accuracy {scores['accuracy'][-1]:.4f} "
          f"({scores['seconds'][-1]}s)", flush=True)
  return scores


def contrastive_config(config: FewshotConfig, args, iterations: int | None = None):
  """SetFit's knobs from the flags; the head is the fair softmax's fit."""
  return contrastive.ContrastiveConfig(
      iterations=iterations or args.pair_iterations, max_steps=args.pair_steps,
      pack=not args.no_pack,
      head_penalty=config.softmax.weight_decay, head_steps=config.softmax.steps,
      head_learning_rate=config.softmax.learning_rate)


def choose_pair_iterations(cached: CachedEncoder, workdir: pathlib.Path,
                           config: FewshotConfig, args) -> dict:
  """SetFit's ``num_iterations`` for ``contrastive``, chosen on CLINC150 and/or HWU64 only.

  FS-full with supports from the train split, scored on the *validation*
  split, the first ``--pair-iteration-samplings`` draws of each ``(dataset,
  K)`` for K in ``--pair-iteration-k-shots`` (one fine-tuning per draw and
  value: on a CPU, K = 10 and 2 draws); the best mean accuracy wins.
  """
  table = {}
  for name in args.pair_iteration_datasets:
    pools = embedded_splits(name, [cached], workdir, args)
    pools["test"] = embedded_splits(name, [cached], workdir, args, ("validation",))["validation"]
    for iterations in args.pair_iteration_grid:
      for k in args.pair_iteration_k_shots:
        scores = contrastive_scores(
            cached.encoder, pools, k, config.evaluation.seed + k, args.pair_iteration_samplings,
            contrastive_config(config, args, iterations),
            workdir / "contrastive_validation" / name / f"it{iterations}",
            label=f"{name} validation, {iterations} iterations,")
        table.setdefault(str(iterations), {})[f"{name}/{k}"] = float(np.mean(scores["accuracy"]))
      print(f"pair iterations {iterations}: {table[str(iterations)]}", flush=True)
  means = {it: float(np.mean(list(cells.values()))) for it, cells in table.items()}
  best = max(means, key=means.get)
  return dict(chosen=int(best), mean_validation_accuracy=means, cells=table,
              how=f"FS-full on the validation split of {args.pair_iteration_datasets}, "
                  f"K in {args.pair_iteration_k_shots}, the first "
                  f"{args.pair_iteration_samplings} samplings; "
                  "best mean accuracy")


def add_contrastive(setting: dict, target: str, pools, encoder: SentenceEncoder,
                    workdir: pathlib.Path, config: FewshotConfig, args) -> None:
  """Scores SetFit-style contrastive fine-tuning on the first ``--finetuned-samplings``
  samplings of ``setting`` (the same draws as the frozen systems) and adds it,
  with its paired differences against the frozen systems on those samplings."""
  k = setting["k_shot"]
  n = min(args.finetuned_samplings, setting["samplings"])
  cfg = contrastive_config(config, args)
  scores = contrastive_scores(encoder, pools, k, setting["seed"], n, cfg,
                              workdir / "contrastive" / target / f"it{cfg.iterations}",
                              label=target)
  per = {s: {m: np.asarray(v)[:, :n] for m, v in d.items()}  # [seeds, first n samplings]
         for s, d in setting["per_sampling"].items()}
  per["contrastive"] = {m: np.asarray(scores[m])[None] for m in ("accuracy", "macro_f1")}
  setting["systems"]["contrastive"] = {m: fsstats.summary(per["contrastive"][m])
                                       for m in ("accuracy", "macro_f1")}
  setting["systems"]["contrastive"]["samplings"] = n
  setting["per_sampling"]["contrastive"] = scores
  setting["contrastive_config"] = dataclasses.asdict(cfg)
  setting["paired_differences_first_samplings"] = fsstats.paired_differences(
      per, pairs=[("contrastive", s) for s in ("softmax", "centroid", "protonet")
                  if s in per])


def run_target(target: str, pools_by_name, encoder: SentenceEncoder, config: FewshotConfig,
               workdir: pathlib.Path, args) -> dict:
  sources, pools, split = source_pools(target, pools_by_name, config.seed)
  dim = pools["train"].inputs["x"].shape[1]
  episodic = [s for s in ("protonet", "protoda", "gaussian") if s in config.systems]
  trained, sigma = train_systems(config, pools, split, workdir / "runs" / target, dim,
                                 episodic, label=f"{target} ")
  trained["centroid"] = centroid_system(dim)
  result = evaluate_fs_full(config, pools_by_name[target], [trained], k_shots=args.k_shots,
                            samplings=args.samplings, seed=config.evaluation.seed)
  result["best_validation_step"] = {s: trained[s].validation.get("step") for s in episodic}
  if "contrastive" in args.systems:
    for setting in result["settings"]:
      add_contrastive(setting, target, pools_by_name[target], encoder, workdir, config, args)
  result.update(target=target, meta_train_sources=sources, meta_train_intents=len(split.train),
                validation_intents=len(split.validation), gaussian_noise_scale=sigma,
                published_10_shot_accuracy=PUBLISHED_10_SHOT[target])
  print(format_table(dict(dataset=target, protocol="fs_full", settings=result["settings"])),
        flush=True)
  return result


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
  p.add_argument("--model", default=str(ROOT.parent / "shared" / "models" / "all-MiniLM-L6-v2"))
  p.add_argument("--workdir", required=True)
  p.add_argument("--concat-model", nargs="*", default=[],
                 help="concatenate these frozen encoders' vectors to --model's, tuned or not "
                      "(as USE+ConveRT concatenates two encoders); not for episodic systems")
  p.add_argument("--cache-dir")
  p.add_argument("--targets", nargs="+", default=list(DATASETS))
  p.add_argument("--k-shots", type=int, nargs="+", default=[5, 10])
  p.add_argument("--samplings", type=int, default=10)
  p.add_argument("--steps", type=int, default=1000, help="meta-training steps per system")
  p.add_argument("--train-ways", type=int, default=20, help="N of meta-training episodes")
  p.add_argument("--proto-init", choices=("identity", "lecun"), default="identity",
                 help="identity: a 384-d linear ProtoNet starting as the identity; lecun: "
                      "configs/fewshot.py's random 384->128 map")
  p.add_argument("--proto-scale", type=float, default=10.0)
  p.add_argument("--out", default="fewshot_pretrained.json")
  p.add_argument("--softmax-grid", type=float, nargs="*", default=[],
                 help="choose the softmax penalty on CLINC150/HWU64 validation first "
                      "(else configs/fewshot.py's)")
  p.add_argument("--softmax-choice", help="a JSON file of an earlier --softmax-grid choice")
  p.add_argument("--systems", nargs="+", default=list(SYSTEMS), choices=SYSTEMS)
  p.add_argument("--finetuned-samplings", type=int, default=3,
                 help="samplings (the first of the frozen systems' draws) for contrastive")
  p.add_argument("--pair-iterations", type=int, default=5,
                 help="SetFit's num_iterations: positive and negative pairs per example")
  p.add_argument("--pair-iteration-grid", type=int, nargs="*", default=[],
                 help="choose --pair-iterations on CLINC150/HWU64 validation first")
  p.add_argument("--pair-iteration-datasets", nargs="+", default=["clinc150", "hwu64"],
                 choices=["clinc150", "hwu64"])
  p.add_argument("--pair-iteration-k-shots", type=int, nargs="+", default=[10])
  p.add_argument("--pair-iteration-samplings", type=int, default=2)
  p.add_argument("--pair-iteration-choice",
                 help="a JSON file of an earlier --pair-iteration-grid choice")
  p.add_argument("--pair-steps", type=int, default=None,
                 help="cap on contrastive steps of 16 pairs (SetFit's max_steps)")
  p.add_argument("--no-pack", action="store_true",
                 help="contrastive steps cut to their longest row instead of packed (how MPNet "
                      "was tuned before stop 24; resumes and extends those runs unchanged)")
  args = p.parse_args(argv)
  workdir = pathlib.Path(args.workdir)
  episodic = set(args.systems) & {"protonet", "gaussian", "protoda"}
  if args.concat_model and episodic:
    p.error(f"--concat-model is for centroid, softmax and contrastive, not {sorted(episodic)}")
  encoders = [cached_encoder(m) for m in [args.model, *args.concat_model]]
  encoder = encoders[0].encoder
  pools_by_name = {n: embedded_splits(n, encoders, workdir, args) for n in DATASETS}
  config = job_config(args, pools_by_name["clinc150"]["train"].inputs["x"].shape[1])
  results = {}
  if args.softmax_grid or args.softmax_choice:
    choice = (json.loads(pathlib.Path(args.softmax_choice).read_text()) if args.softmax_choice
              else choose_softmax_penalty(encoders, workdir, config, args))
    print(f"softmax penalty chosen: {choice['chosen']:g}", flush=True)
    config = dataclasses.replace(config, softmax=dataclasses.replace(
        config.softmax, weight_decay=choice["chosen"]))
    results["softmax_penalty_choice"] = choice
  if "contrastive" in args.systems and (args.pair_iteration_grid or args.pair_iteration_choice):
    choice = (json.loads(pathlib.Path(args.pair_iteration_choice).read_text())
              if args.pair_iteration_choice
              else choose_pair_iterations(encoders[0], workdir, config, args))
    print(f"pair iterations chosen: {choice['chosen']}", flush=True)
    args.pair_iterations = choice["chosen"]
    results["pair_iteration_choice"] = choice
    (workdir / "pair_iteration_choice.json").write_text(json.dumps(choice, indent=1))
  for target in args.targets:
    start = time.time()
    results[target] = run_target(target, pools_by_name, encoder, config, workdir, args)
    results[target]["minutes"] = round((time.time() - start) / 60, 1)
    # Named after --out: runs of other settings may share the workdir's caches and fine-tunings.
    (workdir / f"partial_{pathlib.Path(args.out or 'run').stem}.json").write_text(
        json.dumps(results, indent=1))
  if args.out:
    path = _harness.write_result(args.out, {
        "benchmark": "fs_full_pretrained_encoder", "encoder": args.model,
        "concatenated_with": args.concat_model,
        "protocol": "FS-full (Casanueva et al. 2020): K train examples of every intent, "
                    f"{args.samplings} samplings, whole test split; mean and 95% CI over samplings",
        "config": to_dict(config), "targets": results})
    print(f"wrote {path}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
