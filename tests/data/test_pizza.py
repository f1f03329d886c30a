"""PIZZA: the builder (tiny hand-made files and the real ones), catalogues, schema, baselines.

The tiny fixture is written here by hand (the real data is CC BY-NC: never
copied into the repository); the real-data tests skip without ../shared.
"""

from __future__ import annotations

import json
import pathlib
import re

import numpy as np
import pytest

from fsnlu_jax.data import stats
from fsnlu_jax.data.builders.pizza import catalogues_of
from fsnlu_jax.data.catalogues import (Catalogues, TreeSchema, UnresolvedEntity, parse_line,
                                       resolve_top)
from fsnlu_jax.data.defects import MalformedRowError
from fsnlu_jax.data.loading import get_builder, prepare, read_split
from fsnlu_jax.data.parses import ParseExample
from fsnlu_jax.data.tree_augment import (augment, sample_exr, sample_grammar_example,
                                         substitute_slots)
from fsnlu_jax.data.trees import parse_tree
from fsnlu_jax.train.metrics import trees_match

_CATALOGUES = {
    "topping.txt": ["ham\ttopping(HAM)", "black olives\ttopping(OLIVES)", "olives\ttopping(OLIVES)",
                    "onions\ttopping(ONIONS)", "onion\ttopping(ONIONS)", "cheese\ttopping(CHEESE)"],
    "style.txt": ["thin crust\tstyle(THIN_CRUST)", "vegan\tstyle(VEGAN)"],
    "size.txt": ["large\tsize(LARGE)", "small\tsize(SMALL)"],
    "number.txt": ["a\tnumber(1)", "one\tnumber(1)", "two\tnumber(2)", "three\tnumber(3)"],
    "quant_qualifier.txt": ["extra\tquantity(EXTRA)", "a little\tquantity(LIGHT)"],
    "drinks.txt": ["coke\tdrinkType(COKE)", "cokes\tdrinkType(COKE)", "sprite\tdrinkType(SPRITE)"],
    "drink_volume.txt": ["two liter\tvolume(2,LITER)", "", "2 liters\tvolume(2,LITER)"],
    "container.txt": ["cans of\tcontainerType(CAN)", "in a bottle\tcontainerType(BOTTLE)"],
}
_DEV = [
    ("two large pizzas with ham and black olives",
     "(ORDER (PIZZAORDER (NUMBER two ) (SIZE large ) pizzas with (TOPPING ham ) and"
     " (TOPPING black olives ) ) )",
     "(ORDER (PIZZAORDER (NUMBER 2 ) (SIZE LARGE ) (TOPPING HAM ) (TOPPING OLIVES ) ) )", "False"),
    ("i want a small vegan pizza with extra cheese and no onions and two cans of coke",
     "(ORDER i want (PIZZAORDER (NUMBER a ) (SIZE small ) (STYLE vegan ) pizza with"
     " (COMPLEX_TOPPING (QUANTITY extra ) (TOPPING cheese ) ) and no (NOT (TOPPING onions ) ) )"
     " and (DRINKORDER (NUMBER two ) (CONTAINERTYPE cans of ) (DRINKTYPE coke ) ) )",
     "(ORDER (DRINKORDER (CONTAINERTYPE CAN ) (DRINKTYPE COKE ) (NUMBER 2 ) ) (PIZZAORDER"
     " (NOT (TOPPING ONIONS ) ) (NUMBER 1 ) (SIZE SMALL ) (STYLE VEGAN ) (COMPLEX_TOPPING"
     " (QUANTITY EXTRA ) (TOPPING CHEESE ) ) ) )", "True"),
    ("large pie with onion",
     "(ORDER (PIZZAORDER (SIZE large ) pie with (TOPPING onion ) ) )",
     "(ORDER (PIZZAORDER (NUMBER 1 ) (SIZE LARGE ) (TOPPING ONIONS ) ) )", "False"),
]
_TEST = [
    ("three thin crust pizzas with a little ham",
     "(ORDER (PIZZAORDER (NUMBER three ) (STYLE thin crust ) pizzas with (COMPLEX_TOPPING"
     " (QUANTITY a little ) (TOPPING ham ) ) ) )",
     "(ORDER (PIZZAORDER (NUMBER 3 ) (STYLE THIN_CRUST ) (COMPLEX_TOPPING (QUANTITY LIGHT )"
     " (TOPPING HAM ) ) ) )", "False"),
]


