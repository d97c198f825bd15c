"""experiments/figures.py (Figures 3 and 4) and the colour folder of colour_patches.py."""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from alexnet import trained_run
from alexnet.data.builders import image_folder
from tiny_run import ROOT

sys.path.insert(0, str(ROOT / 'experiments'))
import colour_patches
import figures


def test_chroma_fraction_is_zero_for_grey_kernels_one_for_pure_chroma_two_thirds_for_noise():
  rng = np.random.default_rng(0)
  grey = np.repeat(rng.normal(size=(11, 11, 1, 4)), 3, axis=2)
  chroma = rng.normal(size=(11, 11, 1, 4)) * np.array([1.0, -1.0, 0.0])[None, None, :, None]
  noise = rng.normal(size=(11, 11, 3, 400))
  np.testing.assert_allclose(figures.chroma_fractions(grey), 0, atol=1e-12)
  np.testing.assert_allclose(figures.chroma_fractions(chroma), 1)
  assert abs(figures.chroma_fractions(noise).mean() - 2 / 3) < 0.01


def test_a_grey_tower_beside_a_colour_tower_is_unlikely_under_a_random_split():
  rng = np.random.default_rng(0)
  separated = np.concatenate([rng.uniform(0.0, 0.1, 12), rng.uniform(0.6, 0.9, 12)])
  assert figures.tower_split_p_value(separated, towers=2, permutations=2000) < 0.001
  assert figures.tower_split_p_value(rng.permutation(separated), 2, permutations=2000) > 0.01


def test_the_mosaic_puts_each_towers_kernels_in_its_own_rows():
  rng = np.random.default_rng(0)
  kernel = np.concatenate(
      [
          np.repeat(rng.normal(size=(5, 5, 1, 3)), 3, axis=2),  # tower 1: grey
          rng.normal(size=(5, 5, 3, 3))
      ],
      axis=3)  # tower 2: colour
  mosaic = figures.kernel_mosaic(kernel, towers=2, columns=3)
  half = mosaic.shape[0] // 2
  spread = lambda part: np.abs(part - part.mean(axis=-1, keepdims=True)).max()
  assert spread(mosaic[:half]) < 1e-9 < 0.05 < spread(mosaic[half:])


def test_nearest_finds_the_euclidean_nearest_rows_in_order():
  rng = np.random.default_rng(0)
  pool, queries = rng.normal(size=(300, 16)), rng.normal(size=(20, 16))
  expected = np.argsort(((queries[:, None] - pool[None]) ** 2).sum(-1), axis=1)[:, :4]
  np.testing.assert_array_equal(figures.nearest(queries, pool, 4, chunk=7), expected)


@pytest.mark.integration
def test_figure3_command_draws_the_kernels_and_writes_each_towers_mean_chroma(tiny_run, tmp_path):
  result = subprocess.run([
      sys.executable, 'experiments/figures.py', '--figure=kernels', f'--workdir={tiny_run}',
      f'--out={tmp_path / "figure3.png"}'
  ], cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-2000:]
  with Image.open(tmp_path / 'figure3.png') as image:
    assert image.format == 'PNG'
  numbers = json.loads((tmp_path / 'figure3.json').read_text())
  conv1 = np.asarray(trained_run.load_run(tiny_run).params['conv1']['kernel'], np.float64)
  per_tower = figures.chroma_fractions(conv1).reshape(2, -1).mean(axis=1)
  np.testing.assert_allclose(numbers['mean_chroma_fraction_per_tower'], per_tower, atol=1e-4)
  assert 'grey images' in numbers['note']  # the tiny run is Fashion-MNIST: its chroma means nothing


@pytest.mark.integration
def test_figure4_shows_neighbours_and_measures_their_class_agreement(tiny_run, tmp_path):
  numbers = figures.figure4(trained_run.load_run(tiny_run), tmp_path / 'figure4.png')
  with Image.open(tmp_path / 'figure4.png') as image:
    assert image.format == 'PNG'
  assert numbers['queries'] == 40 and numbers['train_images'] == 512
  for key in ('same_class_fc7_neighbours', 'same_class_pixel_neighbours',
              'median_pixel_distance_percentile_of_fc7_neighbours'):
    assert 0 <= numbers[key] <= 1


def test_colour_patches_make_an_image_folder_of_colour_photos_and_grey_textures(tmp_path):
  colour_patches.write_patches(tmp_path, train_per_class=3, val_per_class=2)
  class_names, splits = image_folder.scan(str(tmp_path))
  assert class_names == tuple(sorted(colour_patches.SOURCES))
  assert len(splits['train']) == 3 * 11 and len(splits['validation']) == 2 * 11
  for path, label in splits['train']:
    pixels = np.asarray(Image.open(path), np.float64)
    assert pixels.shape == (64, 64, 3)
    grey = np.abs(pixels - pixels.mean(axis=-1, keepdims=True)).max() < 1
    assert grey == (class_names[label] in ('brick', 'grass', 'gravel')), path
