"""LINGUIST's prompt and output format: render -> parse round-trips, named errors."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fsnlu_jax.data.schema import Example
from fsnlu_jax.teach import format as fmt

NUMBERS = {"city": 1, "timeRange": 2, "artist": 3}
LABELS = {n: label for label, n in NUMBERS.items()}


def _example(tokens, slots, intent="GetWeather"):
  return Example(" ".join(tokens), tuple(tokens), intent, tuple(slots), "weather", "test:1")


def test_render_and_parse_the_paper_example():
  ex = _example(["what's", "the", "weather", "in", "boston", "this", "weekend"],
                ["O", "O", "O", "O", "B-city", "B-timeRange", "I-timeRange"])
  text = fmt.render_example(ex, NUMBERS)
  assert text == "what's the weather in [1 boston ] [2 this weekend ]"
  out = fmt.parse_output(text, LABELS)
  assert (out.tokens, out.slots) == (ex.tokens, ex.slots)
  assert out.spans == {1: ((4, 5),), 2: ((5, 7),)}
  # The decoder's spaced form ("[ 1") reads the same.
  assert fmt.parse_output("what's the weather in [ 1 boston ] [ 2 this weekend ]", LABELS) == out


@pytest.mark.parametrize("text, error", [
    ("in [1 boston", fmt.UnbalancedBracketError),
    ("in boston ]", fmt.UnbalancedBracketError),
    ("in [1 bos]ton ]", fmt.UnbalancedBracketError),
    ("in [1 boston [2 today ] ]", fmt.NestedBracketError),
    ("in [7 boston ]", fmt.UnknownSlotNumberError),
    ("in [ boston ]", fmt.UnknownSlotNumberError),
    ("in [1 ]", fmt.EmptySpanError),
])
def test_malformed_outputs_name_their_fault(text, error):
  with pytest.raises(error):
    fmt.parse_output(text, LABELS)


def test_slot_control_is_checked_against_the_prompt():
  prompt = fmt.Prompt("GetWeather", NUMBERS, (fmt.SlotRequest("city", ("New", "York")),
                                               fmt.SlotRequest("timeRange")))
  ok = fmt.parse_output("rain in [1 new york ] [2 today ]", LABELS, prompt=prompt)
  assert ok.slots == ("O", "O", "B-city", "I-city", "B-timeRange")
  with pytest.raises(fmt.FixedValueError):
    fmt.parse_output("rain in [1 boston ] [2 today ]", LABELS, prompt=prompt)
  with pytest.raises(fmt.MissingSlotError):
    fmt.parse_output("rain in [1 new york ]", LABELS, prompt=prompt)
  with pytest.raises(fmt.UnrequestedSlotError):
    fmt.parse_output("[3 adele ] in [1 new york ] [2 today ]", LABELS, prompt=prompt)
  # Not strict: only the format.
  assert fmt.parse_output("[3 adele ]", LABELS, prompt=prompt, strict=False).tokens == ("adele",)
  # No slot control: any numbered slot, each once.
  free = fmt.Prompt("GetWeather", NUMBERS, None)
  assert fmt.parse_output("[3 adele ]", LABELS, prompt=free).spans == {3: ((0, 1),)}
  with pytest.raises(fmt.DuplicateSlotError):
    fmt.parse_output("[1 paris ] or [1 boston ]", LABELS, prompt=free)


def test_a_label_requested_twice_needs_two_spans_values_in_request_order():
  """HWU64 qa_currency: "convert [1 dollars ] to [1 euros ]" (one label, two spans)."""
  prompt = fmt.Prompt("qa_currency", {"city": 1}, (fmt.SlotRequest("city", ("paris",)),
                                                   fmt.SlotRequest("city")))
  ok = fmt.parse_output("from [1 paris ] to [1 new york ]", LABELS, prompt=prompt)
  assert ok.slots == ("O", "B-city", "O", "B-city", "I-city")
  assert ok.spans == {1: ((1, 2), (3, 5))}
  assert fmt.render_prompt(prompt).split("<labels>")[0].endswith("<include> [1=paris] [1=*] ")
  with pytest.raises(fmt.FixedValueError):  # the fixed value is the first span
    fmt.parse_output("from [1 rome ] to [1 paris ]", LABELS, prompt=prompt)
  with pytest.raises(fmt.MissingSlotError):
    fmt.parse_output("to [1 paris ]", LABELS, prompt=prompt)
  with pytest.raises(fmt.DuplicateSlotError):
    fmt.parse_output("[1 paris ] [1 rome ] [1 oslo ]", LABELS, prompt=prompt)
  # Rendering an utterance with two spans of a label, and parsing it back.
  ex = _example(["from", "paris", "to", "new", "york"], ["O", "B-city", "O", "B-city", "I-city"])
  text = fmt.render_example(ex, NUMBERS)
  assert text == "from [1 paris ] to [1 new york ]"
  assert fmt.parse_output(text, LABELS).slots == ex.slots


def test_prompt_rejects_inconsistent_maps():
  with pytest.raises(ValueError, match="distinct"):
    fmt.Prompt("x", {"a": 1, "b": 1})
  with pytest.raises(ValueError, match="without a number"):
    fmt.Prompt("x", {"a": 1}, (fmt.SlotRequest("b"),))
  ex = _example(["in", "boston"], ["O", "B-city"])
  with pytest.raises(ValueError, match="at most 10"):
    fmt.Prompt("x", {"city": 1}, (), (ex,) * 11)


def test_render_refuses_what_could_not_parse_back():
  with pytest.raises(fmt.FormatError, match="brackets"):
    fmt.render_utterance(["a[b"], ["O"], NUMBERS)
  with pytest.raises(fmt.FormatError, match="continues"):
    fmt.render_utterance(["in", "boston"], ["O", "I-city"], NUMBERS)


_WORD = st.text(alphabet=st.characters(blacklist_categories=("Z", "C"),
                                       blacklist_characters="[]"), min_size=1, max_size=6)


@st.composite
def _annotated(draw):
  n = draw(st.integers(1, 12))
  words = draw(st.lists(_WORD, min_size=n, max_size=n))
  tags, open_label = [], None
  for _ in range(n):
    choice = draw(st.sampled_from(["O", "B", "I"] if open_label else ["O", "B"]))
    if choice == "B":
      open_label = draw(st.sampled_from(sorted(NUMBERS)))
      tags.append("B-" + open_label)
    elif choice == "I":
      tags.append("I-" + open_label)
    else:
      open_label = None
      tags.append("O")
  return words, tags


@settings(max_examples=200, deadline=None)
@given(_annotated())
def test_render_parse_round_trip_property(annotated):
  words, tags = annotated
  labels_used = [t[2:] for t in tags if t.startswith("B-")]
  if len(set(labels_used)) != len(labels_used):
    return  # a label twice in one utterance is not an output the format allows
  out = fmt.parse_output(fmt.render_utterance(words, tags, NUMBERS), LABELS)
  assert (list(out.tokens), list(out.slots)) == (words, tags)


@pytest.mark.parametrize("name", ["snips", "hwu64"])
def test_every_dataset_example_round_trips(real_dataset, name):
  _, splits = real_dataset(name)
  checked = skipped = 0
  for examples in splits.values():
    for ex in examples:
      numbers = {label: i + 1 for i, label in enumerate(sorted(ex.slot_types))}
      spans = [t for t in ex.slots if t.startswith("B-")]
      if len(spans) != len(set(spans)):  # a slot type twice: outside the one-span-per-number format
        skipped += 1
        continue
      out = fmt.parse_output(fmt.render_example(ex, numbers), {n: l for l, n in numbers.items()})
      assert (out.tokens, out.slots) == (ex.tokens, ex.slots), ex.source
      checked += 1
  assert checked > 0.9 * (checked + skipped)
