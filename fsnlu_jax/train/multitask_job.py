"""Pretraining, fine-tuning and from-scratch jobs of the multitask bi-LSTM, driven by configs.

A config (``configs/multitask_*.py``, ``get_config(arg) -> dict``) names a
dataset, a domain filter, model sizes, the optimizer and the loop lengths. A
job writes into its ``workdir``:

* ``config.json``, ``model_config.json``: what was run, to rebuild the model;
* ``vocab.json``, ``intents.json``, ``tags.json``: the word and label ids;
* ``checkpoints/``: orbax checkpoints; a rerun resumes from the latest one;
* ``metrics.jsonl``: one JSON object per log or eval event (``kind`` is
  ``"train"`` or ``"eval"``);
* ``learning_curve.png`` when matplotlib (the ``plot`` extra) is installed.

Data order: the batches of epoch ``e`` are a permutation drawn from
``default_rng([seed, e])``, so the batch of step ``s`` is a pure function of
``s`` and a resumed run draws exactly the batches the killed one would have.
The last batch of an epoch is padded to the global batch size with rows whose
mask is all False and labels -1, which the loss skips.

Shapes: ``B`` global batch, ``L`` padded length.

References:
  Goyal, Metallinou & Matsoukas, "Fast and Scalable Expansion of Natural
  Language Understanding Functionality for Intelligent Agents", NAACL 2018.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import json
import logging
import os
import pathlib
import sys
from typing import Any, Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
import tqdm
from flax import nnx

from fsnlu_jax.data import (IGNORE_INDEX, EncodedSplit, Example, LabelVocab, Vocab,
                            encode_split, loading)
from fsnlu_jax.models import _multitask as mt
from fsnlu_jax.parallel import data_sharding, global_batch_from_local, make_data_mesh
from fsnlu_jax.train import checkpoint as ckpt_lib
from fsnlu_jax.train import jsonl
from fsnlu_jax.train import metrics as metrics_lib
from fsnlu_jax import _plotting as plotting
from fsnlu_jax.train.step import TrainState, init_train_state, make_train_step

_log = logging.getLogger(__name__)

_MODEL_KEYS = ("embed_dim", "shared_hidden", "task_hidden", "slot_decoder", "dropout", "pooling")


def load_config(spec: str) -> dict:
  """``path/to/config.py[:arg]`` -> ``get_config(arg)`` of that file.

  Raises:
    FileNotFoundError: no such config file.
  """
  path, _, arg = spec.partition(":")
  if not os.path.isfile(path):
    raise FileNotFoundError(f"config file {path!r} not found")
  module_spec = importlib.util.spec_from_file_location(pathlib.Path(path).stem, path)
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  return module.get_config(arg)


# ------------------------------------------------------------------- data


def select_examples(splits: Mapping[str, Sequence[Example]], data: Mapping[str, Any],
                    ) -> tuple[list[Example], list[Example]]:
  """``(train, eval)`` examples after the config's split and domain filters.

  Args:
    splits: ``{split: examples}`` of the dataset.
    data: the config's ``data`` dict: ``train_splits``, ``eval_split``,
      ``domains`` (keep only these; None keeps all), ``exclude_domains``,
      ``intents`` (optional: keep only these), ``max_train`` (a seeded
      subset of that many training examples).
  """
  intents = data.get("intents")  # optional: keep only these intents (few-shot encoders)

  def keep(e: Example) -> bool:
    return ((data["domains"] is None or e.domain in data["domains"])
            and e.domain not in data["exclude_domains"]
            and (intents is None or e.intent in intents))

  for split in [*data["train_splits"], data["eval_split"]]:
    if split not in splits:
      raise KeyError(f"dataset {data['name']!r} has no split {split!r}; has {sorted(splits)}")
  train = [e for s in data["train_splits"] for e in splits[s] if keep(e)]
  evals = [e for e in splits[data["eval_split"]] if keep(e)]
  if not train or not evals:
    raise ValueError(f"domain filter leaves {len(train)} train / {len(evals)} eval examples")
  if data["max_train"] is not None and data["max_train"] < len(train):
    rows = np.random.default_rng(data.get("subset_seed", 0)).choice(
        len(train), data["max_train"], replace=False)
    train = [train[i] for i in sorted(rows)]
  return train, evals


def label_vocabs(examples: Sequence[Example]) -> tuple[LabelVocab, LabelVocab]:
  """Intent and BIO tag sets of ``examples``."""
  return (LabelVocab.build([e.intent for e in examples]),
          LabelVocab.build_bio([e.slots for e in examples]))


def batch_rows(step: int, n: int, batch_size: int, seed: int) -> np.ndarray:
  """Row indices ``[<= B]`` of the batch of ``step`` (module docs: data order)."""
  per_epoch = -(-n // batch_size)
  epoch, k = divmod(step, per_epoch)
  perm = np.random.default_rng([seed, epoch]).permutation(n)
  return perm[k * batch_size:(k + 1) * batch_size]


def padded_batch(data: EncodedSplit, rows: np.ndarray, batch_size: int) -> dict[str, np.ndarray]:
  """The rows of ``data`` as a ``[B, ...]`` batch; filler rows are all padding."""
  pad = batch_size - len(rows)

  def take(x: np.ndarray, fill) -> np.ndarray:
    out = x[rows]
    return np.concatenate([out, np.full((pad, *x.shape[1:]), fill, x.dtype)]) if pad else out

  return dict(token_ids=take(data.token_ids, 0), mask=take(data.mask, False),
              intent=take(data.intent, IGNORE_INDEX), slots=take(data.slots, IGNORE_INDEX))


def _to_global(batch: dict[str, np.ndarray], mesh: jax.sharding.Mesh) -> dict[str, jax.Array]:
  """Shards a host batch ``[B, ...]`` (the same on every process) over ``data``."""
  if jax.process_count() == 1:
    return jax.device_put(batch, data_sharding(mesh))
  p, n = jax.process_index(), jax.process_count()
  local = jax.tree.map(lambda x: np.array_split(x, n)[p], batch)
  return global_batch_from_local(local, mesh)


# ------------------------------------------------------------------- model


def loss_fn(slot_weight: float) -> Callable:
  """The step's ``loss_fn(model, batch, rngs) -> (loss_sum, aux)``.

  :func:`~fsnlu_jax.models._multitask.multitask_loss` returns batch means; the
  step needs sums. The sum is ``intent_sum + slot_weight * slot_sum`` and
  ``count`` the real (non-filler) rows, so the global loss is the per-row mean.
  """
  def fn(model, batch, rngs):
    _, aux = mt.multitask_loss(model, batch, rngs=rngs, slot_weight=slot_weight)
    count = jnp.sum(jnp.any(jnp.asarray(batch["mask"], bool), axis=1))
    loss_sum = aux["intent_sum"] + slot_weight * aux["slot_sum"]
    return loss_sum, dict(count=count, intent_sum=aux["intent_sum"],
                          intent_count=aux["intent_count"], slot_sum=aux["slot_sum"],
                          slot_count=aux["slot_count"])
  return fn


def make_optimizer(model: mt.MultitaskBiLSTM, optim: Mapping[str, Any]
                   ) -> optax.GradientTransformation:
  """Adam; sub-modules named in ``optim["freeze"]`` get zero updates."""
  adam = optax.adam(optim["learning_rate"])
  if not optim["freeze"]:
    return adam
  labels = jax.tree.map(lambda t: "train" if t else "freeze",
                        mt.trainable_mask(model, optim["freeze"]))
  return optax.multi_transform({"train": adam, "freeze": optax.set_to_zero()}, labels)


def model_config_for(config: Mapping[str, Any], vocab: Vocab, intents: LabelVocab,
                     tags: LabelVocab) -> mt.MultitaskConfig:
  """The model's :class:`~fsnlu_jax.models.MultitaskConfig` from the job config and label sets."""
  return mt.MultitaskConfig(vocab_size=len(vocab), n_intents=len(intents), n_tags=len(tags),
                            tag_names=tags.labels,
                            **{k: config["model"][k] for k in _MODEL_KEYS})


