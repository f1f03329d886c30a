"""Which word pieces text is made of, on the real MiniLM vocabulary."""

from __future__ import annotations

from fsnlu_jax.data.subword import SubwordTokenizer


def test_text_pieces_exclude_specials_and_unused_but_keep_brackets(minilm_dir):
  tokenizer = SubwordTokenizer(minilm_dir)
  usable = tokenizer.text_pieces()
  assert usable.shape == (tokenizer.vocab_size,)
  for piece in ("[PAD]", "[CLS]", "[SEP]", "[MASK]", "[UNK]", "[unused0]", "[unused993]"):
    assert not usable[tokenizer.piece_id(piece)], piece
  for piece in ("[", "]", "the", "##s", "pizza", "!"):
    assert usable[tokenizer.piece_id(piece)], piece
  # BERT's vocabulary: [PAD], [unused0..993], [UNK], [CLS], [SEP], [MASK] are the specials.
  assert tokenizer.vocab_size - usable.sum() == 999
