"""The network of the paper (§3, Figure 2) as a Flax NNX module.

The forward pass is the program that *one device* runs. A device holds the
kernels of ``towers // model_axis_size`` of the paper's two towers (§3.2): all
of them on a 1×1 mesh, one each when the ``model`` axis has size 2. It computes
its towers' activations and calls :func:`alexnet.model.towers.exchange` at the four
places where the paper's GPUs communicated: the inputs of conv3, fc6, fc7 and
fc8. :class:`alexnet.model.parallel.ShardedAlexNet` runs this program under ``jax.shard_map`` on
any ``('data', 'model')`` mesh; parameters always have their global shapes.

Every choice the paper makes is a field of :class:`alexnet.config.ModelConfig` whose default
is the paper's value; ``docs/design.md`` lists where implementations differ.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import jax
import jax.numpy as jnp
from flax import nnx

from alexnet.config import ModelConfig
from alexnet.model import lowering, towers

# model.activation's values (config.ACTIVATIONS), as functions.
ACTIVATION_FUNCTIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    'relu': jax.nn.relu,  # §3.1: "Rectified Linear Units"
    'tanh': jnp.tanh,  # §3.1, Figure 1: the saturating baseline
}
CONV_LAYERS = ('conv1', 'conv2', 'conv3', 'conv4', 'conv5')
FC_LAYERS = ('fc6', 'fc7', 'fc8')
LAYERS = CONV_LAYERS + FC_LAYERS
# Every output the forward pass sows (nnx.Intermediate, under its name), in order.
LAYER_OUTPUTS = ('conv1', 'pool1', 'conv2', 'pool2', 'conv3', 'conv4', 'conv5', 'pool5', 'fc6',
                 'fc7', 'fc8')
# The forward pass's stages in order, each under its jax.named_scope: what profiles show.
STAGES = ('conv1', 'norm1', 'pool1', 'conv2', 'norm2', 'pool2', 'conv3', 'conv4', 'conv5', 'pool5',
          'fc6', 'fc7', 'fc8')
DROPOUT_LAYERS = ('fc6', 'fc7')  # §4.2: dropout on the first two fully-connected layers

# Kernels per tower (§3.5, Figure 2). towers=2 is the paper's net; towers=1 is the
# one-GPU comparison net of §3.5's footnote, which halves conv1-conv4 and keeps
# conv5 and the fully-connected layers at full size.
_FEATURES_PER_TOWER = {
    2: dict(conv1=48, conv2=128, conv3=192, conv4=192, conv5=128, fc6=2048, fc7=2048),
    1: dict(conv1=48, conv2=128, conv3=192, conv4=192, conv5=256, fc6=4096, fc7=4096),
}

# (kernel std, bias) per layer. 'paper' is §5; 'caffe' is bvlc_alexnet, which found
# bias 1 left the loss flat and used std 0.005 / bias 0.1 on fc6 and fc7.
_INIT_TABLES = {
    'paper': dict(conv1=(0.01, 0.0), conv2=(0.01, 1.0), conv3=(0.01, 0.0), conv4=(0.01, 1.0),
                  conv5=(0.01, 1.0), fc6=(0.01, 1.0), fc7=(0.01, 1.0), fc8=(0.01, 0.0)),
    'caffe': dict(conv1=(0.01, 0.0), conv2=(0.01, 0.1), conv3=(0.01, 0.0), conv4=(0.01, 0.1),
                  conv5=(0.01, 0.1), fc6=(0.005, 0.1), fc7=(0.005, 0.1), fc8=(0.01, 0.0)),
}

# model.init's values (config.INITS) as (layer, fan_in) → (kernel std, bias). 'he' is He et
# al. (2015): std √(2 / fan_in), zero bias (not in the paper; it trains deep ReLU nets from
# the start).
INIT_RULES: dict[str, Callable[[str, int], tuple[float, float]]] = {
    **{name: lambda layer, fan_in, table=table: table[layer]
       for name, table in _INIT_TABLES.items()},
    'he': lambda layer, fan_in: (math.sqrt(2.0 / fan_in), 0.0),
}  # yapf: disable (yapf would split `.items()` after its opening parenthesis)


def layer_features(config: ModelConfig) -> dict[str, int]:
  """Kernels (or neurons) of each layer, summed over the towers."""
  per_tower = _FEATURES_PER_TOWER[config.towers]
  features = {
      name: config.towers * max(1, round(n * config.width)) for name, n in per_tower.items()
  }
  features['fc8'] = config.num_classes
  return features


def pool_geometry(config: ModelConfig) -> tuple[int, int]:
  """(window, stride) of every max-pool: §3.4's overlapping 3 and 2, or 2 and 2."""
  return (3 if config.overlapping_pool else 2), 2


