"""alexnet.export: a checkpoint as a flat .npz, readable and usable without this package."""

import dataclasses
import io
import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from alexnet import export, trained_run
from alexnet.data.tensorflow_import import tf
from alexnet.model import parallel
from tiny_run import ROOT
from xla_flags import cpu_devices

pytestmark = pytest.mark.integration

LAYERS = ('conv1', 'conv2', 'conv3', 'conv4', 'conv5', 'fc6', 'fc7', 'fc8')


@pytest.fixture(scope='module')
def exported(tiny_run, tmp_path_factory):
  run = trained_run.load_run(tiny_run)
  path = export.export_run(run, tmp_path_factory.mktemp('export') / 'params.npz')
  return run, path


def test_the_npz_round_trips_every_parameter_bitwise_without_pickle(exported):
  run, path = exported
  with np.load(path, allow_pickle=False) as archive:
    keys = set(archive.files)
  assert {f'{layer}/{kind}' for layer in LAYERS for kind in ('kernel', 'bias')} <= keys
  loaded = export.load_export(path)
  expected = jax.device_get(run.params)
  assert loaded.params.keys() == expected.keys()
  for layer in LAYERS:
    for kind in ('kernel', 'bias'):
      np.testing.assert_array_equal(loaded.params[layer][kind], expected[layer][kind])
      assert loaded.params[layer][kind].dtype == np.float32
  assert loaded.model_config == run.model_config
  assert loaded.class_names == run.dataset.info.class_names