def load_pretrained(pretrained: str | os.PathLike) -> tuple[mt.MultitaskBiLSTM, Vocab]:
  """The model of a pretraining workdir's latest checkpoint, and its vocab."""
  root = pathlib.Path(pretrained)
  if not (root / "model_config.json").is_file():
    raise FileNotFoundError(f"{root} is not a pretraining workdir (no model_config.json)")
  config = json.loads((root / "config.json").read_text())
  model_config = mt.MultitaskConfig(**json.loads((root / "model_config.json").read_text()))
  model = mt.MultitaskBiLSTM(model_config, rngs=nnx.Rngs(0))
  mesh = make_data_mesh()
  graphdef, like = init_train_state(model, make_optimizer(model, config["optim"]),
                                    jax.random.key(0), mesh)
  with ckpt_lib.Checkpointer(root / "checkpoints", every=1) as checkpointer:
    if checkpointer.latest_step is None:
      raise FileNotFoundError(f"no checkpoint in {root / 'checkpoints'}")
    state, _ = checkpointer.restore(like)
  _log.info("pretrained model from %s at step %d", root, int(state.step))
  return nnx.merge(graphdef, state.params, state.rest), Vocab.load(root / "vocab.json")


# --------------------------------------------------------------- evaluation


def make_predict(graphdef: nnx.GraphDef) -> Callable:
  """Jitted ``predict(params, rest, token_ids [B, L], mask [B, L]) -> (intent [B], tags [B, L])``."""
  return jax.jit(lambda params, rest, ids, mask: mt.predict(
      nnx.merge(graphdef, params, rest), ids, mask))


