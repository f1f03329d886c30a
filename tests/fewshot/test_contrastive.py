"""SetFit-style contrastive pairs and the logistic head (host-side units; no encoder training)."""

from __future__ import annotations

import numpy as np
import pytest

from fsnlu_jax.fewshot import contrastive


def test_pair_batches_have_static_shapes_no_self_pairs_and_right_targets():
  labels = np.array(["a", "a", "a", "b", "b", "c"])  # "c" has one example: no positive
  pairs = contrastive.pair_batches(labels, iterations=3, batch_size=4, seed=0)
  s, b = pairs.left.shape
  assert pairs.right.shape == pairs.target.shape == pairs.weight.shape == (s, b)
  assert b == 4 and pairs.left.dtype == np.int32 and pairs.target.dtype == np.float32
  real = pairs.weight > 0
  # Per iteration: a positive for each of the 5 examples with a partner, a negative for all 6.
  assert real.sum() == 3 * (5 + 6) and s == -(-33 // 4)
  assert (pairs.weight[~real] == 0).all() and not real.reshape(-1)[-(s * b - 33):].any()
  left, right, target = pairs.left[real], pairs.right[real], pairs.target[real]
  assert (left != right).all()  # never an example with itself
  np.testing.assert_array_equal(target, (labels[left] == labels[right]).astype(np.float32))
  assert target.sum() == 3 * 5  # positives: every example but "c", each iteration
  # Every example leads its pairs, each iteration.
  assert np.bincount(left, minlength=6).tolist() == [6, 6, 6, 6, 6, 3]
  # The same seed, the same batches (a resumed run trains the same pairs).
  again = contrastive.pair_batches(labels, iterations=3, batch_size=4, seed=0)
  for x, y in zip(pairs, again):
    np.testing.assert_array_equal(x, y)


def test_pair_batches_cap_steps_and_refuse_nothing_to_pair():
  capped = contrastive.pair_batches(np.arange(10) % 2, iterations=5, batch_size=8, seed=1,
                                    max_steps=3)
  assert capped.left.shape == (3, 8) and capped.weight.all()
  with pytest.raises(ValueError, match="no contrastive pair"):
    contrastive.pair_batches(["a"], iterations=2, batch_size=4, seed=0)


def test_logistic_head_classifies_separated_clusters():
  rng = np.random.default_rng(0)
  centers = rng.normal(size=(3, 6)) * 4
  labels = np.repeat(["x", "y", "z"], 4)
  vectors = (centers[np.repeat(np.arange(3), 4)] + rng.normal(size=(12, 6))).astype(np.float32)
  head = contrastive.fit_head(vectors, labels, contrastive.ContrastiveConfig())
  assert head.classes == ("x", "y", "z") and head.weight.shape == (6, 3)
  test = (centers + 0.1 * rng.normal(size=(3, 6))).astype(np.float32)
  assert np.argmax(head.logits(test), -1).tolist() == [0, 1, 2]


def _tiny_bert(vocab: int = 50):
  from flax import nnx  # pylint: disable=g-import-not-at-top
  from fsnlu_jax.models import BertConfig, BertEncoder  # pylint: disable=g-import-not-at-top
  return BertEncoder(BertConfig(vocab_size=vocab, hidden_size=16, num_hidden_layers=1,
                                num_attention_heads=2, intermediate_size=32,
                                max_position_embeddings=64), rngs=nnx.Rngs(0))


def _tiny_mpnet(vocab: int = 50):
  from flax import nnx  # pylint: disable=g-import-not-at-top
  from fsnlu_jax.models import MPNetConfig, MPNetEncoder  # pylint: disable=g-import-not-at-top
  return MPNetEncoder(MPNetConfig(vocab_size=vocab, hidden_size=16, num_hidden_layers=1,
                                  num_attention_heads=2, intermediate_size=32,
                                  max_position_embeddings=66), rngs=nnx.Rngs(0))


def _shots(lengths, width=64, seed=0):
  """Pieces ``2 .. 49`` (never BERT's 0 or MPNet's 1, their padding ids), padded with 0."""
  rng = np.random.default_rng(seed)
  mask = np.arange(width)[None, :] < np.asarray(lengths)[:, None]
  return np.where(mask, rng.integers(2, 50, size=mask.shape), 0).astype(np.int32), mask


def test_first_fit_places_every_sequence_once_without_overlap():
  rng = np.random.default_rng(1)
  for _ in range(50):
    lengths = rng.integers(1, 17, size=rng.integers(1, 40))
    row, start, used = contrastive.first_fit(lengths, 16)
    cells = np.zeros((used, 16), int)
    for r, s, n in zip(row, start, lengths):
      cells[r, s:s + n] += 1
    assert cells.max() == 1 and cells.sum() == lengths.sum()  # inside rows, no overlap
    assert used <= -(-2 * lengths.sum() // 16) + 1  # first-fit is within 2x of optimal
  with pytest.raises(ValueError, match="wider than the rows"):
    contrastive.first_fit(np.array([3, 17]), 16)


@pytest.mark.parametrize("make_encoder", [_tiny_bert, _tiny_mpnet], ids=["bert", "mpnet"])
def test_packed_sentences_encode_as_each_alone_and_give_the_same_loss(make_encoder):
  """MPNet too: its relative-position bias and absolute positions restart per sentence."""
  import jax  # pylint: disable=g-import-not-at-top
  lengths = np.array([3, 5, 40, 7, 9, 4, 6, 8])
  ids, mask = _shots(lengths)
  labels = np.array([0, 0, 0, 1, 1, 1, 2, 2])
  pairs = contrastive.pair_batches(labels, iterations=1, batch_size=4, seed=0)
  encoder = make_encoder()
  plain = contrastive.PairData(pairs, ids, mask)
  loss = jax.jit(lambda batch: contrastive.cosine_pair_loss(encoder, batch, None)[0])
  for shards in (1, 2):
    packed = contrastive.PairData(pairs, ids, mask, packed=True, shards=shards)
    assert packed.width == 48  # the longest shot (40) rounded up to 16
    for step in range(pairs.left.shape[0]):
      batch = packed(step)
      rows = batch["packed_ids"].shape[0]
      assert rows % shards == 0 and batch["packed_sequence"].shape == (rows, 48)
      # Every sentence of the step once, whole, its positions from 0.
      seq = batch["packed_sequence"]
      for g in range(shards):
        block = seq[g * rows // shards:(g + 1) * rows // shards]
        per = 4 // shards
        sides = np.concatenate([pairs.left[step][g * per:(g + 1) * per],
                                pairs.right[step][g * per:(g + 1) * per]])
        assert [int((block == k).sum()) for k in range(2 * per)] == lengths[sides].tolist()
      # Each shard's rows and pairs alone, as a device sees them in the step.
      shard = lambda a, g, n: a[g * n // shards:(g + 1) * n // shards]
      total = sum(loss({k: shard(v, g, len(v)) for k, v in batch.items()}) for g in range(shards))
      np.testing.assert_allclose(total, loss(plain(step)), rtol=1e-5, atol=1e-6)
  # The sentence vectors themselves, against encode one by one.
  batch = contrastive.PairData(pairs, ids, mask, packed=True)(0)
  vectors = encoder.encode_packed(batch["packed_ids"], batch["packed_sequence"],
                                  batch["packed_positions"], 8)
  sides = np.concatenate([pairs.left[0], pairs.right[0]])
  np.testing.assert_allclose(vectors, encoder.encode(ids[sides], mask[sides]), atol=1e-5)


def test_pair_data_cuts_each_step_to_its_longest_row_without_changing_the_loss():
  import jax  # pylint: disable=g-import-not-at-top
  lengths = np.array([3, 5, 40, 7, 9, 4, 6, 8])  # one long shot pads every row to 64
  ids, mask = _shots(lengths)
  labels = np.array([0, 0, 0, 1, 1, 1, 2, 2])
  pairs = contrastive.pair_batches(labels, iterations=2, batch_size=4, seed=0)
  data = contrastive.PairData(pairs, ids, mask)
  encoder = _tiny_bert()
  full = lambda step: dict(left=ids[pairs.left[step]], left_mask=mask[pairs.left[step]],
                           right=ids[pairs.right[step]], right_mask=mask[pairs.right[step]],
                           target=pairs.target[step], weight=pairs.weight[step])
  loss = jax.jit(lambda batch: contrastive.cosine_pair_loss(encoder, batch, None)[0])
  seen = set()
  for step in range(pairs.left.shape[0]):
    batch = data(step)
    longest = max(lengths[pairs.left[step]].max(), lengths[pairs.right[step]].max())
    cut = batch["left"].shape[1]
    assert cut == batch["right_mask"].shape[1] and cut % contrastive.LENGTH_STEP == 0
    assert longest <= cut < longest + contrastive.LENGTH_STEP
    seen.add(cut)
    np.testing.assert_allclose(loss(batch), loss(full(step)), rtol=1e-5, atol=1e-6)
  assert seen == {16, 48}  # steps with and without the long shot


def test_a_stopped_finetuning_resumes_from_its_newest_checkpoint(tmp_path, monkeypatch):
  """Checkpoints every CHECKPOINT_EVERY steps, one kept; stop and resume = uninterrupted."""
  lengths = np.array([3, 5, 12, 7, 9, 4, 6, 8, 10, 2, 11, 5])
  ids, mask = _shots(lengths, width=16)
  labels = np.repeat([0, 1, 2], 4)  # 24 pairs: 3 steps of 8 (one per simulated device)
  config = contrastive.ContrastiveConfig(iterations=1, batch_size=8, learning_rate=1e-2,
                                         max_steps=3)
  monkeypatch.setattr(contrastive, "CHECKPOINT_EVERY", 1)
  tune = lambda name: contrastive.finetune_encoder(_tiny_bert(), ids, mask, labels, config,
                                                   tmp_path / name)
  kept = lambda name: sorted(p.name for p in (tmp_path / name / "checkpoints").iterdir()
                             if p.name.isdigit())
  whole = tune("whole")
  assert kept("whole") == ["3"]
  batch = contrastive.PairData.__call__

  def stop_at_step_2(self, step):
    if step == 2:
      raise RuntimeError("stopped")
    return batch(self, step)

  monkeypatch.setattr(contrastive.PairData, "__call__", stop_at_step_2)
  with pytest.raises(RuntimeError, match="stopped"):
    tune("stopped")
  assert kept("stopped") in (["1"], ["2"])
  monkeypatch.setattr(contrastive.PairData, "__call__", batch)
  resumed = tune("stopped")
  assert kept("stopped") == ["3"]
  np.testing.assert_allclose(resumed.encode(ids, mask), whole.encode(ids, mask), atol=1e-6)


def test_packed_finetuning_on_8_devices_equals_1_device(tmp_path):
  from fsnlu_jax import parallel  # pylint: disable=g-import-not-at-top
  lengths = np.array([3, 5, 12, 7, 9, 4, 6, 8, 10, 2, 11, 5])
  ids, mask = _shots(lengths, width=16)
  labels = np.repeat([0, 1, 2], 4)
  config = contrastive.ContrastiveConfig(iterations=1, batch_size=8, learning_rate=1e-2,
                                         max_steps=2)
  tuned = {n: contrastive.finetune_encoder(_tiny_bert(), ids, mask, labels, config,
                                           tmp_path / str(n), mesh=parallel.make_data_mesh(n))
           for n in (1, 8)}
  # Sentence vectors, not parameters: Adam turns the float noise of a gradient
  # that is zero in exact arithmetic (attention's key bias) into +-lr steps
  # that change no output.
  vectors = {n: np.asarray(tuned[n].encode(ids, mask)) for n in (1, 8)}
  assert not np.allclose(vectors[1], _tiny_bert().encode(ids, mask), atol=1e-3)  # it trained
  np.testing.assert_allclose(vectors[8], vectors[1], atol=1e-5)
