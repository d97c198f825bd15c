"""Preparing a dataset, once: its TFDS records and its training statistics, then the opened handle.

The TFDS dataset is built in ``array_record`` files, which can be read by example index,
its images in the stored form of its entry in :mod:`alexnet.data.registry` (§2's for
colour images: shorter side 256, central 256×256 crop, JPEG; Fashion-MNIST keeps TFDS's
28×28 PNGs). Then one pass over the training split computes the mean image and the RGB
covariance (:mod:`alexnet.data.pixel_statistics`), saved next to the prepared data. Many
processes may call :func:`prepare` at once, on one disk or on several; an interrupted
preparation is redone, never half-read.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import jax

from alexnet import errors
from alexnet.config import DataConfig, ModelConfig
from alexnet.data import pixel_statistics, registry
from alexnet.data.dataset import Dataset, split_size
from alexnet.data.tensorflow_import import tfds
from alexnet.run import stopping


def prepare(data_config: Mapping, model: ModelConfig) -> Dataset:
  """Builds the dataset and its training statistics once, then opens it for ``model``'s input.

  Later calls only read what the first one made. Safe to call from every process at
  once: preparation runs under an exclusive ``flock`` on the TFDS data_dir, so on a shared
  disk one process prepares while the others wait and then find everything done; hosts
  with their own disks each prepare an identical copy (TFDS's order and the statistics are
  deterministic). TFDS itself writes into a temporary directory and renames it when
  complete, so an interrupted preparation (a stop requested between examples,
  :mod:`alexnet.run.stopping`, or a kill) is redone, never half-read. A training or evaluation
  split the dataset lacks is refused here, before any training.
  """
  config, spec = registry.checked(data_config, model)
  statistics_file = pixel_statistics.file_for(spec, config)
  if not (spec.builder.is_prepared() and os.path.exists(statistics_file)):
    root = os.fspath(spec.builder.data_dir_root)
    with _exclusive(root), _disk_full_named(root, f'the prepared {config.dataset}'):
      if not spec.builder.is_prepared():
        _build(spec, config, root)
      # A builder made before another process prepared the data holds no splits: read anew.
      spec = registry.spec(config)
      if not os.path.exists(statistics_file):
        split_size(spec.builder.info, config.train_split, 'data.train_split')
        pixel_statistics.save(pixel_statistics.compute(spec, config), statistics_file)
  return Dataset(config, model, spec, statistics_file)


def _build(spec: registry.Spec, config: DataConfig, root: str) -> None:
  """TFDS's preparation of the records, in ``root``; the caller holds the preparation lock."""
  _remove_preparations_cut_short(root, spec.builder.name)
  _announce(f'preparing {spec.builder.name} in {root}, once: later runs read what this '
            'writes')
  manual_dir = _manual_dir(config, spec.builder)
  if spec.entry.check_manual_dir:
    spec.entry.check_manual_dir(manual_dir)
  spec.builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
      manual_dir=manual_dir))


@contextlib.contextmanager
def _exclusive(directory: str) -> Iterator[None]:
  """Holds an exclusive lock on ``directory``: the first process prepares, the rest wait.

  The wait polls, so that a stop requested meanwhile (Ctrl-C) is honoured there too.
  """
  os.makedirs(directory, exist_ok=True)
  with open(os.path.join(directory, '.alexnet_prepare.lock'), 'w') as lock:
    while True:
      try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        break
      except BlockingIOError:
        stopping.check(f'while waiting for another process to prepare the data in {directory}')
        time.sleep(0.5)
    try:
      yield
    finally:
      fcntl.flock(lock, fcntl.LOCK_UN)


@contextlib.contextmanager
def _disk_full_named(directory: str, what: str) -> Iterator[None]:
  """A full disk met while writing ``what`` (TFDS wraps the OS's error in its own) as
  DiskFullError naming ``directory``."""
  try:
    yield
  except Exception as error:
    if errors.disk_full_in(error):
      raise errors.DiskFullError(directory, what) from error
    raise


def _remove_preparations_cut_short(root: str, name: str) -> None:
  """Removes the ``incomplete.*`` directories TFDS left when a preparation was killed or
  ran out of space (for ImageNet, tens of GB). The caller holds the preparation lock, so
  none of them is being written."""
  for pattern in (f'{name}/incomplete.*', 'downloads/extracted/incomplete.*'):
    for path in sorted(Path(root).glob(pattern)):
      _announce(f'removing {path}, left by a preparation that was cut short')
      if path.is_dir():
        shutil.rmtree(path)
      else:
        path.unlink()


def _announce(message: str) -> None:
  if jax.process_index() == 0:
    print(message, flush=True)


def _manual_dir(data_config: DataConfig, builder: tfds.core.DatasetBuilder) -> str:
  return data_config.manual_dir or os.path.join(os.fspath(builder.data_dir_root), 'downloads',
                                                'manual')
