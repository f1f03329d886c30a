"""The committee against scikit-learn's SGDClassifier (same loss, same objective), and its pool scoring."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import linear_model as sklearn_linear  # the oracle; the test extra installs it

from fsnlu_jax import kernels
from fsnlu_jax.active import CommitteeConfig, HashedRows, committee_scores, train_committee
from fsnlu_jax.active.committee import objective

ALPHA = 0.05


@pytest.fixture(scope="module")
def problem():
  """48 rows of 6-of-16 binary features, a noisy linear target; the committee fitted once."""
  rng = np.random.default_rng(0)
  n, buckets, width = 48, 16, 6
  ids = np.stack([rng.choice(buckets, width, replace=False) for _ in range(n)]).astype(np.int32)
  mask = rng.random((n, width)) < 0.8
  dense = np.zeros((n, buckets))
  for i in range(n):
    dense[i, ids[i][mask[i]]] = 1.0
  positive = dense @ rng.normal(size=buckets) + 0.3 * rng.normal(size=n) > 0.5
  rows = HashedRows(ids, mask, buckets)
  committee = train_committee(rows, positive,
                              CommitteeConfig(alpha=ALPHA, steps=1000, balanced=False))
  return rows, dense, positive, committee


@pytest.mark.parametrize("member", range(4))
def test_each_member_minimises_sgdclassifiers_objective_for_its_loss(problem, member):
  rows, dense, positive, committee = problem
  loss = committee.losses[member]
  peer = sklearn_linear.SGDClassifier(loss=loss, alpha=ALPHA, max_iter=3000, tol=None,
                                      learning_rate="invscaling", eta0=0.05, average=True,
                                      random_state=0).fit(dense, positive)
  targets = np.where(positive, 1.0, -1.0).astype(np.float32)
  args = (kernels.loss_indices([loss])[0], rows.ids, rows.mask, targets,
          np.ones(len(rows), np.float32), ALPHA)
  ours = float(objective(committee.weights[member], committee.bias[member], *args))
  theirs = float(objective(np.asarray(peer.coef_[0], np.float32),
                           np.float32(peer.intercept_[0]), *args))
  # The same objective, at least as well minimised (SGD stops near the optimum, Adam at it) ...
  assert ours <= theirs + 1e-4
  assert ours == pytest.approx(theirs, rel=0.03)
  # ... and the same classifier: the scores agree in sign and closely in value.
  mine = committee_scores(committee, rows)[:, member]
  reference = peer.decision_function(dense)
  assert np.mean(np.sign(mine) == np.sign(reference)) >= 0.9
  assert np.corrcoef(mine, reference)[0, 1] > 0.97


def test_scoring_in_chunks_equals_one_dense_product(problem):
  rows, dense, _, committee = problem
  expected = dense @ np.asarray(committee.weights).T + np.asarray(committee.bias)
  np.testing.assert_allclose(committee_scores(committee, rows, chunk=10), expected,
                             rtol=1e-4, atol=1e-4)
  ids, row_of = rows.packed(int(rows.mask.sum()) + 3)  # the layout the chunks are scored in
  assert np.array_equal(ids[:-3], rows.ids[rows.mask]) and (row_of[-3:] == len(rows)).all()
  assert (np.diff(row_of) >= 0).all() and np.bincount(row_of[:-3], minlength=len(rows)).tolist() \
      == rows.mask.sum(1).tolist()
  with pytest.raises(ValueError, match="capacity"):
    rows.packed(int(rows.mask.sum()) - 1)


@pytest.mark.parametrize("loss", ["log_loss", "hinge"])
def test_balanced_member_minimises_sgdclassifiers_class_weighted_objective(problem, loss):
  rows, dense, _, _ = problem
  # A rare positive class (about 1 in 5), as a new domain's few utterances among many others.
  rng = np.random.default_rng(1)
  positive = dense @ rng.normal(size=dense.shape[1]) > 1.2
  assert 4 <= positive.sum() <= len(positive) // 3
  config = CommitteeConfig(losses=(loss,), alpha=ALPHA, steps=1000, balanced=True)
  committee = train_committee(rows, positive, config)
  peer = sklearn_linear.SGDClassifier(loss=loss, alpha=ALPHA, max_iter=3000, tol=None,
                                      learning_rate="invscaling", eta0=0.05, average=True,
                                      class_weight="balanced", random_state=0).fit(dense, positive)
  # scikit-learn's "balanced": n / (2 * count of the row's class), summing to n.
  weight = np.where(positive, len(positive) / (2 * positive.sum()),
                    len(positive) / (2 * (~positive).sum())).astype(np.float32)
  targets = np.where(positive, 1.0, -1.0).astype(np.float32)
  args = (kernels.loss_indices([loss])[0], rows.ids, rows.mask, targets, weight, ALPHA)
  ours = float(objective(committee.weights[0], committee.bias[0], *args))
  theirs = float(objective(np.asarray(peer.coef_[0], np.float32),
                           np.float32(peer.intercept_[0]), *args))
  # Weighted rows make SGD's steps noisier: it stops a little further from the optimum.
  assert ours <= theirs + 1e-4
  assert ours == pytest.approx(theirs, rel=0.05)
  # Weighting moves the boundary towards the rare class: more rows scored positive.
  plain = train_committee(rows, positive,
                          CommitteeConfig(losses=(loss,), alpha=ALPHA, steps=1000, balanced=False))
  assert (committee_scores(committee, rows) > 0).sum() > (committee_scores(plain, rows) > 0).sum()
