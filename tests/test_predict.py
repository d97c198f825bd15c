"""alexnet.predict: the top-5 classes of image files, and clear errors for unreadable ones."""

import os
import re
import subprocess
import sys

import numpy as np
import pytest
import skimage.data
from PIL import Image

from alexnet import predict, trained_run
from tiny_run import ROOT
from xla_flags import cpu_devices

pytestmark = pytest.mark.integration

FASHION_MNIST_CLASSES = ('T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt',
                         'Sneaker', 'Bag', 'Ankle boot')
LINE = re.compile(r'^  (\d\.\d{4})  (.+)$')


@pytest.fixture(scope='module')
def images(tmp_path_factory) -> dict[str, str]:
  """A real photograph as JPEG (scikit-image's astronaut), and three files that are not images."""
  root = tmp_path_factory.mktemp('images')
  photo = root / 'astronaut.jpg'
  Image.fromarray(skimage.data.astronaut()).save(photo, quality=90)
  truncated = root / 'truncated.jpg'
  truncated.write_bytes(photo.read_bytes()[:300])
  text = root / 'notes.jpg'
  text.write_text('not an image')
  return dict(photo=str(photo), truncated=str(truncated), text=str(text),
              missing=str(root / 'missing.jpg'))


def run_predict(workdir, *paths) -> subprocess.CompletedProcess:
  env = {**os.environ, **cpu_devices(1)}
  return subprocess.run([sys.executable, '-m', 'alexnet.predict', f'--workdir={workdir}', *paths],
                        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope='module')
def mixed_run(tiny_run, images) -> subprocess.CompletedProcess:
  """One call with the photo between three unusable files."""
  return run_predict(tiny_run, images['truncated'], images['photo'], images['missing'],
                     images['text'])


def parse(stdout: str) -> dict[str, list[tuple[float, str]]]:
  predictions, current = {}, None
  for line in stdout.splitlines():
    match = LINE.match(line)
    if match:
      predictions[current].append((float(match[1]), match[2]))
    elif line and not line.startswith(' '):
      current = line
      predictions[current] = []
  return predictions


def test_a_real_jpeg_gets_five_distinct_classes_whose_probabilities_sum_to_at_most_one(
    tiny_run, images, mixed_run):
  predictions = parse(mixed_run.stdout)
  assert list(predictions) == [images['photo']], mixed_run.stdout
  assert f"{images['photo']}\n  note: a colour image, turned grey" in mixed_run.stdout
  top5 = predictions[images['photo']]
  assert len(top5) == 5
  names = [name for _, name in top5]
  assert len(set(names)) == 5 and set(names) <= set(FASHION_MNIST_CLASSES)
  probabilities = [p for p, _ in top5]
  assert probabilities == sorted(probabilities, reverse=True)
  assert 0 < sum(probabilities) <= 1 + 5e-4  # printed to 4 decimals
  # The same numbers as the library computes (the run's 10 crops, softmax averaged).
  run = trained_run.load_run(tiny_run)
  expected = predict.predict(run,
                             predict.load_image(images['photo'], run, crops=10)[None],
                             FASHION_MNIST_CLASSES, [images['photo']])[0]
  assert names == [name for name, _ in expected.classes]
  np.testing.assert_allclose(probabilities, [p for _, p in expected.classes], atol=6e-5)


def test_unreadable_images_are_named_with_the_reason_and_the_others_still_classified(
    images, mixed_run):
  assert mixed_run.returncode == 1
  errors = mixed_run.stderr
  assert re.search(rf'error: {re.escape(images["missing"])}: cannot be read \(No such file',
                   errors), errors[-2000:]
  for name in ('truncated', 'text'):
    assert re.search(rf'error: {re.escape(images[name])}: .*not a decodable image', errors), \
        errors[-2000:]
  assert images['photo'] in mixed_run.stdout


def test_load_image_refuses_an_empty_file_and_a_directory(tiny_run, tmp_path):
  run = trained_run.load_run(tiny_run)
  empty = tmp_path / 'empty.png'
  empty.write_bytes(b'')
  with pytest.raises(predict.ImageError, match=r'empty.png: the file is empty'):
    predict.load_image(empty, run, crops=1)
  with pytest.raises(predict.ImageError, match='cannot be read'):
    predict.load_image(tmp_path, run, crops=1)


def test_a_photo_of_ninety_megapixels_opens_in_a_command_without_pils_bomb_warning(tmp_path):
  photo = tmp_path / 'large.png'
  Image.new('L', (10_000, 9_000)).save(photo)  # above PIL's warning (89 MP), below its error
  opens = ('from PIL import Image; from alexnet import cli; '
           f'cli.run(lambda argv: print(Image.open({str(photo)!r}).size))')
  result = subprocess.run([sys.executable, '-c', opens], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
  assert (result.returncode, result.stdout, result.stderr) == (0, '(10000, 9000)\n', '')
