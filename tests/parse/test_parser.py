"""The semantic parser: hand-made PIZZA-format files, a tiny random BERT, training, grammar-bound beams.

The rows below are written here by hand (the real PIZZA files are CC BY-NC:
evaluation only, read from ../shared in the skipped-without-data test).
"""

from __future__ import annotations

import dataclasses
import json
import pathlib

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from fsnlu_jax import cli, models
from fsnlu_jax.config import load_config
from fsnlu_jax import parse as parse_lib
from fsnlu_jax.data import ParseExample, parse_tree
from fsnlu_jax.data.subword import SubwordTokenizer
from fsnlu_jax.parse import Parser, data as data_lib
from fsnlu_jax.parse.config import ParseDataConfig

CONFIG = pathlib.Path(__file__).resolve().parents[2] / "configs" / "parse.py"

_CATALOGUES = {
    "topping.txt": ["ham\ttopping(HAM)", "pepperoni\ttopping(PEPPERONI)", "onions\ttopping(ONIONS)",
                    "cheese\ttopping(CHEESE)", "green peppers\ttopping(GREEN_PEPPERS)"],
    "style.txt": ["thin crust\tstyle(THIN_CRUST)", "deep dish\tstyle(DEEP_DISH)"],
    "size.txt": ["large\tsize(LARGE)", "small\tsize(SMALL)", "medium\tsize(MEDIUM)"],
    "number.txt": ["a\tnumber(1)", "one\tnumber(1)", "two\tnumber(2)", "three\tnumber(3)"],
    "quant_qualifier.txt": ["extra\tquantity(EXTRA)", "light\tquantity(LIGHT)"],
    "drinks.txt": ["coke\tdrinkType(COKE)", "cokes\tdrinkType(COKE)", "water\tdrinkType(WATER)"],
    "drink_volume.txt": ["two liter\tvolume(2,LITER)"],
    "container.txt": ["cans of\tcontainerType(CAN)", "bottles of\tcontainerType(BOTTLE)"],
}
# (utterance, TOP, EXR): orders made up for this test.
_ROWS = [
    ("a large pizza with ham",
     "(ORDER (PIZZAORDER (NUMBER a ) (SIZE large ) pizza with (TOPPING ham ) ) )",
     "(ORDER (PIZZAORDER (NUMBER 1 ) (SIZE LARGE ) (TOPPING HAM ) ) )"),
    ("two small pizzas with pepperoni and onions",
     "(ORDER (PIZZAORDER (NUMBER two ) (SIZE small ) pizzas with (TOPPING pepperoni ) and"
     " (TOPPING onions ) ) )",
     "(ORDER (PIZZAORDER (NUMBER 2 ) (SIZE SMALL ) (TOPPING ONIONS ) (TOPPING PEPPERONI ) ) )"),
    ("one thin crust pizza with extra cheese",
     "(ORDER (PIZZAORDER (NUMBER one ) (STYLE thin crust ) pizza with (COMPLEX_TOPPING"
     " (QUANTITY extra ) (TOPPING cheese ) ) ) )",
     "(ORDER (PIZZAORDER (NUMBER 1 ) (STYLE THIN_CRUST ) (COMPLEX_TOPPING (QUANTITY EXTRA )"
     " (TOPPING CHEESE ) ) ) )"),
    ("three cans of coke",
     "(ORDER (DRINKORDER (NUMBER three ) (CONTAINERTYPE cans of ) (DRINKTYPE coke ) ) )",
     "(ORDER (DRINKORDER (CONTAINERTYPE CAN ) (DRINKTYPE COKE ) (NUMBER 3 ) ) )"),
    ("a medium pizza without onions",
     "(ORDER (PIZZAORDER (NUMBER a ) (SIZE medium ) pizza without (NOT (TOPPING onions ) ) ) )",
     "(ORDER (PIZZAORDER (NOT (TOPPING ONIONS ) ) (NUMBER 1 ) (SIZE MEDIUM ) ) )"),
    ("two deep dish pizzas with green peppers",
     "(ORDER (PIZZAORDER (NUMBER two ) (STYLE deep dish ) pizzas with (TOPPING green peppers ) ) )",
     "(ORDER (PIZZAORDER (NUMBER 2 ) (STYLE DEEP_DISH ) (TOPPING GREEN_PEPPERS ) ) )"),
]
_TEST = [
    ("a small pizza with cheese and two bottles of water",
     "(ORDER (PIZZAORDER (NUMBER a ) (SIZE small ) pizza with (TOPPING cheese ) ) and"
     " (DRINKORDER (NUMBER two ) (CONTAINERTYPE bottles of ) (DRINKTYPE water ) ) )",
     "(ORDER (DRINKORDER (CONTAINERTYPE BOTTLE ) (DRINKTYPE WATER ) (NUMBER 2 ) ) (PIZZAORDER"
     " (NUMBER 1 ) (SIZE SMALL ) (TOPPING CHEESE ) ) )"),
    ("a large pizza with ham",
     "(ORDER (PIZZAORDER (NUMBER a ) (SIZE large ) pizza with (TOPPING ham ) ) )",
     "(ORDER (PIZZAORDER (NUMBER 1 ) (SIZE LARGE ) (TOPPING HAM ) ) )"),
]


