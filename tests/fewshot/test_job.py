"""The few-shot job on the tiny config, and its episodic step (one trace, 8 devices = 1)."""

from __future__ import annotations

import json
import pathlib

import jax
import numpy as np
import optax
import pytest
from flax import nnx

from fsnlu_jax import cli, fewshot, models, parallel, train
from fsnlu_jax.config import load_config
from fsnlu_jax.fewshot import data as fewshot_data
from fsnlu_jax.fewshot import evaluate as fewshot_evaluate
from fsnlu_jax.train import jsonl

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


def _model():
  config = models.ProtoDAConfig(input_dim=5, proto_dim=4, proto_hidden=6, augment="generator",
                                n_synthetic=2, noise_dim=3, generator_hidden=4)
  return models.FewShotModel(config, rngs=nnx.Rngs(0))


def _assert_trained(params, initial, what: str):
  """Every kernel of ``params`` moved away from ``initial`` (the same model before training).

  Kernels, not biases: a ProtoNet's last bias shifts every embedding alike,
  cancels in distances and gets (close to) no gradient. 1e-4 is far above
  rounding noise and well below the smallest move of a kernel in these runs.
  """
  paths = lambda tree: [jax.tree_util.keystr(p) for p, _ in
                        jax.tree_util.tree_leaves_with_path(tree)]
  assert paths(params) == paths(initial), what
  kernels = 0
  for path, a, b in zip(paths(params), jax.tree.leaves(params), jax.tree.leaves(initial)):
    if "kernel" in path:
      kernels += 1
      moved = float(np.abs(np.asarray(a) - np.asarray(b)).max())
      assert moved > 1e-4, f"{what}: {path} did not train (max change {moved:.2g})"
  assert kernels, what


def _train(devices: int, batches, traces=None):
  mesh = parallel.make_data_mesh(devices)
  model = _model()
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
  # The steps did train: the parameters left their initial values (losses of
  # different batches differ even when nothing is learned).
  steps = int(eight.step)  # an int: a failing assert would print the whole state
  assert steps == len(batches)
  _assert_trained(eight.params, nnx.state(_model(), nnx.Param), "8 devices")
  for a, b in zip(jax.tree.leaves(eight.params), jax.tree.leaves(one.params)):
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_episode_batch_gathers_rows():
  pools = _pools()
  from fsnlu_jax.data import episodes  # pylint: disable=g-import-not-at-top
  sampler = episodes.EpisodeSampler(pools["train"].labels, n_way=2, k_shot=3, q_query=1)
  batch = sampler.sample(np.random.default_rng(0), 3)
  arrays = fewshot_data.episode_batch(batch, pools["train"], pools["train"], augment=False,
                                      noise_seed=np.arange(3))
  np.testing.assert_array_equal(arrays["support"][1, 0, 2],
                                pools["train"].inputs["x"][batch.support_index[1, 0, 2]])
  assert arrays["augment"].shape == (3,) and not arrays["augment"].any()


def test_intent_split_by_domain_and_conflicting_domains():
  domain_of = {f"i{n}": f"d{n % 5}" for n in range(20)}
  split = fewshot_data.split_intents(
      fewshot.SplitConfig(by="domain", n_domains=(3, 1, 1), seed=0), domain_of)
  assert {domain_of[i] for i in split.train}.isdisjoint({domain_of[i] for i in split.test})
  with pytest.raises(ValueError, match="split.by"):
    fewshot_data.split_intents(fewshot.SplitConfig(by="speaker", seed=0), domain_of)
  from fsnlu_jax.data import Example  # pylint: disable=g-import-not-at-top
  bad = [Example("a", ("a",), "x", ("O",), "d1", "f:1"), Example("b", ("b",), "x", ("O",), "d2",
                                                                   "f:2")]
  with pytest.raises(ValueError, match="f:2"):
    fewshot_data.domain_of_intents(bad)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, cache_dir):
  """``(workdir, config, results, seen)``: the tiny job, and what its evaluation saw.

  results.json only summarises; ``seen`` holds what it summarises: ``pools``,
  ``split`` and ``trained`` (system -> its ``TrainedSystem``) as given to
  ``evaluate_all``, and ``scored``, every ``score_episodes`` call from then on
  as ``(system, FixedEpisodes, scores)``.
  """
  workdir = tmp_path_factory.mktemp("fewshot")
  config = load_config(f"{CONFIG}:tiny")
  seen = dict(scored=None)
  evaluate_all, score_episodes = fewshot_evaluate.evaluate_all, fewshot_evaluate.score_episodes

  def spy_evaluate_all(config, pools, split, trained_by_seed, **kwargs):
    (trained,) = trained_by_seed  # the tiny config trains one seed
    seen.update(pools=pools, split=split, trained=trained, scored=[])
    return evaluate_all(config, pools, split, trained_by_seed, **kwargs)

  def spy_score_episodes(graphdef, state, fixed, augment, **kwargs):
    scores = score_episodes(graphdef, state, fixed, augment, **kwargs)
    if seen["scored"] is not None:  # training's validation calls come before evaluate_all
      system = "softmax" if graphdef is None else next(
          s for s, t in seen["trained"].items() if t.state is state)
      seen["scored"].append((system, fixed, scores))
    return scores

  # Module attributes: the job (evaluate_all, validation) and score_systems look
  # these names up at call time, so every call goes through the spies.
  with pytest.MonkeyPatch.context() as patch:
    patch.setattr(fewshot_evaluate, "evaluate_all", spy_evaluate_all)
    patch.setattr(fewshot_evaluate, "score_episodes", spy_score_episodes)
    results = fewshot.run_fewshot(config, workdir, cache_dir=cache_dir)
  return workdir, config, results, seen


