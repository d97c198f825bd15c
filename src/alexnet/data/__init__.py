"""The data (§2, §4.1), one module per concern.

``registry`` names the datasets (builder and stored form of each); ``preparation`` builds one
once, with its ``pixel_statistics``; ``dataset`` is the handle a run opens, whose batches
follow the ``epoch_order``, are drawn and decoded on the host (``host_augmentation``) by the
tf.data ``input_pipeline`` and finished on the device (``augment``). ``views`` decides each
example's view; ``builders`` holds the TFDS builders; ``tensorflow_import`` imports
TensorFlow with this process's settings."""
