"""Oracle tests for the linear-chain CRF kernels.

The oracle enumerates all ``T**n`` tag paths of a sequence in float64 NumPy, so
every quantity (log Z, log-likelihood, best path, marginals) has an exact
reference on tiny sizes (T <= 4, L <= 4).
"""

from __future__ import annotations

import itertools

import hypothesis
import hypothesis.strategies as st
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis.extra import numpy as hnp

from fsnlu_jax import kernels
from fsnlu_jax.kernels import (bio_transition_mask, crf_log_likelihood, crf_log_partition,
                               crf_marginals, crf_path_score, masked_transitions,
                               viterbi_decode)

ATOL = RTOL = 1e-5
BIO_TAGS = ("O", "B-a", "I-a", "B-b", "I-b")


# ---------------------------------------------------------------- the oracle


def oracle_path_scores(emissions, transitions, start, end):
  """All paths ``[P, n]`` of one unpadded sequence ``[n, T]`` and their scores ``[P]``."""
  n, num_tags = emissions.shape
  paths = np.array(list(itertools.product(range(num_tags), repeat=n)))
  scores = (start[paths[:, 0]] + end[paths[:, -1]]
            + emissions[np.arange(n)[None, :], paths].sum(1)
            + transitions[paths[:, :-1], paths[:, 1:]].sum(1))
  return paths, scores


def oracle(emissions, transitions, start, end, gold=None):
  """log Z, log p(gold), best path, best score and marginals ``[n, T]`` by enumeration."""
  paths, scores = oracle_path_scores(emissions, transitions, start, end)
  log_z = np.logaddexp.reduce(scores)
  probs = np.exp(scores - log_z)
  n, num_tags = emissions.shape
  marginals = np.zeros((n, num_tags))
  for t in range(n):
    np.add.at(marginals[t], paths[:, t], probs)
  best = int(np.argmax(scores))
  result = dict(log_z=log_z, best_path=paths[best], best_score=scores[best], marginals=marginals)
  if gold is not None:
    index = int(np.flatnonzero((paths == np.asarray(gold)[None, :]).all(1))[0])
    result["log_likelihood"] = scores[index] - log_z
  return result


def random_problem(seed, *, batch=5, length=4, num_tags=4, lengths=None, scale=2.0):
  """A random padded batch: float32 arrays; padding holds junk emissions and -1 tags."""
  rng = np.random.default_rng(seed)
  if lengths is None:
    lengths = rng.integers(1, length + 1, size=batch)
    lengths[0] = 1  # always include a length-1 row
    lengths[-1] = length
  lengths = np.asarray(lengths)
  mask = np.arange(length)[None, :] < lengths[:, None]
  emissions = rng.normal(size=(len(lengths), length, num_tags)) * scale
  emissions[~mask] = 1e3  # junk that would dominate if padding leaked in
  tags = np.where(mask, rng.integers(0, num_tags, size=mask.shape), -1)
  f32 = lambda a: np.asarray(a, np.float32)
  return dict(emissions=f32(emissions), mask=mask, tags=tags.astype(np.int32),
              transitions=f32(rng.normal(size=(num_tags, num_tags))),
              start=f32(rng.normal(size=num_tags)), end=f32(rng.normal(size=num_tags)))


def row_oracle(problem, row, gold=True):
  real = problem["mask"][row]
  f64 = lambda name: np.asarray(problem[name], np.float64)
  return oracle(f64("emissions")[row][real], f64("transitions"), f64("start"), f64("end"),
                gold=problem["tags"][row][real] if gold else None)


def edges(problem):
  return dict(start=problem["start"], end=problem["end"])


# ---------------------------------------------------------------- against the oracle


@pytest.mark.parametrize("seed,num_tags", [(0, 3), (1, 4), (2, 4)])
def test_log_partition_and_likelihood_match_oracle(seed, num_tags):
  p = random_problem(seed, num_tags=num_tags)
  log_z = crf_log_partition(p["emissions"], p["mask"], p["transitions"], **edges(p))
  ll = crf_log_likelihood(p["emissions"], p["tags"], p["mask"], p["transitions"], **edges(p))
  expected = [row_oracle(p, b) for b in range(len(p["mask"]))]
  np.testing.assert_allclose(log_z, [e["log_z"] for e in expected], rtol=RTOL, atol=ATOL)
  np.testing.assert_allclose(ll, [e["log_likelihood"] for e in expected], rtol=RTOL, atol=ATOL)


