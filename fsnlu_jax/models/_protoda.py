"""ProtoNet and ProtoDA's neural generator over a sentence encoder.

sentence encoder (``D_s``, 768 by default) -> ProtoNet (an MLP into ``D_p``,
128) -> prototypes = mean of each way's support embeddings -> queries scored
by distance to the prototypes.

ProtoDA adds ``Ks`` synthetic support samples per way, made by a generator from
a real shot and noise, and labelled as that shot's way. The generator sits
after the ProtoNet (``placement="proto"``, ``D_p``; best in the paper) or
after the encoder (``"sentence"``, ``D_s``, then the ProtoNet embeds the
synthetic samples too). Nothing but the ProtoNet loss trains it: a synthetic
sample is useful exactly when it moves its prototype so that queries are
classified better. The Gaussian-noise baseline makes its samples as
``seed + sigma * z`` at the same place, through the same kernel.

Generator design (the paper gives the idea, not the layers; what we chose):
``g(x, z) = x + MLP([x; z])`` with the last layer initialised to zero, so it
starts as the identity and the early, untrained generator only duplicates
real shots instead of pulling prototypes off with noise (the hallucinator
of Wang et al. 2018 is also initialised near the identity).

That generator sees one shot and noise, not its class: its class-specific
move of a prototype stays small. ``generator="class"`` conditions it on the
class context, the prototype ``c`` of the way's real shots and their radius
``r`` (the largest distance of a shot from ``c``): ``g(x, c, r, z) = x + r *
u / max(1, |u|)`` with ``u = MLP([x - c; c; z])``. It learns which moves are
plausible *for that class* (the difference-transfer view of Kumar et al.
2019: a sample is a real shot moved by a learned within-class difference),
and a move is never longer than the class's own spread, so a sample stays
within ``2 r`` of its prototype: it carries its class wherever classes are
further apart than that. It also starts as the identity. With one shot
(``r = 0``) it duplicates the shot, as there is no spread to transfer. Both
placements (``"proto"``, ``"sentence"``) take either generator.

Shapes: ``E`` episodes, ``N`` ways, ``K`` shots, ``Q`` queries per way,
``L`` tokens, ``D_s`` sentence width, ``D_p`` ProtoNet width, ``Ks``
synthetic samples per way, ``Z`` generator noise width.

References:
  Snell, Swersky & Zemel, "Prototypical Networks for Few-shot Learning",
  NeurIPS 2017.
  Kumar et al., "ProtoDA: Efficient Transfer Learning for Few-Shot Intent
  Classification", IEEE SLT 2021.
  Wang, Girshick, Hebert & Hariharan, "Low-Shot Learning from Imaginary
  Data", CVPR 2018.
  Kumar, Glaude, de Lichy & Campbell, "A Closer Look at Feature Space Data
  Augmentation for Few-Shot Intent Classification", DeepLo 2019.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal, Mapping

import jax
import jax.numpy as jnp
from flax import nnx

from fsnlu_jax import kernels

Augment = Literal["none", "gaussian", "generator"]
Placement = Literal["proto", "sentence"]
Metric = Literal["euclidean", "cosine"]
GeneratorKind = Literal["shot", "class"]


@dataclasses.dataclass(frozen=True)
class ProtoDAConfig:
  """Sizes and choices of a :class:`FewShotModel`.

  Attributes:
    input_dim: ``D_s``, the sentence encoder's width.
    proto_dim: ``D_p``, the ProtoNet's output width.
    proto_hidden: hidden width of the ProtoNet MLP; 0: a single linear map.
    augment: ``"none"`` (ProtoNet), ``"gaussian"`` (noise baseline) or
      ``"generator"`` (ProtoDA).
    placement: where synthetic samples are made: ``"proto"`` (``D_p``) or
      ``"sentence"`` (``D_s``).
    n_synthetic: ``Ks``, synthetic samples per way.
    noise_dim: ``Z`` for the generator (the Gaussian baseline uses the width
      of the placement).
    noise_scale: ``sigma`` of the Gaussian baseline.
    generator_hidden: hidden width of the generator MLP.
    generator: ``"shot"``: ``x + MLP([x; z])``; ``"class"``: conditioned on
      the way's prototype ``c``, ``x + MLP([x - c; c; z])`` (module docs).
    metric: ``"euclidean"`` (squared) or ``"cosine"``.
    scale: multiplies the metric into logits.
    proto_init: ``"lecun"`` (random) or ``"identity"``: a linear ProtoNet with
      ``D_p = D_s`` that starts as the identity, so training starts from the
      nearest-class-mean classifier of a pretrained encoder's own geometry.
  """

  input_dim: int = 768
  proto_dim: int = 128
  proto_hidden: int = 256
  augment: Augment = "none"
  placement: Placement = "proto"
  n_synthetic: int = 5
  noise_dim: int = 32
  noise_scale: float = 0.1
  generator_hidden: int = 256
  generator: GeneratorKind = "shot"
  metric: Metric = "euclidean"
  scale: float = 1.0
  proto_init: Literal["lecun", "identity"] = "lecun"

  def __post_init__(self):
    if self.proto_init == "identity" and (self.proto_hidden or self.proto_dim != self.input_dim):
      raise ValueError("proto_init='identity' needs proto_hidden=0 and proto_dim == input_dim, "
                       f"got {self.proto_hidden} and {self.proto_dim} != {self.input_dim}")
    if self.augment not in ("none", "gaussian", "generator"):
      raise ValueError(f"augment must be 'none', 'gaussian' or 'generator', got {self.augment!r}")
    if self.generator not in ("shot", "class"):
      raise ValueError(f"generator must be 'shot' or 'class', got {self.generator!r}")
    if self.placement not in ("proto", "sentence"):
      raise ValueError(f"placement must be 'proto' or 'sentence', got {self.placement!r}")
    if self.augment != "none" and self.n_synthetic < 1:
      raise ValueError(f"augment={self.augment!r} needs n_synthetic >= 1")

  @property
  def augment_dim(self) -> int:
    """Width of the space where synthetic samples live."""
    return self.proto_dim if self.placement == "proto" else self.input_dim

  @property
  def noise_width(self) -> int:
    """``Z``: the generator's noise, or the full sample width for Gaussian noise."""
    return self.noise_dim if self.augment == "generator" else self.augment_dim


