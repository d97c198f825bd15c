"""Any folder of images in ``class/image.jpg`` layout (e.g. Imagenette) as a TFDS dataset.

Two layouts are understood:

* ``root/<class>/<image>``: one split, ``train``;
* ``root/train/<class>/<image>`` plus any of ``val``/``validation`` and ``test``: one split
  each (``val`` is named ``validation``, as in TFDS), classes taken from ``train``.

Images are stored in §2's form (shorter side to ``size``, central crop, JPEG), like
ImageNet, so the same fast training pipeline reads them. A file that is not a decodable
image is skipped and counted; a layout that cannot be meant (no class folders, images
beside the class folders, an empty class, classes in validation that training lacks, a
training class none of whose images can be read) is an error saying what is wrong. Each
folder gets its own prepared copy, named after its path; delete it to re-prepare a folder
whose files changed.

File and folder names are bytes to the filesystem and need not be UTF-8 (a Latin-1 name
copied from an old disk, say); TFDS stores text as UTF-8, so such a name is stored with
its undecodable bytes written as ``\\xNN`` (:func:`printable`), and the file is still used.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import os
import re
from typing import ClassVar

from alexnet import errors
from alexnet.data.builders import skipped, stored_format
from alexnet.data.tensorflow_import import tfds
from alexnet.run import stopping

_SPLIT_DIRS = {'train': 'train', 'val': 'validation', 'validation': 'validation', 'test': 'test'}


class FolderLayoutError(errors.UsageError, ValueError):
  """The folder cannot be read as classes of images; the message says why."""


def printable(name: str) -> str:
  """A file name as UTF-8 text: undecodable bytes (surrogates from os.scandir) as \\xNN."""
  return os.fsencode(name).decode('utf-8', errors='backslashreplace')


def _visible_entries(directory: str) -> list[os.DirEntry]:
  with os.scandir(directory) as entries:
    return sorted((e for e in entries if not e.name.startswith('.')), key=lambda e: e.name)


def _class_folders(directory: str) -> dict[str, list[str]]:
  """{class name: sorted image paths} of a directory whose subdirectories are classes."""
  entries = _visible_entries(directory)
  stray = [printable(e.name) for e in entries if e.is_file()]
  if stray:
    raise FolderLayoutError(
        f'{directory!r} holds files beside its class folders ({", ".join(stray[:5])}'
        f'{", ..." if len(stray) > 5 else ""}): every image must be inside a folder named '
        'after its class (root/<class>/<image>).')
  classes = {
      printable(e.name): [f.path for f in _visible_entries(e.path) if f.is_file()] for e in entries
      if e.is_dir()
  }
  if not classes:
    raise FolderLayoutError(f'{directory!r} has no class folders: expected root/<class>/<image> '
                            '(or root/train/<class>/<image> with root/val/...).')
  empty = [name for name, files in classes.items() if not files]
  if empty:
    raise FolderLayoutError(f'class folders without images in {directory!r}: {", ".join(empty)} '
                            '(images must sit directly inside their class folder).')
  return classes


def scan(root: str) -> tuple[tuple[str, ...], dict[str, list[tuple[str, int]]]]:
  """Returns (class names, {split: [(path, label)]}) or raises FolderLayoutError."""
  if not os.path.isdir(root):
    raise FolderLayoutError(f'image folder {root!r} does not exist or is not a directory.')
  subdirs = [e.name for e in _visible_entries(root) if e.is_dir()]
  split_layout = 'train' in subdirs and all(name in _SPLIT_DIRS for name in subdirs)
  folders = ({_SPLIT_DIRS[name]: _class_folders(os.path.join(root, name)) for name in subdirs}
             if split_layout else {'train': _class_folders(root)})
  class_names = tuple(sorted(folders['train']))
  if len(class_names) < 2:
    raise FolderLayoutError(
        f'{root!r} has {len(class_names)} class folder ({", ".join(class_names)}): a classifier '
        'needs at least two classes, each a folder of its images (root/<class>/<image>).')
  label_of = {name: i for i, name in enumerate(class_names)}
  splits = {}
  for split, classes in folders.items():
    unknown = sorted(set(classes) - set(label_of))
    if unknown:
      raise FolderLayoutError(
          f'classes in {split!r} that train lacks: {", ".join(unknown)} (labels come from '
          f'the class folders of {os.path.join(root, "train")!r}).')
    splits[split] = [
        (path, label_of[name]) for name, paths in sorted(classes.items()) for path in paths
    ]
  return class_names, splits


@dataclasses.dataclass
class FolderConfig(tfds.core.BuilderConfig):
  folder: str = ''
  size: int = 256


def config_for(folder: str, size: int) -> FolderConfig:
  """A config named after the folder, so that each folder has its own prepared copy."""
  folder = os.path.abspath(folder)
  slug = re.sub(r'[^a-z0-9]+', '_', os.path.basename(folder.rstrip('/')).lower()).strip('_')
  digest = hashlib.sha1(os.fsencode(folder)).hexdigest()[:8]
  return FolderConfig(name=f'{slug or "root"}_{digest}_resized{size}', folder=folder, size=size,
                      description=f'{printable(folder)}, stored at {size}×{size}.')


class AlexnetImageFolder(tfds.core.GeneratorBasedBuilder):
  """Images in class folders, stored as §2's central crops."""

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES: ClassVar[dict[str, str]] = {'1.0.0': 'First version.'}

  def _info(self) -> tfds.core.DatasetInfo:
    class_names, _ = scan(self.builder_config.folder)
    return self.dataset_info_from_configs(
        features=tfds.features.FeaturesDict({
            'image': tfds.features.Image(encoding_format='jpeg'),
            'label': tfds.features.ClassLabel(names=class_names),
            'file_name': tfds.features.Text(),
        }),
        supervised_keys=('image', 'label'),
        metadata=skipped.new_metadata(),
    )

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    del dl_manager  # The images are local.
    _, splits = scan(self.builder_config.folder)
    return {split: self._generate_examples(split, files) for split, files in splits.items()}

  def _generate_examples(self, split: str, files: list[tuple[str, int]]):
    folder, size = self.builder_config.folder, self.builder_config.size

    def to_stored(path_and_label):
      path, label = path_and_label
      with open(path, 'rb') as f:
        return path, label, skipped.stored_or_error(f.read(), size)

    readable = collections.Counter()
    for path, label, stored in stored_format.ordered_parallel_map(to_stored, files):
      stopping.check(f'while preparing the {split} split of {printable(folder)}')
      name = printable(os.path.relpath(path, folder))
      if isinstance(stored, stored_format.UnreadableImageError):
        skipped.record_skipped(self.info, split, name, stored)
        continue
      readable[label] += 1
      yield name, {'image': stored, 'label': label, 'file_name': name}
    if split == 'train':
      # scan() refused empty class folders, so a class without a stored image lost them all.
      unreadable = [
          name for label, name in enumerate(self.info.features['label'].names)
          if not readable[label]
      ]
      if unreadable:
        raise FolderLayoutError(
            f'no image of class {", ".join(map(repr, unreadable))} in {printable(folder)!r} '
            'could be read (each file was skipped; the log names them with the reason), so '
            'the class could never be learnt: add readable images or remove the folder.')
