"""Tests for fsnlu_jax.data.vocab and fsnlu_jax.data.arrays."""

from __future__ import annotations

import dataclasses
import doctest
import json
import random

from hypothesis import given, settings
from hypothesis import strategies as st
import numpy as np
import pytest

from fsnlu_jax.data import arrays as arrays_module
from fsnlu_jax.data import vocab as vocab_module
from fsnlu_jax.data.arrays import (DEFAULT_BUCKETS, EncodeStats, bucket_for, encode_buckets,
                                   encode_split, pad_batch, unbucket)
from fsnlu_jax.data.schema import Example
from fsnlu_jax.data.vocab import (BOS_ID, EOS_ID, IGNORE_INDEX, PAD_ID, SPECIAL_TOKENS, UNK_ID,
                                  LabelVocab, Vocab)


def _ex(tokens, intent="play_music", slots=None, source="test.json:1"):
  tokens = tuple(tokens)
  slots = tuple(slots) if slots is not None else ("O",) * len(tokens)
  return Example(text=" ".join(tokens), tokens=tokens, intent=intent, slots=slots,
                 domain="music", source=source)


TRAIN = [
    _ex(["play", "jazz", "music"], "play_music", ["O", "B-genre", "O"], "t:1"),
    _ex(["play", "the", "new", "album"], "play_music", ["O", "O", "O", "O"], "t:2"),
    _ex(["wake", "me", "at", "five", "am"], "set_alarm", ["O", "O", "O", "B-time", "I-time"],
        "t:3"),
    _ex(["set", "an", "alarm"], "set_alarm", ["O", "O", "O"], "t:4"),
]


@pytest.fixture
def vocabs():
  return (Vocab.build(e.tokens for e in TRAIN), LabelVocab.build(e.intent for e in TRAIN),
          LabelVocab.build_bio(e.slots for e in TRAIN))


# ---------------------------------------------------------------- Vocab


def test_reserved_ids():
  vocab = Vocab.build([["hello"]])
  assert (PAD_ID, UNK_ID, BOS_ID, EOS_ID) == (0, 1, 2, 3)
  assert vocab.tokens[:4] == SPECIAL_TOKENS == ("<pad>", "<unk>", "<bos>", "<eos>")
  assert [vocab.token_to_id(t) for t in SPECIAL_TOKENS] == [0, 1, 2, 3]
  assert vocab.token_to_id("hello") == 4
  assert len(vocab) == 5


def test_build_orders_by_count_then_token_and_is_deterministic():
  lists = [["b", "a", "c"], ["c", "b"], ["c", "z"], ["y"]]
  vocab = Vocab.build(lists)
  assert vocab.tokens[4:] == ("c", "b", "a", "y", "z")
  for seed in range(5):
    shuffled = [list(l) for l in lists]
    random.Random(seed).shuffle(shuffled)
    for l in shuffled:
      random.Random(seed).shuffle(l)
    assert Vocab.build(shuffled) == vocab


def test_build_min_count_and_max_size():
  lists = [["a", "a", "a", "b", "b", "c"]]
  assert Vocab.build(lists, min_count=2).tokens[4:] == ("a", "b")
  assert Vocab.build(lists, min_count=4).tokens == SPECIAL_TOKENS
  assert Vocab.build(lists, max_size=5).tokens[4:] == ("a",)
  assert len(Vocab.build(lists, max_size=4)) == 4
  assert len(Vocab.build(lists, max_size=100)) == 7
  with pytest.raises(ValueError, match="min_count"):
    Vocab.build(lists, min_count=0)
  with pytest.raises(ValueError, match="max_size"):
    Vocab.build(lists, max_size=3)


def test_build_skips_specials_in_data():
  vocab = Vocab.build([["<pad>", "<unk>", "x"]])
  assert vocab.tokens == SPECIAL_TOKENS + ("x",)


def test_build_and_encode_reject_a_bare_string():
  with pytest.raises(TypeError, match="string"):
    Vocab.build(["play music"])
  with pytest.raises(TypeError, match="string"):
    Vocab.build([["a"]]).encode("a")


def test_encode_maps_oov_to_unk_and_adds_markers():
  vocab = Vocab.build([["set", "alarm"]])
  ids = vocab.encode(["set", "timer", "alarm"])
  assert ids.dtype == np.int32
  assert ids.tolist() == [5, UNK_ID, 4]  # ties sort by token: alarm=4, set=5
  assert vocab.token_to_id("timer") == UNK_ID
  assert "timer" not in vocab and "set" in vocab
  both = vocab.encode(["set"], add_bos=True, add_eos=True).tolist()
  assert both == [BOS_ID, vocab.token_to_id("set"), EOS_ID]
  assert vocab.encode([]).shape == (0,)


