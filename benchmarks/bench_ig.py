"""Integrated gradients: fsnlu_jax against Captum on the multitask bi-LSTM's intent output.

The same function on both sides: :class:`fsnlu_jax.models.MultitaskBiLSTM`
(embeddings -> shared bi-LSTM -> intent bi-LSTM, ``"final"`` pooling ->
intent logits) and a PyTorch port of its intent path with the same weights
(``nn.Embedding(padding_idx=0)``, two ``nn.LSTM(bidirectional=True)`` on
packed sequences, so padded rows are exact as in our masked scan, and
``nn.Linear``). The slot bi-LSTM is not in the port: it does not reach the
intent logit, and XLA drops it from our graph too. Attributions are taken in
embedding space from a zero baseline (the ``<pad>`` vector), for each
example's predicted intent logit, with the same quadrature (``--method``,
``--steps``) on both sides:

* ``jax``: :func:`fsnlu_jax.explain.token_attributions` (per-token scores and
  the completeness gap) as a user runs a batch of mixed lengths: sorted into
  length groups of ``--groups`` rows, each padded only to its longest row,
  ``chunk_size=--group-chunk`` steps per pass (8 x 20 = 160 rows; equal
  lengths merge into larger passes); the bi-LSTM's input projection is
  applied once per example, not per step (``prefix`` of the IG kernel);
* ``jax_one_group``: the same, but the whole batch in one group padded to
  ``L``, ``chunk_size=--chunk`` (64 x 5 rows per pass);
* ``captum_lig_rows<R>``: ``LayerIntegratedGradients(model, model.embedding)``
  on token ids with baseline ids 0, ``internal_batch_size=R`` for each R of
  ``--captum-rows`` (default ``B * chunk``, the same interpolated rows per
  pass as ours, and twice that); ``captum_ig_rows<R>``: ``IntegratedGradients``
  on a forward from embeddings at the first R. All with
  ``return_convergence_delta=True`` (the gap: the same work as ours) and the
  attributions summed over the embedding width inside the timed call.

Cases (``--lengths``): ``20`` draws lengths U[4, 20] per row (padding: our
scan runs all 20 steps, packed PyTorch only the real tokens); ``=12`` makes
every row 12 tokens long (no padding on either side, like batches cut from a
pool sorted by length).

Measured, in one process, alternating after warm-up (``_harness.compare``):
examples/s and the median over rounds of ``captum_s / jax_s`` (>1: ours
faster); our first call (compile) apart. Agreement: the full ``[B, L, E]``
attributions of both in float64 (a subprocess with ``JAX_ENABLE_X64``, torch
in double), asserted within ``--tol``; the float32 difference is reported.
Peak memory as steps grow: one fresh subprocess per (library, steps) runs one
warmed-up call and reads the peak resident set (``VmHWM``, reset through
``/proc/self/clear_refs`` just before the call); for ours also XLA's
``memory_analysis().temp_size_in_bytes``, chunked and (compiled only)
unchunked.

Device: JAX runs on its default backend; the PyTorch port and Captum on
``cuda`` when available (``--torch-device`` overrides; ids and targets moved
there before timing, the packing lengths stay on the CPU as PyTorch requires);
attributions stay on the device on both sides, as on the CPU. The peak-memory
sweep reads the host's resident set: skip it on an accelerator
(``--skip-memory``). float32 only (completeness is checked in float64).

Usage::

  nice -n 19 python benchmarks/bench_ig.py --cpus 1      # writes results/ig_speed.json
  python benchmarks/bench_ig.py --quick --out ''         # a smoke run, nothing written
"""

from __future__ import annotations

import argparse
import copy
import functools
import json
import os
import pathlib
import re
import subprocess
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import _harness  # pylint: disable=g-import-not-at-top,wrong-import-position
import _torch_lstm  # pylint: disable=g-import-not-at-top,wrong-import-position

# Before JAX and PyTorch start their thread pools.
CPUS = _harness.pin_cpus(_harness.cpus_from_argv(sys.argv))
if "--x64" in sys.argv:  # the float64 agreement subprocess
  os.environ["JAX_ENABLE_X64"] = "1"

# pylint: disable=g-import-not-at-top,wrong-import-position
import jax
import jax.numpy as jnp
import numpy as np
try:  # the peer
  import torch
  from captum.attr import IntegratedGradients, LayerIntegratedGradients
