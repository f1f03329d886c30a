"""Committee scoring and filtering of large pools: ours against modAL and scikit-activeml.

The committee: four ``SGDClassifier`` members (hinge, squared error, logistic,
modified Huber) fitted with scikit-learn on hashed word 1-3-gram features of
HWU64 (alarm vs the rest); their weights are copied into our
:class:`fsnlu_jax.active.Committee`, so all contenders hold the same members.
The pool: ``P`` utterances drawn with replacement from HWU64's, as the same
hashed features (ours: ``[P, F]`` ids + mask; the peers: a CSR matrix, the
fastest input scikit-learn takes; nobody builds a dense ``[P, H]`` matrix).

The unit of work, one query of query-by-committee with vote entropy, top ``k``:

* ours: :func:`fsnlu_jax.kernels.packed_hashed_scores` (gather of the real
  features, sorted segment sum; the pool packed once, as the peers' CSR), votes,
  :func:`~fsnlu_jax.kernels.vote_entropy`, ``lax.top_k``; plus the
  majority-positive filter and ``|sum|`` of Majority-|Sigma| (extra work);
  one jitted call over the pool in fixed chunks;
* modAL: ``Committee`` of ``ActiveLearner``\\ s, ``vote_entropy_sampling``;
* scikit-activeml ``QueryByCommittee`` is not run, and the result says why:
  it validates ``X`` with scikit-learn's ``check_array`` without sparse
  support ("Sparse data was passed, but dense data is required"), so it needs
  the dense ``[P, H]`` pool (``P * 2^18 * 8`` bytes: 21 GB at 10k), and its
  ensemble must be ``SkactivemlClassifier`` wrappers fitted by itself (on the
  same dense ``X``), so the fitted members cannot be handed over.

Before timing, the scores (ours vs each member's ``decision_function``) and the
vote entropies (ours vs modAL's ``vote_entropy``) are asserted equal. Timing: :func:`_harness.compare` (first call apart,
alternating rounds, median ratios). Run::

  nice -n 10 python benchmarks/bench_active.py --sizes 10000 100000 1000000 --cpus 1
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import _harness  # pylint: disable=wrong-import-position

CPUS = _harness.pin_cpus(_harness.cpus_from_argv(sys.argv))  # before JAX starts its threads

LOSSES = ("hinge", "squared_error", "log_loss", "modified_huber")
BUCKETS = 1 << 18


def _csr(rows):
  import numpy as np  # pylint: disable=import-outside-toplevel
  import scipy.sparse  # pylint: disable=import-outside-toplevel
  counts = rows.mask.sum(1)
  indptr = np.concatenate([[0], np.cumsum(counts)])
  return scipy.sparse.csr_matrix((np.ones(indptr[-1]), rows.ids[rows.mask], indptr),
                                 shape=(len(rows), rows.num_buckets))


def _committee_and_rows():
  """HWU64's hashed rows and the four fitted members, as sklearn members, ours and modAL's."""
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel
  import numpy as np  # pylint: disable=import-outside-toplevel
  import sklearn.linear_model  # pylint: disable=import-outside-toplevel
  from modAL.models import ActiveLearner, Committee  # pylint: disable=import-outside-toplevel

  from fsnlu_jax import active, data  # pylint: disable=import-outside-toplevel
  utterances = data.load("hwu64/crossval", progress=False)
  examples = [e for split in utterances.values() for e in split]
  rows = active.hash_ngrams([e.tokens for e in examples], num_buckets=BUCKETS)
  positive = np.array([e.domain == "alarm" for e in examples])
  x_train = _csr(rows)
  # invscaling: the default "optimal" rate diverges for the squared loss on these features.
  members = [sklearn.linear_model.SGDClassifier(loss=loss, alpha=1e-4, learning_rate="invscaling",
                                                eta0=0.01, random_state=0)
             .fit(x_train, positive) for loss in LOSSES]
  committee = active.Committee(jnp.asarray(np.stack([m.coef_[0] for m in members]), jnp.float32),
                               jnp.asarray([m.intercept_[0] for m in members], jnp.float32), LOSSES)
  # ActiveLearner refits only when given data; it keeps the fitted member.
  modal = Committee([ActiveLearner(estimator=m) for m in members])
  return rows, members, committee, modal


def _contenders(rows, members, committee, modal, size: int, args, *, check: bool):
  """One query on a pool of ``size`` rows, ours and modAL's; scores asserted equal if ``check``.

  Returns the contenders and the bytes of each one's pool input (ours: the
  packed features; modAL: the CSR matrix).
  """
  import functools  # pylint: disable=import-outside-toplevel

  import jax  # pylint: disable=import-outside-toplevel
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel
  import numpy as np  # pylint: disable=import-outside-toplevel
  from modAL.disagreement import vote_entropy, vote_entropy_sampling  # pylint: disable=import-outside-toplevel

  from fsnlu_jax import kernels  # pylint: disable=import-outside-toplevel

  @functools.partial(jax.jit, static_argnames=("k", "num_rows"))
  def ours_chunk(weights, bias, ids, rows, *, k, num_rows):
    scores = kernels.packed_hashed_scores(weights, bias, ids, rows, num_rows)  # --> [P, M]
    entropy = kernels.vote_entropy((scores > 0).astype(jnp.int32), 2)
    keep = kernels.majority_positive(scores)
    sigma = kernels.summed_score_magnitude(scores)
    top, where = jax.lax.top_k(entropy, k)
    return scores, entropy, keep, sigma, top, where

  rng = np.random.default_rng(size)
  pool = rows.take(rng.integers(0, len(rows), size))
  x_pool = _csr(pool)
  # Equal chunks of at most --chunk rows (a multiple of 1024): little padding in the last.
  chunks = -(-size // args.chunk)
  chunk = -(-size // chunks // 1024) * 1024
  pad = -size % chunk
  # The pool's features packed once, as the peers get their CSR matrix once: per chunk of
  # rows, the real features and their rows, padded to one capacity (one compile).
  parts = [pool.take(np.arange(b, min(b + chunk, size))) for b in range(0, size + pad, chunk)]
  capacity = max(int(p.mask.sum()) for p in parts)
  packed = [jax.device_put(p.packed(capacity)) for p in parts]

  def ours(full=False):
    outs = [ours_chunk(committee.weights, committee.bias, ids, rows, k=args.k, num_rows=chunk)
            for ids, rows in packed]
    entropy = jnp.concatenate([o[1] for o in outs])[:size]
    best = jax.lax.top_k(entropy, args.k)[1]
    if full:
      return np.concatenate([np.asarray(o[0]) for o in outs])[:size], np.asarray(entropy)
    return best

  if check:
    scores, entropy = ours(full=True)
    reference = np.stack([m.decision_function(x_pool) for m in members], axis=1)
    np.testing.assert_allclose(scores, reference, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(entropy, vote_entropy(modal, x_pool), rtol=1e-5, atol=1e-6)
  contenders = {
      "ours": ours,
      "modal": lambda: vote_entropy_sampling(modal, x_pool, n_instances=args.k),
  }
  inputs = {"ours": sum(a.nbytes for p in packed for a in p),
            "modal": x_pool.data.nbytes + x_pool.indices.nbytes + x_pool.indptr.nbytes}
  return contenders, inputs


def _peak_memory(size: int, args) -> dict:
  """Each contender's peak extra memory for one query, measured in a fresh child process.

  The child runs with a fixed malloc threshold (``_harness.FIXED_MALLOC_ENV``),
  builds the pool, warms every contender up, then measures one call each.
  """
  import os  # pylint: disable=import-outside-toplevel
  import subprocess  # pylint: disable=import-outside-toplevel
  command = [sys.executable, __file__, "--memory-child", str(size), "--k", str(args.k),
             "--chunk", str(args.chunk)]
  if CPUS and args.cpus:
    command += ["--cpus", str(args.cpus)]
  out = subprocess.run(command, env={**os.environ, **_harness.FIXED_MALLOC_ENV}, check=True,
                       capture_output=True, text=True).stdout
  return json.loads(out.strip().splitlines()[-1])


def _memory_child(size: int, args) -> int:
  contenders, inputs = _contenders(*_committee_and_rows(), size, args, check=False)
  for call in contenders.values():
    _harness.block(call())
  peaks = {name: _harness.peak_memory_bytes(call) for name, call in contenders.items()}
  print(json.dumps({"peak_extra_bytes": peaks, "input_bytes": inputs}))
  return 0


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
  parser.add_argument("--k", type=int, default=50)
  parser.add_argument("--rounds", type=int, default=5)
  parser.add_argument("--chunk", type=int, default=65536)
  parser.add_argument("--out", default="active_speed.json")
  parser.add_argument("--cpus", type=int, default=None,
                      help="pin to the N most idle CPUs (1: one core for every contender)")
  parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory children")
  parser.add_argument("--memory-child", type=int, default=None, help=argparse.SUPPRESS)
  args = parser.parse_args(argv)
  try:
    import modAL  # pylint: disable=import-outside-toplevel,unused-import
    import sklearn  # pylint: disable=import-outside-toplevel,unused-import
  except ModuleNotFoundError as error:
    _harness.peer_missing(error)
  if args.memory_child is not None:
    return _memory_child(args.memory_child, args)

  setup = _committee_and_rows()
  results = {}
  skipped = {"skactiveml": "QueryByCommittee needs a dense [P, 2^18] X (check_array rejects "
                           "sparse input) and SkactivemlClassifier members it fits itself"}
  for size in args.sizes:
    contenders, inputs = _contenders(*setup, size, args, check=True)
    result = _harness.compare(contenders, rounds=args.rounds, baseline="ours", warmup=1)
    ratios = {name: 1.0 / r for name, r in result["ratio_vs_ours"].items()}
    results[str(size)] = {**result, "ours_speedup_vs": ratios, "input_bytes": inputs}
    del contenders
    if not args.no_memory:
      results[str(size)]["memory"] = _peak_memory(size, args)
    memory = results[str(size)].get("memory", {}).get("peak_extra_bytes", {})
    print(size, {n: f"{1e3 * s:.1f}ms" for n, s in result["median_s"].items()},
          {n: f"{r:.1f}x" for n, r in ratios.items()},
          {n: f"peak +{b / 2**20:.0f} MiB" for n, b in memory.items() if b is not None},
          flush=True)
  path = _harness.write_result(args.out, {"config": vars(args), "cpus": CPUS, "results": results,
                                                    "skipped": skipped})
  print(f"wrote {path}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
