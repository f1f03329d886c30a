"""The multitask pretrain / fine-tune jobs, end to end through the CLI (tiny configs)."""

from __future__ import annotations

import json
import pathlib

import jax
import numpy as np
import pytest
from flax import nnx

from fsnlu_jax import cli
from fsnlu_jax.models import _multitask as mt
from fsnlu_jax.train import multitask_job as job

_CONFIGS = pathlib.Path(__file__).resolve().parents[2] / "configs"


def _records(workdir: pathlib.Path) -> list[dict]:
  return [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory, cache_dir) -> pathlib.Path:
  workdir = tmp_path_factory.mktemp("pretrain")
  rc = cli.main(["pretrain", "--config", f"{_CONFIGS / 'multitask_pretrain.py'}:tiny",
                 "--workdir", str(workdir), "--cache-dir", str(cache_dir)])
  assert rc == 0
  return workdir


def test_batches_cover_each_epoch_and_pad_with_ignored_rows():
  n, b = 10, 4
  epoch = np.concatenate([job.batch_rows(s, n, b, seed=3) for s in range(3)])
  assert sorted(epoch.tolist()) == list(range(n))
  np.testing.assert_array_equal(job.batch_rows(5, n, b, seed=3), job.batch_rows(5, n, b, seed=3))
  assert not np.array_equal(epoch, np.concatenate(
      [job.batch_rows(s, n, b, seed=3) for s in range(3, 6)]))  # a new order per epoch


def test_filler_rows_do_not_change_the_loss():
  cfg = mt.MultitaskConfig(vocab_size=12, n_intents=3, n_tags=3, embed_dim=4, shared_hidden=3,
                           task_hidden=3, tag_names=("O", "B-x", "I-x"))
  model = mt.MultitaskBiLSTM(cfg, rngs=nnx.Rngs(0))
  rng = np.random.default_rng(0)
  mask = np.arange(6)[None, :] < np.array([[6], [3]])
  split = type("S", (), dict(token_ids=rng.integers(4, 12, (2, 6)).astype(np.int32), mask=mask,
                             intent=np.array([0, 2], np.int32),
                             slots=np.where(mask, rng.integers(0, 3, (2, 6)), -1).astype(np.int32)))
  fn = job.loss_fn(slot_weight=1.0)
  small = fn(model, job.padded_batch(split, np.arange(2), 2), None)
  padded_batch = job.padded_batch(split, np.arange(2), 5)
  assert not padded_batch["mask"][2:].any() and (padded_batch["intent"][2:] == -1).all()
  padded = fn(model, padded_batch, None)
  np.testing.assert_allclose(padded[0], small[0], rtol=1e-6)
  assert int(padded[1]["count"]) == 2
  graphdef, params, rest = nnx.split(model, nnx.Param, ...)
  grads = jax.grad(lambda p: fn(nnx.merge(graphdef, p, rest), padded_batch, None)[0])(params)
  assert all(np.isfinite(g).all() for g in jax.tree.leaves(grads))  # empty rows: no NaN


def test_pretrain_writes_metrics_and_checkpoint(pretrained):
  records = _records(pretrained)
  train = [r for r in records if r["kind"] == "train"]
  evals = [r for r in records if r["kind"] == "eval"]
  assert [r["step"] for r in train] == list(range(2, 21, 2))
  assert train[-1]["loss"] < 0.5 * train[0]["loss"]
  assert [r["step"] for r in evals] == [10, 20]
  assert all(0 <= r["intent_acc"] <= 1 and 0 <= r["slot_f1"] <= 1 for r in evals)
  assert 20 in job.ckpt_lib.Checkpointer(pretrained / "checkpoints", every=1).all_steps()
  for name in ("config.json", "model_config.json", "vocab.json", "intents.json", "tags.json"):
    assert (pretrained / name).is_file()
  assert (pretrained / "learning_curve.png").stat().st_size > 0  # matplotlib is in the test extra


def test_rerun_resumes_without_extra_steps(pretrained, cache_dir, capsys):
  before = (pretrained / "metrics.jsonl").read_text()
  rc = cli.main(["pretrain", "--config", f"{_CONFIGS / 'multitask_pretrain.py'}:tiny",
                 "--workdir", str(pretrained), "--cache-dir", str(cache_dir)])
  assert rc == 0
  result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
  assert result == {"step": 20, "resumed_from": 20, "eval": None}
  assert (pretrained / "metrics.jsonl").read_text() == before


def test_finetune_starts_from_the_pretrained_lower_layers(pretrained, cache_dir, tmp_path):
  workdir = tmp_path / "finetune"
  rc = cli.main(["finetune", "--config", f"{_CONFIGS / 'multitask_finetune.py'}:tiny",
                 "--workdir", str(workdir), "--pretrained", str(pretrained),
                 "--cache-dir", str(cache_dir)])
  assert rc == 0
  assert [r["step"] for r in _records(workdir) if r["kind"] == "eval"] == [5, 10]
  pre, pre_vocab = job.load_pretrained(pretrained)
  tuned, tuned_vocab = job.load_pretrained(workdir)  # a finetune workdir reads back the same way
  assert tuned_vocab.tokens == pre_vocab.tokens  # the vocabulary is kept
  intents = json.loads((workdir / "intents.json").read_text())
  assert tuned.intent_out.kernel.shape == (pre.intent_out.kernel.shape[0], len(intents))
  # The tiny config freezes embedder and shared: equal after training means they
  # started equal to the pretrained ones and the freeze held.
  for name in ("embedder", "shared"):
    jax.tree.map(np.testing.assert_array_equal, nnx.state(getattr(pre, name), nnx.Param),
                 nnx.state(getattr(tuned, name), nnx.Param))
  moved = jax.tree.map(lambda a, b: bool(np.any(np.asarray(a) != np.asarray(b))),
                       nnx.state(pre.intent_lstm, nnx.Param), nnx.state(tuned.intent_lstm, nnx.Param))
  assert any(jax.tree.leaves(moved))  # the unfrozen task layers did train


def test_finetune_without_pretrained_workdir_fails_clearly(tmp_path, capsys):
  rc = cli.main(["finetune", "--config", f"{_CONFIGS / 'multitask_finetune.py'}:tiny",
                 "--workdir", str(tmp_path / "ft"), "--pretrained", str(tmp_path / "nothing")])
  assert rc == 2
  assert "not a pretraining workdir" in capsys.readouterr().err
