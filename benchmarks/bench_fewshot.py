"""Few-shot episodic training throughput: fsnlu_jax ProtoNet / ProtoDA against easyfsl.

One train step, in both libraries: embed the support and query sets of an
N-way K-shot episode (Q queries per way), prototypes = support means, logits
from query-prototype distances, cross-entropy over the queries, its gradient
and an Adam update (lr 1e-3). Both sides train the same episodes in the same
order, drawn once by :class:`fsnlu_jax.data.episodes.EpisodeSampler`.

* ``protonet_E<e>`` / ``protoda_E<e>`` (ours): :class:`fsnlu_jax.models.FewShotModel` with
  :func:`~fsnlu_jax.models.episodic_loss` through
  :func:`fsnlu_jax.train.step.make_train_step` (the jitted ``shard_map`` step
  the few-shot job runs), ``E`` episodes per step (``vmap``-ped; our design),
  batches already on the device;
* ``easyfsl``: ``easyfsl.methods.PrototypicalNetworks`` around a PyTorch
  backbone of the same layers, one episode per optimizer step
  (``process_support_set``, ``forward``, ``CrossEntropyLoss``, ``backward``,
  ``step``: easyfsl's own training loop); tensors built before timing.
  learn2learn does not install here (``LEARN2LEARN_STATUS``, in the JSON);
* ``easyfsl_E<e>``: the same work as ours at ``E = e``: ``e`` easyfsl episodes
  whose mean loss takes one backward and one Adam step (what a PyTorch user
  writes to batch episodes per update), so ``protonet_E<e>`` against
  ``easyfsl_E<e>`` compares the same number of updates; ``headline`` reports it
  apart (``same_updates``) from the one-episode-per-update figures.

Device: JAX runs on its default backend; easyfsl on ``cuda`` when available
(``--torch-device`` overrides), model and episode tensors moved there before
timing; the loss is read back (``.item()``) on every call as before. float32
only.

Cases:

* ``bilstm``: encoder = embedding -> shared bi-LSTM -> intent bi-LSTM pooled
  as :class:`~fsnlu_jax.models.MultitaskBiLSTM` pools by default
  (``pooling="final"``: forward state at the last real token, backward state at
  the first) -> ProtoNet MLP. The peer packs the padded ids
  (``pack_padded_sequence``, exact, like our masks: ``easyfsl``);
  ``easyfsl_reversed`` is exact without packing: two unidirectional LSTMs per
  layer, the backward one on rows reversed within their length
  (``_torch_lstm``), the fastest exact PyTorch; ``easyfsl_padded`` runs the
  LSTMs on the padded tensor (cheaper, inexact in the backward direction: what
  a user gets without packing; not the same work). The same-updates peers
  (``easyfsl_E<e>``) use the reversal.
* ``frozen``: precomputed 768-d sentence vectors (random; only the timing
  matters) -> ProtoNet MLP, ours also with ProtoDA's generator
  (``augment="generator"``, ``placement="proto"``). easyfsl has no generator:
  the like-for-like figure is ProtoNet against easyfsl; ProtoDA's rate is
  reported beside it.

Differences we kept: easyfsl scores with ``-cdist`` (Euclidean distance), ours
with the squared distance (same cost); our encoder also holds the slot
bi-LSTM and output layers of the multitask model, which get zero gradients and
Adam updates every step (extra work on our side; the peer has no such layers).
easyfsl imports torchvision for its image backbones only; where torchvision
cannot load (a CUDA build next to CPU torch) those names are stubbed
(:func:`import_easyfsl`, noted in the JSON).

Rates are episodes per second; the speed-up of a contender is the median over
alternating rounds of ``easyfsl s/episode / ours s/episode`` (> 1: ours
faster). ``first_call_s`` is apart from the steady state (compile, for JAX).
Device scaling re-runs our step in subprocesses with
``XLA_FLAGS=--xla_force_host_platform_device_count=D`` at a fixed global
``E``, on all the CPUs the script started with: simulated devices share this
machine's cores, so this shows the cost of sharding plus whatever a second
core adds, not a speed-up from more hardware.

Threads: run with ``--cpus 1`` on a shared machine. Both libraries then use
one thread; with two threads on the 2-core machine under other workers' load,
PyTorch's OpenMP pool slowed to 53-162 ms per frozen-embedding episode against
4.5 ms with one thread (XLA's pool suffers far less), which would inflate our
ratios.

Usage::

  nice -n 19 python benchmarks/bench_fewshot.py --cpus 1   # writes results/fewshot_speed.json
  python benchmarks/bench_fewshot.py --cpus 1 --quick --out ''
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
import pathlib
import statistics
import subprocess
import sys
import types

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import _harness  # pylint: disable=g-import-not-at-top,wrong-import-position
import _torch_lstm  # pylint: disable=g-import-not-at-top,wrong-import-position

# Before JAX and PyTorch start their thread pools. A scaling subprocess first
# gets back every CPU its parent (pinned by --cpus) started with.
_CPUS_ENV = "FSNLU_BENCH_ALL_CPUS"
if os.environ.get(_CPUS_ENV):
  os.sched_setaffinity(0, [int(c) for c in os.environ[_CPUS_ENV].split(",")])
ALL_CPUS = sorted(os.sched_getaffinity(0))
CPUS = _harness.pin_cpus(_harness.cpus_from_argv(sys.argv))

# pylint: disable=g-import-not-at-top,wrong-import-position
import jax
import numpy as np
import optax
from flax import nnx

from fsnlu_jax.data import episodes
from fsnlu_jax.data.arrays import pad_batch
from fsnlu_jax.fewshot import Pool, episode_batch
from fsnlu_jax.models import (FewShotModel, MultitaskBiLSTM, MultitaskConfig, ProtoDAConfig,
                              episodic_loss)
from fsnlu_jax.parallel import data_sharding, make_data_mesh
from fsnlu_jax.train.step import init_train_state, make_train_step
# pylint: enable=g-import-not-at-top,wrong-import-position

LR = 1e-3
TARGETS = {"bilstm": 1.5, "frozen": 20.0}  # the CPU targets: speed-up over easyfsl
BANK = 128  # distinct episodes cycled by every contender
CLASSES, ROWS_PER_CLASS = 40, 40


@dataclasses.dataclass(frozen=True)
class Case:
  """One comparison: model sizes and episode shape."""

  name: str
  kind: str  # "bilstm" or "frozen"
  n: int = 5
  k: int = 5
  q: int = 5
  embed: int = 64
  shared: int = 64
  task: int = 128
  input_dim: int = 768  # frozen: the sentence width; bilstm: 2 * task
  proto_hidden: int = 256
  proto_dim: int = 128
  vocab: int = 2000
  length: int = 16
  e_values: tuple[int, ...] = (1, 8, 32, 64)
  rounds: int = 7
  warmup: int = 2
  peer_episodes: int = 8  # easyfsl episodes per timed call
  peer_modes: tuple[str, ...] = ("packed",)  # bilstm backbones of the one-episode peers
  scaling_e: int = 64  # global E of the device-scaling runs (divisible by 8)

  @property
  def sentence_dim(self) -> int:
    return 2 * self.task if self.kind == "bilstm" else self.input_dim


CASES = {
    "bilstm_small": Case("bilstm_small", "bilstm", rounds=5,
                         peer_modes=("packed", "reversed", "padded"), scaling_e=16),
    # The default 768-d encoder (MultitaskConfig's sizes): a few steps only.
    "bilstm_768": Case("bilstm_768", "bilstm", embed=300, shared=256, task=384,
                       e_values=(1, 4), rounds=3, warmup=1, peer_episodes=2,
                       peer_modes=("packed", "reversed")),
    "frozen_768": Case("frozen_768", "frozen"),
    "frozen_768_n10k10": Case("frozen_768_n10k10", "frozen", n=10, k=10, e_values=(1, 8, 32)),
    # Tiny, for gpu_suite.sh --dry-run only (the code path, not a figure).
    "frozen_tiny": Case("frozen_tiny", "frozen", n=3, k=2, q=2, input_dim=16, proto_hidden=16,
                        proto_dim=8, e_values=(1, 2), rounds=2, warmup=1, peer_episodes=2),
}
DEFAULT_CASES = ("bilstm_small", "bilstm_768", "frozen_768", "frozen_768_n10k10")


# ------------------------------------------------------------------ the peer


def import_easyfsl():
  """``(PrototypicalNetworks, note)``; stubs torchvision if its build cannot load.

  easyfsl imports torchvision only for its image backbones (ResNet blocks,
  ImageFolder, transforms), none of which this benchmark uses. A CUDA build of
  torchvision next to a CPU build of torch fails at import; then the names
  easyfsl imports become placeholders that raise if called, and ``note`` says so.
  """
  note = None
  try:
    import torchvision  # pylint: disable=g-import-not-at-top,unused-import
  except Exception as e:  # pylint: disable=broad-except
    note = (f"torchvision failed to import ({type(e).__name__}: {e}); easyfsl's image-only "
            "torchvision imports were stubbed (PrototypicalNetworks does not use them)")
    _stub_torchvision()
  try:
    from easyfsl.methods import PrototypicalNetworks  # pylint: disable=g-import-not-at-top
  except ModuleNotFoundError as error:
    _harness.peer_missing(error)
  return PrototypicalNetworks, note


def _stub_torchvision():
  for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
    del sys.modules[name]

  def unavailable(*args, **kwargs):
    raise RuntimeError("torchvision is stubbed in bench_fewshot.py")

  names = {"torchvision": {}, "torchvision.models": {}, "torchvision.transforms": {},
           "torchvision.datasets": dict(ImageFolder=type("ImageFolder", (), {})),
           "torchvision.models.resnet": dict(
               BasicBlock=type("BasicBlock", (), {}), Bottleneck=type("Bottleneck", (), {}),
               conv1x1=unavailable, conv3x3=unavailable)}
  for name, attrs in names.items():
    module = types.ModuleType(name)
    module.__dict__.update(attrs)
    sys.modules[name] = module
    parent, _, child = name.rpartition(".")
    if parent:
      setattr(sys.modules[parent], child, module)


def torch_backbone(torch, case: Case, mode: str):
  """The peer's backbone: the same layers as ours, as PyTorch modules; ``mode``
  (``packed``, ``reversed`` or ``padded``) is how its bi-LSTMs treat padding."""
  nn = torch.nn
  mlp = nn.Sequential(nn.Linear(case.sentence_dim, case.proto_hidden), nn.ReLU(),
                      nn.Linear(case.proto_hidden, case.proto_dim))
  if case.kind == "frozen":
    return mlp

  class Encoder(nn.Module):
    """ids [B, L] (0 = padding) -> sentence [B, 2H_t] -> ProtoNet [B, D_p]."""

    def __init__(self):
      super().__init__()
      self.embed = nn.Embedding(case.vocab, case.embed, padding_idx=0)
      if mode == "reversed":  # one unidirectional LSTM per direction
        lstm = lambda d, h: nn.ModuleList([nn.LSTM(d, h, batch_first=True) for _ in "fb"])
      else:
        lstm = lambda d, h: nn.LSTM(d, h, batch_first=True, bidirectional=True)
      self.shared = lstm(case.embed, case.shared)
      self.intent = lstm(2 * case.shared, case.task)
      self.protonet = mlp

    def forward(self, ids):
      lengths = (ids != 0).sum(1)
      x = self.embed(ids)
      if mode == "reversed":
        index = _torch_lstm.within_length_reversal(torch, lengths, ids.shape[1])
        shared = _torch_lstm.reversed_bilstm(torch, *self.shared, x, index)
        last = lengths - 1  # the backward LSTM's last step is the row's first token
        rows = torch.arange(len(ids))
        out_f, _ = self.intent[0](shared)
        out_b, _ = self.intent[1](_torch_lstm.gather_time(torch, shared, index))
        sentence = torch.cat([out_f[rows, last], out_b[rows, last]], dim=-1)
      elif mode == "packed":
        seq = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True,
                                                enforce_sorted=False)
        _, (h, _) = self.intent(self.shared(seq)[0])  # h: [2, B, H_t], input order
        sentence = torch.cat([h[0], h[1]], dim=-1)
      else:
        out, _ = self.intent(self.shared(x)[0])  # --> [B, L, 2H_t]
        last = out[torch.arange(len(ids)), lengths - 1, :case.task]
        sentence = torch.cat([last, out[:, 0, case.task:]], dim=-1)
      return self.protonet(sentence)

  return Encoder()


def reversed_backbone_error(torch, case: Case, ids: np.ndarray) -> float:
  """Largest difference between the ``reversed`` and ``packed`` backbones' outputs
  with the same weights on ``ids [B, L]`` (the reversal peer is exact)."""
  torch.manual_seed(0)
  packed, rev = torch_backbone(torch, case, "packed"), torch_backbone(torch, case, "reversed")
  weights = {}
  for name, w in packed.named_parameters():
    layer, _, param = name.partition(".")
    if layer in ("shared", "intent"):  # direction d of the bidirectional LSTM -> LSTM d
      reverse = param.endswith("_reverse")
      name = f"{layer}.{int(reverse)}.{param.removesuffix('_reverse')}"
    weights[name] = w
  rev.load_state_dict(weights)
  with torch.no_grad():
    x = torch.from_numpy(ids)
    return float((rev(x) - packed(x)).abs().max())


def peer_contender(torch, proto_cls, case: Case, pool_x: np.ndarray, bank, mode: str = "packed",
                   device=None, per_update: int = 1):
  """easyfsl, ``per_update`` episodes (the next ones of ``bank``) per optimizer step:
  their mean loss, one backward, one Adam step; one step per call."""
  device = device or torch.device("cpu")
  torch.manual_seed(0)
  model = proto_cls(torch_backbone(torch, case, mode)).to(device)
  opt = torch.optim.Adam(model.parameters(), lr=LR)
  loss_fn = torch.nn.CrossEntropyLoss()
  data = itertools.cycle([_peer_episode(torch, pool_x, bank, e, device) for e in range(BANK)])

  def run():
    opt.zero_grad(set_to_none=True)
    loss = 0.0
    for _ in range(per_update):
      support, support_labels, query, query_labels = next(data)
      model.process_support_set(support, support_labels)
      loss = loss + loss_fn(model(query), query_labels)
    loss = loss / per_update
    loss.backward()
    opt.step()
    return loss.item()

  return run


def _peer_episode(torch, pool_x, bank: episodes.EpisodeBatch, e: int, device):
  """Episode ``e`` as easyfsl takes it: flat support/query inputs, labels 0..N-1."""
  s_idx, q_idx = bank.support_index[e], bank.query_index[e]  # [N, K], [N, Q]
  ways = np.arange(s_idx.shape[0])
  return tuple(torch.from_numpy(a).to(device) for a in (
      pool_x[s_idx.reshape(-1)], np.repeat(ways, s_idx.shape[1]),
      pool_x[q_idx.reshape(-1)], np.repeat(ways, q_idx.shape[1])))


# ------------------------------------------------------------------ ours


def our_model(case: Case, augment: str) -> FewShotModel:
  config = ProtoDAConfig(input_dim=case.sentence_dim, proto_dim=case.proto_dim,
                         proto_hidden=case.proto_hidden, augment=augment, placement="proto")
  encoder = None
  if case.kind == "bilstm":
    encoder = MultitaskBiLSTM(MultitaskConfig(
        vocab_size=case.vocab, n_intents=2, n_tags=2, embed_dim=case.embed,
        shared_hidden=case.shared, task_hidden=case.task, slot_decoder="softmax",
        dropout=0.0, pooling="final"), rngs=nnx.Rngs(1))
  return FewShotModel(config, encoder=encoder, rngs=nnx.Rngs(0))


def our_contender(case: Case, pool: Pool, bank, e: int, steps_per_call: int,
                  augment: str = "none", devices: int | None = None):
  """``steps_per_call`` jitted train steps of ``e`` episodes each per call."""
  mesh = make_data_mesh(devices)
  optimizer = optax.adam(LR)
  graphdef, state = init_train_state(our_model(case, augment), optimizer, jax.random.key(0),
                                     mesh)
  step = make_train_step(graphdef, episodic_loss, optimizer, mesh)
  sharding = data_sharding(mesh)
  batches = [jax.device_put(episode_batch(
      take_episodes(bank, i, i + e), pool, pool, augment=augment != "none",
      noise_seed=np.arange(i, i + e)), sharding) for i in range(0, BANK, e)]
  data = itertools.cycle(batches)
  box = {"state": state}

  def run():
    for _ in range(steps_per_call):
      box["state"], metrics = step(box["state"], next(data))
    return metrics["loss"]

  return run


# ------------------------------------------------------------------ data


def take_episodes(bank: episodes.EpisodeBatch, start: int, stop: int) -> episodes.EpisodeBatch:
  """Episodes ``start:stop`` of ``bank`` (every ``E`` here divides ``BANK``: no padding)."""
  if not 0 <= start < stop <= len(bank.classes):
    raise ValueError(f"episodes {start}:{stop} of a bank of {len(bank.classes)}")
  return episodes.EpisodeBatch(*(a[start:stop] for a in bank))


def make_pool(case: Case, rng: np.random.Generator) -> Pool:
  """``CLASSES`` classes of ``ROWS_PER_CLASS`` random utterances or vectors."""
  p = CLASSES * ROWS_PER_CLASS
  labels = np.repeat([f"c{i}" for i in range(CLASSES)], ROWS_PER_CLASS)
  if case.kind == "frozen":
    return Pool([], labels, dict(x=rng.normal(size=(p, case.input_dim)).astype(np.float32)))
  lengths = rng.integers(4, case.length + 1, size=p)
  ids, mask = pad_batch([rng.integers(2, case.vocab, size=n).tolist() for n in lengths],
                        case.length)
  return Pool([], labels, dict(x=ids, x_tokens=mask))


def make_bank(case: Case, pool: Pool, rng: np.random.Generator) -> episodes.EpisodeBatch:
  sampler = episodes.EpisodeSampler(pool.labels, n_way=case.n, k_shot=case.k, q_query=case.q)
  return sampler.sample(rng, BANK)


# ------------------------------------------------------------------ runs


def timed_rates(contenders: dict, per_call: dict[str, int], rounds: int, warmup: int,
                baselines: tuple[str, ...] = ()) -> dict:
  """:func:`_harness.compare`, then episodes/s and per-round speed-ups vs each baseline."""
  res = _harness.compare(contenders, rounds=rounds, warmup=warmup)
  res.pop(next(k for k in res if k.startswith("ratio_vs_")))
  per_episode = {n: [s / per_call[n] for s in res["samples_s"][n]] for n in contenders}
  res["episodes_per_call"] = per_call
  res["episodes_per_s"] = {n: per_call[n] / res["median_s"][n] for n in contenders}
  for base in baselines:
    res[f"speedup_vs_{base}"] = {
        n: statistics.median(b / s for b, s in zip(per_episode[base], per_episode[n]))
        for n in contenders if n not in baselines}
  return res


def run_case(case: Case, args, torch, proto_cls) -> dict:
  rng = np.random.default_rng(0)
  pool = make_pool(case, rng)
  bank = make_bank(case, pool, rng)
  unit = max(case.e_values)  # episodes per call for every contender, about
  contenders, per_call = {}, {}
  peer_episodes = case.peer_episodes
  device = _harness.torch_device(torch, args.torch_device)
  checks = {}
  if "reversed" in case.peer_modes:
    checks["easyfsl_reversed_max_abs_diff_vs_packed"] = error = reversed_backbone_error(
        torch, case, pool.inputs["x"][:64])
    if error > 1e-4:
      raise AssertionError(f"easyfsl_reversed differs from packed by {error}")
  for mode in case.peer_modes:
    name = "easyfsl" if mode == "packed" else f"easyfsl_{mode}"
    contenders[name] = _repeat(peer_contender(torch, proto_cls, case, pool.inputs["x"], bank,
                                              mode, device=device), peer_episodes)
    per_call[name] = peer_episodes
  for e in peer_e_values(case, args):  # the same number of updates as ours at E = e
    contenders[f"easyfsl_E{e}"] = peer_contender(
        torch, proto_cls, case, pool.inputs["x"], bank,
        "reversed" if case.kind == "bilstm" else "packed", device=device, per_update=e)
    per_call[f"easyfsl_E{e}"] = e
  augments = ["none"] + (["generator"] if case.kind == "frozen" else [])
  for augment in augments:
    tag = "protonet" if augment == "none" else "protoda"
    for e in case.e_values:
      steps = max(1, min(unit, peer_episodes) // e)
      # One device, like the peer (device scaling is measured apart).
      contenders[f"{tag}_E{e}"] = our_contender(case, pool, bank, e, steps, augment, devices=1)
      per_call[f"{tag}_E{e}"] = steps * e
  rounds = args.rounds or case.rounds
  peers = tuple(n for n in contenders if n.startswith("easyfsl"))
  res = timed_rates(contenders, per_call, rounds, case.warmup, peers)
  res.update(checks)
  res.update(case=dataclasses.asdict(case), rounds=rounds, torch_device=str(device),
             episodes_per_update={n: (int(n.rsplit("E", 1)[1]) if "_E" in n else 1)
                                  for n in contenders})
  _print_case(case, res)
  return res


def peer_e_values(case: Case, args) -> list[int]:
  """The ``E > 1`` of ``case`` at which easyfsl also runs ``E`` episodes per update."""
  wanted = (set(case.e_values) if args.peer_e == "all"
            else {int(x) for x in args.peer_e.split(",") if x})
  return [e for e in case.e_values if e > 1 and e in wanted]


def _repeat(fn, times: int):
  def run():
    for _ in range(times):
      out = fn()
    return out
  return run


def _print_case(case: Case, res: dict) -> None:
  print(f"{case.name} (N={case.n} K={case.k} Q={case.q}):", flush=True)
  speedups = {k[len("speedup_vs_"):]: v for k, v in res.items() if k.startswith("speedup_vs_")}
  for name, rate in res["episodes_per_s"].items():
    extra = "".join(f"  {v[name]:.2f}x {peer}" for peer, v in speedups.items() if name in v)
    print(f"  {name:>16}: {rate:9.1f} episodes/s  first call {res['first_call_s'][name]:.2f}s"
          f"{extra}", flush=True)


def headline(cases: list[dict]) -> dict:
  """Per case: our speed-up over easyfsl at E=1 and at the best E, against the target."""
  out = {}
  for res in cases:
    case = res["case"]
    target = TARGETS[case["kind"]]
    for peer in (k[len("speedup_vs_"):] for k in res if k.startswith("speedup_vs_")):
      speed = res[f"speedup_vs_{peer}"]
      protonet = {n: v for n, v in speed.items() if n.startswith("protonet_")}
      best = max(protonet, key=protonet.get)
      entry = dict(protonet_E1=protonet["protonet_E1"], best=best, best_speedup=protonet[best],
                   target=target, met_at_E1=protonet["protonet_E1"] >= target,
                   met_at_best=protonet[best] >= target)
      protoda = {n: v for n, v in speed.items() if n.startswith("protoda_")}
      if protoda:
        entry.update(protoda_E1=protoda["protoda_E1"], protoda_best=max(protoda.values()))
      out[f"{case['name']}_vs_{peer}"] = entry
    # Same work: ours at E against easyfsl at E episodes per update (one update each).
    same = {peer[len("easyfsl_E"):]: res[f"speedup_vs_{peer}"][f"protonet_{peer[len('easyfsl_'):]}"]
            for peer in (k[len("speedup_vs_"):] for k in res if k.startswith("speedup_vs_"))
            if peer.startswith("easyfsl_E")}
    if same:
      out[f"{case['name']}_same_updates"] = {f"E{e}": v for e, v in same.items()}
  return out


# ------------------------------------------------------------------ device scaling


def scaling_worker(args) -> None:
  """In a subprocess with D simulated devices: our rates at each case's ``scaling_e``."""
  devices = jax.device_count()
  out = {"devices": devices, "cpus": CPUS, "cases": {}}
  for name in args.scaling_cases.split(","):
    case = CASES[name]
    rng = np.random.default_rng(0)
    pool = make_pool(case, rng)
    bank = make_bank(case, pool, rng)
    augments = ["none"] + (["generator"] if case.kind == "frozen" else [])
    contenders = {("protonet" if a == "none" else "protoda"): our_contender(
        case, pool, bank, case.scaling_e, 1, a, devices) for a in augments}
    res = timed_rates(contenders, {n: case.scaling_e for n in contenders},
                      args.scaling_rounds, 1)
    out["cases"][name] = {"e": case.scaling_e, **{
        k: res[k] for k in ("episodes_per_s", "median_s", "first_call_s")}}
  print("SCALING " + json.dumps(out), flush=True)