def _lines(split: str, rows) -> str:
  return "".join(json.dumps({f"{split}.SRC": src, f"{split}.TOP": top, f"{split}.EXR": exr,
                             f"{split}.PCFG_ERR": "False"}) + "\n" for src, top, exr in rows)


@pytest.fixture(scope="module")
def pizza_dir(tmp_path_factory) -> pathlib.Path:
  root = tmp_path_factory.mktemp("parse_data")
  folder = root / "pizza"
  (folder / "catalogs").mkdir(parents=True)
  for name, lines in _CATALOGUES.items():
    (folder / "catalogs" / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
  (folder / "PIZZA_dev.json").write_text(_lines("dev", _ROWS), encoding="utf-8")
  (folder / "PIZZA_test.json").write_text(_lines("test", _TEST), encoding="utf-8")
  return root


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory, minilm_dir) -> pathlib.Path:
  """A random one-layer BERT with MiniLM's word pieces (all a checkpoint folder needs)."""
  cfg = models.BertConfig(vocab_size=30522, hidden_size=16, num_hidden_layers=1,
                          num_attention_heads=2, intermediate_size=32, max_position_embeddings=64)
  folder = models.save_bert(models.BertEncoder(cfg, rngs=nnx.Rngs(0)),
                            tmp_path_factory.mktemp("tiny") / "bert")
  (folder / "tokenizer.json").symlink_to(minilm_dir / "tokenizer.json")
  return folder


@pytest.fixture(scope="module")
def trained(tmp_path_factory, pizza_dir, tiny_bert) -> pathlib.Path:
  workdir = tmp_path_factory.mktemp("parser")
  assert cli.main(["parse", "--config", f"{CONFIG}:tiny", "--set",
                   f"model.checkpoint={tiny_bert}", "--workdir", str(workdir), "--data-dir",
                   str(pizza_dir), "--cache-dir", str(tmp_path_factory.mktemp("cache"))]) == 0
  return workdir


def test_training_keeps_the_best_and_scores_every_test_row_with_a_well_formed_tree(trained):
  results = json.loads((trained / "results.json").read_text())
  assert results["steps"] == 3 and results["best_step"] == 3
  assert results["data"]["train"] == 4 and results["data"]["validation"] == 2
  assert results["test"]["n"] == 2 and results["test"]["well_formed"] == 1.0
  assert 0.0 <= results["test"]["exact_match"] <= 1.0
  assert (trained / "best").is_dir()
  rows = [json.loads(line) for line in (trained / "predictions.jsonl").read_text().splitlines()]
  assert [r["gold"] for r in rows] == [exr for _, _, exr in _TEST]
  assert results["test"]["exact_match"] == np.mean([r["match"] for r in rows])


def test_every_beam_output_is_a_tree_of_the_grammar_and_load_parse_is_the_jobs(trained):
  parser = Parser.load(trained)
  grammar = parser.automaton._grammar  # pylint: disable=protected-access
  texts = [t for t, _, _ in _ROWS + _TEST] + ["", "hello there", "pizza pizza pizza"]
  outputs = parser.parse(texts)
  assert len(outputs) == len(texts)
  for tree, score in outputs:
    assert tree is not None and np.isfinite(score) and score <= 0.0
    node = parse_tree(tree)
    assert node.label == grammar.root
    for sub in node.walk():  # constructors under allowed parents, values from the catalogues
      for kid in sub.subtrees:
        assert kid.label in grammar.children[sub.label], tree
      if sub.label in grammar.values:
        assert sub.text in grammar.values[sub.label], tree
  rows = [json.loads(line) for line in (trained / "predictions.jsonl").read_text().splitlines()]
  again = parser.parse([r["text"] for r in rows])
  assert [t for t, _ in again] == [r["tree"] for r in rows]
  np.testing.assert_allclose([s for _, s in again], [r["score"] for r in rows], rtol=1e-5)


