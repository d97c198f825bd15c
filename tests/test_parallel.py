"""The towers split over a ('data', 'model') mesh compute the same function as one device.

Runs on eight CPU devices (tests/conftest.py). Meshes use the first data×model devices.
"""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from alexnet.config import ModelConfig, OptimConfig
from alexnet.model import parallel
from alexnet.training import optim, steps

TWO_TOWER_MESHES = [(1, 1), (1, 2), (2, 2), (4, 2)]
ONE_TOWER_MESHES = [(1, 1), (2, 1), (4, 1)]
TINY = dict(num_classes=10, width=1 / 16, image_size=67, init='he')
BATCH = 8
SGD = OptimConfig()  # §5's SGD: rate 0.01, momentum 0.9, weight decay 5e-4 on weights


def net_on(mesh_shape, **fields) -> parallel.ShardedAlexNet:
  data, model = mesh_shape
  mesh = parallel.make_mesh(data, model, jax.devices()[:data * model])
  return parallel.ShardedAlexNet(ModelConfig(**fields), mesh)


def tiny_batch(size=67):
  images = jax.random.normal(jax.random.key(1), (BATCH, size, size, 3))
  return dict(image=images, label=jnp.arange(BATCH) % 10)


def loss_logits_and_gradients(net, params, batch, dropout_key):

  def loss_fn(params):
    logits = net.apply(params, batch['image'], dropout_key)
    return steps.cross_entropy(logits, batch['label']), logits

  (loss, logits), grads = jax.jit(jax.value_and_grad(loss_fn, has_aux=True))(params)
  return jax.tree.map(np.asarray, (loss, logits, grads))


def assert_trees_close(actual, expected):
  for a, e in zip(jax.tree.leaves(actual), jax.tree.leaves(expected), strict=True):
    np.testing.assert_allclose(a, e, rtol=2e-5, atol=2e-6 * max(1.0, np.abs(e).max()))


@pytest.mark.integration
@pytest.mark.parametrize('training', [True, False], ids=['training', 'evaluation'])
@pytest.mark.parametrize('towers, meshes', [(2, TWO_TOWER_MESHES), (1, ONE_TOWER_MESHES)],
                         ids=['two_towers', 'one_tower'])
def test_logits_loss_and_gradients_do_not_depend_on_the_mesh(towers, meshes, training):
  batch = tiny_batch()
  dropout_key = jax.random.key(2) if training else None
  params = None
  results = []
  for shape in meshes:
    net = net_on(shape, towers=towers, **TINY)
    if params is None:
      params = jax.device_get(net.init(jax.random.key(0)))
    sharded = jax.device_put(params, net.param_shardings)
    results.append(loss_logits_and_gradients(net, sharded, batch, dropout_key))
  for result in results[1:]:
    assert_trees_close(result, results[0])
  if training:  # dropout really was on: evaluation mode gives other logits
    evaluation = loss_logits_and_gradients(net, sharded, batch, None)
    assert not np.allclose(evaluation[1], results[-1][1])


@pytest.mark.integration
def test_initial_parameters_have_the_same_global_shapes_and_values_on_every_mesh():
  reference = jax.device_get(net_on((1, 1), **TINY).init(jax.random.key(0)))
  for shape in TWO_TOWER_MESHES[1:]:
    net = net_on(shape, **TINY)
    params = net.init(jax.random.key(0))
    jax.tree.map(np.testing.assert_array_equal, jax.device_get(params), reference)
    kernel = params['conv2']['kernel']
    assert kernel.shape == reference['conv2']['kernel'].shape
    # Each device holds the kernels of its own tower(s) only.
    towers_per_device = 2 // shape[1]
    assert kernel.addressable_shards[0].data.shape[-1] == kernel.shape[-1] // 2 * towers_per_device


@pytest.mark.integration
def test_one_sgd_step_gives_the_same_new_parameters_on_every_mesh():
  batch = tiny_batch()
  new_params = []
  for shape in TWO_TOWER_MESHES:
    net = net_on(shape, **TINY)
    tx = optim.make_optimizer(SGD)
    state = steps.create_train_state(net, tx, seed=0)
    state, metrics = steps.make_train_step(net, tx)(state, batch, 0.01)
    assert np.isfinite(metrics['loss'])
    new_params.append(jax.device_get(state.params))
  for params in new_params[1:]:
    assert_trees_close(params, new_params[0])