except ModuleNotFoundError as error:
  _harness.peer_missing(error)
from flax import nnx

from fsnlu_jax.data.arrays import pad_batch
from fsnlu_jax.explain import intent_target, token_attributions
from fsnlu_jax.kernels import integrated_gradients
from fsnlu_jax.models import MultitaskBiLSTM, MultitaskConfig
# pylint: enable=g-import-not-at-top,wrong-import-position

MIN_LENGTH = 4
# Where the PyTorch side runs (``--torch-device``; set by :func:`parse`).
TORCH_DEVICE = torch.device("cpu")


def build_model(args, dtype=jnp.float32) -> MultitaskBiLSTM:
  cfg = MultitaskConfig(vocab_size=args.vocab, n_intents=args.intents, n_tags=5,
                        embed_dim=args.embed, shared_hidden=args.hidden,
                        task_hidden=args.task_hidden, slot_decoder="softmax")
  model = MultitaskBiLSTM(cfg, rngs=nnx.Rngs(0))
  if dtype != jnp.float32:
    graphdef, state = nnx.split(model)
    model = nnx.merge(graphdef, jax.tree.map(lambda w: w.astype(dtype), state))
  return model


class TorchIntentBiLSTM(torch.nn.Module):
  """The intent path of :class:`MultitaskBiLSTM` in PyTorch, weights copied:
  bidirectional ``nn.LSTM`` on packed sequences (:meth:`with_reversal`: without
  packing)."""

  def __init__(self, model: MultitaskBiLSTM):
    super().__init__()
    c = model.config
    self.directions = None  # set by with_reversal
    self.packed = True  # False: see without_packing
    self.embedding = torch.nn.Embedding(c.vocab_size, c.embed_dim, padding_idx=0)
    self.shared = torch.nn.LSTM(c.embed_dim, c.shared_hidden, batch_first=True,
                                bidirectional=True)
    self.intent_lstm = torch.nn.LSTM(2 * c.shared_hidden, c.task_hidden, batch_first=True,
                                     bidirectional=True)
    self.intent_out = torch.nn.Linear(2 * c.task_hidden, c.n_intents)
    t = lambda a: torch.from_numpy(np.array(a, np.float32))
    with torch.no_grad():
      self.embedding.weight.copy_(t(model.embedder.embedding[...]))
      for ours, theirs in ((model.shared, self.shared), (model.intent_lstm, self.intent_lstm)):
        for suffix, w in (("", ours.fwd), ("_reverse", ours.bwd)):
          # Same gate order (i, f, g, o); torch's two biases: ours in one, zero in the other.
          getattr(theirs, f"weight_ih_l0{suffix}").copy_(t(w.w_ih[...]).T)
          getattr(theirs, f"weight_hh_l0{suffix}").copy_(t(w.w_hh[...]).T)
          getattr(theirs, f"bias_ih_l0{suffix}").copy_(t(w.b[...]))
          getattr(theirs, f"bias_hh_l0{suffix}").zero_()
      self.intent_out.weight.copy_(t(model.intent_out.kernel[...]).T)
      self.intent_out.bias.copy_(t(model.intent_out.bias[...]))
    self.eval()
    self.to(TORCH_DEVICE)

  def without_packing(self) -> "TorchIntentBiLSTM":
    """A copy that runs the bidirectional ``nn.LSTM`` on the padded batch: exact
    only where every row has the full length (the ``=L`` cases)."""
    other = copy.deepcopy(self)
    other.packed = False
    return other

  def with_reversal(self) -> "TorchIntentBiLSTM":
    """A copy with each direction as its own unidirectional ``nn.LSTM`` (same
    weights, dtype and device) on the padded batch, the backward one on rows
    reversed within their length (``_torch_lstm``): exact like packing,
    without its cost."""
    other = copy.deepcopy(self)
    other.directions = torch.nn.ModuleDict()
    for layer in ("shared", "intent_lstm"):
      bi = getattr(other, layer)
      for suffix, key in (("", "f"), ("_reverse", "b")):
        one = torch.nn.LSTM(bi.input_size, bi.hidden_size, batch_first=True)
        one.to(device=bi.weight_hh_l0.device, dtype=bi.weight_hh_l0.dtype)
        with torch.no_grad():
          for name, w in one.named_parameters():
            w.copy_(getattr(bi, f"{name}{suffix}"))
        other.directions[f"{layer}_{key}"] = one
    return other.eval()

  def from_embeddings(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """``x [B, L, E]``, ``lengths [B]`` (CPU int64) -> intent logits ``[B, C]``."""
    if self.directions is not None:
      d, lengths = self.directions, lengths.to(x.device)
      index = _torch_lstm.within_length_reversal(torch, lengths, x.shape[1])
      shared = _torch_lstm.reversed_bilstm(torch, d["shared_f"], d["shared_b"], x, index)
      rows, last = torch.arange(len(x), device=x.device), lengths - 1
      out_f, _ = d["intent_lstm_f"](shared)  # --> [B, L, H_t]; fwd state at the last token
      out_b, _ = d["intent_lstm_b"](_torch_lstm.gather_time(torch, shared, index))
      return self.intent_out(torch.cat([out_f[rows, last], out_b[rows, last]], dim=-1))
    if not self.packed:
      _, (h, _) = self.intent_lstm(self.shared(x)[0])  # h: [2, B, H_t]
      return self.intent_out(torch.cat([h[0], h[1]], dim=-1))
    packed = torch.nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True,
                                                     enforce_sorted=False)
    shared, _ = self.shared(packed)  # stays packed: the next layer reads it as is
    _, (h, _) = self.intent_lstm(shared)  # h: [2, B, H_t], fwd at last token, bwd at first
    return self.intent_out(torch.cat([h[0], h[1]], dim=-1))

  def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    return self.from_embeddings(self.embedding(ids), lengths)


