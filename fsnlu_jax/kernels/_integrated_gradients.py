"""Integrated gradients (IG), batched over examples and interpolation steps.

For a scalar function ``f`` of one example ``x`` and a baseline ``x'``, IG
attributes ``f(x) - f(x')`` to the coordinates of ``x``:

  ``IG_i(x) = (x_i - x'_i) * integral_0^1 d f(x' + a (x - x')) / d x_i da``,

the integral approximated by a quadrature ``sum_m w_m g(a_m)`` over ``M``
points. The attributions sum to ``f(x) - f(x')`` up to the quadrature error
(completeness); that error is returned as the *gap*.

Shapes: ``B`` batch (examples), ``M`` IG steps (quadrature points), ``Mc``
steps per chunk, ``D...`` the shape of one example (any rank), ``Dz...`` the
shape of ``prefix``'s output.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Literal, NamedTuple, get_args

import jax
import jax.numpy as jnp
import numpy as np

IGMethod = Literal["riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid",
                   "gausslegendre"]
IG_METHODS = get_args(IGMethod)


class IGResult(NamedTuple):
  """What :func:`integrated_gradients` returns."""

  attributions: jax.Array  # [B, D...] (x - baseline) * mean gradient along the path.
  gap: jax.Array  # [B] sum of attributions - (f(x) - f(baseline)): the quadrature error.
  value: jax.Array  # [B] f(x).
  baseline_value: jax.Array  # [B] f(baseline).


@functools.lru_cache(maxsize=64)
def ig_quadrature(steps: int, method: IGMethod) -> tuple[np.ndarray, np.ndarray]:
  """Points ``alpha`` ``[M]`` in ``[0, 1]`` and weights ``[M]`` (summing to 1) of a path rule.

  The rules and their points are Captum's (``approximation_methods``), so the
  two libraries integrate along the same points.

  >>> alphas, weights = ig_quadrature(3, "riemann_trapezoid")
  >>> alphas.tolist(), weights.tolist()
  ([0.0, 0.5, 1.0], [0.25, 0.5, 0.25])

  Args:
    steps: ``M >= 1`` (``>= 2`` for the trapezoid rule).
    method: ``"riemann_left"``, ``"riemann_right"``, ``"riemann_middle"``,
      ``"riemann_trapezoid"`` or ``"gausslegendre"``.

  Returns:
    ``(alphas, weights)``, float64 NumPy arrays.
  """
  if method not in IG_METHODS:
    raise ValueError(f"method must be one of {IG_METHODS}, got {method!r}")
  min_steps = 2 if method == "riemann_trapezoid" else 1
  if steps < min_steps:
    raise ValueError(f"{method} needs steps >= {min_steps}, got {steps}")
  if method == "gausslegendre":
    # Legendre nodes on [-1, 1], mapped to [0, 1]: exact for polynomials of degree < 2M.
    nodes, weights = np.polynomial.legendre.leggauss(steps)
    alphas, weights = (nodes + 1) / 2, weights / 2
  elif method == "riemann_trapezoid":
    alphas = np.linspace(0.0, 1.0, steps)
    weights = np.full(steps, 1.0 / (steps - 1))
    weights[[0, -1]] /= 2
  else:
    shift = {"riemann_left": 0.0, "riemann_right": 1.0, "riemann_middle": 0.5}[method]
    alphas = (np.arange(steps, dtype=np.float64) + shift) / steps
    weights = np.full(steps, 1.0 / steps)
  alphas.flags.writeable = weights.flags.writeable = False  # cached: shared by every caller
  return alphas, weights


def _chunked_quadrature(steps: int, method: IGMethod, chunk_size: int | None):
  """``(alphas, weights)``, each ``[n, Mc]``, ``n = ceil(M / Mc)``; zero weight pads the end."""
  alphas, weights = ig_quadrature(steps, method)
  if chunk_size is not None and chunk_size < 1:
    raise ValueError(f"chunk_size must be >= 1 or None, got {chunk_size}")
  n = 1 if chunk_size is None else -(-steps // chunk_size)
  # Evened out (50 steps at most 16 a pass: 4 x 13, not 4 x 16), since a
  # padded point costs a gradient and adds 0.
  c = -(-steps // n)
  pad = n * c - steps
  alphas, weights = np.pad(alphas, (0, pad)), np.pad(weights, (0, pad))
  return alphas.reshape(n, c), weights.reshape(n, c)  # --> [n, Mc]


def integrated_gradients(f: Callable[..., jax.Array], x: jax.Array, baseline: jax.Array | float,
                         *args: Any, steps: int = 50, method: IGMethod = "gausslegendre",
                         chunk_size: int | None = None,
                         prefix: Callable[[jax.Array], jax.Array] | None = None,
                         rows: bool = False) -> IGResult:
  """Integrated gradients of a scalar function, for a batch of examples.

  ``f`` takes **one** example and returns a scalar; this function batches it
  with ``vmap(grad(f))`` over the ``B`` examples and the ``Mc`` points of a
  chunk, and runs the ``M / Mc`` chunks in a :func:`jax.lax.scan` that sums
  ``w_m * grad f(baseline + a_m (x - baseline))``. Only one chunk of gradients
  is alive at a time, so peak memory depends on ``B * Mc``, not on ``M``.

  With ``rows=True``, ``f`` instead takes a batch of rows ``[R, D...]`` (and
  ``[R, ...]`` args) and returns ``[R]``, each row's output depending on that
  row alone (a model in inference: no batch statistics). A chunk's ``Mc * B``
  points then go through ``f`` as one batch and their gradients are those of
  the sum of the outputs: the same numbers, but the model sees a real batch
  axis. For a recurrent model this matters: under ``vmap`` of a one-example
  call its scan runs over a time axis behind the ``[Mc, B]`` axes, writing
  strided slices every step (5% of a bi-LSTM IG call on one CPU core).

  With ``prefix``, the function explained is ``f(prefix(x))`` for an affine
  ``prefix`` (a model's first linear layer). An affine map sends the straight
  path from the baseline to ``x`` onto the straight path between their
  images, and its input gradient is the same linear map (its transpose) at
  every point, so the path runs after ``prefix`` and the gradients, summed
  over the ``M`` points, are pulled back through it once: the same
  attributions, but ``prefix``'s forward and backward cost paid once per
  example instead of ``M`` times. That ``prefix`` is affine is not checked.

  Jit it with ``f`` static, e.g. ``jax.jit(integrated_gradients,
  static_argnums=0, static_argnames=("steps", "method", "chunk_size",
  "prefix"))`` (a new lambda for ``f`` or ``prefix`` then retraces), or call
  it inside your own jitted function (then ``f`` and ``prefix`` may close over
  traced values such as model weights).

  >>> import jax.numpy as jnp
  >>> f = lambda x: jnp.sum(jnp.tanh(x) ** 2)
  >>> res = integrated_gradients(f, jnp.ones((2, 3)), 0.0, steps=16, chunk_size=4)
  >>> res.attributions.shape, bool(jnp.all(jnp.abs(res.gap) < 1e-5))
  ((2, 3), True)

  Args:
    f: ``f(x_b, *args_b) -> []``, differentiable in ``x_b`` ``[D...]``; with
      ``prefix``, ``f(prefix(x_b), *args_b)``.
    x: ``[B, D...]`` float examples.
    baseline: broadcastable to ``[B, D...]`` (e.g. ``[D...]`` or a scalar).
    *args: pytrees of ``[B, ...]`` arrays, sliced per example and passed to
      ``f`` unchanged along the path (a mask, a target label, ...).
    steps: ``M``, quadrature points on the path.
    method: the quadrature rule (see :func:`ig_quadrature`).
    chunk_size: at most this many points per pass (``Mc``); None: all ``M``
      at once. Chunks are evened out, and the last one padded with
      zero-weight points when they still do not divide ``M``.
    prefix: None, or an affine map of one example, ``[D...] -> [Dz...]``.
    rows: ``f`` maps a batch of rows to one output per row (see above).

  Returns:
    :class:`IGResult`: ``attributions`` ``[B, D...]`` in ``x``'s dtype, and
    ``gap``, ``value``, ``baseline_value`` ``[B]``.

  References:
    Sundararajan, Taly & Yan, "Axiomatic Attribution for Deep Networks", ICML 2017.
  """
  x = jnp.asarray(x)
  if not jnp.issubdtype(x.dtype, jnp.floating):
    raise TypeError(f"x must be floating point (embed token ids first), got {x.dtype}")
  baseline = jnp.broadcast_to(jnp.asarray(baseline, x.dtype), x.shape)
  if prefix is None:
    z, z_baseline, pull_back = x, baseline, lambda g: g
  else:
    z, pull = jax.vjp(jax.vmap(prefix), x)  # --> [B, Dz...]
    z_baseline = jax.vmap(prefix)(baseline)
    pull_back = lambda g: pull(g)[0]  # [B, Dz...] -> [B, D...]: the same map at any point
  f_rows = f if rows else jax.vmap(f)  # --> [R, Dz...], [R, ...] -> [R]
  total = _path_gradient(f_rows, z, z_baseline, args, steps, method, chunk_size)  # [B, Dz...]
  attributions = (x - baseline) * pull_back(total)
  # Both ends in one batched call: one more forward graph to compile, not two.
  value, baseline_value = f_rows(jnp.concatenate([z, z_baseline]),
                                 *_tile(args, 2)).reshape(2, -1)  # each [B]
  gap = attributions.sum(axis=tuple(range(1, x.ndim))) - (value - baseline_value)
  return IGResult(attributions, gap, value, baseline_value)


def _tile(args, n: int):
  """Each ``[B, ...]`` leaf of ``args`` repeated ``n`` times along rows: ``[n * B, ...]``."""
  return jax.tree.map(lambda a: jnp.tile(a, (n,) + (1,) * (jnp.ndim(a) - 1)), args)


def _path_gradient(f_rows, x, baseline, args, steps, method, chunk_size) -> jax.Array:
  """``sum_m w_m grad f(baseline + a_m (x - baseline))`` ``[B, D...]``, chunk by chunk;
  ``f_rows`` maps ``[R, D...]`` rows to ``[R]`` outputs, each from its own row."""
  alphas, weights = _chunked_quadrature(steps, method, chunk_size)
  diff = x - baseline  # --> [B, D...]
  batch, mc = x.shape[0], alphas.shape[1]
  chunk_args = _tile(args, mc)  # --> [Mc * B, ...], point-major like the rows below

  def chunk(total: jax.Array, points: tuple[jax.Array, jax.Array]):
    alpha, weight = points  # each [Mc]
    path = baseline + alpha.reshape((mc,) + (1,) * x.ndim) * diff  # --> [Mc, B, D...]
    # Rows are independent: the gradient of their summed outputs is each row's own.
    g = jax.grad(lambda r: f_rows(r, *chunk_args).sum())(path.reshape((mc * batch,) + x.shape[1:]))
    g = g.reshape((mc,) + x.shape)  # --> [Mc, B, D...]
    return total + jnp.tensordot(weight, g, axes=1).astype(total.dtype), None

  total, _ = jax.lax.scan(chunk, jnp.zeros_like(x),
                          (jnp.asarray(alphas, x.dtype), jnp.asarray(weights, x.dtype)))
  return total
