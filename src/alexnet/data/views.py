"""Which view of an image each example is (§4.1), decided in numpy, before any pixel is touched.

Training sees a random patch of each image, perhaps mirrored, with a random colour shift;
evaluation sees the centre patch or §4.1's ten patches. This module decides all of it —
where a patch lies, whether it is mirrored, how its colours shift, which patches a test
uses — and :mod:`alexnet.data.augment` cuts and recolours the pixels accordingly.

Every random choice is drawn by :func:`stateless_uniform`, a pure function of (run seed,
position of the example in the global stream), so an example is cropped, flipped and
recoloured the same way whatever the thread scheduling, the number of processes or the
step the run resumed at. The draws are vectorised over a batch.
"""

from __future__ import annotations

import numpy as np

from alexnet.config import PCA_CONVENTIONS

# §4.1's eigen-decomposition of ImageNet's RGB covariance as published with
# fb.resnet.torch (pixels in [0, 1]); eigenvectors are the columns.
IMAGENET_EIGENVALUES = np.array([0.2175, 0.0188, 0.0045], np.float32)
IMAGENET_EIGENVECTORS = np.array([[-0.5675, 0.7192, 0.4009], [-0.5808, -0.0045, -0.8140],
                                  [-0.5836, -0.6948, 0.4203]], np.float32)


def _splitmix64(x: np.ndarray) -> np.ndarray:
  """The finaliser of SplitMix64 (Steele, Lea, Flood 2014): a bijective 64-bit mix."""
  x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
  x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
  return x ^ (x >> np.uint64(31))


def stateless_uniform(seed: int, positions: np.ndarray, stream: int) -> np.ndarray:
  """Uniform floats in [0, 1), one per position: a pure function of (seed, position, stream).

  A counter-based generator, vectorised over a whole batch: each example's random
  numbers depend on nothing but its global position in the stream, whatever the thread
  scheduling, the number of processes or the step a run resumed at; ``stream`` separates
  the draws of different operations.
  """
  with np.errstate(over='ignore'):
    key = _splitmix64(np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15) + np.uint64(stream))
    bits = _splitmix64(_splitmix64(np.asarray(positions, np.uint64) ^ key) + key)
  return (bits >> np.uint64(11)).astype(np.float64) * 2.0 ** -53


def stateless_normal(seed: int, positions: np.ndarray, stream: int) -> np.ndarray:
  """Standard normal floats, one per position (Box–Muller on two independent uniforms)."""
  u1 = stateless_uniform(seed, positions, 2 * stream)
  u2 = stateless_uniform(seed, positions, 2 * stream + 1)
  return np.sqrt(-2.0 * np.log1p(-u1)) * np.cos(2.0 * np.pi * u2)


def random_crop_offsets(uniforms: np.ndarray, full_size: int, crop_size: int) -> np.ndarray:
  """§4.1: (top, left) of a crop_size window inside full_size × full_size, from uniforms.

  ``uniforms`` has shape (n, 2); each of the (full_size − crop_size + 1)² windows is equally
  likely, and every window lies inside the image.
  """
  positions = full_size - crop_size + 1
  return np.minimum((uniforms * positions).astype(np.int32), positions - 1)


def pca_shifts(alphas: np.ndarray, eigenvalues: np.ndarray, eigenvectors: np.ndarray,
               convention: str) -> np.ndarray:
  """§4.1's colour shifts [p1 p2 p3][α1 λ1, α2 λ2, α3 λ3]ᵀ in 0–255 units, one per row of α.

  ``alphas`` (n, 3) are already drawn from N(0, σ), once per image per use. The
  eigenvalues and eigenvectors (columns) describe the RGB covariance of pixels in [0, 1],
  where the published values live. ``convention='lambda'`` multiplies α by λ as the
  paper's text does; ``'sqrt_lambda'`` by √λ, as the author's cuda-convnet2 did (α√λ is a
  standard deviation, and so independent of the pixel units). Add the shift to every pixel.
  """
  if convention not in PCA_CONVENTIONS:
    raise ValueError(f'Unknown PCA convention {convention!r}; known: {PCA_CONVENTIONS}.')
  scale = eigenvalues if convention == 'lambda' else np.sqrt(eigenvalues)
  return (255.0 * (alphas * scale) @ np.asarray(eigenvectors).T).astype(np.float32)


def pca_of_covariance(covariance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Eigenvalues (descending) and eigenvectors (columns) of a 3×3 RGB covariance."""
  eigenvalues, eigenvectors = np.linalg.eigh(covariance)
  order = np.argsort(eigenvalues)[::-1]
  return (np.maximum(eigenvalues[order],
                     0.0).astype(np.float32), eigenvectors[:, order].astype(np.float32))


def center_offset(full_size: int, crop_size: int) -> int:
  return (full_size - crop_size) // 2


def ten_crop_offsets(full_size: int, crop_size: int) -> list[tuple[int, int]]:
  """(top, left) of §4.1's five test patches: centre, then top-left, top-right,
  bottom-left, bottom-right corners."""
  c, far = center_offset(full_size, crop_size), full_size - crop_size
  return [(c, c), (0, 0), (0, far), (far, 0), (far, far)]
