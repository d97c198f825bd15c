"""TensorFlow and TFDS, imported once with the settings this process needs for them.

TensorFlow serves only the input pipeline (tf.data, TFDS); JAX owns the accelerators.
Every module of the project that uses TensorFlow imports it from here
(``from alexnet.tf_process import tf, tfds``) before any other TensorFlow import, so
these settings hold whatever the entry point (a tool, the trainer, a test, a benchmark);
``tests/test_structure.py`` checks the rule.

* ``TF_CPP_MIN_LOG_LEVEL=2``: TensorFlow's C++ logs at warnings and above only. It is
  read when TensorFlow is first imported, hence before the import.
* No GPU for TensorFlow: a GPU TensorFlow next to JAX takes the device's memory and
  breaks NCCL (flax#4942, jax#39167).
"""

import os

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import tensorflow as tf  # noqa: E402
import tensorflow_datasets as tfds  # noqa: E402
from tensorflow.compiler.tf2xla.python import xla as tf_xla  # noqa: E402

try:
  tf.config.set_visible_devices([], 'GPU')
except RuntimeError:  # TensorFlow was initialised before this module ran; it chose its devices
  pass

__all__ = ['tf', 'tf_xla', 'tfds']
