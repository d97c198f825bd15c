"""The paper's recipe on ImageNet (ILSVRC-2012): every field at the paper's value.

  python -m alexnet.main --config configs/imagenet_paper.py --workdir runs/paper
  python -m alexnet.main --config configs/imagenet_paper.py:smoke ...   # a few tiny steps

The fields, their defaults and the section of the paper each comes from are defined
once, in ``src/alexnet/config.py``; ``python -m alexnet.summary`` prints the network.
"""

import ml_collections

from alexnet import config as config_lib


def get_config(variant: str = '') -> ml_collections.ConfigDict:
  config = config_lib.paper_config()
  if variant == 'smoke':
    config.model.width = 1 / 16
    config.model.image_size = 67
  elif variant:
    raise ValueError(f'Unknown variant {variant!r} of imagenet_paper.py; known: smoke.')
  return config
