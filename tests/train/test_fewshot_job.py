"""The few-shot job on the tiny config, and its episodic step (one trace, 8 devices = 1)."""

from __future__ import annotations

import json
import pathlib

import jax
import numpy as np
import optax
import pytest
from flax import nnx

from fsnlu_jax import cli, models, parallel, train
from fsnlu_jax.train import fewshot_data, fewshot_job, jsonl, multitask_job

CONFIG = pathlib.Path(__file__).resolve().parents[2] / "configs" / "fewshot.py"


def _pools(seed=0, classes=6, per_class=12, d=5):
  rng = np.random.default_rng(seed)
  labels = np.repeat([f"c{i}" for i in range(classes)], per_class)
  x = (rng.normal(size=(classes, 1, d)) * 3 + rng.normal(size=(classes, per_class, d)))
  return {"train": fewshot_data.Pool([], labels, dict(x=x.reshape(-1, d).astype(np.float32)))}


def _episode_batches(steps: int, pools):
  from fsnlu_jax.data import episodes  # pylint: disable=g-import-not-at-top
  sampler = episodes.EpisodeSampler(pools["train"].labels, n_way=3, k_shot=2, q_query=2)
  return [fewshot_data.episode_batch(sampler.sample(np.random.default_rng(s), 8),
                                     pools["train"], pools["train"], augment=True,
                                     noise_seed=np.arange(8) + 8 * s)
          for s in range(steps)]


def _train(devices: int, batches, traces=None):
  mesh = parallel.make_data_mesh(devices)
  config = models.ProtoDAConfig(input_dim=5, proto_dim=4, proto_hidden=6, augment="generator",
                                n_synthetic=2, noise_dim=3, generator_hidden=4)
  model = models.FewShotModel(config, rngs=nnx.Rngs(0))
  # SGD: Adam divides near-zero gradients (the generator's output layer starts
  # at 0) by their own size, turning rounding-order noise into lr-sized steps.
  opt = optax.sgd(0.1)
  graphdef, state = train.init_train_state(model, opt, jax.random.key(0), mesh)

  def loss(model, batch, rngs):
    if traces is not None:
      traces.append(1)  # Python side effect: runs only while tracing
    return models.episodic_loss(model, batch, rngs)

  step = train.make_train_step(graphdef, loss, opt, mesh)
  losses = []
  for batch in batches:
    state, m = step(state, jax.device_put(batch, parallel.data_sharding(mesh)))
    losses.append(float(m["loss"]))
  return state, losses


def test_episodic_step_on_eight_devices_equals_one_and_traces_once():
  pools = _pools()
  batches = _episode_batches(3, pools)
  traces = []
  eight, eight_losses = _train(8, batches, traces)
  one, one_losses = _train(1, batches)
  assert len(traces) == 1  # compiled once for all steps
  np.testing.assert_allclose(eight_losses, one_losses, rtol=1e-5)
  assert eight_losses[2] != eight_losses[1]  # the steps did train
  for a, b in zip(jax.tree.leaves(eight.params), jax.tree.leaves(one.params)):
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_episode_batch_gathers_rows_and_pads_chunks():
  pools = _pools()
  from fsnlu_jax.data import episodes  # pylint: disable=g-import-not-at-top
  sampler = episodes.EpisodeSampler(pools["train"].labels, n_way=2, k_shot=3, q_query=1)
  batch = sampler.sample(np.random.default_rng(0), 3)
  arrays = fewshot_data.episode_batch(batch, pools["train"], pools["train"], augment=False,
                                      noise_seed=np.arange(3))
  np.testing.assert_array_equal(arrays["support"][1, 0, 2],
                                pools["train"].inputs["x"][batch.support_index[1, 0, 2]])
  assert arrays["augment"].shape == (3,) and not arrays["augment"].any()
  part = fewshot_data.take_episodes(batch, 2, 6)
  assert part.way_mask.shape == (4, 2) and part.way_mask[0].all() and not part.way_mask[1:].any()


