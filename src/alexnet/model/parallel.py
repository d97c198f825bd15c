"""The network on a ``('data', 'model')`` mesh, from one device to many hosts.

:class:`ShardedAlexNet` runs the network's per-device program (written with the
pieces of :mod:`alexnet.model.towers`) under ``jax.shard_map``: the towers are split
over ``model``, the batch over ``data``. Because parameters enter the map
replicated over ``data``, autodiff sums their gradients over ``data``. The split
is written by hand because XLA's automatic partitioner replicates grouped
convolutions (openxla/xla#47945). One code path serves every mesh: a single
device is a 1×1 mesh on which the exchanges move nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import jax
import numpy as np
from flax import nnx
from jax.experimental import multihost_utils
from jax.sharding import AxisType, Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from alexnet import errors
from alexnet.config import ModelConfig
from alexnet.model.network import DROPOUT_LAYERS, LAYER_OUTPUTS, AlexNet, layer_features
from alexnet.model.towers import DATA_AXIS, MODEL_AXIS, partition_specs


class MeshError(errors.UsageError, ValueError):
  """The devices, the mesh config, the towers and the batch do not fit together."""


def make_mesh(data: int = -1, model: int = 1, devices: Sequence[jax.Device] | None = None) -> Mesh:
  """A ``('data', 'model')`` mesh over ``devices`` (all devices of all processes by default).

  ``data=-1`` takes every device the model axis leaves. Both axes are ``Auto``:
  the towers are partitioned by hand inside ``shard_map``, and outside it (the
  loss, the dropout masks) XLA may propagate shardings freely.
  """
  devices = list(jax.devices() if devices is None else devices)
  if model < 1:
    raise MeshError(f'mesh.model={model} must be at least 1.')
  if data == -1:
    if len(devices) % model:
      raise MeshError(f'mesh.model={model} does not divide the {len(devices)} devices; '
                      f'choose a model axis size that divides {len(devices)}.')
    data = len(devices) // model
  if data < 1 or data * model != len(devices):
    raise MeshError(f'mesh.data={data} × mesh.model={model} needs {data * model} devices but '
                    f'{len(devices)} are available; set mesh.data=-1 to use them all.')
  return jax.make_mesh((data, model), (DATA_AXIS, MODEL_AXIS),
                       axis_types=(AxisType.Auto, AxisType.Auto), devices=devices)


def model_axis_size(towers: int, requested: int, device_count: int | None = None, *,
                    adapt: bool = False) -> int:
  """``mesh.model`` resolved: -1 puts one tower per device (the paper's layout) where
  ``device_count`` allows it, else both towers on every device.

  ``device_count=None`` shows the layout on a machine that allows it (the summary);
  ``adapt`` (the tools, which use whatever this machine has) also replaces a requested
  size that does not divide the devices by the rule for -1.
  """
  fits = lambda size: device_count is None or device_count % size == 0
  if requested != -1 and (fits(requested) or not adapt):
    return requested
  return towers if fits(towers) else 1


def check_towers_fit(towers: int, model_axis: int) -> None:
  """Explains what to change when a model axis of ``model_axis`` devices cannot hold the
  towers: each device must hold whole towers."""
  if towers % model_axis:
    hint = ('mesh.model=1: the one-tower net runs whole on each device' if towers == 1 else
            f'mesh.model=1 (each device holds both towers) or mesh.model={towers} '
            '(one tower per device, as in the paper)')
    raise MeshError(f'A model axis of size {model_axis} cannot hold the {towers} tower(s) of '
                    f'model.towers={towers}: each device must hold whole towers. Set {hint}.')


def mesh_for(towers: int, data: int = -1, model: int = -1, *, adapt: bool = False) -> Mesh:
  """The mesh of a config's ``mesh.data`` and ``mesh.model`` over every device
  (:func:`model_axis_size` says what -1 and ``adapt`` do), refused before it is built
  if it cannot hold the towers."""
  model = model_axis_size(towers, model, jax.device_count(), adapt=adapt)
  check_towers_fit(towers, model)
  return make_mesh(data, model)


def check_mesh(mesh: Mesh, towers: int) -> None:
  """A mesh built elsewhere: the axes this project's programs name, holding whole towers."""
  if tuple(mesh.axis_names) != (DATA_AXIS, MODEL_AXIS):
    raise MeshError(f'The mesh must have axes {(DATA_AXIS, MODEL_AXIS)}, not {mesh.axis_names}.')
  check_towers_fit(towers, mesh.shape[MODEL_AXIS])


def check_batch(batch_size: int, mesh: Mesh) -> None:
  data = mesh.shape[DATA_AXIS]
  if batch_size % data:
    raise MeshError(f'A batch of {batch_size} images cannot be split evenly over the '
                    f'{data} devices of the data axis: make the batch size a multiple of '
                    f'{data} or change mesh.data.')


def global_batch(local_batch: Mapping[str, np.ndarray], mesh: Mesh) -> dict[str, jax.Array]:
  """Assembles the global batch from each process's own rows, split over ``data``."""
  sharding = NamedSharding(mesh, P(DATA_AXIS))
  return {
      name: jax.make_array_from_process_local_data(sharding, np.asarray(value))
      for name, value in local_batch.items()
  }


def all_processes_agree(ok: bool) -> bool:
  """True when ``ok`` is True in every process of the run (a collective: all must call it)."""
  if jax.process_count() == 1:
    return ok
  return bool(np.all(multihost_utils.process_allgather(np.int32(ok))))


def from_process_0(value: bool) -> bool:
  """Process 0's ``value`` in every process, for decisions taken on one clock or one read."""
  if jax.process_count() == 1:
    return value
  return bool(multihost_utils.broadcast_one_to_all(np.int32(value)))


def _output_spec(layer: str) -> P:
  """How a layer's global output lies on the mesh: rows over ``data``, a tower-split layer's
  channels over ``model``; fc8 is replicated over ``model``."""
  if layer == 'fc8':
    return P(DATA_AXIS)
  if layer.startswith('fc'):
    return P(DATA_AXIS, MODEL_AXIS)
  return P(DATA_AXIS, None, None, MODEL_AXIS)


class ShardedAlexNet:
  """The network with its towers split over a ``('data', 'model')`` mesh.

  Parameters are plain nested dicts of arrays with the same global shapes on
  every mesh, so they (and checkpoints) move between meshes unchanged.
  """

  def __init__(self, config: ModelConfig, mesh: Mesh):
    check_mesh(mesh, config.towers)
    self.config = config
    self.mesh = mesh
    abstract_model = nnx.eval_shape(lambda: AlexNet(config, rngs=nnx.Rngs(0)))
    self.graphdef, abstract_state = nnx.split(abstract_model)
    self.param_specs = partition_specs(abstract_model)
    self.param_shardings = jax.tree.map(lambda spec: NamedSharding(mesh, spec), self.param_specs)
    self.abstract_params = jax.tree.map(
        lambda value, sharding: jax.ShapeDtypeStruct(value.shape, value.dtype, sharding=sharding),
        nnx.to_pure_dict(abstract_state), self.param_shardings)

  def init(self, key: jax.Array) -> dict:
    """Initialises the parameters in their shards; the values do not depend on the mesh."""

    def create(key):
      return nnx.to_pure_dict(nnx.state(AlexNet(self.config, rngs=nnx.Rngs(params=key))))

    return jax.jit(create, out_shardings=self.param_shardings)(key)

  def dropout_masks(self, key: jax.Array, batch_size: int) -> dict[str, jax.Array]:
    """Boolean keep-masks of fc6 and fc7 for the whole global batch (§4.2).

    They are drawn at their global shape, so every mesh applies the same masks;
    each device then receives the block of its rows and neurons.
    """
    features = layer_features(self.config)
    keep = 1.0 - self.config.dropout_rate
    keys = jax.random.split(key, len(DROPOUT_LAYERS))
    return {
        layer: jax.random.bernoulli(k, keep, (batch_size, features[layer]))
        for layer, k in zip(DROPOUT_LAYERS, keys)
    }

  def apply(self, params: Mapping, images: jax.Array,
            dropout_key: jax.Array | None = None) -> jax.Array:
    """Float32 logits of the global batch; dropout is applied iff ``dropout_key`` is given."""
    check_batch(images.shape[0], self.mesh)
    masks = None
    if dropout_key is not None and self.config.dropout_rate > 0:
      masks = self.dropout_masks(dropout_key, images.shape[0])
    mask_specs = jax.tree.map(lambda _: P(DATA_AXIS, MODEL_AXIS), masks)

    def per_device(params, images, masks):
      # A capture of no variable type keeps none of the outputs the layers sow: the training
      # step's program and state are the network's alone.
      return nnx.capture(nnx.merge(self.graphdef, params))(images, masks)

    return jax.shard_map(per_device, mesh=self.mesh,
                         in_specs=(self.param_specs, P(DATA_AXIS), mask_specs),
                         out_specs=P(DATA_AXIS))(params, images, masks)

  def activations(self, params: Mapping, images: jax.Array,
                  layers: tuple[str, ...] = ('fc7',)) -> dict[str, jax.Array]:
    """The global outputs of the named layers (see ``model.LAYER_OUTPUTS``), evaluation mode.

    E.g. fc7's 4096 features of Figure 4. A tower-split layer leaves the map
    sharded on its channels over ``model``; fc8 is replicated.
    """
    check_batch(images.shape[0], self.mesh)
    unknown = set(layers) - set(LAYER_OUTPUTS)
    if unknown:
      raise ValueError(f'Unknown layers {sorted(unknown)}; known: {LAYER_OUTPUTS}.')
    return self._sown(layers)(params, images)

  def layer_outputs(self, batch_size: int = 1) -> dict[str, jax.ShapeDtypeStruct]:
    """Shape and dtype of each layer's output on one device, traced only: nothing is computed."""
    config = self.config
    images = jax.ShapeDtypeStruct(
        (batch_size, config.image_size, config.image_size, config.input_channels), np.float32)
    outputs = jax.eval_shape(self._sown(LAYER_OUTPUTS), self.abstract_params, images)
    return {
        name: jax.ShapeDtypeStruct(
            NamedSharding(self.mesh, _output_spec(name)).shard_shape(outputs[name].shape),
            outputs[name].dtype) for name in LAYER_OUTPUTS
    }

  def _sown(self, layers: tuple[str, ...]) -> Callable[[Mapping, jax.Array], dict]:
    """``(params, images) -> {layer: global output}`` in evaluation mode: the outputs the
    forward pass sows, captured on each device (``nnx.capture``), laid out as ``_output_spec``
    says."""

    def per_device(params, images):
      model = nnx.merge(self.graphdef, params)
      _, sown = nnx.capture(model, nnx.Intermediate)(images)
      values = nnx.to_pure_dict(sown)
      return {name: values[name][0] for name in layers}  # sow's tuple: one value per pass

    return jax.shard_map(per_device, mesh=self.mesh, in_specs=(self.param_specs, P(DATA_AXIS)),
                         out_specs={name: _output_spec(name) for name in layers})
