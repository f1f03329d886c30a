"""Tests of the CGF rewrite data: phonetics, the corruption model, users, tries, arrays."""

from __future__ import annotations

import collections
import dataclasses

import numpy as np
import pytest

from fsnlu_jax.data import PAD_ID, Example
from fsnlu_jax.data import asr_noise as noise
from fsnlu_jax.data import rewrite as rw
from fsnlu_jax.data.vocab import BOS_ID, EOS_ID

COUNTS = {"play": 50, "leon": 2, "alien": 6, "lion": 1, "peon": 3, "bridges": 2, "bridge": 5,
          "is": 40, "list": 8, "playlist": 9, "some": 7, "one": 9, "someone": 4, "the": 60,
          "knight": 1, "night": 9, "5pm": 3}


def test_phonetic_key_hears_spellings_alike():
  assert noise.phonetic_key("knight") == noise.phonetic_key("night")
  assert noise.phonetic_key("phone") == noise.phonetic_key("fone")
  assert noise.phonetic_key("there") == noise.phonetic_key("their")
  assert noise.phonetic_key("cite") == noise.phonetic_key("site") == noise.phonetic_key("sight")
  assert noise.phonetic_key("5") == "" and noise.phonetic_key("Léon") == noise.phonetic_key("leon")


def test_sound_alike_table_from_the_vocabulary_itself():
  table = noise.SoundAlikeTable(COUNTS)
  assert "alien" in table.neighbours("leon") and "lion" in table.neighbours("leon")
  assert "peon" not in table.neighbours("leon")  # the first sound is kept
  assert table.neighbours("night") == ("knight",)  # same key, the only one
  assert table.neighbours("5pm") == ()  # numbers are not heard as words
  assert all(w in COUNTS for w in table.neighbours("leon"))
  assert ("bridge", "is") in table.splits("bridges")
  assert table.merge("play", "list") == "playlist" and table.merge("bridge", "is") == "bridges"
  assert table.merge("the", "night") is None


@pytest.fixture
def model():
  return noise.CorruptionModel(COUNTS, seed=0)


def test_each_edit_does_what_it_says(model):
  words = ("play", "leon", "bridges")
  swapped = model.swap(words, 1)
  assert swapped[0::2] == ("play", "bridges") and swapped[1] in model.table.neighbours("leon")
  assert model.split(words, 2) == ("play", "leon", "bridge", "is")
  assert model.merge(("play", "list", "one"), 0) == ("playlist", "one")
  assert model.merge(words, 2) is None  # no next word
  assert model.drop(words, 0) == ("leon", "bridges") and model.drop(("play",), 0) is None
  assert model.swap(("5pm",), 0) is None and model.split(("is",), 0) is None
  assert all(model.applies(k, words, i) == (getattr(model, k)(words, i) is not None)
             for k in noise.KINDS for i in range(3))


def _draws(model, n=300, rng=None):
  words, entity = ("play", "some", "one", "leon", "bridges"), (False,) * 3 + (True, True)
  return [model.corrupt(words, entity, rng) for _ in range(n)]


def test_corruption_is_seeded_and_deterministic():
  first = _draws(noise.CorruptionModel(COUNTS, seed=3))
  assert first == _draws(noise.CorruptionModel(COUNTS, seed=3))
  assert first != _draws(noise.CorruptionModel(COUNTS, seed=4))
  model = noise.CorruptionModel(COUNTS, seed=9)  # an explicit generator overrides the model's own
  assert _draws(model, 50, np.random.default_rng(1)) == _draws(model, 50, np.random.default_rng(1))


