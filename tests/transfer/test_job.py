"""The multitask pretrain / fine-tune / from-scratch jobs, end to end through the CLI (tiny)."""

from __future__ import annotations

import json
import pathlib
import shutil
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest
from flax import nnx

from fsnlu_jax import cli
from fsnlu_jax import models as mt
from fsnlu_jax import train as train_lib
from fsnlu_jax import transfer as job
from fsnlu_jax.config import from_dict, load_config

_CONFIGS = pathlib.Path(__file__).resolve().parents[2] / "configs"
_PRETRAIN_TINY = f"{_CONFIGS / 'multitask_pretrain.py'}:tiny"  # 20 steps, checkpoints at 10, 20

# `fsnlu` in a subprocess (8 devices, as in this process) whose steps from
# argv[1] on each take argv[2] seconds longer: a window to kill it in.
_SLOW_FSNLU = """
import sys, time
import jax
jax.config.update("jax_num_cpu_devices", 8)
from fsnlu_jax import cli
from fsnlu_jax.transfer import job
slow_from, delay = int(sys.argv[1]), float(sys.argv[2])
epoch_rows = job.epoch_rows
def slow_epoch_rows(step, *args, **kwargs):
  if step >= slow_from:
    time.sleep(delay)
  return epoch_rows(step, *args, **kwargs)
job.epoch_rows = slow_epoch_rows
sys.exit(cli.main(sys.argv[3:]))
"""