def test_intent_split_by_domain_and_conflicting_domains():
  domain_of = {f"i{n}": f"d{n % 5}" for n in range(20)}
  split = fewshot_data.split_intents(dict(by="domain", n_domains=(3, 1, 1), seed=0), domain_of)
  assert {domain_of[i] for i in split.train}.isdisjoint({domain_of[i] for i in split.test})
  with pytest.raises(ValueError, match="split.by"):
    fewshot_data.split_intents(dict(by="speaker", seed=0), domain_of)
  from fsnlu_jax.data import Example  # pylint: disable=g-import-not-at-top
  bad = [Example("a", ("a",), "x", ("O",), "d1", "f:1"), Example("b", ("b",), "x", ("O",), "d2",
                                                                   "f:2")]
  with pytest.raises(ValueError, match="f:2"):
    fewshot_data.domain_of_intents(bad)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, cache_dir):
  workdir = tmp_path_factory.mktemp("fewshot")
  config = multitask_job.load_config(f"{CONFIG}:tiny")
  results = fewshot_job.run_fewshot(config, workdir, cache_dir=cache_dir)
  return workdir, config, results


def test_tiny_job_scores_every_system_on_the_same_episodes(tiny_run):
  workdir, config, results = tiny_run
  assert json.loads((workdir / "results.json").read_text()) == results
  assert [s["n_way_spec"] for s in results["settings"]] == [5, "all"]
  n_test = len(results["intent_split"]["test"])
  assert results["settings"][1]["n_way"] == n_test
  for setting in results["settings"]:
    assert set(setting["systems"]) == set(config["systems"])
    for summary in setting["systems"].values():
      assert summary["accuracy"]["n"] == config["evaluation"]["episodes"]
      assert 0.0 <= summary["macro_f1"]["mean"] <= 1.0
    assert "f1_error_reduction_protoda_vs_gaussian" in setting
  split = results["intent_split"]
  assert not set(split["train"]) & set(split["test"])
  assert results["gaussian_noise_scale"] in config["gaussian_noise_scales"]
  for name in ("learning_curve.png", "confusion.png", "confusion.json"):
    assert (workdir / name).is_file(), name
  counts = np.array(json.loads((workdir / "confusion.json").read_text())["counts"])
  episodes, q = config["evaluation"]["episodes"], config["evaluation"]["q_query"]
  assert counts.sum() == episodes * n_test * q  # every query of every episode, once


def test_tiny_job_logs_and_resumes_without_extra_steps(tiny_run, cache_dir, capsys):
  workdir, config, _ = tiny_run
  before = {run: jsonl.read(workdir / run / "metrics.jsonl") for run in ("protonet", "protoda")}
  assert [r["step"] for r in before["protoda"] if r["kind"] == "train"] == [2, 4, 6]
  assert {r["kind"] for r in before["protoda"]} == {"train", "eval"}
  assert cli.main(["fewshot", "--config", f"{CONFIG}:tiny", "--workdir", str(workdir),
                   "--cache-dir", str(cache_dir), "--pretrained", str(workdir / "encoder")]) == 0
  assert "protoda" in capsys.readouterr().out  # the printed table
  for run, records in before.items():
    assert jsonl.read(workdir / run / "metrics.jsonl") == records


def test_config_variants_and_bad_arg():
  for arg in ("", "tiny", "clinc150", "hwu64"):
    config = multitask_job.load_config(f"{CONFIG}:{arg}" if arg else str(CONFIG))
    assert config["episodes"]["per_step"] % 8 == 0  # shards over the tests' 8 devices
  assert multitask_job.load_config(f"{CONFIG}:clinc150")["split"]["n_domains"] == (6, 2, 2)
  with pytest.raises(ValueError, match="unknown arg"):
    multitask_job.load_config(f"{CONFIG}:imagenet")


def test_tiny_job_reports_fs_full_over_the_test_intents(tiny_run):
  _, config, results = tiny_run
  (setting,) = results["fs_full"]["settings"]
  assert setting["n_way"] == len(results["intent_split"]["test"])
  assert setting["samplings"] == config["evaluation"]["fs_full"]["samplings"]
  for summary in setting["systems"].values():
    assert summary["accuracy"]["n"] == setting["samplings"]
    assert 0.0 < summary["accuracy"]["mean"] <= 1.0


