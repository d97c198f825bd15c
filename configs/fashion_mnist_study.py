"""The ablation study's base: a small Fashion-MNIST training set, trained to convergence.

  python experiments/ablations.py --config configs/fashion_mnist_study.py --seeds 5 \\
      --variants no_lrn,no_overlap,no_dropout,one_tower,no_augmentation \\
      --out experiments/results/fashion_mnist_study

The paper's claims about LRN, overlapping pooling, augmentation and dropout are claims about
error after training to convergence, largely about overfitting; one epoch on 60,000 images
(the earlier study) measures how fast a variant starts learning instead. Here the training
set is 5,000 images, seen 40 times, so that the network can fit it and regularisation has
something to prevent; the test set stays the full 10,000. Fixed before any ablation ran:
fashion_mnist.py's network at 1/8 width (conv 12/32/48/48/32, fc 512, ≈ 1 min per run on
two cores) with every paper choice on (dropout 0.5), its learning rate and cosine rule,
and the final test of §4.1's ten patches.
"""

import pathlib
import runpy

import ml_collections

_FASHION_MNIST = runpy.run_path(str(pathlib.Path(__file__).with_name('fashion_mnist.py')))


def get_config(variant: str = '') -> ml_collections.ConfigDict:
  if variant:
    raise ValueError(f'fashion_mnist_study.py has no variants, got {variant!r}.')
  config = _FASHION_MNIST['get_config']()
  config.model.width = 1 / 8  # conv 12/32/48/48/32, fc 512: 30 runs fit in the study's time
  config.model.dropout_rate = 0.5  # §4.2: the base makes every paper choice
  config.data.train_split = 'train[:5000]'  # small enough to overfit without regularisation
  train = config.train
  train.num_epochs = 40.0  # 1,560 steps: the training error levels off well before the end
  train.eval_every_epochs = 10.0  # centre-crop test error at 10, 20, 30, 40 epochs
  train.log_every_steps = 13  # three training-error points per epoch of 39 steps
  train.checkpoint_every_steps = 10_000  # at evaluations and the end only
  train.keep_checkpoints = 1
  return config
