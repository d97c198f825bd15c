"""configs/fashion_mnist.py shortened for the ablation study on two CPU cores.

  python experiments/ablations.py --config configs/fashion_mnist_ablation.py --seeds 3 \
      --out experiments/results/fashion_mnist

Seven variants × three seeds take about 25 minutes on two cores, so each run
trains one epoch of a net 1/8 of AlexNet's width instead of fashion_mnist.py's longer
run of a wider one, and is tested on the centre crop; dropout is back at the paper's 0.5
so that the base makes every paper choice; everything else, the learning-rate rule
included, is fashion_mnist.py's (and so the paper's where it can be).
"""

import pathlib
import runpy

import ml_collections

_FASHION_MNIST = runpy.run_path(str(pathlib.Path(__file__).with_name('fashion_mnist.py')))


def get_config(variant: str = '') -> ml_collections.ConfigDict:
  if variant:
    raise ValueError(f'fashion_mnist_ablation.py has no variants, got {variant!r}.')
  config = _FASHION_MNIST['get_config']()
  config.model.width = 1 / 8  # conv 12/32/48/48/32, fc 512: the committed study's net
  config.model.dropout_rate = 0.5  # §4.2: the base of the study makes the paper's choices
  train = config.train
  train.num_epochs = 1.0  # ≈ 45 s per run on two cores
  train.eval_every_epochs = 0.25  # four points on each validation curve
  train.log_every_steps = 10  # Figure 1 needs the early training error at a fine step
  train.checkpoint_every_steps = 1000  # and at every evaluation
  train.keep_checkpoints = 1  # the sweep keeps 21 workdirs: only the latest and the best
  config.data.eval_crops = 1  # the centre patch: 10 crops would double each run's evaluation
  return config