def test_training_targets_are_sentences_of_the_grammar(pizza_dir, tiny_bert, tmp_path):
  config = ParseDataConfig(**load_config(f"{CONFIG}:tiny")["data"])
  data = data_lib.load_parse_data(config, data_dir=pizza_dir, cache_dir=tmp_path)
  assert [len(data.examples[s]) for s in ("train", "validation", "test")] == [4, 2, 2]
  assert not {e.text for e in data.examples["train"]} & {e.text for e in data.examples["validation"]}
  tokenizer = SubwordTokenizer(tiny_bert)
  arrays, kept, dropped = data_lib.encode_parses(
      data.examples["train"] + data.examples["test"], tokenizer, max_source_len=32,
      max_target_len=64, bos_id=101, eos_id=102, pad_id=0)
  assert dropped == 0 and len(kept) == 6
  from fsnlu_jax.models import Seq2SeqConfig  # pylint: disable=g-import-not-at-top
  from fsnlu_jax.parse.parser import compile_grammar  # pylint: disable=g-import-not-at-top
  automaton = compile_grammar(data_lib.tree_grammar(data, config, 6), tokenizer,
                              Seq2SeqConfig(models.BertConfig(vocab_size=30522)))
  for row, example in enumerate(kept):
    ids = arrays["tgt_out"][row][arrays["tgt_mask"][row]]
    assert automaton.accepts(ids), example.exr
    assert automaton.decode(ids) == example.exr
  _, _, dropped = data_lib.encode_parses(kept, tokenizer, max_source_len=32, max_target_len=24,
                                         bos_id=101, eos_id=102, pad_id=0)
  assert dropped > 0


def test_the_cli_parses_utterances_to_json_lines(trained, capsys):
  texts = ["large pizza with ham", "two cokes"]
  assert cli.main(["parse", "--checkpoint", str(trained), *texts]) == 0
  lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
  expected = Parser.load(trained).parse(texts)
  assert [(d["text"], d["tree"]) for d in lines] == [(t, e[0]) for t, e in zip(texts, expected)]
  assert all(isinstance(d["score"], float) for d in lines)
  assert cli.main(["parse", "--checkpoint", str(trained)]) == 2
  assert "needs at least one utterance" in capsys.readouterr().err


def test_the_config_names_its_job():
  assert load_config(f"{CONFIG}")["data"]["train_size"] == 16
  teacher = load_config(f"{CONFIG}:teacher")
  data = ParseDataConfig(**teacher["data"])  # placeholders are the teacher's direction only
  assert data.direction == "generate" and data.placeholders and data.validation_size == 0
  assert teacher["optim"]["label_smoothing"] == 0.0
  with pytest.raises(ValueError, match="teacher"):
    ParseDataConfig(placeholders=True)
  with pytest.raises(ValueError, match="unknown arg"):
    load_config(f"{CONFIG}:big")


# ---- CLASP: the teacher's requests, its mention-bound utterances, the filters ------


def _catalogues():
  from fsnlu_jax.data.catalogues import Catalogues  # pylint: disable=g-import-not-at-top
  return Catalogues.from_lines({f"catalogs/{n}": lines for n, lines in _CATALOGUES.items()})


def _seeds():
  return [ParseExample(src, tuple(src.split()), top, exr, False, f"dev:{i + 1}")
          for i, (src, top, exr) in enumerate(_ROWS)]


def test_clasp_rs_and_gb_requests_become_utterances_that_say_every_entity(trained):
  from fsnlu_jax.data.catalogues import TreeSchema  # pylint: disable=g-import-not-at-top
  parser = Parser.load(trained)
  seeds, catalogues = _seeds(), _catalogues()
  seeds = seeds[:2] + seeds[3:]  # the COMPLEX_TOPPING tree is longer than one source bucket
  schema = TreeSchema.from_trees(e.exr_tree() for e in seeds)
  rs = parse_lib.rs_requests(seeds, catalogues, schema, 4, np.random.default_rng(0))
  assert len(rs) == 4 and len({r.exr for r in rs}) == 4
  for request in rs:  # the phrases are the new tree's values, said by catalogue forms
    values = sorted(n.text for n in parse_tree(request.exr).walk() if n.is_leaf_node)
    said = sorted(catalogues.resolve(label, p) for p in request.phrases
                  for label in catalogues.labels if catalogues.resolve(label, p) is not None)
    assert said == values, request
  gb = parse_lib.gb_requests(parser, seeds[:2], catalogues, 4, seed=0, samples_per_seed=2)
  seed_trees = {e.exr for e in seeds}
  for request in gb:
    assert parse_tree(request.exr) and request.exr not in seed_trees
    values = [n.text for n in parse_tree(request.exr).walk() if n.is_leaf_node]
    said = [v for p in request.phrases for label in catalogues.labels
            if (v := catalogues.resolve(label, p)) is not None and v in values]
    assert len(said) == len(request.phrases) and set(values) - set(said) <= {"1"}, request
  # The teacher: any encoder-decoder of the parser's sizes that writes any piece shows the
  # constraint (the parser itself only writes its grammar's shortlist, so it cannot teach).
  # Trees of at most 32 pieces (one source bucket: one compilation).
  assert parser.model.config.output_ids is not None
  with pytest.raises(ValueError, match="whole vocabulary"):
    parse_lib.Generator(parser.model, parser.tokenizer, max_source_len=32)
  words = dataclasses.replace(parser.model.config, output_ids=None)
  teacher = parse_lib.Generator(models.BertSeq2Seq(words, rngs=nnx.Rngs(0)), parser.tokenizer,
                                max_source_len=32)
  examples, unfinished = parse_lib.write_utterances(teacher, rs, n=2, seed=0, max_length=24,
                                                    batch_size=8)
  assert unfinished == 0 and len(examples) == 2 * len(rs)
  by_tree = {r.exr: r for r in rs}
  for example in examples:
    for phrase in by_tree[example.exr].phrases:
      assert phrase in example.text, (phrase, example.text)
  again, _ = parse_lib.write_utterances(teacher, rs, n=2, seed=0, max_length=24, batch_size=8)
  assert [e.text for e in again] == [e.text for e in examples]


