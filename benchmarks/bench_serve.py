"""A bounded load test of ``fsnlu serve`` on localhost, against the same model called in-process.

* The model: a multitask bi-LSTM workdir (``--checkpoint``), or, by default,
  one written here with untrained weights at ``--sizes`` (embedding, shared,
  task widths) over the tiny synthetic corpus's vocabulary and labels (speed
  does not depend on the weights).
* In-process: :class:`fsnlu_jax.serve.MultitaskPredictor` called directly,
  one utterance per call and ``--batch`` utterances per call (after warm-up).
* Over HTTP: ``fsnlu serve`` in a subprocess (warmed up, compiled functions
  shared with this process through the persistent compilation cache);
  ``C`` = 1, 8, 64 client threads, each with its own keep-alive connection,
  send single-utterance and ``--batch``-utterance requests; requests/s and
  p50/p99 latency; every answer is checked against the in-process one.
* Abuse: ``--bad`` malformed or oversized requests (malformed JSON, not UTF-8,
  wrong types, missing or unknown fields, empty text, text / batch / body
  over the limits) mixed with good ones, sent by 8 clients: every bad one
  must get its 4xx JSON error, every good one its answer, and the server must
  still be up.

The client threads run on the same CPUs as the server: on a small machine
they take a share of it, so the HTTP figures are a floor.

Usage::

  nice -n 10 python benchmarks/bench_serve.py               # writes results/serve.json
  python benchmarks/bench_serve.py --quick --out ''         # a smoke run, nothing written
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import pathlib
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import _harness  # pylint: disable=g-import-not-at-top,wrong-import-position

# pylint: disable=g-import-not-at-top,wrong-import-position
import jax
import numpy as np
from flax import nnx

from fsnlu_jax import models, serve, train, transfer
from fsnlu_jax.config import from_dict, load_config
from fsnlu_jax.data.synthetic import generate_corpus
from fsnlu_jax.data import Vocab
# pylint: enable=g-import-not-at-top,wrong-import-position

LIMITS = dict(max_chars=1000, max_batch=64, max_body_bytes=1 << 20)


def write_model(workdir: pathlib.Path, sizes: tuple[int, int, int]) -> list[str]:
  """A loadable multitask workdir with untrained weights; returns the corpus's test texts."""
  raw = load_config("multitask_pretrain:tiny")
  raw["model"].update(embed_dim=sizes[0], shared_hidden=sizes[1], task_hidden=sizes[2])
  raw["train"].update(steps=1)
  config = from_dict(transfer.TransferConfig, raw)
  corpus = generate_corpus(0, {"train": 40, "validation": 10, "test": 20})
  train_examples, evals = corpus["train"], corpus["validation"]
  vocab = Vocab.build([e.tokens for e in train_examples])
  intents, tags = transfer.label_vocabs([*train_examples, *evals])
  data = transfer.encode(vocab, intents, tags, train_examples, evals, max_length=32)
  model_config = transfer.model_config_for(config.model, vocab, intents, tags)
  transfer.write_setup(workdir, config, model_config, data)
  model = models.MultitaskBiLSTM(model_config, rngs=nnx.Rngs(0))
  optimizer = transfer.make_optimizer(model, config.optim)
  _, state = train.init_train_state(model, optimizer, jax.random.key(0),
                                    jax.make_mesh((1,), ("data",)))
  with train.Checkpointer(workdir / "checkpoints", every=1, async_save=False) as ckpt:
    ckpt.save(state, {}, step=1, force=True)
  return [e.text for e in corpus["test"]]


def percentiles(seconds: list[float]) -> dict[str, float]:
  ms = np.asarray(seconds) * 1e3
  return dict(p50_ms=round(float(np.percentile(ms, 50)), 2),
              p99_ms=round(float(np.percentile(ms, 99)), 2), n=len(ms))


