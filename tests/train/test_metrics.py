"""Tests for the NLU metrics against hand-computed and published values.

Slot cases are the ones conlleval is known to treat specially (stray ``I-x``,
type switches inside a run, spans at the sentence end, empty sides); the
expected counts are what ``conlleval`` prints for the same tag columns.
"""

from __future__ import annotations

import json
import math
import pathlib

import hypothesis
import hypothesis.strategies as st
import jax.numpy as jnp
import numpy as np
import pytest

from fsnlu_jax.data.bio import bio_to_spans
from fsnlu_jax.train import metrics
from fsnlu_jax.train.metrics import (EpisodeStats, SemanticErrors, SpanCounts,
                                     corpus_semantic_errors, intent_accuracy, macro_f1,
                                     mean_confidence_interval, relative_error_reduction,
                                     semantic_error_rate, semantic_errors, slot_f1,
                                     slot_items, student_t_quantile)

FIXTURES = pathlib.Path(__file__).parents[1] / "fixtures"

# ------------------------------------------------------------------ intents


def test_intent_accuracy_ignores_padding_rows_and_takes_jax_arrays():
  pred = jnp.array([3, 1, 2, 2, 7])
  gold = jnp.array([3, 1, 0, -1, -1])
  assert intent_accuracy(pred, gold) == pytest.approx(2 / 3)
  assert intent_accuracy(pred, gold, ignore=None) == pytest.approx(2 / 5)


def test_intent_accuracy_rejects_bad_input():
  with pytest.raises(ValueError, match="no labelled rows"):
    intent_accuracy([1, 2], [-1, -1])
  with pytest.raises(ValueError, match="3 labels but gold has 2"):
    intent_accuracy([1, 2, 3], [1, 2])


def test_intent_accuracy_on_names():
  assert intent_accuracy(["a", "b", "c"], ["a", "b", "b"]) == pytest.approx(2 / 3)


def test_macro_f1_hand_computed_union_of_labels():
  # gold: 0 0 1 1 2 ; pred: 0 1 1 1 3
  # class 0: tp1 fp0 fn1 -> 2/3; class 1: tp2 fp1 fn0 -> 4/5;
  # class 2: tp0 fp0 fn1 -> 0; class 3 (predicted only): tp0 fp1 -> 0.
  pred, gold = [0, 1, 1, 1, 3], [0, 0, 1, 1, 2]
  assert macro_f1(pred, gold) == pytest.approx((2 / 3 + 4 / 5 + 0 + 0) / 4)
  # A fixed label set: absent class 9 scores 0, class 3 is left out.
  assert macro_f1(pred, gold, labels=[0, 1, 2, 9]) == pytest.approx((2 / 3 + 4 / 5) / 4)
  assert macro_f1(pred, gold, labels=[0, 1]) == pytest.approx((2 / 3 + 4 / 5) / 2)


def test_macro_f1_perfect_ignore_and_range_check():
  assert macro_f1(np.array([2, 0, 1]), np.array([2, 0, 1])) == 1.0
  # The ignored row would otherwise add a wrong prediction of class 5.
  assert macro_f1([0, 1, 5], [0, 1, -1]) == 1.0
  with pytest.raises(ValueError, match="pred id 5 outside"):
    macro_f1([0, 5], [0, 1], n_classes=3)
  with pytest.raises(ValueError, match="no class"):
    macro_f1([0], [-1])


def test_macro_f1_matches_sklearn():
  """Against ``sklearn.metrics.f1_score`` (tests/fixtures/make_macro_f1_reference.py)."""
  ref = json.loads((FIXTURES / "macro_f1_reference.json").read_text())
  assert len(ref["cases"]) >= 20
  for case in ref["cases"]:
    got = macro_f1(case["pred"], case["gold"], labels=case["labels"])
    assert got == pytest.approx(case["f1"], abs=1e-12), case


# -------------------------------------------------------------------- slots


def counts(scores):
  return scores.tp, scores.n_pred, scores.n_gold


@pytest.mark.parametrize(
    "pred, gold, expected",
    [
        # I-x after O starts a span; it matches a gold B-x at the same place.
        (["O", "I-loc", "I-loc", "O"], ["O", "B-loc", "I-loc", "O"], (1, 1, 1)),
        # B-x I-y is two spans, neither equal to the gold B-x I-x.
        (["B-loc", "I-per", "O"], ["B-loc", "I-loc", "O"], (0, 2, 1)),
        # Right start, wrong end: no credit.
        (["B-loc", "O", "O"], ["B-loc", "I-loc", "O"], (0, 1, 1)),
        # Right boundaries, wrong type: no credit.
        (["B-per", "I-per"], ["B-loc", "I-loc"], (0, 1, 1)),
        # Spans closed by the sentence end, and B-x B-x as two spans.
        (["O", "B-loc", "B-loc", "I-loc"], ["O", "B-loc", "B-loc", "I-loc"], (2, 2, 2)),
        # Empty predictions.
        (["O", "O", "O"], ["B-loc", "O", "B-per"], (0, 0, 2)),
        # Predictions with all-O gold.
        (["B-loc", "O"], ["O", "O"], (0, 1, 0)),
    ],
)
def test_slot_f1_conlleval_cases(pred, gold, expected):
  assert counts(slot_f1([pred], [gold])) == expected


