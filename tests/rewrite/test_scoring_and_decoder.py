"""Tests of the CGF rewrite pipeline: constrained decoding, preference rule,
thresholds and abstention, the retrieval baseline, the metrics."""

from __future__ import annotations

import numpy as np
import pytest
from flax import nnx

from fsnlu_jax import rewrite as decoding
from fsnlu_jax.data.vocab import Vocab
from fsnlu_jax.models import Rewriter, RewriterConfig

UTTERANCES = [("play", "leon", "bridges"), ("play", "the", "beatles"), ("set", "an", "alarm"),
              ("play", "leon"), ("wake", "me", "up", "at", "six")]
PERSONAL = [[("play", "leon", "bridges")], [("set", "an", "alarm"), ("wake", "me", "up")], []]


@pytest.fixture(scope="module")
def setup():
  vocab = Vocab.build([w for u in UTTERANCES for w in (u, u)] + [("alien", "me", "up")])
  config = RewriterConfig(vocab_size=len(vocab), d_model=16, n_heads=2, n_encoder_layers=1,
                          n_decoder_layers=1, d_ff=32, max_source_len=8, max_target_len=7)
  graphdef, params, rest = nnx.split(Rewriter(config, rngs=nnx.Rngs(0)), nnx.Param, ...)
  decoder = decoding.RewriteDecoder(graphdef, vocab_size=len(vocab), max_length=7, beam_size=3,
                                    batch_size=4)
  rng = np.random.default_rng(0)
  src = rng.integers(5, len(vocab), size=(6, 8)).astype(np.int32)
  mask = np.arange(8)[None, :] < rng.integers(2, 9, size=(6, 1))
  return vocab, decoder, params, rest, src * mask, mask


def test_global_decoding_outputs_only_trie_utterances(setup):
  vocab, decoder, params, rest, src, mask = setup
  trie = decoding.global_trie_arrays(UTTERANCES, vocab, max_length=7)
  cands = decoder.decode(params, rest, src, mask, trie=trie)
  words = cands.words(vocab, 3)
  assert cands.found.all()  # every trie path ends in EOS within max_length
  assert all(w in UTTERANCES for w in words)  # 0 outside the trie
  assert (cands.scores < 0).all() and (cands.scores > -1e8).all()


def test_personal_forest_one_trie_per_row(setup):
  vocab, decoder, params, rest, src, mask = setup
  forest = decoding.personal_forest_arrays(PERSONAL, vocab, max_length=7)
  users = np.array([0, 1, 2, 1, 0, 2])
  cands = decoder.decode(params, rest, src, mask, trie=forest, trie_ids=users)
  for user, found, words in zip(users, cands.found, cands.words(vocab, 3)):
    if PERSONAL[user]:
      assert found and words in PERSONAL[user]
    else:  # an empty personal trie: no candidate, the beam search's empty score
      assert not found and words is None
  assert (cands.scores[users == 2] <= -1e9).all()


def test_unconstrained_decoding_runs(setup):
  vocab, decoder, params, rest, src, mask = setup
  cands = decoder.decode(params, rest, src, mask)
  assert cands.ids.shape == (6, 7) and cands.scores.shape == (6,)


def test_preference_rule():
  p = np.array([-1.0, -5.0, -5.0, -1e9, -2.0])
  g = np.array([-0.5, -1.0, -9.0, -1.0, -1e9])
  pick = decoding.combine(p, g, threshold_personal=-3.0, threshold_global=-4.0)
  # Personal wins over a better global score once it passes its own threshold.
  assert pick.tolist() == [decoding.PERSONAL, decoding.GLOBAL, decoding.ABSTAIN,
                           decoding.GLOBAL, decoding.PERSONAL]


def test_threshold_and_abstention():
  scores = np.array([-1.0, -2.0, -3.0, -4.0, -1e9])
  correct = np.array([True, True, False, True, False])
  t = decoding.choose_threshold(scores, correct)
  assert t == -4.0  # F1: outputs 4, 3 right -> P .75, R .6 beats P 1, R .4
  assert decoding.choose_threshold(scores, correct, objective="precision_at_recall",
                                   recall_floor=0.3) == -2.0
  assert decoding.choose_threshold(scores, np.zeros(5, bool)) == np.inf
  cands = [("a",), ("b",), ("c",), ("d",), None]
  assert decoding.apply_threshold(cands, scores, -2.5) == [("a",), ("b",), None, None, None]


