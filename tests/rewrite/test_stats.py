"""Paired comparisons of rewriting systems (fsnlu_jax.rewrite.stats) against brute force."""

from __future__ import annotations

import numpy as np
import pytest

from fsnlu_jax.rewrite import compare_systems
from fsnlu_jax.rewrite import stats


def _brute_prf(codes: str) -> tuple[float, float, float]:
  outputs = sum(c != "a" for c in codes)
  right = codes.count("c")
  p = right / outputs if outputs else 0.0
  r = right / len(codes)
  return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def _random_codes(rng, n, p):
  return "".join(rng.choice(list("awc"), size=n, p=p))


def test_point_differences_and_bootstrap_equal_a_loop_over_pairs():
  rng = np.random.default_rng(0)
  new = [_random_codes(rng, 40, [0.3, 0.2, 0.5]) for _ in range(3)]
  base = _random_codes(rng, 40, [0.2, 0.4, 0.4])  # untrained: one string for every seed
  out = compare_systems(new, [base], resamples=50, seed=3)
  for k, m in enumerate(stats.METRICS):
    diffs = [_brute_prf(n)[k] - _brute_prf(base)[k] for n in new]
    assert out[m]["seed_differences"] == pytest.approx(diffs)
    assert out[m]["difference"] == pytest.approx(np.mean(diffs))
    assert out[m]["seed_sd"] == pytest.approx(np.std(diffs, ddof=1))
  # The bootstrap: the same resampled pairs for both systems and every seed.
  rows = np.random.default_rng(3).integers(0, 40, size=(50, 40))
  boot = [np.mean([_brute_prf("".join(n[i] for i in r))[2] - _brute_prf("".join(base[i] for i in r))[2]
                   for n in new]) for r in rows]
  assert out["f1"]["pairs_interval"] == pytest.approx(
      [np.percentile(boot, 2.5), np.percentile(boot, 97.5)])
  assert out["precision"]["relative"] == pytest.approx(
      out["precision"]["difference"] / out["precision"]["base"])


def test_a_system_against_itself_differs_by_zero_and_a_better_one_is_resolved():
  rng = np.random.default_rng(1)
  base = [_random_codes(rng, 300, [0.3, 0.3, 0.4]) for _ in range(3)]
  same = compare_systems(base, base, resamples=200)
  for m in stats.METRICS:
    assert same[m]["difference"] == 0.0 and same[m]["pairs_interval"] == [0.0, 0.0]
  better = [b.replace("w", "c", 40) for b in base]  # 40 wrong outputs made right
  out = compare_systems(better, base, resamples=200)
  assert out["recall"]["difference"] == pytest.approx(40 / 300)
  assert out["precision"]["pairs_interval"][0] > 0 and out["recall"]["seed_half_width"] < 1e-9


def test_mismatched_outcomes_are_refused():
  with pytest.raises(ValueError, match="same pairs"):
    compare_systems(["ca"], ["cac"])
  with pytest.raises(ValueError, match="seeds"):
    compare_systems(["ca", "cw", "aw"], ["ca", "cw"])
  with pytest.raises(ValueError, match="one string"):
    compare_systems(["cx"], ["ca"])
