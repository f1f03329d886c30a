"""The embedded synthetic corpus: size, determinism, exact tags, confusability."""

from __future__ import annotations

import collections
import os
import subprocess
import sys

import numpy as np
import pytest

from fsnlu_jax.data import bio, loading
from fsnlu_jax.data.builders import DATA_DIR_ENV
from fsnlu_jax.data.builders.synthetic import CONFIGS, DEFAULT_FINGERPRINT, Synthetic
from fsnlu_jax.data.schema import OUTSIDE
from fsnlu_jax.data.synthetic import (CATALOGUES, DEFAULT_PER_INTENT, DOMAINS, SLOT_VALUES,
                                      SPLITS, TemplateSpaceError, corpus_fingerprint,
                                      generate_corpus, intent_domains, intent_slot_types,
                                      template_space, vocabulary)
from fsnlu_jax.data.synthetic import generate as generate_module
from fsnlu_jax.data.synthetic.spec import domain
from fsnlu_jax.data.tokenize import tokenize

N_INTENTS = sum(len(d.intents) for d in DOMAINS)


@pytest.fixture(scope="module")
def corpus():
  return generate_corpus(0)


def _all(corpus):
  return [e for split in SPLITS for e in corpus[split]]


# ---- size and shape -------------------------------------------------------------


def test_domains_intents_and_slot_types_meet_the_minimums():
  assert len(DOMAINS) >= 20
  assert N_INTENTS >= 100
  for d in DOMAINS:
    assert 4 <= len(d.intents) <= 7, d.name
    for intent in d.intents:
      assert intent.name.startswith(d.name + "_")
      assert len(intent.templates) >= 8, intent.name
  slot_types = set().union(*intent_slot_types().values())
  assert len(slot_types) >= 30
  assert set(slot_types) <= set(SLOT_VALUES)
  big = [name for name, values in CATALOGUES.items() if len(values) >= 20]
  assert len(big) >= 25, "catalogues should hold tens of values"
  assert sum(bool(s) for s in intent_slot_types().values()) >= 0.8 * N_INTENTS


def test_every_intent_fills_its_quota_in_every_split(corpus):
  assert list(corpus) == list(SPLITS)
  for split, examples in corpus.items():
    counts = collections.Counter(e.intent for e in examples)
    assert set(counts) == set(intent_domains())
    assert set(counts.values()) == {DEFAULT_PER_INTENT[split]}, split
    assert all(e.domain == intent_domains()[e.intent] for e in examples)


def test_template_spaces_leave_ample_headroom():
  wanted = sum(DEFAULT_PER_INTENT.values())
  small = {i: template_space(i) for i in intent_domains() if template_space(i) < 20 * wanted}
  assert not small, f"intents with too few distinct utterances: {small}"
  # And rejection sampling really reaches three times the default size.
  big = generate_corpus(0, {"train": 3 * wanted})
  assert len(big["train"]) == 3 * wanted * N_INTENTS


def test_an_intent_that_cannot_fill_its_quota_raises():
  tiny = domain("toy", words={}, intents={"toy_hello": "hello"})
  with pytest.raises(TemplateSpaceError, match="toy_hello"):
    generate_module._generate_intent(tiny, tiny.intents[0], 0, 50, set(), 0.0, 0.0)  # pylint: disable=protected-access


def test_malformed_templates_are_refused_where_written():
  with pytest.raises(ValueError, match="is not one of"):
    domain("toy", words={}, intents={"toy_a": "play the next {episode}s"})
  with pytest.raises(ValueError, match="must start with toy_"):
    domain("toy", words={}, intents={"other_a": "hello"})
  with pytest.raises(ValueError, match="seed"):
    generate_corpus(-1)


def test_another_seed_fills_every_quota_too():
  # Any seed, not only the fixture's: sampling must not need a lucky draw.
  other = generate_corpus(3)
  assert {split: len(examples) for split, examples in other.items()} == {
      split: DEFAULT_PER_INTENT[split] * N_INTENTS for split in SPLITS}


# ---- determinism ---------------------------------------------------------------


def test_same_seed_same_corpus_other_seed_other_corpus(corpus):
  assert generate_corpus(0) == corpus
  other = generate_corpus(1)
  same = {e.text for e in _all(corpus)} & {e.text for e in _all(other)}
  assert len(same) < 0.2 * len(_all(corpus))
  assert corpus_fingerprint(other) != corpus_fingerprint(corpus)


def test_fingerprint_pins_the_builder_version(corpus):
  assert CONFIGS["default"] == (0, DEFAULT_PER_INTENT)
  assert corpus_fingerprint(corpus) == DEFAULT_FINGERPRINT, (
      "the generator's output changed: bump Synthetic.VERSION (TFDS would otherwise"
      f" serve stale cached builds) and set DEFAULT_FINGERPRINT to"
      f" {corpus_fingerprint(corpus)!r}")


def test_same_corpus_in_another_process_with_another_hash_seed():
  seed, per_intent = CONFIGS["tiny"]
  code = ("from fsnlu_jax.data.synthetic import generate_corpus, corpus_fingerprint;"
          f"print(corpus_fingerprint(generate_corpus({seed}, {dict(per_intent)!r})))")
  env = {**os.environ, "PYTHONHASHSEED": "12345"}
  result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, check=True, timeout=300)
  assert result.stdout.strip() == corpus_fingerprint(generate_corpus(seed, per_intent))


# ---- examples -------------------------------------------------------------------


def test_no_utterance_in_two_splits_or_twice_in_one(corpus):
  seen: dict[str, str] = {}
  for split in SPLITS:
    for example in corpus[split]:
      key = " ".join(example.tokens)
      assert key not in seen, f"{example.text!r} in {seen[key]} and {split}"
      seen[key] = split
  texts = [" ".join(e.text.lower().split()) for e in _all(corpus)]
  assert len(set(texts)) == len(texts)


