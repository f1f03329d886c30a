"""SetFit (PyTorch) against fsnlu_jax's contrastive fine-tuning -> results/setfit_peer.json.

The peer is the ``setfit`` package (Tunstall et al. 2022) on CPU PyTorch; ours
is :mod:`fsnlu_jax.fewshot.contrastive` (the same recipe in JAX). Both get:

* the same checkpoint (all-MiniLM-L6-v2 from ``../shared/models`` by default);
* the same FS-full samplings: the first ``--samplings`` of the 10 draws of
  ``benchmarks/fewshot_pretrained.py`` (same seed, so the same K shots of every
  intent as every system in ``results/fewshot_pretrained*.json``);
* the same pair budget: ``--pair-iterations`` positive and negative pairs per
  example (SetFit's ``num_iterations``), batches of 16, one epoch, body
  learning rate 2e-5, the cosine-similarity loss (SetFit's defaults but for
  ``num_iterations``, which its docs give as the way to set the budget;
  ``--pair-steps`` caps both as SetFit's ``max_steps``);
* the same cores: each sampling runs both systems back to back in this process
  (the order alternates between samplings), PyTorch with as many threads as XLA.

Heads differ as each library ships them: SetFit's scikit-learn
``LogisticRegression`` (its default), ours the per-way-penalised softmax of the
few-shot job (penalty as chosen for ``fewshot_pretrained.json``). SetFit keeps
dropout on while fine-tuning; ours does not (module docs of ``contrastive``).

Per sampling and system: test accuracy and macro-F1 on the whole test split,
``fit_s`` (pairs to fitted head: what a user waits for), ``predict_s`` (the
test split from strings to labels), and for ours ``compile_s``, the train
step's compile time measured apart (ahead-of-time compiles of the same step
for every batch shape of the run, ``step_shapes``, just before it; the run
compiles them again, so ``fit_s - compile_s`` is ours without compilation).
Ours packs a step's sentences several to a row
(:class:`fsnlu_jax.fewshot.contrastive.PairData`); SetFit pads each side of a
batch to its longest sentence, as sentence-transformers does. Speed-ups are
``SetFit fit_s / ours fit_s`` per sampling; accuracies as paired differences.

Usage::

  python benchmarks/setfit_peer.py --target hwu64 --k-shot 10 --samplings 3 \\
      --pair-iterations 5 --workdir /tmp/setfit_peer
  python benchmarks/setfit_peer.py --quick --out ''     # a smoke run, nothing written
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import _harness  # pylint: disable=g-import-not-at-top,wrong-import-position

CPUS = _harness.pin_cpus(_harness.cpus_from_argv(sys.argv))

import dataclasses  # pylint: disable=g-import-not-at-top,wrong-import-position

import jax
import numpy as np
import optax
try:  # the peer
  import datasets as hf_datasets
  import setfit
  import torch
except ModuleNotFoundError as error:
  _harness.peer_missing(error)

from fsnlu_jax.config import load_config
from fsnlu_jax.data import loading
from fsnlu_jax.fewshot import Pool, contrastive, fs_full_episodes
from fsnlu_jax.fewshot import stats as fsstats
from fsnlu_jax.fewshot.encoders import fresh_copy
from fsnlu_jax.models import SentenceEncoder
from fsnlu_jax.parallel import make_data_mesh
from fsnlu_jax.train import batching, init_train_state, make_train_step
from fsnlu_jax.train import metrics as metrics_lib
# pylint: enable=g-import-not-at-top,wrong-import-position

ROOT = pathlib.Path(__file__).resolve().parents[1]
DATASETS = {"clinc150": "clinc150", "hwu64": "hwu64/standard", "banking77": "banking77"}
DRAWS = 10  # fewshot_pretrained.py's samplings: the first --samplings of its draws


def shots_and_test(name: str, k: int, samplings: int, args):
  """``(texts per sampling [P], labels per sampling [P], classes, test texts, test gold)``.

  The draws are ``fewshot_pretrained.py``'s: :func:`fs_full_episodes` with the
  few-shot config's evaluation seed + K, over the same loader order.
  """
  splits = loading.load(DATASETS[name], splits=["train", "test"], data_dir=args.data_dir,
                        cache_dir=args.cache_dir, progress=False)
  pools = {s: Pool(ex, np.array([f"{name}:{e.intent}" for e in ex]), {})
           for s, ex in splits.items()}
  seed = load_config(f"{ROOT / 'configs' / 'fewshot.py'}:clinc150+minilm")["evaluation"]["seed"]
  fixed = fs_full_episodes(pools, k, DRAWS, seed=seed + k)
  shots = []
  for e in range(samplings):
    index, mask = fixed.batch.support_index[e], fixed.batch.support_mask[e]
    rows = index[mask]
    labels = np.repeat(np.arange(len(fixed.classes)), index.shape[1])[mask.reshape(-1)]
    shots.append(([pools["train"].examples[r].text for r in rows], labels))
  gold = np.array([fixed.classes.index(c) for c in pools["test"].labels])
  return shots, fixed.classes, [e.text for e in pools["test"].examples], gold


def score(pred: np.ndarray, gold: np.ndarray) -> dict[str, float]:
  return dict(accuracy=float(np.mean(pred == gold)), macro_f1=metrics_lib.macro_f1(pred, gold))


def step_compile_seconds(encoder, token_ids, mask, pairs, cfg) -> tuple[float, int]:
  """``(seconds, shapes)``: compiling the contrastive train step, ahead of time, for
  every batch shape the run will use (one per packed row count or cut length)."""
  mesh = make_data_mesh()
  data = contrastive.pair_data(encoder.model, pairs, token_ids, mask, mesh)
  first = {}  # shape -> first step with it
  for step in range(pairs.left.shape[0]):
    first.setdefault(tuple(v.shape for v in data(step).values()), step)
  optimizer = optax.adam(cfg.learning_rate)
  graphdef, state = init_train_state(fresh_copy(encoder.model), optimizer, jax.random.key(0), mesh)
  train_step = make_train_step(graphdef, contrastive.cosine_pair_loss, optimizer, mesh)
  start = time.perf_counter()
  for step in first.values():
    train_step.lower(state, batching.to_global(data(step), mesh)).compile()
  return time.perf_counter() - start, len(first)


def run_ours(encoder, texts, labels, test_texts, cfg, workdir: pathlib.Path) -> dict:
  """Contrastive fine-tuning, head and test predictions in JAX (a fresh workdir: no resume)."""
  encoded = encoder.tokenizer.encode(texts)
  pieces = encoder.tokenizer.pad(encoded, np.arange(len(encoded)), len(encoded))
  pairs = contrastive.pair_batches(labels, iterations=cfg.iterations, batch_size=cfg.batch_size,
                                   seed=cfg.seed, max_steps=cfg.max_steps)
  compile_s, shapes = step_compile_seconds(encoder, pieces.token_ids, pieces.mask, pairs, cfg)
  start = time.perf_counter()
  encoded = encoder.tokenizer.encode(texts)
  pieces = encoder.tokenizer.pad(encoded, np.arange(len(encoded)), len(encoded))
  tuned = contrastive.finetune_encoder(encoder.model, pieces.token_ids, pieces.mask, labels, cfg,
                                       workdir, desc="ours contrastive")
  tuned_encoder = SentenceEncoder(tuned, encoder.tokenizer)
  head = contrastive.fit_head(tuned_encoder.embed_pieces(encoded), labels, cfg)
  fit_s = time.perf_counter() - start
  start = time.perf_counter()
  pred = np.asarray(head.classes)[np.argmax(head.logits(tuned_encoder.embed(test_texts)), -1)]
  predict_s = time.perf_counter() - start
  return dict(pred=pred, fit_s=fit_s, predict_s=predict_s, compile_s=compile_s,
              step_shapes=shapes, steps=int(pairs.left.shape[0]), pairs=int(pairs.weight.sum()))


def run_setfit(model_dir: str, texts, labels, test_texts, cfg, seed: int) -> dict:
  """SetFit 1.x as its docs show it: ``Trainer(...).train()`` then ``model.predict``."""
  start = time.perf_counter()
  model = setfit.SetFitModel.from_pretrained(model_dir)
  train_args = setfit.TrainingArguments(
      batch_size=cfg.batch_size, num_iterations=cfg.iterations, num_epochs=1,
      max_steps=cfg.max_steps or -1, body_learning_rate=cfg.learning_rate, seed=seed,
      report_to="none", save_strategy="no", eval_strategy="no", show_progress_bar=False)
  shots = hf_datasets.Dataset.from_dict(dict(text=list(texts), label=[int(y) for y in labels]))
  trainer = setfit.Trainer(model=model, args=train_args, train_dataset=shots)
  trainer.train()
  fit_s = time.perf_counter() - start
  start = time.perf_counter()
  pred = np.asarray(model.predict(list(test_texts), as_numpy=True))
  predict_s = time.perf_counter() - start
  # Its sampler makes num_iterations * P positive and as many negative pairs
  # (setfit/sampler.py), the budget of ours.
  return dict(pred=pred, fit_s=fit_s, predict_s=predict_s)


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
  p.add_argument("--cache-dir")
  p.add_argument("--model", default=str(ROOT.parent / "shared" / "models" / "all-MiniLM-L6-v2"))
  p.add_argument("--workdir", required=True)
  p.add_argument("--target", default="hwu64", choices=sorted(DATASETS))
  p.add_argument("--k-shot", type=int, default=10)
  p.add_argument("--samplings", type=int, default=3)
  p.add_argument("--pair-iterations", type=int, default=5)
  p.add_argument("--pair-steps", type=int, default=None)
  p.add_argument("--head-penalty", type=float, default=3e-3,
                 help="our head's per-way penalty (fewshot_pretrained.json's choice)")
  p.add_argument("--cpus", type=int, help="pin to this many of the least busy CPUs")
  p.add_argument("--quick", action="store_true",
                 help="smoke run: 2 samplings of 2-shot, 4 steps, 64 test utterances")
  p.add_argument("--out", default="setfit_peer.json")
  args = p.parse_args(argv)
  threads = _harness.match_torch_threads(torch)
  k, samplings = (2, 2) if args.quick else (args.k_shot, args.samplings)
  shots, classes, test_texts, gold = shots_and_test(args.target, k, samplings, args)
  if args.quick:
    test_texts, gold = test_texts[:64], gold[:64]
  cfg = contrastive.ContrastiveConfig(iterations=args.pair_iterations,
                                      max_steps=4 if args.quick else args.pair_steps,
                                      head_penalty=args.head_penalty)
  encoder = SentenceEncoder.from_pretrained(args.model)
  workdir = pathlib.Path(args.workdir)
  runs = []
  for e, (texts, labels) in enumerate(shots):
    cfg_e = dataclasses.replace(cfg, seed=e)
    order = ("ours", "setfit") if e % 2 == 0 else ("setfit", "ours")
    run = {}
    for system in order:
      if system == "ours":
        out = run_ours(encoder, texts, labels, test_texts, cfg_e,
                       workdir / f"{args.target}_k{k}_s{e}_{time.time_ns()}")
      else:
        out = run_setfit(args.model, texts, labels, test_texts, cfg_e, seed=e)
      run[system] = dict(score(out.pop("pred"), gold), **{m: round(v, 2) if isinstance(v, float)
                                                          else v for m, v in out.items()})
      print(f"{args.target} K={k} sampling {e} {system}: {run[system]}", flush=True)
    run["order"] = list(order)
    runs.append(run)
  per = {s: {m: np.asarray([r[s][m] for r in runs])[None] for m in ("accuracy", "macro_f1")}
         for s in ("ours", "setfit")}
  speedup = [r["setfit"]["fit_s"] / r["ours"]["fit_s"] for r in runs]
  speedup_warm = [r["setfit"]["fit_s"] / (r["ours"]["fit_s"] - r["ours"]["compile_s"])
                  for r in runs]
  result = dict(
      benchmark="setfit_peer", target=args.target, k_shot=k, samplings=samplings,
      n_way=len(classes), test_examples=len(test_texts), model=args.model,
      setfit_version=setfit.__version__, torch_threads=threads,
      contrastive_config=dataclasses.asdict(cfg), runs=runs,
      systems={s: {m: fsstats.summary(v) for m, v in d.items()} for s, d in per.items()},
      paired_differences=fsstats.paired_differences(per, pairs=[("ours", "setfit")]),
      fit_speedup=dict(per_sampling=[round(x, 2) for x in speedup],
                       min=round(min(speedup), 2), max=round(max(speedup), 2)),
      fit_speedup_without_compile=dict(per_sampling=[round(x, 2) for x in speedup_warm],
                                       min=round(min(speedup_warm), 2),
                                       max=round(max(speedup_warm), 2)))
  print(f"accuracy ours {result['systems']['ours']['accuracy']['mean']:.4f} setfit "
        f"{result['systems']['setfit']['accuracy']['mean']:.4f}; fit speed-up "
        f"{result['fit_speedup']['min']}-{result['fit_speedup']['max']}x", flush=True)
  if args.out:
    print(f"wrote {_harness.write_result(args.out, result, torch=torch)}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
