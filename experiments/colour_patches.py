"""A small colour image folder cut from real photographs, for Figure 3 on colour data.

  python experiments/colour_patches.py --out /tmp/colour_patches

Figure 3's question (are one tower's conv1 kernels colour-agnostic and the other's
colour-specific?) means nothing on Fashion-MNIST, whose images are grey. No colour dataset
can be downloaded on this project's machines, but scikit-image (a test requirement) ships
real photographs. Each class is one image, and each example a random 64×64 patch of it:

* eight colour photographs (astronaut, cat, coffee, Hubble deep field, stained tissue,
  motorcycle, retina, rocket), each first scaled so its shorter side is 384 pixels;
* three grey textures (brick, grass, gravel), so that colour alone does not separate
  every class and luminance patterns must be learnt too.

Training patches come from the top three quarters of each image and validation patches
from the bottom quarter, so no pixel is in both; with ``--test_per_class`` (the ablation
study's PCA regime) validation patches come from the bottom quarter's left half and test
patches from its right half. Written as
``<out>/{train,val}/<class>/<i>.png``, the layout ``data.dataset='image_folder'`` reads.
It is a small, easy task: what a net learns from eleven pictures is not what it learns
from ImageNet's 1.2 million, and the report says so.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import skimage.data
from absl import app, flags
from PIL import Image

SHORTER_SIDE = 384
PATCH = 64
TRAIN_FRACTION = 0.75  # of each image's rows
SOURCES: dict[str, Callable[[], np.ndarray]] = {
    'astronaut': skimage.data.astronaut,
    'cat': skimage.data.chelsea,
    'coffee': skimage.data.coffee,
    'hubble_deep_field': skimage.data.hubble_deep_field,
    'stained_tissue': skimage.data.immunohistochemistry,
    'motorcycle': lambda: skimage.data.stereo_motorcycle()[0],
    'retina': skimage.data.retina,
    'rocket': skimage.data.rocket,
    'brick': skimage.data.brick,
    'grass': skimage.data.grass,
    'gravel': skimage.data.gravel,
}

FLAGS = flags.FLAGS


def scaled_rgb(pixels: np.ndarray) -> Image.Image:
  """The image as RGB with its shorter side SHORTER_SIDE (grey textures: three equal channels)."""
  image = Image.fromarray(pixels).convert('RGB')
  scale = SHORTER_SIDE / min(image.size)
  return image.resize((round(image.width * scale), round(image.height * scale)),
                      Image.Resampling.BICUBIC)


def write_patches(out: Path, train_per_class: int, val_per_class: int, test_per_class: int = 0,
                  seed: int = 0) -> None:
  """Writes the folder; the same seed gives the same patches. With test patches, the bottom
  quarter is halved: validation patches from its left half, test patches from its right."""
  rng = np.random.default_rng(seed)
  for name, load in SOURCES.items():
    image = scaled_rgb(load())
    boundary = round(image.height * TRAIN_FRACTION)
    bottom = (boundary, image.height - PATCH)
    middle = image.width // 2 if test_per_class else image.width
    regions = [('train', train_per_class, (0, boundary - PATCH), (0, image.width - PATCH)),
               ('val', val_per_class, bottom, (0, middle - PATCH))]
    if test_per_class:
      regions.append(('test', test_per_class, bottom, (middle, image.width - PATCH)))
    for split, count, rows, columns in regions:
      directory = out / split / name
      directory.mkdir(parents=True, exist_ok=True)
      tops = rng.integers(rows[0], rows[1] + 1, count)
      lefts = rng.integers(columns[0], columns[1] + 1, count)
      for i, (top, left) in enumerate(zip(tops, lefts)):
        image.crop((left, top, left + PATCH, top + PATCH)).save(directory / f'{i:04d}.png')


def main(argv) -> None:
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  out = Path(FLAGS.out)
  write_patches(out, FLAGS.train_per_class, FLAGS.val_per_class, FLAGS.test_per_class)
  print(f'{out}: {len(SOURCES)} classes, {FLAGS.train_per_class} training, '
        f'{FLAGS.val_per_class} validation and {FLAGS.test_per_class} test patches each')


if __name__ == '__main__':
  flags.DEFINE_string('out', None, 'Root of the image folder to write.', required=True)
  flags.DEFINE_integer('train_per_class', 600, 'Training patches per class.')
  flags.DEFINE_integer('val_per_class', 150, 'Validation patches per class.')
  flags.DEFINE_integer('test_per_class', 0, 'Test patches per class (0: no test split).')
  app.run(main)