def _identity_init(key, shape, dtype=jnp.float32):
  del key
  return jnp.eye(*shape, dtype=dtype)


class ProtoNet(nnx.Module):
  """The embedding into prototype space: ``[..., D_s] -> [..., D_p]``."""

  def __init__(self, input_dim: int, output_dim: int, hidden: int, *, identity: bool = False,
               rngs: nnx.Rngs):
    if hidden:
      self.layers = nnx.List([nnx.Linear(input_dim, hidden, rngs=rngs),
                              nnx.Linear(hidden, output_dim, rngs=rngs)])
    else:
      init = dict(kernel_init=_identity_init) if identity else {}
      self.layers = nnx.List([nnx.Linear(input_dim, output_dim, rngs=rngs, **init)])

  def __call__(self, x: jax.Array) -> jax.Array:
    for layer in self.layers[:-1]:
      x = jax.nn.relu(layer(x))
    return self.layers[-1](x)


class Generator(nnx.Module):
  """ProtoDA's conditional generator of one sample: ``(x [D], z [Z]) -> [D]``.

  ``x + MLP([x; z])``, starting as the identity (module docs). It works on
  any leading axes too, but :func:`~fsnlu_jax.kernels.synthesize` ``vmap``-s
  it over ways and samples.
  """

  def __init__(self, dim: int, noise_dim: int, hidden: int, *, rngs: nnx.Rngs):
    self.hidden = nnx.Linear(dim + noise_dim, hidden, rngs=rngs)
    self.out = nnx.Linear(hidden, dim, kernel_init=nnx.initializers.zeros, rngs=rngs)

  def __call__(self, x: jax.Array, z: jax.Array) -> jax.Array:
    h = jax.nn.leaky_relu(self.hidden(jnp.concatenate([x, z], axis=-1)))
    return x + self.out(h)


class ClassGenerator(nnx.Module):
  """The class-aware generator ``(x [D], c [D], r [], z [Z]) -> [D]`` (module docs).

  ``x + r * u / max(1, |u|)``, ``u = MLP([x - c; c; z])``: ``c`` the
  prototype of the way's real shots, ``r`` their radius. The last layer
  starts at zero (the identity, as :class:`Generator`).
  """

  def __init__(self, dim: int, noise_dim: int, hidden: int, *, rngs: nnx.Rngs):
    self.hidden = nnx.Linear(2 * dim + noise_dim, hidden, rngs=rngs)
    self.out = nnx.Linear(hidden, dim, kernel_init=nnx.initializers.zeros, rngs=rngs)

  def __call__(self, x: jax.Array, c: jax.Array, r: jax.Array, z: jax.Array) -> jax.Array:
    u = self.out(jax.nn.leaky_relu(self.hidden(jnp.concatenate([x - c, c, z], axis=-1))))
    return x + r * u / jnp.maximum(1.0, jnp.linalg.norm(u, axis=-1, keepdims=True))


