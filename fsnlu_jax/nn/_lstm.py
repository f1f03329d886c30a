"""A bidirectional LSTM layer that holds its weights and calls the kernel.

Shapes: ``B`` batch, ``L`` padded length, ``D`` input width (``in_features``),
``H`` hidden width per direction.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx

from fsnlu_jax.kernels import LSTMParams, bilstm, bilstm_from_projection, bilstm_projection


class LSTMWeights(nnx.Module):
  """The weights of one LSTM direction, gates packed ``i, f, g, o``.

  Attributes:
    w_ih: ``[D, 4H]`` input-to-gates (``torch`` ``weight_ih_l0.T``).
    w_hh: ``[H, 4H]`` hidden-to-gates (``torch`` ``weight_hh_l0.T``).
    b: ``[4H]`` gate bias (``torch`` ``bias_ih_l0 + bias_hh_l0``).
  """

  def __init__(self, in_features: int, hidden: int, *, forget_bias: float,
               param_dtype: jnp.dtype, rngs: nnx.Rngs):
    # PyTorch's init: every weight and bias uniform in +-1/sqrt(H).
    bound = 1.0 / math.sqrt(hidden)
    uniform = lambda shape: jax.random.uniform(
        rngs.params(), shape, param_dtype, minval=-bound, maxval=bound)
    self.w_ih = nnx.Param(uniform((in_features, 4 * hidden)))
    self.w_hh = nnx.Param(uniform((hidden, 4 * hidden)))
    offset = jnp.zeros((4 * hidden,), param_dtype).at[hidden:2 * hidden].set(forget_bias)
    self.b = nnx.Param(uniform((4 * hidden,)) + offset)

  def params(self) -> LSTMParams:
    """The weights as the kernel's :class:`~fsnlu_jax.kernels.LSTMParams`."""
    return LSTMParams(w_ih=self.w_ih[...], w_hh=self.w_hh[...], b=self.b[...])


class BiLSTM(nnx.Module):
  """One bidirectional LSTM layer over a right-padded batch.

  The building block of the multitask bi-LSTM of Goyal et al. (2018): the
  per-token outputs feed a slot tagger or the next layer, the concatenated
  final states are the sentence vector of an intent head.

  The forget-gate bias starts at ``forget_bias`` (default 1.0) plus the
  uniform draw: a forget gate near 0.5 at initialisation halves the cell
  state every step and starves long-range gradients; Jozefowicz et al. (2015)
  found the +1 offset helps an LSTM as much as most architecture changes.
  ``forget_bias=0.0`` gives PyTorch's initial distribution (up to PyTorch
  drawing two biases and summing them).

  >>> from flax import nnx
  >>> import jax.numpy as jnp
  >>> layer = BiLSTM(4, 3, rngs=nnx.Rngs(0))
  >>> out, final = layer(jnp.ones((2, 5, 4)), jnp.ones((2, 5), bool))
  >>> out.shape, final.shape
  ((2, 5, 6), (2, 6))

  Attributes:
    fwd: :class:`LSTMWeights` of the left-to-right direction.
    bwd: :class:`LSTMWeights` of the right-to-left direction.

  References:
    Goyal, Metallinou & Matsoukas, "Fast and Scalable Expansion of Natural
    Language Understanding Functionality for Intelligent Agents", NAACL 2018;
    Jozefowicz, Zaremba & Sutskever, "An Empirical Exploration of Recurrent
    Network Architectures", ICML 2015.
  """

  def __init__(self, in_features: int, hidden: int, *, forget_bias: float = 1.0,
               param_dtype: jnp.dtype = jnp.float32, unroll: int = 1, rngs: nnx.Rngs):
    """Builds both directions' weights.

    Args:
      in_features: ``D``.
      hidden: ``H``, per direction (outputs are ``2H`` wide).
      forget_bias: added to the forget-gate bias at initialisation.
      param_dtype: dtype of the weights.
      unroll: scan steps per loop iteration (a speed knob, same result).
      rngs: draws the initial weights from its ``params`` stream.
    """
    self.in_features, self.hidden, self.unroll = in_features, hidden, unroll
    kwargs = dict(forget_bias=forget_bias, param_dtype=param_dtype, rngs=rngs)
    self.fwd = LSTMWeights(in_features, hidden, **kwargs)
    self.bwd = LSTMWeights(in_features, hidden, **kwargs)

  def __call__(self, x: jax.Array, mask: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Runs both directions.

    Args:
      x: ``[B, L, D]`` inputs.
      mask: ``[B, L]`` bool, True on a prefix of real positions per row.

    Returns:
      ``(outputs, final)``: ``outputs`` ``[B, L, 2H]`` per-token features
      (forward first, zero at padding); ``final`` ``[B, 2H]``, the forward
      hidden state at each row's last real token concatenated with the
      backward one at its first token (the sentence vector).
    """
    outputs, (fwd, bwd) = bilstm(x, mask, self.fwd.params(), self.bwd.params(),
                                 unroll=self.unroll)
    return outputs, jnp.concatenate([fwd.h, bwd.h], axis=-1)  # --> [B, 2H]

  def project(self, x: jax.Array) -> jax.Array:
    """The layer's affine part, token by token: ``[B, L, D]`` -> ``[B, L, 2, 4H]``.

    ``from_projection(project(x), mask) == layer(x, mask)``; integrated
    gradients runs its path after this map (it is affine in ``x``).
    """
    return bilstm_projection(x, self.fwd.params(), self.bwd.params())

  def from_projection(self, xp: jax.Array, mask: jax.Array) -> tuple[jax.Array, jax.Array]:
    """:meth:`__call__` from :meth:`project`'s ``[B, L, 2, 4H]`` output."""
    outputs, (fwd, bwd) = bilstm_from_projection(xp, mask, self.fwd.w_hh[...], self.bwd.w_hh[...],
                                                 unroll=self.unroll)
    return outputs, jnp.concatenate([fwd.h, bwd.h], axis=-1)  # --> [B, 2H]
