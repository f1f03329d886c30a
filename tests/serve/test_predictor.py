"""Predictors loaded once from the tiny jobs' workdirs: answers, spans, compilations, ``fsnlu predict``."""

from __future__ import annotations

import json
import logging
import shutil

import jax
import numpy as np
import pytest

from fsnlu_jax import cli, serve, transfer
from fsnlu_jax.data import pad_batch, tokenize
from fsnlu_jax.data.bio import bio_to_spans

TEXTS = ["wake me up at seven tomorrow", "turn the kitchen lights off", "play some jazz",
         "Snooze!"]


@pytest.fixture(scope="module")
def predictor(tiny_pretrain):
  return serve.load_predictor(tiny_pretrain, top_k=3)


def test_loading_a_workdir_compiles_nothing(tiny_pretrain, caplog):
  # The model used to be initialised at random, op by op, before the restore:
  # ~36 XLA compilations, most of `fsnlu explain`'s 15 s.
  with jax.log_compiles(True), caplog.at_level(logging.WARNING):
    serve.load_predictor(tiny_pretrain)
  compiled = [r.getMessage() for r in caplog.records if "Compiling" in r.getMessage()]
  assert not compiled, compiled[:3]


def test_answers_are_the_models_own_predictions(tiny_pretrain, predictor):
  model, vocab = transfer.load_model(tiny_pretrain)
  words = [tokenize(t) for t in TEXTS]
  ids, mask = pad_batch([vocab.encode(w) for w in words], 8)
  intent, probs, tags = transfer.predict_probabilities(model, 8)(ids, mask)
  answers = predictor.predict(TEXTS)
  for i, a in enumerate(answers):
    assert a["text"] == TEXTS[i] and a["tokens"] == words[i]
    assert a["intent"] == predictor.intents.id_to_label(int(intent[i]))
    top = np.argsort(-probs[i], kind="stable")[:3]
    assert [s["intent"] for s in a["intents"]] == predictor.intents.decode(top)
    np.testing.assert_allclose([s["score"] for s in a["intents"]], probs[i, top], atol=1e-5)
    assert a["confidence"] == a["intents"][0]["score"]
    tagged = predictor.tags.decode(tags[i, :len(words[i])])
    assert [(s["label"], s["start"], s["end"]) for s in a["slots"]] == bio_to_spans(tagged)
    assert a["truncated"] == 0


def test_slots_are_spans_of_the_text_as_written(predictor):
  request = predictor.parse("Wake me at 5am on Friday, please!")
  tags = ["O", "O", "O", "B-time", "O", "B-date", "O", "O", "O"]
  probs = np.full(len(predictor.intents), 1.0 / len(predictor.intents))
  answer = predictor._answer(request, probs, np.array([predictor.tags.encode(t) for t in tags]))
  assert answer["slots"] == [
      dict(label="time", start=3, end=4, text="5am", char_start=11, char_end=14),
      dict(label="date", start=5, end=6, text="Friday", char_start=18, char_end=24)]


def test_one_compilation_per_bucket_then_none(predictor):
  predictor.predict(TEXTS)  # length bucket 8, row bucket 8
  before = serve.compiled_shapes()
  predictor.predict(["dim the lights", "skip this song", "pause the timer"])
  assert serve.compiled_shapes() == before  # the same buckets: nothing compiled again
  # Longer than the largest bucket (32): cut there, and the answer says so.
  words = predictor.buckets[-1] + 5
  answer = predictor.predict([" ".join(["lights"] * words)])[0]  # row bucket 1
  assert answer["truncated"] == 5 and len(answer["tokens"]) == words
  assert serve.compiled_shapes() == before + 1


@pytest.mark.parametrize("item, code", [(5, "wrong_type"), (" \t ", "empty_text"),
                                        ({"text": "hi", "user": 1}, "unknown_field")])
