"""The tf.data pipeline: records read by index for each step, decoded in parallel, batched.

One function, :func:`batches`, serves training, evaluation and the statistics pass: each
says which examples a step reads (a pure function of the step) and how one example is
decoded; this module reads the records, parses and decodes them on tf.data's threads, in
an order no thread scheduling changes, with a fixed parallelism (no autotuning; see
:func:`_options`). ``docs/design.md`` (Input pipeline) has the measurements behind it.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np

from alexnet.config import DataConfig
from alexnet.data.registry import Spec
from alexnet.data.tensorflow_import import tf, tfds

_FEATURES = {
    'image': tf.io.FixedLenFeature([], tf.string), 'label': tf.io.FixedLenFeature([], tf.int64)
}


def source(spec: Spec, split: str):
  """Random access to the split's serialised records; nothing is decoded in Python."""
  return spec.builder.as_data_source(split,
                                     deserialize_method=tfds.decode.DeserializeMethod.RAW_BYTES)


def _parallel_calls(data_config: DataConfig) -> int:
  """Examples (or steps' reads) processed at once: ``data.threads``, or one per core this
  process may run on (a SLURM task's cores, not the whole node's)."""
  if data_config.threads:
    return data_config.threads
  return len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()


def _options(data_config: DataConfig) -> tf.data.Options:
  """Deterministic order, and no autotuning.

  tf.data's autotuner runs a thread that wakes on a period doubling up to a minute, and
  closing an iterator waits for it to wake: a trainer stopped by SIGTERM waited there at
  random, up to 44 s before its processes exited (BENCHMARKS.md, "Stopping"). A fixed
  parallelism of one call per core reads as fast on these CPUs.
  """
  options = tf.data.Options()
  options.deterministic = True
  options.autotune.enabled = False
  if data_config.threads:
    options.threading.private_threadpool_size = data_config.threads
  return options


def _parse(records: tf.Tensor) -> dict[str, tf.Tensor]:
  """Serialised tf.train.Examples → encoded images and int32 labels, in one vectorised op."""
  parsed = tf.io.parse_example(records, _FEATURES)
  return {'encoded': parsed['image'], 'label': tf.cast(parsed['label'], tf.int32)}


def batches(steps: tf.data.Dataset, step_fn: Callable[[int], dict[str, np.ndarray]], source,
            local_batch: int, example_fn: Callable[[dict[str, tf.Tensor]],
                                                   tf.Tensor], extra: dict[str, tf.TensorSpec],
            keep: tuple[str, ...], data_config: DataConfig) -> tf.data.Dataset:
  """Batches of processed examples, one per element of ``steps`` (step numbers).

  ``step_fn(step)`` is a pure function of the step: {'index': the example indices of this
  process's rows, **extra arrays (random draws, masks)}. One Python call per step reads
  the records by index; being pure, it can run for several steps at once in a parallel
  ``numpy_function`` map (no slower than ``from_generator`` on one core, and not
  serialised behind one generator on many). tf.data then parses the records, decodes
  every example in parallel (``example_fn`` sees one example's encoded image and extras),
  batches and prefetches. ``deterministic=True`` keeps the order whatever the threads do.
  The extras named in ``keep`` are passed on to the batches.
  """
  names = ('record', *extra)
  shapes = [
      tf.TensorShape([local_batch]),
      *(tf.TensorShape([local_batch, *spec.shape]) for spec in extra.values())
  ]

  def read(step: np.int64) -> list[np.ndarray]:
    arrays = step_fn(int(step))
    records = np.array(source.__getitems__(arrays.pop('index').tolist()), dtype=object)
    return [records, *(arrays[k] for k in extra)]

  def read_step(step: tf.Tensor) -> dict[str, tf.Tensor]:
    arrays = tf.numpy_function(read, [step], [tf.string, *(s.dtype for s in extra.values())],
                               stateful=False)
    arrays = dict(zip(names, (tf.ensure_shape(a, shape) for a, shape in zip(arrays, shapes))))
    return {**_parse(arrays.pop('record')), **arrays}

  ds = steps.map(read_step, num_parallel_calls=_parallel_calls(data_config), deterministic=True)
  ds = ds.unbatch().map(
      lambda ex: {'image': example_fn(ex), 'label': ex['label'], **{k: ex[k] for k in keep}},
      num_parallel_calls=_parallel_calls(data_config), deterministic=True)
  ds = ds.batch(local_batch, drop_remainder=True)
  return ds.prefetch(2).with_options(_options(data_config))