def _same_episodes(a: fewshot.FixedEpisodes, b: fewshot.FixedEpisodes) -> bool:
  """The same episodes: rows, masks, classes, noise seeds, over pools of the same labels."""
  return (a.classes == b.classes
          and all(np.array_equal(x, y) for x, y in zip(a.batch, b.batch))
          and np.array_equal(a.noise_seed, b.noise_seed)
          and np.array_equal(a.support.labels, b.support.labels)
          and np.array_equal(a.query.labels, b.query.labels))


def test_tiny_job_scores_every_system_on_the_same_episodes(tiny_run):
  workdir, config, results, seen = tiny_run
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

  # The same episodes for every system: each setting's episodes, recomputed
  # from its recorded seed, are what every system was scored on, and its
  # reported numbers are the means over exactly those episodes.
  pools, split = seen["pools"], seen["split"]
  expected = [fewshot_evaluate.fixed_episodes(pools, "test", split.test, s["n_way_spec"],
                                              s["k_shot"], s["q_query"], s["episodes"],
                                              seed=s["seed"]) for s in results["settings"]]
  expected += [fewshot_evaluate.fs_full_episodes(pools, s["k_shot"], s["samplings"],
                                                 seed=s["seed"], classes=split.test)
               for s in results["fs_full"]["settings"]]
  settings = results["settings"] + results["fs_full"]["settings"]
  assert len(seen["scored"]) == len(settings) * len(config["systems"])
  for setting, fixed in zip(settings, expected):
    for system in config["systems"]:
      runs = [scores for s, f, scores in seen["scored"] if s == system and _same_episodes(f, fixed)]
      assert len(runs) == 1, (system, setting["n_way"], setting["k_shot"])
      for metric in ("accuracy", "macro_f1"):
        assert setting["systems"][system][metric]["mean"] == pytest.approx(
            float(np.mean(runs[0][metric])), rel=1e-6), (system, metric)


def test_tiny_job_logs_and_resumes_without_extra_steps(tiny_run, cache_dir, capsys):
  workdir, config, _, _ = tiny_run
  before = {run: jsonl.read(workdir / run / "metrics.jsonl") for run in ("protonet", "protoda")}
  assert [r["step"] for r in before["protoda"] if r["kind"] == "train"] == [2, 4, 6]
  assert {r["kind"] for r in before["protoda"]} == {"train", "eval"}
  assert cli.main(["fewshot", "--config", f"{CONFIG}:tiny", "--workdir", str(workdir),
                   "--cache-dir", str(cache_dir), "--pretrained", str(workdir / "encoder")]) == 0
  assert "protoda" in capsys.readouterr().out  # the printed table
  for run, records in before.items():
    assert jsonl.read(workdir / run / "metrics.jsonl") == records


