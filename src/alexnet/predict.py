"""The five most probable classes of images: ``python -m alexnet.predict --workdir DIR a.jpg ...``.

  python -m alexnet.predict --workdir runs/paper cat.jpg boat.png
  python -m alexnet.predict --workdir runs/paper --checkpoint best --crops 1 cat.jpg

prints, for each image, the top-5 classes with their probabilities::

  cat.jpg
    0.8123  tabby, tabby cat
    ...

Class names are the dataset's: WordNet names for ImageNet, TFDS's label names for
Fashion-MNIST, folder names for an image folder. Each image goes through exactly what
evaluation did to the run's validation images (§2's stored form, the mean image, the
centre patch or §4.1's ten patches, whose softmax outputs are averaged); so a colour
photograph given to a run trained on grey images (Fashion-MNIST) is turned grey first,
and a note under its name says so. A file that cannot be read or is not an image is
reported by name, with the reason, and the other images are still classified; the exit
status is then 1.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from absl import flags

from alexnet import cli, errors, tool_flags
from alexnet.data.builders import stored_format

if TYPE_CHECKING:
  from alexnet import trained_run

TOP_K = 5

FLAGS = flags.FLAGS


class ImageError(ValueError):
  """An input image cannot be used; the message names the file and says why."""


@dataclasses.dataclass(frozen=True)
class Prediction:
  """The most probable classes of one image, most probable first."""

  path: str
  classes: tuple[tuple[str, float], ...]  # (class name, probability)
  note: str = ''  # what was done to the image that one may not expect


def load_image(path: str | Path, run: trained_run.Run, crops: int) -> np.ndarray:
  """One image file → (crops, H, W, 3), as evaluation sees it; ImageError if it cannot be."""
  return load_image_with_note(path, run, crops)[0]


def load_image_with_note(path: str | Path, run: trained_run.Run,
                         crops: int) -> tuple[np.ndarray, str]:
  """:func:`load_image`, and what evaluation's preprocessing did to the image that one may
  not expect ('' if nothing): the file is read once for both."""
  try:
    encoded = Path(path).read_bytes()
  except OSError as error:
    raise ImageError(f'{path}: cannot be read ({error.strerror or error}).') from error
  if not encoded:
    raise ImageError(f'{path}: the file is empty, not an image.')
  try:
    images = run.preprocess(encoded, crops)
  except ValueError as error:  # the cause, if any, says what is wrong with the file itself
    raise ImageError(f'{path}: {error.__cause__ or error}.') from error
  info = run.dataset.info
  note = ''
  if info.stored_shape[2] == 1 and stored_format.is_colour(encoded):
    note = f'a colour image, turned grey as the grey images of {info.tfds_name} it was trained on'
  return images, note


def top_classes(probabilities: np.ndarray, class_names: Sequence[str],
                k: int = TOP_K) -> tuple[tuple[str, float], ...]:
  """The ``k`` most probable (name, probability) pairs of one probability vector."""
  order = np.argsort(-probabilities, kind='stable')[:k]
  return tuple((class_names[i], float(probabilities[i])) for i in order)


def predict(run: trained_run.Run, images: np.ndarray, class_names: Sequence[str],
            paths: Sequence[str], notes: Sequence[str] = ()) -> list[Prediction]:
  """Top-5 predictions of preprocessed ``images`` (n, crops, H, W, 3), one per path."""
  probabilities = run.probabilities(images)
  notes = list(notes) or [''] * len(paths)
  return [
      Prediction(str(path), top_classes(p, class_names), note)
      for path, p, note in zip(paths, probabilities, notes)
  ]


def format_prediction(prediction: Prediction) -> str:
  note = [f'  note: {prediction.note}'] if prediction.note else []
  return '\n'.join(
      [prediction.path, *note, *(f'  {p:.4f}  {name}' for name, p in prediction.classes)])


def main(argv) -> None:
  paths = argv[1:]
  if not paths:
    raise errors.UsageError('give one or more image files after the flags.')
  from alexnet import trained_run  # JAX and TensorFlow: not loaded for --help or a wrong flag

  run = trained_run.load_run_from_flags()
  crops = int(FLAGS.crops or run.config.data.eval_crops)
  class_names = run.dataset.info.class_names
  readable, images, notes, failed = [], [], [], 0
  for path in paths:
    try:
      image, note = load_image_with_note(path, run, crops)
      images.append(image)
      notes.append(note)
      readable.append(path)
    except ImageError as error:
      print(f'error: {error}', file=sys.stderr)
      failed += 1
  if readable:
    for prediction in predict(run, np.stack(images), class_names, readable, notes):
      print(format_prediction(prediction))
  if failed:
    sys.exit(1)


def define_flags() -> None:
  tool_flags.define_run_flags()
  tool_flags.define_crops_flag()
  flags.adopt_module_key_flags(tool_flags)  # --help lists them with this command's own


if __name__ == '__main__':
  define_flags()
  cli.run(main)
