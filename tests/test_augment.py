"""The paper's image operations (§2, §4.1), each on inputs whose right answer is known."""

import io

import numpy as np
import pytest
from PIL import Image

from alexnet.config import PCA_CONVENTIONS
from alexnet.data import augment, host_augmentation, views
from alexnet.data.tensorflow_import import tf


def _coordinate_image(size: int) -> np.ndarray:
  """Pixel (y, x) holds (y, x, 0): where a pixel came from can be read off its value."""
  y, x = np.mgrid[0:size, 0:size]
  return np.stack([y, x, np.zeros_like(y)], axis=-1).astype(np.float32)


def test_random_draws_depend_only_on_seed_and_position():
  positions = np.arange(1000, 1100)
  whole = views.stateless_uniform(7, positions, stream=0)
  piecewise = np.concatenate([
      views.stateless_uniform(7, positions[:37], 0),
      views.stateless_uniform(7, positions[37:], 0)
  ])
  np.testing.assert_array_equal(whole, piecewise)
  assert not np.array_equal(whole, views.stateless_uniform(8, positions, 0))
  assert not np.array_equal(whole, views.stateless_uniform(7, positions, 1))
  assert whole.min() >= 0 and whole.max() < 1


def test_random_draws_are_uniform_and_normal():
  positions = np.arange(200_000)
  u = views.stateless_uniform(3, positions, 0)
  assert abs(u.mean() - 0.5) < 0.005 and abs(u.var() - 1 / 12) < 0.002
  counts, _ = np.histogram(u, bins=10, range=(0, 1))
  assert counts.min() > 0.97 * len(u) / 10
  n = views.stateless_normal(3, positions, 5)
  assert abs(n.mean()) < 0.01 and abs(n.std() - 1) < 0.01
  assert abs(np.corrcoef(n, views.stateless_normal(3, positions, 6))[0, 1]) < 0.01


def test_crop_windows_stay_inside_and_cover_every_position():
  full, crop = 12, 9
  uniforms = np.stack([views.stateless_uniform(0, np.arange(20_000), s) for s in (0, 1)], 1)
  offsets = views.random_crop_offsets(uniforms, full, crop)
  assert offsets.min() >= 0 and (offsets + crop).max() <= full
  seen = {tuple(o) for o in offsets}
  assert seen == {(y, x) for y in range(full - crop + 1) for x in range(full - crop + 1)}
  counts = np.bincount(offsets[:, 0] * 4 + offsets[:, 1])
  assert counts.min() > 0.8 * len(offsets) / 16  # uniform, not just covered


def test_crop_of_the_full_size_is_the_whole_image():
  uniforms = np.stack([views.stateless_uniform(0, np.arange(100), s) for s in (0, 1)], 1)
  assert not views.random_crop_offsets(uniforms, 64, 64).any()


def test_finish_patch_mirrors_subtracts_the_aligned_mean_shifts_and_scales():
  image = _coordinate_image(10)
  mean = np.random.default_rng(0).uniform(0, 50, (10, 10, 3)).astype(np.float32)
  means = augment.mirrored_means(mean)
  offset = np.array([2, 3], np.int32)
  shift = np.array([1.0, -2.0, 3.0], np.float32)
  scale = np.array([0.5, 1.0, 2.0], np.float32)
  window = image[2:8, 3:9].astype(np.uint8)
  for flip in (False, True):
    got = np.asarray(augment.finish_patch(window, means, offset, np.bool_(flip), shift, scale))
    want = ((image - mean)[2:8, 3:9] + shift) * scale  # mean off, then crop
    if flip:
      want = want[:, ::-1]
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_mirrored_crops_read_their_pixels_right_to_left():
  image = _coordinate_image(8)
  means = augment.mirrored_means(np.zeros((8, 8, 3), np.float32))
  offset = np.array([1, 2], np.int32)
  patch = np.asarray(
      augment.finish_patch(image[1:6, 2:7].astype(np.uint8), means, offset, np.bool_(True),
                           np.zeros(3), np.ones(3)))
  np.testing.assert_array_equal(patch[:, :, 1], np.tile(np.arange(6, 1, -1), (5, 1)))
  np.testing.assert_array_equal(patch[:, :, 0], np.tile(np.arange(1, 6)[:, None], (1, 5)))