def test_decode_round_trip_and_errors():
  vocab = Vocab.build(e.tokens for e in TRAIN)
  for example in TRAIN:
    assert vocab.decode(vocab.encode(example.tokens)) == list(example.tokens)
  ids = vocab.encode(["play", "polka"], add_bos=True, add_eos=True)
  assert vocab.decode(ids) == ["<bos>", "play", "<unk>", "<eos>"]
  assert vocab.decode(ids, skip_special=True) == ["play"]
  with pytest.raises(IndexError, match="-1"):
    vocab.id_to_token(-1)
  with pytest.raises(IndexError):
    vocab.decode([len(vocab)])


def test_vocab_constructor_validates():
  with pytest.raises(ValueError, match="special"):
    Vocab(("a", "b"))
  with pytest.raises(ValueError, match="twice"):
    Vocab(SPECIAL_TOKENS + ("a", "a"))
  with pytest.raises(ValueError, match="non-empty"):
    Vocab(SPECIAL_TOKENS + ("",))


def test_vocabs_are_immutable():
  vocab = Vocab.build([["a"]])
  with pytest.raises(dataclasses.FrozenInstanceError):
    vocab.tokens = ()
  labels = LabelVocab.build(["x"])
  with pytest.raises(dataclasses.FrozenInstanceError):
    labels.labels = ()


def test_vocab_json_save_load(tmp_path):
  vocab = Vocab.build([["réveil", "à", "7h"], ["wi-fi", "à"]])
  path = tmp_path / "vocab.json"
  vocab.save(path)
  assert json.loads(path.read_text(encoding="utf-8")) == list(vocab.tokens)
  assert "réveil" in path.read_text(encoding="utf-8")  # readable, not \u-escaped
  loaded = Vocab.load(path)
  assert loaded == vocab and loaded.token_to_id("à") == vocab.token_to_id("à")
  path.write_text('{"a": 1}', encoding="utf-8")
  with pytest.raises(ValueError, match="JSON list"):
    Vocab.load(path)
  path.write_text('["a", "b"]', encoding="utf-8")
  with pytest.raises(ValueError, match="special"):
    Vocab.load(path)


# ---------------------------------------------------------------- LabelVocab


def test_label_vocab_build_and_encode():
  intents = LabelVocab.build(["set_alarm", "play_music", "set_alarm"])
  assert intents.labels == ("play_music", "set_alarm")
  assert intents.encode("play_music") == 0 and intents.encode("set_alarm") == 1
  assert intents.decode([1, 0]) == ["set_alarm", "play_music"]
  assert len(intents) == 2 and "set_alarm" in intents and "weather" not in intents
  with pytest.raises(TypeError):
    LabelVocab.build("set_alarm")
  with pytest.raises(ValueError, match="at least one"):
    LabelVocab.build([])


def test_unknown_label_raise_vs_ignore():
  intents = LabelVocab.build(["play_music", "set_alarm"])
  with pytest.raises(KeyError) as info:
    intents.encode("weather_query")
  message = str(info.value)
  assert "weather_query" in message and "play_music" in message and "set_alarm" in message
  assert intents.encode("weather_query", unknown="ignore") == IGNORE_INDEX == -1
  assert intents.encode_all(["set_alarm", "x"], unknown="ignore").tolist() == [1, -1]
  with pytest.raises(ValueError, match="unknown must be"):
    intents.encode("weather_query", unknown="skip")
  with pytest.raises(IndexError):
    intents.id_to_label(IGNORE_INDEX)


def test_unknown_label_message_elides_long_label_sets():
  labels = LabelVocab.build(f"intent_{i:03d}" for i in range(50))
  with pytest.raises(KeyError, match=r"known \(50\).*\(40 more\)"):
    labels.encode("nope")


def test_build_bio_has_both_tags_of_each_type_and_o_first():
  # "time" is only ever seen as B- in training, "genre" only as I-.
  tags = LabelVocab.build_bio([["O", "B-time"], ["I-genre", "O"], ["B-time"]])
  assert tags.labels == ("O", "B-genre", "I-genre", "B-time", "I-time")
  assert tags.encode("O") == 0
  test_tags = ["B-time", "I-time", "B-genre"]
  assert tags.encode_all(test_tags).tolist() == [3, 4, 1]
  assert LabelVocab.build_bio([["O", "O"]]).labels == ("O",)
  for bad in ("X-time", "B-", "time", ""):
    with pytest.raises(ValueError, match="BIO"):
      LabelVocab.build_bio([["O", bad]])