def test_placeholders_pair_each_said_value_with_its_words_by_structure():
  from fsnlu_jax.data.catalogues import TreeSchema  # pylint: disable=g-import-not-at-top
  from fsnlu_jax.parse import placeholders  # pylint: disable=g-import-not-at-top
  catalogues = _catalogues()
  two_pizzas = ParseExample(
      "two small pizzas with ham and a large pizza with onions and ham",
      (), "(ORDER (PIZZAORDER (NUMBER two ) (SIZE small ) pizzas with (TOPPING ham ) ) and"
      " (PIZZAORDER (NUMBER a ) (SIZE large ) pizza with (TOPPING onions ) and (TOPPING ham ) ) )",
      "(ORDER (PIZZAORDER (NUMBER 1 ) (SIZE LARGE ) (TOPPING HAM ) (TOPPING ONIONS ) )"
      " (PIZZAORDER (NUMBER 2 ) (SIZE SMALL ) (TOPPING HAM ) ) )", False, "hand:1")
  seeds = _seeds() + [two_pizzas]
  schema = TreeSchema.from_trees(e.exr_tree() for e in seeds)
  for example in seeds:
    made = placeholders.delexicalize_example(example, catalogues, schema)
    tree = parse_tree(made.exr)
    said = sorted((n for n in tree.walk() if n.is_leaf_node and n.text.startswith("[unused")),
                  key=lambda n: int(n.text[7:-1]))
    in_text = [w for w in made.text.split() if w.startswith("[unused")]
    assert in_text == [f"[unused{k}]" for k in range(len(said))]  # numbered as said
    assert sorted(made.text.split()) == sorted(  # each placeholder once, other words kept
        [w for w in made.text.split() if not w.startswith("[unused")] + [n.text for n in said])
    # Filling each placeholder with the words it replaced gives the utterance back, and the
    # filled tree is the EXR tree (up to sibling order).
    top = parse_tree(example.top)
    slot, tree_back = placeholders._structural_slots(  # pylint: disable=protected-access
        top, top.entity_spans(), example, catalogues, schema)
    fills = [""] * len(said)
    for (node, _, _), k in zip(top.entity_spans(), slot):
      if k is not None:
        fills[k] = node.text
    assert placeholders.fill(made.text, fills) == example.text
    assert tree_back.render() == made.exr
    values = [catalogues.resolve(n.label, f) for n, f in zip(said, fills)]
    assert placeholders.fill(made.exr, values) == schema.canonical(example.exr_tree()).render()
  # The second pizza's "ham" is the second order's: the orders are not crossed.
  made = placeholders.delexicalize_example(two_pizzas, catalogues, schema)
  assert made.exr == ("(ORDER (PIZZAORDER (NUMBER [unused3] ) (SIZE [unused4] ) (TOPPING [unused6] )"
                      " (TOPPING [unused5] ) ) (PIZZAORDER (NUMBER [unused0] ) (SIZE [unused1] )"
                      " (TOPPING [unused2] ) ) )")
  assert made.text == ("[unused0] [unused1] pizzas with [unused2] and [unused3] [unused4] pizza"
                       " with [unused5] and [unused6]")
  # A request: its phrases claimed by the values in pre-order; a phrase no value has is left.
  tree, fills, left = placeholders.delexicalize_tree(
      "(ORDER (PIZZAORDER (NUMBER 1 ) (SIZE LARGE ) (TOPPING HAM ) ) )",
      ("ham", "large", "green peppers"), catalogues)
  assert tree == "(ORDER (PIZZAORDER (NUMBER 1 ) (SIZE [unused1] ) (TOPPING [unused0] ) ) )"
  assert fills == ("ham", "large") and left == ("green peppers",)  # in the phrases' order
  with pytest.raises(ValueError, match="fills"):
    placeholders.fill("a [unused2] pizza", ["large"])