def test_slot_f1_ratios_and_per_type_follow_conlleval():
  pred = [["B-loc", "I-loc", "O", "B-per"], ["B-date", "O", "I-loc"]]
  gold = [["B-loc", "I-loc", "O", "B-org"], ["B-date", "O", "O"]]
  s = slot_f1(pred, gold)
  # pred spans: loc, per, date, loc; gold: loc, org, date; correct: loc, date.
  assert counts(s) == (2, 4, 3)
  assert s.precision == pytest.approx(0.5)
  assert s.recall == pytest.approx(2 / 3)
  assert s.f1 == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
  assert s.per_type == {
      "date": SpanCounts(1, 1, 1),
      "loc": SpanCounts(1, 2, 1),
      "org": SpanCounts(0, 0, 1),
      "per": SpanCounts(0, 1, 0),
  }
  assert s.per_type["per"].recall == 0.0 and s.per_type["org"].precision == 0.0


def test_slot_f1_all_o_is_zero_like_conlleval():
  s = slot_f1([["O", "O"]], [["O", "O"]])
  assert (s.precision, s.recall, s.f1) == (0.0, 0.0, 0.0)
  assert s.per_type == {}


def test_slot_f1_from_ids_with_mask_or_lengths():
  names = ["O", "B-x", "I-x", "B-y", "I-y"]
  gold = jnp.array([[1, 2, 0, 0], [3, 4, 4, 0]])
  # Row 0's padding holds a span that must not count; row 1 is exact.
  pred = jnp.array([[1, 2, 0, 3], [3, 4, 4, 0]])
  lengths = jnp.array([3, 3])
  mask = np.arange(4)[None, :] < np.asarray(lengths)[:, None]
  by_len = slot_f1(pred, gold, tag_names=names, lengths=lengths)
  by_mask = slot_f1(pred, gold, tag_names=names, mask=mask)
  assert counts(by_len) == counts(by_mask) == (2, 2, 2)
  assert counts(slot_f1(pred, gold, tag_names=names)) == (2, 3, 2)
  as_names = [[names[i] for i in row] for row in np.asarray(pred)]
  assert counts(slot_f1(as_names, [[names[i] for i in r] for r in np.asarray(gold)])) == (2, 3, 2)


def test_slot_f1_rejects_bad_input():
  with pytest.raises(ValueError, match="row 0 has 2 predicted tags but 3 gold"):
    slot_f1([["O", "O"]], [["O", "O", "O"]])
  with pytest.raises(ValueError, match="tag id 7 outside"):
    slot_f1([[7]], [[0]], tag_names=["O", "B-x"])
  with pytest.raises(ValueError, match="pass tag_names"):
    slot_f1([["O"]], [["O"]], lengths=[1])


TAGS = st.sampled_from(["O", "B-a", "I-a", "B-b", "I-b"])


@st.composite
def tag_pairs(draw):
  gold = draw(st.lists(TAGS, min_size=1, max_size=8))
  hypothesis.assume(bio_to_spans(gold))
  how = draw(st.sampled_from(["copy", "respell", "random"]))
  if how == "copy":
    pred = list(gold)
  elif how == "respell":
    # Write each span's first tag as I-x where conlleval reads it the same
    # way: the spans are unchanged though the strings differ.
    pred = list(gold)
    for t, first, _ in bio_to_spans(gold):
      prev = gold[first - 1] if first else "O"
      if prev == "O" or prev[2:] != t:
        pred[first] = f"I-{t}"
  else:
    pred = draw(st.lists(TAGS, min_size=len(gold), max_size=len(gold)))
  return pred, gold


@hypothesis.given(tag_pairs())
@hypothesis.settings(max_examples=300, deadline=None)
def test_slot_f1_is_one_iff_spans_equal(pair):
  pred, gold = pair
  s = slot_f1([pred], [gold])
  assert (s.f1 == 1.0) == (set(bio_to_spans(pred)) == set(bio_to_spans(gold)))
  assert 0.0 <= s.f1 <= 1.0 and s.tp <= min(s.n_pred, s.n_gold)


# -------------------------------------------------------------------- SemER

REF = ("book_flight", [("from", "boston"), ("to", "new york"), ("date", "monday")])


def test_semer_correct_parse_is_zero():
  hyp = ("book_flight", [("date", ["monday"]), ("to", ("new", "york")), ("from", "boston")])
  assert semantic_errors(REF, hyp) == SemanticErrors(0, 0, 0, 4)
  assert semantic_error_rate([REF], [hyp]) == 0.0


def test_semer_wrong_intent_only():
  hyp = ("book_hotel", REF[1])
  assert semantic_errors(REF, hyp) == SemanticErrors(1, 0, 0, 4)
  assert semantic_error_rate([REF], [hyp]) == pytest.approx(1 / (1 + 3))


