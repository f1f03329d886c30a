"""The teacher end to end at toy scale: train (resume), load, generate under the grammar."""

from __future__ import annotations

import importlib.util
import json
import pathlib

import numpy as np
import pytest
from flax import nnx

from fsnlu_jax import cli, models, teach
from fsnlu_jax.config import load_config
from fsnlu_jax.data.bio import bio_to_spans
from fsnlu_jax.data.schema import Example
from fsnlu_jax.teach import format as fmt


@pytest.fixture(scope="module")
def tiny_teacher(tmp_path_factory, minilm_dir, cache_dir):
  """A 4-step teacher on a tiny random BERT with MiniLM's word pieces."""
  root = tmp_path_factory.mktemp("teacher")
  cfg = models.BertConfig(vocab_size=30522, hidden_size=16, num_hidden_layers=1,
                          num_attention_heads=2, intermediate_size=32,
                          max_position_embeddings=128)
  folder = models.save_bert(models.BertEncoder(cfg, rngs=nnx.Rngs(0)), root / "bert")
  (folder / "tokenizer.json").symlink_to(minilm_dir / "tokenizer.json")
  config = load_config("teach:tiny")
  config["model"]["checkpoint"] = str(folder)
  workdir = root / "run"
  out = teach.run_teach(config, workdir, cache_dir=cache_dir)
  return config, workdir, out


def test_training_writes_a_loadable_teacher_and_resumes(tiny_teacher, cache_dir):
  config, workdir, out = tiny_teacher
  assert out["steps"] == 4 and out["best_step"] is not None
  data = json.loads((workdir / "data.json").read_text())
  assert data["pairs"]["train"] == 64 and data["instructions"]["pairs"] > 64
  again = teach.run_teach(config, workdir, cache_dir=cache_dir)  # finished: resumes at the end
  assert again["steps"] == 4 and again["best"] == out["best"]


def test_every_constrained_output_parses_and_honours_its_prompt(tiny_teacher):
  _, workdir, _ = tiny_teacher
  teacher = teach.Teacher.load(workdir)
  seeds = [Example("play jazz in the kitchen", ("play", "jazz", "in", "the", "kitchen"),
                   "play_music", ("O", "B-genre", "O", "O", "B-room"), "music", "t:1"),
           Example("play some rock", ("play", "some", "rock"), "play_music",
                   ("O", "O", "B-genre"), "music", "t:2")]
  prompts = (teach.generation_prompts("play_music", seeds, 3, mode="linguist", seed=0,
                                      catalogue={"genre": [("blues",)]}, wildcard_rate=0.5)
             + teach.generation_prompts("play_music", seeds, 2, mode="extrapolate", seed=0)
             + teach.generation_prompts("play_music", (), 2, mode="zero_shot", seed=0,
                                        labels=["genre", "room"]))
  sampling = teach.sampling_config(workdir, top_p=1.0)  # the CLI test's: one compile
  outputs = teacher.generate(prompts, 4, seed=0, sampling=sampling)
  assert len(outputs) == 4 * len(prompts)
  assert all(g.example is not None for g in outputs), [g.error for g in outputs if g.error]
  for g in outputs:
    fmt.check_against_prompt(fmt.parse_output(g.text, prompts[g.prompt].labels),
                             prompts[g.prompt], g.text)
    assert g.example.intent == "play_music" and len(g.example.tokens) >= 1
  # The same seed draws the same outputs; the sampler compiled once for both calls.
  assert [g.text for g in teacher.generate(prompts, 4, seed=0, sampling=sampling)] == \
      [g.text for g in outputs]


def test_generate_cli_writes_json_lines(tiny_teacher, tmp_path, capsys):
  _, workdir, _ = tiny_teacher
  out = tmp_path / "gen.jsonl"
  code = cli.main(["generate", "--teacher", str(workdir), "--intent", "play_music",
                   "--labels", "genre,room", "--prompts", "2", "--n", "4", "--top-p", "1",
                   "--output", str(out)])
  assert code == 0
  rows = [json.loads(line) for line in out.read_text().splitlines()]
  assert len(rows) == 8 and all(r["intent"] == "play_music" and "annotated" in r for r in rows)
  assert "8 of 8 outputs parsed" in capsys.readouterr().err


def test_generate_benchmark_names_systems_and_never_mixes_teachers(tiny_teacher, tmp_path,
                                                                   shared_data):
  """benchmarks/teach_generate.py: ``--suffix`` names the system's file, ``--wildcard-rate 0``
  fixes every requested value from the catalogue, and a summary of another setting is refused."""
  path = pathlib.Path(__file__).resolve().parents[2] / "benchmarks" / "teach_generate.py"
  spec = importlib.util.spec_from_file_location("teach_generate", path)
  bench = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(bench)
  _, workdir, _ = tiny_teacher
  summary, out = tmp_path / "summary.json", tmp_path / "generated"
  argv = ["--teacher", str(workdir), "--dataset", "snips", "--intents", "GetWeather",
          "--seeds", "0", "--modes", "linguist", "--prompts", "3", "--n", "2", "--top-p", "1",
          "--wildcard-rate", "0", "--suffix", "_t2", "--unconstrained", "0",
          "--data-dir", str(shared_data), "--out", str(out), "--summary", str(summary)]
  assert bench.main(argv) == 0
  run = json.loads(summary.read_text())["runs"]["snips/GetWeather/seed0/linguist_t2"]
  assert run["mode"] == "linguist" and run["wildcard_rate"] == 0 and run["repeated_labels"]
  assert run["parsed"] == run["outputs"] == 6
  # The anchors of the runs before repeated labels, recorded as such.
  assert bench.main([a if a != "_t2" else "_old" for a in argv] + ["--one-span-anchors"]) == 0
  old = json.loads(summary.read_text())["runs"]["snips/GetWeather/seed0/linguist_old"]
  assert old["repeated_labels"] is False and old["parsed"] == 6
  with pytest.raises(SystemExit, match="made with --one-span-anchors"):  # never overwritten
    bench.main([a if a != "_t2" else "_old" for a in argv])
  file = teach.generated_path(out, "snips", "GetWeather", 0, "linguist_t2")
  splits = teach.protocol_splits("snips", data_dir=str(shared_data))
  catalogue = teach.slot_catalogue(teach.novel_intent_split(splits.train, "GetWeather",
                                                            seed=0).train)
  generated = teach.read_generated(file, intent="GetWeather")
  assert len(generated) == 6
  for e in generated:
    for label, first, end in bio_to_spans(e.slots):
      assert tuple(e.tokens[first:end]) in {tuple(v) for v in catalogue[label]}, (label, e)
  with pytest.raises(SystemExit, match="another teacher or sampling"):
    bench.main(argv[:-2] + ["--temperature", "0.5", "--summary", str(summary)])
