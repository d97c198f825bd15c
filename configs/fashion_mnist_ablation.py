"""configs/fashion_mnist.py shortened for the ablation study on two CPU cores.

  python experiments/ablations.py --config configs/fashion_mnist_ablation.py --seeds 3 \
      --out experiments/results/fashion_mnist

Seven variants × three seeds must fit in about 90 minutes on two cores, so each run
trains a few epochs instead of fashion_mnist.py's schedule; everything else, the
learning-rate rule included, is fashion_mnist.py's (and so the paper's where it can be).
"""

import pathlib
import runpy

import ml_collections

_FASHION_MNIST = runpy.run_path(str(pathlib.Path(__file__).with_name('fashion_mnist.py')))


def get_config(variant: str = '') -> ml_collections.ConfigDict:
  if variant:
    raise ValueError(f'fashion_mnist_ablation.py has no variants, got {variant!r}.')
  config = _FASHION_MNIST['get_config']()
  train = config.train
  train.num_epochs = 5.0  # ≈ 3 min per run on two cores
  train.eval_every_epochs = 0.5  # ten points on each validation curve
  train.log_every_steps = 10  # Figure 1 needs the early training error at a fine step
  train.checkpoint_every_steps = 1000  # and at every evaluation
  train.keep_checkpoints = 1  # the sweep keeps 21 workdirs: only the latest and the best
  return config
