"""A whole job through the CLI as 2 processes x 4 CPU devices equals it as 1 process x 8.

The processes find each other through ``FSNLU_COORDINATOR`` /
``FSNLU_NUM_PROCESSES`` / ``FSNLU_PROCESS_ID``, which ``fsnlu`` reads before any
device is touched (``cli.main`` -> ``parallel.initialize_distributed``); the
cross-process all-reduces run over gloo (JAX's CPU default). Each process
loads the same data and contributes its own rows of every global batch
(``train.to_global``); checkpoints are written by both (orbax), plain files by
process 0 only.
"""

from __future__ import annotations

import json
import os
import pathlib
import socket
import subprocess
import sys
import time

import numpy as np
from flax import nnx

from fsnlu_jax import cli, transfer
from fsnlu_jax.data import Vocab, loading

_ROOT = pathlib.Path(__file__).resolve().parents[2]
# The child: 4 CPU devices, then the CLI (which joins the run before touching a device).
_CHILD = """
import sys
import jax
jax.config.update("jax_num_cpu_devices", 4)
from fsnlu_jax import cli
sys.exit(cli.main(sys.argv[1:]))
"""


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def _params(workdir: pathlib.Path) -> dict[str, np.ndarray]:
  model, _ = transfer.load_model(workdir)
  return {"/".join(map(str, path)): np.asarray(v[...])
          for path, v in nnx.to_flat_state(nnx.state(model, nnx.Param))}


def _run_two_processes(argv: list[str], timeout: float = 240) -> list[str]:
  """Runs ``fsnlu argv`` as processes 0 and 1; their outputs. A dead peer's survivor is killed."""
  port = _free_port()
  procs = []
  for i in range(2):
    env = dict(os.environ, FSNLU_COORDINATOR=f"localhost:{port}", FSNLU_NUM_PROCESSES="2",
               FSNLU_PROCESS_ID=str(i), JAX_PLATFORMS="cpu")
    procs.append(subprocess.Popen([sys.executable, "-c", _CHILD, *argv], env=env, cwd=_ROOT,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
  deadline, outs = time.time() + timeout, []
  try:
    for p in procs:
      outs.append(p.communicate(timeout=max(1.0, deadline - time.time()))[0])
  finally:
    for p in procs:  # one process failing leaves the other waiting in a collective
      if p.poll() is None:
        p.kill()
        p.wait()
  for i, (p, out) in enumerate(zip(procs, outs)):
    assert p.returncode == 0, f"process {i}:\n{out[-3000:]}"
  return outs


def test_pretrain_as_two_processes_of_four_devices_equals_one_process_of_eight(
    tmp_path, cache_dir):
  # Built once here: two processes building one dataset into one cache would race.
  loading.prepare("synthetic/tiny", cache_dir=cache_dir)
  # 6 steps of the tiny pretraining (CRF decoder), evaluated and saved at 3 and 6.
  args = ["pretrain", "--config", "multitask_pretrain:tiny", "--cache-dir", str(cache_dir)]
  for key, value in dict(steps=6, log_every=3, eval_every=3, checkpoint_every=3).items():
    args += ["--set", f"train.{key}={value}"]
  args.append("--workdir")

  _run_two_processes([*args, str(tmp_path / "two")])
  assert cli.main([*args, str(tmp_path / "one")]) == 0  # this process: 8 devices

  two, one = _params(tmp_path / "two"), _params(tmp_path / "one")
  assert sorted(two) == sorted(one)
  for name in one:  # the all-reduce sums in another order: float rounding only
    np.testing.assert_allclose(two[name], one[name], rtol=1e-4, atol=1e-5, err_msg=name)
  assert json.loads((tmp_path / "two" / "config.json").read_text())["train"]["steps"] == 6
  records = (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()
  assert len(records) == len((tmp_path / "one" / "metrics.jsonl").read_text().splitlines())


def test_rewrite_as_two_processes_trains_and_decodes_like_one(tmp_path, cache_dir, tiny_rewrite):
  """The rewriting job end to end: training, then beam decoding of the replicated weights."""
  from fsnlu_jax import rewrite  # pylint: disable=g-import-not-at-top
  from fsnlu_jax.config import from_dict, load_config  # pylint: disable=g-import-not-at-top
  from fsnlu_jax.train import restore_model  # pylint: disable=g-import-not-at-top

  loading.prepare("synthetic", cache_dir=cache_dir)
  args = ["rewrite", "--config", "rewrite:tiny", "--cache-dir", str(cache_dir), "--workdir"]
  _run_two_processes([*args, str(tmp_path / "two")])
  # One process of 8 devices: the session's `fsnlu rewrite --config rewrite:tiny`
  # (this process, the same cache), run once for every test that reads it.
  workdirs = {"two": tmp_path / "two", "one": tiny_rewrite}

  config = from_dict(rewrite.RewriteConfig, load_config("rewrite:tiny"))
  assert json.loads((tiny_rewrite / "config.json").read_text()) == json.loads(
      (tmp_path / "two" / "config.json").read_text())  # the same job in both
  vocab_size = len(Vocab.load(tiny_rewrite / "vocab.json"))
  models = [restore_model(workdirs[w] / "checkpoints", *rewrite.new_model(config, vocab_size))[0]
            for w in ("two", "one")]
  flat = [dict(nnx.to_flat_state(nnx.state(m, nnx.Param))) for m in models]
  for path, value in flat[1].items():
    if path[-2:] in {("key", "bias"), ("copy_key", "bias")}:
      # Softmax ignores a bias added to every key's score (attention's and the copy
      # attention's): its exact gradient is 0, its computed one rounding noise,
      # which Adam scales up to lr-sized steps.
      continue
    np.testing.assert_allclose(np.asarray(flat[0][path][...]), np.asarray(value[...]),
                               rtol=1e-4, atol=1e-5, err_msg=str(path))
  two, one = (json.loads((workdirs[w] / "results.json").read_text()) for w in ("two", "one"))
  assert two["test"].keys() == one["test"].keys() and two["test_pairs"] == one["test_pairs"]
  # Retrieval does not depend on the weights: the same numbers in both runs.
  assert two["test"]["retrieval_both"] == one["test"]["retrieval_both"]