@pytest.mark.parametrize('convention', PCA_CONVENTIONS)
def test_pca_shift_has_the_covariance_the_paper_implies(convention):
  eigenvalues, eigenvectors = views.IMAGENET_EIGENVALUES, views.IMAGENET_EIGENVECTORS
  std = 0.1
  positions = np.arange(100_000)
  alphas = np.stack([views.stateless_normal(1, positions, s) for s in (10, 11, 12)], 1) * std
  shifts = views.pca_shifts(alphas, eigenvalues, eigenvectors, convention)
  scale = eigenvalues if convention == 'lambda' else np.sqrt(eigenvalues)
  # shift = 255 P (α ⊙ s), α ~ N(0, σ²I)  ⇒  Cov = 255² σ² P diag(s²) Pᵀ
  expected = 255 ** 2 * std ** 2 * eigenvectors @ np.diag(scale ** 2) @ eigenvectors.T
  np.testing.assert_allclose(np.cov(shifts.T), expected, rtol=0.03, atol=1e-3 * expected.max())
  np.testing.assert_allclose(shifts.mean(0), 0, atol=0.02 * np.sqrt(expected.max()))


def test_pca_shift_rejects_unknown_convention():
  with pytest.raises(ValueError, match='convention'):
    views.pca_shifts(np.zeros((1, 3)), views.IMAGENET_EIGENVALUES, views.IMAGENET_EIGENVECTORS,
                     'lambda_squared')


def test_pca_of_covariance_recovers_sorted_eigenpairs():
  p = views.IMAGENET_EIGENVECTORS.astype(np.float64)
  p, _ = np.linalg.qr(p)  # exactly orthonormal
  covariance = p @ np.diag([0.2, 0.02, 0.004]) @ p.T
  values, vectors = views.pca_of_covariance(covariance)
  np.testing.assert_allclose(values, [0.2, 0.02, 0.004], rtol=1e-5)
  np.testing.assert_allclose(np.abs(vectors.T @ p), np.eye(3), atol=1e-5)


def test_ten_crops_are_centre_corners_then_their_mirrors():
  full, crop = 9, 5
  patches = np.asarray(augment.ten_crops(_coordinate_image(full)[None], crop))[0]
  assert patches.shape == (10, crop, crop, 3)
  c, far = (full - crop) // 2, full - crop
  for patch, (top, left) in zip(patches[:5], [(c, c), (0, 0), (0, far), (far, 0), (far, far)]):
    assert patch[0, 0, 0] == top and patch[0, 0, 1] == left  # top-left pixel's origin
    assert patch[-1, -1, 0] == top + crop - 1 and patch[-1, -1, 1] == left + crop - 1
  np.testing.assert_array_equal(patches[5:], patches[:5, :, ::-1])


def test_decoding_only_the_crop_window_gives_the_pixels_of_full_decoding():
  rng = np.random.default_rng(0)
  image = rng.integers(0, 255, (48, 48, 3), dtype=np.uint8)
  buffer = io.BytesIO()
  Image.fromarray(image).save(buffer, format='JPEG', quality=95)
  encoded = tf.constant(buffer.getvalue())
  full = tf.io.decode_jpeg(encoded, channels=3).numpy()
  window = host_augmentation._decode_window(encoded, tf.constant([5, 11], tf.int32), 32).numpy()
  np.testing.assert_array_equal(window, full[5:37, 11:43])


def test_bilinear_matrix_reproduces_tf_resize():
  image = np.random.default_rng(1).uniform(0, 255, (7, 7)).astype(np.float32)
  matrix = augment.bilinear_matrix(7, 17)
  want = tf.image.resize(image[None, :, :, None], [17, 17], method='bilinear').numpy()[0, ..., 0]
  np.testing.assert_allclose(matrix @ image @ matrix.T, want, atol=1e-3)


def test_batched_resize_crop_flip_equals_resize_then_crop_then_mirror_then_scale():
  rng = np.random.default_rng(2)
  images = rng.integers(0, 255, (6, 7, 7, 1), dtype=np.uint8)
  mean = rng.uniform(0, 100, (17, 17, 3)).astype(np.float32)
  offsets = rng.integers(0, 17 - 13 + 1, (6, 2)).astype(np.int32)
  flips = np.array([False, True] * 3)
  shifts = rng.normal(0, 5, (6, 3)).astype(np.float32)
  scale = np.array([0.5, 1.0, 2.0], np.float32)
  got = np.asarray(
      augment.resize_crop_flip_batch(images, mean, offsets, flips, shifts, scale, 17, 13))
  resized = tf.image.resize(tf.image.grayscale_to_rgb(tf.cast(images, tf.float32)),
                            [17, 17]).numpy() - mean
  for i, ((top, left), flip) in enumerate(zip(offsets, flips)):
    want = (resized[i, top:top + 13, left:left + 13] + shifts[i]) * scale
    np.testing.assert_allclose(got[i], want[:, ::-1] if flip else want, atol=4e-3)


def test_resizing_on_the_device_enlarges_as_tensorflow_does():
  images = np.random.default_rng(3).integers(0, 255, (2, 7, 7, 3), dtype=np.uint8)
  want = tf.image.resize(tf.cast(images, tf.float32), [17, 17], antialias=True).numpy()
  np.testing.assert_allclose(np.asarray(augment.resize_batch(images, 17)), want, atol=2e-3)