class FewShotModel(nnx.Module):
  """Encoder (optional), ProtoNet and, for ProtoDA, the generator.

  >>> from flax import nnx
  >>> import jax, jax.numpy as jnp
  >>> cfg = ProtoDAConfig(input_dim=6, proto_dim=4, proto_hidden=8, augment="generator",
  ...                     n_synthetic=2, noise_dim=3, generator_hidden=5)
  >>> model = FewShotModel(cfg, rngs=nnx.Rngs(0))
  >>> logits = episode_logits(model, jnp.ones((3, 2, 6)), jnp.ones((3, 2), bool),
  ...                         jnp.ones((4, 6)), jnp.ones(3, bool), True, jax.random.key(0))
  >>> logits.shape  # [Q, N]
  (4, 3)

  Args:
    config: a :class:`ProtoDAConfig`.
    encoder: a module with ``encode(token_ids [B, L], mask [B, L]) -> [B, D_s]``
      (e.g. :class:`~fsnlu_jax.models.MultitaskBiLSTM`), trained with the
      rest; None: episodes hold precomputed ``[..., D_s]`` embeddings.
    rngs: initialisation randomness.
  """

  def __init__(self, config: ProtoDAConfig, *, encoder: nnx.Module | None = None,
               rngs: nnx.Rngs):
    self.config = config
    self.encoder = encoder
    self.protonet = ProtoNet(config.input_dim, config.proto_dim, config.proto_hidden,
                             identity=config.proto_init == "identity", rngs=rngs)
    kind = ClassGenerator if config.generator == "class" else Generator
    self.generator = (kind(config.augment_dim, config.noise_dim, config.generator_hidden,
                           rngs=rngs) if config.augment == "generator" else None)

  def sentences(self, inputs: Mapping[str, jax.Array], name: str) -> jax.Array:
    """Sentence vectors ``[..., D_s]`` of ``inputs[name]``.

    With an encoder, ``inputs[name]`` is token ids ``[..., L]`` and
    ``inputs[name + "_tokens"]`` their mask; all rows go through the encoder
    in one batch. Without, ``inputs[name]`` already is ``[..., D_s]``.
    """
    x = inputs[name]
    if self.encoder is None:
      return x
    lead, length = x.shape[:-1], x.shape[-1]
    flat = self.encoder.encode(x.reshape(-1, length),
                               inputs[name + "_tokens"].reshape(-1, length))  # --> [B, D_s]
    return flat.reshape(*lead, flat.shape[-1])

  def make_sample(self, x: jax.Array, z: jax.Array) -> jax.Array:
    """One synthetic sample ``[D]`` from seed ``x [D]`` and noise ``z [Z]``.

    The class-aware generator's ``z`` is ``[c; r; noise]``: its way's
    prototype and radius travel with the noise through
    :func:`~fsnlu_jax.kernels.synthesize` (see :func:`_augment`).
    """
    if self.config.augment == "generator" and self.config.generator == "class":
      d = x.shape[-1]
      return self.generator(x, z[..., :d], z[..., d], z[..., d + 1:])
    if self.config.augment == "generator":
      return self.generator(x, z)
    return x + self.config.noise_scale * z