def device_scaling(args) -> list[dict]:
  results = []
  for d in map(int, args.devices.split(",")):
    env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={d}",
               **{_CPUS_ENV: ",".join(map(str, ALL_CPUS))})
    cmd = [sys.executable, __file__, "--scaling-worker", "--scaling-cases", args.scaling_cases,
           "--scaling-rounds", str(args.scaling_rounds)]
    if args.scaling_cpus:
      cmd += ["--cpus", str(args.scaling_cpus)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    line = next(x for x in proc.stdout.splitlines() if x.startswith("SCALING "))
    results.append(json.loads(line[len("SCALING "):]))
    rates = {n: {k: round(v, 1) for k, v in c["episodes_per_s"].items()}
             for n, c in results[-1]["cases"].items()}
    print(f"devices={d}: episodes/s {rates}", flush=True)
  return results


# ------------------------------------------------------------------ main


def parse_args(argv):
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--cases", default=None,
                 help=f"comma-separated, of {sorted(CASES)}; default all (--quick: two)")
  p.add_argument("--rounds", type=int, default=0, help="0: each case's own")
  p.add_argument("--peer-e", default="all",
                 help="E > 1 at which easyfsl also runs E episodes per update (same number of "
                      "updates as ours): comma-separated, 'all' (each case's E values) or ''")
  _harness.add_device_args(p)
  p.add_argument("--devices", default="1,2,4,8", help="simulated device counts; '' for none")
  p.add_argument("--scaling-cases", default="bilstm_small,frozen_768")
  p.add_argument("--scaling-rounds", type=int, default=5)
  p.add_argument("--scaling-cpus", type=int, default=None,
                 help="CPUs of the device-scaling subprocesses (default: all)")
  p.add_argument("--scaling-worker", action="store_true", help=argparse.SUPPRESS)
  p.add_argument("--cpus", type=int, default=None,
                 help="pin to this many CPUs; both libraries then use that many threads")
  p.add_argument("--quick", action="store_true", help="bilstm_small and frozen_768, 3 rounds")
  p.add_argument("--out", default="fewshot_speed.json", help="file in results/; '' for none")
  args = p.parse_args(argv)
  if args.quick:
    args.rounds, args.devices = 3, "1,2"
  if args.cases is None:
    args.cases = "bilstm_small,frozen_768" if args.quick else ",".join(DEFAULT_CASES)
  return args