def make_batches(rng, n, batch, length, vocab, equal=False):
  """``n`` batches ``(ids [B, L] int32, mask [B, L] bool)``, lengths U[4, L] (or all L)."""
  out = []
  for _ in range(n):
    lengths = (np.full(batch, length) if equal
               else rng.integers(MIN_LENGTH, length + 1, size=batch))
    ids, mask = pad_batch([list(rng.integers(2, vocab, size=int(k))) for k in lengths], length)
    out.append((np.asarray(ids, np.int32), np.asarray(mask, bool)))
  return out


def predicted_intents(model, ids, mask) -> np.ndarray:
  return np.asarray(jnp.argmax(model(jnp.asarray(ids), jnp.asarray(mask)).intent_logits, -1))


class Contenders:
  """The three IG implementations, each a callable on one batch."""

  def __init__(self, model, torch_model, args):
    self.model, self.torch_model, self.args = model, torch_model, args
    self.lig = LayerIntegratedGradients(torch_model, torch_model.embedding)
    self.ig = IntegratedGradients(torch_model.from_embeddings)
    reversed_model = torch_model.with_reversal()
    self.lig_reversed = LayerIntegratedGradients(reversed_model, reversed_model.embedding)
    self.ig_reversed = IntegratedGradients(reversed_model.from_embeddings)
    self.reversed_model = reversed_model
    self.unpacked_model = torch_model.without_packing()
    self.ig_unpacked = IntegratedGradients(self.unpacked_model.from_embeddings)

  def jax(self, ids, mask, labels, steps=None):
    """Ours as a user would run a mixed-length batch: ``--groups`` rows per length group."""
    a = self.args
    return token_attributions(self.model, ids, mask, intent_target(labels),
                              steps=steps or a.steps, method=a.method, chunk_size=a.group_chunk,
                              length_groups=a.groups)

  def jax_one_group(self, ids, mask, labels, steps=None):
    """Ours with the whole batch in one pass per chunk, padded to ``L``."""
    a = self.args
    return token_attributions(self.model, ids, mask, intent_target(labels),
                              steps=steps or a.steps, method=a.method, chunk_size=a.chunk)

  def _captum_kwargs(self, labels, steps, rows):
    a = self.args
    return dict(target=labels, n_steps=steps or a.steps, method=a.method,
                internal_batch_size=rows or a.captum_rows[0], return_convergence_delta=True)

  def _lig(self, lig, ids, lengths, labels, steps, rows):
    """``LayerIntegratedGradients`` on token ids: ``(scores [B, L], delta [B], attr [B, L, E])``."""
    attr, delta = lig.attribute(ids, baselines=torch.zeros_like(ids),
                                additional_forward_args=(lengths,),
                                **self._captum_kwargs(labels, steps, rows))
    return attr.sum(-1), delta, attr

  def _ig(self, ig, port, ids, lengths, labels, steps, rows):
    """``IntegratedGradients`` on ``port``'s embeddings of ``ids``: as :meth:`_lig`."""
    with torch.no_grad():
      x = port.embedding(ids)
    attr, delta = ig.attribute(x, baselines=torch.zeros_like(x),
                               additional_forward_args=(lengths,),
                               **self._captum_kwargs(labels, steps, rows))
    return attr.sum(-1), delta, attr

  def captum_lig(self, ids, lengths, labels, steps=None, rows=None):
    return self._lig(self.lig, ids, lengths, labels, steps, rows)

  def captum_ig(self, ids, lengths, labels, steps=None, rows=None):
    return self._ig(self.ig, self.torch_model, ids, lengths, labels, steps, rows)

  def captum_ig_unpacked(self, ids, lengths, labels, steps=None, rows=None):
    """:meth:`captum_ig` on the bidirectional LSTMs without packing (full-length rows only)."""
    return self._ig(self.ig_unpacked, self.unpacked_model, ids, lengths, labels, steps, rows)

  def captum_lig_reversed(self, ids, lengths, labels, steps=None, rows=None):
    """:meth:`captum_lig` on the within-length reversal port (no packing)."""
    return self._lig(self.lig_reversed, ids, lengths, labels, steps, rows)

  def captum_ig_reversed(self, ids, lengths, labels, steps=None, rows=None):
    """:meth:`captum_ig` on the within-length reversal port (no packing)."""
    return self._ig(self.ig_reversed, self.reversed_model, ids, lengths, labels, steps, rows)


