"""The PCA colour-noise regime: colour images, warm-up for both arms, ten seeds.

  python experiments/colour_patches.py --out data/colour_patches --test_per_class 150

§4.1's colour noise needs colour: Fashion-MNIST is grey, so this regime trains on the
eleven-photograph folder of experiments/colour_patches.py with configs/colour_patches.py's
training (two towers, 15 epochs of 6,600 patches) and the study's width, 1/8. In the
earlier study one of five no-noise runs collapsed at the peak rate (validation error
34 % → 90 %), and five seeds could say nothing. Here both arms warm up for 2 epochs; ten
seeds; the statistic is the median paired difference with Wilcoxon's test, declared before
the runs, and the collapses are counted. The folder has three splits from disjoint pixels:
training patches (the top three quarters of each picture), validation (bottom quarter, left
half: watched during training), test (bottom quarter, right half: read once, at the end).
"""

import pathlib
import runpy

import ml_collections

_COLOUR_PATCHES = runpy.run_path(str(pathlib.Path(__file__).parents[1] / 'colour_patches.py'))

FOLDER = 'data/colour_patches'  # experiments/colour_patches.py --test_per_class 150


def get_config(variant: str = '') -> ml_collections.ConfigDict:
  if variant:
    raise ValueError(f'study/colour.py has no variants, got {variant!r}.')
  config = _COLOUR_PATCHES['get_config']()
  config.model.width = 1 / 8  # the study's width: half the cost of colour_patches.py's 1/4
  data = config.data
  data.folder = FOLDER
  data.eval_split = 'validation'  # the bottom quarters' left halves
  data.test_split = 'test'  # their right halves, read once per run
  data.train_eval_split = 'train[:1650]'  # as many training patches as test ones
  config.optim.warmup_epochs = 2.0  # not in the paper: the peak rate collapsed a run before
  return config
