"""Fashion-MNIST that prepares offline from Debian's ``dataset-fashion-mnist`` idx files.

TFDS's own ``fashion_mnist`` downloads the idx files and checks their checksums; Debian
recompressed the same files, so TFDS refuses them. This subclass reads the idx files
from ``manual_dir`` or from Debian's install location when they are there, and otherwise
downloads exactly as TFDS does. The features, splits and label names are TFDS's. A stop
requested during preparation (:mod:`alexnet.run.stopping`) is honoured between examples.
"""

from __future__ import annotations

import gzip
import os
import shutil
import struct

from alexnet.data.tensorflow_import import tfds
from alexnet.run import stopping

DEBIAN_DIR = '/usr/share/datasets/fashion-mnist'
_FILES = {
    'train_data': 'train-images-idx3-ubyte.gz',
    'train_labels': 'train-labels-idx1-ubyte.gz',
    'test_data': 't10k-images-idx3-ubyte.gz',
    'test_labels': 't10k-labels-idx1-ubyte.gz',
}


def local_idx_dir(manual_dir: str) -> str | None:
  """The first of ``manual_dir`` and Debian's directory that holds all four idx files."""
  for directory in (manual_dir, DEBIAN_DIR):
    if directory and all(os.path.exists(os.path.join(directory, f)) for f in _FILES.values()):
      return directory
  return None


class AlexnetFashionMnist(tfds.image_classification.FashionMNIST):
  """TFDS ``fashion_mnist``, built from local idx files when there are any."""

  MANUAL_DOWNLOAD_INSTRUCTIONS = f"""\
  Optional. Put the four Fashion-MNIST idx .gz files in manual_dir, or install Debian's
  dataset-fashion-mnist package ({DEBIAN_DIR}); otherwise they are downloaded.
  """

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    try:
      manual_dir = os.fspath(dl_manager.manual_dir)
    except AssertionError:  # TFDS's words for a manual_dir that is missing or empty.
      manual_dir = ''
    directory = local_idx_dir(manual_dir)
    if directory is None:
      return super()._split_generators(dl_manager)
    files = _gunzipped(directory, os.path.join(dl_manager.download_dir, 'extracted'))
    return [
        tfds.core.SplitGenerator(
            name=split,
            gen_kwargs=dict(num_examples=_idx_count(files[f'{split}_labels']),
                            data_path=files[f'{split}_data'], label_path=files[f'{split}_labels']))
        for split in ('train', 'test')
    ]

  def _generate_examples(self, *args, **kwargs):
    for key, example in super()._generate_examples(*args, **kwargs):
      stopping.check('while preparing Fashion-MNIST')
      yield key, example


def _gunzipped(directory: str, extracted: str) -> dict[str, str]:
  """{file key: path} of the four idx files of ``directory``, uncompressed into
  ``extracted/alexnet_idx``.

  Not ``dl_manager.extract``: TFDS waits for its extractions through the ``promise``
  package, and a preparation was seen to wait there for good, every thread idle. As TFDS
  does, the files are written into an ``incomplete.*`` directory renamed when whole, which
  the next preparation removes if a run was cut short (a full disk, a kill).
  """
  done = os.path.join(extracted, 'alexnet_idx')
  if not os.path.isdir(done):
    partial = os.path.join(extracted, 'incomplete.alexnet_idx')
    shutil.rmtree(partial, ignore_errors=True)
    os.makedirs(partial)
    for name in _FILES.values():
      with gzip.open(os.path.join(directory, name)) as packed, open(
          os.path.join(partial, name.removesuffix('.gz')), 'wb') as unpacked:
        shutil.copyfileobj(packed, unpacked)
    os.replace(partial, done)
  return {key: os.path.join(done, name.removesuffix('.gz')) for key, name in _FILES.items()}


def _idx_count(path: os.PathLike) -> int:
  """The number of items an (uncompressed) idx file declares in its header."""
  with open(path, 'rb') as f:
    _, count = struct.unpack('>II', f.read(8))
  return count
