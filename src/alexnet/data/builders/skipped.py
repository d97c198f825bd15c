"""Skipping unreadable images during preparation, and remembering how many were skipped.

A corrupt or truncated file must not stop a run that has hours of preparation behind it
(issue #3): it is left out, named in the log, and counted in the dataset's metadata so
that :func:`alexnet.data.preparation.prepare` can report the count on every later start.
"""

from __future__ import annotations

from absl import logging

from alexnet.data.builders import stored_format
from alexnet.data.tensorflow_import import tfds

SKIPPED_KEY = 'skipped_images'  # metadata: {split: [file names]}


def new_metadata() -> tfds.core.MetadataDict:
  return tfds.core.MetadataDict()


def record_skipped(info: tfds.core.DatasetInfo, split: str, name: str, error: Exception) -> None:
  """Adds ``name`` to the split's skipped list; TFDS saves the metadata after generation."""
  logging.warning('Skipping unreadable image %s in split %s: %s', name, split, error)
  info.metadata.setdefault(SKIPPED_KEY, {}).setdefault(split, []).append(name)


def count_skipped(info: tfds.core.DatasetInfo) -> int:
  metadata = info.metadata or {}
  return sum(len(names) for names in metadata.get(SKIPPED_KEY, {}).values())


def stored_or_error(data: bytes, size: int) -> bytes | stored_format.UnreadableImageError:
  """``to_stored_jpeg`` for a worker thread: an unreadable image is returned, not raised."""
  try:
    return stored_format.to_stored_jpeg(data, size)
  except stored_format.UnreadableImageError as e:
    return e