def test_start_end_default_to_zero():
  p = random_problem(3, num_tags=3)
  zeros = np.zeros(3, np.float32)
  np.testing.assert_allclose(
      crf_log_partition(p["emissions"], p["mask"], p["transitions"]),
      crf_log_partition(p["emissions"], p["mask"], p["transitions"], start=zeros, end=zeros))
  p.update(start=zeros, end=zeros)
  expected = [row_oracle(p, b, gold=False)["log_z"] for b in range(len(p["mask"]))]
  np.testing.assert_allclose(crf_log_partition(p["emissions"], p["mask"], p["transitions"]),
                             expected, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("seed,num_tags", [(4, 3), (5, 4)])
def test_viterbi_returns_oracle_argmax_path_and_score(seed, num_tags):
  p = random_problem(seed, num_tags=num_tags, batch=6)
  tags, score = viterbi_decode(p["emissions"], p["mask"], p["transitions"], **edges(p))
  assert tags.dtype == jnp.int32 and tags.shape == p["mask"].shape
  for b, real in enumerate(p["mask"]):
    expected = row_oracle(p, b, gold=False)
    np.testing.assert_array_equal(np.asarray(tags[b])[real], expected["best_path"])
    np.testing.assert_array_equal(np.asarray(tags[b])[~real], 0)  # documented padding tag
    np.testing.assert_allclose(score[b], expected["best_score"], rtol=RTOL, atol=ATOL)
  # The returned score is the path score of the returned tags.
  np.testing.assert_allclose(
      crf_path_score(p["emissions"], tags, p["mask"], p["transitions"], **edges(p)), score,
      rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("seed", [6, 7])
def test_marginals_sum_to_one_and_match_oracle(seed):
  p = random_problem(seed, num_tags=4)
  marginals = np.asarray(crf_marginals(p["emissions"], p["mask"], p["transitions"], **edges(p)))
  assert marginals.shape == p["emissions"].shape
  np.testing.assert_allclose(marginals.sum(-1), p["mask"].astype(float), atol=ATOL)
  for b, real in enumerate(p["mask"]):
    np.testing.assert_allclose(marginals[b][real], row_oracle(p, b, gold=False)["marginals"],
                               atol=ATOL)


def test_likelihood_gradient_is_gold_minus_marginals():
  # d log p(y|x) / d emissions = onehot(y) - p(y_t | x): ties the two kernels together.
  p = random_problem(8, num_tags=4)
  grad = jax.grad(lambda e: crf_log_likelihood(
      e, p["tags"], p["mask"], p["transitions"], **edges(p)).sum())(p["emissions"])
  onehot = jax.nn.one_hot(np.where(p["mask"], p["tags"], 0), 4) * p["mask"][..., None]
  marginals = crf_marginals(p["emissions"], p["mask"], p["transitions"], **edges(p))
  np.testing.assert_allclose(grad, onehot - marginals, atol=ATOL)


# ---------------------------------------------------------------- padding


def _all_outputs(emissions, tags, mask, transitions, start, end):
  kw = dict(start=start, end=end)
  best, best_score = viterbi_decode(emissions, mask, transitions, **kw)
  return dict(log_z=crf_log_partition(emissions, mask, transitions, **kw),
              ll=crf_log_likelihood(emissions, tags, mask, transitions, **kw),
              marginals=crf_marginals(emissions, mask, transitions, **kw),
              best=best, best_score=best_score)


# Padding tests run every sequence length alone; jit keeps that to one compile each.
_all_outputs_jit = jax.jit(_all_outputs)


def test_padded_batch_equals_each_sequence_alone():
  p = random_problem(9, batch=4, length=4, num_tags=4, lengths=[1, 3, 4, 2])
  batched = _all_outputs_jit(p["emissions"], p["tags"], p["mask"], p["transitions"],
                         p["start"], p["end"])
  for b, real in enumerate(p["mask"]):
    alone = _all_outputs_jit(p["emissions"][b:b + 1, real], p["tags"][b:b + 1, real],
                         np.ones((1, real.sum()), bool), p["transitions"], p["start"], p["end"])
    for name in ("log_z", "ll", "best_score"):
      np.testing.assert_allclose(batched[name][b], alone[name][0], rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(batched["marginals"][b][real], alone["marginals"][0], atol=ATOL)
    np.testing.assert_array_equal(batched["best"][b][real], alone["best"][0])


def test_mask_with_holes_equals_compacted_sequence():
  # Masked steps leave the state unchanged, wherever they are.
  p = random_problem(10, batch=1, length=4, num_tags=3, lengths=[4])
  holes = np.array([[True, False, True, True]])
  emissions = p["emissions"].copy()
  emissions[~holes] = -7.0
  holey = _all_outputs_jit(emissions, p["tags"], holes, p["transitions"], p["start"], p["end"])
  compact = _all_outputs_jit(emissions[:, holes[0]], p["tags"][:, holes[0]],
                             np.ones((1, 3), bool), p["transitions"], p["start"], p["end"])
  for name in ("log_z", "ll", "best_score"):
    np.testing.assert_allclose(holey[name], compact[name], rtol=RTOL, atol=ATOL)
  np.testing.assert_array_equal(holey["best"][:, holes[0]], compact["best"])
  np.testing.assert_array_equal(holey["best"][:, ~holes[0]], 0)


def test_row_without_real_tokens_is_the_empty_path():
  p = random_problem(11, batch=2, length=3, num_tags=3, lengths=[0, 3])
  out = _all_outputs_jit(p["emissions"], p["tags"], p["mask"], p["transitions"],
                         p["start"], p["end"])
  assert float(out["log_z"][0]) == 0.0 and float(out["ll"][0]) == 0.0
  assert float(out["best_score"][0]) == 0.0
  np.testing.assert_array_equal(out["best"][0], 0)
  np.testing.assert_array_equal(out["marginals"][0], 0.0)
  np.testing.assert_allclose(out["log_z"][1], row_oracle(p, 1)["log_z"], rtol=RTOL, atol=ATOL)


def test_bad_shapes_raise():
  p = random_problem(12, num_tags=3)
  with pytest.raises(ValueError, match="transitions"):
    crf_log_partition(p["emissions"], p["mask"], np.zeros((4, 4), np.float32))
  with pytest.raises(ValueError, match="mask"):
    viterbi_decode(p["emissions"], p["mask"][:, :2], p["transitions"])
  with pytest.raises(ValueError, match="start"):
    crf_log_likelihood(p["emissions"], p["tags"], p["mask"], p["transitions"],
                       start=np.zeros(4, np.float32))


# ---------------------------------------------------------------- BIO constraints


def test_bio_transition_mask():
  allowed, start_allowed = bio_transition_mask(BIO_TAGS)
  #                          O  B-a I-a B-b I-b   (to)
  expected = np.array([[1, 1, 0, 1, 0],   # from O
                       [1, 1, 1, 1, 0],   # from B-a
                       [1, 1, 1, 1, 0],   # from I-a
                       [1, 1, 0, 1, 1],   # from B-b
                       [1, 1, 0, 1, 1]],  # from I-b
                      bool)
  np.testing.assert_array_equal(allowed, expected)
  np.testing.assert_array_equal(start_allowed, [True, True, False, True, False])
  for bad in (["O", "X-a"], ["O", "B-"], "O", []):
    with pytest.raises(ValueError):
      bio_transition_mask(bad)


def test_masked_transitions_give_the_exactly_constrained_partition():
  allowed, start_allowed = bio_transition_mask(BIO_TAGS[:3])
  p = random_problem(13, batch=3, length=4, num_tags=3)
  transitions = masked_transitions(p["transitions"], allowed)
  start = masked_transitions(p["start"], start_allowed)
  log_z = crf_log_partition(p["emissions"], p["mask"], transitions, start=start, end=p["end"])
  for b, real in enumerate(p["mask"]):
    paths, scores = oracle_path_scores(p["emissions"][b][real].astype(np.float64),
                                       p["transitions"].astype(np.float64),
                                       p["start"].astype(np.float64), p["end"].astype(np.float64))
    ok = start_allowed[paths[:, 0]] & allowed[paths[:, :-1], paths[:, 1:]].all(1)
    np.testing.assert_allclose(log_z[b], np.logaddexp.reduce(scores[ok]), rtol=RTOL, atol=ATOL)


_BIO_ALLOWED, _BIO_START = bio_transition_mask(BIO_TAGS)
_decode_bio = jax.jit(lambda e, m, tr, st: viterbi_decode(
    e, m, masked_transitions(tr, _BIO_ALLOWED), start=masked_transitions(st, _BIO_START)))
_scores = st.floats(-30, 30, width=32)


@hypothesis.settings(max_examples=60, deadline=None)
@hypothesis.given(emissions=hnp.arrays(np.float32, (3, 6, 5), elements=_scores),
                  transitions=hnp.arrays(np.float32, (5, 5), elements=_scores),
                  start=hnp.arrays(np.float32, (5,), elements=_scores),
                  lengths=st.lists(st.integers(0, 6), min_size=3, max_size=3))
def test_bio_constrained_viterbi_never_outputs_a_forbidden_transition(
    emissions, transitions, start, lengths):
  mask = np.arange(6)[None, :] < np.array(lengths)[:, None]
  tags, _ = _decode_bio(emissions, mask, transitions, start)
  tags = np.asarray(tags)
  for row, n in zip(tags, lengths):
    path = row[:n]
    if n:
      assert _BIO_START[path[0]], [BIO_TAGS[t] for t in path]
    assert _BIO_ALLOWED[path[:-1], path[1:]].all(), [BIO_TAGS[t] for t in path]


# ---------------------------------------------------------------- jit, grad, compile once


def test_jit_equals_eager():
  p = random_problem(14, num_tags=4)
  args = (p["emissions"], p["tags"], p["mask"], p["transitions"], p["start"], p["end"])
  eager = _all_outputs(*args)
  jitted = jax.jit(_all_outputs)(*args)
  for name, value in eager.items():
    np.testing.assert_allclose(jitted[name], value, rtol=RTOL, atol=ATOL, err_msg=name)


@pytest.mark.parametrize("constrained", [False, True])
def test_gradients_are_finite(constrained):
  p = random_problem(15, num_tags=len(BIO_TAGS))
  allowed, start_allowed = bio_transition_mask(BIO_TAGS)
  if constrained:
    # Gold paths that break BIO (O -> I-a, start with I-b): with -inf these give NaN.
    p["tags"][1, :2] = [0, 2]
    p["tags"][2, 0] = 4

  def loss(emissions, transitions, start, end):
    if constrained:
      transitions = masked_transitions(transitions, allowed)
      start = masked_transitions(start, start_allowed)
    ll = crf_log_likelihood(emissions, p["tags"], p["mask"], transitions, start=start, end=end)
    return -ll.mean()

  value, grads = jax.value_and_grad(loss, argnums=(0, 1, 2, 3))(
      p["emissions"], p["transitions"], p["start"], p["end"])
  assert np.isfinite(value)
  for grad in grads:
    assert np.isfinite(np.asarray(grad)).all()
  if constrained:
    assert float(value) > 1e3  # the invalid gold paths are heavily penalised, not NaN
    np.testing.assert_array_equal(np.asarray(grads[1])[~allowed], 0.0)  # never trained


def test_second_call_with_same_shapes_does_not_recompile():
  traces = []

  def step(emissions, tags, mask, transitions):
    traces.append(1)  # Python side effect: runs once per trace
    ll = crf_log_likelihood(emissions, tags, mask, transitions)
    return ll, viterbi_decode(emissions, mask, transitions)

  fn = jax.jit(step)
  for seed in (16, 17):
    p = random_problem(seed, num_tags=3)
    jax.block_until_ready(fn(p["emissions"], p["tags"], p["mask"], p["transitions"]))
  assert len(traces) == 1
  assert fn._cache_size() == 1  # pylint: disable=protected-access


def test_public_names_are_reexported():
  for name in ("crf_log_likelihood", "crf_log_partition", "crf_marginals", "crf_path_score",
               "viterbi_decode", "bio_transition_mask", "masked_transitions"):
    assert callable(getattr(kernels, name)), name
