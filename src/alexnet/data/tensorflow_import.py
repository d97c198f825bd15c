"""TensorFlow and TFDS, imported once with the settings this process needs for them.

TensorFlow serves only the input pipeline (tf.data, TFDS); JAX owns the accelerators.
Every module of the project that uses TensorFlow imports it from here
(``from alexnet.data.tensorflow_import import tf, tfds``) before any other TensorFlow
import, so these settings hold whatever the entry point (a tool, the trainer, a test, a
benchmark); ``tests/test_structure.py`` checks the rule.

* ``TF_CPP_MIN_LOG_LEVEL=2``: TensorFlow's C++ logs at warnings and above only. It is
  read when TensorFlow is first imported, hence before the import.
* ``TF_ENABLE_ONEDNN_OPTS=0``: TensorFlow's oneDNN kernels off. Each of TensorFlow's two
  native libraries announced them at import, before its logging was set up and so
  whatever the log level (four lines, with "All log messages before
  absl::InitializeLog() is called…", before every tool's own output). The pipeline uses
  none of them: its batches are bitwise the same either way (5 training and 4 ten-crop
  evaluation batches of configs/fashion_mnist.py compared by SHA-256).
* No GPU for TensorFlow: a GPU TensorFlow next to JAX takes the device's memory and
  breaks NCCL (flax#4942, jax#39167).

The two TFDS warnings that say how this project works are dropped by :mod:`alexnet.cli`,
with the other settings of a command's process.
"""

import contextlib
import os

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
os.environ.setdefault('TF_ENABLE_ONEDNN_OPTS', '0')

import tensorflow as tf
import tensorflow_datasets as tfds
from tensorflow.compiler.tf2xla.python import xla as tf_xla

# RuntimeError: TensorFlow was initialised before this module ran; it chose its devices.
with contextlib.suppress(RuntimeError):
  tf.config.set_visible_devices([], 'GPU')

__all__ = ['tf', 'tf_xla', 'tfds']
