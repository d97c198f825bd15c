"""The CPU's lowering of the network (alexnet.model.lowering) computes the same function as XLA's
defaults, to float32 round-off, and the max-pooling lowerings agree bit for bit.

``sliced_max`` must be ``reduce_window_max`` with the same gradients, ties included:
``select_and_scatter`` (the gradient of ``reduce_window``) sends each window's gradient to
its first maximum in row-major order. On this CPU they agree bit for bit. Routing the
convolutions away from YNNPACK changes only the order of float32 sums.
"""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from alexnet.config import ModelConfig, OptimConfig
from alexnet.model import lowering, parallel
from alexnet.model import network as model_lib
from alexnet.training import optim, steps

sliced_max = lowering.sliced_max
reduce_window_max = lowering.reduce_window_max


def values_and_gradients(pool, x, window, stride):
  """Pooled values and d(Σ pooled · w)/dx for a fixed random cotangent w."""
  shape = jax.eval_shape(lambda v: pool(v, window, stride), x).shape
  w = jax.random.normal(jax.random.key(7), shape).astype(x.dtype)
  f = lambda v: jnp.sum((pool(v, window, stride) * w).astype(jnp.float32))
  return jax.jit(lambda v: (pool(v, window, stride), jax.grad(f)(v)))(x)


INPUTS = {
    'normal': jax.random.normal,
    'relu': lambda key, shape: jax.nn.relu(jax.random.normal(key, shape)),  # ties at 0
    'few_values': lambda key, shape: jax.random.randint(key, shape, 0, 3).astype(jnp.float32),
}


@pytest.mark.parametrize('dtype', [jnp.float32, jnp.bfloat16])
@pytest.mark.parametrize('inputs', sorted(INPUTS))
@pytest.mark.parametrize('window,stride,size', [(3, 2, 13), (3, 2, 8), (2, 2, 9), (3, 2, 3)])
def test_values_and_gradients_equal_reduce_window(window, stride, size, inputs, dtype):
  x = INPUTS[inputs](jax.random.key(size), (2, size, size + 1, 5)).astype(dtype)
  fast, fast_grad = values_and_gradients(sliced_max, x, window, stride)
  plain, plain_grad = values_and_gradients(reduce_window_max, x, window, stride)
  assert fast.dtype == plain.dtype == dtype and fast_grad.dtype == dtype
  # Bit for bit: the same maxima, and where windows overlap (up to four on one input)
  # their gradients are added in select_and_scatter's order.
  np.testing.assert_array_equal(np.asarray(fast, np.float32), np.asarray(plain, np.float32))
  np.testing.assert_array_equal(np.asarray(fast_grad, np.float32),
                                np.asarray(plain_grad, np.float32))


def test_tied_maxima_send_the_gradient_to_the_first_in_row_major_order():
  x = jnp.ones((1, 3, 3, 1))  # one window, nine equal maxima
  grad = jax.grad(lambda v: sliced_max(v, 3, 2).sum())(x)[0, :, :, 0]
  np.testing.assert_array_equal(grad, [[1, 0, 0], [0, 0, 0], [0, 0, 0]])


def _without_cpu(monkeypatch, *tables):
  for table in tables:
    monkeypatch.delitem(table, 'cpu', raising=False)


@pytest.mark.integration
def test_the_cpu_program_pools_with_slices_and_leaves_convolutions_to_xla():
  config = ModelConfig(num_classes=10, width=1 / 16, image_size=64, input_channels=1)
  net = parallel.ShardedAlexNet(config, parallel.make_mesh(1, 1, jax.devices()[:1]))
  tx = optim.make_optimizer(OptimConfig())
  state = steps.create_train_state(net, tx, seed=0)
  batch = {'image': jnp.zeros((4, 64, 64, 1)), 'label': jnp.zeros((4,), jnp.int32)}
  hlo = steps.make_train_step(net, tx).lower(state, batch, np.float32(0.01)).compile().as_text()
  operations = {name.rsplit('/', 1)[-1] for name in re.findall(r'op_name="([^"]*)"', hlo)}
  assert 'slice' in operations
  assert not operations & {'reduce_window_max', 'select_and_scatter'}
  # YNNPACK still takes the matrix products, but no convolution is inside its fusions.
  assert '__ynn_fusion' in hlo
  for computation in re.findall(r'%fused_computation[.\d]* \([^\n]*\n(?:  [^\n]*\n)*\}', hlo):
    name = computation.split(' ', 1)[0][1:]
    if re.search(rf'calls=%{re.escape(name)},[^\n]*__ynn_fusion', hlo):
      assert 'convolution(' not in computation, name


