"""The sub-word rewriter: word pieces and back, tries over pieces, the job end to end (tiny)."""

from __future__ import annotations

import dataclasses
import json
import pathlib

import numpy as np
import pytest
from flax import nnx

from fsnlu_jax import cli, rewrite
from fsnlu_jax.decoding import build_forest
from fsnlu_jax.kernels import TrieArrays
from fsnlu_jax.models import BertConfig, BertEncoder, WarmStartConfig, seq2seq_trainable_labels
from fsnlu_jax.models._architectures import bert_names
from fsnlu_jax.rewrite import pieces
from fsnlu_jax.train import jsonl

CONFIG = str(pathlib.Path(__file__).resolve().parents[2] / "configs" / "rewrite.py")
# MiniLM's vocabulary, everything else tiny: the tokenizer is the real one.
TINY = BertConfig(vocab_size=30522, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                  intermediate_size=16, max_position_embeddings=40)


def _write_tiny_bert(folder: pathlib.Path, tokenizer: pathlib.Path) -> pathlib.Path:
  """A BERT folder as Hugging Face writes one, random NumPy weights (no JAX initialisation:
  on CPU each eager op costs a compile), MiniLM's tokenizer.json linked in."""
  from safetensors.numpy import save_file  # pylint: disable=g-import-not-at-top
  abstract = nnx.eval_shape(lambda: BertEncoder(TINY, rngs=nnx.Rngs(0)))
  shapes = {p: v.shape for p, v in nnx.to_flat_state(nnx.state(abstract, nnx.Param))}
  rng = np.random.default_rng(3)
  tensors = {}
  for path, name, transpose in bert_names(TINY):
    shape = shapes[path][::-1] if transpose else shapes[path]
    tensors[name] = ((path[-1] == "scale") + 0.3 * rng.standard_normal(shape)).astype(np.float32)
  folder.mkdir()
  save_file(tensors, str(folder / "model.safetensors"))
  (folder / "config.json").write_text(json.dumps({**dataclasses.asdict(TINY),
                                                  "model_type": "bert"}))
  (folder / "tokenizer.json").symlink_to(tokenizer)
  return folder


@pytest.fixture(scope="module")
def vocab(minilm_dir):
  return pieces.PieceVocab(minilm_dir)


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory, minilm_dir):
  return _write_tiny_bert(tmp_path_factory.mktemp("subword") / "bert",
                          minilm_dir / "tokenizer.json")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, tiny_bert, cache_dir):
  """``fsnlu rewrite`` of ``CONFIG:tiny,subword`` on the tiny BERT (trained and evaluated)."""
  out = tmp_path_factory.mktemp("rewrite_subword")
  assert cli.main(["rewrite", "--config", f"{CONFIG}:tiny,subword", "--workdir", str(out),
                   "--cache-dir", str(cache_dir), "--set",
                   f"model.checkpoint={tiny_bert}"]) == 0
  return out


def test_detokenize_undoes_the_word_pieces_of_normalised_utterances(vocab):
  utterances = [("what's", "the", "wi-fi", "password"), ("wake", "me", "at", "5:30", "a.m"),
                ("play", "unbelievable", "by", "emf"), ("add", "sudamérica", "to", "my", "list"),
                ("play", "sudamerica")]
  ids = vocab.encode(utterances[0])
  assert vocab.pieces(ids) == ["what", "'", "s", "the", "wi", "-", "fi", "password"]
  assert tuple(vocab.decode(ids)) == utterances[0]
  # BERT's uncased tokenizer strips accents: the one failure, which remember() repairs.
  assert pieces.round_trip_failures(vocab, utterances) == [utterances[3]]
  assert vocab.remember(utterances) == dict(utterances=5, not_round_trip=1, ambiguous=0)
  assert pieces.round_trip_failures(vocab, utterances) == []
  # Specials and padding are not words.
  assert vocab.decode([vocab.bos_id, *vocab.encode(utterances[3]), vocab.eos_id, 0, 0]) == list(
      utterances[3])


def test_sources_put_the_request_last_and_cut_the_previous_turn_first(vocab):
  prev, cur = vocab.encode(("who", "sang", "river")), vocab.encode(("play", "alien", "bridges"))
  ids, cut = pieces.source_ids(prev, cur, vocab, 12)
  assert not cut and vocab.pieces(ids)[0] == "[CLS]" and vocab.pieces(ids)[-1] == "[SEP]"
  assert list(ids) == [vocab.bos_id, *prev, vocab.eos_id, *cur, vocab.eos_id]
  ids, cut = pieces.source_ids(prev, cur, vocab, len(cur) + 4)
  assert cut and list(ids) == [vocab.bos_id, prev[-1], vocab.eos_id, *cur, vocab.eos_id]


def _paths(trie: TrieArrays, eos: int) -> set[tuple[int, ...]]:
  """Every token sequence of trie 0 (root to EOS), by walking the arrays."""
  t = {k: np.asarray(v) for k, v in trie._asdict().items()}
  out, stack = set(), [(int(t["roots"][0]), ())]
  while stack:
    state, prefix = stack.pop()
    for a in range(t["offsets"][state], t["offsets"][state + 1]):
      token = int(t["edge_tokens"][a])
      if token == eos:
        out.add(prefix)
      else:
        stack.append((int(t["edge_child"][a]), prefix + (token,)))
  return out