def test_tokens_tags_and_sources_are_exact(corpus):
  catalogue_tokens = {slot_type: {tuple(tokenize(v)) for v in values}
                      for slot_type, values in SLOT_VALUES.items()}
  for split in SPLITS:
    for index, example in enumerate(corpus[split]):
      assert example.source == f"synthetic/seed=0:{split}[{index}]"
      assert list(example.tokens) == tokenize(example.text), example.text
      assert example.text == " ".join(example.text.split())
      assert not bio.invalid_bio_tags(example.slots), example
      for slot_type, first, stop in bio.bio_to_spans(example.slots):
        assert example.tokens[first:stop] in catalogue_tokens[slot_type], (example, slot_type)


def test_most_utterances_carry_slots(corpus):
  examples = _all(corpus)
  with_slots = sum(any(tag != OUTSIDE for tag in e.slots) for e in examples)
  assert with_slots > 0.6 * len(examples)
  seen_types = set().union(*(e.slot_types for e in examples))
  assert seen_types == set().union(*intent_slot_types().values())


def test_noise_is_a_small_documented_fraction(corpus):
  vocab = vocabulary()
  clean = generate_corpus(0, {"train": 20}, typo_rate=0.0, drop_rate=0.0)
  assert all(set(e.tokens) <= vocab for e in clean["train"])
  examples = _all(corpus)
  with_typo = sum(not set(e.tokens) <= vocab for e in examples) / len(examples)
  assert 0.02 < with_typo < 0.10, with_typo


# ---- confusability ----------------------------------------------------------------


def test_intents_of_a_domain_share_slot_types():
  slots = intent_slot_types()
  sharing = 0
  for d in DOMAINS:
    pairs = [(a.name, b.name) for i, a in enumerate(d.intents) for b in d.intents[i + 1:]
             if slots[a.name] & slots[b.name]]
    sharing += bool(pairs)
  assert sharing >= 15
  assert "time" in slots["alarm_set"] & slots["alarm_remove"] & slots["alarm_query"]
  assert {"song", "artist"} <= slots["music_play"] & slots["music_add_to_playlist"]
  assert {"person", "amount"} <= (slots["banking_transfer_money"]
                                  & slots["banking_request_money"])


def _nearest_centroid_loo(examples) -> tuple[int, int]:
  """Correct and total leave-one-out predictions of a nearest-centroid
  classifier over L2-normalised bags of words, among one domain's intents."""
  vocab: dict[str, int] = {}
  for e in examples:
    for token in e.tokens:
      vocab.setdefault(token, len(vocab))
  x = np.zeros((len(examples), len(vocab)))
  for row, e in enumerate(examples):
    for token in e.tokens:
      x[row, vocab[token]] += 1.0
  x /= np.linalg.norm(x, axis=1, keepdims=True)
  labels = sorted({e.intent for e in examples})
  y = np.array([labels.index(e.intent) for e in examples])
  sums = np.stack([x[y == k].sum(0) for k in range(len(labels))])  # [C, V]
  counts = np.bincount(y)  # [C]
  dist = ((x[:, None, :] - (sums / counts[:, None])[None]) ** 2).sum(-1)  # [N, C]
  own = (sums[y] - x) / (counts[y] - 1)[:, None]  # own centroid without the example
  dist[np.arange(len(y)), y] = ((x - own) ** 2).sum(-1)
  return int((dist.argmin(1) == y).sum()), len(y)


def test_bag_of_words_nearest_centroid_is_far_from_perfect(corpus):
  by_domain = collections.defaultdict(list)
  for e in _all(corpus):
    by_domain[e.domain].append(e)
  per_domain = {d: _nearest_centroid_loo(es) for d, es in by_domain.items()}
  accuracy = sum(c for c, _ in per_domain.values()) / sum(n for _, n in per_domain.values())
  chance = np.mean([1 / len(d.intents) for d in DOMAINS])
  print(f"within-domain nearest-centroid LOO accuracy {accuracy:.3f} (chance {chance:.3f});",
        {d: round(c / n, 3) for d, (c, n) in sorted(per_domain.items())})
  assert 3 * chance < accuracy < 0.95
  assert max(c / n for c, n in per_domain.values()) < 0.99


# ---- builder -------------------------------------------------------------------


def test_builder_needs_no_files_and_matches_the_generator(cache_dir, tmp_path, monkeypatch):
  monkeypatch.delenv(DATA_DIR_ENV, raising=False)
  # A data dir without a synthetic/ folder does not matter: nothing is read.
  assert Synthetic.resolve_source(tmp_path) is None
  builder = loading.prepare("synthetic", cache_dir=cache_dir)
  assert builder.builder_config.name == "default"
  assert builder.info.metadata["defects"] == {}
  assert builder.info.metadata["source"] == "generated (seed=0)"
  expected = generate_corpus(*CONFIGS["default"])
  assert {s: builder.info.splits[s].num_examples for s in SPLITS} == {
      s: len(expected[s]) for s in SPLITS}
  test = loading.read_split(builder, "test")
  assert test == expected["test"]


def test_tiny_config_for_fast_tests(cache_dir, tmp_path, monkeypatch):
  monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))  # holds no synthetic/: ignored
  builder = loading.prepare("synthetic/tiny", cache_dir=cache_dir)
  splits = {s: loading.read_split(builder, s) for s in SPLITS}
  seed, per_intent = CONFIGS["tiny"]
  assert {s: len(e) for s, e in splits.items()} == {
      s: n * N_INTENTS for s, n in per_intent.items()}
  assert splits == generate_corpus(seed, per_intent)