def test_a_placeholder_teacher_writes_each_placeholder_once_and_gets_the_values(trained):
  from fsnlu_jax.data.catalogues import TreeSchema  # pylint: disable=g-import-not-at-top
  parser = Parser.load(trained)
  seeds, catalogues = _seeds(), _catalogues()
  seeds = seeds[:2] + seeds[3:]
  schema = TreeSchema.from_trees(e.exr_tree() for e in seeds)
  rs = parse_lib.rs_requests(seeds, catalogues, schema, 4, np.random.default_rng(0))
  words = dataclasses.replace(parser.model.config, output_ids=None)
  teacher = parse_lib.Generator(models.BertSeq2Seq(words, rngs=nnx.Rngs(0)), parser.tokenizer,
                                max_source_len=32, placeholders=True)
  with pytest.raises(ValueError, match="catalogues"):
    parse_lib.write_utterances(teacher, rs, n=2, seed=0, max_length=24, batch_size=8)
  examples, unfinished = parse_lib.write_utterances(teacher, rs, n=2, seed=0, max_length=24,
                                                    batch_size=8, catalogues=catalogues)
  assert unfinished == 0 and len(examples) == 2 * len(rs)
  by_tree = {r.exr: r for r in rs}
  for example in examples:
    assert "unused" not in example.text, example.text
    for phrase in by_tree[example.exr].phrases:
      assert phrase in example.text, (phrase, example.text)


def test_a_teacher_limited_to_its_training_pieces_writes_only_them_and_the_owed_words(trained):
  parser = Parser.load(trained)
  words = dataclasses.replace(parser.model.config, output_ids=None)
  frame = "i want a pizza please".split()
  allowed = [parser.tokenizer.piece_id(w) for w in frame]
  teacher = parse_lib.Generator(models.BertSeq2Seq(words, rngs=nnx.Rngs(0)), parser.tokenizer,
                                max_source_len=32, target_pieces=allowed + [words.eos_id])
  assert teacher.usable.sum() == len(frame)  # EOS is no text piece
  trees = ["(ORDER (PIZZAORDER (NUMBER 1 ) (TOPPING HAM ) ) )"] * 2
  out = teacher.generate(trees, [("ham",), ("green peppers",)], 4, seed=0, max_length=16,
                         batch_size=8)
  for owed, samples in zip(("ham", "green peppers"), out):
    for text, _ in samples:
      assert text is not None and owed in text
      free = text.replace(owed, " ").split()  # (a phrase's first words may also start early)
      assert free and set(free) <= set(frame) | set(owed.split()), text
  # Any text piece: a random decoder's free text leaves the frame.
  anything = parse_lib.Generator(teacher.model, parser.tokenizer, max_source_len=32)
  texts = [t for samples in anything.generate(trees, [("ham",)] * 2, 4, seed=0, max_length=16,
                                              batch_size=8) for t, _ in samples]
  assert any(set(t.replace("ham", " ").split()) - set(frame) for t in texts)


def test_grammar_requests_are_grammar_samplings_trees_with_their_templates_words():
  from fsnlu_jax.data import tree_augment  # pylint: disable=g-import-not-at-top
  from fsnlu_jax.data.catalogues import TreeSchema  # pylint: disable=g-import-not-at-top
  from fsnlu_jax.parse.clasp import top_phrases  # pylint: disable=g-import-not-at-top
  seeds, catalogues = _seeds(), _catalogues()
  schema = TreeSchema.from_trees(e.exr_tree() for e in seeds)
  requests = parse_lib.grammar_requests(seeds, catalogues, schema, 6, np.random.default_rng(3))
  drawn = tree_augment.augment("grammar", 6, seeds, catalogues, schema, np.random.default_rng(3))
  assert [r.exr for r in requests] == [e.exr for e in drawn.examples] and len(requests) == 6
  for request, example in zip(requests, drawn.examples):
    assert request.phrases == top_phrases(parse_tree(example.top))
    assert all(p in example.text for p in request.phrases)


