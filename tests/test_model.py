"""The network of the paper: sizes, parameter counts, LRN, pooling and every config switch.

The full-size network is only traced (``jax.eval_shape``); anything that runs
uses a narrow, small-image variant.
"""

import dataclasses
import math
import pathlib
import re
import runpy
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from alexnet.config import ModelConfig
from alexnet.model import network as model_lib
from alexnet.model import parallel

ROOT = pathlib.Path(__file__).resolve().parents[1]
TINY = dict(num_classes=10, width=1 / 16, image_size=67)


def one_device_net(**fields) -> parallel.ShardedAlexNet:
  return parallel.ShardedAlexNet(ModelConfig(**fields), parallel.make_mesh(1, 1, jax.devices()[:1]))


def parameter_count(net: parallel.ShardedAlexNet) -> int:
  return sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(net.abstract_params))


def paper_parameter_count(conv, fc, groups, num_classes=1000, pool5=6, conv1_in=3) -> int:
  """Counts the parameters of a net with the paper's kernel sizes, written out by hand."""
  c1, c2, c3, c4, c5 = conv
  f6, f7 = fc
  g2, g4, g5 = groups
  weights = (11 * 11 * conv1_in * c1 + 5 * 5 * (c1 // g2) * c2 + 3 * 3 * c2 * c3 + 3 * 3 *
             (c3 // g4) * c4 + 3 * 3 *
             (c4 // g5) * c5 + pool5 * pool5 * c5 * f6 + f6 * f7 + f7 * num_classes)
  return weights + c1 + c2 + c3 + c4 + c5 + f6 + f7 + num_classes


def test_paper_network_has_60965224_parameters():
  assert parameter_count(one_device_net()) == 60_965_224
  assert paper_parameter_count((96, 256, 384, 384, 256), (4096, 4096), (2, 2, 2)) == 60_965_224


def test_paper_network_layer_outputs_have_the_papers_sizes():
  shapes = {name: out.shape for name, out in one_device_net().layer_outputs(2).items()}
  assert shapes['conv1'] == (2, 55, 55, 96)
  assert shapes['conv2'] == (2, 27, 27, 256)
  assert shapes['conv3'] == (2, 13, 13, 384)
  assert shapes['conv4'] == (2, 13, 13, 384)
  assert shapes['conv5'] == (2, 13, 13, 256)
  assert shapes['pool5'] == (2, 6, 6, 256)  # 6×6×256 = 9216 inputs of fc6
  assert shapes['fc6'] == shapes['fc7'] == (2, 4096)
  assert shapes['fc8'] == (2, 1000)


def test_layer_output_sizes_agree_with_the_analytic_map_sizes():
  for fields in ({}, dict(image_size=224), dict(overlapping_pool=False), TINY,
                 dict(TINY, image_size=24, conv1_kernel=5, conv1_stride=1)):
    config = ModelConfig(**fields)
    outputs = one_device_net(**fields).layer_outputs()
    for layer, size in model_lib.feature_map_sizes(config).items():
      assert outputs[layer].shape[1:3] == (size, size), (fields, layer)


def test_224_input_pads_conv1_so_its_map_is_still_55():
  config = ModelConfig(image_size=224)
  assert model_lib.conv1_padding(config) == (0, 3)
  assert model_lib.conv1_padding(ModelConfig()) == (0, 0)
  assert one_device_net(image_size=224).layer_outputs()['conv1'].shape[1:3] == (55, 55)
  assert parameter_count(one_device_net(image_size=224)) == 60_965_224


def test_one_tower_net_halves_conv1_to_conv4_and_keeps_conv5_and_the_fc_layers():
  net = one_device_net(towers=1)
  params = net.abstract_params
  assert [params[f'conv{i}']['kernel'].shape[-1] for i in range(1, 6)] == [48, 128, 192, 192, 256]
  assert params['fc6']['kernel'].shape == (9216, 4096)
  assert params['fc7']['kernel'].shape == (4096, 4096)
  # Every input of every layer comes from the single tower: no kernel groups.
  assert params['conv2']['kernel'].shape == (5, 5, 48, 128)
  assert parameter_count(net) == paper_parameter_count((48, 128, 192, 192, 256), (4096, 4096),
                                                       (1, 1, 1))


def test_two_towers_group_conv2_conv4_conv5_but_not_conv3():
  params = one_device_net().abstract_params
  assert params['conv2']['kernel'].shape == (5, 5, 48, 256)  # own tower's 48 of 96 maps
  assert params['conv3']['kernel'].shape == (3, 3, 256, 384)  # all 256 maps of both towers
  assert params['conv4']['kernel'].shape == (3, 3, 192, 384)
  assert params['conv5']['kernel'].shape == (3, 3, 192, 256)


def test_non_overlapping_pooling_keeps_the_map_sizes_and_parameter_count():
  net = one_device_net(overlapping_pool=False)
  outputs = net.layer_outputs()
  assert [outputs[name].shape[1] for name in ('pool1', 'pool2', 'pool5')] == [27, 13, 6]
  assert parameter_count(net) == 60_965_224
  assert model_lib.pool_geometry(ModelConfig(overlapping_pool=False)) == (2, 2)
  assert model_lib.pool_geometry(ModelConfig()) == (3, 2)


def test_max_pool_windows_overlap_only_when_configured():
  # A 5×5 map whose single maximum sits at (2, 2): the centre of the (0, 0) window
  # of size 3, outside every window of size 2 at stride 2 except (1, 1).
  x = jnp.zeros((1, 5, 5, 1)).at[0, 2, 2, 0].set(1.0)
  overlapping = model_lib.max_pool(x, 3, 2)[0, :, :, 0]
  disjoint = model_lib.max_pool(x, 2, 2)[0, :, :, 0]
  np.testing.assert_array_equal(overlapping, [[1, 1], [1, 1]])  # every 3-window contains it
  np.testing.assert_array_equal(disjoint, [[0, 0], [0, 1]])


def test_max_pool_never_shrinks_a_map_to_nothing():
  x = jnp.arange(4.0).reshape(1, 2, 2, 1)
  pooled = model_lib.max_pool(x, 3, 2)
  assert pooled.shape == (1, 1, 1, 1) and pooled[0, 0, 0, 0] == 3.0
  tiny = ModelConfig(num_classes=10, width=1 / 16, image_size=16, conv1_kernel=5)
  assert min(model_lib.feature_map_sizes(tiny).values()) >= 1


def lrn_reference(a, *, groups, k, n, alpha, beta, alpha_over_size):
  """The formula of §3.3 in float64, one channel at a time, each tower on its own."""
  a = np.asarray(a, np.float64)
  out = np.empty_like(a)
  per_tower = a.shape[-1] // groups
  scale = alpha / n if alpha_over_size else alpha
  for tower in range(groups):
    maps = a[..., tower * per_tower:(tower + 1) * per_tower]
    for i in range(per_tower):
      lo, hi = max(0, i - n // 2), min(per_tower - 1, i + n // 2)
      total = np.sum(maps[..., lo:hi + 1] ** 2, axis=-1)
      out[..., tower * per_tower + i] = maps[..., i] / (k + scale * total) ** beta
  return out


@pytest.mark.parametrize('alpha_over_size', [False, True])
@pytest.mark.parametrize('groups', [1, 2])
def test_lrn_equals_the_papers_formula_in_float64(groups, alpha_over_size):
  # Large activations and a large α so that the normalisation is far from the identity.
  x = 30 * jax.random.normal(jax.random.key(0), (2, 3, 3, 16))
  constants = dict(k=2.0, alpha=1e-3, beta=0.75)
  ours = model_lib.local_response_norm(x, groups=groups, size=5, alpha_over_size=alpha_over_size,
                                       **constants)
  expected = lrn_reference(x, groups=groups, n=5, alpha_over_size=alpha_over_size, **constants)
  assert not np.allclose(expected, np.asarray(x) / 2 ** 0.75, rtol=1e-2)
  np.testing.assert_allclose(ours, expected, rtol=2e-6, atol=1e-6)


def test_lrn_window_does_not_cross_from_one_tower_into_the_other():
  x = jax.random.normal(jax.random.key(1), (1, 1, 1, 8))
  changed = x.at[..., 4].set(100.0)  # first channel of the second tower
  lrn = lambda v: model_lib.local_response_norm(v, groups=2, k=2.0, size=5, alpha=1e-2, beta=0.75,
                                                alpha_over_size=False)
  np.testing.assert_array_equal(lrn(x)[..., :4], lrn(changed)[..., :4])
  assert not np.allclose(lrn(x)[..., 5:], lrn(changed)[..., 5:])


def apply_tiny(fields, images, *, params=None, dropout_key=None):
  net = one_device_net(**fields)
  params = net.init(jax.random.key(0)) if params is None else params
  return jax.jit(net.apply)(params, images, dropout_key), params


def tiny_images(batch=4, size=67, seed=3):
  return jax.random.normal(jax.random.key(seed), (batch, size, size, 3))


@pytest.mark.integration
def test_lrn_switch_removes_only_the_normalisation():
  images = 50 * tiny_images()
  with_lrn, params = apply_tiny(dict(TINY, init='he'), images)
  without_lrn, _ = apply_tiny(dict(TINY, init='he', lrn=False), images, params=params)
  assert (parameter_count(one_device_net(**TINY,
                                         lrn=False)) == parameter_count(one_device_net(**TINY)))
  assert not np.allclose(with_lrn, without_lrn)


@pytest.mark.integration
def test_lrn_conventions_differ_by_dividing_alpha_by_n():
  images = 50 * tiny_images()
  fields = dict(TINY, init='he')  # keeps the signal alive through the narrow net
  paper, params = apply_tiny(fields, images)
  caffe, _ = apply_tiny(dict(fields, lrn_alpha_over_size=True), images, params=params)
  same_as_caffe, _ = apply_tiny(dict(fields, lrn_alpha=2e-5), images, params=params)
  assert not np.allclose(paper, caffe)
  np.testing.assert_allclose(caffe, same_as_caffe, rtol=1e-5, atol=1e-6)


@pytest.mark.integration
def test_dropout_zeroes_about_half_of_fc6_and_fc7_and_only_in_training():
  net = one_device_net(**TINY)
  masks = net.dropout_masks(jax.random.key(7), 64)
  assert set(masks) == {'fc6', 'fc7'}
  assert masks['fc6'].shape == (64, 256)
  assert 0.45 < float(masks['fc6'].mean()) < 0.55
  images = tiny_images()
  evaluation, params = apply_tiny(TINY, images)
  again, _ = apply_tiny(TINY, images, params=params)
  training, _ = apply_tiny(TINY, images, params=params, dropout_key=jax.random.key(1))
  np.testing.assert_array_equal(evaluation, again)
  assert not np.allclose(evaluation, training)
  no_dropout, _ = apply_tiny(dict(TINY, dropout_rate=0.0), images, params=params,
                             dropout_key=jax.random.key(1))
  np.testing.assert_array_equal(no_dropout, evaluation)


def test_training_forward_pass_keeps_none_of_the_outputs_the_layers_sow():
  """``apply`` runs the model under a capture of no variable type: ``Module.sow`` outside
  any capture would add every layer's output to the model's state, and warns that it does."""
  net = one_device_net(**TINY)
  images = jax.ShapeDtypeStruct((2, 67, 67, 3), jnp.float32)
  with warnings.catch_warnings():
    warnings.simplefilter('error', DeprecationWarning)
    jax.eval_shape(net.apply, net.abstract_params, images, jax.random.key(0))


@pytest.mark.integration
def test_paper_init_has_std_001_weights_and_unit_biases_on_conv2_conv4_conv5_fc6_fc7():
  params = one_device_net(num_classes=10, width=1 / 4).init(jax.random.key(0))
  for layer in model_lib.LAYERS:
    bias = 1.0 if layer in ('conv2', 'conv4', 'conv5', 'fc6', 'fc7') else 0.0
    np.testing.assert_array_equal(params[layer]['bias'], bias)
  assert abs(float(jnp.std(params['fc6']['kernel'])) - 0.01) < 2e-4


@pytest.mark.integration
def test_caffe_init_uses_std_0005_and_bias_01_on_fc6_and_fc7():
  params = one_device_net(num_classes=10, width=1 / 4, init='caffe').init(jax.random.key(0))
  assert abs(float(jnp.std(params['fc7']['kernel'])) - 0.005) < 1e-4
  np.testing.assert_array_equal(params['fc6']['bias'], np.float32(0.1))
  np.testing.assert_array_equal(params['conv3']['bias'], 0.0)


@pytest.mark.integration
def test_relu_network_is_positively_homogeneous_and_tanh_is_not():
  # With zero biases ('he' init) and no LRN, ReLU, max-pooling and the linear
  # layers all commute with a positive scale; tanh saturates.
  fields = dict(TINY, init='he', lrn=False)
  images = tiny_images()
  logits, params = apply_tiny(fields, images)
  doubled, _ = apply_tiny(fields, 2 * images, params=params)
  np.testing.assert_allclose(doubled, 2 * logits, rtol=1e-4, atol=1e-4)
  tanh_fields = dict(fields, activation='tanh')
  tanh_logits, _ = apply_tiny(tanh_fields, images, params=params)
  tanh_doubled, _ = apply_tiny(tanh_fields, 2 * images, params=params)
  assert not np.allclose(tanh_doubled, 2 * tanh_logits, rtol=1e-2)


@pytest.mark.integration
def test_bfloat16_compute_keeps_float32_parameters_and_close_logits():
  images = tiny_images()
  full, params = apply_tiny(dict(TINY, init='he'), images)
  half, _ = apply_tiny(dict(TINY, init='he', compute_dtype='bfloat16'), images, params=params)
  assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(params))
  assert half.dtype == jnp.float32
  assert one_device_net(**TINY, compute_dtype='bfloat16').layer_outputs()['conv1']
  np.testing.assert_allclose(half, full, rtol=0.1, atol=0.1 * float(jnp.abs(full).max()))
  assert not np.array_equal(half, full)


@pytest.mark.integration
def test_width_and_input_size_make_a_small_net_that_runs():
  fields = dict(num_classes=10, width=1 / 8, image_size=32, conv1_kernel=5, conv1_stride=1,
                input_channels=1)
  logits, params = apply_tiny(fields, tiny_images(size=32)[..., :1])
  assert logits.shape == (4, 10) and np.all(np.isfinite(logits))
  assert params['conv1']['kernel'].shape == (5, 5, 1, 12)
  assert params['fc6']['kernel'].shape[-1] == 512


@pytest.mark.parametrize('field, value, message', [
    ('towers', 3, 'towers=3'),
    ('init', 'xavier', "init='xavier'"),
    ('activation', 'gelu', "activation='gelu'"),
    ('dropout_rate', 1.0, 'dropout_rate=1.0'),
    ('lrn_size', 4, 'lrn_size=4'),
    ('image_size', 8, 'image_size=8'),
    ('compute_dtype', 'float16', "compute_dtype='float16'"),
])
def test_invalid_model_config_names_the_field_and_the_allowed_values(field, value, message):
  with pytest.raises(ValueError, match=message):
    ModelConfig(**{field: value})


def test_unknown_model_config_field_is_named():
  with pytest.raises(ValueError, match='lrn_n'):
    ModelConfig.from_mapping(dict(lrn_n=5))


def test_model_defaults_are_the_paper_config():
  paper = runpy.run_path(str(ROOT / 'configs' / 'imagenet_paper.py'))['get_config']()
  assert ModelConfig.from_mapping(paper.model) == ModelConfig()
  assert dataclasses.asdict(ModelConfig()) == paper.model.to_dict()


@pytest.mark.integration
def test_every_stage_of_the_forward_and_backward_pass_carries_its_name_for_profiles():
  """benchmarks/step_profile.py attributes XLA's operations by these named scopes."""
  config = ModelConfig(num_classes=10, width=1 / 16, image_size=67)
  net = parallel.ShardedAlexNet(config, parallel.make_mesh(1, 1, jax.devices()[:1]))
  params = net.init(jax.random.key(0))
  loss = lambda p: net.apply(p, jnp.zeros((2, 67, 67, 3))).sum()
  text = jax.jit(jax.grad(loss)).lower(params).as_text(debug_info=True)
  forward, backward = set(), set()
  for name in re.findall(r'"(jit\([^"]*)"', text):
    stages = [part for part in name.split('/') if part in model_lib.STAGES]
    (backward if 'transpose(' in name else forward).update(stages)
  assert forward == set(model_lib.STAGES)
  assert backward == set(model_lib.STAGES)