def test_kinds_are_recorded_and_account_for_the_change(model):
  words = ("play", "some", "one", "leon", "bridges")
  draws = _draws(model, 1000)
  for heard, kinds in draws:
    assert (heard == words) == (kinds == ())
    assert set(kinds) <= set(noise.KINDS)
    n = collections.Counter(kinds)
    assert len(heard) == len(words) + n["split"] - n["merge"] - n["drop"]
  clean = np.mean([not kinds for _, kinds in draws])
  assert abs(clean - model.config.clean_rate) < 0.05
  assert {k for _, kinds in draws for k in kinds} == set(noise.KINDS)


def test_rates_come_from_the_config():
  only_drops = noise.CorruptionConfig(clean_rate=0.0, swap_rate=0.0, split_rate=0.0,
                                   merge_rate=0.0, drop_rate=0.3)
  draws = _draws(noise.CorruptionModel(COUNTS, only_drops, seed=0), 200)
  assert all(kinds and set(kinds) == {"drop"} for _, kinds in draws)
  never = dataclasses.replace(only_drops, clean_rate=1.0)
  assert all(kinds == () for _, kinds in _draws(noise.CorruptionModel(COUNTS, never), 50))
  with pytest.raises(ValueError):
    noise.CorruptionConfig(swap_rate=0.5, entity_weight=3.0)


# ---- a small hand-made corpus ------------------------------------------------

ARTISTS = [f"artist{i}" for i in range(30)]
CITIES = ["paris", "london", "boston", "berlin", "tokyo", "lima", "oslo", "rome"]


def _example(words, tags, intent):
  return Example(" ".join(words), tuple(words), intent, tuple(tags), intent, "test:0")


def _examples():
  out = []
  for i, artist in enumerate(ARTISTS):
    for _ in range(1 + i % 3):
      out.append(_example(["play", "music", "by", artist, "."], ["O", "O", "O", "B-artist", "O"],
                          "play"))
  for city in CITIES:
    out.append(_example(["weather", "in", city], ["O", "O", "B-city"], "weather"))
    out.append(_example(["is", "it", "raining", "in", city, "?"], ["O"] * 4 + ["B-city", "O"],
                        "weather"))
  out += [_example(["wake", "me", "up", "at", "seven"], ["O"] * 5, "alarm")] * 3
  return out


@pytest.fixture(scope="module")
def corpus():
  return rw.build_corpus({"toy": _examples()})


def test_corpus_templates_and_slot_values(corpus):
  assert len(corpus.utterances) == len(_examples())
  assert corpus.utterances[0].words == ("play", "music", "by", "artist0")  # "." dropped
  assert corpus.utterances[0].entity == (False, False, False, True)
  assert set(corpus.values) == {"toy:artist", "toy:city"}
  assert len(corpus.values["toy:artist"]) == 30
  play = corpus.templates[corpus.utterances[0].template]
  assert play.words == ("play", "music", "by", "\x000") and play.slot_types == ("toy:artist",)
  assert rw.fill(play, [("leon", "bridges")]) == (("play", "music", "by", "leon", "bridges"),
                                                  (False, False, False, True, True))
  assert corpus.intents == ("toy:alarm", "toy:play", "toy:weather")


def test_users_histories_follow_their_preferences(corpus):
  config = rw.RewriteDataConfig(n_users=12, history_size=300, pairs_per_user=1, n_favourites=3,
                                preference_strength=0.7, intent_concentration=1.0)
  dataset = rw.build_rewrite_dataset(corpus, config)
  counts = corpus.value_counts["toy:artist"]
  for user in dataset.users:
    favourites = {corpus.values["toy:artist"][i] for i in user.favourites["toy:artist"]}
    fills = [u.words[3:] for u in user.history if u.words[0] == "play"]
    if len(fills) < 30:
      continue
    global_share = counts[user.favourites["toy:artist"]].sum() / counts.sum()
    share = np.mean([f in favourites for f in fills])
    assert share > 0.6 > 2 * global_share, (share, global_share)
    top = corpus.values["toy:artist"][user.favourites["toy:artist"][0]]
    assert collections.Counter(fills).most_common(1)[0][0] == top  # Zipf: rank 1 leads
    intents = collections.Counter(corpus.templates[u.template].intent for u in user.history)
    assert corpus.intents[int(np.argmax(user.intent_probs))] == intents.most_common(1)[0][0]
    assert user.personal_trie == frozenset(u.words for u in user.history)


