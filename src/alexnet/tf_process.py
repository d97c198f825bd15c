"""TensorFlow and TFDS, imported once with the settings this process needs for them.

TensorFlow serves only the input pipeline (tf.data, TFDS); JAX owns the accelerators.
Every module of the project that uses TensorFlow imports it from here
(``from alexnet.tf_process import tf, tfds``) before any other TensorFlow import, so
these settings hold whatever the entry point (a tool, the trainer, a test, a benchmark);
``tests/test_structure.py`` checks the rule.

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
* Two TFDS warnings are dropped, as how this project works, not something to act on:
  "Using custom data configuration: …", logged each time a builder is made with a config
  of its own (this project's ImageNet and image-folder builders always are), and
  "Variant folder … has no dataset_info.json", logged when asked whether a dataset not
  yet prepared is prepared (twice before every first preparation).
"""

import logging
import os

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
os.environ.setdefault('TF_ENABLE_ONEDNN_OPTS', '0')

import tensorflow as tf  # noqa: E402
import tensorflow_datasets as tfds  # noqa: E402
from tensorflow.compiler.tf2xla.python import xla as tf_xla  # noqa: E402


# (file of tensorflow_datasets it comes from, start of the message)
_EXPECTED_TFDS_WARNINGS = (
    (os.path.join('core', 'dataset_builder.py'), 'Using custom data configuration'),
    (os.path.join('core', 'utils', 'file_utils.py'), 'Variant folder '),
)


class _DropExpectedTfdsWarnings(logging.Filter):

  def filter(self, record: logging.LogRecord) -> bool:
    return not any(record.pathname.endswith(os.path.join('tensorflow_datasets', source))
                   and record.getMessage().startswith(start)
                   for source, start in _EXPECTED_TFDS_WARNINGS)


logging.getLogger('absl').addFilter(_DropExpectedTfdsWarnings())

try:
  tf.config.set_visible_devices([], 'GPU')
except RuntimeError:  # TensorFlow was initialised before this module ran; it chose its devices
  pass

__all__ = ['tf', 'tf_xla', 'tfds']
