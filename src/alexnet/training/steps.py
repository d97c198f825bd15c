"""The training state, the pure, jitted train and evaluation steps (§5), and the helpers
that the trainer and the tools share: a restore target, one pass of evaluation.

``train_step(state, batch, learning_rate)`` and ``eval_step(params, batch)`` are
pure functions of their arguments, compiled once for the mesh with explicit
shardings; the training loop around them lives in :mod:`alexnet.training.trainer`, which the
tools do not import.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from alexnet.model import lowering
from alexnet.model.parallel import ShardedAlexNet, global_batch
from alexnet.run import console, stopping

# The network's float input from the batch the host sent, inside a jitted step.
InputImages = Callable[[Mapping[str, jax.Array]], jax.Array]


@struct.dataclass
class TrainState:
  """Everything a step changes; with the data position (the step) it is a full checkpoint."""

  step: jax.Array  # int32: steps taken, which is also the data position
  params: dict  # nested dict of float32 arrays, global shapes (see alexnet.model.parallel)
  opt_state: optax.OptState  # momentum and the injected learning rate
  rng: jax.Array  # uint32 key data; dropout of step s uses fold_in(rng, s)
  nonfinite_step: jax.Array  # int32: -1, or the first step whose loss or gradients were NaN/Inf


def state_shardings(net: ShardedAlexNet, tx: optax.GradientTransformation) -> TrainState:
  """Shardings of every leaf: optimizer slots follow their parameter, the rest is replicated."""
  replicated = NamedSharding(net.mesh, P())
  abstract_opt_state = jax.eval_shape(tx.init, net.abstract_params)
  opt_shardings = optax.tree_utils.tree_map_params(tx, lambda _, sharding: sharding,
                                                   abstract_opt_state, net.param_shardings,
                                                   transform_non_params=lambda _: replicated)
  return TrainState(step=replicated, params=net.param_shardings, opt_state=opt_shardings,
                    rng=replicated, nonfinite_step=replicated)


def create_train_state(net: ShardedAlexNet, tx: optax.GradientTransformation,
                       seed: int) -> TrainState:
  """A fresh state, initialised directly in its shards; the values do not depend on the mesh."""
  params_key, dropout_key = jax.random.split(jax.random.key(seed))

  def create():
    params = net.init(params_key)
    return TrainState(step=jnp.zeros((), jnp.int32), params=params, opt_state=tx.init(params),
                      rng=jax.random.key_data(dropout_key), nonfinite_step=jnp.full((), -1,
                                                                                    jnp.int32))

  return jax.jit(create, out_shardings=state_shardings(net, tx))()


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
  """§5: the multinomial logistic regression objective, averaged over the batch."""
  return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


def top_k_errors(scores: jax.Array, labels: jax.Array, k: int) -> jax.Array:
  """1.0 where the label is not among the k highest-scoring classes (§6's top-1 / top-5).

  Counted as "k or more classes score strictly higher than the label", which
  needs no sort and no gather across the batch (a tie goes to the label).
  """
  label_scores = jnp.take_along_axis(scores, labels[:, None], axis=-1)
  return (jnp.sum(scores > label_scores, axis=-1) >= k).astype(jnp.float32)


def _images(batch: Mapping[str, jax.Array], input_images: InputImages | None) -> jax.Array:
  return batch['image'] if input_images is None else input_images(batch)


def make_train_step(net: ShardedAlexNet, tx: optax.GradientTransformation,
                    input_images: InputImages | None = None):
  """The jitted ``train_step(state, batch, learning_rate) -> (state, metrics)``.

  ``input_images`` (e.g. :meth:`alexnet.data.augment.DeviceAugmentation.train_images`) makes the
  network's float input from the batch the host sent (uint8 pixels and the draws), in the
  same compiled program; without it ``batch['image']`` is that input already.
  The state's buffers are donated. A step whose loss or gradients are not
  finite changes nothing but ``nonfinite_step``, and no later step updates the
  parameters, so the host can stop at its next look and keep the last good state.
  """

  def train_step(state: TrainState, batch: Mapping[str, jax.Array], learning_rate: jax.Array):
    dropout_key = jax.random.fold_in(jax.random.wrap_key_data(state.rng), state.step)
    images = _images(batch, input_images)

    def loss_fn(params):
      logits = net.apply(params, images, dropout_key)
      return cross_entropy(logits, batch['label']), logits

    (loss, logits), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    hyperparams = {
        **state.opt_state.hyperparams, 'learning_rate': jnp.asarray(learning_rate, jnp.float32)
    }
    updates, opt_state = tx.update(grads, state.opt_state._replace(hyperparams=hyperparams),
                                   state.params)
    params = optax.apply_updates(state.params, updates)

    grad_norm = optax.tree.norm(grads)  # one scalar: NaN or Inf if any gradient is
    healthy = jnp.isfinite(loss) & jnp.isfinite(grad_norm) & (state.nonfinite_step < 0)
    keep_if_healthy = lambda new, old: jax.tree.map(lambda n, o: jnp.where(healthy, n, o), new, old)
    new_state = state.replace(
        step=state.step + 1, params=keep_if_healthy(params, state.params),
        opt_state=keep_if_healthy(opt_state, state.opt_state), nonfinite_step=jnp.where(
            (state.nonfinite_step < 0) & ~healthy, state.step, state.nonfinite_step))
    metrics = dict(loss=loss, top1_error=top_k_errors(logits, batch['label'], 1).mean(),
                   grad_norm=grad_norm, learning_rate=jnp.asarray(learning_rate, jnp.float32))
    return new_state, metrics

  shardings = state_shardings(net, tx)
  return lowering.jit(train_step, net.mesh, in_shardings=(shardings, None, None),
                      out_shardings=(shardings, None), donate_argnums=0)


def make_eval_step(net: ShardedAlexNet, input_images: InputImages | None = None):
  """The jitted ``eval_step(params, batch) -> sums`` over the batch's real rows.

  The views are (batch, crops, H, W, C): ``input_images(batch)`` (e.g. ``functools.partial(
  DeviceAugmentation.eval_images, crops=10)``) cuts them from what the host sent, in the
  same compiled program, or ``batch['image']`` is them already. The softmax outputs of
  the crops are averaged (§4.1: "averaging the predictions made by the network's softmax
  layer on the ten patches"). Padding rows (``mask`` False) count for nothing.
  """

  def eval_step(params, batch):
    images = _images(batch, input_images)
    batch_size, crops = images.shape[:2]
    logits = net.apply(params, images.reshape(batch_size * crops, *images.shape[2:]))
    probabilities = jax.nn.softmax(logits).reshape(batch_size, crops, -1).mean(axis=1)
    mask = batch['mask'].astype(jnp.float32)
    labels = batch['label']
    nll = -jnp.log(jnp.take_along_axis(probabilities, labels[:, None], axis=-1)[:, 0] + 1e-12)
    return dict(examples=mask.sum(),
                top1_errors=(top_k_errors(probabilities, labels, 1) * mask).sum(),
                top5_errors=(top_k_errors(probabilities, labels, 5) * mask).sum(),
                loss=(nll * mask).sum())

  return lowering.jit(eval_step, net.mesh, in_shardings=(net.param_shardings, None))


def abstract_train_state(net: ShardedAlexNet, tx: optax.GradientTransformation) -> TrainState:
  """Shapes, dtypes and shardings of the train state on ``net``'s mesh: a restore target."""
  shapes = jax.eval_shape(lambda: create_train_state(net, tx, seed=0))
  return jax.tree.map(lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s), shapes,
                      state_shardings(net, tx))


def evaluate_batches(eval_step, params, batches: Iterator[Mapping[str, np.ndarray]], mesh: Mesh,
                     progress: console.Progress | None = None) -> dict[str, float] | None:
  """Top-1 and top-5 error (and the loss) of ``params`` over one pass of ``batches``
  (this process's rows of each global batch, as
  :meth:`alexnet.data.dataset.Dataset.eval_batches` yields them), summed by ``eval_step``
  (:func:`make_eval_step`).

  None if a stop was requested during the pass (looked at before every batch, a point
  every process passes together: :func:`stopping.reached_sync_point`). ``progress``, if
  given, is told the images done after every batch.
  """
  totals, seen = None, 0
  with contextlib.closing(batches):
    for local in batches:
      if stopping.reached_sync_point():
        return None
      sums = eval_step(params, global_batch(local, mesh))
      totals = sums if totals is None else jax.tree.map(lambda a, b: a + b, totals, sums)
      seen += len(local['mask']) * jax.process_count()
      if progress is not None:
        progress.update(min(seen, progress.total))
  totals = jax.device_get(totals)
  examples = float(totals['examples'])
  return dict(top1_error=float(totals['top1_errors']) / examples,
              top5_error=float(totals['top5_errors']) / examples,
              loss=float(totals['loss']) / examples, examples=int(examples))