def test_dataset_flags_splits_and_determinism(corpus):
  config = rw.RewriteDataConfig(n_users=20, history_size=10, pairs_per_user=15,
                                heldout_template_rate=0.3, seed=5)
  dataset = rw.build_rewrite_dataset(corpus, config)
  again = rw.build_rewrite_dataset(corpus, config)
  assert dataset.splits == again.splits and dataset.global_trie == again.global_trie
  assert rw.build_rewrite_dataset(corpus, dataclasses.replace(config, seed=6)).splits != (
      dataset.splits)
  users = {s: {p.user for p in pairs} for s, pairs in dataset.splits.items()}
  assert sum(map(len, users.values())) == 20 and not users["train"] & users["test"]
  assert all(p.template_seen for p in dataset.splits["train"])
  assert not all(p.template_seen for p in dataset.splits["test"] + dataset.splits["validation"])
  pairs = [p for s in rw.SPLITS for p in dataset.splits[s]]
  assert len(pairs) == 300
  for p in pairs:
    assert p.target_in_global == (p.target in dataset.global_trie)
    assert p.target_in_personal == (p.target in dataset.personal_trie(p.user))
    assert (p.source == p.target) == (p.kinds == ())
  assert all(p.target_in_personal for p in pairs if p.origin == "history")
  assert all(p.target_in_global for p in pairs if p.origin == "corpus")
  assert all(u.words in dataset.global_trie for u in corpus.utterances)
  # Every toy utterance is a real one, so nothing is outside the tries here;
  # the SNIPS test below checks that such pairs exist and are kept.
  stats = dataset.stats()
  assert stats["train"]["pairs"] == len(dataset.splits["train"])


def test_encode_pairs_lays_out_source_and_target(corpus):
  dataset = rw.build_rewrite_dataset(corpus, rw.RewriteDataConfig(n_users=5, pairs_per_user=4))
  vocab = rw.build_vocab(dataset)
  assert vocab.token_to_id(rw.SEP) == 4 and "artist7" in vocab
  sep = vocab.token_to_id(rw.SEP)
  pair = rw.RewritePair(0, ("weather", "in", "paris"), ("play", "music", "by", "artist1"),
                        ("play", "music", "by", "artist2", "x-unknown"), ("swap",), "fresh", 0,
                        True)
  arrays, stats = rw.encode_pairs([pair], vocab, max_source_len=7, max_target_len=5)
  assert vocab.decode(arrays["source_ids"][0]) == ["in", "paris", rw.SEP, "play", "music", "by",
                                                   "artist1"]  # previous turn cut from its start
  assert arrays["target_in"][0, 0] == BOS_ID and arrays["target_in"][0, 1:].tolist() == (
      arrays["target_out"][0, :-1].tolist())
  assert EOS_ID not in arrays["target_out"][0]  # cut at Lt, counted
  assert stats == rw.PairEncodeStats(pairs=1, truncated_source=1, truncated_target=1,
                                     oov_source=0, oov_target=1)
  arrays, stats = rw.encode_pairs(dataset.splits["train"], vocab, max_source_len=24,
                                  max_target_len=12)
  assert arrays["source_ids"].shape == (len(dataset.splits["train"]), 24)
  assert stats.truncated_source == stats.truncated_target == 0
  rows = np.arange(len(arrays["target_out"]))
  ends = arrays["target_mask"].sum(1) - 1
  assert (arrays["target_out"][rows, ends] == EOS_ID).all()
  assert (arrays["source_ids"][~arrays["source_mask"]] == PAD_ID).all()
  assert ((arrays["source_ids"] == sep).sum(1) == 1).all()