def test_label_vocab_json_save_load(tmp_path):
  tags = LabelVocab.build_bio(e.slots for e in TRAIN)
  path = tmp_path / "tags.json"
  tags.save(path)
  assert json.loads(path.read_text(encoding="utf-8"))[0] == "O"
  assert LabelVocab.load(path) == tags


# ---------------------------------------------------------------- buckets, padding


def test_bucket_for():
  assert DEFAULT_BUCKETS == (8, 16, 32, 64)
  assert [bucket_for(n) for n in (0, 1, 8, 9, 16, 17, 33, 64)] == [8, 8, 8, 16, 16, 32, 64, 64]
  assert bucket_for(65) == 64 and bucket_for(1000) == 64
  assert bucket_for(3, (4,)) == 4 and bucket_for(5, (4,)) == 4
  for bad in ((), (16, 8), (8, 8), (0, 8)):
    with pytest.raises(ValueError, match="bucket"):
      bucket_for(3, bad)
  with pytest.raises(ValueError, match="length"):
    bucket_for(-1)


def test_pad_batch():
  ids, mask = pad_batch([[4, 5, 6], [], [7]], 4, pad_id=-1)
  assert ids.dtype == np.int32 and mask.dtype == bool
  assert ids.tolist() == [[4, 5, 6, -1], [-1, -1, -1, -1], [7, -1, -1, -1]]
  assert mask.sum(axis=1).tolist() == [3, 0, 1]
  empty_ids, empty_mask = pad_batch([], 8)
  assert empty_ids.shape == empty_mask.shape == (0, 8)
  with pytest.raises(ValueError, match="longer than length 2"):
    pad_batch([[1, 2, 3]], 2)


# ---------------------------------------------------------------- encode_split


def test_encode_split_shapes_masks_and_slots(vocabs):
  vocab, intents, tags = vocabs
  enc = encode_split(TRAIN, vocab, intents, tags)
  assert enc.token_ids.shape == enc.mask.shape == enc.slots.shape == (4, 8)
  assert enc.length == 8 and len(enc) == 4
  assert enc.token_ids.dtype == enc.slots.dtype == enc.intent.dtype == np.int32
  assert enc.lengths.dtype == np.int32 and enc.mask.dtype == bool
  assert enc.lengths.tolist() == [3, 4, 5, 3]
  assert (enc.mask.sum(axis=1) == enc.lengths).all()
  assert (enc.token_ids[~enc.mask] == PAD_ID).all()
  assert (enc.slots[~enc.mask] == IGNORE_INDEX).all()
  assert (enc.slots[enc.mask] >= 0).all()
  assert enc.index.tolist() == [0, 1, 2, 3]
  assert tags.decode(enc.slots[2, :5]) == list(TRAIN[2].slots)
  assert intents.decode(enc.intent) == [e.intent for e in TRAIN]
  assert vocab.decode(enc.token_ids[1, :enc.lengths[1]]) == list(TRAIN[1].tokens)
  assert enc.stats == EncodeStats(examples=4, total_tokens=15)


def test_encode_split_length_is_bucket_of_longest(vocabs):
  vocab, intents, tags = vocabs
  long = _ex(["play"] * 9)
  assert encode_split(TRAIN + [long], vocab, intents, tags).length == 16
  assert encode_split(TRAIN, vocab, intents, tags, buckets=(4, 6)).length == 6
  empty = encode_split([], vocab, intents, tags)
  assert empty.token_ids.shape == (0, 8) and empty.stats.examples == 0


def test_truncation_is_counted(vocabs):
  vocab, intents, tags = vocabs
  examples = [_ex(["play"] * 70), _ex(["jazz"] * 64), _ex(["music"] * 3)]
  enc = encode_split(examples, vocab, intents, tags)
  assert enc.length == 64
  assert enc.lengths.tolist() == [64, 64, 3]
  assert enc.stats.truncated == 1 and enc.stats.truncated_tokens == 6
  assert enc.stats.total_tokens == int(enc.mask.sum()) == 131
  capped = encode_split(examples, vocab, intents, tags, max_length=20)
  assert capped.length == 20 and capped.lengths.tolist() == [20, 20, 3]
  assert capped.stats.truncated == 2 and capped.stats.truncated_tokens == 50 + 44
  # max_length above every bucket becomes the largest bucket.
  wide = encode_split(examples, vocab, intents, tags, max_length=100)
  assert wide.length == 100 and wide.stats.truncated == 0
  with pytest.raises(ValueError, match="max_length"):
    encode_split(examples, vocab, intents, tags, max_length=0)


