"""Image files as they come: each decodes to the picture an image viewer shows.

The expected pictures are written out independently of the code under test: 16-bit grey
is mapped 0–65535 → 0–255, transparency shows the (white) background, CMYK and grey
JPEGs and palettes their colours, and an EXIF orientation turns the picture upright.
"""

import io

import numpy as np
import pytest
from PIL import Image

from alexnet.data.builders import stored_format

SIZE = 24


def encoded(image: Image.Image, image_format: str, **options) -> bytes:
  out = io.BytesIO()
  image.save(out, format=image_format, **options)
  return out.getvalue()


def gradient() -> np.ndarray:
  """An RGB picture with distinct colours in each quarter, so any wrong turn shows."""
  picture = np.zeros((SIZE, SIZE, 3), np.uint8)
  picture[:SIZE // 2, :SIZE // 2] = (220, 40, 40)
  picture[:SIZE // 2, SIZE // 2:] = (40, 200, 60)
  picture[SIZE // 2:, :SIZE // 2] = (30, 60, 210)
  picture[SIZE // 2:, SIZE // 2:] = (240, 230, 40)
  return picture


def sixteen_bit_grey():
  levels = np.linspace(0, 65535, SIZE * SIZE).reshape(SIZE, SIZE).astype(np.uint16)
  file = encoded(Image.fromarray(levels), 'PNG')
  assert Image.open(io.BytesIO(file)).mode == 'I;16'
  viewer = np.rint(levels / 257.0).astype(np.uint8)
  return file, np.repeat(viewer[..., None], 3, axis=-1), 0


def transparent_rgba():
  rgba = np.zeros((SIZE, SIZE, 4), np.uint8)  # transparent black ...
  rgba[:SIZE // 2] = (200, 30, 30, 255)  # ... under an opaque red top half
  rgba[SIZE // 2:, :, :3] = 0
  viewer = np.full((SIZE, SIZE, 3), 255, np.uint8)
  viewer[:SIZE // 2] = (200, 30, 30)
  return encoded(Image.fromarray(rgba, 'RGBA'), 'PNG'), viewer, 0


def palette_with_transparency():
  palette = Image.new('P', (SIZE, SIZE))
  palette.putpalette([0, 0, 0, 30, 90, 200])
  palette.putdata([1] * (SIZE * SIZE // 2) + [0] * (SIZE * SIZE // 2))
  viewer = np.full((SIZE, SIZE, 3), 255, np.uint8)
  viewer[:SIZE // 2] = (30, 90, 200)
  return encoded(palette, 'PNG', transparency=0), viewer, 0


def cmyk_jpeg():
  picture = gradient()
  file = encoded(Image.fromarray(picture).convert('CMYK'), 'JPEG', quality=100)
  assert Image.open(io.BytesIO(file)).mode == 'CMYK'
  return file, picture, 8  # JPEG's own loss


def grey_jpeg():
  grey = gradient().mean(axis=-1).astype(np.uint8)
  return encoded(Image.fromarray(grey), 'JPEG', quality=100,
                 subsampling=0), np.repeat(grey[..., None], 3, axis=-1), 4


def exif_rotated_jpeg():
  upright = gradient()
  stored = np.rot90(upright, k=1)  # a camera held sideways stores the picture turned …
  image = Image.fromarray(np.ascontiguousarray(stored))
  exif = image.getexif()
  exif[0x0112] = 6  # … and says "turn 90° clockwise to show"
  return encoded(image, 'JPEG', quality=100, subsampling=0, exif=exif.tobytes()), upright, 8


@pytest.mark.parametrize('make', [
    sixteen_bit_grey, transparent_rgba, palette_with_transparency, cmyk_jpeg, grey_jpeg,
    exif_rotated_jpeg
])
def test_an_image_file_decodes_to_the_picture_a_viewer_shows(make):
  file, viewer, tolerance = make()
  decoded = np.asarray(stored_format.decode(file, 'RGB')).astype(int)
  assert decoded.shape == viewer.shape
  assert np.abs(decoded - viewer).max() <= tolerance


def test_a_sixteen_bit_png_is_stored_as_its_picture_not_white():
  file, viewer, _ = sixteen_bit_grey()
  stored = stored_format.to_stored(file, SIZE, grayscale=True, image_format='png')
  np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(stored))), viewer[..., 0])


def test_a_file_already_in_stored_form_is_kept_byte_for_byte_unless_it_must_be_turned():
  upright = encoded(Image.fromarray(gradient()), 'JPEG', quality=95)
  assert stored_format.to_stored_jpeg(upright, SIZE) == upright
  rotated, viewer, _ = exif_rotated_jpeg()
  stored = stored_format.to_stored_jpeg(rotated, SIZE)
  assert stored != rotated
  quarters = lambda picture: picture.reshape(2, SIZE // 2, 2, SIZE // 2, 3).mean(axis=(1, 3))
  turned = np.asarray(Image.open(io.BytesIO(stored))).astype(float)
  # Each quarter keeps its colour (JPEG blurs the edges a little; a wrong turn moves them by > 150).
  assert np.abs(quarters(turned) - quarters(viewer)).max() < 30
