"""§3.2, "Training on multiple GPUs": what the two towers share and where they talk.

The paper put half of every layer's kernels on each of two GPUs; the GPUs
exchanged activations only at the inputs of conv3, fc6, fc7 and fc8. Here the
towers live on the ``model`` axis of a ``('data', 'model')`` mesh and this
module holds the pieces the network's per-device program is written with:

* :class:`TowerParam` marks a parameter divided between the towers on its last
  (output) axis; it is sharded over ``model`` and replicated over ``data``.
  Plain ``nnx.Param`` (fc8) is replicated everywhere.
* :func:`exchange` is the only communication between towers: an all-gather
  over ``model`` in the forward pass, a reduce-scatter in the backward pass.
* :func:`towers_on_this_device` tells a layer how many towers it computes: all
  of them on a model axis of size 1, one each on a model axis of size 2.

:mod:`alexnet.model.parallel` runs the program under ``jax.shard_map``.
"""

from __future__ import annotations

import jax
from flax import nnx
from jax.sharding import PartitionSpec as P

DATA_AXIS = 'data'
MODEL_AXIS = 'model'


class TowerParam(nnx.Param):
  """A parameter divided equally between the towers along its last (output) axis."""


def towers_on_this_device(towers: int) -> int:
  """How many of the ``towers`` the current device computes (inside the map)."""
  return towers // jax.lax.axis_size(MODEL_AXIS)


def exchange(x: jax.Array, *, replicated: bool = False) -> jax.Array:
  """Gives every tower the activations of all towers: an all-gather over ``model``.

  The towers' channels (last axis) are concatenated in tower order, so a layer
  reading "all kernel maps of the previous layer" sees them in the same order on
  every mesh. In the backward pass the gather becomes a reduce-scatter: each
  tower receives the sum, over the towers that read them, of the gradients of
  its own activations.

  ``replicated=True`` is for a layer that every device holds in full (fc8): the
  gathered input is then typed as equal on every device, the layer's output is
  replicated, and the gradient is sliced back without communication.
  """
  return jax.lax.all_gather(x, MODEL_AXIS, axis=x.ndim - 1, tiled=True,
                            to='invarying' if replicated else 'varying')


def partition_specs(model: nnx.Module) -> dict:
  """PartitionSpecs with the structure of ``nnx.to_pure_dict(nnx.state(model))``."""

  def spec(variable: nnx.Variable) -> P:
    if isinstance(variable, TowerParam):
      return P(*(None,) * (variable.ndim - 1), MODEL_AXIS)
    return P()

  specs = jax.tree.map(spec, nnx.state(model), is_leaf=lambda v: isinstance(v, nnx.Variable))
  return nnx.to_pure_dict(specs)