def test_dedupe_and_round_trip_keep_only_new_recovered_pairs():
  seeds = _seeds()
  made = [ParseExample(t, tuple(t.split()), "", exr, False, f"gen:{i}")
          for i, (t, exr) in enumerate([(seeds[0].text, seeds[0].exr), ("x y", seeds[1].exr),
                                        ("x y", seeds[2].exr), ("z", seeds[3].exr)])]
  kept, dropped = parse_lib.dedupe(made, seeds)
  assert [e.source for e in kept] == ["gen:1", "gen:3"] and dropped == 2

  class Stub:  # a parser that recovers the first tree only (siblings reordered)
    def parse(self, texts):
      first = "(ORDER (PIZZAORDER (TOPPING PEPPERONI ) (TOPPING ONIONS ) (SIZE SMALL ) (NUMBER 2 ) ) )"
      return [(first, -1.0), (None, float("-inf"))][:len(texts)]

  kept, dropped = parse_lib.round_trip(Stub(), kept)
  assert [e.source for e in kept] == ["gen:1"] and dropped == 1


def test_the_real_pizza_subset_is_seeded_and_disjoint_from_its_validation(shared_data, cache_dir):
  """PIZZA itself (CC BY-NC: read from ../shared, skipped without it)."""
  config = ParseDataConfig(train_size=16, subset_seed=0)
  data = data_lib.load_parse_data(config, data_dir=shared_data, cache_dir=cache_dir)
  assert data.stats == dict(pool=348, train=16, validation=32, test=1357, subset_seed=0)
  train = {e.source for e in data.examples["train"]}
  assert not train & {e.source for e in data.examples["validation"]}
  other = data_lib.load_parse_data(ParseDataConfig(train_size=16, subset_seed=1),
                                   data_dir=shared_data, cache_dir=cache_dir)
  assert {e.source for e in other.examples["train"]} != train
  grammar = data_lib.tree_grammar(data, config, 6)  # the dev schema holds every dev tree
  for example in data.examples["train"] + data.examples["validation"]:
    for node in example.exr_tree().walk():
      for kid in node.subtrees:
        assert kid.label in grammar.children[node.label]
      if node.is_leaf_node:
        assert node.text in grammar.values[node.label]


def test_added_parses_round_trip_through_jsonl_and_a_bad_line_names_its_place(tmp_path):
  seeds = _seeds()
  path = tmp_path / "added.jsonl"
  data_lib.write_parses(path, seeds)
  assert data_lib.read_parses(path) == seeds
  path.write_text(path.read_text() + '{"text": "a pizza", "tokens": ["a", "pizza"], "top": "",'
                  ' "exr": "(ORDER (PIZZAORDER ", "pcfg_err": false, "source": "x"}\n')
  with pytest.raises(ValueError, match=f"{path}:{len(seeds) + 1}"):
    data_lib.read_parses(path)


def test_added_parses_join_training_only_and_a_rewritten_file_is_refused(pizza_dir, tmp_path):
  from fsnlu_jax.config import WorkdirError  # pylint: disable=g-import-not-at-top
  from fsnlu_jax.parse import job  # pylint: disable=g-import-not-at-top
  added = [ParseExample("four cans of coke", ("four", "cans", "of", "coke"), "",
                        "(ORDER (DRINKORDER (CONTAINERTYPE CAN ) (DRINKTYPE COKE ) (NUMBER 4 ) ) )",
                        False, "gen:0")]
  path = tmp_path / "added.jsonl"
  data_lib.write_parses(path, added)
  config = ParseDataConfig(train_size=3, validation_size=2)
  cache = tmp_path / "cache"
  plain = data_lib.load_parse_data(config, data_dir=pizza_dir, cache_dir=cache)
  config = ParseDataConfig(train_size=3, validation_size=2, extra_train=str(path))
  data = data_lib.load_parse_data(config, data_dir=pizza_dir, cache_dir=cache)
  assert data.examples["train"] == plain.examples["train"] + added
  assert data.examples["validation"] == plain.examples["validation"]
  assert data.stats["extra_train"]["rows"] == 1
  workdir = tmp_path / "run"
  workdir.mkdir()
  (workdir / "data.json").write_text(json.dumps(data.stats))
  job._check_same_added_data(workdir, data.stats)  # pylint: disable=protected-access
  data_lib.write_parses(path, added + _seeds()[:1])
  again = data_lib.load_parse_data(config, data_dir=pizza_dir, cache_dir=cache)
  with pytest.raises(WorkdirError, match="other added parses"):
    job._check_same_added_data(workdir, again.stats)  # pylint: disable=protected-access


def test_the_output_shortlist_holds_every_piece_the_grammar_allows(trained):
  parser = Parser.load(trained)
  c, automaton = parser.model.config, parser.automaton
  assert c.output_ids == parse_lib.parser.grammar_shortlist(automaton, bos_id=c.bos_id,
                                                            eos_id=c.eos_id)
  assert len(c.output_ids) < 1000 < c.encoder.vocab_size
  states = jnp.arange(automaton.num_states, dtype=jnp.int32)[None]  # --> [1, S]
  allowed = np.asarray(automaton.constraint().allowed(states))[0]  # --> [S, V]
  outside = np.ones(c.encoder.vocab_size, bool)
  outside[list(c.output_ids)] = False
  assert allowed.any() and not allowed[:, outside].any()


