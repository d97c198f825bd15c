"""The study's common base: the README's network at 1/8 width on 5,000 Fashion-MNIST images.

  python experiments/study.py --out experiments/results/study    # every regime (study.py)

What every regime of the ablation study shares, fixed before its runs
(experiments/results/study/plan.md gives each regime's reason):

* the README's network (fashion_mnist.py) at 1/8 width (conv 12/32/48/48/32, fc 512) with
  every paper choice on, dropout 0.5 included; its learning rate and cosine rule;
* 5,000 training images (train[:5000]) seen 20 times (780 steps), so that the net can fit
  them and regularisation has something to prevent;
* three disjoint splits: choices are made on a validation split cut from the training
  images the study never trains on (train[50000:55000]); the test split (the 10,000 test
  images) is read once per run, at its end, with §4.1's ten patches and the centre crop;
  the training images are measured as the test is (centre crop, no dropout) for the gap.
"""

import pathlib
import runpy

import ml_collections

_FASHION_MNIST = runpy.run_path(str(pathlib.Path(__file__).parents[1] / 'fashion_mnist.py'))

VALIDATION = 'train[50000:55000]'  # held out: no regime trains on train[20000:]


def get_config(variant: str = '') -> ml_collections.ConfigDict:
  if variant:
    raise ValueError(f'study/base.py has no variants, got {variant!r}.')
  config = _FASHION_MNIST['get_config']()
  config.model.width = 1 / 8  # conv 12/32/48/48/32, fc 512
  config.model.dropout_rate = 0.5  # §4.2: the base makes every paper choice
  data = config.data
  data.train_split = 'train[:5000]'  # small enough to overfit without regularisation
  data.eval_split = VALIDATION  # what is chosen is chosen here
  data.test_split = 'test'  # read once, at the end of each run
  data.train_eval_split = 'train[:5000]'  # the whole training set, measured as the test is
  train = config.train
  train.num_epochs = 20.0  # 780 steps, ≈ 2.5 min here: the training error has levelled off
  train.eval_every_epochs = 5.0  # validation error at 5, 10, 15, 20 epochs
  train.log_every_steps = 13  # three training-error points per epoch of 39 steps
  train.checkpoint_every_steps = 10_000  # at evaluations and the end only
  train.keep_checkpoints = 1
  return config