def conv1_padding(config: ModelConfig) -> tuple[int, int]:
  """Padding of conv1 so that its last window fits exactly (§3.5, paper.md).

  227 needs none (55×55); 224 needs 3 on the far side, as cuda-convnet's
  overhanging last window, so the map is still 55×55.
  """
  return 0, (-(config.image_size - config.conv1_kernel)) % config.conv1_stride


def pooled_size(size: int, window: int, stride: int) -> int:
  """Side of a max-pooled map: floor mode as in the paper, never below 1."""
  return max(1, (size - window) // stride + 1)


def feature_map_sizes(config: ModelConfig) -> dict[str, int]:
  """Side of each layer's square output map: 55, 27, 27, 13, 13, 13, 13, 6 for the paper."""
  low, high = conv1_padding(config)
  conv1 = (config.image_size + low + high - config.conv1_kernel) // config.conv1_stride + 1
  pool1 = pooled_size(conv1, *pool_geometry(config))
  pool2 = pooled_size(pool1, *pool_geometry(config))
  pool5 = pooled_size(pool2, *pool_geometry(config))
  return dict(conv1=conv1, pool1=pool1, conv2=pool1, pool2=pool2, conv3=pool2, conv4=pool2,
              conv5=pool2, pool5=pool5)


def max_pool(x: jax.Array, window: int, stride: int) -> jax.Array:
  """Max-pooling over the spatial axes (§3.4), as in the paper (no padding).

  A map smaller than the window (tiny inputs only) is padded with -inf on the far
  side so that it pools to 1×1 rather than vanishing. :mod:`alexnet.model.lowering` chooses
  the lowering for the backend.
  """
  height, width = x.shape[1:3]
  padding = ((0, 0), (0, max(0, window - height)), (0, max(0, window - width)), (0, 0))
  if any(high for _, high in padding):
    x = jnp.pad(x, padding, constant_values=-jnp.inf)
  return lowering.window_max(x, window, stride)


def local_response_norm(x: jax.Array, *, groups: int, k: float, size: int, alpha: float,
                        beta: float, alpha_over_size: bool) -> jax.Array:
  """§3.3: b_i = a_i / (k + α Σ_j a_j²)^β, j over the ``size`` channels centred on i.

  The channels are ``groups`` towers side by side; the window never crosses from
  one tower into the next, exactly as when each GPU normalised its own maps.
  Computed in float32 whatever the compute dtype.
  """
  term = lrn_term(x, groups=groups, size=size, alpha=alpha, alpha_over_size=alpha_over_size)
  return (x.astype(jnp.float32) * (k + term) ** -beta).astype(x.dtype)


def lrn_term(x: jax.Array, *, groups: int, size: int, alpha: float,
             alpha_over_size: bool) -> jax.Array:
  """α Σ_j a_j², the term §3.3 adds to k, float32, shaped as ``x``.

  Where it is small beside k, LRN is the constant scaling k^-β, not a normalisation
  (experiments/lrn_diagnostic.py measures which).
  """
  *lead, channels = x.shape
  by_tower = x.reshape(*lead, groups, channels // groups).astype(jnp.float32)
  half = size // 2
  ones = (1,) * by_tower.ndim
  window_sums = jax.lax.reduce_window(jnp.square(by_tower), 0.0, jax.lax.add,
                                      window_dimensions=(*ones[:-1], size), window_strides=ones,
                                      padding=((0, 0),) * (by_tower.ndim - 1) + ((half, half),))
  scale = alpha / size if alpha_over_size else alpha
  return (scale * window_sums).reshape(x.shape)


def _initial_values(config: ModelConfig, layer: str, rngs: nnx.Rngs, kernel_shape, bias_shape):
  std, bias = INIT_RULES[config.init](layer, math.prod(kernel_shape[:-1]))
  kernel = std * jax.random.normal(rngs.params(), kernel_shape, jnp.float32)
  return kernel, jnp.full(bias_shape, bias, jnp.float32)


class TowerConv(nnx.Module):
  """A convolution whose kernels are divided equally between the towers (§3.2).

  The kernel has its global shape (kh, kw, in, out) on every mesh; a device holds
  the output channels of its own towers. With ``own_tower_input`` each tower reads
  only its own tower's input maps (conv2, conv4, conv5: "kernels ... connected only
  to those kernel maps in the previous layer which reside on the same GPU"); the
  kernel is then (kh, kw, in / towers, out), the layout of
  ``feature_group_count=towers``, and the towers on one device run as separate
  convolutions.
  """

  def __init__(self, layer: str, config: ModelConfig, in_features: int, out_features: int,
               kernel_size: int, *, stride: int, padding: tuple[int, int], own_tower_input: bool,
               rngs: nnx.Rngs):
    self.towers = config.towers
    self.own_tower_input = own_tower_input
    self.stride = stride
    self.padding = padding
    kernel_in = in_features // config.towers if own_tower_input else in_features
    kernel, bias = _initial_values(config, layer, rngs,
                                   (kernel_size, kernel_size, kernel_in, out_features),
                                   (out_features,))
    self.kernel = towers.TowerParam(kernel)
    self.bias = towers.TowerParam(bias)

  def __call__(self, x: jax.Array) -> jax.Array:
    kernel = self.kernel[...].astype(x.dtype)
    groups = towers.towers_on_this_device(self.towers) if self.own_tower_input else 1
    conv = lambda inputs, k: jax.lax.conv_general_dilated(
        inputs, k, window_strides=(self.stride, self.stride), padding=(self.padding,) * 2,
        dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
    outputs = [
        conv(xs, ks)
        for xs, ks in zip(jnp.split(x, groups, axis=-1), jnp.split(kernel, groups, axis=-1))
    ]
    y = outputs[0] if groups == 1 else jnp.concatenate(outputs, axis=-1)
    return y + self.bias[...].astype(x.dtype)


class Dense(nnx.Module):
  """A fully-connected layer whose neurons are divided equally between the towers (fc6, fc7).

  ``replicated``: every device holds all of it and computes every output instead (fc8, the
  §3.2 replicated layer). Splitting fc8 like the other layers would force a fifth exchange,
  of the logits, before the softmax; replicating it costs 4M parameters per device and no
  traffic.
  """

  def __init__(self, layer: str, config: ModelConfig, in_features: int, out_features: int, *,
               replicated: bool = False, rngs: nnx.Rngs):
    kernel, bias = _initial_values(config, layer, rngs, (in_features, out_features),
                                   (out_features,))
    param = nnx.Param if replicated else towers.TowerParam
    self.kernel = param(kernel)
    self.bias = param(bias)

  def __call__(self, x: jax.Array) -> jax.Array:
    return x @ self.kernel[...].astype(x.dtype) + self.bias[...].astype(x.dtype)


class AlexNet(nnx.Module):
  """The paper's network (§3); see the module docstring for how it runs on a mesh."""

  def __init__(self, config: ModelConfig, *, rngs: nnx.Rngs):
    self.config = config
    features = layer_features(config)
    sizes = feature_map_sizes(config)
    self.conv1 = TowerConv('conv1', config, config.input_channels, features['conv1'],
                           config.conv1_kernel, stride=config.conv1_stride,
                           padding=conv1_padding(config), own_tower_input=False, rngs=rngs)
    self.conv2 = TowerConv('conv2', config, features['conv1'], features['conv2'], 5, stride=1,
                           padding=(2, 2), own_tower_input=True, rngs=rngs)
    self.conv3 = TowerConv('conv3', config, features['conv2'], features['conv3'], 3, stride=1,
                           padding=(1, 1), own_tower_input=False, rngs=rngs)
    self.conv4 = TowerConv('conv4', config, features['conv3'], features['conv4'], 3, stride=1,
                           padding=(1, 1), own_tower_input=True, rngs=rngs)
    self.conv5 = TowerConv('conv5', config, features['conv4'], features['conv5'], 3, stride=1,
                           padding=(1, 1), own_tower_input=True, rngs=rngs)
    flat = sizes['pool5'] ** 2 * features['conv5']
    self.fc6 = Dense('fc6', config, flat, features['fc6'], rngs=rngs)
    self.fc7 = Dense('fc7', config, features['fc6'], features['fc7'], rngs=rngs)
    self.fc8 = Dense('fc8', config, features['fc7'], features['fc8'], replicated=True, rngs=rngs)

  def __call__(self, images: jax.Array,
               dropout_masks: Mapping[str, jax.Array] | None = None) -> jax.Array:
    """Logits of this device's batch rows, computed by this device's towers.

    Args:
      images: (batch, height, width, channels), every tower sees the whole image.
      dropout_masks: for training, boolean "keep" masks for fc6 and fc7 covering
        this device's rows and neurons (see
        :meth:`alexnet.model.parallel.ShardedAlexNet.dropout_masks`); None evaluates
        the network without dropout.

    Each output of ``LAYER_OUTPUTS`` (this device's part of it) is sown as an
    ``nnx.Intermediate`` of its name, for a caller that runs the model under
    ``nnx.capture(model, nnx.Intermediate)``. Run it under a capture in any case: a capture
    of no variable type keeps nothing, where ``sow`` outside one adds the values to the
    module's state (see :meth:`alexnet.model.parallel.ShardedAlexNet.apply`).
    """
    config = self.config
    activation = ACTIVATION_FUNCTIONS[config.activation]

    def layer(name: str, fn: Callable[[jax.Array], jax.Array], x: jax.Array) -> jax.Array:
      """``fn(x)`` under the layer's name: profiles (benchmarks/step_profile.py, TensorBoard)
      attribute each XLA operation, forward and backward, to its layer."""
      with jax.named_scope(name):
        y = fn(x)
      if name in LAYER_OUTPUTS:
        self.sow(nnx.Intermediate, name, y)
      return y

    x = images.astype(config.compute_dtype)
    x = layer('conv1', lambda v: activation(self.conv1(v)), x)
    x = layer('norm1', self._normalise, x)
    x = layer('pool1', self._pool, x)
    x = layer('conv2', lambda v: activation(self.conv2(v)), x)
    x = layer('norm2', self._normalise, x)
    x = layer('pool2', self._pool, x)
    x = layer('conv3', lambda v: activation(self.conv3(towers.exchange(v))), x)
    x = layer('conv4', lambda v: activation(self.conv4(v)), x)
    x = layer('conv5', lambda v: activation(self.conv5(v)), x)
    x = layer('pool5', self._pool, x)
    x = layer(
        'fc6', lambda v: self._dropout(
            'fc6', activation(self.fc6(towers.exchange(v).reshape(v.shape[0], -1))), dropout_masks),
        x)
    x = layer(
        'fc7',
        lambda v: self._dropout('fc7', activation(self.fc7(towers.exchange(v))), dropout_masks), x)
    return layer('fc8', lambda v: self.fc8(towers.exchange(v, replicated=True)).astype(jnp.float32),
                 x)

  def _normalise(self, x: jax.Array) -> jax.Array:
    if not self.config.lrn:
      return x
    config = self.config
    return local_response_norm(x, groups=towers.towers_on_this_device(config.towers),
                               k=config.lrn_k, size=config.lrn_size, alpha=config.lrn_alpha,
                               beta=config.lrn_beta, alpha_over_size=config.lrn_alpha_over_size)

  def _pool(self, x: jax.Array) -> jax.Array:
    return max_pool(x, *pool_geometry(self.config))

  def _dropout(self, layer: str, x: jax.Array, masks: Mapping[str, jax.Array] | None):
    """Inverted dropout (§4.2): the same function in expectation as the paper's ×0.5 at test."""
    if masks is None or self.config.dropout_rate == 0.0:
      return x
    keep = 1.0 - self.config.dropout_rate
    return jnp.where(masks[layer], x / jnp.asarray(keep, x.dtype), jnp.zeros_like(x))
