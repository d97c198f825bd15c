"""The candidate max-pooling of ``benchmarks/sliced_max_pool.py`` is ``model.max_pool``.

``benchmarks/step_throughput.py --compare_pool`` patches the candidate into the network
to measure it against ``model.max_pool`` (``reduce_window``), so the two must be the same
function with the same gradients, ties included: ``select_and_scatter`` (the gradient of
``reduce_window``) sends each window's gradient to its first maximum in row-major order.
On this CPU they agree bit for bit.
"""

import importlib.util
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from alexnet import model as model_lib
from alexnet import parallel, train
from alexnet.config import ModelConfig

_PATH = pathlib.Path(__file__).resolve().parents[1] / 'benchmarks' / 'sliced_max_pool.py'
_SPEC = importlib.util.spec_from_file_location('sliced_max_pool', _PATH)
sliced = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(sliced)
reduce_window_pool = model_lib.max_pool


def values_and_gradients(pool, x, window, stride):
  """Pooled values and d(Σ pooled · w)/dx for a fixed random cotangent w."""
  shape = jax.eval_shape(lambda v: pool(v, window, stride), x).shape
  w = jax.random.normal(jax.random.key(7), shape).astype(x.dtype)
  f = lambda v: jnp.sum((pool(v, window, stride) * w).astype(jnp.float32))
  return jax.jit(lambda v: (pool(v, window, stride), jax.grad(f)(v)))(x)


INPUTS = {
    'normal': lambda key, shape: jax.random.normal(key, shape),
    'relu': lambda key, shape: jax.nn.relu(jax.random.normal(key, shape)),  # ties at 0
    'few_values': lambda key, shape: jax.random.randint(key, shape, 0, 3).astype(jnp.float32),
}


@pytest.mark.parametrize('dtype', [jnp.float32, jnp.bfloat16])
@pytest.mark.parametrize('inputs', sorted(INPUTS))
@pytest.mark.parametrize('window,stride,size', [(3, 2, 13), (3, 2, 8), (2, 2, 9), (3, 2, 2),
                                                (3, 2, 1)])
def test_values_and_gradients_equal_reduce_window(window, stride, size, inputs, dtype):
  x = INPUTS[inputs](jax.random.key(size), (2, size, size + 1, 5)).astype(dtype)
  fast, fast_grad = values_and_gradients(sliced.max_pool, x, window, stride)
  plain, plain_grad = values_and_gradients(reduce_window_pool, x, window, stride)
  assert fast.dtype == plain.dtype == dtype and fast_grad.dtype == dtype
  # Bit for bit: the same maxima, and where windows overlap (up to four on one input)
  # their gradients are added in select_and_scatter's order.
  np.testing.assert_array_equal(np.asarray(fast, np.float32), np.asarray(plain, np.float32))
  np.testing.assert_array_equal(np.asarray(fast_grad, np.float32),
                                np.asarray(plain_grad, np.float32))


def test_tied_maxima_send_the_gradient_to_the_first_in_row_major_order():
  x = jnp.ones((1, 3, 3, 1))  # one window, nine equal maxima
  grad = jax.grad(lambda v: sliced.max_pool(v, 3, 2).sum())(x)[0, :, :, 0]
  np.testing.assert_array_equal(grad, [[1, 0, 0], [0, 0, 0], [0, 0, 0]])


@pytest.mark.parametrize('compute_dtype', ['float32', 'bfloat16'])
def test_network_logits_and_parameter_gradients_are_unchanged(monkeypatch, compute_dtype):
  config = ModelConfig(num_classes=10, width=1 / 16, image_size=67, compute_dtype=compute_dtype)
  net = parallel.ShardedAlexNet(config, parallel.make_mesh(1, 1, jax.devices()[:1]))
  params = net.init(jax.random.key(0))
  images = 50 * jax.random.normal(jax.random.key(1), (4, 67, 67, 3))
  labels = jnp.arange(4)

  def logits_and_grads():
    def loss(p):
      logits = net.apply(p, images, jax.random.key(2))
      return train.cross_entropy(logits, labels), logits
    (_, logits), grads = jax.jit(jax.value_and_grad(loss, has_aux=True))(params)
    return logits, grads

  plain = logits_and_grads()
  monkeypatch.setattr(model_lib, 'max_pool', sliced.max_pool)
  fast = logits_and_grads()
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
    np.testing.assert_allclose(np.asarray(a) / scale, np.asarray(b) / scale, rtol=0, atol=2e-2,
                               err_msg=jax.tree_util.keystr(path))