def test_real_snips_through_the_pipeline(real_dataset):
  _, splits = real_dataset("snips")
  corpus = rw.build_corpus({"snips": [e for split in splits.values() for e in split]})
  assert len(corpus.utterances) == 14484 and corpus.dropped_empty == 0
  assert len(corpus.values) == 39 and len(corpus.values["snips:artist"]) > 500
  config = rw.RewriteDataConfig(n_users=40, history_size=20, pairs_per_user=10)
  dataset = rw.build_rewrite_dataset(corpus, config)
  pairs = [p for s in rw.SPLITS for p in dataset.splits[s]]
  assert len(pairs) == 400
  swapped_words = {w for p in pairs if "swap" in p.kinds for w in set(p.source) - set(p.target)}
  assert swapped_words and swapped_words <= set(corpus.word_counts)  # real corpus words
  stats = dataset.stats()
  print("snips rewrite stats:", stats)
  assert 0.1 < stats["train"]["clean"] < 0.3
  assert 0 < stats["train"]["in_neither"] < 0.5  # kept, to measure abstention
  vocab = rw.build_vocab(dataset)
  arrays, enc = rw.encode_pairs(dataset.splits["test"], vocab, max_source_len=64,
                                max_target_len=32)
  assert enc.truncated_source == 0 and arrays["target_mask"].any(1).all()


def test_contextual_simulation_draws_the_previous_turn_from_the_request(corpus):
  config = rw.RewriteDataConfig(n_users=20, history_size=10, pairs_per_user=15,
                                simulation="contextual", seed=5)
  dataset = rw.build_rewrite_dataset(corpus, config)
  assert dataset.splits == rw.build_rewrite_dataset(corpus, config).splits  # seeded
  pairs = [p for s in rw.SPLITS for p in dataset.splits[s]]
  by = collections.defaultdict(list)
  for p in pairs:
    by[p.relation].append(p)
  assert set(by) <= set(rw.RELATIONS) and len(by["repeat"]) > 20 and len(by["first"]) > 10
  histories = {u.user_id: u.personal_trie for u in dataset.users}
  templates = corpus.templates
  for p in by["rephrase"] + by["follow_up"]:
    # Another template; the request's slot values carried over (toy: a city).
    entity = [w for w, e in zip(p.target, p.target_entity) if e]
    assert p.previous != p.target and set(entity) <= set(p.previous), p
  # Toy "play" and "alarm" have one template each: a rephrase falls back to unrelated.
  assert all(templates[p.template].intent == "toy:weather" for p in by["rephrase"] + by["follow_up"])
  assert all(p.previous != p.target for p in by["repeat"])  # a failed attempt: misheard
  assert all(p.previous in histories[p.user] for p in by["unrelated"])
  assert all(p.previous == () for p in by["first"])
  for p in pairs:
    assert (p.source == p.target) == (p.kinds == ())
  context = dataset.stats()["train"]["context"]
  independent = rw.build_rewrite_dataset(corpus, dataclasses.replace(
      config, simulation="independent")).stats()["train"]["context"]
  assert independent["relation"] == {"independent": 1.0}
  assert context["previous_shares_entity"] > independent["previous_shares_entity"] + 0.1
  with pytest.raises(ValueError, match="simulation"):
    rw.RewriteDataConfig(simulation="other")
  with pytest.raises(ValueError, match="relation_probs"):
    rw.ContextConfig(relation_probs=(1.0, 0.0))


