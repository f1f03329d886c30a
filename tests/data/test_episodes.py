"""Properties of the episode sampler: static shapes, disjointness, determinism."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from fsnlu_jax.data import episodes


def _labels(sizes):
  return [f"c{c:02d}" for c, n in enumerate(sizes) for _ in range(n)]


pools = st.lists(st.integers(min_value=0, max_value=20), min_size=3, max_size=12)


@settings(max_examples=60, deadline=None)
@given(sizes=pools, n_way=st.integers(1, 5), k=st.integers(1, 4), q=st.integers(1, 3),
       e=st.integers(1, 4), seed=st.integers(0, 2**31), variable=st.booleans())
def test_shared_pool_episodes(sizes, n_way, k, q, e, seed, variable):
  labels = _labels(sizes)
  eligible = sum(n >= k + q for n in sizes)
  kwargs = dict(n_way=n_way, k_shot=k, q_query=q,
                variable=episodes.VariableShape(min_way=2) if variable else None)
  if eligible < n_way:
    with pytest.raises(ValueError, match="eligible"):
      episodes.EpisodeSampler(labels, **kwargs)
    return
  sampler = episodes.EpisodeSampler(labels, **kwargs)
  assert len(sampler.classes) == eligible
  assert set(sampler.excluded) == {f"c{c:02d}" for c, n in enumerate(sizes) if 0 < n < k + q}
  batch = sampler.sample(np.random.default_rng(seed), e)
  # Static shapes, whatever was drawn.
  assert batch.support_index.shape == batch.support_mask.shape == (e, n_way, k)
  assert batch.query_index.shape == batch.query_mask.shape == (e, n_way, q)
  assert batch.classes.shape == batch.way_mask.shape == (e, n_way)
  labels = np.asarray(labels)
  for i in range(e):
    ways = batch.way_mask[i]
    assert ways.sum() >= (min(2, n_way) if variable else n_way)
    classes = batch.classes[i][ways]
    assert len(set(classes)) == len(classes)  # no class twice in an episode
    assert (batch.classes[i][~ways] == -1).all()
    support = batch.support_index[i][batch.support_mask[i]]
    query = batch.query_index[i][batch.query_mask[i]]
    assert not set(support) & set(query)  # supports and queries disjoint
    assert len(set(support)) == len(support) and len(set(query)) == len(query)
    for way in np.flatnonzero(ways):
      name = sampler.classes[batch.classes[i, way]]
      s = batch.support_index[i, way][batch.support_mask[i, way]]
      assert (labels[s] == name).all() and (labels[batch.query_index[i, way]] == name).all()
      assert 1 <= len(s) <= k
      if not variable:
        assert len(s) == k and batch.query_mask[i, way].all()
    assert (batch.support_index[i][~batch.support_mask[i]] == -1).all()


@settings(max_examples=30, deadline=None)
@given(sizes=pools, seed=st.integers(0, 2**31))
def test_separate_pools_use_each_pool(sizes, seed):
  support_labels = _labels(sizes)
  query_labels = _labels([n // 2 for n in sizes])
  eligible = sum(n >= 2 and n // 2 >= 2 for n in sizes)
  if eligible < 2:
    return
  sampler = episodes.EpisodeSampler(support_labels, query_labels, n_way=2, k_shot=2, q_query=2)
  batch = sampler.sample(np.random.default_rng(seed), 3)
  for i in range(3):
    for way in range(2):
      name = sampler.classes[batch.classes[i, way]]
      assert all(support_labels[j] == name for j in batch.support_index[i, way])
      assert all(query_labels[j] == name for j in batch.query_index[i, way])


def test_same_seed_same_episodes_and_different_seed_differs():
  labels = _labels([30] * 10)
  make = lambda: episodes.EpisodeSampler(labels, n_way=5, k_shot=5, q_query=5)
  a = make().sample(np.random.default_rng(7), 8)
  b = make().sample(np.random.default_rng(7), 8)
  c = make().sample(np.random.default_rng(8), 8)
  for x, y in zip(a, b):
    np.testing.assert_array_equal(x, y)
  assert not np.array_equal(a.support_index, c.support_index)
  stream = make().batches(np.random.default_rng(7), 4)
  first, second = next(stream), next(stream)
  assert not np.array_equal(first.support_index, second.support_index)


def test_n_way_all_uses_every_eligible_class():
  sampler = episodes.EpisodeSampler(_labels([10, 10, 3, 10]), n_way="all", k_shot=5, q_query=5)
  assert sampler.n_way == 3 and sampler.excluded == {"c02": (3, 3)}
  batch = sampler.sample(np.random.default_rng(0), 2)
  assert (np.sort(batch.classes, axis=1) == [0, 1, 2]).all()


def test_variable_shapes_vary():
  sampler = episodes.EpisodeSampler(_labels([40] * 12), n_way=10, k_shot=10, q_query=5,
                                    variable=episodes.VariableShape(min_way=3))
  batch = sampler.sample(np.random.default_rng(0), 64)
  ways = batch.way_mask.sum(1)
  shots = batch.support_mask.sum(2)[batch.way_mask]
  assert ways.min() >= 3 and ways.max() <= 10 and len(set(ways)) > 3
  assert shots.min() >= 1 and shots.max() <= 10 and len(set(shots)) > 3


@settings(max_examples=40, deadline=None)
@given(sizes=pools, k=st.integers(1, 6), seed=st.integers(0, 2**31))
def test_fs_full_takes_k_of_every_class(sizes, k, seed):
  labels = _labels(sizes)
  if not labels:
    return
  index, mask, names = episodes.sample_fs_full(labels, k_shot=k, rng=np.random.default_rng(seed))
  assert index.shape == mask.shape == (len(names), k)
  assert names == tuple(sorted(set(labels)))
  for c, name in enumerate(names):
    rows = index[c][mask[c]]
    assert len(rows) == min(k, labels.count(name))
    assert len(set(rows)) == len(rows) and all(labels[r] == name for r in rows)
  assert (index[~mask] == -1).all()


def test_split_intents_is_a_fixed_partition():
  intents = [f"i{n}" for n in range(23)]
  a = episodes.split_intents(intents, seed=3)
  assert a == episodes.split_intents(intents, seed=3)
  parts = [set(a.train), set(a.validation), set(a.test)]
  assert set().union(*parts) == set(intents) and sum(map(len, parts)) == 23
  assert a != episodes.split_intents(intents, seed=4)


def test_split_intents_by_domain_keeps_domains_whole():
  domain_of = {f"d{d}_i{i}": f"d{d}" for d in range(10) for i in range(15)}
  split = episodes.split_intents_by_domain(domain_of, seed=0)
  domains = [{domain_of[i] for i in part} for part in (split.train, split.validation, split.test)]
  assert [len(d) for d in domains] == [6, 2, 2]
  assert not (domains[0] & domains[1] or domains[0] & domains[2] or domains[1] & domains[2])
  assert len(split.train) == 90 and len(split.test) == 30


def test_gather_zeroes_padding():
  values = np.arange(12, dtype=np.float32).reshape(6, 2) + 1
  index = np.array([[0, 5, -1]])
  out = episodes.gather(values, index)
  assert out.shape == (1, 3, 2)
  np.testing.assert_array_equal(out[0, :2], values[[0, 5]])
  assert (out[0, 2] == 0).all()


@pytest.mark.parametrize("kwargs, message", [
    (dict(n_way=2, k_shot=0, q_query=1), "k_shot must be a whole number >= 1, got 0"),
    (dict(n_way=2, k_shot=1, q_query=0), "q_query must be a whole number >= 1, got 0"),
    (dict(n_way=0, k_shot=1, q_query=1), "n_way must be a whole number >= 1 or 'all', got 0"),
    (dict(n_way=2.5, k_shot=1, q_query=1), "n_way must be a whole number"),
    (dict(n_way=2, k_shot=True, q_query=1), "k_shot must be a whole number"),
    (dict(n_way=4, k_shot=1, q_query=1), "4-way episodes need that many eligible classes; 3 have"),
    (dict(n_way=2, k_shot=1, q_query=1, variable=episodes.VariableShape(min_way=0)),
     "min_way >= 1"),
])
def test_episode_arguments_that_cannot_make_an_episode_are_named(kwargs, message):
  # Issue 19: k_shot=0 was accepted.
  with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
    episodes.EpisodeSampler(_labels([3, 3, 3]), **kwargs)


def test_episode_counts_and_fs_full_shots_are_checked():
  sampler = episodes.EpisodeSampler(_labels([3, 3]), n_way=2, k_shot=1, q_query=1)
  with pytest.raises(ValueError, match="episodes must be a whole number >= 1, got 0"):
    sampler.sample(np.random.default_rng(0), 0)
  with pytest.raises(ValueError, match="k_shot must be a whole number >= 1, got 0"):
    episodes.sample_fs_full(_labels([3]), k_shot=0, rng=np.random.default_rng(0))
