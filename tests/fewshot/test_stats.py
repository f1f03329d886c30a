"""Summaries of few-shot scores: spread over seeds and episodes, paired differences."""

from __future__ import annotations

import numpy as np
import pytest

from fsnlu_jax.fewshot import stats


def test_paired_differences_remove_episode_difficulty_and_broadcast_an_untrained_system():
  rng = np.random.default_rng(0)
  difficulty = rng.uniform(0.3, 0.9, size=50)  # [E]: shared by every system
  seeds = np.array([0.00, 0.01, 0.02])[:, None]  # [S, 1]: a training-seed effect
  protonet = difficulty[None] + 0.03 + seeds + 0.005 * rng.normal(size=(3, 50))
  softmax = difficulty[None]  # [1, E]: no training seed
  scores = {"protonet": dict(accuracy=protonet, macro_f1=protonet),
            "softmax": dict(accuracy=softmax, macro_f1=softmax)}
  diff = stats.paired_differences(scores)
  assert list(diff) == ["protonet-softmax"]
  d = diff["protonet-softmax"]["accuracy"]
  want = (protonet - softmax).reshape(-1)
  assert d["n"] == 150 and d["mean"] == pytest.approx(want.mean())
  assert d["sd"] == pytest.approx(want.std(ddof=1))
  assert d["seeds"] == 3 and d["seed_means"] == pytest.approx((protonet - softmax).mean(1))
  # Paired: far tighter than the two systems' own spreads (the episodes' difficulty cancels).
  unpaired = stats.summary(protonet)["half_width"] + stats.summary(softmax)["half_width"]
  assert d["half_width"] < unpaired / 5
  assert d["mean"] - d["half_width"] > 0  # the 0.03 + seed effect is resolved
  one_seed = stats.summary(softmax)
  assert "seeds" not in one_seed and one_seed["n"] == 50
