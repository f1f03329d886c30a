"""Word-score rendering: HTML colours and escaping, the PNG heat map, matplotlib optional."""

import re

import numpy as np
import pytest

from fsnlu_jax.explain import _render, heatmap_png, score_colour, words_html

WORDS = ["tell", "us", "a", "<bedtime>", "story"]


def _alphas(page: str, rgb: str) -> list[float]:
  return [float(a) for a in re.findall(rf"rgba\({rgb}, ([0-9.]+)\)", page)]


def test_red_pushes_toward_blue_away_scaled_to_the_page_peak():
  page = words_html(WORDS, [[0.1, 0.0, -0.2, 0.8, 0.4], [0.0, 0.0, 0.0, -0.4, 0.0]],
                    row_labels=["play_audiobook (p=0.62)", "general_joke (p=0.20)"],
                    title="why", note="predicted play_audiobook")
  red, blue = _alphas(page, "214, 39, 40"), _alphas(page, "31, 119, 180")
  assert max(red) == 1.0  # 0.8 is the peak of both rows
  assert sorted(blue) == [0.25, 0.5]  # -0.2 and -0.4 against the peak 0.8
  assert "&lt;bedtime&gt;" in page and "<bedtime>" not in page
  assert "play_audiobook (p=0.62)" in page and 'title="+0.8000"' in page
  assert page.count("<tr>") == 2


def test_score_colour_and_bad_shapes():
  assert score_colour(0.0, 1.0).endswith(", 0.000)")
  assert score_colour(3.0, 1.0) == "rgba(214, 39, 40, 1.000)"  # clipped
  with pytest.raises(ValueError, match="do not fit 5 words"):
    words_html(WORDS, [1.0, 2.0])
  with pytest.raises(ValueError, match="row labels"):
    words_html(WORDS, np.zeros((2, 5)), row_labels=["one"])
  assert "rgba(214, 39, 40, 0.000)" in words_html(WORDS, np.zeros(5))  # all zero: no colour


def test_heatmap_png_is_written(tmp_path):
  # matplotlib is in the test extra: no skip, a missing one fails the first assert.
  path = tmp_path / "map.png"
  assert heatmap_png(path, WORDS, np.linspace(-1, 1, 10).reshape(2, 5), row_labels=["a", "b"])
  assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_heatmap_png_without_matplotlib(tmp_path, monkeypatch):
  monkeypatch.setattr(_render.plotting, "pyplot", lambda what: None)
  assert not heatmap_png(tmp_path / "map.png", WORDS, np.ones(5))
  assert not (tmp_path / "map.png").exists()