def _augment(model: FewShotModel, support: jax.Array, mask: jax.Array, on: jax.Array,
             key: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Real shots followed by ``Ks`` synthetic ones: ``([N, K+Ks, D], [N, K+Ks])``."""
  n, m = support.shape[0], model.config.n_synthetic
  noise = jax.random.normal(key, (n, m, model.config.noise_width), support.dtype)
  if model.config.augment == "generator" and model.config.generator == "class":
    # The class context rides with the noise: each way's prototype of real
    # shots [N, D] and their radius [N].
    protos = kernels.prototypes(support, mask)
    dist = jnp.linalg.norm(support - protos[:, None], axis=-1)  # --> [N, K]
    radius = jnp.max(jnp.where(mask, dist, 0.0), axis=-1)
    context = jnp.concatenate([protos, radius[:, None]], axis=-1)  # --> [N, D + 1]
    noise = jnp.concatenate([jnp.broadcast_to(context[:, None], (n, m, context.shape[-1])),
                             noise], axis=-1)
  synthetic, synthetic_mask = kernels.synthesize(model.make_sample, support, mask, noise)
  return (jnp.concatenate([support, synthetic], axis=1),
          jnp.concatenate([mask, synthetic_mask & on], axis=1))


def episode_logits(model: FewShotModel, support: jax.Array, support_mask: jax.Array,
                   query: jax.Array, way_mask: jax.Array, augment: jax.Array | bool,
                   key: jax.Array) -> jax.Array:
  """Query logits of one episode, from sentence vectors.

  Args:
    model: a :class:`FewShotModel`.
    support: ``[N, K, D_s]``.
    support_mask: ``[N, K]`` bool.
    query: ``[Q, D_s]``, any queries (e.g. the ``N * Q`` of an episode, or a
      whole test split for FS-full).
    way_mask: ``[N]`` bool.
    augment: ``[]`` bool; False turns synthetic samples off (ProtoNet
      warm-up) without recompiling.
    key: the noise of this episode's synthetic samples.

  Returns:
    ``[Q, N]``.
  """
  c = model.config
  on = jnp.asarray(augment, bool) & (c.augment != "none")
  if c.augment != "none" and c.placement == "sentence":
    support, support_mask = _augment(model, support, support_mask, on, key)
  s = model.protonet(support)  # --> [N, K(+Ks), D_p]
  if c.augment != "none" and c.placement == "proto":
    s, support_mask = _augment(model, s, support_mask, on, key)
  q = model.protonet(query)  # --> [Q, D_p]
  protos = kernels.prototypes(s, support_mask)
  return kernels.protonet_logits(q, protos, way_mask, metric=c.metric, scale=c.scale)


def batch_logits(model: FewShotModel, batch: Mapping[str, Any], key: jax.Array) -> jax.Array:
  """Logits ``[E, N * Q, N]`` of a batch of episodes, ``vmap``-ped over ``E``.

  ``batch`` holds ``support`` ``[E, N, K, D_s]`` (or token ids ``[E, N, K,
  L]`` with ``support_tokens``), ``support_mask`` ``[E, N, K]``, ``query``
  ``[E, N, Q, ...]`` (with ``query_tokens``), ``query_mask`` ``[E, N, Q]``,
  ``way_mask`` ``[E, N]``, ``augment`` ``[E]`` bool and ``noise_seed`` ``[E]``
  int (folded into ``key`` for that episode's synthetic samples).
  """
  support = model.sentences(batch, "support")  # encoder runs once, on all episodes
  query = model.sentences(batch, "query")
  e, n, q, d = query.shape
  query = query.reshape(e, n * q, d)  # --> [E, N * Q, D_s]; query i is of way i // Q
  # Each episode's noise is a function of its own seed, so an episode gets the
  # same synthetic samples whichever device or chunk it lands in.
  keys = jax.vmap(lambda s: jax.random.fold_in(key, s))(batch["noise_seed"])
  one = lambda s, sm, q, wm, a, k: episode_logits(model, s, sm, q, wm, a, k)
  return jax.vmap(one)(support, batch["support_mask"], query, batch["way_mask"],
                       batch["augment"], keys)


def episodic_loss(model: FewShotModel, batch: Mapping[str, Any], rngs: nnx.Rngs | None
                  ) -> tuple[jax.Array, dict[str, jax.Array]]:
  """The ProtoNet loss of a batch of episodes, in the train step's contract.

  Returns ``(loss_sum, aux)``: the cross-entropy summed over every real query
  of every episode, ``aux["count"]`` the number of those queries and
  ``aux["correct"]`` how many were right (see :mod:`fsnlu_jax.train.step`).
  The synthetic samples' noise comes from each episode's ``noise_seed``, not
  from ``rngs`` (which the step makes different per device), so a step's
  result does not depend on how episodes are spread over devices.
  """
  del rngs
  key = jax.random.key(0)
  logits = batch_logits(model, batch, key)  # --> [E, N * Q, N]
  labels = kernels.query_labels(batch["query_mask"])
  mask = batch["query_mask"].reshape(labels.shape)
  loss_sum, count = kernels.protonet_loss(logits, labels, mask)
  correct = jnp.sum((jnp.argmax(logits, -1) == labels) & mask)
  return loss_sum.sum(), dict(count=count.sum(), correct=correct)


def episode_scores(model: FewShotModel, batch: Mapping[str, Any], key: jax.Array
                   ) -> dict[str, jax.Array]:
  """Per-episode ``accuracy`` and ``macro_f1``, each ``[E]``, and ``pred``
  ``[E, N * Q]`` (the predicted way of each query)."""
  logits = batch_logits(model, batch, key)
  labels = kernels.query_labels(batch["query_mask"])
  mask = batch["query_mask"].reshape(labels.shape)
  return dict(accuracy=kernels.episode_accuracy(logits, labels, mask),
              macro_f1=kernels.episode_macro_f1(logits, labels, mask, batch["way_mask"]),
              pred=jnp.argmax(logits, -1))