def test_grounding_allows_the_mentioned_values_and_structure_only(trained, pizza_dir):
  from fsnlu_jax.parse import grounding  # pylint: disable=g-import-not-at-top
  parser = Parser.load(trained)
  g, pieces = parser.grounding, parser.automaton.symbol_pieces
  assert g is not None and parser.decode.grounded_values
  mask = g.mask(["a small pizza with green peppers", "Three cans of COKE"])
  allowed = lambda row, symbol: bool(mask[row, list(pieces[symbol])].all())
  assert allowed(0, "SMALL") and allowed(0, "GREEN_PEPPERS") and not allowed(0, "HAM")
  assert not allowed(0, "LARGE") and allowed(1, "COKE") and allowed(1, "CAN")
  for row in (0, 1):  # structure and the implicit NUMBER 1 always
    assert allowed(row, "(PIZZAORDER") and allowed(row, ")") and allowed(row, "1")
  assert allowed(1, "3") and not allowed(0, "3") and ("NUMBER", "1") in grounding.IMPLICIT
  # Every gold value of the hand-made rows is mentioned, so grounding never blocks it.
  rows = _ROWS + _TEST
  masks = g.mask([text for text, _, _ in rows])
  for (text, _, exr), m in zip(rows, masks):
    for node in parse_tree(exr).walk():
      if node.is_leaf_node:
        assert m[list(pieces[node.text])].all(), (text, node)
  # Parsing: every value written is mentioned.
  texts = [text for text, _, _ in _TEST]
  for text, (tree, _) in zip(texts, parser.parse(texts)):
    row = g.mask([text])[0]
    for node in parse_tree(tree).walk():
      if node.is_leaf_node:
        assert row[list(pieces[node.text])].all(), (text, tree)


def test_the_cli_writes_added_parses_for_the_parsers_subset(trained, pizza_dir, tmp_path, capsys):
  out = tmp_path / "rs.jsonl"
  common = ["clasp", "--parser", str(trained), "--data-dir", str(pizza_dir), "--cache-dir",
            str(tmp_path / "cache"), "--n", "3"]
  assert cli.main([*common, "--method", "rs", "--out", str(out)]) == 0
  counts = json.loads(capsys.readouterr().out.splitlines()[-1])
  added = data_lib.read_parses(out)
  assert counts["added"] == len(added) == 3
  seeds = {e.text for e in _seeds()}
  assert all(e.source.startswith("rs:") and e.text not in seeds for e in added)
  assert cli.main([*common, "--method", "clasp_rs", "--out", str(out)]) == 2
  assert "needs --teacher" in capsys.readouterr().err


def test_a_placeholder_teacher_trains_from_the_cli_and_writes_clasp_rs_pairs(
    trained, pizza_dir, tiny_bert, tmp_path, capsys):
  teacher = tmp_path / "teacher"
  assert cli.main(["parse", "--config", f"{CONFIG}:tiny", "--set", f"model.checkpoint={tiny_bert}",
                   "--set", "data.direction=generate", "--set", "data.placeholders=True",
                   "--set", "data.max_source_len=64", "--workdir", str(teacher), "--data-dir",
                   str(pizza_dir), "--cache-dir", str(tmp_path / "cache")]) == 0
  saved = json.loads((teacher / "parser.json").read_text())
  assert saved["placeholders"] and json.loads((teacher / "data.json").read_text())[
      "without_placeholders"] == {"train": 0, "validation": 0}
  assert parse_lib.Generator.load(teacher).placeholders
  # Its free text: the pieces of its training utterances (values are placeholders).
  assert 0 < parse_lib.Generator.load(teacher).usable.sum() <= len(saved["target_pieces"])
  assert parse_lib.Generator.load(teacher, free_text="any").usable.sum() > 1000
  out = tmp_path / "clasp_rs.jsonl"
  assert cli.main(["clasp", "--parser", str(trained), "--teacher", str(teacher), "--data-dir",
                   str(pizza_dir), "--cache-dir", str(tmp_path / "cache"), "--n", "2",
                   "--method", "clasp_rs", "--out", str(out)]) == 0
  counts = json.loads(capsys.readouterr().out.splitlines()[-1])
  added = data_lib.read_parses(out)
  assert counts["requests"] == 2 and len(added) == counts["added"] > 0
  assert not any("unused" in e.text for e in added)