def test_oov_tokens_are_counted(vocabs):
  vocab, intents, tags = vocabs
  enc = encode_split([_ex(["play", "polka", "music", "loudly"])], vocab, intents, tags)
  assert enc.token_ids[0, :4].tolist().count(UNK_ID) == 2
  assert enc.stats.oov_tokens == 2 and enc.stats.total_tokens == 4
  assert enc.stats.oov_rate == 0.5


def test_unknown_intent_raise_vs_ignore(vocabs):
  vocab, intents, tags = vocabs
  examples = TRAIN + [_ex(["weather", "today"], "weather_query", source="test.json:7")]
  with pytest.raises(KeyError) as info:
    encode_split(examples, vocab, intents, tags)
  assert "test.json:7" in str(info.value) and "weather_query" in str(info.value)
  enc = encode_split(examples, vocab, intents, tags, unknown_label="ignore")
  assert enc.intent.tolist() == [0, 0, 1, 1, -1]
  assert enc.stats.unknown_intent == 1 and enc.stats.unknown_slot == 0
  with pytest.raises(ValueError, match="unknown_label"):
    encode_split(examples, vocab, intents, tags, unknown_label="skip")


def test_unknown_slot_tag_raise_vs_ignore(vocabs):
  vocab, intents, tags = vocabs
  # I-genre never occurs in training but B-genre does: it must map.
  ok = _ex(["play", "acid", "jazz"], slots=["O", "B-genre", "I-genre"])
  bad = _ex(["in", "paris"], slots=["O", "B-place"], source="test.json:9")
  with pytest.raises(KeyError, match="test.json:9.*B-place"):
    encode_split([ok, bad], vocab, intents, tags)
  enc = encode_split([ok, bad], vocab, intents, tags, unknown_label="ignore")
  assert tags.decode(enc.slots[0, :3]) == ["O", "B-genre", "I-genre"]
  assert enc.slots[1, :3].tolist() == [tags.encode("O"), -1, -1]
  assert enc.mask[1].tolist()[:3] == [True, True, False]
  assert enc.stats.unknown_slot == 1


def test_empty_token_list_is_rejected_with_its_source(vocabs):
  vocab, intents, tags = vocabs
  empty = Example(text="", tokens=(), intent="play_music", slots=(), domain="music",
                  source="user.json:42")
  with pytest.raises(ValueError, match="user.json:42.*no tokens"):
    encode_split(TRAIN + [empty], vocab, intents, tags)
  with pytest.raises(ValueError, match="user.json:42"):
    encode_buckets([empty], vocab, intents, tags)


# ---------------------------------------------------------------- encode_buckets


def test_encode_buckets_groups_and_restores_order(vocabs):
  vocab, intents, tags = vocabs
  rng = random.Random(0)
  examples = []
  for i in range(40):
    n = rng.choice([1, 3, 8, 9, 15, 20, 40, 80])
    examples.append(_ex([rng.choice(["play", "jazz", "tango"]) for _ in range(n)],
                        rng.choice(["play_music", "set_alarm"]), source=f"r:{i}"))
  whole = encode_split(examples, vocab, intents, tags)
  parts = encode_buckets(examples, vocab, intents, tags)
  assert list(parts) == sorted(parts) and set(parts) <= set(DEFAULT_BUCKETS)
  assert sorted(np.concatenate([p.index for p in parts.values()]).tolist()) == list(range(40))
  for length, part in parts.items():
    assert part.token_ids.shape == (len(part), length)
    assert list(part.index) == sorted(part.index)  # file order within a bucket
    assert (part.lengths <= length).all()
    if length > DEFAULT_BUCKETS[0]:
      # Each example is in the smallest bucket that fits it.
      assert (part.lengths > DEFAULT_BUCKETS[DEFAULT_BUCKETS.index(length) - 1]).all()
    np.testing.assert_array_equal(part.token_ids, whole.token_ids[part.index, :length])
    np.testing.assert_array_equal(part.slots, whole.slots[part.index, :length])
    np.testing.assert_array_equal(part.intent, whole.intent[part.index])
  total = sum((p.stats for p in parts.values()), EncodeStats())
  assert total == whole.stats and total.truncated == whole.stats.truncated > 0
  restored = unbucket(parts, {L: p.intent for L, p in parts.items()})
  np.testing.assert_array_equal(restored, whole.intent)
  restored_len = unbucket(parts, {L: p.lengths for L, p in parts.items()})
  np.testing.assert_array_equal(restored_len, whole.lengths)
  with pytest.raises(ValueError, match="buckets"):
    unbucket(parts, {})
  first = min(parts)
  with pytest.raises(ValueError, match="values for"):
    unbucket(parts, {L: p.intent[:-1] if L == first else p.intent for L, p in parts.items()})


