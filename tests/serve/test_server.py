"""``fsnlu serve`` over real HTTP on localhost: answers, batching, and every kind of bad request."""

from __future__ import annotations

import concurrent.futures
import threading

import pytest

from fsnlu_jax import serve
from fsnlu_jax.serve import server
from tests.serve._http import request, serving

LIMITS = server.Limits(max_chars=200, max_batch=8, max_body_bytes=4096, max_wait_ms=100)
TEXTS = ["wake me up at seven", "turn the lights off", "play some jazz", "cancel my alarm"]


@pytest.fixture(scope="module")
def predictor(tiny_pretrain):
  return serve.load_predictor(tiny_pretrain)


@pytest.fixture(scope="module")
def address(predictor):
  with serving(predictor, LIMITS) as addr:
    yield addr


def test_health_and_answers(address, predictor):
  status, body = request(address, "GET", "/health")
  assert status == 200 and body["status"] == "ok" and body["model"]["kind"] == "multitask"
  assert body["limits"]["max_batch"] == 8
  expected = predictor.predict(TEXTS)
  assert request(address, "POST", "/predict", {"texts": TEXTS}) == (200, {"predictions": expected})
  assert request(address, "POST", "/predict", {"text": TEXTS[0]}) == (
      200, {"prediction": expected[0]})


def test_concurrent_requests_are_batched_and_each_gets_its_own_answer(address, predictor):
  expected = {t: predictor.predict([t])[0] for t in TEXTS}
  before = request(address, "GET", "/health")[1]["batches"]
  barrier = threading.Barrier(16)

  def one(i):
    barrier.wait()
    return request(address, "POST", "/predict", {"text": TEXTS[i % 4]})

  with concurrent.futures.ThreadPoolExecutor(16) as pool:
    results = list(pool.map(one, range(16)))
  assert results == [(200, {"prediction": expected[TEXTS[i % 4]]}) for i in range(16)]
  after = request(address, "GET", "/health")[1]["batches"]
  assert after["requests"] - before["requests"] == 16
  assert after["batches"] - before["batches"] < 16  # several requests shared a model call


BAD = [
    ("malformed JSON", dict(raw=b'{"text": "hi"'), 400, "malformed_json"),
    ("not UTF-8", dict(raw=b'{"text": "caf\xe9"}'), 400, "not_utf8"),
    ("NaN", dict(raw=b'{"text": NaN}'), 400, "malformed_json"),
    ("a list", dict(body=["hi"]), 422, "wrong_type"),
    ("text not a string", dict(body={"text": 5}), 422, "wrong_type"),
    ("texts not a list", dict(body={"texts": "hi"}), 422, "wrong_type"),
    ("an item not a string", dict(body={"texts": ["hi", None]}), 422, "wrong_type"),
    ("empty batch", dict(body={"texts": []}), 422, "empty_batch"),
    ("no text", dict(body={"txt": "hi"}), 422, "missing_field"),
    ("unknown field", dict(body={"text": "hi", "user": 3}), 422, "unknown_field"),
    ("no words", dict(body={"text": "   "}), 422, "empty_text"),
    ("text too long", dict(body={"text": "a" * 201}), 413, "text_too_long"),
    ("batch too large", dict(body={"texts": ["hi"] * 9}), 413, "batch_too_large"),
    ("body too large", dict(raw=b'{"text": "' + b"a" * 5000 + b'"}'), 413, "body_too_large"),
]


@pytest.mark.parametrize("what, kwargs, status, code", BAD, ids=[b[0] for b in BAD])
def test_bad_requests_get_a_clear_json_error(address, what, kwargs, status, code):
  got, body = request(address, "POST", "/predict", **kwargs)
  assert (got, body["error"]["code"], body["error"]["status"]) == (status, code, status), what
  assert body["error"]["message"]


def test_other_routes_and_methods_are_json_errors_and_the_server_lives_on(address):
  assert request(address, "GET", "/predict")[1]["error"]["code"] == "method_not_allowed"
  status, body = request(address, "POST", "/nowhere", {"text": "hi"})
  assert status == 404 and "POST /predict" in body["error"]["message"]
  assert request(address, "POST", "/predict", {"text": "play some jazz"})[0] == 200
  assert request(address, "GET", "/health")[1]["status"] == "ok"