def test_covering_mentions_writes_every_required_value_or_falls_back(trained):
  parser = Parser.load(trained)
  parser.decode = dataclasses.replace(parser.decode, cover_mentions=True)
  texts = [text for text, _, _ in _TEST + _ROWS]
  pieces = parser.automaton.symbol_pieces
  required = parser.grounding.required(texts)
  assert all(required) and ["large pizza"] != required[1]
  counts = parser.grounding.mention_counts(texts)
  assert [len(c) for c in counts] == [len(r) for r in required] and min(map(min, counts)) >= 1
  twice = "a large pizza and a large coke"
  large = parser.grounding.required([twice])[0].index(list(pieces["LARGE"]))
  assert parser.grounding.mention_counts([twice])[0][large] == 2
  # Symbol by symbol, the longest mention wins: "two liter" allows the volume, not NUMBER 2
  # (whose pieces the piece mask lets through).
  symbols = parser.automaton.value_symbols
  allowed = parser.grounding.value_mask(["a two liter coke"])[0]
  assert allowed[symbols.index("2 LITER")] and allowed[symbols.index("COKE")]
  assert not allowed[symbols.index("2")] and allowed[symbols.index("1")]  # 1: implicit
  assert parser.grounding.mask(["a two liter coke"])[0, list(pieces["2"])].all()
  out = parser.parse(texts)
  assert all(tree is not None for tree, _ in out)  # a dead end is decoded again
  strict = len(texts) - sum(parser.fallback_rows.values())
  assert 0 <= strict <= len(texts)
  for text, wanted, caps, (tree, _) in zip(texts, required, counts, out):
    written = [list(pieces[n.text]) for n in parse_tree(tree).walk() if n.is_leaf_node]
    if all(0 < written.count(w) <= cap for w, cap in zip(wanted, caps)):
      continue
    assert parser.fallback_rows, (text, tree)  # only a fallback row may miss one or repeat it


def test_a_wider_fallback_beam_only_redecodes_rows_whose_beams_died(trained):
  parser = Parser.load(trained)
  parser.decode = dataclasses.replace(parser.decode, cover_mentions=True, fallback_beam_size=0)
  texts = [text for text, _, _ in _TEST + _ROWS]
  narrow = parser.parse(texts)
  died = dict(parser.fallback_rows).get("grounded=True,cover=False", 0)
  assert died  # a 3-step parser with a beam of 2 leaves some row unfinished
  wide_beam = 4 * parser.decode.beam_size
  parser.decode = dataclasses.replace(parser.decode, fallback_beam_size=wide_beam)
  wide = parser.parse(texts)
  assert parser.fallback_rows[f"grounded=True,cover=True,beam={wide_beam}"] == died
  assert parser.fallback_rows.get("grounded=True,cover=False", 0) <= died
  # Rows that finished under every constraint with the narrow beam are not decoded again.
  strict = parser._parse(texts, True, True, parser.decode.beam_size)  # pylint: disable=protected-access
  for (tree, _), before, after in zip(strict, narrow, wide):
    if tree is not None:
      assert before == after
  assert all(tree is not None for tree, _ in wide)


def test_utterance_order_follows_the_words_and_keeps_the_meaning():
  from fsnlu_jax.train.metrics import trees_match  # pylint: disable=g-import-not-at-top
  catalogues = _catalogues()
  for text, _, exr in _ROWS + _TEST:
    ordered = data_lib.utterance_ordered(exr, text, catalogues)
    assert trees_match(ordered, exr)
  assert data_lib.utterance_ordered(_ROWS[1][2], _ROWS[1][0], catalogues) == (
      "(ORDER (PIZZAORDER (NUMBER 2 ) (SIZE SMALL ) (TOPPING PEPPERONI ) (TOPPING ONIONS ) ) )")
  # Orders too: the drinks said after the pizza come after it; NOT where it is said.
  assert data_lib.utterance_ordered(_TEST[0][2], _TEST[0][0], catalogues).startswith(
      "(ORDER (PIZZAORDER (NUMBER 1 ) (SIZE SMALL ) (TOPPING CHEESE ) ) (DRINKORDER (NUMBER 2 )")
  assert data_lib.utterance_ordered(_ROWS[4][2], _ROWS[4][0], catalogues) == (
      "(ORDER (PIZZAORDER (NUMBER 1 ) (SIZE MEDIUM ) (NOT (TOPPING ONIONS ) ) ) )")
  # An unmentioned leaf (the implicit NUMBER 1) comes first among its siblings.
  assert data_lib.utterance_ordered(
      "(ORDER (PIZZAORDER (TOPPING HAM ) (NUMBER 1 ) ) )", "ham pizza", catalogues) == (
      "(ORDER (PIZZAORDER (NUMBER 1 ) (TOPPING HAM ) ) )")
