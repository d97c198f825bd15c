"""TFDS builders of this project: each registers a dataset name that TFDS's own registry lacks.

Importing this package registers them (``alexnet_imagenet2012``, ``alexnet_fashion_mnist``,
``alexnet_image_folder``); :mod:`alexnet.data` is the only intended caller.
"""

from alexnet.datasets.fashion_mnist import AlexnetFashionMnist
from alexnet.datasets.image_folder import AlexnetImageFolder
from alexnet.datasets.imagenet import AlexnetImagenet2012

__all__ = ['AlexnetFashionMnist', 'AlexnetImageFolder', 'AlexnetImagenet2012']