def main(argv=None):
  args = parse_args(argv)
  if args.scaling_worker:
    return scaling_worker(args)
  try:
    import torch  # pylint: disable=g-import-not-at-top
  except ModuleNotFoundError as error:
    _harness.peer_missing(error)
  threads = _harness.match_torch_threads(torch)
  proto_cls, torchvision_note = import_easyfsl()
  cases = [run_case(CASES[name], args, torch, proto_cls) for name in args.cases.split(",")]
  scaling = device_scaling(args) if args.devices else []
  if args.out:
    path = _harness.write_result(args.out, {
        "benchmark": "fewshot_train_step", "threads": threads, "cpus": CPUS, "lr": LR,
        "jax_backend": jax.default_backend(),
        "torch_device": str(_harness.torch_device(torch, args.torch_device)),
        "episode_bank": BANK, "peer_note": torchvision_note,
        "learn2learn": LEARN2LEARN_STATUS,
        "speedup_definition": ("median over alternating rounds of easyfsl s/episode / ours "
                               "s/episode (>1: ours faster); easyfsl = one episode per step, "
                               "easyfsl_E<e> = e episodes per step (headline *_same_updates)"),
        "targets": TARGETS, "headline": headline(cases), "cases": cases,
        "device_scaling": {"note": "simulated CPU devices share this machine's cores",
                           "runs": scaling}}, torch=torch)
    print(f"wrote {path}")


LEARN2LEARN_STATUS = (
    "not installable here: `pip install learn2learn` (0.2.0, the latest) fails resolving its "
    "dependency qpth (every qpth sdist's setup rejects its own requirement 'numpy>=1<2'); "
    "`pip install --no-deps learn2learn` fails compiling its bundled Cython C "
    "(learn2learn/data/meta_dataset.c: longintrepr.h missing on Python 3.11)")


if __name__ == "__main__":
  main()
