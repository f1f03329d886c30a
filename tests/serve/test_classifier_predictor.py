"""A few-shot classifier checkpoint served: ``load_predictor``, ``fsnlu predict`` and HTTP.

The classifier is saved from a tiny random encoder (tests/fixtures/tiny_mpnet)
and a head fitted on four examples, without contrastive training: this tests
the loading and the answers, not the quality.
"""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest

from fsnlu_jax import cli, fewshot, models, serve
from fsnlu_jax.fewshot import classifier, contrastive
from tests.serve._http import request, serving

TINY_MPNET = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "tiny_mpnet"
TEXTS = ["wake me up at seven", "set an alarm for six", "play some jazz", "hello there"]
LABELS = ["alarm", "alarm", "music", "greet"]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> pathlib.Path:
  """A workdir as ``fsnlu fewshot-classifier`` leaves it: ``classifier/`` inside."""
  root = tmp_path_factory.mktemp("fewshot_classifier")
  encoder = models.SentenceEncoder.from_pretrained(TINY_MPNET)
  head = contrastive.fit_head(encoder.embed(TEXTS), LABELS,
                              contrastive.ContrastiveConfig(head_steps=20))
  classifier.save_classifier(root / "classifier", encoder, TINY_MPNET, head, dict(examples=4))
  return root


@pytest.fixture(scope="module")
def predictor(workdir):
  return serve.load_predictor(workdir / "classifier", top_k=2)


def test_answers_are_the_classifiers_own_probabilities(workdir, predictor):
  assert isinstance(predictor, serve.ClassifierPredictor)
  assert serve.load_predictor(workdir).source == predictor.source  # the workdir above it too
  expected = fewshot.load_classifier(workdir / "classifier").probabilities(TEXTS)
  labels = predictor.classifier.labels
  answers = predictor.predict(TEXTS + [{"text": "play jazz"}])
  assert len(answers) == 5 and answers[4]["text"] == "play jazz"
  for a, p in zip(answers, expected):
    top = np.argsort(-p, kind="stable")[:2]
    assert [s["intent"] for s in a["intents"]] == [labels[i] for i in top]
    np.testing.assert_allclose([s["score"] for s in a["intents"]], p[top], atol=1e-5)
    assert a["intent"] == a["intents"][0]["intent"] and a["confidence"] == a["intents"][0]["score"]
    assert a["slots"] == []
  compiled = predictor.classifier.encoder._jitted._cache_size()  # pylint: disable=protected-access
  predictor.predict(["turn the radio on", "what time is it", "set a timer"])  # buckets seen
  assert predictor.classifier.encoder._jitted._cache_size() == compiled  # nothing compiled again
  # One utterance alone gets the same answer as in a batch (row buckets pad, nothing else).
  np.testing.assert_allclose(predictor.predict([TEXTS[2]])[0]["intents"][0]["score"],
                             answers[2]["intents"][0]["score"], atol=1e-5)
  for item, code in ((5, "wrong_type"), ("  ", "empty_text"), ({"text": "x", "user": 1},
                                                                 "unknown_field")):
    with pytest.raises(serve.InputError) as error:
      predictor.predict([item])
    assert error.value.code == code


def test_predict_cli_answers_with_a_classifier(workdir, predictor, tmp_path, capsys):
  path = tmp_path / "in.txt"
  path.write_text("wake me up at seven\n\n{\"text\": \"play some jazz\"}\n")
  out = tmp_path / "out.jsonl"
  assert cli.main(["predict", "--checkpoint", str(workdir), "--input", str(path),
                   "--output", str(out), "--top-k", "2"]) == 1  # the blank line
  assert "1 of 3 lines" in capsys.readouterr().err
  records = [json.loads(line) for line in out.read_text().splitlines()]
  assert [r.get("intent") for r in records] == [
      predictor.predict([t])[0]["intent"] for t in ("wake me up at seven",)] + [
          None, predictor.predict(["play some jazz"])[0]["intent"]]
  assert records[1]["error"]["code"] == "empty_text"


def test_http_serves_a_classifier(predictor):
  with serving(predictor) as address:
    status, body = request(address, "GET", "/health")
    assert status == 200 and body["model"]["kind"] == "classifier"
    assert request(address, "POST", "/predict", {"texts": TEXTS}) == (
        200, {"predictions": predictor.predict(TEXTS)})
