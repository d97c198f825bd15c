"""The tiny run the tests of the tools read (conftest.py's ``tiny_run`` fixture): 8 smoke
steps on a fake Fashion-MNIST."""

from __future__ import annotations

import runpy
from pathlib import Path

import ml_collections

ROOT = Path(__file__).resolve().parents[1]
NUM_TEST = 40  # not a multiple of the evaluation batch (32): the last batch is padded


def smoke_config(data_root: Path) -> ml_collections.ConfigDict:
  """configs/fashion_mnist.py:smoke, shortened to 8 steps, on the fake data in ``data_root``."""
  config = runpy.run_path(str(ROOT / 'configs' / 'fashion_mnist.py'))['get_config']('smoke')
  config.data.data_dir = str(data_root / 'tfds')
  config.data.manual_dir = str(data_root / 'manual')
  config.data.eval_split = 'test'
  config.train.num_steps = 8
  return config
