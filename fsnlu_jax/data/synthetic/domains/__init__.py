"""Every domain of the embedded corpus, in a fixed order.

The order is part of the corpus: examples of a split are grouped and sources
are numbered by it before the split is shuffled, so changing it changes the
output (and the builder's version must change with it).
"""

from __future__ import annotations

from fsnlu_jax.data.synthetic.domains import (communication, daily, food, home, info, media,
                                              money, travel)
from fsnlu_jax.data.synthetic.spec import Domain

DOMAINS: tuple[Domain, ...] = (
    *daily.DOMAINS,
    *info.DOMAINS,
    *media.DOMAINS,
    *communication.DOMAINS,
    *money.DOMAINS,
    *travel.DOMAINS,
    *food.DOMAINS,
    *home.DOMAINS,
)

_names = [d.name for d in DOMAINS]
if len(set(_names)) != len(_names):
  raise ValueError(f"duplicate domain names: {_names}")
_intents = [i.name for d in DOMAINS for i in d.intents]
if len(set(_intents)) != len(_intents):
  raise ValueError("duplicate intent names across domains")