def test_joint_thresholds_prefer_a_right_personal_candidate():
  # Personal candidates are right when confident; global ones only where personal is unsure.
  ps = np.array([-1.0, -1.2, -6.0, -7.0, -1e9, -8.0])
  pc = np.array([True, True, False, False, False, False])
  gs = np.array([-0.5, -0.4, -2.0, -2.5, -2.0, -9.0])
  gc = np.array([False, False, True, True, True, False])
  tp, tg = decoding.choose_thresholds(ps, pc, gs, gc)
  pick = decoding.combine(ps, gs, threshold_personal=tp, threshold_global=tg)
  assert pick[:5].tolist() == [decoding.PERSONAL] * 2 + [decoding.GLOBAL] * 3
  assert pick[5] == decoding.ABSTAIN


def test_retrieval_baseline_hand_example():
  index = decoding.NgramIndex(UTTERANCES)
  words, sims = decoding.retrieve(index, [("play", "alien", "bridges"), ("set", "a", "alarm")])
  assert words == [("play", "leon", "bridges"), ("set", "an", "alarm")]
  assert ((0 < sims) & (sims <= 1)).all()
  same, sim = decoding.retrieve(index, [("play", "the", "beatles")])
  assert same == [("play", "the", "beatles")] and sim[0] == pytest.approx(1.0)
  personal, psims = decoding.retrieve_personal(lambda u: PERSONAL[u], [1, 2],
                                               [("wake", "me", "app"), ("x",)], index.idf)
  assert personal == [("wake", "me", "up"), None] and psims[1] <= -1e9


def test_metrics_definitions():
  targets = [("a",), ("b",), ("c",), ("d",)]
  outputs = [("a",), ("x",), None, ("d",)]
  m = decoding.rewrite_metrics(outputs, targets, lambda w, i: w != ("x",))
  assert (m["outputs"], m["correct"]) == (3, 2)
  assert m["precision"] == pytest.approx(2 / 3) and m["recall"] == pytest.approx(0.5)
  assert m["outside_trie"] == pytest.approx(1 / 3) and m["output_rate"] == 0.75


def test_teacher_forced_score_is_the_beam_search_score(setup):
  # RewriteDecoder.score puts given candidates on the beam search's scale: the
  # search's own outputs, rescored teacher-forced, get the search's scores.
  vocab, decoder, params, rest, src, mask = setup
  trie = decoding.global_trie_arrays(UTTERANCES, vocab, max_length=7)
  cands = decoder.decode(params, rest, src, mask, trie=trie)
  words = cands.words(vocab, 3)
  # k = 3 as in the next test: one compilation of the scorer for both.
  ids = decoding.candidate_arrays([[w] for w in words], vocab, k=3, max_length=7)
  assert (ids[:, 1:] == 0).all() and (ids[:, 0] == cands.ids).all()
  scores = decoder.score(params, rest, src, mask, ids)
  np.testing.assert_allclose(scores[:, 0], cands.scores, rtol=1e-5, atol=1e-5)
  assert (scores[:, 1:] <= -1e9).all()  # no candidate
  # Too long for max_length with its EOS: not scored, as the trie cannot reach it.
  assert not decoding.candidate_arrays([[("a",) * 7]], vocab, k=1, max_length=7).any()