def to_torch(ids, mask, labels):
  """Ids and targets on the peer's device; lengths on the CPU (``pack_padded_sequence``)."""
  return (torch.from_numpy(ids.astype(np.int64)).to(TORCH_DEVICE),
          torch.from_numpy(mask.sum(1).astype(np.int64)),
          torch.from_numpy(labels.astype(np.int64)).to(TORCH_DEVICE))


def full_jax_attributions(model, ids, mask, labels, args) -> np.ndarray:
  """Our ``[B, L, E]`` attributions (the kernel on the model, as token_attributions runs it)."""
  x = model.embed(jnp.asarray(ids))

  def f(x_b, mask_b, label):
    return model.from_embeddings(x_b[None], mask_b[None]).intent_logits[0, label]

  res = integrated_gradients(f, x, 0.0, jnp.asarray(mask), jnp.asarray(labels),
                             steps=args.steps, method=args.method, chunk_size=args.chunk)
  return np.asarray(res.attributions)


def agreement(model, torch_model, batch, args) -> dict:
  """Max differences between ours and Captum's attributions on one batch."""
  ids, mask = batch
  labels = predicted_intents(model, ids, mask)
  c = Contenders(model, torch_model, args)
  ours = full_jax_attributions(model, ids, mask, labels, args)
  scores = np.asarray(c.jax(ids, mask, labels).scores)
  out = {"max_abs_attribution": float(np.abs(ours).max())}
  for name in ("captum_lig", "captum_ig", "captum_lig_reversed", "captum_ig_reversed"):
    theirs_scores, _, theirs = getattr(c, name)(*to_torch(ids, mask, labels))
    out[name] = {"max_abs_diff_attributions": float(np.abs(ours - theirs.cpu().numpy()).max()),
                 "max_abs_diff_token_scores":
                     float(np.abs(scores - theirs_scores.cpu().numpy()).max())}
  # The unpacked port is exact only on full-length rows: checked on such a batch.
  ids, mask = make_batches(np.random.default_rng(3), 1, args.batch, args.length, args.vocab,
                           equal=True)[0]
  labels = predicted_intents(model, ids, mask)
  ours = full_jax_attributions(model, ids, mask, labels, args)
  theirs = c.captum_ig_unpacked(*to_torch(ids, mask, labels))[2].cpu().numpy()
  out["captum_ig_unpacked"] = {"max_abs_diff_attributions": float(np.abs(ours - theirs).max()),
                               "full_length_rows": True}
  return out