def test_tiny_job_trains_and_selects_every_episodic_system(tiny_run):
  workdir, config, results, seen = tiny_run
  assert set(seen["trained"]) == set(config["systems"]) - {"softmax"}
  for system, trained in seen["trained"].items():
    # The system is its best validation step's state, the untrained start a candidate.
    run = (f"gaussian_sigma{results['gaussian_noise_scale']:g}" if system == "gaussian"
           else system)
    records = jsonl.read(workdir / run / "metrics.jsonl")
    evals = [r for r in records if r["kind"] == "eval"]
    assert [r["step"] for r in evals] == [0, 3, 6], system
    best = max(evals, key=lambda r: r["accuracy"])  # the first of equals
    assert int(trained.state.step) == trained.validation["step"] == best["step"], system
    assert results["best_validation_step"][0][system] == best["step"]
    # The job builds each model from the config's seed: its parameters before training.
    initial = models.FewShotModel(trained.config, rngs=nnx.Rngs(config["seed"]))
    if best["step"]:
      _assert_trained(trained.state.params, nnx.state(initial, nnx.Param), system)


def test_config_variants_and_bad_arg():
  for arg in ("", "tiny", "clinc150", "hwu64"):
    config = load_config(f"{CONFIG}:{arg}" if arg else str(CONFIG))
    assert config["episodes"]["per_step"] % 8 == 0  # shards over the tests' 8 devices
  assert load_config(f"{CONFIG}:clinc150")["split"]["n_domains"] == (6, 2, 2)
  with pytest.raises(ValueError, match="unknown arg"):
    load_config(f"{CONFIG}:imagenet")


def test_tiny_job_reports_fs_full_over_the_test_intents(tiny_run):
  _, config, results, _ = tiny_run
  (setting,) = results["fs_full"]["settings"]
  assert setting["n_way"] == len(results["intent_split"]["test"])
  assert setting["samplings"] == config["evaluation"]["fs_full"]["samplings"]
  for summary in setting["systems"].values():
    assert summary["accuracy"]["n"] == setting["samplings"]
    assert 0.0 < summary["accuracy"]["mean"] <= 1.0


def test_fs_full_episodes_hold_k_shots_of_every_class_and_the_whole_test_split():
  labels = np.array(["a"] * 12 + ["b"] * 3 + ["c"] * 8)
  test = np.array(["a", "b", "b", "c", "a", "c", "c"])
  pools = dict(train=fewshot_data.Pool([], labels, {}), test=fewshot_data.Pool([], test, {}))
  fixed = fewshot_evaluate.fs_full_episodes(pools, 5, 3, seed=0)
  b = fixed.batch
  assert fixed.classes == ("a", "b", "c")
  assert b.support_mask.sum(-1).tolist() == [[5, 3, 5]] * 3  # "b" has only 3
  assert not (b.support_index[0] == b.support_index[1]).all()  # samplings differ
  for e in range(3):
    for c, name in enumerate(fixed.classes):
      assert (labels[b.support_index[e, c][b.support_mask[e, c]]] == name).all()
      assert sorted(b.query_index[e, c][b.query_mask[e, c]]) == list(np.flatnonzero(test == name))


def test_tiny_job_with_a_frozen_pretrained_transformer(tmp_path, cache_dir, minilm_dir):
  config = load_config(f"{CONFIG}:tiny+minilm")
  config["evaluation"]["fs_full"] = None
  config["systems"] = ["softmax", "protonet"]
  results = fewshot.run_fewshot(config, tmp_path, cache_dir=cache_dir, pretrained=minilm_dir)
  assert not (tmp_path / "encoder").exists()  # nothing trained for the encoder
  five_way = results["settings"][0]["systems"]
  assert five_way["protonet"]["accuracy"]["mean"] > 0.5  # chance is 0.2


def test_tiny_job_fine_tunes_a_pretrained_transformer(tmp_path, cache_dir, minilm_dir):
  cfg = models.BertConfig(vocab_size=30522, hidden_size=8, num_hidden_layers=1,
                          num_attention_heads=2, intermediate_size=16,
                          max_position_embeddings=32)
  folder = models.save_bert(models.BertEncoder(cfg, rngs=nnx.Rngs(0)), tmp_path / "bert")
  (folder / "tokenizer.json").symlink_to(minilm_dir / "tokenizer.json")
  config = load_config(f"{CONFIG}:tiny+minilm")
  config["encoder"].update(finetune=True, learning_rate=1e-3, max_length=16)
  config["evaluation"]["fs_full"] = None
  config["systems"] = ["softmax", "protoda"]
  results = fewshot.run_fewshot(config, tmp_path / "run", cache_dir=cache_dir,
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
  # Jitted, as in training (op by op: 19 s).
  grads = nnx.jit(nnx.grad(lambda m: models.episodic_loss(m, batch, None)[0]))(model)
  norm = sum(float(np.abs(g).sum()) for g in jax.tree.leaves(nnx.state(grads.encoder)))
  assert norm > 0