@functools.partial(jax.jit, static_argnums=0)
def _predict_probabilities_step(graphdef: nnx.GraphDef, state, ids, mask):
  model = nnx.merge(graphdef, state)
  out = model(ids, mask)  # one forward pass for the labels and the probabilities
  intent, tags = mt.decode_output(model, out, jnp.asarray(mask, bool))
  return intent, jax.nn.softmax(out.intent_logits), tags


def predict_probabilities(model: mt.MultitaskBiLSTM, batch_size: int) -> Callable:
  """``predict(ids [N, L], mask) -> (intent [N], probs [N, C], tags [N, L])`` as NumPy, in chunks.

  Chunks of ``batch_size`` rows, the last padded, through one jitted step
  per model structure and shape (models of the same sizes share it).
  """
  graphdef, state = nnx.split(model)

  def predict(ids: np.ndarray, mask: np.ndarray):
    results, sizes = [], []
    for start in range(0, len(ids), batch_size):
      rows = slice(start, start + batch_size)
      n = len(ids[rows])
      pad = ((0, batch_size - n), (0, 0))  # the last chunk padded: one compile
      results.append(_predict_probabilities_step(graphdef, state, np.pad(ids[rows], pad),
                                                 np.pad(mask[rows], pad)))
      sizes.append(n)
    # Read back only after every chunk is dispatched: no host sync per chunk.
    out = [[np.asarray(x)[:n] for x in res] for res, n in zip(results, sizes)]
    return tuple(np.concatenate(parts) for parts in zip(*out))

  return predict


def evaluate(predict: Callable, state: TrainState, data: EncodedSplit,
             examples: Sequence[Example], intents: LabelVocab, tags: LabelVocab,
             batch_size: int) -> dict[str, float]:
  """Intent accuracy, slot micro-F1 and SemER of ``state`` on ``data``.

  Every chunk is padded to ``batch_size`` rows so ``predict`` compiles once.
  """
  pred_intent, pred_tags = [], []
  for start in range(0, len(data), batch_size):
    rows = np.arange(start, min(start + batch_size, len(data)))
    batch = padded_batch(data, rows, batch_size)
    i, t = predict(state.params, state.rest, batch["token_ids"], batch["mask"])
    pred_intent.append(np.asarray(i)[:len(rows)])
    pred_tags.append(np.asarray(t)[:len(rows)])
  pred_intent, pred_tags = np.concatenate(pred_intent), np.concatenate(pred_tags)
  # Unknown gold tags (-1) cannot be scored by name: count them as "O".
  gold_tags = np.where(data.mask & (data.slots < 0), tags.encode("O"), data.slots)
  f1 = metrics_lib.slot_f1(pred_tags, gold_tags, tag_names=tags.labels, mask=data.mask)
  refs, hyps = [], []
  for r, e in enumerate(examples):
    n = int(data.lengths[r])
    tokens = e.tokens[:n]
    refs.append((e.intent, metrics_lib.slot_items(tokens, e.slots[:n])))
    hyps.append((intents.id_to_label(int(pred_intent[r])),
                 metrics_lib.slot_items(tokens, tags.decode(pred_tags[r, :n]))))
  return dict(intent_acc=metrics_lib.intent_accuracy(pred_intent, data.intent),
              slot_f1=f1.f1, semer=metrics_lib.semantic_error_rate(refs, hyps))


# --------------------------------------------------------------------- loop


