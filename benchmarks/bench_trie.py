"""The trie as arrays: build time and bytes (1k -> 1M utterances), and mask + advance per decode step.

Synthetic utterances: lengths uniform in [3, 12], tokens Zipfian (``p ~ 1/rank``)
over a 30k vocabulary (ids 4.., after the special tokens), given to the builder
as Python lists of ints, as a tokeniser would hand them over.

* ``build``: wall time of :func:`fsnlu_jax.decoding.build_trie` (best of
  ``--repeats``), the bytes of the arrays it returns, and the peak of memory
  allocated during one build (``tracemalloc``, which NumPy reports to; the
  input lists are excluded);
* ``fanout``: dense rows and bytes against ``dense_fanout`` F on the largest trie;
* ``step``: one decode step's constraint work on the largest trie, jitted:
  ``allowed_tokens`` (mask ``[B, W, V]``) plus ``advance`` for ``B x W`` beams
  whose states are prefixes of stored utterances at random depths (the root
  included, the widest dense row); compile (first call) apart. Side by side, in
  the same rounds: the GENRE pattern (a nested-dict trie walked from the root
  along each beam's prefix, its children written into a NumPy mask), which is
  what ``transformers``' ``prefix_allowed_tokens_fn`` runs per step; it needs a
  dict trie, built here for ``--peer-utterances`` utterances only (a 1M-utterance
  dict trie takes GBs of Python objects). Ratio: median over rounds of
  ``dict_trie_s / fsnlu_jax_s`` (above 1: fsnlu_jax faster). Where PyTorch is
  installed, also ``torch_tensor_trie``: the vectorised PyTorch constraint
  (``_torch_trie.TorchTrie`` over the same largest trie: mask by one scatter,
  advance by ``searchsorted``, all beams at once) on ``cuda`` when available
  (``--torch-device`` overrides); its states come from walking the same prefixes.
  JAX runs on its default backend.

Usage::

  nice -n 19 python benchmarks/bench_trie.py           # writes results/trie_build.json
  python benchmarks/bench_trie.py --quick --out ''     # a smoke run, nothing written
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import sys
import time
import tracemalloc

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import _harness  # pylint: disable=g-import-not-at-top,wrong-import-position
import _torch_trie  # pylint: disable=g-import-not-at-top,wrong-import-position

CPUS = _harness.pin_cpus(_harness.cpus_from_argv(sys.argv))

# pylint: disable=g-import-not-at-top,wrong-import-position
import jax
import jax.numpy as jnp
import numpy as np

from fsnlu_jax.decoding import build_trie
from fsnlu_jax.decoding import DEFAULT_DENSE_FANOUT
from fsnlu_jax.kernels import advance, allowed_tokens
# pylint: enable=g-import-not-at-top,wrong-import-position

VOCAB, EOS, FIRST_TOKEN = 30_000, 3, 4


def synthetic(rng: np.random.Generator, num: int) -> list[list[int]]:
  """``num`` utterances, lengths U[3, 12], Zipfian token ids in [4, V)."""
  lengths = rng.integers(3, 13, size=num)
  p = 1.0 / np.arange(1, VOCAB - FIRST_TOKEN + 1)
  tokens = FIRST_TOKEN + rng.choice(VOCAB - FIRST_TOKEN, size=int(lengths.sum()), p=p / p.sum())
  return [a.tolist() for a in np.split(tokens, np.cumsum(lengths)[:-1])]


def measure_build(sequences, repeats: int, dense_fanout: int = DEFAULT_DENSE_FANOUT):
  times = []
  for _ in range(repeats):
    t0 = time.perf_counter()
    trie = build_trie(sequences, vocab_size=VOCAB, eos_id=EOS, dense_fanout=dense_fanout)
    times.append(time.perf_counter() - t0)
  tracemalloc.start()
  build_trie(sequences, vocab_size=VOCAB, eos_id=EOS, dense_fanout=dense_fanout)
  _, peak = tracemalloc.get_traced_memory()
  tracemalloc.stop()
  return trie, {
      "utterances": len(sequences), "tokens": int(sum(map(len, sequences))),
      "states": trie.num_states, "edges": trie.num_edges, "dense_rows": trie.dense_bits.shape[0] - 1,
      "dense_fanout": dense_fanout, "build_s_best": min(times), "build_s_all": times,
      "array_bytes": trie.nbytes, "array_mib": trie.nbytes / 2**20,
      "array_bytes_by_field": {k: int(np.asarray(v).nbytes) for k, v in trie._asdict().items()},
      "build_peak_alloc_mib": peak / 2**20}


def beam_prefixes(rng, sequences, batch: int, beams: int) -> list[list[int]]:
  """``B*W`` prefixes of stored utterances at depths U[0, len], the first one empty (root)."""
  picks = rng.integers(0, len(sequences), size=batch * beams)
  out = [sequences[i][:rng.integers(0, len(sequences[i]) + 1)] for i in picks]
  out[0] = []
  return out


def states_of(trie, prefixes) -> np.ndarray:
  """Trie states of the prefixes, by advancing from the root on the host."""
  walk = jax.jit(advance)
  depth = max(map(len, prefixes))
  tokens = np.array([p + [0] * (depth - len(p)) for p in prefixes], np.int32)
  states = jnp.full(len(prefixes), trie.roots[0], jnp.int32)
  for d in range(depth):
    moved = walk(trie, states, jnp.asarray(tokens[:, d]))
    states = jnp.where(jnp.asarray([len(p) > d for p in prefixes]), moved, states)
  assert (np.asarray(states) >= 0).all()
  return np.asarray(states)


def dict_trie(sequences) -> dict:
  root = {}
  for seq in sequences:
    node = root
    for token in seq + [EOS]:
      node = node.setdefault(token, {})
  return root


def genre_step(root: dict, prefixes, batch: int, beams: int) -> np.ndarray:
  """The GENRE ``prefix_allowed_tokens_fn`` step: walk each prefix, mark its children."""
  mask = np.zeros((batch * beams, VOCAB), bool)
  for i, prefix in enumerate(prefixes):
    node = root
    for token in prefix:
      node = node[token]
    mask[i, list(node)] = True
  return mask.reshape(batch, beams, VOCAB)


def torch_peer(sequences, device_name):
  """``(torch, TorchTrie)`` over ``sequences`` on the peer's device; None without PyTorch."""
  try:
    import torch  # pylint: disable=g-import-not-at-top
  except ModuleNotFoundError:
    return None
  device = _harness.torch_device(torch, device_name)
  return torch, _torch_trie.TorchTrie(torch, sequences, vocab_size=VOCAB, eos_id=EOS,
                                      device=device)


