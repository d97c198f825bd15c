"""The overfitting regime: dropout and augmentation where the net can overfit, at three sizes.

  --config configs/study/overfitting.py:1000    (or :5000, :20000 training images)

The paper's claims about dropout (§4.2: without it "substantial overfitting"; it "roughly
doubles the number of iterations required to converge") and augmentation (§4.1: without it
"substantial overfitting") need a net that can overfit. The base's net fits 5,000 images
(2.8 % training error without crops and reflections); 1,000 are easier to overfit and
20,000 harder. Every size trains the same 780 steps, at a constant learning rate, so that
"steps to converge" is not set by a schedule's end: the first validation evaluation within
0.5 point of the run's own lowest validation error (centre crop, no dropout, evaluated every
78 steps). The constant rate is chosen on validation by experiments/study.py, which passes
it as an override (plan.md: the grid); every other field is the base's.
"""

import pathlib
import runpy

import ml_collections

_BASE = runpy.run_path(str(pathlib.Path(__file__).with_name('base.py')))

SIZES = (1000, 5000, 20000)  # training images: train[:N], none of them in the validation split
STEPS = 780  # 20 epochs of 5,000 images, as the base
EVAL_EVERY_STEPS = 78


def get_config(variant: str = '5000') -> ml_collections.ConfigDict:
  if not variant.isdigit() or int(variant) not in SIZES:
    raise ValueError(f'study/overfitting.py takes a training-set size of {SIZES}, got '
                     f'{variant!r}.')
  size = int(variant)
  config = _BASE['get_config']()
  config.data.train_split = f'train[:{size}]'
  config.data.train_eval_split = f'train[:{min(size, 5000)}]'  # all of it, or 5,000 of it
  config.optim.schedule = 'constant'  # steps to converge are the net's, not a schedule's
  train = config.train
  train.num_steps = STEPS
  steps_per_epoch = size // train.batch_size
  train.eval_every_epochs = EVAL_EVERY_STEPS / steps_per_epoch
  return config
