"""A new domain's words (vocabulary extension), word dropout, and the convergence measure."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from fsnlu_jax import models as mt
from fsnlu_jax import transfer
from fsnlu_jax.data import UNK_ID, Vocab

_CFG = mt.MultitaskConfig(vocab_size=10, n_intents=2, n_tags=3, tag_names=("O", "B-x", "I-x"),
                          embed_dim=4, shared_hidden=3, task_hidden=3, dropout=0.0)


def _flat(module) -> dict[str, np.ndarray]:
  return {"/".join(map(str, p)): np.asarray(v[...])
          for p, v in nnx.to_flat_state(nnx.state(module, nnx.Param))}


def test_vocab_extend_keeps_every_id_and_appends_new_words():
  old = Vocab.build([["set", "an", "alarm"], ["set", "a", "timer"]])
  new = old.extend([["turn", "on", "the", "lights"], ["turn", "the", "alarm", "off"], ["x"]],
                   min_count=1)
  assert new.tokens[:len(old)] == old.tokens
  assert new.tokens[len(old):] == ("the", "turn", "lights", "off", "on", "x")  # by count, then name
  assert all(new.token_to_id(w) == old.token_to_id(w) for w in old.tokens)
  assert old.extend([["x", "x", "y"]], min_count=2).tokens[len(old):] == ("x",)
  assert old.extend([["set", "alarm"]]) == old  # nothing new: the same vocabulary


@pytest.mark.parametrize("init", mt.NEW_ROWS)
def test_extended_model_keeps_pretrained_rows_and_maps_new_words_to_new_rows(init):
  pre_vocab = Vocab.build([["set", "an", "alarm"], ["wake", "me", "up"]])
  assert len(pre_vocab) == _CFG.vocab_size
  pre = mt.MultitaskBiLSTM(_CFG, rngs=nnx.Rngs(0))
  vocab = pre_vocab.extend([["set", "the", "lights"], ["dim", "the", "lights"]])
  model = mt.extend_vocabulary(pre, len(vocab), init=init, rngs=nnx.Rngs(1))
  old, table = np.asarray(pre.embedder.embedding[...]), np.asarray(model.embedder.embedding[...])
  assert table.shape == (len(vocab), _CFG.embed_dim) and model.config.vocab_size == len(vocab)
  np.testing.assert_array_equal(table[:len(pre_vocab)], old)  # bit-identical
  new_rows = table[len(pre_vocab):]
  expected = dict(mean=old[4:].mean(axis=0), unk=old[UNK_ID])
  if init in expected:
    np.testing.assert_allclose(new_rows, np.broadcast_to(expected[init], new_rows.shape),
                               atol=1e-6)
  else:
    assert not np.isclose(new_rows[:, None], old[None]).all(axis=-1).any()  # fresh draws
  # Every other parameter is the pretrained one; the old model is untouched.
  got, want = _flat(model), _flat(pre)
  for name in want:
    if "embedder" not in name:
      np.testing.assert_array_equal(got[name], want[name], err_msg=name)
  assert pre.embedder.embedding[...].shape[0] == len(pre_vocab)
  # A new word has a row of its own (not <unk>); an old word its old row.
  ids = vocab.encode(["dim", "the", "alarm"])
  assert ids.tolist()[:2] == [len(pre_vocab) + vocab.tokens[len(pre_vocab):].index(w)
                              for w in ("dim", "the")]
  assert ids[2] == pre_vocab.token_to_id("alarm") and UNK_ID not in ids.tolist()
  x = np.asarray(model.embed(jnp.asarray(ids[None])))[0]
  np.testing.assert_array_equal(x, table[ids])
  with pytest.raises(ValueError, match="below"):
    mt.extend_vocabulary(pre, 3, init=init, rngs=nnx.Rngs(1))


def test_word_dropout_replaces_real_tokens_in_training_only():
  cfg = mt.MultitaskConfig(**{**_CFG.__dict__, "word_dropout": 0.5})
  model = mt.MultitaskBiLSTM(cfg, rngs=nnx.Rngs(0))
  plain = mt.MultitaskBiLSTM(_CFG, rngs=nnx.Rngs(0))  # the same weights, no word dropout
  ids = jnp.asarray(np.random.default_rng(0).integers(4, 10, (64, 6)), jnp.int32)
  mask = jnp.arange(6)[None] < jnp.asarray(np.random.default_rng(1).integers(1, 7, (64, 1)))
  ids = jnp.where(mask, ids, 0)
  dropped = np.asarray(model.drop_words(ids, mask, deterministic=False, rngs=nnx.Rngs(dropout=0)))
  unk = dropped == UNK_ID
  assert not (unk & ~np.asarray(mask)).any()  # padding is never dropped
  assert 0.35 < unk.sum() / np.asarray(mask).sum() < 0.65
  np.testing.assert_array_equal(dropped[~unk], np.asarray(ids)[~unk])
  assert not np.array_equal(dropped, np.asarray(model.drop_words(
      ids, mask, deterministic=False, rngs=nnx.Rngs(dropout=1))))  # a new draw per key
  np.testing.assert_array_equal(
      model.drop_words(ids, mask, deterministic=True, rngs=nnx.Rngs(dropout=0)), ids)
  # At evaluation (the predictor transfer.evaluate uses): the outputs of the same weights
  # without word dropout, bit for bit; the dropped ids would have changed them.
  ids, mask = np.asarray(ids), np.asarray(mask)
  _, probs, tags = transfer.predict_probabilities(model, 64)(ids, mask)
  _, plain_probs, plain_tags = transfer.predict_probabilities(plain, 64)(ids, mask)
  np.testing.assert_array_equal(probs, plain_probs)
  np.testing.assert_array_equal(tags, plain_tags)
  assert not np.array_equal(transfer.predict_probabilities(plain, 64)(dropped, mask)[1], probs)
  with pytest.raises(ValueError, match="word_dropout"):
    mt.MultitaskConfig(**{**_CFG.__dict__, "word_dropout": 1.0})


def _curve(semers, every=10):
  return [dict(step=every * (i + 1), semer=s) for i, s in enumerate(semers)]


def test_convergence_on_hand_made_curves():
  scratch = _curve([0.9, 0.7, 0.5, 0.42, 0.40, 0.40])  # best 0.40 first at step 50
  fast = _curve([0.6, 0.45, 0.39, 0.35, 0.35, 0.36])  # <= 0.40 at step 30
  run = transfer.run_convergence(scratch)
  assert run == dict(best=0.40, best_step=50, converged_step=50, first=0.9, learned=True)
  assert transfer.run_convergence(scratch, within=0.05)["converged_step"] == 40
  pair = transfer.pair_convergence(fast, scratch)
  assert pair["status"] == "ok" and pair["reach_step"] == 30
  assert pair["speedup"] == pytest.approx(50 / 30)
  assert pair["own_ratio"] == pytest.approx(50 / 40)  # 0.35 first at step 40
  # A scratch run that never learns is flat, "converged" at its first evaluation:
  # reported apart, never a speed-up.
  flat = _curve([0.95, 0.96, 0.95, 0.94, 0.95])
  assert transfer.run_convergence(flat)["converged_step"] == 10
  assert not transfer.run_convergence(flat)["learned"]
  apart = transfer.pair_convergence(fast, flat)
  assert apart["status"] == "scratch_never_learned" and apart["speedup"] is None
  assert apart["own_ratio"] is None
  assert transfer.pair_convergence(flat, scratch)["status"] == "transfer_never_learned"
  slow = _curve([0.9, 0.8, 0.6, 0.5, 0.45, 0.41])  # learns, never reaches 0.40
  never = transfer.pair_convergence(slow, scratch)
  assert never["status"] == "never_reached" and never["reach_step"] is None
  summary = transfer.summarize_pairs([pair, apart, never, transfer.pair_convergence(
      _curve([0.5, 0.4, 0.3, 0.3, 0.3, 0.3]), scratch)])
  assert summary["counts"] == dict(ok=2, scratch_never_learned=1, transfer_never_learned=0,
                                   never_reached=1)
  assert summary["speedup_mean"] == pytest.approx((50 / 30 + 50 / 20) / 2)
  assert summary["speedup_min"] == pytest.approx(50 / 30) and summary["at_least_goal"] == 0
  with pytest.raises(ValueError):
    transfer.run_convergence([])