def test_semer_missing_extra_and_wrong_slots():
  missing = ("book_flight", REF[1][:2])
  assert semantic_errors(REF, missing) == SemanticErrors(0, 1, 0, 4)
  extra = ("book_flight", REF[1] + [("class", "business")])
  assert semantic_errors(REF, extra) == SemanticErrors(0, 0, 1, 4)
  wrong_value = ("book_flight", [("from", "austin"), ("to", "new york"), ("date", "monday")])
  assert semantic_errors(REF, wrong_value) == SemanticErrors(1, 0, 0, 4)
  # Right value under the wrong type: deletion of "from" plus insertion of "via".
  wrong_type = ("book_flight", [("via", "boston"), ("to", "new york"), ("date", "monday")])
  assert semantic_errors(REF, wrong_type) == SemanticErrors(0, 1, 1, 4)
  # Two hypotheses of one reference type: one substitution, one insertion.
  two = ("book_flight", [("from", "austin"), ("from", "dallas"), ("to", "new york"),
                         ("date", "monday")])
  assert semantic_errors(REF, two) == SemanticErrors(1, 0, 1, 4)


def test_semer_is_pooled_over_the_corpus():
  refs = [REF, ("greet", [])]
  hyps = [("book_flight", REF[1][:2]), ("goodbye", [("name", "bob")])]
  total = corpus_semantic_errors(refs, hyps)
  assert total == SemanticErrors(1, 1, 1, 5)
  assert semantic_error_rate(refs, hyps) == pytest.approx(3 / 5)
  with pytest.raises(ValueError, match="2 references but 1"):
    semantic_error_rate(refs, hyps[:1])


def test_slot_items_feed_semer_from_bio():
  tokens = ["wake", "me", "at", "7", "am"]
  ref = ("set_alarm", slot_items(tokens, ["O", "O", "O", "B-time", "I-time"]))
  hyp = ("set_alarm", slot_items(tokens, ["O", "O", "O", "B-time", "O"]))
  assert ref[1] == [("time", ("7", "am"))]
  assert semantic_errors(ref, hyp) == SemanticErrors(1, 0, 0, 2)


# -------------------------------------------------------- episode statistics


@pytest.mark.parametrize(
    "n, want",
    [(2, 12.7062), (3, 4.3027), (5, 2.776), (10, 2.262), (31, 2.0423), (600, 1.964)],
)
def test_t_quantile_matches_tables(n, want):
  assert student_t_quantile(0.975, n - 1) == pytest.approx(want, abs=1e-3)


def test_t_quantile_other_levels_and_symmetry():
  assert student_t_quantile(0.995, 10) == pytest.approx(3.169, abs=1e-3)
  assert student_t_quantile(0.95, 3) == pytest.approx(2.353, abs=1e-3)
  assert student_t_quantile(0.9995, 1) == pytest.approx(636.619, abs=1e-2)
  assert student_t_quantile(0.975, 1e7) == pytest.approx(1.959964, abs=1e-5)
  assert student_t_quantile(0.025, 7) == -student_t_quantile(0.975, 7)
  assert student_t_quantile(0.5, 3) == 0.0
  with pytest.raises(ValueError):
    student_t_quantile(1.0, 3)


def test_mean_confidence_interval_and_episode_stats():
  rng = np.random.default_rng(1)
  values = rng.normal(0.7, 0.1, size=600)
  mean, half = mean_confidence_interval(jnp.asarray(values))
  assert mean == pytest.approx(values.mean())
  assert half == pytest.approx(
      student_t_quantile(0.975, 599) * values.std(ddof=1) / math.sqrt(600))
  stats = EpisodeStats()
  for v in values:
    stats.add(accuracy=v, macro_f1=v / 2)
  summary = stats.summary()
  assert summary["accuracy"]["mean"] == pytest.approx(mean)
  assert summary["accuracy"]["half_width"] == pytest.approx(half)
  assert summary["macro_f1"]["half_width"] == pytest.approx(half / 2)
  assert summary["accuracy"]["n"] == 600
  assert stats.mean_ci("accuracy", confidence=0.99)[1] > half
  with pytest.raises(KeyError, match="no metric 'f1'"):
    stats.mean_ci("f1")
  with pytest.raises(ValueError, match=">= 2 values"):
    mean_confidence_interval([0.5])
  with pytest.raises(ValueError, match="NaN"):
    mean_confidence_interval([0.5, float("nan")])


def test_relative_error_reduction():
  # ProtoDA-style: noise-augmented F1 0.80, ProtoDA 0.8168 -> 8.4% fewer errors.
  assert relative_error_reduction(1 - 0.80, 1 - 0.8168) == pytest.approx(0.084)
  assert relative_error_reduction(0.1, 0.2) == pytest.approx(-1.0)
  with pytest.raises(ValueError):
    relative_error_reduction(0.0, 0.1)


def test_public_names_are_exported():
  from fsnlu_jax import train
  for name in metrics.__all__:
    assert getattr(train, name) is getattr(metrics, name)
