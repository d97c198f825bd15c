"""Every dataset a config may name, one entry each: its TFDS builder and how its images are stored.

Adding a dataset is one entry in :data:`DATASETS`. The config (:mod:`alexnet.config`) keeps
no list of the names: it may import nothing but :mod:`alexnet.errors`, and a second list
there would be a second place to add each dataset to. ``data.dataset`` is checked here
instead, by :func:`entry`, the first thing :func:`alexnet.data.preparation.prepare` and
:meth:`alexnet.data.dataset.Dataset.open` do, before any file is read or written: a name
not here is the one-line ConfigError naming those that are.

The builders import TensorFlow (seconds of a process's start): an entry's functions import
its builder's module when they are called, so that checking a config's dataset (a sweep
before its runs, a command refusing a misspelt name) imports no TensorFlow.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from alexnet.config import ConfigError, DataConfig, ModelConfig, require, validate_data
from alexnet.data.builders import stored_format

if TYPE_CHECKING:
  from alexnet.data.tensorflow_import import tfds


@dataclasses.dataclass(frozen=True)
class Entry:
  """One dataset: its builder for a data config, and the form its images are stored in."""

  builder: Callable[..., tfds.core.DatasetBuilder]  # (data config, **TFDS's keyword arguments)
  stored_size: int | None  # the side of a stored image; None: data.resize_size (§2's form)
  channels: int  # of a stored image: 3, or 1 for a grey dataset
  image_format: str  # 'jpeg' or 'png', of the stored image
  # None: the names of the builder's label feature.
  class_names: Callable[[], tuple[str, ...]] | None = None
  check_manual_dir: Callable[[str], None] | None = None  # before preparing: what it must hold
  required: Mapping[str, str] = dataclasses.field(default_factory=dict)  # data field: what


def _imagenet(config: DataConfig, **tfds_arguments) -> tfds.core.DatasetBuilder:
  from alexnet.data.builders import imagenet

  return imagenet.AlexnetImagenet2012(config=imagenet.config_for(config.resize_size),
                                      **tfds_arguments)


def _imagenet_class_names() -> tuple[str, ...]:
  """Readable names in place of the synset ids of TFDS's labels."""
  from alexnet.data.builders import imagenet

  return imagenet.CLASS_NAMES


def _check_imagenet_tars(manual_dir: str) -> None:
  from alexnet.data.builders import imagenet

  imagenet.check_tars(manual_dir)


def _fashion_mnist(_: DataConfig, **tfds_arguments) -> tfds.core.DatasetBuilder:
  """TFDS's 28×28 PNGs, stored as they are whatever the config."""
  from alexnet.data.builders import fashion_mnist

  return fashion_mnist.AlexnetFashionMnist(**tfds_arguments)


def _image_folder(config: DataConfig, **tfds_arguments) -> tfds.core.DatasetBuilder:
  from alexnet.data.builders import image_folder

  return image_folder.AlexnetImageFolder(
      config=image_folder.config_for(config.folder, config.resize_size), **tfds_arguments)


DATASETS: dict[str, Entry] = {
    'imagenet2012': Entry(_imagenet, stored_size=None, channels=3, image_format='jpeg',
                          class_names=_imagenet_class_names, check_manual_dir=_check_imagenet_tars),
    'fashion_mnist': Entry(_fashion_mnist, stored_size=28, channels=1, image_format='png'),
    'image_folder': Entry(_image_folder, stored_size=None, channels=3, image_format='jpeg',
                          required={'folder': 'the root of the image folder'}),
}


@dataclasses.dataclass(frozen=True)
class Spec:
  """One dataset as a data config asks for it: its entry, its builder, a stored image's shape."""

  entry: Entry
  builder: tfds.core.DatasetBuilder
  stored_shape: tuple[int, int, int]

  @property
  def image_format(self) -> str:
    return self.entry.image_format

  def to_stored(self, encoded: bytes) -> bytes:
    """Any image file → the form this dataset stores, so eval sees what training saw."""
    size, _, channels = self.stored_shape
    return stored_format.to_stored(encoded, size, grayscale=channels == 1,
                                   image_format=self.image_format)


def entry(data_config: DataConfig) -> Entry:
  """The entry of ``data_config.dataset``; a ConfigError for a name not in :data:`DATASETS`
  or for a field the dataset needs that the config leaves empty."""
  name = data_config.dataset
  require(name in DATASETS, 'data.dataset', name, ' or '.join(DATASETS))
  found = DATASETS[name]
  for field, what in found.required.items():
    require(bool(getattr(data_config, field)), f'data.{field}', getattr(data_config, field),
            f'{what} when data.dataset={name!r}')
  return found


def spec(data_config: DataConfig) -> Spec:
  """The builder of ``data_config.dataset``; constructing it reads nothing but metadata."""
  found = entry(data_config)
  builder = found.builder(data_config, data_dir=data_config.data_dir or None,
                          file_format='array_record')
  size = found.stored_size or data_config.resize_size
  return Spec(found, builder, (size, size, found.channels))


def checked(data_config: Mapping, model: ModelConfig) -> tuple[DataConfig, Spec]:
  """The data config checked against the dataset and the network's input, and its spec."""
  config = validate_data(data_config, model.image_size)
  found = spec(config)
  if found.image_format == 'png' and config.resize_size < found.stored_shape[0]:
    raise ConfigError(f'data.resize_size {config.resize_size} is below the stored size '
                      f'{found.stored_shape[0]} of {config.dataset}: images resized at read '
                      'time can only be enlarged.')
  channels = model.input_channels
  if channels not in (1, 3) or (channels == 1 and found.stored_shape[2] != 1):
    raise ConfigError(f'model.input_channels={channels} is not allowed for '
                      f'{config.dataset}: it must be 3 (RGB; grey images are repeated), '
                      'or 1 for a grey dataset.')
  return config, found
