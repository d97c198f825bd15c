"""The input pipeline: a prepared dataset, opened once, and its train and eval batches.

What happens when (``docs/design.md`` has the measurements behind each choice):

* **Once, by :func:`prepare`**: the TFDS dataset is built in ``array_record`` files, which
  can be read by example index. Colour images are stored in §2's form (shorter side 256,
  central 256×256 crop, JPEG); Fashion-MNIST keeps TFDS's 28×28 PNGs. Then one pass over
  the training split computes the mean image and the RGB covariance (§2, §4.1), saved
  next to the prepared data.
* **Once per run or tool, by :func:`prepare` or :meth:`Dataset.open`**: a :class:`Dataset`
  handle is opened for one network's input (its image size and channels come from the
  model config). It holds the builder, the statistics, the PCA of the colours and the
  record sources, so the batches of every step and every evaluation reuse them.
* **Every step**: the order of an epoch is a permutation of example indices computed from
  (seed, epoch) alone, and step k's global batch is positions [kB, (k+1)B) of the endless
  stream of epochs. Each process reads by index only its own contiguous rows of that
  batch and draws each example's crop, mirror and colour shift as a function of (seed,
  global position) (:mod:`alexnet.data.views`); tf.data decodes, in parallel, only the crop
  window of each JPEG (or the whole small PNG). The batch goes to the device as uint8
  pixels plus the draws, and :mod:`alexnet.data.augment` finishes it inside the jitted step.
  So the batches depend on (seed, step) only, and a run can start at any step in O(1).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import jax
import numpy as np

from alexnet import errors
from alexnet.data import augment, views
from alexnet.run import console, stopping
from alexnet.config import (DATASETS, EVAL_CROPS, ConfigError, DataConfig, ModelConfig,
                            validate_data)
from alexnet.data.builders import fashion_mnist, image_folder, imagenet, skipped, stored_format
from alexnet.data.tf_process import tf, tfds

_STATISTICS_BATCH = 64


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
  """What the trainer needs to know about a prepared dataset."""

  num_classes: int
  class_names: tuple[str, ...]  # ImageNet: WordNet names; Fashion-MNIST: TFDS's; folders: folder names
  num_examples: dict[str, int]  # per split
  train_examples: int  # in data_config.train_split, which may be a slice such as 'train[:10%]'
  skipped_images: int  # unreadable files left out at preparation (0 where not applicable)
  tfds_name: str  # name/config:version, for the log
  prepared_dir: str  # where TFDS wrote the records, and the statistics beside them
  stored_shape: tuple[int, int, int]  # one stored image: (256, 256, 3) for §2, (28, 28, 1) for Fashion-MNIST
  statistics_file: str


@dataclasses.dataclass(frozen=True)
class Statistics:
  """The training split's pixel statistics at the stored-and-resized size (§2, §4.1)."""

  mean_image: np.ndarray  # (resize, resize, 3), 0–255
  rgb_mean: np.ndarray  # (3,), 0–255
  rgb_covariance: np.ndarray  # (3, 3), pixels in [0, 1], as the published eigenvalues are
  num_images: int


@dataclasses.dataclass(frozen=True)
class _Spec:
  """How one dataset is built and stored."""

  builder: tfds.core.DatasetBuilder
  stored_shape: tuple[int, int, int]
  image_format: str  # 'jpeg' or 'png', of the stored image

  def to_stored(self, encoded: bytes) -> bytes:
    """Any image file → the form this dataset stores, so eval sees what training saw."""
    size, _, channels = self.stored_shape
    return stored_format.to_stored(encoded, size, grayscale=channels == 1,
                                   image_format=self.image_format)


# --- Preparation -----------------------------------------------------------------------


def _spec(data_config: DataConfig) -> _Spec:
  """The builder of ``data_config.dataset``; constructing it reads nothing but metadata."""
  kwargs = dict(data_dir=data_config.data_dir or None, file_format='array_record')
  size = data_config.resize_size
  if data_config.dataset == 'imagenet2012':
    builder = imagenet.AlexnetImagenet2012(config=imagenet.config_for(size), **kwargs)
    return _Spec(builder, (size, size, 3), 'jpeg')
  if data_config.dataset == 'image_folder':
    builder = image_folder.AlexnetImageFolder(
        config=image_folder.config_for(data_config.folder, size), **kwargs)
    return _Spec(builder, (size, size, 3), 'jpeg')
  if data_config.dataset == 'fashion_mnist':
    return _Spec(fashion_mnist.AlexnetFashionMnist(**kwargs), (28, 28, 1), 'png')
  raise ConfigError(f'Unknown dataset {data_config.dataset!r}; known: {DATASETS}.')


