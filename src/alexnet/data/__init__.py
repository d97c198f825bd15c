"""The data (§2, §4.1): preparation, statistics, the ``Dataset`` handle and the tf.data
pipeline (``pipeline``), the TFDS builders (``builders``), each example's view (``views``)
and the pixel operations inside the step (``augment``)."""
