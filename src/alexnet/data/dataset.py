"""The ``Dataset`` handle: a prepared dataset opened once for one network's input, and its batches.

Opened once per run or tool (by :func:`alexnet.data.preparation.prepare` or
:meth:`Dataset.open`), it holds the builder, the statistics, the PCA of the colours and the
record sources, so the batches of every step and every evaluation reuse them. Every
step, each process reads by index only its own rows of the global batch
(:mod:`alexnet.data.epoch_order`) and draws each example's crop, mirror and colour shift
(:mod:`alexnet.data.host_augmentation`); tf.data decodes them
(:mod:`alexnet.data.input_pipeline`). The batch goes to the device as uint8 pixels plus
the draws, and :mod:`alexnet.data.augment` finishes it inside the jitted step.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator, Mapping, Sequence

import jax
import numpy as np

from alexnet.config import EVAL_CROPS, ConfigError, DataConfig, ModelConfig
from alexnet.data import augment, input_pipeline, pixel_statistics, registry, views
from alexnet.data.builders import skipped, stored_format
from alexnet.data.epoch_order import EpochOrder, local_rows
from alexnet.data.host_augmentation import HostAugmentation
from alexnet.data.registry import Spec
from alexnet.data.tensorflow_import import tf, tfds


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
  """What the trainer needs to know about a prepared dataset."""

  num_classes: int
  # ImageNet: WordNet names; Fashion-MNIST: TFDS's; folders: folder names.
  class_names: tuple[str, ...]
  num_examples: dict[str, int]  # per split
  train_examples: int  # in data_config.train_split, which may be a slice such as 'train[:10%]'
  skipped_images: int  # unreadable files left out at preparation (0 where not applicable)
  tfds_name: str  # name/config:version, for the log
  prepared_dir: str  # where TFDS wrote the records, and the statistics beside them
  # One stored image: (256, 256, 3) for §2, (28, 28, 1) for Fashion-MNIST.
  stored_shape: tuple[int, int, int]
  statistics_file: str


def split_size(info: tfds.core.DatasetInfo, split: str, field: str) -> int:
  """Examples in ``split`` (a TFDS split or slice), or a ConfigError naming ``field``."""
  try:
    examples = info.splits[split].num_examples
  except (KeyError, ValueError) as error:
    raise ConfigError(f'{field}={split!r} is not allowed: it must be a split of {info.name} '
                      f'({", ".join(info.splits)}) or a slice of one such as '
                      f"'train[:10%]' ({str(error).splitlines()[0]})") from None
  if examples == 0:
    raise ConfigError(f'{field}={split!r} is not allowed: it holds no example of {info.name}.')
  return examples


class Dataset:
  """A prepared dataset opened for one network's input: what every batch reuses, read once.

  Made by :func:`alexnet.data.preparation.prepare` (which builds what is missing) or
  :meth:`open` (which only reads). It holds the builder, the statistics, §4.1's
  augmentation constants and the record sources of the splits read so far; its crops have
  the image size and channels of the model config it was opened with.

  Its batches are what the host sends the device: uint8 pixels and each example's draws.
  ``device`` (:class:`alexnet.data.augment.DeviceAugmentation`) finishes them inside the jitted
  steps; :meth:`finish_train` and :meth:`finish_eval` do it outside them, for the tools
  and the tests.
  """

  def __init__(self, config: DataConfig, model: ModelConfig, spec: Spec, statistics_file: str):
    self.config = config
    self.image_size, self.channels = model.image_size, model.input_channels
    self.builder = spec.builder
    self._spec = spec
    self._sources: dict[str, object] = {}
    self.statistics = pixel_statistics.load(statistics_file)
    self.mean_image, self.scale = pixel_statistics.input_normalisation(config, self.statistics)
    self._host, self.device = _augmentations(spec, config, self.image_size, self.channels,
                                             self.mean_image, self.scale, self.statistics)
    self._finish_train = jax.jit(self.device.train_images)
    self._finish_eval = jax.jit(self.device.eval_images, static_argnames='crops')
    self.info = _info(spec, config, statistics_file)

  @classmethod
  def open(cls, data_config: Mapping, model: ModelConfig) -> Dataset:
    """The dataset :func:`prepare` made; FileNotFoundError if it has not been prepared."""
    config, spec = registry.checked(data_config, model)
    statistics_file = pixel_statistics.file_for(spec, config)
    if not (spec.builder.is_prepared() and os.path.exists(statistics_file)):
      raise FileNotFoundError(f'{config.dataset} is not prepared in '
                              f'{os.fspath(spec.builder.data_dir)}: call '
                              'alexnet.data.preparation.prepare first.')
    return cls(config, model, spec, statistics_file)

  def source(self, split: str):
    """Random access to the split's serialised records; nothing is decoded in Python."""
    if split not in self._sources:
      self._sources[split] = input_pipeline.source(self._spec, split)
    return self._sources[split]

  def split_examples(self, split: str, field: str = 'split') -> int:
    """Examples in ``split`` (a split or a slice of one); a ConfigError naming ``field`` (the
    flag or config field that gave it) for one the dataset lacks or that holds nothing."""
    return split_size(self.builder.info, split, field)

  def stored_images(self, split: str, indices: Sequence[int]) -> np.ndarray:
    """The stored images (uint8, as prepared) at ``indices`` of ``split``."""
    examples = self.builder.as_data_source(split).__getitems__(list(indices))
    return np.stack([example['image'] for example in examples])

  def train_batches(self, *, global_batch_size: int, seed: int, start_step: int = 0,
                    process_index: int | None = None,
                    process_count: int | None = None) -> Iterator[dict[str, np.ndarray]]:
    """This process's rows of the global training batches of steps start_step, start_step+1, ….

    Endless; epochs roll over inside a batch if they must. Yields {'image': uint8
    (global_batch_size // process_count, h, w, c): the crop windows (h = w = image_size)
    or the whole small stored images; 'label': int32; 'offset', 'flip', 'shift': each
    example's draws}, which ``device.train_images`` finishes. Process p (by default this JAX
    process) gets rows [p·B/P, (p+1)·B/P) of the global batch, so the global batch does not
    depend on the number of processes, and batch k depends on (seed, k) only: starting at
    step k gives what an uninterrupted run gives there. Close it when done (``contextlib.closing``):
    left open, its tf.data threads live until interpreter shutdown, and with
    ``data.threads=1`` the exit was seen to hang there.
    """
    if seed < 0:
      raise ValueError(f'seed must be non-negative, got {seed}.')
    host = self._host
    source = self.source(self.config.train_split)
    order = EpochOrder(seed, len(source))
    rows = local_rows(global_batch_size, process_index, process_count)

    def step_fn(step: int) -> dict[str, np.ndarray]:
      positions = np.arange(rows.start, rows.stop, dtype=np.int64) + step * global_batch_size
      return {'index': order.indices(positions), **host.draws(seed, positions)}

    draws = host.draw_signature()
    ds = input_pipeline.batches(tf.data.Dataset.counter(start_step), step_fn, source, len(rows),
                                host.train_example, draws, tuple(draws), self.config)
    yield from ds.as_numpy_iterator()

  def eval_batches(self, split: str, *, global_batch_size: int, crops: int,
                   process_index: int | None = None,
                   process_count: int | None = None) -> Iterator[dict[str, np.ndarray]]:
    """One pass over ``split``, every example exactly once over all processes, in order.

    The last global batch is padded to full size. Yields {'image': uint8 (local_batch, h,
    w, c), the stored images (or their centre windows, for crops=1 of JPEGs at the final
    size), which ``device.eval_images(batch, crops)`` cuts into crops ∈ EVAL_CROPS
    views; 'label': int32; 'mask': bool, False on padding rows}.
    """
    _check_crops(crops)
    host = self._host
    source = self.source(split)
    count = len(source)
    rows = local_rows(global_batch_size, process_index, process_count)

    def step_fn(step: int) -> dict[str, np.ndarray]:
      positions = np.arange(rows.start, rows.stop, dtype=np.int64) + step * global_batch_size
      mask = positions < count
      return {'index': np.where(mask, positions, 0), 'mask': mask}

    steps = tf.data.Dataset.range(-(-count // global_batch_size))
    ds = input_pipeline.batches(steps, step_fn, source, len(rows),
                                lambda ex: host.eval_example(ex['encoded'], crops),
                                {'mask': tf.TensorSpec([], tf.bool)}, ('mask',), self.config)
    yield from ds.as_numpy_iterator()

  def preprocess(self, encoded_image: bytes, crops: int) -> np.ndarray:
    """One image file's bytes → (crops, image_size, image_size, channels) float32, as
    evaluation sees it.

    The image is first put in the dataset's stored form (for ImageNet: §2's 256×256
    central crop as JPEG), so that it goes through exactly the decoding that evaluation
    used. Raises ValueError for bytes that are not an image.
    """
    _check_crops(crops)
    try:
      stored = self._spec.to_stored(encoded_image)
    except stored_format.UnreadableImageError as e:
      raise ValueError(f'preprocess: the {len(encoded_image)} bytes given are {e}.') from e
    image = self._host.eval_example(tf.constant(stored), crops).numpy()
    return self.finish_eval({'image': image[None]}, crops)[0]

  def finish_train(self, batch: Mapping[str, np.ndarray]) -> np.ndarray:
    """A training batch as the step sees it: float32 (n, image_size, image_size, channels)."""
    return np.asarray(self._finish_train(batch))

  def finish_eval(self, batch: Mapping[str, np.ndarray], crops: int) -> np.ndarray:
    """An evaluation batch's views as the step sees them: float32 (n, crops, image_size,
    image_size, channels)."""
    return np.asarray(self._finish_eval({'image': batch['image']}, crops=crops))


def _info(spec: Spec, config: DataConfig, statistics_file: str) -> DatasetInfo:
  info = spec.builder.info
  label = info.features['label']
  train_examples = split_size(info, config.train_split, 'data.train_split')
  for field in ('eval_split', 'test_split', 'train_eval_split'):  # refused now, not at the end
    if getattr(config, field):
      split_size(info, getattr(config, field), f'data.{field}')
  return DatasetInfo(
      num_classes=label.num_classes,
      class_names=spec.entry.class_names() if spec.entry.class_names else tuple(label.names),
      num_examples={name: split.num_examples for name, split in info.splits.items()},
      train_examples=train_examples,
      skipped_images=skipped.count_skipped(info),
      tfds_name=f'{spec.builder.name}/{spec.builder.builder_config.name}:{spec.builder.version}'
      if spec.builder.builder_config else f'{spec.builder.name}:{spec.builder.version}',
      prepared_dir=os.fspath(spec.builder.data_dir),
      stored_shape=spec.stored_shape,
      statistics_file=statistics_file,
  )


def _check_crops(crops: int) -> None:
  if crops not in EVAL_CROPS:
    raise ValueError(f'crops must be one of {EVAL_CROPS}, got {crops}.')


def _augmentations(spec: Spec, data_config: DataConfig, image_size: int, channels: int,
                   mean_image: np.ndarray, scale: np.ndarray,
                   statistics: pixel_statistics.Statistics
                  ) -> tuple[HostAugmentation, augment.DeviceAugmentation]:
  """The host's and the device's share of §2 and §4.1 for one dataset and network input."""
  if data_config.pca_eigen == 'computed':
    eigenvalues, eigenvectors = views.pca_of_covariance(statistics.rgb_covariance)
  else:
    eigenvalues, eigenvectors = views.IMAGENET_EIGENVALUES, views.IMAGENET_EIGENVECTORS
  host = HostAugmentation(spec, data_config.resize_size, image_size, data_config.translate,
                          data_config.flip, data_config.pca_std, data_config.pca_convention,
                          eigenvalues, eigenvectors)
  # Grey datasets are stored with one channel and their statistics have three equal
  # ones, so a one-channel net needs only the first: the device then does a third of the
  # work instead of making RGB and throwing two channels away.
  device = augment.DeviceAugmentation(data_config.resize_size, image_size,
                                      np.ascontiguousarray(mean_image[..., :channels]),
                                      scale[:channels], channels, host.windows_from_host)
  return host, device
