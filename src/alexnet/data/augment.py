"""The paper's operations on pixels (§2, §4.1), done on the accelerator, in front of the step.

The host (:mod:`alexnet.data.host_augmentation`) decodes and sends bytes: for training,
each image's crop window as uint8 (JPEGs stored at the final size: only the window is
decoded) or the small stored image (Fashion-MNIST's 28×28 PNGs, resized here), with the
example's draws from :mod:`alexnet.data.views` (offset, mirror, colour shift); for
evaluation, each stored image once (or, for the centre patch of a JPEG, its window). The
functions here finish the examples inside the jitted train and evaluation steps: float
conversion, mirroring, §2's mean image at the crop's own pixels (mirrored with it), §4.1's
colour shift, the pixel scale and the test patches. A float32 227×227×3 crop is 618 KB;
its uint8 window, 155 KB.

Pixels are float32 in 0–255 units (§2: "raw RGB values"); images are (height, width, C).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from alexnet.data.views import center_offset, ten_crop_offsets


def mirrored_means(mean_image: np.ndarray) -> np.ndarray:
  """(2, h, w, C): the mean image and its mirror image, for :func:`finish_patch`."""
  return np.stack([mean_image, mean_image[:, ::-1]]).astype(np.float32)


def finish_patch(window: jax.Array, means: jax.Array, offset: jax.Array, flip: jax.Array,
                 shift: jax.Array, scale: jax.Array) -> jax.Array:
  """A uint8 crop → float32, mirrored if ``flip``, mean removed, plus the colour shift,
  times the per-channel ``scale``.

  The mean removed is §2's mean image at the crop's own pixels, mirrored with it: the
  same as removing the mean from the whole image before cropping and mirroring, as the
  paper describes, without computing what the crop throws away. The mirror of the window
  at column ``left`` is the window at ``width − left − crop`` of the mirrored mean, so
  ``means`` (from :func:`mirrored_means`) holds both.
  """
  crop, width, channels = window.shape[0], means.shape[2], means.shape[3]
  left = jnp.where(flip, width - offset[1] - crop, offset[1])
  start = (flip.astype(jnp.int32), offset[0], left, 0)
  mean = jax.lax.dynamic_slice(means, start, (1, crop, crop, channels))[0]
  window = jnp.where(flip, window[:, ::-1], window)
  return (window.astype(jnp.float32) - mean + shift) * scale


def bilinear_matrix(source_size: int, size: int) -> np.ndarray:
  """(size, source_size): row i holds the weights with which ``tf.image.resize(method=
  'bilinear')`` (half-pixel centres, edges clamped) makes output pixel i; enlarging only."""
  centres = np.clip((np.arange(size) + 0.5) * source_size / size - 0.5, 0, source_size - 1)
  low = np.floor(centres).astype(int)
  high = np.minimum(low + 1, source_size - 1)
  weight = (centres - low).astype(np.float32)
  matrix = np.zeros((size, source_size), np.float32)
  np.add.at(matrix, (np.arange(size), low), 1 - weight)
  np.add.at(matrix, (np.arange(size), high), weight)
  return matrix


def resize_crop_flip_batch(images: jax.Array, mean_image: jax.Array, offsets: jax.Array,
                           flips: jax.Array, shifts: jax.Array, scale: jax.Array, resize_size: int,
                           crop_size: int) -> jax.Array:
  """Small images resized here, the whole batch at once: (n, s, s, 1 or 3) uint8 →
  (n, crop, crop, c) float32 = crop of (bilinear resize to resize_size − mean image),
  mirrored where ``flips``, plus ``shifts``, times ``scale``; c is the larger channel count
  of the images, the mean image (h, w, c), the shifts (n, c) and the scale (c,), so grey
  images meet an RGB mean as three equal channels.

  Bilinear resizing is separable, so the crop of the resized image is A·X·Bᵀ where A and
  B are the crop's rows of :func:`bilinear_matrix` (B's rows reversed to mirror); the mean's
  window is taken the same way with rows of the identity. Small batched matmuls replace
  a resize and two gathers, which costs far less for images of a few dozen pixels.
  """
  source_size = images.shape[1]
  steps = jnp.arange(crop_size)
  rows = offsets[:, :1] + steps
  cols = offsets[:, 1:] + jnp.where(flips[:, None], crop_size - 1 - steps, steps)

  def window(matrix, x):  # x (n or 1, c, size, size) → (n, c, crop, crop)
    a = jnp.take(matrix, rows, axis=0)[:, None]
    b = jnp.take(matrix, cols, axis=0)[:, None]
    return jnp.matmul(jnp.matmul(a, x), jnp.swapaxes(b, -1, -2))

  pixels = jnp.transpose(images.astype(jnp.float32), (0, 3, 1, 2))
  patches = window(jnp.asarray(bilinear_matrix(source_size, resize_size)), pixels)
  means = window(jnp.eye(resize_size, dtype=jnp.float32),
                 jnp.transpose(mean_image, (2, 0, 1))[None])
  patches = jnp.transpose(patches - means, (0, 2, 3, 1))  # grey patches broadcast to RGB
  return (patches + shifts[:, None, None, :]) * scale


def resize_batch(images: jax.Array, size: int) -> jax.Array:
  """(n, s, s, C) → (n, size, size, C) float32, bilinear as ``tf.image.resize`` enlarges."""
  if images.shape[1] == size:
    return images.astype(jnp.float32)
  matrix = jnp.asarray(bilinear_matrix(images.shape[1], size))
  return jnp.einsum('ih,nhwc,jw->nijc', matrix, images.astype(jnp.float32), matrix)


def ten_crops(images: jax.Array, crop_size: int) -> jax.Array:
  """§4.1's ten test patches of square images (n, s, s, C): the five of
  ``ten_crop_offsets``, then their horizontal reflections in the same order;
  shape (n, 10, crop_size, crop_size, C)."""
  full_size = images.shape[1]
  patches = jnp.stack([
      images[:, top:top + crop_size, left:left + crop_size]
      for top, left in ten_crop_offsets(full_size, crop_size)
  ], axis=1)
  return jnp.concatenate([patches, patches[:, :, :, ::-1]], axis=1)


@dataclasses.dataclass(frozen=True)
class DeviceAugmentation:
  """One dataset's §2/§4.1 processing on the accelerator, with the constants it needs.

  ``train_images`` and ``eval_images`` are pure functions of a batch as
  :class:`alexnet.data.dataset.Dataset` yields it, traced into the jitted steps.
  """

  resize_size: int
  image_size: int
  mean_image: np.ndarray  # (resize_size, resize_size, channels), 0–255
  scale: np.ndarray  # (channels,): multiplies the finished pixels; ones, or 1 / the RGB std
  channels: int  # of the network's input: 3, or 1 to keep grey images grey
  windows_from_host: bool  # the host sends crop windows (JPEGs stored at resize_size)

  def train_images(self, batch: Mapping[str, jax.Array]) -> jax.Array:
    """(n, crop, crop, channels) float32, finished as §2 and §4.1 say."""
    shifts = batch['shift'][:, :self.channels]  # a grey dataset's shift is equal in all three
    if self.windows_from_host:
      finish = jax.vmap(finish_patch, in_axes=(0, None, 0, 0, 0, None))
      return finish(batch['image'], jnp.asarray(mirrored_means(self.mean_image)), batch['offset'],
                    batch['flip'], shifts, jnp.asarray(self.scale))
    return resize_crop_flip_batch(batch['image'], jnp.asarray(self.mean_image), batch['offset'],
                                  batch['flip'], shifts, jnp.asarray(self.scale), self.resize_size,
                                  self.image_size)

  def eval_images(self, batch: Mapping[str, jax.Array], crops: int) -> jax.Array:
    """(n, crops, crop, crop, channels) float32: §4.1's centre patch (crops=1) or its ten
    patches (crops=10), of the mean-free, scaled image."""
    images = batch['image']
    c = center_offset(self.resize_size, self.image_size)
    if crops == 1 and self.windows_from_host:  # the centre windows, cut by the host's decoder
      mean = self.mean_image[c:c + self.image_size, c:c + self.image_size]
      return ((images.astype(jnp.float32) - mean) * self.scale)[:, None]
    if images.shape[-1] < self.channels:
      images = jnp.repeat(images, self.channels, axis=-1)  # grey shown to an RGB net
    images = (resize_batch(images, self.resize_size) - self.mean_image) * self.scale
    if crops == 1:
      return images[:, None, c:c + self.image_size, c:c + self.image_size]
    return ten_crops(images, self.image_size)