def _checked(data_config: Mapping, model: ModelConfig) -> tuple[DataConfig, _Spec]:
  """The data config checked against the dataset and the network's input, and its spec."""
  config = validate_data(data_config, model.image_size)
  spec = _spec(config)
  if spec.image_format == 'png' and config.resize_size < spec.stored_shape[0]:
    raise ConfigError(f'data.resize_size {config.resize_size} is below the stored size '
                      f'{spec.stored_shape[0]} of {config.dataset}: images resized at read '
                      'time can only be enlarged.')
  channels = model.input_channels
  if channels not in (1, 3) or (channels == 1 and spec.stored_shape[2] != 1):
    raise ConfigError(f'model.input_channels={channels} is not allowed for '
                      f'{config.dataset}: it must be 3 (RGB; grey images are repeated), '
                      'or 1 for a grey dataset.')
  return config, spec


def _statistics_file(spec: _Spec, data_config: DataConfig) -> str:
  """Statistics of the training split (a slice such as 'train[:512]' has its own)."""
  split = ''.join(c if c.isalnum() else '_' for c in data_config.train_split)
  return os.path.join(os.fspath(spec.builder.data_dir),
                      f'alexnet_statistics_{split}_{data_config.resize_size}.npz')


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
  config, spec = _checked(data_config, model)
  statistics_file = _statistics_file(spec, config)
  if not (spec.builder.is_prepared() and os.path.exists(statistics_file)):
    root = os.fspath(spec.builder.data_dir_root)
    with _exclusive(root), _disk_full_named(root, f'the prepared {config.dataset}'):
      if not spec.builder.is_prepared():
        _remove_preparations_cut_short(root, spec.builder.name)
        _announce(f'preparing {spec.builder.name} in {root}, once: later runs read what this '
                  'writes')
        if config.dataset == 'imagenet2012':
          imagenet.check_tars(_manual_dir(config, spec.builder))
        spec.builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
            manual_dir=_manual_dir(config, spec.builder)))
      # A builder made before another process prepared the data holds no splits: read anew.
      spec = _spec(config)
      if not os.path.exists(statistics_file):
        split_size(spec.builder.info, config.train_split, 'data.train_split')
        _save_statistics(_compute_statistics(spec, config), statistics_file)
  return Dataset(config, model, spec, statistics_file)


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


