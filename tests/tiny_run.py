"""A tiny trained run for the tests of the tools: 8 smoke steps on a fake Fashion-MNIST.

Import the fixture into a test module (``from tiny_run import tiny_run``); it is trained
once per session, in this process, by the real trainer.
"""

from __future__ import annotations

import runpy
from pathlib import Path

import ml_collections
import pytest

import fake_data
from alexnet.training import trainer

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


@pytest.fixture(scope='session')
def tiny_run(tmp_path_factory) -> Path:
  """The workdir of a finished 8-step run (checkpoints at steps 4 and 8, evaluated at 8)."""
  root = tmp_path_factory.mktemp('tiny_run')
  fake_data.write_fashion_mnist_idx(str(root / 'manual'), train=512, test=NUM_TEST)
  workdir = root / 'run'
  trainer.train_and_evaluate(smoke_config(root), workdir)
  return workdir
