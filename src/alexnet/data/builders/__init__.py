"""TFDS builders of this project: each registers a dataset name that TFDS's own registry lacks.

Importing a builder's module registers it (``fashion_mnist``: ``alexnet_fashion_mnist``,
``imagenet``: ``alexnet_imagenet2012``, ``image_folder``: ``alexnet_image_folder``);
:mod:`alexnet.data.registry` imports the three. The package itself imports nothing, so that
``stored_format`` (how a prepared image is stored) can be read without TFDS.
"""
