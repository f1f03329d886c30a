"""The student through transfer's API, and its target-intent scores (tiny, synthetic data)."""

from __future__ import annotations

import numpy as np
import pytest

from fsnlu_jax import teach, transfer
from fsnlu_jax.data import encode_split
from fsnlu_jax.data.synthetic import generate_corpus
from fsnlu_jax.train import metrics

TINY = teach.StudentConfig(embed_dim=8, shared_hidden=8, task_hidden=8, steps=8, eval_every=4,
                           batch_size=16, learning_rate=1e-2, slot_decoder="softmax")


@pytest.fixture(scope="module")
def trained():
  corpus = generate_corpus(seed=0, per_intent=dict(train=20, validation=4, test=6))
  pick = lambda split: [e for e in corpus[split] if e.domain == "weather"]
  train, validation, test = pick("train"), pick("validation"), pick("test")
  target = sorted({e.intent for e in train})[0]
  split = teach.novel_intent_split(train, target, shots=10, seed=0)
  student = teach.train_student(split.train + teach.upsample(split.seeds, 20,
                                                             np.random.default_rng(0)),
                                teach.validation_without(validation, target), TINY, seed=0)
  return student, test, target


def test_the_kept_state_is_the_best_validated_one(trained):
  student, _, _ = trained
  assert student.best_step in (0, 4, 8)
  assert student.validation["step"] == student.best_step


def test_scores_are_the_target_intent_rows_of_the_predictions(trained):
  student, test, target = trained
  scores = teach.score(student, test, target)
  d = student.data
  enc = encode_split(test, d.vocab, d.intents, d.tags, max_length=TINY.max_length,
                     unknown_label="ignore")
  intent, _, tags = transfer.predict_probabilities(student.model, 64)(enc.token_ids, enc.mask)
  rows = [r for r, e in enumerate(test) if e.intent == target]
  predicted = [d.intents.id_to_label(int(intent[r])) for r in rows]
  assert scores["target_recall"] == pytest.approx(np.mean([p == target for p in predicted]))
  pred = [d.tags.decode(tags[r, :len(test[r].tokens)]) for r in rows]
  assert scores["target_slot_f1"] == pytest.approx(
      metrics.slot_f1(pred, [test[r].slots for r in rows]).f1)
  assert scores["n_test_target"] == len(rows)
  assert 0 <= scores["intent_acc"] <= 1
  with pytest.raises(ValueError, match="no test example of the target"):
    teach.score(student, [e for e in test if e.intent != target], target)