def test_the_trie_over_pieces_holds_the_utterances_of_the_trie_over_words(vocab):
  utterances = [("play", "alien", "bridges"), ("what's", "the", "weather"),
                ("play", "alien", "bridge"), ("set", "an", "alarm"), ("sudamérica",)]
  vocab.remember(utterances)
  forest = build_forest([[vocab.encode(u) for u in utterances]], vocab_size=len(vocab),
                        eos_id=vocab.eos_id, max_length=16)
  paths = _paths(forest, vocab.eos_id)
  assert {tuple(vocab.decode(p)) for p in paths} == set(utterances)
  assert len(paths) == len(utterances)


def test_frozen_parts_are_the_lower_encoder_blocks_and_the_tables():
  from fsnlu_jax.models import BertSeq2Seq, Seq2SeqConfig  # pylint: disable=g-import-not-at-top
  bert = dataclasses.replace(TINY, num_hidden_layers=2)
  config = Seq2SeqConfig(bert, decoder_layers=1, max_target_len=16)
  model = nnx.eval_shape(lambda: BertSeq2Seq(config, rngs=nnx.Rngs(0)))
  labels = seq2seq_trainable_labels(
      model, WarmStartConfig(train_encoder_layers=1, train_embeddings=False))
  flat = {"/".join(map(str, p)): v for p, v in nnx.to_flat_state(labels)}
  frozen = {k for k, v in flat.items() if v == "freeze"}
  assert frozen and all(k.startswith(("encoder/layers/0/", "encoder/embeddings/")) for k in frozen)
  assert not any(k.startswith("encoder/embeddings/norm") for k in frozen)
  assert all(flat[k] == "train" for k in flat if k.startswith(("decoder/", "encoder/layers/1/")))


def test_the_subword_job_runs_every_system_inside_the_tries(workdir):
  results = json.loads((workdir / "results.json").read_text())
  systems = results["test"]
  for name in ("global_all", "personal_all", "both_all", "global", "personal", "both"):
    assert systems[name]["outside_trie"] == 0.0, name
  # Without abstention a search in a trie ends in one of its utterances: an output per pair,
  # decoded back to words that are a known-good utterance (outside_trie 0 above).
  for name in ("global_all", "personal_all"):
    assert systems[name]["outputs"] == systems[name]["pairs"] > 0, name
  assert {"unconstrained", "retrieval_both", "copy"} <= set(systems)
  config = json.loads((workdir / "config.json").read_text())
  assert config["model"]["kind"] == "subword"
  assert {"seq2seq.json", "tokenizer.json", "pieces.json", "tries.json"} <= {
      p.name for p in workdir.iterdir()}
  records = list(jsonl.read(workdir / "metrics.jsonl"))
  assert {r["kind"] for r in records} == {"train", "eval", "test"}
  assert results["steps"] == 6 and (workdir / "best").is_dir()


def test_every_known_good_utterance_of_the_job_round_trips(workdir, vocab):
  tries = json.loads((workdir / "tries.json").read_text())
  utterances = {tuple(u.split()) for group in [tries["global_trie"], *tries["personal"].values()]
                for u in group}
  # The embedded corpus is plain English: detokenize alone gives every one back.
  assert len(utterances) > 50 and pieces.round_trip_failures(vocab, utterances) == []
  assert json.loads((workdir / "pieces.json").read_text()) == []


def test_a_rerun_resumes_from_the_finished_run(workdir, tiny_bert, cache_dir):
  """Training resumes from the workdir (nothing left to train) and gives back the best state."""
  import jax  # pylint: disable=g-import-not-at-top
  from fsnlu_jax.config import job_config  # pylint: disable=g-import-not-at-top
  from fsnlu_jax.parallel import make_data_mesh  # pylint: disable=g-import-not-at-top
  from fsnlu_jax.rewrite import job  # pylint: disable=g-import-not-at-top
  config = job_config(rewrite.RewriteConfig, json.loads((workdir / "config.json").read_text()),
                      jobs=("rewrite",))
  records = (workdir / "metrics.jsonl").read_text()
  data = rewrite.build_data(config, cache_dir=cache_dir)
  _, state = job.train_rewriter(data, config, workdir, make_data_mesh())
  assert int(state.step) in {r["step"] for r in jsonl.read(workdir / "metrics.jsonl")
                             if r["kind"] == "eval"}
  assert (workdir / "metrics.jsonl").read_text() == records  # nothing trained or logged again
  loaded = rewrite.load_rewriter(workdir)  # what a query decodes with: the same weights
  for a, b in zip(jax.tree.leaves(loaded.params), jax.tree.leaves(state.params)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_the_cli_query_rewrites_into_the_tries(workdir, capsys):
  tries = json.loads((workdir / "tries.json").read_text())
  meant = tries["personal"]["0"][0]
  assert cli.main(["rewrite", "--checkpoint", str(workdir), "--user", "0", meant]) == 0
  out = capsys.readouterr().out.strip()
  # Untrained: the rewrite, or the best candidate that missed its threshold; either is one of
  # the tries' utterances, in words.
  text = out.split("'")[1] if out.startswith("no rewrite: best candidate") else out
  assert text in tries["personal"]["0"] or text in tries["global_trie"], out


def test_the_server_predictor_loads_a_subword_workdir(workdir):
  from fsnlu_jax import serve  # pylint: disable=g-import-not-at-top
  tries = json.loads((workdir / "tries.json").read_text())
  p = serve.load_predictor(workdir)
  assert p.info()["vocab"] == 30522
  heard = tries["personal"]["0"][0].replace("e", "", 1)
  answer, = p.predict([{"text": heard, "previous": "what's the weather", "user": 0}])
  assert answer["candidates"]["personal"]["text"] in tries["personal"]["0"]
  assert answer["candidates"]["global"]["text"] in tries["global_trie"]
