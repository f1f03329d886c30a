"""The annotated-output grammar against a brute-force oracle: exactly the tokens that can still end well."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fsnlu_jax.decoding import PieceClasses, SlotArrays, annotation_constraint, min_length
from fsnlu_jax.kernels import beam_search
from fsnlu_jax.teach import format as fmt

# A toy vocabulary: 0 pad, 1 EOS, 2 '[', 3 ']', 4 '1', 5 '2', 6 'a', 7 'b', 8 '##c'.
PIECES = ["[PAD]", "[SEP]", "[", "]", "1", "2", "a", "b", "##c"]
EOS = 1
CLASSES = PieceClasses(word=np.array([0, 0, 0, 0, 1, 1, 1, 1, 0], bool),
                       cont=np.array([0, 0, 0, 0, 0, 0, 0, 0, 1], bool),
                       open_id=np.int32(2), close_id=np.int32(3), eos_id=np.int32(1))
LABELS = {1: "city", 2: "time"}
NUMBERS = {"city": 1, "time": 2}
# (prompt, its slot arrays row): number ids 4 ('1'), 5 ('2'); fixed value 'a ##c' = [6, 8].
CASES = [
    (fmt.Prompt("x", NUMBERS, (fmt.SlotRequest("city", ("ac",)),)),
     ([4, -1], [True, False], [[6, 8], [-1, -1]], [2, 0])),
    (fmt.Prompt("x", NUMBERS, (fmt.SlotRequest("time"),)),
     ([5, -1], [True, False], [[-1, -1], [-1, -1]], [0, 0])),
    (fmt.Prompt("x", NUMBERS, (fmt.SlotRequest("city"), fmt.SlotRequest("time"))),
     ([4, 5], [True, True], [[-1, -1], [-1, -1]], [0, 0])),
    (fmt.Prompt("x", NUMBERS, None),
     ([4, 5], [False, False], [[-1, -1], [-1, -1]], [0, 0])),
    (fmt.Prompt("x", NUMBERS, ()),
     ([-1, -1], [False, False], [[-1, -1], [-1, -1]], [0, 0])),
]


def _slots(rows) -> SlotArrays:
  cols = list(zip(*rows))
  return SlotArrays(np.array(cols[0], np.int32), np.array(cols[1], bool),
                    np.array(cols[2], np.int32), np.array(cols[3], np.int32))


def _valid(seq, prompt) -> bool:
  """The oracle: the text parses, honours the prompt, and '##' only continues a word."""
  if not seq or seq[-1] != EOS or EOS in seq[:-1]:
    return False
  words, prev_word = [], False
  for i, t in enumerate(seq[:-1]):
    piece = PIECES[t]
    after_open = i > 0 and seq[i - 1] == 2
    if piece.startswith("##"):
      if not prev_word:
        return False
      words[-1] += piece[2:]
    else:
      words.append(piece)
    prev_word = CLASSES.word[t] or CLASSES.cont[t]
    if after_open:
      prev_word = False  # a slot number is not a word
  try:
    out = fmt.parse_output(" ".join(words), LABELS, prompt=prompt)
  except fmt.FormatError:
    return False
  return len(out.tokens) > 0


def _all_valid(prompt, max_length, alphabet=None):
  tokens = alphabet or [t for t in range(len(PIECES)) if t not in (0, EOS)]
  out = []
  for n in range(max_length):
    for body in itertools.product(tokens, repeat=n):
      seq = body + (EOS,)
      if _valid(seq, prompt):
        out.append(seq)
  return out


def _oracle_rows(cases, max_length, alphabet=None):
  """Every proper prefix of every valid output of each case (its slot arrays row), and the
  tokens that may follow it; checks the host-side feasibility check on the way."""
  rows, prefixes, wants = [], [], []
  for prompt, row in cases:
    valid = _all_valid(prompt, max_length, alphabet)
    if not valid:  # the host-side check refuses such a prompt before decoding
      assert min_length(_slots([row]))[0] > max_length
      continue
    assert min_length(_slots([row]))[0] == min(map(len, valid))
    for prefix in sorted({seq[:i] for seq in valid for i in range(len(seq))}):
      rows.append(row)
      prefixes.append(prefix)
      wants.append(sorted({seq[len(prefix)] for seq in valid if seq[:len(prefix)] == prefix}))
  return rows, prefixes, wants


def _allowed_after(rows, prefixes, max_length):
  """The constraint's mask after each prefix (one batch row each, advanced token by token):
  bool ``[rows, V]``."""
  constraint = annotation_constraint(CLASSES, _slots(rows), max_length=max_length)
  state = constraint.init(len(rows), 1)
  tokens = np.zeros((len(rows), max_length), np.int32)
  for i, prefix in enumerate(prefixes):
    tokens[i, :len(prefix)] = prefix
  lengths = np.array([len(p) for p in prefixes])
  advance = jax.jit(constraint.advance)
  for t in range(max_length):
    moved = advance(state, jnp.asarray(tokens[:, t:t + 1]))
    state = jax.tree.map(lambda new, old: jnp.where(jnp.asarray(lengths > t)[:, None], new, old),
                         moved, state)
  return np.asarray(jax.jit(constraint.allowed)(state))[:, 0]


@pytest.mark.parametrize("max_length", [6])
def test_allowed_tokens_equal_the_brute_force_oracle(max_length):
  rows, prefixes, wants = _oracle_rows(CASES, max_length)
  got = _allowed_after(rows, prefixes, max_length)
  for i, want in enumerate(wants):
    assert np.flatnonzero(got[i]).tolist() == want, (rows[i], prefixes[i])


def test_beam_search_under_the_grammar_finishes_every_beam_with_a_valid_output():
  slots = _slots([row for _, row in CASES])
  rng = np.random.default_rng(0)
  table = jnp.asarray(rng.normal(size=(len(PIECES), len(PIECES))) * 3, jnp.float32)
  # A model that prefers ending early, so without the budget beams would stop short.
  table = table.at[:, EOS].add(4.0)
  step = lambda tokens, cache, i: (table[tokens], cache)
  max_length, beams = 9, 3

  @jax.jit
  def search(slots):
    constraint = annotation_constraint(CLASSES, slots, max_length=max_length)
    return beam_search(step, None, batch_size=len(CASES), beam_size=beams, max_length=max_length,
                       vocab_size=len(PIECES), bos_id=0, eos_id=EOS, alpha=0.0,
                       constraint=constraint)

  out = search(slots)
  assert bool(out.finished.all())
  for b, (prompt, _) in enumerate(CASES):
    for w in range(beams):
      seq = tuple(np.asarray(out.sequences[b, w, :int(out.lengths[b, w])]).tolist())
      assert _valid(seq, prompt), (prompt.slots, seq)
  search(slots)
  assert search._cache_size() == 1  # pylint: disable=protected-access


# A label requested twice (HWU64 qa_currency: "convert [1 dollars ] to [1 euros ]"): two
# slots share number id 4, in both orders of a fixed value and a wildcard. A smaller alphabet
# ('[', ']', '1', 'a'; '1' is also a word, so a wildcard can differ from the fixed 'a') lets
# the oracle enumerate every sequence up to 10 tokens: two spans (9) and one word more.
TWICE = [
    (fmt.Prompt("x", NUMBERS, (fmt.SlotRequest("city", ("a",)), fmt.SlotRequest("city"))),
     ([4, 4], [True, True], [[6, -1], [-1, -1]], [1, 0])),
    (fmt.Prompt("x", NUMBERS, (fmt.SlotRequest("city"), fmt.SlotRequest("city", ("a",)))),
     ([4, 4], [True, True], [[-1, -1], [6, -1]], [0, 1])),
    (fmt.Prompt("x", NUMBERS, (fmt.SlotRequest("city"), fmt.SlotRequest("city"))),
     ([4, 4], [True, True], [[-1, -1], [-1, -1]], [0, 0])),
]


def test_a_number_shared_by_two_slots_equals_the_brute_force_oracle():
  max_length, alphabet = 10, [2, 3, 4, 6]
  rows, prefixes, wants = _oracle_rows(TWICE, max_length, alphabet)
  assert len({str(r) for r in rows}) == len(TWICE)  # each case has outputs (9 tokens: two spans)
  got = _allowed_after(rows, prefixes, max_length)
  for i, want in enumerate(wants):
    # Restricted to the alphabet: other word pieces are allowed wherever 'a' is.
    assert [t for t in np.flatnonzero(got[i]).tolist() if t in alphabet + [EOS]] == want, (
        rows[i], prefixes[i])
