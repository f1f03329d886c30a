"""Fixed values the teacher's word pieces cannot write: found, asked as wildcards, refused."""

from __future__ import annotations

import pytest

from fsnlu_jax import teach
from fsnlu_jax.data.subword import SubwordTokenizer
from fsnlu_jax.teach import grammar
from fsnlu_jax.teach.format import Prompt, SlotRequest


@pytest.fixture(scope="module")
def tokenizer(minilm_dir):
  return SubwordTokenizer(minilm_dir / "tokenizer.json")


def test_writable_follows_the_parser_not_the_raw_pieces(tokenizer):
  # Pieces split these words, and the parser compares spaces aside: writable.
  assert grammar.writable(("joe's", "diner"), tokenizer)
  assert grammar.writable(("-expelled", "from", "paradise-"), tokenizer)
  # Out of the vocabulary ([UNK]) or dropped by the normaliser (U+FFFD): not writable.
  assert not grammar.writable(("楽園追放", "-expelled"), tokenizer)
  assert not grammar.writable(("pop", "punk", "perfection", "\ufffd" * 6), tokenizer)


def test_snips_catalogue_has_exactly_three_unwritable_values(tokenizer, shared_data):
  """The real case: SNIPS train's source rows (one with mojibake, two in CJK script)."""
  splits = teach.protocol_splits("snips", data_dir=str(shared_data))
  catalogue = teach.slot_catalogue(splits.train)
  bad = sorted((label, v) for label, values in catalogue.items() for v in values
               if not grammar.writable(v, tokenizer))
  assert [label for label, _ in bad] == ["movie_name", "object_name", "playlist"]
  assert bad[2][1][:3] == ("pop", "punk", "perfection")


def _prompt(*requests: SlotRequest) -> Prompt:
  labels = sorted({r.label for r in requests})
  return Prompt("AddToPlaylist", {label: i + 1 for i, label in enumerate(labels)}, requests, ())


def test_unwritable_values_become_wildcards_counted_and_others_stay(tokenizer):
  good = _prompt(SlotRequest("playlist", ("road", "trip")), SlotRequest("artist"))
  bad = _prompt(SlotRequest("playlist", ("pop", "punk", "\ufffd")),
                SlotRequest("artist", ("ella",)))
  free = Prompt("AddToPlaylist", {"playlist": 1}, None, ())
  out, replaced = grammar.writable_requests([good, bad, free], tokenizer)
  assert replaced == 1
  assert out[0] == good and out[2] == free
  assert out[1].slots == (SlotRequest("playlist"), SlotRequest("artist", ("ella",)))
  grammar.slot_arrays(out, tokenizer, max_length=40)  # all writable now
  with pytest.raises(grammar.UnwritableValueError, match="prompt 1: the fixed playlist value"):
    grammar.slot_arrays([good, bad], tokenizer, max_length=40)
