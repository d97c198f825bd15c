"""The LRN regime: activations large enough for §3.3's term α Σ a² to count beside k.

The base divides its inputs by their standard deviation and He-initialises, so the
activations entering LRN are of order 1: α Σ a² ≈ 10⁻⁴ of k = 2, and LRN is the constant
scaling 2^-0.75 (experiments/lrn_diagnostic.py measures it). Here the inputs are §2's raw
pixels minus the mean image, as in the paper; conv1's outputs are then of order 100 and the
term's median at norm1 is ≈ 0.8 k at initialisation (its 90th percentile ≈ 5 k): LRN damps
strong neighbouring responses. The paper's N(0, 0.01) initialisation on such inputs does
not learn in this narrow net (90 % error after 300 steps at rates 0.01 and 0.03), He's
does, but only after a warm-up (0.03 diverged at step 5; with 2 epochs of linear warm-up
0.003 and 0.01 train): so 2 epochs of warm-up for every arm, and the learning rate chosen
on validation by experiments/study.py from 0.003, 0.01, 0.03 with LRN on. Every other field
is the base's, but for the length: 40 epochs (1,560 steps), the base's length when this
regime ran. The arms: LRN on; ``model.lrn_alpha=0``, the scaling k^-β alone; no LRN.
"""

import pathlib
import runpy

import ml_collections

_BASE = runpy.run_path(str(pathlib.Path(__file__).with_name('base.py')))


def get_config(variant: str = '') -> ml_collections.ConfigDict:
  if variant:
    raise ValueError(f'study/lrn.py has no variants, got {variant!r}.')
  config = _BASE['get_config']()
  config.data.divide_by_std = False  # §2: raw pixel values minus the mean image
  config.optim.warmup_epochs = 2.0  # not in the paper: raw inputs diverge without it
  config.train.num_epochs = 40.0  # 1,560 steps, as the regime was run (plan.md: changes)
  config.train.eval_every_epochs = 10.0
  return config