def test_cutoffs_lose_the_last_slot_value_which_the_context_often_names(corpus):
  # Only cut-offs (no confusable): every corrupted request that has a slot value
  # with a word before it is heard cut off just before that value.
  config = rw.RewriteDataConfig(
      n_users=20, history_size=10, pairs_per_user=15, simulation="contextual", seed=5,
      context=rw.ContextConfig(confusable_rate=0.0, cutoff_rate=1.0),
      corruption=noise.CorruptionConfig(clean_rate=0.0))
  dataset = rw.build_rewrite_dataset(corpus, config)
  pairs = [p for s in rw.SPLITS for p in dataset.splits[s]]
  cut = [p for p in pairs if p.kinds == (rw.CUTOFF,)]
  for p in pairs:
    expected = rw.cut_off(p.target, p.target_entity)
    assert (p.kinds == (rw.CUTOFF,)) == (expected is not None), p
  for p in cut:
    n = len(p.source)
    assert 0 < n < len(p.target) and p.source == p.target[:n], p
    assert p.target_entity[n] and not p.target_entity[n - 1]  # cut where a value starts
    e = p.target_entity  # ... and that value is the last one
    assert not any(e[i] and not e[i - 1] for i in range(n + 1, len(e))), p
  assert len(cut) > len(pairs) // 2  # toy "play ... by X" and "weather in X" all have one
  # Related previous turns carry the lost value over: the context decides.
  related = [p for p in cut if p.relation in ("rephrase", "follow_up")]
  assert related and all(set(p.target[len(p.source):]) & set(p.previous) for p in related)
  assert rw.cut_off(("play", "adele"), (False, True)) == ("play",)
  assert rw.cut_off(("adele",), (True,)) is None and rw.cut_off(("hi",), (False,)) is None
  # At rate 0 the first contextual simulation is drawn bit-identically (no extra draw).
  first = rw.RewriteDataConfig(n_users=20, history_size=10, pairs_per_user=15,
                               simulation="contextual", seed=5,
                               context=rw.ContextConfig(cutoff_rate=0.0))
  assert not any(rw.CUTOFF in p.kinds for s in rw.SPLITS
                 for p in rw.build_rewrite_dataset(corpus, first).splits[s])
  with pytest.raises(ValueError, match="cutoff_rate"):
    rw.ContextConfig(cutoff_rate=1.5)


def test_confusables_are_other_known_good_requests_that_sound_alike():
  # "leon" / "lion" / "alien" sound alike, and each fills the same template:
  # a request heard as another known-good request that spelling cannot undo.
  names = ["leon", "lion", "alien", "adele", "sting"]
  examples = [_example(["play", "music", "by", n], ["O", "O", "O", "B-artist"], "play")
              for n in names for _ in range(2)]
  examples += [_example(["play", "list", "of", "hits"], ["O"] * 4, "list"),
               _example(["playlist", "of", "hits"], ["O"] * 3, "list")]
  corpus = rw.build_corpus({"toy": examples})
  config = rw.RewriteDataConfig(
      n_users=10, history_size=5, pairs_per_user=20, simulation="contextual",
      context=rw.ContextConfig(confusable_rate=1.0),
      corruption=noise.CorruptionConfig(clean_rate=0.0))
  dataset = rw.build_rewrite_dataset(corpus, config)
  pairs = [p for s in rw.SPLITS for p in dataset.splits[s]]
  confused = [p for p in pairs if p.kinds == (rw.CONFUSABLE,)]
  assert len(confused) > len(pairs) // 2  # every corrupted request that has one
  for p in confused:
    assert p.source != p.target and p.source in dataset.global_trie
  heard = {(p.target, p.source) for p in confused}
  assert (("play", "music", "by", "leon"), ("play", "music", "by", "lion")) in heard
  assert (("play", "list", "of", "hits"), ("playlist", "of", "hits")) in heard  # run together
  assert ("play", "music", "by", "sting") not in {p.source for p in confused}  # no sound-alike
  assert rw.utterance_key(("play", "list")) == rw.utterance_key(("playlist",))
  stats = dataset.stats()["train"]["context"]
  assert stats["heard_other_frequent"] == pytest.approx(
      np.mean([p.source != p.target and p.source in dataset.global_trie
               for p in dataset.splits["train"]]))
