"""How a domain of the embedded corpus is written down: intents and templates.

A template is a line of space-separated parts:

* a plain word (``alarm``, ``,``, ``?``) is copied as is;
* ``{name}`` draws one alternative from the word group ``name`` -- the domain's
  own groups first, then :data:`~fsnlu_jax.data.synthetic.pieces.COMMON_WORDS`.
  An alternative is itself a template (it may be empty, or hold further
  ``{...}`` and ``<...>`` parts), which is how optional pieces, politeness
  prefixes and synonyms are written;
* ``<type>`` draws a value from the slot catalogue of ``type`` and tags it
  ``B-type``/``I-type`` (see :mod:`~fsnlu_jax.data.synthetic.catalogues`).

Domains are written with :func:`domain`, templates as one multi-line string per
intent, so that a domain module reads like the corpus it makes.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Mapping

# One template part: a word group, a slot, or a plain word.
PART = re.compile(r"\{(\w+)\}|<(\w+)>|([^\s{}<>]+)")


@dataclasses.dataclass(frozen=True)
class Intent:
  """One intent: its ``domain_action`` name and its paraphrase templates."""

  name: str
  templates: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Domain:
  """A domain: its intents and the word groups its templates draw from."""

  name: str
  intents: tuple[Intent, ...]
  words: Mapping[str, tuple[str, ...]]


def domain(name: str, *, words: Mapping[str, tuple[str, ...]],
           intents: Mapping[str, str]) -> Domain:
  """Builds a :class:`Domain` from ``intent name -> templates, one per line``.

  Intent names must start with ``name + "_"`` so that they are unique across
  domains and say where they belong.
  """
  built = []
  for intent_name, block in intents.items():
    if not intent_name.startswith(name + "_"):
      raise ValueError(f"intent {intent_name!r} of domain {name!r} must start with {name}_")
    templates = tuple(" ".join(line.split()) for line in block.splitlines() if line.strip())
    for template in templates:
      check_template(template, where=intent_name)
    if len(set(templates)) != len(templates):
      raise ValueError(f"intent {intent_name!r} repeats a template")
    built.append(Intent(intent_name, templates))
  return Domain(name, tuple(built), dict(words))


def check_template(template: str, *, where: str) -> None:
  """Raises ValueError unless every space-separated chunk is exactly one part.

  ``{episode}s`` would silently parse as two parts and render as "episode s";
  such a template is a mistake, so it is refused where it is written.
  """
  for chunk in template.split():
    if not PART.fullmatch(chunk):
      raise ValueError(f"{where}: template part {chunk!r} in {template!r} is not one of"
                       " word, {group} or <slot>")
