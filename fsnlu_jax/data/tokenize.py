"""Word tokenisation with character offsets.

One tokenizer for every dataset that does not come pre-tokenised (CLINC150,
BANKING77, HWU64, the embedded corpus, queries typed at the CLI), so that a
word means the same thing everywhere. Words are runs of letters, digits and
in-word apostrophes or hyphens ("what's", "wi-fi", "5am"); every other
non-space character is a token of its own ("?", "$", ",").
"""

from __future__ import annotations

import re
from typing import NamedTuple

_TOKEN = re.compile(r"[\w]+(?:['’\-][\w]+)*|[^\w\s]", re.UNICODE)


class Token(NamedTuple):
  text: str
  start: int  # character offset of the first character
  end: int  # character offset one past the last character


def tokenize_with_offsets(text: str, *, lower: bool = True) -> list[Token]:
  """Splits ``text`` into word tokens with their character spans.

  >>> [t.text for t in tokenize_with_offsets("Wake me at 5am, please!")]
  ['wake', 'me', 'at', '5am', ',', 'please', '!']
  """
  tokens = []
  for match in _TOKEN.finditer(text):
    word = match.group(0)
    tokens.append(Token(word.lower() if lower else word, match.start(), match.end()))
  return tokens


def tokenize(text: str, *, lower: bool = True) -> list[str]:
  """Word tokens of ``text`` (see :func:`tokenize_with_offsets`)."""
  return [t.text for t in tokenize_with_offsets(text, lower=lower)]
