"""The paper's image operations on pixels (§2, §4.1), as TensorFlow functions.

:mod:`alexnet.views` decides each example's view (patch, mirror, colour shift) in numpy;
the functions here cut and recolour the pixels accordingly: per example only what must
be (decoding), the rest on whole batches, because per-example tf.data ops cost ≈ 10 µs
each in overhead alone.

Pixels are float32 in 0–255 units (§2: "raw RGB values"); images are (height, width, 3).
"""

from __future__ import annotations

import numpy as np

from alexnet.tf_process import tf, tf_xla
from alexnet.views import ten_crop_offsets


def decode_crop_jpeg(encoded: tf.Tensor, offset: tf.Tensor, crop_size: int) -> tf.Tensor:
  """The crop_size window at ``offset`` = (top, left) of a JPEG, uint8; libjpeg decodes
  only the rows of the window (and skips whole blocks left and right of it)."""
  window = tf.image.decode_and_crop_jpeg(
      encoded, tf.concat([offset, [crop_size, crop_size]], axis=0), channels=3)
  return tf.ensure_shape(window, [crop_size, crop_size, 3])


def mirrored_means(mean_image: np.ndarray) -> np.ndarray:
  """(2, h, w, 3): the mean image and its mirror image, for :func:`finish_patch`."""
  return np.stack([mean_image, mean_image[:, ::-1]]).astype(np.float32)


@tf.function(jit_compile=True)
def finish_patch(window: tf.Tensor, means: tf.Tensor, offset: tf.Tensor, flip: tf.Tensor,
                 shift: tf.Tensor, scale: tf.Tensor) -> tf.Tensor:
  """A uint8 crop → float32, mirrored if ``flip``, mean removed, plus the colour shift,
  times the per-channel ``scale``.

  The mean removed is §2's mean image at the crop's own pixels, mirrored with it: the
  same as removing the mean from the whole image before cropping and mirroring, as the
  paper describes, without computing what the crop throws away. The mirror of the window
  at column ``left`` is the window at ``width − left − crop`` of the mirrored mean, so
  ``means`` (from :func:`mirrored_means`) holds both. Compiled with XLA, this is one pass
  over the patch; TensorFlow's own CPU kernels would make four, and broadcast the shift
  ≈ 10× slower than a plain add (and multiply a batch by a 3-vector ≈ 5× slower than XLA).
  """
  crop, width = window.shape[0], means.shape[2]
  left = tf.where(flip, width - offset[1] - crop, offset[1])
  start = tf.stack([tf.cast(flip, tf.int32), offset[0], left, 0])
  # XLA's own dynamic slice: tf.slice would make XLA compile once per distinct offset.
  mean = tf_xla.dynamic_slice(means, start, [1, crop, crop, 3])[0]
  window = tf.where(flip, tf.reverse(window, axis=[1]), window)
  return (tf.cast(window, tf.float32) - mean + shift) * scale


@tf.function(jit_compile=True)
def normalise(image: tf.Tensor, mean: tf.Tensor, scale: tf.Tensor) -> tf.Tensor:
  """(image − mean) × scale in one XLA pass, for the test views (see :func:`finish_patch`)."""
  return (image - mean) * scale


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


@tf.function(jit_compile=True)
def resize_crop_flip_batch(images: tf.Tensor, mean_image: tf.Tensor, offsets: tf.Tensor,
                           flips: tf.Tensor, shifts: tf.Tensor, scale: tf.Tensor,
                           resize_size: int, crop_size: int) -> tf.Tensor:
  """Small images resized at read time, the whole batch at once: (n, s, s, 1 or 3) uint8 →
  (n, crop, crop, c) float32 = crop of (bilinear resize to resize_size − mean image),
  mirrored where ``flips``, plus ``shifts``, times ``scale``; c is the larger channel count
  of the images, the mean image (h, w, c), the shifts (n, c) and the scale (c,), so grey
  images meet an RGB mean as three equal channels.

  Bilinear resizing is separable, so the crop of the resized image is A·X·Bᵀ where A and
  B are the crop's rows of :func:`bilinear_matrix` (B's rows reversed to mirror); the mean's
  window is taken the same way with rows of the identity. Small batched matmuls replace
  a resize and two gathers, which on a CPU costs far less for images of a few dozen pixels.
  """
  source_size = images.shape[1]
  steps = tf.range(crop_size)
  rows = offsets[:, :1] + steps
  cols = offsets[:, 1:] + tf.where(flips[:, None], crop_size - 1 - steps, steps)

  def window(matrix, x):  # x (n or 1, c, size, size) → (n, c, crop, crop)
    a = tf.gather(matrix, rows)[:, None]
    b = tf.gather(matrix, cols)[:, None]
    return tf.matmul(tf.matmul(a, x), b, transpose_b=True)

  pixels = tf.transpose(tf.cast(images, tf.float32), [0, 3, 1, 2])
  patches = window(tf.constant(bilinear_matrix(source_size, resize_size)), pixels)
  means = window(tf.eye(resize_size), tf.transpose(mean_image, [2, 0, 1])[None])
  patches = tf.transpose(patches - means, [0, 2, 3, 1])  # grey patches broadcast to RGB
  return (patches + shifts[:, None, None, :]) * scale


def ten_crops(image: tf.Tensor, crop_size: int) -> tf.Tensor:
  """§4.1's ten test patches of a square image: the five of ``ten_crop_offsets``, then
  their horizontal reflections in the same order; shape (10, crop_size, crop_size, 3)."""
  full_size = image.shape[0]
  patches = tf.stack([image[top:top + crop_size, left:left + crop_size]
                      for top, left in ten_crop_offsets(full_size, crop_size)])
  return tf.concat([patches, tf.reverse(patches, axis=[2])], axis=0)
