"""The teacher end to end at toy scale: train (resume), load, generate under the grammar."""

from __future__ import annotations

import json

import numpy as np
import pytest
from flax import nnx

from fsnlu_jax import cli, models, teach
from fsnlu_jax.config import load_config
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