def test_bad_requests_are_named(predictor, item, code):
  with pytest.raises(serve.InputError) as error:
    predictor.predict([item])
  assert error.value.code == code and "texts[0]" in str(error.value)


def test_predict_cli_answers_every_line_in_order(tiny_pretrain, tmp_path, capsys):
  lines = [b"wake me up at seven", b'{"text": "play some jazz"}', b"", b'{"text": 3}',
           b"{not json", b"caf\xe9 lights", b"turn the lights off"]
  path = tmp_path / "in.txt"
  path.write_bytes(b"\n".join(lines) + b"\n")
  out = tmp_path / "out.jsonl"
  assert cli.main(["predict", "--checkpoint", str(tiny_pretrain), "--input", str(path),
                   "--output", str(out)]) == 1  # some lines could not be answered
  assert "4 of 7 lines" in capsys.readouterr().err
  records = [json.loads(line) for line in out.read_text().splitlines()]
  assert len(records) == len(lines)
  assert [r.get("text") for r in records] == [
      "wake me up at seven", "play some jazz", None, None, None, None, "turn the lights off"]
  assert [r["error"]["code"] for r in records if "error" in r] == [
      "empty_text", "wrong_type", "malformed_json", "not_utf8"]
  assert [r["line"] for r in records if "error" in r] == [3, 4, 5, 6]


def test_a_folder_that_is_no_model_is_a_clear_error(tmp_path, tiny_pretrain):
  (tmp_path / "run" / "base").mkdir(parents=True)
  shutil.copy(tiny_pretrain / "model_config.json", tmp_path / "run" / "base")
  (tmp_path / "run" / "base" / "checkpoints").mkdir()
  with pytest.raises(FileNotFoundError, match="model folders are .*base"):
    serve.load_predictor(tmp_path / "run")


def test_rewrite_predictor_shows_candidates_scores_and_the_threshold_that_decided(tiny_rewrite):
  tries = json.loads((tiny_rewrite / "tries.json").read_text())
  thresholds = json.loads((tiny_rewrite / "results.json").read_text())["thresholds"]
  p = serve.load_predictor(tiny_rewrite)
  heard = tries["personal"]["0"][0].replace("e", "", 1)
  personal_user, anyone = p.predict([{"text": heard, "user": 0}, heard])
  assert personal_user["candidates"]["personal"]["text"] in tries["personal"]["0"]
  for answer in (personal_user, anyone):
    assert answer["candidates"]["global"]["text"] in tries["global_trie"]
    assert -1e8 < answer["candidates"]["global"]["score"] <= 0
  assert anyone["candidates"]["personal"] is None and anyone["user"] is None
  # The decision follows the thresholds chosen on validation (+inf: "never", null in JSON).
  tp, tg = (float("inf") if t is None else t for t in thresholds["both"])
  c = personal_user["candidates"]
  expected = ("personal" if c["personal"]["score"] >= tp else
              "global" if c["global"]["score"] >= tg else None)
  assert personal_user["source"] == expected
  json.dumps(personal_user, allow_nan=False)  # strict JSON
  # Thresholds every candidate passes: the personal candidate wins (the preference rule).
  p.threshold_both, p.threshold_global = (-1e8, -1e8), -1e8
  request = p.parse({"text": heard, "user": 0})
  answer = p._decide(request, c)
  assert (answer["rewrite"], answer["source"]) == (c["personal"]["text"], "personal")
  assert answer["thresholds"]["personal"] == -1e8 and "personal candidate" in answer["decision"]
  with pytest.raises(serve.InputError, match="unknown user 99999"):
    p.parse({"text": heard, "user": 99999})


@pytest.mark.parametrize("command", ["predict", "serve"])
def test_commands_document_their_options(command, capsys):
  with pytest.raises(SystemExit) as exit_info:
    cli.main([command, "--help"])
  assert exit_info.value.code == 0
  assert "--checkpoint" in capsys.readouterr().out
