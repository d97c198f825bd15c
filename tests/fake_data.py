"""Small but real input files for the data tests: ILSVRC-2012 tars, image folders, idx files.

Everything is written the way the real sources are laid out, so the tests run the real
TFDS builders on them (no mocks): JPEGs in per-synset tars inside the train tar,
validation JPEGs named like ILSVRC2012_val_00000001.JPEG, gzipped idx files.
"""

from __future__ import annotations

import gzip
import io
import os
import struct
import tarfile

import numpy as np
from PIL import Image

import alexnet.data.tensorflow_import  # noqa: F401 - TensorFlow's process settings, before TFDS

# isort: split
from tensorflow_datasets.datasets.imagenet2012 import imagenet_common


def jpeg_bytes(rng: np.random.Generator, height: int, width: int) -> bytes:
  """A distinct real JPEG: smooth colour gradients plus noise, so no two are alike."""
  y, x = np.mgrid[0:height, 0:width]
  base = rng.uniform(0, 255, 3) + rng.uniform(-2, 2, 3) * (y[..., None] + x[..., None])
  pixels = np.clip(base + rng.normal(0, 20, (height, width, 3)), 0, 255).astype(np.uint8)
  out = io.BytesIO()
  Image.fromarray(pixels).save(out, format='JPEG', quality=90)
  return out.getvalue()


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
  info = tarfile.TarInfo(name)
  info.size = len(data)
  tar.addfile(info, io.BytesIO(data))


def synsets(count: int) -> list[str]:
  with open(imagenet_common.label_names_file()) as f:
    return f.read().split()[:count]


def write_ilsvrc_tars(manual_dir: str, num_synsets: int, per_synset: int, num_val: int,
                      seed: int = 0) -> None:
  """ILSVRC2012_img_train.tar (of <synset>.tar files) and ILSVRC2012_img_val.tar."""
  rng = np.random.default_rng(seed)
  os.makedirs(manual_dir, exist_ok=True)
  with tarfile.open(os.path.join(manual_dir, 'ILSVRC2012_img_train.tar'), 'w') as train:
    for synset in synsets(num_synsets):
      inner = io.BytesIO()
      with tarfile.open(fileobj=inner, mode='w') as tar:
        for i in range(per_synset):
          shape = rng.integers(24, 60, 2)
          _add(tar, f'{synset}_{i}.JPEG', jpeg_bytes(rng, *shape))
      _add(train, f'{synset}.tar', inner.getvalue())
  with tarfile.open(os.path.join(manual_dir, 'ILSVRC2012_img_val.tar'), 'w') as val:
    for i in range(1, num_val + 1):
      shape = rng.integers(24, 60, 2)
      _add(val, f'ILSVRC2012_val_{i:08d}.JPEG', jpeg_bytes(rng, *shape))


def write_image_folder(root: str, layout: dict[str, dict[str, int]], seed: int = 0) -> None:
  """root/<split>/<class>/<i>.jpg (or root/<class>/<i>.jpg when the split is '')."""
  rng = np.random.default_rng(seed)
  for split, classes in layout.items():
    for name, count in classes.items():
      directory = os.path.join(root, split, name)
      os.makedirs(directory, exist_ok=True)
      for i in range(count):
        shape = rng.integers(20, 50, 2)
        with open(os.path.join(directory, f'{i}.jpg'), 'wb') as f:
          f.write(jpeg_bytes(rng, *shape))


def write_fashion_mnist_idx(directory: str, train: int, test: int, seed: int = 0) -> None:
  """The four gzipped idx files of Fashion-MNIST, with ``train``/``test`` random items."""
  rng = np.random.default_rng(seed)
  os.makedirs(directory, exist_ok=True)
  for prefix, count in (('train', train), ('t10k', test)):
    images = rng.integers(0, 256, (count, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, count, dtype=np.uint8)
    with gzip.open(os.path.join(directory, f'{prefix}-images-idx3-ubyte.gz'), 'wb') as f:
      f.write(struct.pack('>IIII', 2051, count, 28, 28) + images.tobytes())
    with gzip.open(os.path.join(directory, f'{prefix}-labels-idx1-ubyte.gz'), 'wb') as f:
      f.write(struct.pack('>II', 2049, count) + labels.tobytes())
