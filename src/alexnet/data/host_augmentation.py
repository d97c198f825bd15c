"""The host's share of §4.1: every example's random draws, and decoding only what the device needs.

For each example the host draws its crop offset, mirror and colour shift
(:mod:`alexnet.data.views`, a function of (seed, global position)) and decodes as few
pixels as it can: the crop window of a JPEG stored at the final size (libjpeg decodes
only those rows), else the whole small stored image. It sends uint8 pixels and the draws;
:class:`alexnet.data.augment.DeviceAugmentation`, the device's share, finishes them inside
the jitted step.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from alexnet.data import views
from alexnet.data.registry import Spec
from alexnet.data.tensorflow_import import tf


def decode(spec: Spec, encoded: tf.Tensor) -> tf.Tensor:
  """The whole stored image, uint8, as stored (grey stays one channel)."""
  image = tf.io.decode_image(encoded, channels=spec.stored_shape[2], expand_animations=False)
  image.set_shape(spec.stored_shape)
  return image


def _decode_window(encoded: tf.Tensor, offset: tf.Tensor, crop_size: int) -> tf.Tensor:
  """The crop_size window at ``offset`` = (top, left) of a JPEG, uint8; libjpeg decodes
  only the rows of the window (and skips whole blocks left and right of it)."""
  window = tf.image.decode_and_crop_jpeg(encoded, tf.concat([offset, [crop_size, crop_size]],
                                                            axis=0), channels=3)
  return tf.ensure_shape(window, [crop_size, crop_size, 3])


@dataclasses.dataclass(frozen=True)
class HostAugmentation:
  """The host's share of §4.1: every random draw, and decoding only what the device needs."""

  spec: Spec
  resize_size: int
  image_size: int
  translate: bool
  flip: bool
  pca_std: float
  pca_convention: str
  eigenvalues: np.ndarray
  eigenvectors: np.ndarray

  @property
  def windows_from_host(self) -> bool:
    """A JPEG stored at the final size: libjpeg decodes only the crop window."""
    return self.spec.image_format == 'jpeg' and self.spec.stored_shape[0] == self.resize_size

  def draws(self, seed: int, positions: np.ndarray) -> dict[str, np.ndarray]:
    """Every random choice for the examples at these global positions (§4.1), vectorised."""
    u = np.stack([views.stateless_uniform(seed, positions, s) for s in range(3)], axis=1)
    alphas = np.stack([views.stateless_normal(seed, positions, s) for s in range(10, 13)],
                      axis=1) * self.pca_std
    if self.translate:
      offsets = views.random_crop_offsets(u[:, :2], self.resize_size, self.image_size)
    else:
      centre = views.center_offset(self.resize_size, self.image_size)
      offsets = np.full((len(positions), 2), centre, np.int32)
    return {
        'offset': offsets,
        'flip': u[:, 2] < 0.5 if self.flip else np.zeros(len(positions), bool),
        'shift': views.pca_shifts(alphas, self.eigenvalues, self.eigenvectors, self.pca_convention),
    }

  @staticmethod
  def draw_signature() -> dict[str, tf.TensorSpec]:
    return {
        'offset': tf.TensorSpec([2], tf.int32), 'flip': tf.TensorSpec([], tf.bool),
        'shift': tf.TensorSpec([3], tf.float32)
    }

  def train_example(self, example: dict[str, tf.Tensor]) -> tf.Tensor:
    """uint8: the crop window of a JPEG stored at the final size (only the window is
    decoded), else the whole small stored image, which the device resizes and crops."""
    if self.windows_from_host:
      return _decode_window(example['encoded'], example['offset'], self.image_size)
    return decode(self.spec, example['encoded'])

  def eval_example(self, encoded: tf.Tensor, crops: int) -> tf.Tensor:
    """uint8: the stored image, which the device cuts into §4.1's test views; for the
    centre patch alone of a JPEG at the final size, only that window."""
    if crops == 1 and self.windows_from_host:
      c = views.center_offset(self.resize_size, self.image_size)
      return _decode_window(encoded, tf.constant([c, c]), self.image_size)
    return decode(self.spec, encoded)