# One collective in the compiled HLO: its result type, kind and replica groups.
_COLLECTIVE = re.compile(
    r'=\s*(?P<result>[^=]*?)\s+(?P<kind>all-gather|reduce-scatter|all-reduce|all-to-all|'
    r'collective-permute|collective-broadcast)(?:-start)?\(.*?'
    r'replica_groups=(?P<groups>\{\{[\d,{}]*\}\}|\[[\d,]+\]<=\[[\d,]+\](?:T\([\d,]+\))?|'
    r"mesh\[[^\]]*\](?:, device_ids=\([^)]*\)[^)]*\))?\s*\{[^}]*\})")


def iota(spec: str) -> np.ndarray:
  """XLA's iota device list "[reshape]T(perm)" (or "[dims]<=[reshape]T(perm)"), flattened."""
  shapes = [[int(d) for d in dims.split(',')] for dims in re.findall(r'\[([\d,]+)\]', spec)]
  ids = np.arange(np.prod(shapes[-1])).reshape(shapes[-1])
  perm = re.search(r'T\(([\d,]+)\)', spec)
  if perm:
    ids = ids.transpose([int(d) for d in perm.group(1).split(',')])
  return ids.ravel()


def replica_groups(groups: str) -> set[frozenset[int]]:
  """The sets of device positions that a collective runs over, from any of XLA's notations."""
  if groups.startswith('{{'):
    return {frozenset(int(d) for d in g.split(',')) for g in re.findall(r'\{([\d,]+)\}', groups)}
  if groups.startswith('['):  # [groups, size]<=[...]: rows of the iota
    rows, size = (int(d) for d in re.match(r'\[(\d+),(\d+)\]', groups).groups())
    return {frozenset(row) for row in iota(groups.split('<=')[1]).reshape(rows, size).tolist()}
  # mesh['axis_0'=a,...] [, device_ids=(iota)] {'axis_i', ...}: groups over the named axes.
  axes = re.findall(r"'(axis_\d+)'=(\d+)", groups)
  sizes = [int(size) for _, size in axes]
  device_ids = re.search(r'device_ids=\((.*)\)\s*\{', groups)
  ids = (iota(device_ids.group(1)) if device_ids else np.arange(np.prod(sizes))).reshape(sizes)
  over = [i for i, (name, _) in enumerate(axes) if f"'{name}'" in groups.rsplit('{', 1)[1]]
  kept = [i for i in range(len(sizes)) if i not in over]
  ids = ids.transpose(kept + over).reshape(-1, int(np.prod([sizes[i] for i in over])))
  return {frozenset(row) for row in ids.tolist()}


def mesh_axis_of(groups: str, mesh) -> str:
  """Which axis of the ('data', 'model') mesh a collective runs over."""
  positions = np.arange(mesh.devices.size).reshape(mesh.devices.shape)
  along = {
      'model': {frozenset(row) for row in positions.tolist()},
      'data': {frozenset(col) for col in positions.T.tolist()},
      'both': {frozenset(positions.ravel().tolist())}
  }
  found = replica_groups(groups)
  for axis, expected in along.items():
    if found == expected:
      return axis
  raise AssertionError(f'replica groups {groups} follow no mesh axis')


def dims_of(hlo_type: str) -> tuple[int, ...]:
  """The dimensions of an HLO array type such as f32[4,3,3,16]{3,2,1,0}."""
  (dims,) = re.findall(r'\[([\d,]*)\]', hlo_type)
  return tuple(int(d) for d in dims.split(',') if d)


def all_scalars(hlo_type: str) -> bool:
  """Whether an HLO type (an array or a tuple of arrays) holds only scalars."""
  return all(dims == '' for dims in re.findall(r'\[([\d,]*)\]', hlo_type))


