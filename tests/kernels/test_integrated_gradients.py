"""Integrated gradients: completeness, closed forms, chunking, batching, one compile."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fsnlu_jax.kernels import IG_METHODS, ig_quadrature, integrated_gradients

IG_STATIC = ("steps", "method", "chunk_size")


def _mlp(seed: int = 0, d: int = 6, h: int = 16):
  """A small tanh/softplus network ``[D] -> []`` and a batch of inputs ``[4, D]``."""
  k1, k2, k3, k4 = jax.random.split(jax.random.key(seed), 4)
  w1 = jax.random.normal(k1, (d, h)) / np.sqrt(d)
  w2 = jax.random.normal(k2, (h, h)) / np.sqrt(h)
  v = jax.random.normal(k3, (h,))

  def f(x):
    z = jnp.tanh(x @ w1)
    return jnp.dot(jax.nn.softplus(z @ w2) - 0.5, v)

  return f, jax.random.normal(k4, (4, d))


@pytest.mark.parametrize("method", ["gausslegendre", "riemann_trapezoid", "riemann_middle"])
def test_completeness_on_a_nonlinear_model_at_64_steps(method):
  f, x = _mlp()
  res = integrated_gradients(f, x, 0.0, steps=64, method=method)
  delta = res.value - res.baseline_value
  assert np.all(np.abs(delta) > 0.05)  # a gap relative to a non-trivial change
  np.testing.assert_array_less(np.abs(res.gap) / np.abs(delta), 1e-3)
  np.testing.assert_allclose(res.gap, res.attributions.sum(1) - delta, atol=1e-6)
  np.testing.assert_allclose(res.value, jax.vmap(f)(x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("method", IG_METHODS)
def test_linear_model_gives_input_times_weights(method):
  w = jnp.array([[1.5, -2.0, 0.25], [0.5, 3.0, -1.0]])
  f = lambda x: jnp.sum(w * x) + 7.0
  x, baseline = jnp.arange(12.0).reshape(2, 2, 3) / 5, jnp.full((2, 3), -0.3)
  res = integrated_gradients(f, x, baseline, steps=7, method=method, chunk_size=3)
  # The weights of every rule sum to 1, so only float rounding separates these.
  np.testing.assert_allclose(res.attributions, (x - baseline) * w, rtol=1e-6, atol=1e-7)
  np.testing.assert_allclose(res.gap, 0.0, atol=1e-5)


def test_polynomial_closed_form():
  # f = x0 * x1 + x2**3 from a zero baseline: IG = (x0 x1 / 2, x0 x1 / 2, x2**3),
  # integrated exactly by Gauss-Legendre with 2 points (degree <= 3).
  f = lambda x: x[0] * x[1] + x[2] ** 3
  x = jnp.array([[1.0, 2.0, 3.0], [-0.5, 4.0, 0.5]])
  res = integrated_gradients(f, x, 0.0, steps=2)
  p = x[:, 0] * x[:, 1]
  np.testing.assert_allclose(res.attributions, jnp.stack([p / 2, p / 2, x[:, 2] ** 3], 1),
                             rtol=1e-6)


@pytest.mark.parametrize("chunk_size", [1, 6, 16, 64])
def test_chunked_equals_unchunked(chunk_size):
  f, x = _mlp(1)
  whole = integrated_gradients(f, x, 0.0, steps=16, method="riemann_trapezoid")
  chunked = integrated_gradients(f, x, 0.0, steps=16, method="riemann_trapezoid",
                                 chunk_size=chunk_size)  # 6: 3 x 6, 2 padded
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6),
               chunked, whole)


def test_batched_equals_per_example_with_per_example_args():
  f, x = _mlp(2)
  g = lambda xb, mask, scale: scale * f(jnp.where(mask, xb, 0.0))
  mask = jnp.arange(6)[None, :] < jnp.array([[6], [3], [1], [4]])  # --> [4, 6]
  scale = jnp.array([1.0, -2.0, 0.5, 3.0])
  batched = integrated_gradients(g, x, 0.1, mask, scale, steps=12, chunk_size=4)
  for b in range(x.shape[0]):
    one = integrated_gradients(g, x[b:b + 1], 0.1, mask[b:b + 1], scale[b:b + 1], steps=12)
    jax.tree.map(lambda a, o, b=b: np.testing.assert_allclose(a[b], o[0], rtol=1e-5, atol=1e-5),
                 batched, one)
  # Masked-out coordinates do not move f, so they get nothing.
  np.testing.assert_array_equal(np.where(mask, 0.0, batched.attributions), 0.0)


@pytest.mark.parametrize("chunk_size", [None, 5])
def test_rows_mode_equals_per_example(chunk_size):
  """``rows=True``: ``f`` on a batch of rows (here written with batch matmuls, not
  ``vmap``) gives the per-example attributions, gap and values, with ``prefix`` too."""
  _, x = _mlp(2)  # --> [4, 6]
  k1, k2 = jax.random.split(jax.random.key(5))
  w1, w2 = jax.random.normal(k1, (6, 8)), jax.random.normal(k2, (8,))
  one = lambda xb, mask, scale: scale * (jnp.tanh(jnp.where(mask, xb, 0.0) @ w1) @ w2)
  rows = lambda xr, mask, scale: scale * (jnp.tanh(jnp.where(mask, xr, 0.0) @ w1) @ w2)  # [R]
  mask = jnp.arange(6)[None, :] < jnp.array([[6], [3], [1], [4]])  # --> [4, 6]
  scale = jnp.array([1.0, -2.0, 0.5, 3.0])
  kw = dict(steps=12, chunk_size=chunk_size)
  jax.tree.map(lambda a, o: np.testing.assert_allclose(a, o, rtol=1e-5, atol=1e-6),
               integrated_gradients(rows, x, 0.1, mask, scale, rows=True, **kw),
               integrated_gradients(one, x, 0.1, mask, scale, **kw))
  prefix = lambda x_b: 2.0 * x_b - 0.5  # affine, [6] -> [6]
  jax.tree.map(lambda a, o: np.testing.assert_allclose(a, o, rtol=1e-5, atol=1e-6),
               integrated_gradients(rows, x, 0.1, mask, scale, rows=True, prefix=prefix, **kw),
               integrated_gradients(one, x, 0.1, mask, scale, prefix=prefix, **kw))


@pytest.mark.parametrize("chunk_size", [None, 5])
def test_affine_prefix_gives_the_attributions_of_the_composition(chunk_size):
  f, _ = _mlp(3, d=6)
  k1, k2 = jax.random.split(jax.random.key(4))
  w, b = jax.random.normal(k1, (4, 6)), jax.random.normal(k2, (6,))
  prefix = lambda x_b: x_b @ w + b  # [L, 4] -> [L, 6]; f reads [6] rows, summed over L
  g = lambda z_b, scale: scale * jnp.sum(jax.vmap(f)(z_b))
  x = jax.random.normal(k2, (3, 5, 4))  # --> [B, L, 4]
  scale = jnp.array([1.0, -0.5, 2.0])
  composed = integrated_gradients(lambda x_b, s: g(prefix(x_b), s), x, 0.2, scale, steps=20,
                                  chunk_size=chunk_size)
  hoisted = integrated_gradients(g, x, 0.2, scale, steps=20, chunk_size=chunk_size,
                                 prefix=prefix)
  jax.tree.map(lambda a, o: np.testing.assert_allclose(a, o, rtol=1e-5, atol=1e-5),
               hoisted, composed)


def test_jit_equals_eager_and_second_call_does_not_retrace():
  f, x = _mlp(3)
  traces = []

  def counted(xb):
    traces.append(1)  # Python side effect: runs only while tracing
    return f(xb)

  ig = jax.jit(integrated_gradients, static_argnums=0, static_argnames=IG_STATIC)
  got = ig(counted, x, jnp.zeros(6), steps=10, chunk_size=5)
  n_traces = len(traces)
  again = ig(counted, x * 2.0, jnp.ones(6), steps=10, chunk_size=5)  # new values, same shapes
  assert len(traces) == n_traces
  assert ig._cache_size() == 1  # pylint: disable=protected-access
  eager = integrated_gradients(f, x, jnp.zeros(6), steps=10, chunk_size=5)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), got, eager)
  assert np.all(np.isfinite(again.attributions))


def _temp_bytes(steps: int, chunk_size: int | None) -> int:
  f, x = _mlp(4, d=32, h=64)
  x = jnp.tile(x, (16, 1))  # --> [64, 32]
  run = lambda x: integrated_gradients(f, x, 0.0, steps=steps, method="riemann_trapezoid",
                                       chunk_size=chunk_size).attributions
  return jax.jit(run).lower(x).compile().memory_analysis().temp_size_in_bytes


def test_peak_memory_is_flat_in_steps_when_chunked():
  small, large = _temp_bytes(16, 8), _temp_bytes(512, 8)
  assert large <= 1.1 * small + 4096
  assert _temp_bytes(512, None) > 4 * large  # unchunked grows with M


def test_quadrature_rules():
  for method in IG_METHODS:
    alphas, weights = ig_quadrature(9, method)
    assert alphas.shape == weights.shape == (9,)
    np.testing.assert_allclose(weights.sum(), 1.0, rtol=1e-12)
    assert np.all((alphas >= 0) & (alphas <= 1))
  alphas, weights = ig_quadrature(4, "gausslegendre")
  np.testing.assert_allclose(np.dot(weights, alphas ** 7), 1 / 8, rtol=1e-12)  # exact to 2M - 1
  with pytest.raises(ValueError, match="method"):
    ig_quadrature(4, "simpson")
  with pytest.raises(ValueError, match="steps"):
    ig_quadrature(1, "riemann_trapezoid")
  with pytest.raises(TypeError, match="floating"):
    integrated_gradients(lambda x: x.sum(), jnp.arange(3)[None], 0, steps=2)