def test_combined_outputs_a_beam_or_a_retrieved_candidate(setup):
  vocab, decoder, params, rest, src, mask = setup
  trie = decoding.global_trie_arrays(UTTERANCES, vocab, max_length=7)
  beam = decoder.decode(params, rest, src, mask, trie=trie)
  beam_words = beam.words(vocab, 3)
  heard = [tuple(vocab.decode(row[m])) for row, m in zip(src, mask)]
  retrieved, _ = decoding.candidates(decoding.NgramIndex(UTTERANCES), heard, 3)
  words, scores = decoding.generate_and_retrieve(decoder, params, rest, src, mask, beam_words,
                                                 beam.scores, retrieved, vocab)
  rescored = decoder.score(params, rest, src, mask,
                           decoding.candidate_arrays(retrieved, vocab, k=3, max_length=7))
  for i, w in enumerate(words):
    assert w == beam_words[i] or w in retrieved[i]  # so never outside the tries
    assert scores[i] == pytest.approx(max(beam.scores[i], rescored[i].max()), abs=1e-6)
  # Fused: weight 0 is the combined system; a large weight ranks by spelling,
  # so the nearest retrieved utterance wins (the beam where it spells closer).
  beam_sims = decoding.NgramIndex(UTTERANCES).similarity(heard, beam_words)
  padded = [list(c) + [()] * (3 - len(c)) for c in retrieved]
  retrieved_sims = decoding.NgramIndex(UTTERANCES).top_k(heard, 3)[1]
  fused, _ = decoding.fuse(beam_words, beam.scores, beam_sims, padded, rescored,
                           retrieved_sims, weight=0.0)
  assert fused == words
  by_spelling, _ = decoding.fuse(beam_words, beam.scores, beam_sims, padded, rescored,
                                 retrieved_sims, weight=1e6)
  for i, w in enumerate(by_spelling):
    assert w == (beam_words[i] if beam_sims[i] > retrieved_sims[i, 0] else retrieved[i][0])
  # k = 0: generation alone.
  alone, alone_scores = decoding.generate_and_retrieve(
      decoder, params, rest, src, mask, beam_words, beam.scores, [[] for _ in heard], vocab)
  assert alone == beam_words and (alone_scores == beam.scores).all()


def test_retrieval_reading_the_previous_turn():
  index = decoding.NgramIndex([("play", "leon", "bridges"), ("play", "lion", "bridges"),
                               ("set", "an", "alarm")])
  heard, previous = [("play", "lion", "bridges")] * 2, [("who", "is", "leon"), ()]
  best, sims = index.top_k(heard, 4)
  assert best[0, :3].tolist() == [1, 0, 2] and best[0, 3] == -1 and sims[0, 3] <= -1e9
  np.testing.assert_allclose(index.cosine(heard, best[:, :3]), sims[:, :3], atol=1e-6)
  # Spelling alone keeps the heard (known-good) request; the previous turn decides.
  assert decoding.retrieve(index, heard)[0] == [("play", "lion", "bridges")] * 2
  words, scores = decoding.retrieve(index, heard, previous=previous, context_weight=1.0, k=3)
  assert words == [("play", "leon", "bridges"), ("play", "lion", "bridges")]
  assert scores[1] == pytest.approx(1.0)  # an empty previous turn adds nothing
  personal, _ = decoding.retrieve_personal(
      lambda u: index.utterances, [0, 1], heard, index.idf, previous=previous, context_weight=1.0)
  assert personal == words


def test_a_copying_rewriter_decodes_in_the_trie_and_scores_its_outputs_alike(setup):
  # Copying reads the source ids at every step of the search (tiled to the beams).
  vocab, _, _, _, src, mask = setup
  config = RewriterConfig(vocab_size=len(vocab), d_model=16, n_heads=2, n_encoder_layers=1,
                          n_decoder_layers=1, d_ff=32, max_source_len=8, max_target_len=7,
                          copy=True)
  graphdef, params, rest = nnx.split(Rewriter(config, rngs=nnx.Rngs(0)), nnx.Param, ...)
  decoder = decoding.RewriteDecoder(graphdef, vocab_size=len(vocab), max_length=7, beam_size=3,
                                    batch_size=4)
  trie = decoding.global_trie_arrays(UTTERANCES, vocab, max_length=7)
  cands = decoder.decode(params, rest, src, mask, trie=trie)
  words = cands.words(vocab, 3)
  assert cands.found.all() and all(w in UTTERANCES for w in words)
  ids = decoding.candidate_arrays([[w] for w in words], vocab, k=1, max_length=7)
  np.testing.assert_allclose(decoder.score(params, rest, src, mask, ids)[:, 0], cands.scores,
                             rtol=1e-5, atol=1e-5)
