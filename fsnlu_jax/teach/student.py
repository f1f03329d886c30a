"""The student: the multitask bi-LSTM trained on real plus generated data, and its scores.

Trained through :mod:`fsnlu_jax.transfer`'s public API (``train_model``,
``encode``, ``model_config_for``, ``predict_probabilities``) from a random
start: vocabulary and label sets from the run's training examples (real and
generated), a fixed number of updates (the same for every system of a run,
whatever its data size), evaluated on the validation examples every
``eval_every`` steps; the state with the lowest validation SemER is kept
(step 0 included). Validation holds no target-intent example
(:func:`fsnlu_jax.teach.protocol.validation_without`).

Scores on the test split (:func:`score`):

* ``target_recall``: the share of the target intent's test utterances
  predicted as the target intent;
* ``target_slot_f1``: conlleval span micro-F1 over the target intent's test
  utterances (:func:`fsnlu_jax.train.metrics.slot_f1` on tag names, so a
  gold slot type the training data never had still counts as missed, and a
  token cut by ``max_length`` is predicted ``O``);
* ``intent_acc``, ``slot_f1``, ``semer``: over the whole test split;
  ``target_semer`` over the target's utterances.
"""

from __future__ import annotations

import dataclasses
import pathlib
import tempfile
from typing import Literal, Sequence

import numpy as np
from flax import nnx

from fsnlu_jax import models, transfer
from fsnlu_jax.data import Example, Vocab, encode_split
from fsnlu_jax.train import metrics as metrics_lib


@dataclasses.dataclass(frozen=True)
class StudentConfig:
  """The student's sizes and training budget (defaults: ``benchmarks/teaching.py``'s)."""

  embed_dim: int = 64
  shared_hidden: int = 64
  task_hidden: int = 64
  slot_decoder: Literal["crf", "softmax"] = "crf"
  dropout: float = 0.2
  learning_rate: float = 3e-3
  batch_size: int = 64
  steps: int = 400
  eval_every: int = 100
  max_length: int = 24  # SNIPS: 0.08% of utterances are longer (cut, counted)

  def transfer_configs(self) -> tuple[transfer.ModelConfig, transfer.OptimConfig,
                                      transfer.TrainConfig]:
    return (transfer.ModelConfig(embed_dim=self.embed_dim, shared_hidden=self.shared_hidden,
                                 task_hidden=self.task_hidden, slot_decoder=self.slot_decoder,
                                 dropout=self.dropout, pooling="final"),
            transfer.OptimConfig(learning_rate=self.learning_rate),
            transfer.TrainConfig(steps=self.steps, log_every=self.eval_every,
                                 eval_every=self.eval_every, checkpoint_every=self.steps,
                                 batch_size=self.batch_size, eval_batch_size=256))


@dataclasses.dataclass
class Student:
  """A trained student: the model at its best validation step and its label sets."""

  model: models.MultitaskBiLSTM
  data: transfer.TransferData
  best_step: int
  validation: dict[str, float]
  max_length: int


def train_student(train: Sequence[Example], validation: Sequence[Example],
                  config: StudentConfig, *, seed: int,
                  workdir: str | pathlib.Path | None = None) -> Student:
  """Trains a student on ``train`` (real and generated), selecting on ``validation``.

  ``workdir``: where the loop keeps its checkpoints and ``metrics.jsonl``
  (default: a temporary folder, removed afterwards). It must be new: the
  loop would resume a run it finds there.
  """
  if workdir is None:
    with tempfile.TemporaryDirectory(prefix="student_") as tmp:
      return train_student(train, validation, config, seed=seed, workdir=tmp)
  vocab = Vocab.build([e.tokens for e in train])
  intents, tags = transfer.label_vocabs(train)
  data = transfer.encode(vocab, intents, tags, train, validation, max_length=config.max_length)
  model_cfg, optim, loop = config.transfer_configs()
  model = models.MultitaskBiLSTM(transfer.model_config_for(model_cfg, vocab, intents, tags),
                                 rngs=nnx.Rngs(seed))
  result = transfer.train_model(model, data, optim=optim, loop=loop, seed=seed,
                                workdir=pathlib.Path(workdir), desc="student", keep_best=True)
  graphdef, _, _ = nnx.split(model, nnx.Param, ...)
  best = nnx.merge(graphdef, result.best_state.params, result.best_state.rest)
  return Student(best, data, int(result.best_step), dict(result.best), config.max_length)


def score(student: Student, test: Sequence[Example], target: str) -> dict[str, float]:
  """Test scores of ``student`` (module docs)."""
  d = student.data
  enc = encode_split(list(test), d.vocab, d.intents, d.tags, max_length=student.max_length,
                     unknown_label="ignore")
  pred_intent, _, pred_ids = transfer.predict_probabilities(student.model, 256)(
      enc.token_ids, enc.mask)
  pred_intents = [d.intents.id_to_label(int(i)) for i in pred_intent]
  pred_tags = []
  for r, e in enumerate(test):
    n = int(enc.lengths[r])
    pred_tags.append(d.tags.decode(pred_ids[r, :n]) + ["O"] * (len(e.tokens) - n))
  is_target = np.array([e.intent == target for e in test])
  if not is_target.any():
    raise ValueError(f"no test example of the target intent {target!r}")
  correct = np.array([p == e.intent for p, e in zip(pred_intents, test)])

  def slots_and_semer(rows) -> tuple[float, float]:
    gold = [test[r].slots for r in rows]
    f1 = metrics_lib.slot_f1([pred_tags[r] for r in rows], gold).f1
    refs = [(test[r].intent, metrics_lib.slot_items(test[r].tokens, test[r].slots))
            for r in rows]
    hyps = [(pred_intents[r], metrics_lib.slot_items(test[r].tokens, pred_tags[r]))
            for r in rows]
    return f1, metrics_lib.semantic_error_rate(refs, hyps)

  target_rows = np.flatnonzero(is_target).tolist()
  target_f1, target_semer = slots_and_semer(target_rows)
  slot_f1, semer = slots_and_semer(range(len(test)))
  return dict(target_recall=float(correct[is_target].mean()), target_slot_f1=target_f1,
              target_semer=target_semer, intent_acc=float(correct.mean()), slot_f1=slot_f1,
              semer=semer, n_test_target=int(is_target.sum()),
              target_false_positives=int(sum(p == target and e.intent != target
                                             for p, e in zip(pred_intents, test))))