def _logits_and_gradients(config: ModelConfig, images, labels):
  net = parallel.ShardedAlexNet(config, parallel.make_mesh(1, 1, jax.devices()[:1]))
  params = net.init(jax.random.key(0))

  def loss(p):
    logits = net.apply(p, images, jax.random.key(2))
    return steps.cross_entropy(logits, labels), logits

  (_, logits), grads = lowering.jit(jax.value_and_grad(loss, has_aux=True), net.mesh)(params)
  return logits, grads


@pytest.mark.integration
@pytest.mark.parametrize('compute_dtype', ['float32', 'bfloat16'])
def test_sliced_pooling_leaves_the_network_logits_and_gradients_unchanged(
    monkeypatch, compute_dtype):
  config = ModelConfig(num_classes=10, width=1 / 16, image_size=67, compute_dtype=compute_dtype)
  images = 50 * jax.random.normal(jax.random.key(1), (4, 67, 67, 3))
  labels = jnp.arange(4)
  fast = _logits_and_gradients(config, images, labels)
  _without_cpu(monkeypatch, lowering.POOLING)
  plain = _logits_and_gradients(config, images, labels)
  leaves = zip(jax.tree_util.tree_leaves_with_path(fast[1]), jax.tree.leaves(plain[1]))
  if compute_dtype == 'float32':  # bit for bit
    np.testing.assert_array_equal(fast[0], plain[0])
    for (path, a), b in leaves:
      np.testing.assert_array_equal(a, b, err_msg=jax.tree_util.keystr(path))
    return
  # bfloat16: the pooling gradients are still bit for bit the same (test above), but XLA
  # fuses the layers around them differently and may keep other bf16 intermediates in
  # float32, so sums such as a bias gradient round differently: equal to bf16 precision,
  # relative to each gradient's largest entry.
  np.testing.assert_allclose(fast[0], plain[0], rtol=1e-2, atol=1e-3)
  for (path, a), b in leaves:
    scale = float(jnp.max(jnp.abs(b))) or 1.0
    np.testing.assert_allclose(
        np.asarray(a) / scale,
        np.asarray(b) / scale, rtol=0, atol=2e-2, err_msg=jax.tree_util.keystr(path))


@pytest.mark.integration
@pytest.mark.parametrize('layout', ['main job', 'paper'])
def test_the_cpu_lowering_computes_what_xla_defaults_compute_to_float32_round_off(
    monkeypatch, layout):
  """The README's network (one grey channel, He init) and the paper's (three channels, its
  N(0, 0.01) init, LRN), small: logits and every parameter gradient of the CPU lowering
  against XLA's defaults (reduce_window pooling, YNNPACK convolutions)."""
  fields = dict(num_classes=10, width=1 / 16)
  fields.update(image_size=64, input_channels=1,
                init='he') if layout == 'main job' else (fields.update(image_size=67))
  config = ModelConfig(**fields)
  images = jax.random.normal(jax.random.key(1),
                             (8, config.image_size, config.image_size, config.input_channels))
  labels = jnp.arange(8) % 10
  project = _logits_and_gradients(config, images, labels)
  _without_cpu(monkeypatch, lowering.POOLING, lowering.COMPILER_OPTIONS)
  defaults = _logits_and_gradients(config, images, labels)
  scale = float(jnp.max(jnp.abs(defaults[0])))
  np.testing.assert_allclose(project[0] / scale, defaults[0] / scale, rtol=0, atol=1e-6)
  for (path, a), b in zip(jax.tree_util.tree_leaves_with_path(project[1]),
                          jax.tree.leaves(defaults[1])):
    scale = float(jnp.max(jnp.abs(b))) or 1.0
    np.testing.assert_allclose(
        np.asarray(a) / scale,
        np.asarray(b) / scale, rtol=0, atol=1e-5, err_msg=jax.tree_util.keystr(path))


@pytest.mark.parametrize('size', [1, 2])
def test_maps_smaller_than_the_window_pool_alike_in_both_lowerings(monkeypatch, size):
  """model.max_pool pads such maps with -inf before either lowering sees them."""
  x = jax.random.normal(jax.random.key(size), (2, size, size + 1, 3))
  pool = model_lib.max_pool
  fast, fast_grad = values_and_gradients(pool, x, 3, 2)
  _without_cpu(monkeypatch, lowering.POOLING)
  plain, plain_grad = values_and_gradients(pool, x, 3, 2)
  assert fast.shape == (2, 1, 1, 3)
  np.testing.assert_array_equal(fast, plain)
  np.testing.assert_array_equal(fast_grad, plain_grad)