def in_process(predictor, texts: list[str], batch: int, n: int) -> dict[str, dict]:
  out = {}
  for name, size in (("single", 1), (f"batch{batch}", batch)):
    lat = []
    began = time.perf_counter()
    for i in range(n if size == 1 else max(n // 4, 10)):
      chunk = [texts[(i * size + j) % len(texts)] for j in range(size)]
      t0 = time.perf_counter()
      predictor.predict(chunk)
      lat.append(time.perf_counter() - t0)
    wall = time.perf_counter() - began
    out[name] = dict(requests_per_s=round(len(lat) / wall, 1),
                     utterances_per_s=round(len(lat) * size / wall, 1), **percentiles(lat))
  return out


class Client:
  """One keep-alive connection; reconnects when the server closed it."""

  def __init__(self, port: int):
    self.port, self.conn = port, None

  def send(self, method: str, path: str, body: bytes | None) -> tuple[int, bytes]:
    for attempt in range(2):
      if self.conn is None:
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
      try:
        self.conn.request(method, path, body=body,
                          headers={"Content-Type": "application/json"})
        response = self.conn.getresponse()
        data = response.read()
        if response.getheader("connection", "").lower() == "close":
          self.conn.close()
          self.conn = None
        return response.status, data
      except (ConnectionError, http.client.HTTPException):
        self.conn.close()
        self.conn = None
        if attempt:
          raise
    raise AssertionError("unreachable")


def same_answer(got: dict, want: dict) -> bool:
  """Labels and spans equal; scores within 1e-4 (another batch shape may round differently)."""
  keys = ("text", "tokens", "slots", "unknown_words", "truncated")
  return (all(got[k] == want[k] for k in keys)
          and [s["intent"] for s in got["intents"]] == [s["intent"] for s in want["intents"]]
          and np.allclose([s["score"] for s in got["intents"]],
                          [s["score"] for s in want["intents"]], atol=1e-4))


def run_clients(port: int, jobs: list, clients: int) -> tuple[list, float]:
  """Sends ``jobs`` (``(body, check)``) from ``clients`` threads; ``[(latency, ok)]`` and wall s."""
  lock, results, position = threading.Lock(), [None] * len(jobs), [0]

  def worker():
    client = Client(port)
    while True:
      with lock:
        i = position[0]
        position[0] += 1
      if i >= len(jobs):
        return
      body, check = jobs[i]
      t0 = time.perf_counter()
      try:
        status, data = client.send("POST", "/predict", body)
        ok = check(status, data)
      except Exception as error:  # pylint: disable=broad-except
        ok = f"{type(error).__name__}: {error}"
      results[i] = (time.perf_counter() - t0, ok)

  began = time.perf_counter()
  threads = [threading.Thread(target=worker) for _ in range(clients)]
  for t in threads:
    t.start()
  for t in threads:
    t.join()
  return results, time.perf_counter() - began


def good_job(texts: list[str], expected: dict[str, dict]):
  body = json.dumps({"texts": texts} if len(texts) > 1 else {"text": texts[0]}).encode()

  def check(status, data):
    if status != 200:
      return f"status {status}: {data[:200]!r}"
    payload = json.loads(data)
    answers = payload["predictions"] if len(texts) > 1 else [payload["prediction"]]
    return all(same_answer(a, expected[t]) for a, t in zip(answers, texts)) or "wrong answer"

  return body, check


def bad_requests() -> list[tuple[str, bytes, int, str]]:
  """``(what, body, status, code)`` of each kind of bad request."""
  text = lambda n: json.dumps({"text": "a" * n}).encode()
  return [
      ("malformed JSON", b'{"text": "hi"', 400, "malformed_json"),
      ("not UTF-8", b'{"text": "caf\xe9"}', 400, "not_utf8"),
      ("NaN", b'{"text": NaN}', 400, "malformed_json"),
      ("a list", b'["hi"]', 422, "wrong_type"),
      ("text not a string", b'{"text": 5}', 422, "wrong_type"),
      ("item not a string", b'{"texts": ["hi", null]}', 422, "wrong_type"),
      ("empty batch", b'{"texts": []}', 422, "empty_batch"),
      ("no text", b'{"txt": "hi"}', 422, "missing_field"),
      ("unknown field", b'{"text": "hi", "user": 3}', 422, "unknown_field"),
      ("no words", b'{"text": "   "}', 422, "empty_text"),
      ("text too long", text(LIMITS["max_chars"] + 1), 413, "text_too_long"),
      ("batch too large", json.dumps({"texts": ["hi"] * 65}).encode(), 413, "batch_too_large"),
  ]


def abuse(port: int, texts: list[str], expected: dict, n_bad: int, good_every: int,
          big_every: int) -> dict:
  """``n_bad`` bad requests, one good one after each ``good_every``, 8 clients."""
  kinds = bad_requests()
  big = b'{"text": "' + b"a" * (LIMITS["max_body_bytes"] + 1000) + b'"}'
  jobs, what = [], []
  for i in range(n_bad):
    name, body, status, code = (("body too large", big, 413, "body_too_large")
                                if i % big_every == 0 else kinds[i % len(kinds)])

    def check(got, data, status=status, code=code):
      error = json.loads(data).get("error", {})
      return (got == status and error.get("code") == code and bool(error.get("message"))
              ) or f"status {got}, {data[:200]!r}"

    jobs.append((body, check))
    what.append(name)
    if i % good_every == good_every - 1:
      jobs.append(good_job([texts[i % len(texts)]], expected))
      what.append("good")
  results, wall = run_clients(port, jobs, 8)
  failures = [(what[i], r[1]) for i, r in enumerate(results) if r[1] is not True]
  by_kind = {}
  for w, r in zip(what, results):
    by_kind.setdefault(w, [0, 0])
    by_kind[w][0] += 1
    by_kind[w][1] += r[1] is True
  return dict(bad_requests=n_bad, good_requests=what.count("good"), wall_s=round(wall, 1),
              answered_as_expected={k: f"{ok}/{n}" for k, (n, ok) in by_kind.items()},
              failures=len(failures), first_failures=failures[:5])


def free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def wait_up(port: int, proc: subprocess.Popen, timeout: float = 600) -> dict:
  deadline = time.monotonic() + timeout
  while time.monotonic() < deadline:
    if proc.poll() is not None:
      raise RuntimeError(f"fsnlu serve exited with {proc.returncode}")
    try:
      return json.loads(Client(port).send("GET", "/health", None)[1])
    except (ConnectionError, OSError):
      time.sleep(0.5)
  raise TimeoutError("fsnlu serve did not come up")


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--checkpoint", help="a multitask workdir (default: written here)")
  parser.add_argument("--sizes", default="300,256,384",
                      help="embedding, shared and task widths of the written model")
  parser.add_argument("--batch", type=int, default=16, help="utterances per batch request")
  parser.add_argument("--requests", type=int, default=400,
                      help="single-utterance requests per level (batch requests: a quarter)")
  parser.add_argument("--clients", default="1,8,64")
  parser.add_argument("--bad", type=int, default=10_000, help="malformed or oversized requests")
  parser.add_argument("--quick", action="store_true", help="tiny model, few requests")
  parser.add_argument("--out", default="serve.json", help="file in results/; '' for none")
  args = parser.parse_args()
  if args.quick:
    args.sizes, args.requests, args.bad, args.clients = "16,16,16", 40, 200, "1,8"
  cache = tempfile.mkdtemp(prefix="fsnlu_xla_")
  jax.config.update("jax_compilation_cache_dir", cache)  # the server loads what we compiled
  with tempfile.TemporaryDirectory() as tmp:
    texts = None
    workdir = pathlib.Path(args.checkpoint) if args.checkpoint else pathlib.Path(tmp) / "model"
    if not args.checkpoint:
      texts = write_model(workdir, tuple(int(x) for x in args.sizes.split(",")))
    texts = texts or [e.text for e in generate_corpus(0, {"test": 20})["test"]]
    predictor = serve.load_predictor(workdir)
    t0 = time.perf_counter()
    predictor.warmup()
    compile_s = time.perf_counter() - t0
    expected = {t: a for t, a in zip(texts, predictor.predict(texts))}
    local = in_process(predictor, texts, args.batch, args.requests)
    print("in-process", json.dumps(local), flush=True)
    port = free_port()
    env = dict(os.environ, FSNLU_COMPILATION_CACHE=cache, JAX_PLATFORMS="cpu")
    proc = subprocess.Popen([sys.executable, "-m", "fsnlu_jax.cli", "-q", "serve",
                             "--checkpoint", str(workdir), "--port", str(port)], env=env)
    try:
      started = time.perf_counter()
      wait_up(port, proc)
      startup_s = time.perf_counter() - started
      http_results = {}
      for clients in (int(c) for c in args.clients.split(",")):
        for name, size in (("single", 1), (f"batch{args.batch}", args.batch)):
          n = args.requests if size == 1 else max(args.requests // 4, 10)
          n = max(n, clients * 4)
          jobs = [good_job([texts[(i * size + j) % len(texts)] for j in range(size)], expected)
                  for i in range(n)]
          results, wall = run_clients(port, jobs, clients)
          bad = [r[1] for r in results if r[1] is not True]
          row = dict(requests_per_s=round(n / wall, 1), utterances_per_s=round(n * size / wall, 1),
                     **percentiles([r[0] for r in results]), wrong_or_lost=len(bad))
          http_results[f"{name}_c{clients}"] = row
          print(f"http {name} c={clients}", json.dumps(row), flush=True)
      abused = abuse(port, texts, expected, args.bad, good_every=10, big_every=100)
      print("abuse", json.dumps(abused), flush=True)
      health = json.loads(Client(port).send("GET", "/health", None)[1])
      alive = proc.poll() is None and health["status"] == "ok"
    finally:
      proc.terminate()
      proc.wait(60)
  payload = dict(model=dict(predictor.info(), sizes=None if args.checkpoint else args.sizes,
                            checkpoint=args.checkpoint),
                 warmup_compile_s=round(compile_s, 1), server_startup_s=round(startup_s, 1),
                 in_process=local, http=http_results, abuse=abused, server_alive_after=alive,
                 server_batches=health["batches"],
                 note=("server, its batching thread and the client threads share this "
                       "machine's CPUs (and here other jobs' load); nice -n 10"))
  if args.out:
    print("wrote", _harness.write_result(args.out, payload))
  if abused["failures"] or not alive or any(r["wrong_or_lost"] for r in http_results.values()):
    raise SystemExit("FAILED: a request was lost or answered wrongly, or the server died")


if __name__ == "__main__":
  main()