def _records(workdir: pathlib.Path) -> list[dict]:
  return [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def pretrained(tiny_pretrain) -> pathlib.Path:
  """``fsnlu pretrain`` of ``_PRETRAIN_TINY``: the session's (tests/serve uses it too)."""
  return tiny_pretrain


@pytest.fixture(scope="module")
def finetuned(pretrained, cache_dir, tmp_path_factory) -> pathlib.Path:
  workdir = tmp_path_factory.mktemp("finetune")
  rc = cli.main(["finetune", "--config", f"{_CONFIGS / 'multitask_finetune.py'}:tiny",
                 "--workdir", str(workdir), "--pretrained", str(pretrained),
                 "--cache-dir", str(cache_dir)])
  assert rc == 0
  return workdir


def _params(workdir: pathlib.Path) -> dict[str, np.ndarray]:
  model, _ = job.load_model(workdir)
  return {"/".join(map(str, path)): np.asarray(v[...])
          for path, v in nnx.to_flat_state(nnx.state(model, nnx.Param))}


def test_batches_cover_each_epoch_and_pad_with_ignored_rows():
  n, b = 10, 4
  epoch = np.concatenate([train_lib.epoch_rows(s, n, b, seed=3) for s in range(3)])
  assert sorted(epoch.tolist()) == list(range(n))
  np.testing.assert_array_equal(train_lib.epoch_rows(5, n, b, seed=3), train_lib.epoch_rows(5, n, b, seed=3))
  assert not np.array_equal(epoch, np.concatenate(
      [train_lib.epoch_rows(s, n, b, seed=3) for s in range(3, 6)]))  # a new order per epoch


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
  graphdef, params, rest = nnx.split(model, nnx.Param, ...)
  # Jitted, as in training (op by op, the bi-LSTM's loss and gradient took 20 s).
  loss = jax.jit(lambda p, batch: fn(nnx.merge(graphdef, p, rest), batch, None))
  small = loss(params, job.padded_batch(split, np.arange(2), 2))
  padded_batch = job.padded_batch(split, np.arange(2), 5)
  assert not padded_batch["mask"][2:].any() and (padded_batch["intent"][2:] == -1).all()
  padded = loss(params, padded_batch)
  np.testing.assert_allclose(padded[0], small[0], rtol=1e-6)
  assert int(padded[1]["count"]) == 2
  grads = jax.jit(jax.grad(lambda p: loss(p, padded_batch)[0]))(params)
  assert all(np.isfinite(g).all() for g in jax.tree.leaves(grads))  # empty rows: no NaN


def test_pretrain_writes_metrics_and_checkpoint(pretrained):
  records = _records(pretrained)
  train = [r for r in records if r["kind"] == "train"]
  evals = [r for r in records if r["kind"] == "eval"]
  assert [r["step"] for r in train] == list(range(2, 21, 2))
  assert train[-1]["loss"] < 0.5 * train[0]["loss"]
  assert [r["step"] for r in evals] == [10, 20]
  assert all(0 <= r["intent_acc"] <= 1 and 0 <= r["slot_f1"] <= 1 for r in evals)
  assert 20 in train_lib.Checkpointer(pretrained / "checkpoints", every=1).all_steps()
  for name in ("config.json", "model_config.json", "vocab.json", "intents.json", "tags.json"):
    assert (pretrained / name).is_file()
  assert (pretrained / "learning_curve.png").stat().st_size > 0  # matplotlib is in the test extra


def test_rerun_resumes_without_extra_steps(pretrained, cache_dir, capsys):
  before = (pretrained / "metrics.jsonl").read_text()
  # As if killed after the last checkpoint, before the plot: the rerun draws it.
  (pretrained / "learning_curve.png").unlink()
  rc = cli.main(["pretrain", "--config", _PRETRAIN_TINY,
                 "--workdir", str(pretrained), "--cache-dir", str(cache_dir)])
  assert rc == 0
  assert (pretrained / "learning_curve.png").stat().st_size > 0
  result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
  # The evaluations travel in the checkpoint: a finished run, rerun, still reports them.
  evals = [r for r in _records(pretrained) if r["kind"] == "eval"]
  final = {k: v for k, v in evals[-1].items() if k != "kind"}
  best = min(evals, key=lambda r: r["semer"])
  assert result["step"] == 20 and result["resumed_from"] == 20
  assert result["eval"] == pytest.approx(final)
  assert result["best_step"] == best["step"] and result["best_eval"]["semer"] == best["semer"]
  assert (pretrained / "metrics.jsonl").read_text() == before


def test_sigkilled_pretrain_resumes_to_the_uninterrupted_result(pretrained, cache_dir,
                                                                 tmp_path, capsys):
  workdir = tmp_path / "killed"
  args = ["pretrain", "--config", _PRETRAIN_TINY, "--workdir", str(workdir),
          "--cache-dir", str(cache_dir)]
  # Steps 10-19 take 0.5 s more each: seconds to land the kill after the
  # step-10 checkpoint is complete (orbax renames its folder to "10" last).
  victim = subprocess.Popen([sys.executable, "-c", _SLOW_FSNLU, "10", "0.5", *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  deadline = time.monotonic() + 120
  while not (workdir / "checkpoints" / "10").is_dir():
    assert victim.poll() is None, f"victim ended early with {victim.returncode}"
    assert time.monotonic() < deadline, "no step-10 checkpoint within 120 s"
    time.sleep(0.02)
  victim.send_signal(signal.SIGKILL)
  assert victim.wait(timeout=60) == -signal.SIGKILL
  logged = [r["step"] for r in _records(workdir)]
  assert max(logged) < 20  # killed before the end

  assert cli.main(args) == 0
  result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
  assert result["resumed_from"] == 10 and result["step"] == 20
  # Metrics: every step once, the same numbers as the uninterrupted run's.
  assert _records(workdir) == _records(pretrained)
  expected, got = _params(pretrained), _params(workdir)
  assert sorted(got) == sorted(expected)
  for name in expected:
    np.testing.assert_array_equal(got[name], expected[name], err_msg=name)


def test_finetune_starts_from_the_pretrained_lower_layers(pretrained, finetuned, cache_dir):
  workdir = finetuned
  assert [r["step"] for r in _records(workdir) if r["kind"] == "eval"] == [5, 10]
  pre, pre_vocab = job.load_model(pretrained)
  # The checkpoint of a fine-tuned model with an extended vocabulary restores.
  tuned, tuned_vocab = job.load_model(workdir, finished=True)
  # The vocabulary is the pretrained one, every id kept, plus the new domain's words.
  n_pre = len(pre_vocab)
  assert tuned_vocab.tokens[:n_pre] == pre_vocab.tokens and len(tuned_vocab) > n_pre
  # ... exactly the fine-tuning utterances' words the pretraining lacked, each with its own id.
  data = load_config(f"{_CONFIGS / 'multitask_finetune.py'}:tiny")["data"]
  train_examples, _ = job.load_examples(from_dict(job.DataConfig, data), cache_dir=cache_dir)
  words = {t for e in train_examples for t in e.tokens}
  assert set(tuned_vocab.tokens[n_pre:]) == words - set(pre_vocab.tokens)
  assert all(tuned_vocab.token_to_id(w) >= n_pre for w in words - set(pre_vocab.tokens))
  assert tuned.config.vocab_size == len(tuned_vocab)
  table = np.asarray(tuned.embedder.embedding[...])
  assert table.shape[0] == len(tuned_vocab)
  intents = json.loads((workdir / "intents.json").read_text())
  assert tuned.intent_out.kernel.shape == (pre.intent_out.kernel.shape[0], len(intents))
  # The tiny config freezes embedder and shared: equal after training means they
  # started equal to the pretrained ones (every pretrained row bit-identical) and the
  # freeze held; the new rows started as the tiny config's "mean" init.
  pre_table = np.asarray(pre.embedder.embedding[...])
  np.testing.assert_array_equal(table[:n_pre], pre_table)
  np.testing.assert_allclose(table[n_pre:], np.broadcast_to(pre_table[4:].mean(axis=0),
                                                            table[n_pre:].shape), atol=1e-6)
  jax.tree.map(np.testing.assert_array_equal, nnx.state(pre.shared, nnx.Param),
               nnx.state(tuned.shared, nnx.Param))
  moved = jax.tree.map(lambda a, b: bool(np.any(np.asarray(a) != np.asarray(b))),
                       nnx.state(pre.intent_lstm, nnx.Param), nnx.state(tuned.intent_lstm, nnx.Param))
  assert any(jax.tree.leaves(moved))  # the unfrozen task layers did train


def test_finetune_without_pretrained_workdir_fails_clearly(tmp_path, capsys):
  rc = cli.main(["finetune", "--config", f"{_CONFIGS / 'multitask_finetune.py'}:tiny",
                 "--workdir", str(tmp_path / "ft"), "--pretrained", str(tmp_path / "nothing")])
  assert rc == 2
  assert "not a multitask workdir" in capsys.readouterr().err


def test_finetune_refuses_a_pretraining_that_stopped_halfway(pretrained, tmp_path, capsys):
  killed = tmp_path / "killed"
  shutil.copytree(pretrained, killed)
  shutil.rmtree(killed / "checkpoints" / "20")  # as if killed between steps 10 and 20
  rc = cli.main(["finetune", "--config", f"{_CONFIGS / 'multitask_finetune.py'}:tiny",
                 "--workdir", str(tmp_path / "ft"), "--pretrained", str(killed)])
  assert rc == 2
  assert "stopped at step 10 of 20" in capsys.readouterr().err
  assert not (tmp_path / "ft").exists()


def test_finetune_refuses_a_workdir_of_another_config(finetuned, pretrained, cache_dir, capsys):
  before = (finetuned / "config.json").read_text()
  rc = cli.main(["finetune", "--config", f"{_CONFIGS / 'multitask_finetune.py'}:tiny",
                 "--set", "optim.learning_rate=0.5", "--workdir", str(finetuned),
                 "--pretrained", str(pretrained), "--cache-dir", str(cache_dir)])
  assert rc == 2
  assert "changed: optim.learning_rate: 0.01 -> 0.5" in capsys.readouterr().err
  assert (finetuned / "config.json").read_text() == before


def test_continue_trains_on_with_more_steps_and_records_the_change(pretrained, cache_dir,
                                                                   tmp_path, capsys):
  workdir = tmp_path / "more"
  shutil.copytree(pretrained, workdir)
  rc = cli.main(["pretrain", "--config", _PRETRAIN_TINY, "--continue", "--set", "train.steps=24",
                 "--workdir", str(workdir), "--cache-dir", str(cache_dir)])
  assert rc == 0
  result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
  assert result["resumed_from"] == 20 and result["step"] == 24 and result["eval"]["step"] == 24
  assert json.loads((workdir / "config.json").read_text())["train"]["steps"] == 24
  history = json.loads((workdir / "config_history.jsonl").read_text())
  assert history["changed"] == ["train.steps"]


def test_scratch_trains_the_finetune_data_from_a_random_start(pretrained, finetuned, cache_dir,
                                                              tmp_path):
  workdir = tmp_path / "scratch"
  rc = cli.main(["scratch", "--config", f"{_CONFIGS / 'multitask_scratch.py'}:tiny",
                 "--workdir", str(workdir), "--cache-dir", str(cache_dir)])
  assert rc == 0
  # The same budget and the same labels as the fine-tuned run, scored alike.
  assert ([r["step"] for r in _records(workdir)] == [r["step"] for r in _records(finetuned)])
  for name in ("intents.json", "tags.json"):
    assert (workdir / name).read_text() == (finetuned / name).read_text()
  scratch, scratch_vocab = job.load_model(workdir)
  pre, pre_vocab = job.load_model(pretrained)
  # Its own vocabulary (the 40 training utterances' words), and no pretrained weights.
  assert len(scratch_vocab) < len(pre_vocab)
  assert scratch.shared.fwd.w_ih[...].shape == pre.shared.fwd.w_ih[...].shape
  assert not np.array_equal(scratch.shared.fwd.w_ih[...], pre.shared.fwd.w_ih[...])
  config = load_config(f"{_CONFIGS / 'multitask_scratch.py'}:tiny")
  assert config["optim"]["freeze"] == [] and config["job"] == "scratch"
