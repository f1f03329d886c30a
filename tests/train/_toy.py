"""A tiny classifier and training loop for the trainer tests, also a script.

Imported by the tests for in-process runs, and run as
``python tests/train/_toy.py MODE ...`` in subprocesses (kill-and-resume,
multi-process), where the device count must be set before JAX starts.

Data order depends on a host ``np.random.Generator``, so a resumed run only
matches an uninterrupted one if the generator's state was checkpointed too.
"""

from __future__ import annotations

import argparse
import sys
import time

VOCAB, CLASSES, WIDTH, ROWS, LENGTH, BATCH = 50, 4, 8, 64, 6, 16


def _jax_modules():
  # Deferred so a script sets jax_num_cpu_devices before the backend starts.
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  import optax  # pylint: disable=g-import-not-at-top
  from flax import nnx  # pylint: disable=g-import-not-at-top
  return jax, jnp, optax, nnx


def make_model(seed: int = 0):
  """Embedding mean -> dropout -> linear, ``[B, L]`` tokens to ``[B, C]`` logits."""
  _, _, _, nnx = _jax_modules()

  class Toy(nnx.Module):

    def __init__(self, rngs):
      self.embed = nnx.Embed(VOCAB, WIDTH, rngs=rngs)
      self.dropout = nnx.Dropout(0.25)
      self.head = nnx.Linear(WIDTH, CLASSES, rngs=rngs)

    def __call__(self, tokens, rngs=None):
      h = self.embed(tokens).mean(axis=1)  # --> [B, D]
      h = self.dropout(h, rngs=rngs, deterministic=rngs is None)
      return self.head(h)  # --> [B, C]

  return Toy(nnx.Rngs(seed))


def loss_fn(model, batch, rngs):
  """Weighted cross-entropy sum; ``weight`` 0 marks padding rows."""
  jax, jnp, optax, _ = _jax_modules()
  logits = model(batch["tokens"], rngs)
  losses = optax.softmax_cross_entropy_with_integer_labels(logits, batch["label"])
  correct = (jnp.argmax(logits, -1) == batch["label"]) * batch["weight"]
  return jnp.sum(losses * batch["weight"]), {"count": jnp.sum(batch["weight"]),
                                             "correct": jnp.sum(correct)}


def dataset(seed: int = 7):
  """A fixed corpus: ``tokens`` ``[ROWS, LENGTH]``, ``label``/``weight`` ``[ROWS]``."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(seed)
  tokens = rng.integers(0, VOCAB, (ROWS, LENGTH)).astype(np.int32)
  return {"tokens": tokens, "label": (tokens[:, 0] % CLASSES).astype(np.int32),
          "weight": np.ones(ROWS, np.float32)}


def next_batch(gen, data):
  """``BATCH`` rows drawn by ``gen``: the data order the checkpoint must keep."""
  rows = gen.choice(ROWS, BATCH, replace=False)
  return {k: v[rows] for k, v in data.items()}


def run(ckpt_dir: str, steps: int, every: int, delay: float = 0.0, processes: int = 1):
  """Trains to ``steps`` (resuming from ``ckpt_dir``); returns params as NumPy."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  jax, _, optax, _ = _jax_modules()
  from fsnlu_jax import parallel, train  # pylint: disable=g-import-not-at-top

  mesh = parallel.make_data_mesh()
  optimizer = optax.adam(1e-2)
  graphdef, state = train.init_train_state(make_model(), optimizer, jax.random.key(3), mesh)
  step_fn = train.make_train_step(graphdef, loss_fn, optimizer, mesh)
  data = dataset()
  with train.Checkpointer(ckpt_dir, every=every, max_to_keep=2) as ckpt:
    state, data_state = train.restore_or_init(
        ckpt, state, {"rng": train.generator_state(np.random.default_rng(11))})
    print(f"start {int(state.step)}", flush=True)
    gen = train.generator_from_state(data_state["rng"])
    while int(state.step) < steps:
      batch = next_batch(gen, data)
      # Each process loads only its rows of the global batch.
      share = BATCH // processes
      local = {k: v[jax.process_index() * share:][:share] for k, v in batch.items()}
      state, _ = step_fn(state, parallel.global_batch_from_local(local, mesh))
      ckpt.save(state, {"rng": train.generator_state(gen)})
      print(f"done {int(state.step)}", flush=True)
      time.sleep(delay)
  return {"/".join(map(str, p)): np.asarray(v) for p, v in
          jax.tree_util.tree_flatten_with_path(state.params)[0]}


def main(argv):
  parser = argparse.ArgumentParser()
  parser.add_argument("--ckpt", required=True)
  parser.add_argument("--out", required=True)
  parser.add_argument("--steps", type=int, default=12)
  parser.add_argument("--every", type=int, default=3)
  parser.add_argument("--delay", type=float, default=0.0)
  parser.add_argument("--devices", type=int, default=8)
  args = parser.parse_args(argv)
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from fsnlu_jax import parallel  # pylint: disable=g-import-not-at-top
  jax.config.update("jax_num_cpu_devices", args.devices)
  # CPU devices of several processes talk through gloo.
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  # Multi-process when the test set FSNLU_COORDINATOR & co; else a no-op.
  parallel.initialize_distributed()
  params = run(args.ckpt, args.steps, args.every, args.delay, jax.process_count())
  if jax.process_index() == 0:
    np.savez(args.out, **params)
  print("finished", flush=True)


if __name__ == "__main__":
  main(sys.argv[1:])
