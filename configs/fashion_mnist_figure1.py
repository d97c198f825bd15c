"""Figure 1's setup: the study's network with every regulariser off, at a constant rate.

  python experiments/figure1.py --config configs/fashion_mnist_figure1.py --seeds 5 \\
      --learning_rates 0.003,0.01,0.03,0.1,0.3,1 \\
      --out experiments/results/fashion_mnist_figure1

Figure 1 (§3.1) compares how fast ReLU and tanh units *fit the training set*: "No
regularization of any kind was employed", and each network trained at its own fastest
learning rate, which experiments/figure1.py finds by a sweep over optim.learning_rate.
The network is fashion_mnist_study.py's (the README's at 1/8 width); only what Figure 1
excludes is switched off, and the rate is held constant so that a schedule does not
decide which rate is fastest. Fixed before any run.
"""

import pathlib
import runpy

import ml_collections

_STUDY = runpy.run_path(str(pathlib.Path(__file__).with_name('fashion_mnist_study.py')))


def get_config(variant: str = '') -> ml_collections.ConfigDict:
  if variant:
    raise ValueError(f'fashion_mnist_figure1.py has no variants, got {variant!r}.')
  config = _STUDY['get_config']()
  config.model.dropout_rate = 0.0  # Figure 1: no regularisation of any kind
  config.optim.weight_decay = 0.0
  config.optim.schedule = 'constant'  # the sweep's rate is the rate every step trains at
  data = config.data
  data.train_split = 'train'  # all 60,000 images: the question is speed, not overfitting
  data.translate = False  # augmentation regularises too (§4.1)
  data.flip = False
  data.pca_std = 0.0
  data.eval_crops = 1  # the test error is not Figure 1's question: one quick final check
  train = config.train
  train.num_epochs = 3.0  # 1,407 steps; the report says where each run reaches the target
  train.eval_every_epochs = 3.0  # once, at the end
  train.log_every_steps = 5  # the training error every 5 steps, smoothed over 5 logs
  return config