def test_fs_full_episodes_hold_k_shots_of_every_class_and_the_whole_test_split():
  from fsnlu_jax.train import fewshot_report  # pylint: disable=g-import-not-at-top
  labels = np.array(["a"] * 12 + ["b"] * 3 + ["c"] * 8)
  test = np.array(["a", "b", "b", "c", "a", "c", "c"])
  pools = dict(train=fewshot_data.Pool([], labels, {}), test=fewshot_data.Pool([], test, {}))
  fixed = fewshot_report.fs_full_episodes(pools, 5, 3, seed=0)
  b = fixed.batch
  assert fixed.classes == ("a", "b", "c")
  assert b.support_mask.sum(-1).tolist() == [[5, 3, 5]] * 3  # "b" has only 3
  assert not (b.support_index[0] == b.support_index[1]).all()  # samplings differ
  for e in range(3):
    for c, name in enumerate(fixed.classes):
      assert (labels[b.support_index[e, c][b.support_mask[e, c]]] == name).all()
      assert sorted(b.query_index[e, c][b.query_mask[e, c]]) == list(np.flatnonzero(test == name))


def test_tiny_job_with_a_frozen_pretrained_transformer(tmp_path, cache_dir, minilm_dir):
  config = multitask_job.load_config(f"{CONFIG}:tiny+minilm")
  config["evaluation"]["fs_full"] = None
  config["systems"] = ["softmax", "protonet"]
  results = fewshot_job.run_fewshot(config, tmp_path, cache_dir=cache_dir, pretrained=minilm_dir)
  assert not (tmp_path / "encoder").exists()  # nothing trained for the encoder
  five_way = results["settings"][0]["systems"]
  assert five_way["protonet"]["accuracy"]["mean"] > 0.5  # chance is 0.2


def test_tiny_job_fine_tunes_a_pretrained_transformer(tmp_path, cache_dir, minilm_dir):
  cfg = models.BertConfig(vocab_size=30522, hidden_size=8, num_hidden_layers=1,
                          num_attention_heads=2, intermediate_size=16,
                          max_position_embeddings=32)
  folder = models.save_bert(models.BertEncoder(cfg, rngs=nnx.Rngs(0)), tmp_path / "bert")
  (folder / "tokenizer.json").symlink_to(minilm_dir / "tokenizer.json")
  config = multitask_job.load_config(f"{CONFIG}:tiny+minilm")
  config["encoder"].update(finetune=True, learning_rate=1e-3, max_length=16)
  config["evaluation"]["fs_full"] = None
  config["systems"] = ["softmax", "protoda"]
  results = fewshot_job.run_fewshot(config, tmp_path / "run", cache_dir=cache_dir,
                                    pretrained=folder)
  assert set(results["settings"][0]["systems"]) == {"softmax", "protoda"}
  records = jsonl.read(tmp_path / "run" / "protoda" / "metrics.jsonl")
  assert [r["step"] for r in records if r["kind"] == "train"][-1] == config["episodes"]["steps"]


def test_episodic_loss_trains_a_transformer_encoder():
  cfg = models.BertConfig(vocab_size=50, hidden_size=8, num_hidden_layers=1,
                          num_attention_heads=2, intermediate_size=16,
                          max_position_embeddings=8, hidden_dropout_prob=0.0,
                          attention_probs_dropout_prob=0.0)
  model = models.FewShotModel(models.ProtoDAConfig(input_dim=8, proto_dim=4, proto_hidden=0),
                              encoder=models.BertEncoder(cfg, rngs=nnx.Rngs(0)),
                              rngs=nnx.Rngs(1))
  rng = np.random.default_rng(0)
  e, n, k, q, length = 2, 3, 2, 2, 6
  batch = dict(support=rng.integers(1, 50, (e, n, k, length)),
               support_tokens=np.ones((e, n, k, length), bool),
               query=rng.integers(1, 50, (e, n, q, length)),
               query_tokens=np.ones((e, n, q, length), bool),
               support_mask=np.ones((e, n, k), bool), query_mask=np.ones((e, n, q), bool),
               way_mask=np.ones((e, n), bool), augment=np.zeros(e, bool),
               noise_seed=np.arange(e, dtype=np.uint32))
  grads = nnx.grad(lambda m: models.episodic_loss(m, batch, None)[0])(model)
  norm = sum(float(np.abs(g).sum()) for g in jax.tree.leaves(nnx.state(grads.encoder)))
  assert norm > 0