def measure_steps(trie, sequences, peer_root, peer_sequences, args, rng, tensor_peer=None):
  step = jax.jit(lambda t, s, k: (allowed_tokens(t, s, VOCAB), advance(t, s, k)))
  cases = []
  for batch in args.batches:
    for beams in args.beams:
      prefixes = beam_prefixes(rng, sequences, batch, beams)
      states = jnp.asarray(states_of(trie, prefixes).reshape(batch, beams))
      tokens = jnp.asarray(rng.integers(FIRST_TOKEN, VOCAB, size=(batch, beams)), jnp.int32)
      contenders = {"fsnlu_jax": lambda s=states, k=tokens: step(trie, s, k)}
      if tensor_peer is not None:
        torch, tt = tensor_peer
        walked = torch.stack([tt.walk(torch.tensor([p], dtype=torch.int64, device=tt.device))[0]
                              for p in prefixes])
        assert bool((walked >= 0).all())
        t_tokens = torch.from_numpy(np.asarray(tokens).reshape(-1).astype(np.int64)).to(tt.device)
        contenders["torch_tensor_trie"] = (
            lambda s=walked, k=t_tokens, tt=tt: (tt.allowed(s), tt.advance(s, k)))
      if peer_root is not None:
        peer_prefixes = beam_prefixes(rng, peer_sequences, batch, beams)
        contenders["genre_dict_trie"] = lambda p=peer_prefixes: genre_step(peer_root, p, batch, beams)
      result = _harness.compare(contenders, rounds=args.rounds, inner=args.inner,
                                warmup=args.warmup, baseline="genre_dict_trie"
                                if peer_root is not None else "fsnlu_jax")
      samples = result.pop("samples_s")
      if "torch_tensor_trie" in samples:
        result["fsnlu_jax_speedup_vs_torch_tensor_trie"] = statistics.median(
            t / f for t, f in zip(samples["torch_tensor_trie"], samples["fsnlu_jax"]))
      cases.append({"batch": batch, "beams": beams, **result,
                    "fsnlu_jax_us_per_beam": 1e6 * result["median_s"]["fsnlu_jax"] / (batch * beams)})
      print(f"B={batch} W={beams}: {_harness.summary(result)}", flush=True)
  return cases


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--sizes", default="1000,10000,100000,1000000")
  parser.add_argument("--batches", default="8,16,32,64")
  parser.add_argument("--beams", default="4,8")
  parser.add_argument("--fanouts", default="8,16,32,64,128")
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--rounds", type=int, default=9)
  parser.add_argument("--inner", type=int, default=5)
  parser.add_argument("--warmup", type=int, default=2)
  parser.add_argument("--peer-utterances", type=int, default=100_000)
  parser.add_argument("--cpus", type=int, default=None)
  _harness.add_device_args(parser)
  parser.add_argument("--no-torch", action="store_true",
                      help="leave out the vectorised PyTorch trie even where PyTorch is installed")
  parser.add_argument("--quick", action="store_true", help="10k utterances, one step case")
  parser.add_argument("--out", default="trie_build.json", help="file in results/; '' for none")
  args = parser.parse_args()
  if args.quick:
    args.sizes, args.batches, args.beams, args.fanouts = "10000", "8", "4", "32"
    args.repeats, args.rounds, args.peer_utterances = 1, 3, 10_000
  sizes = [int(x) for x in args.sizes.split(",")]
  args.batches = [int(x) for x in args.batches.split(",")]
  args.beams = [int(x) for x in args.beams.split(",")]
  rng = np.random.default_rng(0)

  sequences = synthetic(rng, max(sizes))
  builds = []
  for size in sizes:
    trie, stats = measure_build(sequences[:size], args.repeats)
    builds.append(stats)
    print(f"build {size}: {stats['build_s_best']:.2f}s, {stats['states']} states, "
          f"{stats['array_mib']:.1f} MiB arrays, peak {stats['build_peak_alloc_mib']:.0f} MiB",
          flush=True)
  fanouts = []
  for fanout in [int(x) for x in args.fanouts.split(",")]:
    t = build_trie(sequences[:max(sizes)], vocab_size=VOCAB, eos_id=EOS, dense_fanout=fanout)
    fanouts.append({"dense_fanout": fanout, "dense_rows": t.dense_bits.shape[0] - 1,
                    "array_mib": t.nbytes / 2**20})
    print(f"F={fanout}: {fanouts[-1]}", flush=True)
  device_trie = jax.device_put(trie)
  peer_sequences = sequences[:args.peer_utterances]
  peer_root = dict_trie(peer_sequences) if args.peer_utterances else None
  tensor_peer = None if args.no_torch else torch_peer(sequences[:max(sizes)], args.torch_device)
  steps = measure_steps(device_trie, sequences[:max(sizes)], peer_root, peer_sequences, args, rng,
                        tensor_peer)
  if args.out:
    path = _harness.write_result(args.out, {
        "benchmark": "trie", "vocab": VOCAB, "lengths": [3, 12], "token_distribution": "zipf 1/rank",
        "cpus": CPUS, "build": builds, "fanout_sweep": fanouts,
        "jax_backend": jax.default_backend(),
        "torch_device": None if tensor_peer is None else str(tensor_peer[1].device),
        "step": {"trie_utterances": max(sizes), "peer_utterances": args.peer_utterances,
                 "torch_tensor_trie_utterances": None if tensor_peer is None else max(sizes),
                 "ratio_definition": "median over rounds of genre_dict_trie_s / fsnlu_jax_s "
                                     "(>1: fsnlu_jax faster)", "cases": steps}})
    print(f"wrote {path}")


if __name__ == "__main__":
  main()
