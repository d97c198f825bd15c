"""ILSVRC-2012 from the user's own tars, stored as §2's 256×256 central crops.

This is TFDS's ``imagenet2012`` builder (v5.1.0) itself: the archive walking, the synset
labels, the validation labels paired by sorted file name, the CMYK and PNG fixes are all
the parent's code. The subclass changes only this:

* every image is stored as its §2 form (shorter side 256, central 256×256 crop, JPEG), so
  training decodes only the crop window of a small file instead of a full-size photo;
* a missing tar is one error naming all missing files and the directory searched (the
  parent would silently prepare whichever splits it found); an empty file or one that is
  not a tar is named too;
* a stop requested during preparation (:mod:`alexnet.run.stopping`) is honoured between
  images.
"""

from __future__ import annotations

import dataclasses
import os
import tarfile
from typing import ClassVar

from alexnet import errors
from alexnet.data.builders import skipped, stored_format
from alexnet.data.tensorflow_import import tfds
from alexnet.run import stopping

# isort: split
# After alexnet.data.tensorflow_import, which makes TensorFlow's process settings before its
# import.
from tensorflow_datasets.datasets.imagenet2012 import imagenet2012_dataset_builder
from tensorflow_datasets.datasets.siscore import labels as imagenet_labels

REQUIRED_TARS = ('ILSVRC2012_img_train.tar', 'ILSVRC2012_img_val.tar')
OPTIONAL_TAR = 'ILSVRC2012_img_test.tar'
# Human-readable names in TFDS's label order (sorted synsets); TFDS ships them with SI-Score.
CLASS_NAMES: tuple[str, ...] = tuple(imagenet_labels.IMAGENET_LABELS_LIST)


@dataclasses.dataclass
class ResizedConfig(tfds.core.BuilderConfig):
  """The stored size: §2's 256 by default; other sizes get their own prepared copy."""

  size: int = 256


_CONFIGS: dict[int, ResizedConfig] = {}


def config_for(size: int) -> ResizedConfig:
  """One config object per size: TFDS refuses a second object with a known config's name."""
  return _CONFIGS.setdefault(
      size,
      ResizedConfig(name=f'resized{size}', size=size,
                    description=f'Shorter side {size}, central {size}×{size} crop, JPEG.'))


class ArchiveError(errors.UsageError, FileNotFoundError):
  """An ILSVRC-2012 tar is missing, empty or not a tar; the message names it."""


def check_tars(manual_dir: str) -> None:
  """One error that names every missing tar and the directory searched, or the first tar
  that is empty or not a tar (a download cut short, a wrong file under the right name)."""
  missing = [name for name in REQUIRED_TARS if not os.path.isfile(os.path.join(manual_dir, name))]
  if missing:
    raise ArchiveError(f'ImageNet tars missing: {", ".join(missing)} not found in {manual_dir!r} '
                       '(set config.data.manual_dir to the directory that holds them).')
  for name in (*REQUIRED_TARS, OPTIONAL_TAR):
    path = os.path.join(manual_dir, name)
    if not os.path.isfile(path):
      continue
    if os.path.getsize(path) == 0:
      raise ArchiveError(f'{path} is an empty file (0 bytes), not the ImageNet tar: download '
                         'it again.')
    try:
      with tarfile.open(path) as tar:
        first = tar.next()  # reads one header, however large the tar
    except (tarfile.TarError, OSError) as error:
      raise ArchiveError(f'{path} is not a readable tar ({error}): download it again.') from None
    if first is None:
      raise ArchiveError(f'{path} is a tar with no files in it, not the ImageNet tar: download '
                         'it again.')


class AlexnetImagenet2012(imagenet2012_dataset_builder.Builder):
  """TFDS ``imagenet2012`` with §2's resizing done once, at preparation."""

  BUILDER_CONFIGS: ClassVar[list[ResizedConfig]] = [config_for(256)]

  MANUAL_DOWNLOAD_INSTRUCTIONS = """\
  manual_dir must contain ILSVRC2012_img_train.tar and ILSVRC2012_img_val.tar
  (ILSVRC2012_img_test.tar is optional), downloaded after registering at
  https://image-net.org/download-images.
  """

  def dataset_info_from_configs(self, **kwargs) -> tfds.core.DatasetInfo:
    # The parent's _info builds its DatasetInfo here; the metadata holds the skipped files.
    return super().dataset_info_from_configs(metadata=skipped.new_metadata(), **kwargs)

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    try:
      manual_dir = os.fspath(dl_manager.manual_dir)
    except AssertionError:  # TFDS's words for a manual_dir that is missing or empty.
      manual_dir = os.fspath(dl_manager._manual_dir)  # pylint: disable=protected-access
    check_tars(manual_dir)
    return super()._split_generators(dl_manager)

  def _generate_examples(self, archive, validation_labels=None, labels_exist=True):
    """The parent's examples, each image replaced by its §2 stored form (in parallel)."""
    examples = super()._generate_examples(archive, validation_labels, labels_exist)
    split = 'validation' if validation_labels else ('train' if labels_exist else 'test')
    size = self.builder_config.size

    def to_stored(key_and_example):
      key, example = key_and_example
      return key, example, skipped.stored_or_error(example['image'], size)

    def read_bytes(examples):
      # Tar members are streams that only the generator's thread may read, in order.
      for key, example in examples:
        yield key, {**example, 'image': example['image'].read()}

    for key, example, stored in stored_format.ordered_parallel_map(to_stored, read_bytes(examples)):
      stopping.check(f'while preparing the {split} split of ImageNet')
      if isinstance(stored, stored_format.UnreadableImageError):
        skipped.record_skipped(self.info, split, example['file_name'], stored)
        continue
      yield key, {**example, 'image': stored}
