"""alexnet.evaluate: a checkpoint's top-1/top-5 error, centre crop or §4.1's ten patches."""

import gzip
import os
import re
import struct
import subprocess
import sys

import numpy as np
import pytest

from alexnet import trained_run
from alexnet.config import ConfigError
from alexnet.data.tensorflow_import import tf
from tiny_run import NUM_TEST, ROOT
from xla_flags import cpu_devices

pytestmark = pytest.mark.integration


def idx_test_split(manual_dir) -> tuple[np.ndarray, np.ndarray]:
  """The test images (n, 28, 28) and labels, read straight from the idx files."""
  with gzip.open(manual_dir / 't10k-images-idx3-ubyte.gz') as f:
    _, count, height, width = struct.unpack('>IIII', f.read(16))
    images = np.frombuffer(f.read(), np.uint8).reshape(count, height, width)
  with gzip.open(manual_dir / 't10k-labels-idx1-ubyte.gz') as f:
    f.read(8)
    labels = np.frombuffer(f.read(), np.uint8).astype(np.int64)
  return images, labels


def ten_patches_by_hand(image: np.ndarray, run: trained_run.Run) -> np.ndarray:
  """§4.1's ten patches of one 28×28 grey image, written out from the paper and the config:
  grey → RGB, bilinear to resize_size, minus the mean image, (divided by the std), the
  four corner patches and the centre patch, and their mirror images."""
  config = run.config.data
  statistics = run.dataset.statistics
  rgb = np.repeat(image[..., None], 3, axis=-1).astype(np.float32)
  resized = tf.image.resize(rgb, [config.resize_size] * 2, method='bilinear',
                            antialias=True).numpy()
  centred = resized - statistics.mean_image
  if config.divide_by_std:
    centred = centred / (255.0 * np.sqrt(np.diag(statistics.rgb_covariance)))
  size, far = run.model_config.image_size, config.resize_size - run.model_config.image_size
  centre = far // 2
  corners = [(centre, centre), (0, 0), (0, far), (far, 0), (far, far)]
  patches = [centred[top:top + size, left:left + size] for top, left in corners]
  return np.stack(patches + [p[:, ::-1] for p in patches])


def errors_by_hand(probabilities: np.ndarray, labels: np.ndarray) -> dict[str, float]:
  ranked = np.argsort(-probabilities, axis=1)
  return dict(
      top1_error=float(np.mean(ranked[:, 0] != labels)),
      top5_error=float(np.mean([label not in row[:5] for label, row in zip(labels, ranked)])),
      loss=float(np.mean(-np.log(probabilities[np.arange(len(labels)), labels] + 1e-12))))


def test_ten_crop_error_equals_a_hand_computation_over_the_ten_patches(tiny_run):
  run = trained_run.load_run(tiny_run)
  images, labels = idx_test_split(tiny_run.parent / 'manual')
  patches = np.stack([ten_patches_by_hand(image, run) for image in images])  # (n, 10, h, w, 3)
  per_patch = run.probabilities(patches.reshape(-1, 1, *patches.shape[2:]))
  per_patch = per_patch.reshape(len(images), 10, -1)
  expected = errors_by_hand(per_patch.mean(axis=1), labels)
  centre_only = errors_by_hand(per_patch[:, 0], labels)
  # The patches must matter, or the test could not tell ten from one.
  assert np.abs(per_patch.mean(axis=1) - per_patch[:, 0]).max() > 1e-3

  result = run.evaluate('test', crops=10)

  assert result['examples'] == NUM_TEST == len(labels)
  assert result['top1_error'] == expected['top1_error']
  assert result['top5_error'] == expected['top5_error']
  assert result['loss'] == pytest.approx(expected['loss'], rel=1e-5)
  centre = run.evaluate('test', crops=1)
  assert (centre['top1_error'], centre['top5_error']) == (centre_only['top1_error'],
                                                          centre_only['top5_error'])
  assert centre['loss'] == pytest.approx(centre_only['loss'], rel=1e-5)


def test_best_checkpoint_is_the_evaluated_one_and_unknown_steps_are_named(tiny_run):
  assert trained_run.load_run(tiny_run, 'best').step == 8  # only step 8 followed an evaluation
  assert trained_run.load_run(tiny_run, '4').step == 4
  with pytest.raises(ValueError, match=r"checkpoint '5' .* saved steps .*\[4, 8\]"):
    trained_run.load_run(tiny_run, '5')
  with pytest.raises(trained_run.RunNotFoundError, match=r'holds no config.json'):
    trained_run.load_run(tiny_run.parent)


def evaluate_command(workdir, *args: str) -> subprocess.CompletedProcess:
  """``python -m alexnet.evaluate --workdir=workdir *args`` on one CPU device."""
  env = {**os.environ, **cpu_devices(1)}
  return subprocess.run([sys.executable, '-m', 'alexnet.evaluate', f'--workdir={workdir}', *args],
                        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_command_line_prints_the_errors_of_the_latest_checkpoint(tiny_run):
  result = evaluate_command(tiny_run, '--crops=10')
  assert result.returncode == 0, result.stderr[-2000:]
  expected = trained_run.load_run(tiny_run).evaluate('test', crops=10)
  assert (f'step 8, test ({NUM_TEST} images, 10 crops): top-1 error '
          f'{100 * expected["top1_error"]:.2f} %, top-5 error '
          f'{100 * expected["top5_error"]:.2f} %') in result.stdout


@pytest.mark.parametrize('split, message', [
    ('test[20000:30000]', r'incompatible with 40 examples'),
    ('test[:0]', r'holds no example'),
])
def test_a_split_slice_out_of_range_or_empty_is_refused_naming_the_flag(tiny_run, split, message):
  with pytest.raises(ConfigError,
                     match=rf"--split='{re.escape(split)}' is not allowed: .*{message}"):
    trained_run.load_run(tiny_run).dataset.split_examples(split, '--split')


def test_an_unknown_split_is_one_line_naming_the_splits_there_are(tiny_run):
  result = evaluate_command(tiny_run, '--split=bogus')
  assert result.returncode == 2, result.stderr[-2000:]
  assert result.stderr.splitlines() == [
      "error: --split='bogus' is not allowed: it must be a split of alexnet_fashion_mnist "
      "(train, test) or a slice of one such as 'train[:10%]' (Unknown split 'bogus'. Should be "
      "one of ['train', 'test'].)"
  ], result.stderr