@dataclasses.dataclass
class JobData:
  """Everything the loop reads about the data."""

  vocab: Vocab
  intents: LabelVocab
  tags: LabelVocab
  train: EncodedSplit  # [N, L] training arrays
  eval: EncodedSplit  # [M, L'] validation arrays
  eval_examples: list[Example]  # the M validation examples, for SemER


def _train_record(step: int, m: Mapping[str, jax.Array]) -> dict[str, Any]:
  m = jax.device_get(m)
  return dict(kind="train", step=step, loss=float(m["loss"]),
              intent_loss=float(m["intent_sum"] / max(m["intent_count"], 1)),
              slot_loss=float(m["slot_sum"] / max(m["slot_count"], 1)))


def train_loop(model: mt.MultitaskBiLSTM, data: JobData, config: Mapping[str, Any],
               workdir: pathlib.Path) -> dict[str, Any]:
  """Trains ``model`` per ``config["train"]``, resuming from ``workdir`` if it can.

  Returns:
    ``{"step": final step, "resumed_from": step or None, "eval": last eval
    metrics or None}``.
  """
  t = config["train"]
  mesh = make_data_mesh()
  if t["batch_size"] % mesh.size:
    raise ValueError(f"batch_size {t['batch_size']} must divide by the {mesh.size} devices")
  optimizer = make_optimizer(model, config["optim"])
  graphdef, state = init_train_state(model, optimizer, jax.random.key(config["seed"]), mesh)
  data_state = dict(order="epoch_permutation", seed=config["seed"], n_train=len(data.train))
  checkpointer = ckpt_lib.Checkpointer(workdir / "checkpoints", every=t["checkpoint_every"])
  state, saved = ckpt_lib.restore_or_init(checkpointer, state, data_state)
  if saved != data_state:
    raise ValueError(f"checkpoint was written for data {saved}, this run has {data_state}")
  start = int(state.step)
  result = dict(step=start, resumed_from=start or None, eval=None)
  if start >= t["steps"]:
    _log.info("already finished: step %d of %d", start, t["steps"])
    checkpointer.close()
    return result
  metrics_path = workdir / "metrics.jsonl"
  jsonl.truncate_after(metrics_path, start)
  step_fn = make_train_step(graphdef, loss_fn(config["optim"]["slot_weight"]), optimizer, mesh)
  predict = make_predict(graphdef)
  for step in tqdm.trange(start, t["steps"], desc=config["job"], initial=start,
                          total=t["steps"], disable=None, file=sys.stderr):
    batch = padded_batch(data.train, batch_rows(step, len(data.train), t["batch_size"],
                                                config["seed"]), t["batch_size"])
    state, m = step_fn(state, _to_global(batch, mesh))
    done = step + 1
    if done % t["log_every"] == 0 or done == t["steps"]:
      jsonl.append(metrics_path, _train_record(done, m))
    if done % t["eval_every"] == 0 or done == t["steps"]:
      result["eval"] = evaluate(predict, state, data.eval, data.eval_examples, data.intents,
                                data.tags, t["eval_batch_size"])
      jsonl.append(metrics_path, dict(kind="eval", step=done, **result["eval"]))
      _log.info("step %d: %s", done, result["eval"])
    checkpointer.save(state, data_state, force=done == t["steps"])
  checkpointer.close()
  result["step"] = int(state.step)
  plot_learning_curve(metrics_path, workdir / "learning_curve.png")
  return result


def plot_learning_curve(metrics_path: pathlib.Path, out: pathlib.Path) -> bool:
  """Writes train loss and eval metrics against step; False without matplotlib."""
  plt = plotting.pyplot("learning curve")
  if plt is None:
    return False
  records = jsonl.read(metrics_path)
  train = [r for r in records if r["kind"] == "train"]
  evals = [r for r in records if r["kind"] == "eval"]
  fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
  left.plot([r["step"] for r in train], [r["loss"] for r in train], label="train loss")
  left.set_xlabel("step")
  left.legend()
  for key in ("intent_acc", "slot_f1", "semer"):
    right.plot([r["step"] for r in evals], [r[key] for r in evals], marker="o", label=key)
  right.set_xlabel("step")
  right.legend()
  fig.tight_layout()
  fig.savefig(out)
  plt.close(fig)
  return True


# --------------------------------------------------------------------- jobs