@pytest.mark.integration
def test_compiled_train_step_exchanges_activations_only_where_the_papers_gpus_did():
  net = net_on((2, 2), **TINY)
  tx = optim.make_optimizer(SGD)
  state = steps.create_train_state(net, tx, seed=0)
  batch = tiny_batch()
  hlo = steps.make_train_step(net, tx).lower(state, batch, 0.01).compile().as_text()
  collectives = [m.groupdict() for m in _COLLECTIVE.finditer(hlo)]
  assert len(collectives) == len(
      re.findall(
          r'\b(all-gather|reduce-scatter|all-reduce|all-to-all|collective-permute)(-start)?\(',
          hlo))
  over = lambda axis, kind: [
      c for c in collectives if c['kind'] == kind and mesh_axis_of(c['groups'], net.mesh) == axis
  ]

  # Forward: the inputs of conv3, fc6, fc7 and fc8 gathered from both towers.
  outputs = net.layer_outputs(BATCH)  # per-device shapes: half the rows, one tower's channels
  both_towers = lambda name: (*outputs[name].shape[:-1], 2 * outputs[name].shape[-1])
  inputs_of = {
      'conv3': both_towers('pool2'), 'fc6': both_towers('pool5'), 'fc7': both_towers('fc6'),
      'fc8': both_towers('fc7')
  }
  gathered = sorted(dims_of(c['result']) for c in over('model', 'all-gather'))
  assert gathered == sorted(inputs_of.values())
  # Backward: each gather's transpose hands every tower the summed gradients of its
  # own activations, except fc8's, whose input and weights every device holds whole.
  scattered = sorted(dims_of(c['result']) for c in over('model', 'reduce-scatter'))
  assert scattered == sorted(outputs[name].shape for name in ('pool2', 'pool5', 'fc6'))
  # Nothing else crosses the model axis: no collective inside conv1, conv2, conv4, conv5.
  # The one exception is a scalar: the norm of all gradients, the NaN guard's input.
  assert all(all_scalars(c['result']) for c in over('model', 'all-reduce'))
  assert {c['kind'] for c in collectives} <= {'all-gather', 'reduce-scatter', 'all-reduce'}
  # The gradients (and the loss) are summed over the data axis only.
  assert over('data', 'all-reduce')
  assert all(mesh_axis_of(c['groups'], net.mesh) in ('data', 'model') for c in collectives)


def test_model_axis_that_does_not_divide_the_towers_says_what_to_set():
  mesh = parallel.make_mesh(1, 3, jax.devices()[:3])
  with pytest.raises(ValueError, match=r'mesh.model=1 .* or mesh.model=2'):
    parallel.ShardedAlexNet(ModelConfig(**TINY), mesh)


def test_one_tower_net_on_a_model_axis_of_two_says_to_use_one():
  with pytest.raises(ValueError, match=r'Set mesh.model=1'):
    net_on((1, 2), towers=1, **TINY)


@pytest.mark.integration
def test_batch_not_divisible_by_the_data_axis_says_what_to_change():
  net = net_on((4, 2), **TINY)
  params = net.init(jax.random.key(0))
  with pytest.raises(ValueError, match=r'batch of 6 images .* multiple of 4'):
    net.apply(params, jnp.zeros((6, 67, 67, 3)))


def test_mesh_larger_than_the_devices_says_how_many_exist():
  with pytest.raises(ValueError, match='needs 16 devices but 8 are available'):
    parallel.make_mesh(8, 2)
  assert parallel.make_mesh(-1, 2).shape == {'data': 4, 'model': 2}
  assert parallel.mesh_for(towers=2).shape == {'data': 4, 'model': 2}
  assert parallel.mesh_for(towers=1).shape == {'data': 8, 'model': 1}


@pytest.mark.integration
def test_layer_activations_are_the_same_global_arrays_on_every_mesh():
  batch = tiny_batch()
  layers = ('pool2', 'fc7', 'fc8')
  results = []
  params = None
  for shape in [(1, 1), (2, 2)]:
    net = net_on(shape, **TINY)
    params = jax.device_get(net.init(jax.random.key(0))) if params is None else params
    sharded = jax.device_put(params, net.param_shardings)
    results.append(
        jax.device_get(jax.jit(net.activations, static_argnums=2)(sharded, batch['image'], layers)))
    # jitted: eagerly, a shard_map runs each operation of the network on its own (15× the CPU).
    logits = jax.jit(net.apply)(sharded, batch['image'])
    np.testing.assert_allclose(results[-1]['fc8'], logits, rtol=1e-6)
  assert results[0]['fc7'].shape == (BATCH, 256) and results[0]['pool2'].shape[-1] == 16
  assert_trees_close(results[1], results[0])
