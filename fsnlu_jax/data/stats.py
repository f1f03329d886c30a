"""Dataset statistics: what ``fsnlu data stats`` prints."""

from __future__ import annotations

from typing import Any, Iterable

from fsnlu_jax.data.builders import NLUBuilder
from fsnlu_jax.data.schema import Example


def summarize(name: str, builder: NLUBuilder, splits: dict[str, list[Example]]) -> dict[str, Any]:
  """Counts of a prepared dataset.

  Returns:
    ``{"dataset", "splits": {split: count}, "intents", "domains", "slot_types",
    "defects": {kind: count}}`` (for a dataset of trees, ``"node_labels"`` and
    ``"pcfg_err": {split: count}`` instead of intents, domains, slot types), plus ``"out_of_scope": {label, count}`` for
    datasets with an out-of-scope class, which is not counted as an intent or
    a domain.
  """
  if builder.RECORD is not Example:
    return _summarize_parses(name, builder, splits)
  oos = builder.OUT_OF_SCOPE
  examples = [e for split in splits.values() for e in split]
  in_scope = [e for e in examples if e.intent != oos]
  summary = {
      "dataset": name,
      "splits": {split: len(rows) for split, rows in splits.items()},
      "intents": len({e.intent for e in in_scope}),
      "domains": len({e.domain for e in in_scope}),
      "slot_types": len(_slot_types(examples)),
      "defects": dict(builder.info.metadata.get("defects", {})),
  }
  if oos is not None:
    summary["out_of_scope"] = {"label": oos, "count": len(examples) - len(in_scope)}
  return summary


def _summarize_parses(name: str, builder: NLUBuilder, splits: dict[str, list]) -> dict[str, Any]:
  """Counts of a dataset of trees (PIZZA): its node labels and PCFG_ERR rows."""
  from fsnlu_jax.data.trees import parse_tree  # pylint: disable=g-import-not-at-top

  labels = {node.label for split in splits.values() for e in split
            for node in parse_tree(e.exr, e.source).walk()}
  return {
      "dataset": name,
      "splits": {split: len(rows) for split, rows in splits.items()},
      "node_labels": len(labels),
      "pcfg_err": {split: sum(e.pcfg_err for e in rows) for split, rows in splits.items()},
      "defects": dict(builder.info.metadata.get("defects", {})),
  }


def _slot_types(examples: Iterable[Example]) -> set[str]:
  types: set[str] = set()
  for example in examples:
    types |= example.slot_types
  return types


def format_table(summary: dict[str, Any]) -> str:
  """A short human-readable rendering of :func:`summarize`'s output."""
  lines = [f"dataset     {summary['dataset']}"]
  lines += [f"  {split:<18}{count:>7}" for split, count in summary["splits"].items()]
  if "node_labels" in summary:  # a dataset of trees
    lines.append(f"node labels {summary['node_labels']} (EXR)")
    lines += [f"  PCFG_ERR=True in {split:<6}{count:>7}"
              for split, count in summary["pcfg_err"].items()]
  else:
    lines.append(f"intents     {summary['intents']}")
    lines.append(f"domains     {summary['domains']}")
    lines.append(f"slot types  {summary['slot_types']}")
  if "out_of_scope" in summary:
    oos = summary["out_of_scope"]
    lines.append(f"out of scope: {oos['count']} utterances labelled {oos['label']!r}, kept apart")
  defects = summary["defects"]
  lines.append("defects" + ("" if defects else "     none"))
  lines += [f"  {kind:<44}{count:>7}" for kind, count in defects.items()]
  return "\n".join(lines)