# ---------------------------------------------------------------- properties

_TOKENS = st.text(min_size=1, max_size=6)
_TOKEN_LISTS = st.lists(st.lists(_TOKENS, min_size=1, max_size=80), min_size=1, max_size=12)


@settings(max_examples=60, deadline=None)
@given(_TOKEN_LISTS)
def test_property_decode_encode_round_trip(token_lists):
  vocab = Vocab.build(token_lists)
  for tokens in token_lists:
    ids = vocab.encode(tokens)
    assert UNK_ID not in ids.tolist() or "<unk>" in tokens
    assert vocab.decode(ids) == tokens


@settings(max_examples=60, deadline=None)
@given(_TOKEN_LISTS, st.sampled_from([DEFAULT_BUCKETS, (4,), (2, 5, 30)]))
def test_property_masks_match_lengths(token_lists, buckets):
  examples = [_ex(tokens, source=f"p:{i}") for i, tokens in enumerate(token_lists)]
  vocab = Vocab.build(token_lists)
  intents, tags = LabelVocab.build(["play_music"]), LabelVocab.build_bio([["O"]])
  enc = encode_split(examples, vocab, intents, tags, buckets=buckets)
  expected = [min(len(t), max(buckets)) for t in token_lists]
  assert enc.mask.sum(axis=1).tolist() == expected == enc.lengths.tolist()
  assert enc.length == bucket_for(max(len(t) for t in token_lists), buckets)
  assert enc.stats.truncated == sum(len(t) > max(buckets) for t in token_lists)
  assert enc.stats.total_tokens == sum(expected)
  assert enc.stats.oov_tokens == 0 or any("<unk>" in t for t in token_lists)
  for row, tokens in enumerate(token_lists):
    assert vocab.decode(enc.token_ids[row, :enc.lengths[row]]) == tokens[:max(buckets)]
  parts = encode_buckets(examples, vocab, intents, tags, buckets=buckets)
  np.testing.assert_array_equal(
      unbucket(parts, {L: p.lengths for L, p in parts.items()}), enc.lengths)


# ---------------------------------------------------------------- doctests, real data


@pytest.mark.parametrize("module", [vocab_module, arrays_module])
def test_doctests(module):
  result = doctest.testmod(module)
  assert result.attempted > 0 and result.failed == 0


def test_clinc150_train_split(shared_data, cache_dir):
  from fsnlu_jax.data.loading import load  # pylint: disable=g-import-not-at-top
  train = load("clinc150", data_dir=shared_data, cache_dir=cache_dir, splits=["train"])["train"]
  vocab = Vocab.build(e.tokens for e in train)
  intents = LabelVocab.build(e.intent for e in train)
  tags = LabelVocab.build_bio(e.slots for e in train)
  assert len(intents) == 150 and tags.labels == ("O",)
  enc = encode_split(train, vocab, intents, tags)
  longest = max(len(e.tokens) for e in train)
  assert enc.token_ids.shape == enc.mask.shape == enc.slots.shape == (15000, enc.length)
  assert enc.length == bucket_for(longest) >= longest
  assert enc.stats.oov_tokens == 0 and enc.stats.truncated == 0
  assert enc.stats.unknown_intent == enc.stats.unknown_slot == 0
  assert enc.stats.total_tokens == int(enc.mask.sum()) == sum(len(e.tokens) for e in train)
  assert np.bincount(enc.intent).tolist() == [100] * 150
  parts = encode_buckets(train, vocab, intents, tags)
  assert sum(len(p) for p in parts.values()) == 15000
  np.testing.assert_array_equal(unbucket(parts, {L: p.intent for L, p in parts.items()}),
                                enc.intent)
