"""The training split's pixel statistics (§2, §4.1): computed once at preparation, read by runs.

§2 subtracts the mean image of the training set; §4.1's colour shift follows the PCA of
its RGB covariance. One pass over the training split, decoding each image exactly as
training does, computes both; they are saved next to the prepared data, in a file of
their own per training split and stored size, written atomically so that a reader never
sees half of one.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile

import jax
import numpy as np

from alexnet.config import DataConfig
from alexnet.data import input_pipeline
from alexnet.data.host_augmentation import decode
from alexnet.data.registry import Spec
from alexnet.data.tensorflow_import import tf
from alexnet.run import console, stopping

_BATCH = 64


@dataclasses.dataclass(frozen=True)
class Statistics:
  """The training split's pixel statistics at the stored-and-resized size (§2, §4.1)."""

  mean_image: np.ndarray  # (resize, resize, 3), 0–255
  rgb_mean: np.ndarray  # (3,), 0–255
  rgb_covariance: np.ndarray  # (3, 3), pixels in [0, 1], as the published eigenvalues are
  num_images: int


def file_for(spec: Spec, data_config: DataConfig) -> str:
  """Statistics of the training split (a slice such as 'train[:512]' has its own)."""
  split = ''.join(c if c.isalnum() else '_' for c in data_config.train_split)
  return os.path.join(os.fspath(spec.builder.data_dir),
                      f'alexnet_statistics_{split}_{data_config.resize_size}.npz')


def _to_float(images: tf.Tensor, size: int, channels: int) -> tf.Tensor:
  """Stored images (…, h, w, 1 or 3) → float32 at size×size with ``channels`` channels
  (grey made RGB as three equal channels where 3 are asked for)."""
  if images.shape[-1] < channels:
    images = tf.image.grayscale_to_rgb(images)
  images = tf.cast(images, tf.float32)
  if images.shape[-2] != size:
    images = tf.image.resize(images, [size, size], method='bilinear', antialias=True)
  return images


def compute(spec: Spec, data_config: DataConfig) -> Statistics:
  """One pass over the training split: the mean image and the RGB covariance.

  Images are decoded exactly as training decodes them (stored form, then resized to
  ``resize_size``), in parallel by tf.data; sums are accumulated in float64.
  """
  source = input_pipeline.source(spec, data_config.train_split)
  size, count = data_config.resize_size, len(source)
  batch = min(_BATCH, count)

  def step_fn(step: int) -> dict[str, np.ndarray]:  # every example once, in stored order
    positions = np.arange(step * batch, (step + 1) * batch)
    return {'index': np.minimum(positions, count - 1), 'mask': positions < count}

  ds = input_pipeline.batches(tf.data.Dataset.range(-(-count // batch)), step_fn, source, batch,
                              lambda ex: _to_float(decode(spec, ex['encoded']), size, 3),
                              {'mask': tf.TensorSpec([], tf.bool)}, ('mask',), data_config)
  total = np.zeros((size, size, 3), np.float64)
  outer = np.zeros((3, 3), np.float64)
  progress = console.Progress(f'statistics of {data_config.train_split}:', count, unit='image',
                              enabled=jax.process_index() == 0)
  for images in ds.as_numpy_iterator():
    stopping.check('while computing the statistics of the training split')
    kept = images['image'][images['mask']].astype(np.float64)
    total += kept.sum(axis=0)
    pixels = kept.reshape(-1, 3) / 255.0
    outer += pixels.T @ pixels
    progress.update(min(count, progress.done + batch))
  progress.close()
  mean_image = total / count
  rgb_mean = mean_image.mean(axis=(0, 1))
  mean01 = rgb_mean / 255.0
  covariance = outer / (count * size * size) - np.outer(mean01, mean01)
  return Statistics(mean_image.astype(np.float32), rgb_mean.astype(np.float32),
                    covariance.astype(np.float32), count)


def save(statistics: Statistics, path: str) -> None:
  """Writes atomically (temporary file, then rename): readers never see half a file."""
  with tempfile.NamedTemporaryFile(dir=os.path.dirname(path), suffix='.npz', delete=False) as f:
    np.savez(f, **dataclasses.asdict(statistics))
  os.replace(f.name, path)


def load(path: str) -> Statistics:
  with np.load(path) as f:
    return Statistics(mean_image=f['mean_image'], rgb_mean=f['rgb_mean'],
                      rgb_covariance=f['rgb_covariance'], num_images=int(f['num_images']))


def input_normalisation(data_config: DataConfig,
                        statistics: Statistics) -> tuple[np.ndarray, np.ndarray]:
  """(mean image (resize, resize, 3), per-channel scale (3,)), float32: every view of an
  image becomes (pixels − mean) × scale (§2; the scale is ones unless data.divide_by_std)."""
  mean_image = statistics.mean_image
  if data_config.mean == 'channel':
    mean_image = np.broadcast_to(statistics.rgb_mean, mean_image.shape)
  scale = (1.0 / (255.0 * np.sqrt(np.diag(statistics.rgb_covariance)))
           if data_config.divide_by_std else np.ones(3))
  return mean_image.astype(np.float32), scale.astype(np.float32)
