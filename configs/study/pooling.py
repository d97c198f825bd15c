"""The pooling regime: maps that shrink as the paper's do, so that 2/2 pooling drops a border.

In the paper (§3.4, Figure 2) the maps go 55 → 27 → 13 → 6: each pooling, 3/2 or 2/2,
gives the same size, and 2/2 leaves out one row and column of 55, 27 and 13. At the base's
64 pixels they go 15 → 7 → 3 → 1, so pool5 is a global maximum under 3/2 while 2/2 reads 4
of conv5's 9 positions: another operation than the paper's. Here conv1 is 5×5 at stride 2
on 65-pixel crops (of 69-pixel images, ±2 pixels as in the base), which gives 31 → 15 →
7 → 3 under both poolings; 2/2 leaves out one row and column of 31, 15 and 7. Every other
field is the base's. The maps are four times larger, and a step costs ≈ 3× the base's.
"""

import pathlib
import runpy

import ml_collections

_BASE = runpy.run_path(str(pathlib.Path(__file__).with_name('base.py')))


def get_config(variant: str = '') -> ml_collections.ConfigDict:
  if variant:
    raise ValueError(f'study/pooling.py has no variants, got {variant!r}.')
  config = _BASE['get_config']()
  model = config.model
  model.image_size = 65  # conv1 (5×5, stride 2): 31×31 maps, then 15, 7, 3 under 3/2 or 2/2
  model.conv1_kernel = 5
  model.conv1_stride = 2
  config.data.resize_size = 69  # crops move ±2 pixels, as the base's 64 of 68
  return config