def _load_examples(config: Mapping[str, Any], data_dir, cache_dir
                   ) -> tuple[list[Example], list[Example]]:
  d = config["data"]
  splits = loading.load(d["name"], splits=[*d["train_splits"], d["eval_split"]],
                        data_dir=data_dir, cache_dir=cache_dir, progress=False)
  train, evals = select_examples(splits, d)
  _log.info("%s: %d train, %d eval examples", d["name"], len(train), len(evals))
  return train, evals


def _encode(config, vocab, intents, tags, train, evals) -> JobData:
  max_length = config["data"]["max_length"]
  enc_train = encode_split(train, vocab, intents, tags, max_length=max_length)
  # The eval split may hold labels the training data lacks: -1, counted.
  enc_eval = encode_split(evals, vocab, intents, tags, max_length=max_length,
                          unknown_label="ignore")
  _log.info("train encoding %s; eval encoding %s", enc_train.stats.as_dict(),
            enc_eval.stats.as_dict())
  return JobData(vocab, intents, tags, enc_train, enc_eval, list(evals))


def write_setup(workdir: pathlib.Path, config, model_config: mt.MultitaskConfig,
                data: JobData) -> None:
  """Writes what a workdir needs to be loaded later: the config, the model config, vocabularies."""
  workdir.mkdir(parents=True, exist_ok=True)
  (workdir / "config.json").write_text(json.dumps(config, indent=2))
  (workdir / "model_config.json").write_text(json.dumps(dataclasses.asdict(model_config)))
  data.vocab.save(workdir / "vocab.json")
  data.intents.save(workdir / "intents.json")
  data.tags.save(workdir / "tags.json")


def _train_new_model(config: Mapping[str, Any], workdir: pathlib.Path, train: list[Example],
                     evals: list[Example], label_examples: Sequence[Example]) -> dict[str, Any]:
  """A randomly initialised model, vocab from ``train``, labels from ``label_examples``."""
  vocab = Vocab.build([e.tokens for e in train])
  intents, tags = label_vocabs(label_examples)
  data = _encode(config, vocab, intents, tags, train, evals)
  model_config = model_config_for(config, vocab, intents, tags)
  write_setup(workdir, config, model_config, data)
  model = mt.MultitaskBiLSTM(model_config, rngs=nnx.Rngs(config["seed"]))
  return train_loop(model, data, config, workdir)


def run_pretrain(config: Mapping[str, Any], workdir: str | os.PathLike, *,
                 data_dir=None, cache_dir=None) -> dict[str, Any]:
  """Builds vocab and labels from the filtered data and trains from scratch."""
  train, evals = _load_examples(config, data_dir, cache_dir)
  return _train_new_model(config, pathlib.Path(workdir), train, evals, label_examples=train)


def run_scratch(config: Mapping[str, Any], workdir: str | os.PathLike, *,
                data_dir=None, cache_dir=None) -> dict[str, Any]:
  """The from-scratch baseline of :func:`run_finetune`: same data, random start.

  The examples are selected as a fine-tuning config selects them and the label
  sets are built the same way (the new domain's train *and* eval examples), so
  both runs score the same labels with output layers of the same sizes. The
  vocabulary is the training subset's own: a model that was not pretrained has
  seen no other words. Model sizes come from ``config["model"]``; give them the
  pretrained model's to compare like with like.
  """
  train, evals = _load_examples(config, data_dir, cache_dir)
  return _train_new_model(config, pathlib.Path(workdir), train, evals,
                          label_examples=[*train, *evals])


def run_finetune(config: Mapping[str, Any], workdir: str | os.PathLike,
                 pretrained: str | os.PathLike, *, data_dir=None, cache_dir=None
                 ) -> dict[str, Any]:
  """Moves a pretrained model to the config's domain and trains it.

  The pretrained vocabulary is kept (new words are ``<unk>``, counted); the
  label sets are the new domain's, over its train *and* eval examples, so an
  intent missing from a few-shot training subset is scored as an error rather
  than left out of the metrics.
  """
  workdir = pathlib.Path(workdir)
  pre_model, vocab = load_pretrained(pretrained)
  train, evals = _load_examples(config, data_dir, cache_dir)
  intents, tags = label_vocabs([*train, *evals])
  data = _encode(config, vocab, intents, tags, train, evals)
  model = mt.replace_heads(pre_model, n_intents=len(intents), n_tags=len(tags),
                           tag_names=tags.labels, rngs=nnx.Rngs(config["seed"]),
                           reinit_task_lstms=config["finetune"]["reinit_task_lstms"])
  write_setup(workdir, config, model.config, data)
  return train_loop(model, data, config, workdir)