def documented_forward(path, images: np.ndarray) -> np.ndarray:
  """Logits computed from the .npz alone, following export.py's documentation
  (HWIO kernels grouped by tower, feature_group_count for conv2/4/5, LRN within a tower,
  (h, w, c) flattening for fc6), with plain jax.lax operations."""
  with np.load(path, allow_pickle=False) as archive:
    p = {key: jnp.asarray(archive[key]) for key in archive.files if '/' in key}
    config = json.loads(str(archive['model_config']))
  towers = config['towers']
  act = jax.nn.relu if config['activation'] == 'relu' else jnp.tanh

  def conv(x, layer, stride, padding, groups):
    y = jax.lax.conv_general_dilated(x, p[f'{layer}/kernel'], (stride, stride), padding,
                                     dimension_numbers=('NHWC', 'HWIO', 'NHWC'),
                                     feature_group_count=groups)
    return y + p[f'{layer}/bias']

  def lrn(x):
    if not config['lrn']:
      return x
    n, h, w, c = x.shape
    a = x.reshape(n, h, w, towers, c // towers)
    half = config['lrn_size'] // 2
    padded = jnp.pad(a ** 2, [(0, 0)] * 4 + [(half, half)])
    sums = sum(padded[..., i:i + c // towers] for i in range(config['lrn_size']))
    alpha = config['lrn_alpha'] / (config['lrn_size'] if config['lrn_alpha_over_size'] else 1)
    return (a / (config['lrn_k'] + alpha * sums) ** config['lrn_beta']).reshape(x.shape)

  def pool(x):
    window = 3 if config['overlapping_pool'] else 2
    grow = [(0, max(0, window - size)) for size in x.shape[1:3]]  # tiny maps pool to 1×1
    x = jnp.pad(x, [(0, 0), *grow, (0, 0)], constant_values=-jnp.inf)
    return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, window, window, 1), (1, 2, 2, 1),
                                 'VALID')

  x = jnp.asarray(images)
  x = pool(
      lrn(act(conv(x, 'conv1', config['conv1_stride'], [tuple(config['conv1_padding'])] * 2, 1))))
  x = pool(lrn(act(conv(x, 'conv2', 1, [(2, 2)] * 2, towers))))
  x = act(conv(x, 'conv3', 1, [(1, 1)] * 2, 1))
  x = act(conv(x, 'conv4', 1, [(1, 1)] * 2, towers))
  x = pool(act(conv(x, 'conv5', 1, [(1, 1)] * 2, towers)))
  x = x.reshape(len(x), -1)  # (h, w, c) order
  x = act(x @ p['fc6/kernel'] + p['fc6/bias'])
  x = act(x @ p['fc7/kernel'] + p['fc7/bias'])
  return np.asarray(x @ p['fc8/kernel'] + p['fc8/bias'])


@pytest.fixture(scope='module')
def random_run(tiny_run) -> trained_run.Run:
  """The tiny run's network at 99×99 (pool5 is then 2×2, so fc6's input order matters), with
  random weights and biases everywhere."""
  config = trained_run.load_config(tiny_run)
  config = dataclasses.replace(config, model=dataclasses.replace(config.model, image_size=99),
                               data=dataclasses.replace(config.data, resize_size=104))
  net = parallel.ShardedAlexNet(config.model, trained_run.mesh_for_tools(config))
  rng = np.random.default_rng(0)
  params = jax.tree.map(lambda x: x + rng.normal(0, 0.05, x.shape).astype(np.float32),
                        jax.device_get(net.init(jax.random.key(0))))
  return trained_run.Run(tiny_run, config, net, params, step=0)


def test_a_forward_pass_written_from_the_documented_layout_gives_the_models_outputs(
    random_run, tmp_path):
  path = export.export_run(random_run, tmp_path / 'random.npz')
  size = random_run.model_config.image_size
  # Raw-pixel scale, as in the paper: large enough for LRN's window sums to matter.
  images = np.random.default_rng(1).normal(0, 60, (8, size, size, 3)).astype(np.float32)
  # jitted: eagerly, a shard_map runs each operation of the network on its own (15× the CPU).
  expected = np.asarray(jax.jit(random_run.net.apply)(random_run.params, images))
  logits = documented_forward(path, images)
  np.testing.assert_allclose(logits, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def test_the_documented_input_normalisation_reproduces_evaluation_preprocessing(exported):
  run, path = exported
  loaded = export.load_export(path)
  grey = np.random.default_rng(1).integers(0, 256, (28, 28), dtype=np.uint8)
  encoded = io.BytesIO()
  Image.fromarray(grey).save(encoded, format='PNG')
  expected = run.preprocess(encoded.getvalue(), crops=1)[0]
  # Fashion-MNIST's stored form (28×28 grey) at resize_size: bilinear, three equal channels.
  resize, size = run.config.data.resize_size, run.model_config.image_size
  image = tf.image.resize(
      np.repeat(grey[..., None], 3, axis=-1).astype(np.float32), [resize, resize],
      method='bilinear', antialias=True).numpy()
  top = (resize - size) // 2
  documented = ((image - loaded.mean_image)[top:top + size, top:top + size]) * loaded.scale
  documented = documented[..., :loaded.model_config.input_channels]
  np.testing.assert_allclose(documented, expected, rtol=1e-5, atol=1e-4)


def test_command_line_writes_the_npz_of_the_chosen_checkpoint(tiny_run, tmp_path):
  env = {**os.environ, **cpu_devices(1)}
  output = tmp_path / 'step4.npz'
  result = subprocess.run([
      sys.executable, '-m', 'alexnet.export', f'--workdir={tiny_run}', '--checkpoint=4',
      f'--output={output}'
  ], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-2000:]
  assert f'{output}: ' in result.stdout and 'parameters of step 4' in result.stdout
  expected = jax.device_get(trained_run.load_run(tiny_run, '4').params)
  np.testing.assert_array_equal(
      export.load_export(output).params['conv2']['kernel'], expected['conv2']['kernel'])


def test_an_output_path_through_a_file_is_one_line_and_writes_nothing(tiny_run, tmp_path):
  env = {**os.environ, **cpu_devices(1)}
  (tmp_path / 'afile').write_text('')
  result = subprocess.run([
      sys.executable, '-m', 'alexnet.export', f'--workdir={tiny_run}',
      f'--output={tmp_path / "afile" / "params.npz"}'
  ], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
  assert result.returncode == 2, result.stderr[-2000:]
  assert result.stderr.splitlines()[-1] == (f'error: {tmp_path / "afile"}: a file is in the way '
                                            'of a directory needed here.'), result.stderr
  assert sorted(p.name for p in tmp_path.iterdir()) == ['afile']
