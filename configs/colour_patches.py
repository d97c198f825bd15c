"""A two-tower net on a small colour image folder, for Figure 3's colour question.

  python experiments/colour_patches.py --out /tmp/colour_patches
  python -m alexnet.main --config configs/colour_patches.py --workdir workdirs/colour_patches \
      --config.data.folder=/tmp/colour_patches

The folder (experiments/colour_patches.py) holds 64×64 patches of eleven scikit-image
photographs and textures, one class each. The net and its training are fashion_mnist.py's
small two-tower net; only the data and the length change.
"""

import pathlib
import runpy

import ml_collections

_FASHION_MNIST = runpy.run_path(str(pathlib.Path(__file__).with_name('fashion_mnist.py')))


def get_config(variant: str = '') -> ml_collections.ConfigDict:
  if variant:
    raise ValueError(f'colour_patches.py has no variants, got {variant!r}.')
  config = _FASHION_MNIST['get_config']()
  config.model.num_classes = 11  # experiments/colour_patches.py's classes
  config.model.width = 1 / 4  # conv1: 12 kernels per tower, enough to tell two kinds apart
  config.model.input_channels = 3  # colour: the question of Figure 3
  data = config.data
  data.dataset = 'image_folder'
  data.folder = ''  # set on the command line: --config.data.folder=<the folder>
  data.eval_split = 'validation'  # the folder's val/
  data.pca_std = 0.1  # §4.1's colour noise, meaningful on colour data
  train = config.train
  train.num_epochs = 15.0  # 6,600 patches: ≈ 800 steps
  train.eval_every_epochs = 1.0
  return config
