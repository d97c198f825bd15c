"""The train and evaluation steps: NaN guard, error counting, crop averaging."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from alexnet.config import ModelConfig, OptimConfig
from alexnet.model import parallel
from alexnet.training import optim, steps

TINY = ModelConfig(num_classes=10, width=1 / 16, image_size=35, init='he')
SGD = OptimConfig()  # §5's SGD: rate 0.01, momentum 0.9, weight decay 5e-4 on weights


def tiny_setup():
  net = parallel.ShardedAlexNet(TINY, parallel.make_mesh(1, 1, jax.devices()[:1]))
  tx = optim.make_optimizer(SGD)
  return net, tx, steps.create_train_state(net, tx, seed=0), steps.make_train_step(net, tx)


def batch(seed, poison=False):
  images = np.random.default_rng(seed).normal(size=(4, 35, 35, 3)).astype(np.float32)
  if poison:
    images[0, 0, 0, 0] = np.nan
  return dict(image=jnp.asarray(images), label=jnp.arange(4) % 10)


@pytest.mark.integration
def test_a_nonfinite_step_records_its_step_and_freezes_the_parameters_from_then_on():
  _, _, state, train_step = tiny_setup()
  state, _ = train_step(state, batch(0), 0.01)
  good = jax.device_get(state.params)
  assert int(state.nonfinite_step) == -1
  state, metrics = train_step(state, batch(1, poison=True), 0.01)
  assert not np.isfinite(metrics['loss'])
  assert int(state.nonfinite_step) == 1
  state, metrics = train_step(state, batch(2), 0.01)  # finite again, but the run is stopped
  assert np.isfinite(metrics['loss'])
  assert int(state.nonfinite_step) == 1 and int(state.step) == 3
  jax.tree.map(np.testing.assert_array_equal, jax.device_get(state.params), good)


def test_top_k_errors_agree_with_sorting():
  scores = jax.random.normal(jax.random.key(0), (64, 20))
  labels = jax.random.randint(jax.random.key(1), (64,), 0, 20)
  ranks = np.argsort(-np.asarray(scores), axis=1)
  for k in (1, 5):
    expected = [float(label not in row[:k]) for row, label in zip(ranks, np.asarray(labels))]
    np.testing.assert_array_equal(steps.top_k_errors(scores, labels, k), expected)


@pytest.mark.integration
def test_eval_step_averages_the_softmax_of_the_crops_and_ignores_padding_rows():
  net, _, state, _ = tiny_setup()
  images = jax.random.normal(jax.random.key(3), (4, 10, 35, 35, 3))
  labels = jnp.array([1, 2, 3, 4])
  mask = jnp.array([True, True, True, False])
  sums = steps.make_eval_step(net)(state.params, dict(image=images, label=labels, mask=mask))
  # jitted: eagerly, a shard_map runs each operation of the network on its own (15× the CPU).
  logits = np.asarray(jax.jit(net.apply)(state.params, images.reshape(40, 35, 35, 3)))
  logits = logits.reshape(4, 10, 10)
  probabilities = np.exp(logits - logits.max(-1, keepdims=True))
  probabilities = (probabilities / probabilities.sum(-1, keepdims=True)).mean(axis=1)
  ranks = np.argsort(-probabilities, axis=1)
  top1 = sum(float(ranks[i, 0] != labels[i]) for i in range(3))
  top5 = sum(float(labels[i] not in ranks[i, :5]) for i in range(3))
  assert float(sums['examples']) == 3
  assert float(sums['top1_errors']) == top1 and float(sums['top5_errors']) == top5
  nll = -sum(np.log(probabilities[i, labels[i]]) for i in range(3))
  np.testing.assert_allclose(float(sums['loss']), nll, rtol=1e-4)