def run_agreement_f64(args) -> dict:
  """The float64 check (this process was started with ``--x64``)."""
  assert jax.config.jax_enable_x64
  torch.set_default_dtype(torch.float64)
  model = build_model(args, jnp.float64)
  torch_model = TorchIntentBiLSTM(model).double()
  with torch.no_grad():  # the port went through float32: copy the float64 weights exactly
    torch_model.embedding.weight.copy_(torch.from_numpy(np.asarray(model.embedder.embedding[...])))
  batch = make_batches(np.random.default_rng(1), 1, args.batch, args.length, args.vocab)[0]
  return agreement(model, torch_model, batch, args)


def _vm(field: str) -> int:
  """``VmHWM`` / ``VmRSS`` of this process, bytes."""
  status = pathlib.Path("/proc/self/status").read_text()
  return 1024 * int(re.search(rf"{field}:\s+(\d+) kB", status).group(1))


def run_memory_probe(lib: str, steps: int, args) -> dict:
  """One warmed-up call at ``steps``; the peak resident set during it."""
  model = build_model(args)
  ids, mask = make_batches(np.random.default_rng(2), 1, args.batch, args.length, args.vocab)[0]
  labels = predicted_intents(model, ids, mask)
  c = Contenders(model, TorchIntentBiLSTM(model), args)
  out = {"lib": lib, "steps": steps}
  if lib == "jax":
    from fsnlu_jax.explain._attributions import _attribute  # pylint: disable=g-import-not-at-top
    graphdef, state = nnx.split(model)
    compiled = _attribute.lower(graphdef, state, jnp.asarray(ids), jnp.asarray(mask),
                                intent_target(labels), None, steps=steps, method=args.method,
                                chunk_size=args.chunk).compile()
    out["xla_temp_bytes"] = compiled.memory_analysis().temp_size_in_bytes
    # What the chunking saves: the same call with all steps in one pass (compiled, never run).
    whole = _attribute.lower(graphdef, state, jnp.asarray(ids), jnp.asarray(mask),
                             intent_target(labels), None, steps=steps, method=args.method,
                             chunk_size=None).compile()
    out["xla_temp_bytes_unchunked"] = whole.memory_analysis().temp_size_in_bytes
    call = lambda: _harness.block(c.jax(ids, mask, labels, steps))
    call()  # compile (the jit cache) and first-call allocations
  else:
    tids, lengths, tlabels = to_torch(ids, mask, labels)
    call = lambda: getattr(c, lib)(tids, lengths, tlabels, steps)
    call_small = lambda: getattr(c, lib)(tids, lengths, tlabels, args.captum_rows[0] // args.batch)
    call_small()  # allocator and oneDNN warm-up at the same pass size
  before = _vm("VmRSS")
  pathlib.Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
  t0 = time.perf_counter()
  call()
  out.update(seconds=time.perf_counter() - t0, rss_before_bytes=before,
             peak_rss_bytes=_vm("VmHWM"))
  out["peak_increase_bytes"] = out["peak_rss_bytes"] - before
  return out


def _subprocess_json(extra: list[str], args) -> dict:
  cmd = [sys.executable, __file__, *extra, *args.model_argv]
  if args.cpus is not None:
    cmd += ["--cpus", str(args.cpus)]
  if args.torch_device:
    cmd += ["--torch-device", args.torch_device]
  done = subprocess.run(cmd, capture_output=True, text=True, check=False)
  if done.returncode:
    raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
  return json.loads(done.stdout.strip().splitlines()[-1])


def memory_sweep(args) -> dict:
  out = {}
  for lib in ("jax", "captum_lig"):
    out[lib] = []
    for steps in map(int, args.mem_steps.split(",")):
      r = _subprocess_json(["--probe", f"{lib},{steps}"], args)
      print(f"memory {lib} steps={steps}: peak RSS {r['peak_rss_bytes'] / 2**20:.0f} MiB "
            f"(+{r['peak_increase_bytes'] / 2**20:.0f} MiB during the call)"
            + (f", XLA temp {r['xla_temp_bytes'] / 2**20:.1f} MiB (unchunked "
               f"{r['xla_temp_bytes_unchunked'] / 2**20:.0f} MiB)" if lib == "jax" else "")
            + f", {r['seconds']:.1f}s", flush=True)
      out[lib].append(r)
  return out


def speed(args, model, torch_model, case: str) -> dict:
  """One timed case: ``"20"`` lengths U[4, 20], ``"=12"`` every row 12 tokens long."""
  equal, length = case.startswith("="), int(case.lstrip("="))
  batches = make_batches(np.random.default_rng(0), args.n_batches, args.batch, length,
                         args.vocab, equal=equal)
  labelled = [(ids, mask, predicted_intents(model, ids, mask)) for ids, mask in batches]
  c = Contenders(model, torch_model, args)
  # The grouped contender compiles once per group shape of each batch: the
  # first call and the warm-up must have seen every batch before timing.
  assert args.n_batches <= 1 + args.warmup, "--n-batches > 1 + --warmup would time compiles"
  data = {"jax": [jax.device_put(b) for b in labelled], "torch": [to_torch(*b) for b in labelled]}
  turn = {}

  def cycling(name, kind, fn):
    turn[name] = 0

    def run():
      turn[name] = (turn[name] + 1) % args.n_batches
      return fn(*data[kind][turn[name]])
    return run

  contenders = {"jax": cycling("jax", "jax", c.jax),
                "jax_one_group": cycling("jax1", "jax", c.jax_one_group)}
  for rows in args.captum_rows:
    contenders[f"captum_lig_rows{rows}"] = cycling(f"lig{rows}", "torch",
                                                   functools.partial(c.captum_lig, rows=rows))
  contenders[f"captum_ig_rows{args.captum_rows[0]}"] = cycling("ig", "torch", c.captum_ig)
  # The exact unpacked port (two unidirectional LSTMs per layer, reversal by gather).
  contenders[f"captum_lig_reversed_rows{args.captum_rows[0]}"] = cycling(
      "lig_rev", "torch", c.captum_lig_reversed)
  contenders[f"captum_ig_reversed_rows{args.captum_rows[0]}"] = cycling(
      "ig_rev", "torch", c.captum_ig_reversed)
  if equal:  # no padding: the plain bidirectional LSTM is exact as well
    contenders[f"captum_ig_unpacked_rows{args.captum_rows[0]}"] = cycling(
        "ig_unpacked", "torch", c.captum_ig_unpacked)
  res = _harness.compare(contenders, rounds=args.rounds, inner=args.inner, warmup=args.warmup,
                         baseline="jax")
  res["jax_speedup_vs"] = {n: 1.0 / r for n, r in res.pop("ratio_vs_jax").items()}
  res["examples_per_s"] = {n: args.batch / s for n, s in res["median_s"].items()}
  fastest = min((n for n in contenders if n.startswith("captum")), key=res["median_s"].get)
  res.update(case=case, length=length, equal_lengths=equal, batch=args.batch,
             mean_real_tokens_per_row=float(np.mean([m.sum(1).mean() for _, m in batches])),
             fastest_captum=fastest, jax_speedup_vs_fastest_captum=res["jax_speedup_vs"][fastest])
  print(f"case {case}: " + " ".join(f"{n}={v:.1f}" for n, v in res["examples_per_s"].items())
        + " ex/s | jax speed-up: "
        + " ".join(f"vs {n} {v:.2f}x" for n, v in res["jax_speedup_vs"].items())
        + f" | jax first call {res['first_call_s']['jax']:.1f}s", flush=True)
  return res


MODEL_FLAGS = ("vocab", "embed", "hidden", "task_hidden", "intents", "batch", "length", "steps",
               "method", "chunk", "groups", "group_chunk")


def parse(argv):
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--vocab", type=int, default=5000)
  p.add_argument("--embed", type=int, default=128)
  p.add_argument("--hidden", type=int, default=128, help="shared bi-LSTM width per direction")
  p.add_argument("--task-hidden", type=int, default=128, help="intent bi-LSTM width")
  p.add_argument("--intents", type=int, default=20)
  p.add_argument("--batch", type=int, default=64)
  p.add_argument("--length", type=int, default=20, help="L of the agreement and memory runs")
  p.add_argument("--steps", type=int, default=50, help="IG steps (Captum n_steps)")
  p.add_argument("--method", default="gausslegendre")
  p.add_argument("--chunk", type=int, default=5,
                 help="our chunk_size (steps per pass) with the batch in one group")
  # 8 x 20 chosen by a sweep on one Zen 4 core (stop 14): at lengths U[4, 20] it ran 6% faster
  # than 16 x 20 (tighter padding), 8 x 40 the same; at equal lengths all within 2%.
  p.add_argument("--groups", type=int, default=8,
                 help="our length_groups (rows per length group) in the 'jax' contender")
  p.add_argument("--group-chunk", type=int, default=20,
                 help="our chunk_size with --groups (steps per pass: groups x 20 rows)")
  p.add_argument("--captum-rows", dest="captum_rows_arg", default=None,
                 help="Captum internal_batch_size values, one LIG contender each (the first "
                      "also for IG and the memory sweep); default B * --chunk, B * 2 --chunk")
  p.add_argument("--mem-steps", default="8,16,32,64,128,256,512")
  p.add_argument("--tol", type=float, default=1e-5, help="float64 agreement tolerance")
  p.add_argument("--skip-memory", action="store_true")
  p.add_argument("--skip-agreement", action="store_true")
  p.add_argument("--probe", default=None, help=argparse.SUPPRESS)
  p.add_argument("--x64", action="store_true", help=argparse.SUPPRESS)
  _harness.add_timing_args(p, inner=1, out="ig_speed.json")
  p.set_defaults(lengths="20,=12", rounds=7, warmup=1, n_batches=2)
  args = p.parse_args(argv)
  if args.quick:
    args.vocab, args.embed, args.hidden, args.task_hidden, args.batch = 500, 32, 32, 32, 16
    args.rounds, args.mem_steps, args.groups, args.group_chunk = 3, "8,32", 4, 20
  args.lengths = args.lengths.split(",")
  args.captum_rows = ([args.batch * args.chunk, 2 * args.batch * args.chunk]
                      if args.captum_rows_arg is None
                      else list(map(int, args.captum_rows_arg.split(","))))
  args.model_argv = [f"--{k.replace('_', '-')}={getattr(args, k)}" for k in MODEL_FLAGS]
  args.model_argv.append(f"--captum-rows={','.join(map(str, args.captum_rows))}")
  global TORCH_DEVICE  # pylint: disable=global-statement
  TORCH_DEVICE = _harness.torch_device(torch, args.torch_device)
  return args


def main(argv=None):
  args = parse(argv)
  threads = _harness.match_torch_threads(torch)
  if args.x64:
    print(json.dumps(run_agreement_f64(args)))
    return
  if args.probe:
    lib, steps = args.probe.split(",")
    print(json.dumps(run_memory_probe(lib, int(steps), args)))
    return
  model = build_model(args)
  torch_model = TorchIntentBiLSTM(model)
  result = {"benchmark": "integrated_gradients", "threads": threads, "cpus": CPUS,
            "jax_backend": jax.default_backend(), "torch_device": str(TORCH_DEVICE),
            "model": {k: getattr(args, k) for k in ("vocab", "embed", "hidden", "task_hidden",
                                                    "intents")},
            "steps": args.steps, "method": args.method, "chunk_size": args.chunk,
            "length_groups": args.groups, "chunk_size_with_groups": args.group_chunk,
            "captum_internal_batch_sizes": args.captum_rows,
            "rounds": args.rounds, "inner": args.inner, "target": "predicted intent logit",
            "ratio_definition": "median over rounds of captum_s / jax_s (>1: jax faster)",
            "speed_target": "jax_speedup >= 2 on CPU", "memory_target": "flat in steps"}
  # Speed first: its first call is then our true compile time (agreement reuses the cache).
  cases = [speed(args, model, torch_model, length) for length in args.lengths]
  result["cases"] = cases
  result["jax_speedup_vs_fastest_captum"] = {c["case"]: c["jax_speedup_vs_fastest_captum"]
                                             for c in cases}
  if not args.skip_agreement:
    f32 = agreement(model, torch_model, make_batches(np.random.default_rng(1), 1, args.batch,
                                                     args.length, args.vocab)[0], args)
    f64 = _subprocess_json(["--x64"], args)
    print(f"agreement float32: {json.dumps(f32)}\nagreement float64: {json.dumps(f64)}",
          flush=True)
    worst = max(v["max_abs_diff_attributions"] for k, v in f64.items() if k.startswith("captum"))
    assert worst < args.tol, f"float64 attributions differ by {worst} > {args.tol}"
    result["agreement"] = {"float32": f32, "float64": f64, "float64_tolerance": args.tol}
  if not args.skip_memory:
    result["memory"] = memory_sweep(args)
  if args.out:
    print(f"wrote {_harness.write_result(args.out, result, torch=torch)}")


if __name__ == "__main__":
  main()