def _line(split: str, row) -> str:
  src, top, exr, pcfg = row
  return json.dumps({f"{split}.SRC": src, f"{split}.EXR": exr, f"{split}.TOP": top,
                     f"{split}.PCFG_ERR": pcfg})


def _write_pizza(root: pathlib.Path, dev_lines: list[str] | None = None,
                 catalogue_edit: dict | None = None) -> pathlib.Path:
  folder = root / "pizza"
  (folder / "catalogs").mkdir(parents=True, exist_ok=True)
  for name, lines in {**_CATALOGUES, **(catalogue_edit or {})}.items():
    (folder / "catalogs" / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
  dev = dev_lines if dev_lines is not None else [_line("dev", r) for r in _DEV]
  (folder / "PIZZA_dev.json").write_text("\n".join(dev) + "\n", encoding="utf-8")
  (folder / "PIZZA_test.json").write_text(_line("test", _TEST[0]) + "\n", encoding="utf-8")
  return root


@pytest.fixture(scope="module")
def toy_dirs(tmp_path_factory):
  return _write_pizza(tmp_path_factory.mktemp("pizza_data")), tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def toy(toy_dirs):
  root, cache = toy_dirs
  builder = prepare("pizza", data_dir=root, cache_dir=cache, progress=False)
  return builder, {s: read_split(builder, s) for s in builder.info.splits}


def _examples(split: str, rows) -> list[ParseExample]:
  return [ParseExample(src, tuple(src.split()), top, exr, pcfg == "True", f"{split}:{i + 1}")
          for i, (src, top, exr, pcfg) in enumerate(rows)]


def _toy_catalogues() -> Catalogues:
  return Catalogues.from_lines({f"catalogs/{n}": lines for n, lines in _CATALOGUES.items()})


# ---- the builder on the tiny files ----------------------------------------------


def test_builds_parse_records_with_trees_and_pcfg_err(toy):
  builder, splits = toy
  assert {s: len(e) for s, e in splits.items()} == {"dev": 3, "test": 1}
  example = splits["dev"][1]
  assert isinstance(example, ParseExample)
  assert example.source == "pizza/PIZZA_dev.json:2" and example.pcfg_err is True
  assert example.text == _DEV[1][0] and example.tokens == tuple(_DEV[1][0].split())
  assert (example.top, example.exr) == (_DEV[1][1], _DEV[1][2])
  assert example.top_tree().words == example.tokens
  assert builder.info.metadata["pcfg_err"] == {"dev": 1, "test": 0}
  assert builder.info.metadata["defects"] == {}


def test_the_build_carries_the_catalogues(toy):
  builder, _ = toy
  catalogues = catalogues_of(builder)
  assert catalogues.resolve("TOPPING", "black  olives") == "OLIVES"
  assert catalogues.values("VOLUME") == ("2 LITER",)
  assert catalogues.entries["VOLUME"][1].where == "pizza/catalogs/drink_volume.txt:3"


def test_stats_of_a_dataset_of_trees(toy):
  builder, splits = toy
  summary = stats.summarize("pizza", builder, splits)
  assert summary["splits"] == {"dev": 3, "test": 1} and summary["pcfg_err"] == {"dev": 1, "test": 0}
  # ORDER PIZZAORDER DRINKORDER NOT COMPLEX_TOPPING and 7 entity labels
  assert summary["node_labels"] == 12
  assert "PCFG_ERR=True in dev" in stats.format_table(summary)


def test_cli_validates_trees_and_refuses_episodes(toy, toy_dirs, capsys):
  from fsnlu_jax import cli  # pylint: disable=g-import-not-at-top

  root, cache = toy_dirs
  common = ["--data-dir", str(root), "--cache-dir", str(cache)]
  assert cli.main(["-q", "data", "validate", "pizza", *common]) == 0
  assert re.search(r"PCFG_ERR=True in dev +1\n", capsys.readouterr().out)
  assert cli.main(["-q", "data", "episode", "pizza", "--split", "dev", *common]) == 2
  assert "episodes need intent labels" in capsys.readouterr().err


_BAD_ROWS = [
    ("{not json", "bad_json"),
    (json.dumps({"dev.SRC": "x", "dev.TOP": "(ORDER x )", "dev.EXR": "(ORDER (A 1 ) )"}),
     "bad_record"),
    (json.dumps({"test.SRC": "x", "test.TOP": "(ORDER x )", "test.EXR": "(ORDER (A 1 ) )",
                 "test.PCFG_ERR": "False"}), "bad_record"),
    (_line("dev", ("x", "(ORDER x )", "(ORDER (A 1 ) )", "maybe")), "bad_record"),
    (_line("dev", ("large pizza", "(ORDER (PIZZAORDER (SIZE large ) pizza )",
                   "(ORDER (PIZZAORDER (SIZE LARGE ) ) )", "False")), "bad_top"),
    (_line("dev", ("large pizza", "(ORDER (PIZZAORDER (SIZE large ) pizza ) )",
                   "(ORDER (PIZZAORDER (SIZE ) ) )", "False")), "bad_exr"),
    (_line("dev", ("large pizzas", "(ORDER (PIZZAORDER (SIZE large ) pizza ) )",
                   "(ORDER (PIZZAORDER (SIZE LARGE ) ) )", "False")), "top_text_mismatch"),
    (_line("dev", ("  ", "(ORDER x )", "(ORDER (A 1 ) )", "False")), "empty_utterance"),
]


@pytest.mark.parametrize("bad, reason", _BAD_ROWS)
def test_malformed_rows_name_file_and_line_or_are_counted(tmp_path, bad, reason):
  good = [_line("dev", r) for r in _DEV]
  root = _write_pizza(tmp_path / "data", dev_lines=[good[0], bad, good[1], good[2]])
  where = rf"pizza/PIZZA_dev.json:2: malformed row \({reason}\)"
  with pytest.raises(MalformedRowError, match=where):
    get_builder("pizza", data_dir=root, cache_dir=tmp_path / "c").read_examples()
  builder = get_builder("pizza", data_dir=root, cache_dir=tmp_path / "c", on_error="skip")
  splits = builder.read_examples()
  assert [e.source for e in splits["dev"]] == [f"pizza/PIZZA_dev.json:{i}" for i in (1, 3, 4)]
  assert builder.defects.as_dict() == {f"malformed/{reason}": 1}
  assert builder.defects.dropped() == {"rows": 1, "files": []}


def test_a_split_file_without_records_is_malformed_as_a_whole(tmp_path):
  root = _write_pizza(tmp_path / "data", dev_lines=["", "  "])
  with pytest.raises(MalformedRowError, match=r"pizza/PIZZA_dev.json:1: malformed row \(empty_file\)"):
    get_builder("pizza", data_dir=root, cache_dir=tmp_path / "c").read_examples()
  builder = get_builder("pizza", data_dir=root, cache_dir=tmp_path / "c", on_error="skip")
  assert list(builder.read_examples()) == ["test"]  # the empty split dropped, said in the log
  assert builder.defects.as_dict()["malformed/empty_file"] == 1
  assert builder.defects.dropped()["files"] == ["pizza/PIZZA_dev.json"]


def test_repairs_are_counted_and_a_broken_catalogue_is_an_error(tmp_path):
  src, top, exr, pcfg = _DEV[0]
  rows = [_line("dev", (" " + src.replace(" with", "  with"), top, exr, pcfg)), "",
          _line("dev", _DEV[0])]
  builder = get_builder("pizza", data_dir=_write_pizza(tmp_path / "a", dev_lines=rows),
                        cache_dir=tmp_path / "c")
  splits = builder.read_examples()
  assert splits["dev"][0].text == src
  assert builder.defects.as_dict() == {
      "blank_line": 1, "whitespace_normalised": 1, "duplicate_within_split/dev": 1}
  root = _write_pizza(tmp_path / "b", catalogue_edit={"size.txt": ["large\tsize(LARGE)",
                                                                  "small size(SMALL)"]})
  with pytest.raises(MalformedRowError, match=r"pizza/catalogs/size.txt:2: .*bad_record"):
    get_builder("pizza", data_dir=root, cache_dir=tmp_path / "c", on_error="skip").read_examples()


# ---- catalogues, schema, resolution ----------------------------------------------


def test_catalogue_lines_and_errors():
  assert parse_line("two liters\tvolume(2,LITER)", "v.txt:1")[1].value == "2 LITER"
  assert parse_line("7 up\tdrinkType(SEVEN_UP)", "d.txt:4")[0] == "DRINKTYPE"
  with pytest.raises(MalformedRowError, match=r"d.txt:4: .*bad_value"):
    parse_line("7 up\tsoda(SEVEN_UP)", "d.txt:4")
  with pytest.raises(MalformedRowError, match="wrong_catalogue"):
    Catalogues.from_lines({"size.txt": ["ham\ttopping(HAM)"]})
  ambiguous = Catalogues.from_lines({"x": ["a\tnumber(1)", "a\tnumber(2)"]})
  assert ambiguous.ambiguous() == {("NUMBER", "a"): ("1", "2")}
  assert ambiguous.resolve("NUMBER", "a") == "1"  # the first line wins


def test_schema_from_trees_and_its_checks():
  schema = TreeSchema.from_trees(parse_tree(row[2]) for row in _DEV)
  assert schema.root == "ORDER"
  assert schema.children["ORDER"] == {"PIZZAORDER", "DRINKORDER"}
  assert schema.children["NOT"] == {"TOPPING"}
  assert "TOPPING" in schema.entities and "NOT" not in schema.entities
  assert schema.counts["PIZZAORDER"]["TOPPING"] == {0: 1, 1: 1, 2: 1}
  assert schema.order["PIZZAORDER"] == ("NOT", "NUMBER", "SIZE", "STYLE", "COMPLEX_TOPPING",
                                        "TOPPING")
  # every gold tree is already in EXR's order
  assert all(schema.canonical(parse_tree(row[2])).render() == row[2] for row in _DEV)
  catalogues = _toy_catalogues()
  assert schema.problems(parse_tree(_DEV[0][2]), catalogues) == []
  bad = parse_tree("(ORDER (PIZZAORDER (DRINKTYPE COKE ) (TOPPING SPAM ) (NOT x ) ) )")
  assert schema.problems(bad, catalogues) == [
      "DRINKTYPE under PIZZAORDER", "TOPPING value 'SPAM' is in no catalogue",
      "word 'x' under constructor NOT"]


def test_resolving_top_gives_the_gold_exr():
  catalogues = _toy_catalogues()
  schema = TreeSchema.from_trees(parse_tree(row[2]) for row in _DEV)
  for _, top, exr, _ in _DEV + _TEST:
    assert resolve_top(parse_tree(top), catalogues, schema).render() == exr
  with pytest.raises(UnresolvedEntity, match="TOPPING spam"):
    resolve_top(parse_tree("(ORDER (PIZZAORDER (TOPPING spam ) ) )"), catalogues)


# ---- the two teacher-free baselines -----------------------------------------------


def _check_consistent(example: ParseExample, catalogues, schema) -> None:
  """Utterance, TOP and EXR agree: tokens are TOP's words, EXR is TOP resolved, all in schema."""
  top, exr = parse_tree(example.top), parse_tree(example.exr)
  assert top.render() == example.top and exr.render() == example.exr  # well-formed
  assert example.tokens == top.words and example.text == " ".join(top.words)
  assert resolve_top(top, catalogues, schema) == exr
  assert schema.problems(exr, catalogues) == []


def test_grammar_sampling_is_seeded_and_well_formed():
  catalogues = _toy_catalogues()
  schema = TreeSchema.from_trees(parse_tree(row[2]) for row in _DEV)
  first = [sample_grammar_example(schema, catalogues, np.random.default_rng(3)) for _ in range(2)]
  assert first[0] == first[1]
  rng = np.random.default_rng(0)
  labels = set()
  for _ in range(60):
    example = sample_grammar_example(schema, catalogues, rng)
    _check_consistent(example, catalogues, schema)
    labels |= {n.label for n in parse_tree(example.exr).walk()}
  assert labels == {n.label for row in _DEV for n in parse_tree(row[2]).walk()}
  assert sample_exr(schema, catalogues, rng).label == "ORDER"


def test_rs_substitutes_every_value_where_the_top_tree_says():
  catalogues = _toy_catalogues()
  schema = TreeSchema.from_trees(parse_tree(row[2]) for row in _DEV)
  seeds = _examples("dev", _DEV)
  rng = np.random.default_rng(0)
  for _ in range(20):
    for seed in seeds:
      new = substitute_slots(seed, catalogues, schema, rng)
      _check_consistent(new, catalogues, schema)
      old_spans = parse_tree(seed.top).entity_spans()
      new_spans = parse_tree(new.top).entity_spans()
      assert [n.label for n, _, _ in old_spans] == [n.label for n, _, _ in new_spans]
      for (old, _, _), (node, start, end) in zip(old_spans, new_spans):
        # the new surface form sits in the utterance exactly at the TOP span
        assert new.tokens[start:end] == node.words
        value = catalogues.resolve(node.label, node.text)
        assert value is not None
        if node.label == "NUMBER":
          assert node == old  # numbers are kept (agreement)
        else:
          assert value != catalogues.resolve(old.label, old.text)
      assert new.pcfg_err == seed.pcfg_err and new.source == f"rs:{seed.source}"
  unresolvable = ParseExample("large pie with spam", ("large", "pie", "with", "spam"),
                              "(ORDER (PIZZAORDER (SIZE large ) pie with (TOPPING spam ) ) )",
                              "(ORDER (PIZZAORDER (NUMBER 1 ) (SIZE LARGE ) (TOPPING SPAM ) ) )",
                              False, "x:1")
  assert substitute_slots(unresolvable, catalogues, schema, rng) is None


def test_augment_deduplicates_and_counts():
  catalogues = _toy_catalogues()
  schema = TreeSchema.from_trees(parse_tree(row[2]) for row in _DEV)
  seeds = _examples("dev", _DEV)
  for method in ("grammar", "rs"):
    made = augment(method, 15, seeds, catalogues, schema, np.random.default_rng(1))
    texts = [e.text for e in made.examples]
    assert len(texts) == len(set(texts)) == 15
    assert not set(texts) & {s.text for s in seeds}
  # the toy catalogues allow few RS variants of 3 seeds: repeats are dropped and counted
  small = augment("rs", 500, seeds, catalogues, schema, np.random.default_rng(1), max_draws=300)
  assert small.repeats > 0 and len(small.examples) + small.repeats + small.unusable == 300
  with pytest.raises(ValueError, match="method"):
    augment("gb", 1, seeds, catalogues, schema, np.random.default_rng(0))


# ---- the real files ----------------------------------------------------------------


def test_real_pizza_counts_and_flags(real_dataset):
  builder, splits = real_dataset("pizza")
  assert {s: len(e) for s, e in splits.items()} == {"dev": 348, "test": 1357}
  assert builder.info.metadata["pcfg_err"] == {"dev": 106, "test": 434}
  assert builder.info.metadata["defects"] == {}
  assert builder.info.metadata["dropped"] == {"rows": 0, "files": []}
  assert splits["test"][0].source == "pizza/PIZZA_test.json:1"


def test_real_catalogues_schema_and_resolution(real_dataset):
  """The TOP tree resolves to the gold EXR wherever the catalogues list its surfaces."""
  builder, splits = real_dataset("pizza")
  catalogues = catalogues_of(builder)
  assert sum(len(v) for v in catalogues.entries.values()) == 483  # 497 lines, 14 blank
  schema = TreeSchema.from_trees(parse_tree(e.exr) for e in splits["dev"])
  assert schema.children["PIZZAORDER"] == {"NUMBER", "SIZE", "STYLE", "TOPPING",
                                           "COMPLEX_TOPPING", "NOT"}
  outcomes = {"match": 0, "unresolved": 0, "differs": 0}
  for example in splits["dev"] + splits["test"]:
    try:
      resolved = resolve_top(parse_tree(example.top), catalogues, schema)
    except UnresolvedEntity:
      outcomes["unresolved"] += 1
      continue
    outcomes["match" if trees_match(resolved, example.exr) else "differs"] += 1
  print("PIZZA TOP -> EXR resolution:", outcomes)
  # 68 rows say an entity no catalogue lists ("more", "bell peppers"); one test row
  # names bacon twice where its EXR has it once.
  assert outcomes == {"match": 1636, "unresolved": 68, "differs": 1}
  # every gold EXR value is a catalogue value; only VOLUME (test only) is outside the dev schema
  problems = [p for e in splits["test"] for p in schema.problems(parse_tree(e.exr), catalogues)]
  assert set(problems) == {"VOLUME under DRINKORDER"} and len(problems) == 12