def _compute_statistics(spec: _Spec, data_config: DataConfig) -> Statistics:
  """One pass over the training split: the mean image and the RGB covariance.

  Images are decoded exactly as training decodes them (stored form, then resized to
  ``resize_size``), in parallel by tf.data; sums are accumulated in float64.
  """
  source = _source(spec, data_config.train_split)
  size, count = data_config.resize_size, len(source)
  batch = min(_STATISTICS_BATCH, count)

  def step_fn(step: int) -> dict[str, np.ndarray]:  # every example once, in stored order
    positions = np.arange(step * batch, (step + 1) * batch)
    return {'index': np.minimum(positions, count - 1), 'mask': positions < count}

  ds = _pipeline(tf.data.Dataset.range(-(-count // batch)), step_fn, source, batch,
                 lambda ex: _decode_full(spec, ex['encoded'], size, 3),
                 {'mask': tf.TensorSpec([], tf.bool)}, ('mask',), data_config)
  total = np.zeros((size, size, 3), np.float64)
  outer = np.zeros((3, 3), np.float64)
  progress = console.Progress(f'statistics of {data_config.train_split}:', count, unit='image',
                              enabled=jax.process_index() == 0)
  for images in ds.as_numpy_iterator():
    stopping.check('while computing the statistics of the training split')
    kept = images['image'][images['mask']].astype(np.float64)
    total += kept.sum(axis=0)
    pixels = kept.reshape(-1, 3) / 255.0
    outer += pixels.T @ pixels
    progress.update(min(count, progress.done + batch))
  progress.close()
  mean_image = total / count
  rgb_mean = mean_image.mean(axis=(0, 1))
  mean01 = rgb_mean / 255.0
  covariance = outer / (count * size * size) - np.outer(mean01, mean01)
  return Statistics(mean_image.astype(np.float32), rgb_mean.astype(np.float32),
                    covariance.astype(np.float32), count)


def _save_statistics(statistics: Statistics, path: str) -> None:
  """Writes atomically (temporary file, then rename): readers never see half a file."""
  with tempfile.NamedTemporaryFile(dir=os.path.dirname(path), suffix='.npz', delete=False) as f:
    np.savez(f, **dataclasses.asdict(statistics))
  os.replace(f.name, path)


def load_statistics(path: str) -> Statistics:
  with np.load(path) as f:
    return Statistics(mean_image=f['mean_image'], rgb_mean=f['rgb_mean'],
                      rgb_covariance=f['rgb_covariance'], num_images=int(f['num_images']))


# --- The handle ------------------------------------------------------------------------


class Dataset:
  """A prepared dataset opened for one network's input: what every batch reuses, read once.

  Made by :func:`prepare` (which builds what is missing) or :meth:`open` (which only
  reads). It holds the builder, the statistics, §4.1's augmentation constants and the
  record sources of the splits read so far; its crops have the image size and channels
  of the model config it was opened with.

  Its batches are what the host sends the device: uint8 pixels and each example's draws.
  ``device`` (:class:`alexnet.data.augment.DeviceAugmentation`) finishes them inside the jitted
  steps; :meth:`finish_train` and :meth:`finish_eval` do it outside them, for the tools
  and the tests.
  """

  def __init__(self, config: DataConfig, model: ModelConfig, spec: _Spec, statistics_file: str):
    self.config = config
    self.image_size, self.channels = model.image_size, model.input_channels
    self.builder = spec.builder
    self._spec = spec
    self._sources: dict[str, object] = {}
    self.statistics = load_statistics(statistics_file)
    self.mean_image, self.scale = _input_normalisation(config, self.statistics)
    self._host, self.device = _views(spec, config, self.image_size, self.channels,
                                     self.mean_image, self.scale, self.statistics)
    self._finish_train = jax.jit(self.device.train_images)
    self._finish_eval = jax.jit(self.device.eval_images, static_argnames='crops')
    self.info = _info(spec, config, statistics_file)

  @classmethod
  def open(cls, data_config: Mapping, model: ModelConfig) -> Dataset:
    """The dataset :func:`prepare` made; FileNotFoundError if it has not been prepared."""
    config, spec = _checked(data_config, model)
    statistics_file = _statistics_file(spec, config)
    if not (spec.builder.is_prepared() and os.path.exists(statistics_file)):
      raise FileNotFoundError(f'{config.dataset} is not prepared in '
                              f'{os.fspath(spec.builder.data_dir)}: call alexnet.data.pipeline.prepare '
                              'first.')
    return cls(config, model, spec, statistics_file)

  def source(self, split: str):
    """Random access to the split's serialised records; nothing is decoded in Python."""
    if split not in self._sources:
      self._sources[split] = _source(self._spec, split)
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
    example's draws}, which ``device.train_images`` finishes. Process p (by default this JAX process) gets rows
    [p·B/P, (p+1)·B/P) of the global batch, so the global batch does not depend on the
    number of processes, and batch k depends on (seed, k) only: starting at step k gives
    what an uninterrupted run gives there. Close it when done (``contextlib.closing``):
    left open, its tf.data threads live until interpreter shutdown, and with
    ``data.threads=1`` the exit was seen to hang there.
    """
    if seed < 0:
      raise ValueError(f'seed must be non-negative, got {seed}.')
    host = self._host
    source = self.source(self.config.train_split)
    order = _EpochOrder(seed, len(source))
    rows = _local_rows(global_batch_size, process_index, process_count)

    def step_fn(step: int) -> dict[str, np.ndarray]:
      positions = np.arange(rows.start, rows.stop, dtype=np.int64) + step * global_batch_size
      return {'index': order.indices(positions), **host.draws(seed, positions)}

    draws = host.draw_signature()
    ds = _pipeline(tf.data.Dataset.counter(start_step), step_fn, source, len(rows),
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
    rows = _local_rows(global_batch_size, process_index, process_count)

    def step_fn(step: int) -> dict[str, np.ndarray]:
      positions = np.arange(rows.start, rows.stop, dtype=np.int64) + step * global_batch_size
      mask = positions < count
      return {'index': np.where(mask, positions, 0), 'mask': mask}

    ds = _pipeline(tf.data.Dataset.range(-(-count // global_batch_size)), step_fn, source,
                   len(rows), lambda ex: host.eval_example(ex['encoded'], crops),
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


def _info(spec: _Spec, config: DataConfig, statistics_file: str) -> DatasetInfo:
  info = spec.builder.info
  label = info.features['label']
  train_examples = split_size(info, config.train_split, 'data.train_split')
  for field in ('eval_split', 'test_split', 'train_eval_split'):  # refused now, not at the end
    if getattr(config, field):
      split_size(info, getattr(config, field), f'data.{field}')
  return DatasetInfo(
      num_classes=label.num_classes,
      class_names=(imagenet.CLASS_NAMES if config.dataset == 'imagenet2012'
                   else tuple(label.names)),
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


def _input_normalisation(data_config: DataConfig,
                         statistics: Statistics) -> tuple[np.ndarray, np.ndarray]:
  """(mean image (resize, resize, 3), per-channel scale (3,)), float32: every view of an
  image becomes (pixels − mean) × scale (§2; the scale is ones unless data.divide_by_std)."""
  mean_image = statistics.mean_image
  if data_config.mean == 'channel':
    mean_image = np.broadcast_to(statistics.rgb_mean, mean_image.shape)
  scale = (1.0 / (255.0 * np.sqrt(np.diag(statistics.rgb_covariance)))
           if data_config.divide_by_std else np.ones(3))
  return mean_image.astype(np.float32), scale.astype(np.float32)


# --- Reading by index ------------------------------------------------------------------


def _source(spec: _Spec, split: str):
  """Random access to the split's serialised records; nothing is decoded in Python."""
  return spec.builder.as_data_source(
      split, deserialize_method=tfds.decode.DeserializeMethod.RAW_BYTES)


_FEATURES = {'image': tf.io.FixedLenFeature([], tf.string),
             'label': tf.io.FixedLenFeature([], tf.int64)}


def epoch_permutation(seed: int, epoch: int, num_examples: int) -> np.ndarray:
  """The order of one epoch, from (seed, epoch) alone.

  Sorting the raw output of a keyed Philox counter (not ``Generator.permutation``, whose
  algorithm numpy may change) keeps the order identical across numpy versions.
  """
  keys = np.random.Philox(key=[seed, epoch]).random_raw(num_examples)
  return np.argsort(keys, kind='stable')


class _EpochOrder:
  """Maps global stream positions to example indices; caches the last epochs' orders.

  Called from tf.data's reader threads, hence the lock.
  """

  def __init__(self, seed: int, num_examples: int):
    self._seed, self._n, self._cache = seed, num_examples, {}
    self._lock = threading.Lock()

  def _order(self, epoch: int) -> np.ndarray:
    with self._lock:
      if epoch not in self._cache:
        if len(self._cache) >= 3:
          del self._cache[min(self._cache)]
        self._cache[epoch] = epoch_permutation(self._seed, epoch, self._n)
      return self._cache[epoch]

  def indices(self, positions: np.ndarray) -> np.ndarray:
    epochs, offsets = np.divmod(positions, self._n)
    out = np.empty_like(positions)
    for epoch in np.unique(epochs):
      where = epochs == epoch
      out[where] = self._order(int(epoch))[offsets[where]]
    return out


def _local_rows(global_batch_size: int, process_index: int | None,
                process_count: int | None) -> range:
  """The rows of a global batch that one process (by default this JAX process) reads."""
  process_index = jax.process_index() if process_index is None else process_index
  process_count = jax.process_count() if process_count is None else process_count
  if global_batch_size % process_count:
    raise ValueError(f'global_batch_size {global_batch_size} is not a multiple of '
                     f'process_count {process_count}.')
  if not 0 <= process_index < process_count:
    raise ValueError(f'process_index {process_index} outside [0, {process_count}).')
  local = global_batch_size // process_count
  return range(process_index * local, (process_index + 1) * local)


# --- Decoding and augmentation ----------------------------------------------------------


def _decode(spec: _Spec, encoded: tf.Tensor) -> tf.Tensor:
  """The whole stored image, uint8, as stored (grey stays one channel)."""
  image = tf.io.decode_image(encoded, channels=spec.stored_shape[2], expand_animations=False)
  image.set_shape(spec.stored_shape)
  return image


def _to_float(images: tf.Tensor, size: int, channels: int) -> tf.Tensor:
  """Stored images (…, h, w, 1 or 3) → float32 at size×size with ``channels`` channels
  (grey made RGB as three equal channels where 3 are asked for)."""
  if images.shape[-1] < channels:
    images = tf.image.grayscale_to_rgb(images)
  images = tf.cast(images, tf.float32)
  if images.shape[-2] != size:
    images = tf.image.resize(images, [size, size], method='bilinear', antialias=True)
  return images


def _decode_full(spec: _Spec, encoded: tf.Tensor, size: int, channels: int) -> tf.Tensor:
  return _to_float(_decode(spec, encoded), size, channels)


def _decode_window(encoded: tf.Tensor, offset: tf.Tensor, crop_size: int) -> tf.Tensor:
  """The crop_size window at ``offset`` = (top, left) of a JPEG, uint8; libjpeg decodes
  only the rows of the window (and skips whole blocks left and right of it)."""
  window = tf.image.decode_and_crop_jpeg(
      encoded, tf.concat([offset, [crop_size, crop_size]], axis=0), channels=3)
  return tf.ensure_shape(window, [crop_size, crop_size, 3])


@dataclasses.dataclass(frozen=True)
class _HostViews:
  """The host's share of §4.1: every random draw, and decoding only what the device needs."""

  spec: _Spec
  resize_size: int
  image_size: int
  translate: bool
  flip: bool
  pca_std: float
  pca_convention: str
  eigenvalues: np.ndarray
  eigenvectors: np.ndarray

  @property
  def windows_from_host(self) -> bool:
    """A JPEG stored at the final size: libjpeg decodes only the crop window."""
    return self.spec.image_format == 'jpeg' and self.spec.stored_shape[0] == self.resize_size

  def draws(self, seed: int, positions: np.ndarray) -> dict[str, np.ndarray]:
    """Every random choice for the examples at these global positions (§4.1), vectorised."""
    u = np.stack([views.stateless_uniform(seed, positions, s) for s in range(3)], axis=1)
    alphas = np.stack([views.stateless_normal(seed, positions, s) for s in range(10, 13)],
                      axis=1) * self.pca_std
    if self.translate:
      offsets = views.random_crop_offsets(u[:, :2], self.resize_size, self.image_size)
    else:
      centre = views.center_offset(self.resize_size, self.image_size)
      offsets = np.full((len(positions), 2), centre, np.int32)
    return {
        'offset': offsets,
        'flip': u[:, 2] < 0.5 if self.flip else np.zeros(len(positions), bool),
        'shift': views.pca_shifts(alphas, self.eigenvalues, self.eigenvectors,
                                  self.pca_convention),
    }

  @staticmethod
  def draw_signature() -> dict[str, tf.TensorSpec]:
    return {'offset': tf.TensorSpec([2], tf.int32), 'flip': tf.TensorSpec([], tf.bool),
            'shift': tf.TensorSpec([3], tf.float32)}

  def train_example(self, example: dict[str, tf.Tensor]) -> tf.Tensor:
    """uint8: the crop window of a JPEG stored at the final size (only the window is
    decoded), else the whole small stored image, which the device resizes and crops."""
    if self.windows_from_host:
      return _decode_window(example['encoded'], example['offset'], self.image_size)
    return _decode(self.spec, example['encoded'])

  def eval_example(self, encoded: tf.Tensor, crops: int) -> tf.Tensor:
    """uint8: the stored image, which the device cuts into §4.1's test views; for the
    centre patch alone of a JPEG at the final size, only that window."""
    if crops == 1 and self.windows_from_host:
      c = views.center_offset(self.resize_size, self.image_size)
      return _decode_window(encoded, tf.constant([c, c]), self.image_size)
    return _decode(self.spec, encoded)


def _views(spec: _Spec, data_config: DataConfig, image_size: int, channels: int,
           mean_image: np.ndarray, scale: np.ndarray,
           statistics: Statistics) -> tuple[_HostViews, augment.DeviceAugmentation]:
  """The host's and the device's share of §2 and §4.1 for one dataset and network input."""
  if data_config.pca_eigen == 'computed':
    eigenvalues, eigenvectors = views.pca_of_covariance(statistics.rgb_covariance)
  else:
    eigenvalues, eigenvectors = views.IMAGENET_EIGENVALUES, views.IMAGENET_EIGENVECTORS
  host = _HostViews(spec, data_config.resize_size, image_size, data_config.translate,
                    data_config.flip, data_config.pca_std, data_config.pca_convention, eigenvalues,
                    eigenvectors)
  # Grey datasets are stored with one channel and their statistics have three equal
  # ones, so a one-channel net needs only the first: the device then does a third of the
  # work instead of making RGB and throwing two channels away.
  device = augment.DeviceAugmentation(
      data_config.resize_size, image_size, np.ascontiguousarray(mean_image[..., :channels]),
      scale[:channels], channels, host.windows_from_host)
  return host, device


# --- The pipeline ----------------------------------------------------------------------


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


def _pipeline(steps: tf.data.Dataset, step_fn: Callable[[int], dict[str, np.ndarray]],
              source, local_batch: int, example_fn: Callable[[dict[str, tf.Tensor]], tf.Tensor],
              extra: dict[str, tf.TensorSpec], keep: tuple[str, ...],
              data_config: DataConfig) -> tf.data.Dataset:
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
  shapes = [tf.TensorShape([local_batch]),
            *(tf.TensorShape([local_batch, *spec.shape]) for spec in extra.values())]

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
