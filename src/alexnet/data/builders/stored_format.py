"""The form in which colour images are stored once prepared: §2's 256×256 central crop, as JPEG.

The paper "down-sampled the images to a fixed resolution of 256×256": the shorter side is
rescaled to 256 and the central 256×256 patch kept, once, before training. Doing it at
preparation (rather than at every read) lets the training pipeline decode only the crop
window of a small JPEG (``docs/design.md`` has the measurements). The same function turns
any image the predict tool is given into exactly what training saw, artefacts included.
"""

from __future__ import annotations

import collections
import concurrent.futures
import io
import os
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

import numpy as np
from PIL import Image, ImageOps

# Not in the paper: quality of the stored JPEG. 95 keeps re-encoding artefacts well below
# the noise that §4.1's augmentation adds, at ≈ 2× the bytes of quality 75.
JPEG_QUALITY = 95

_In = TypeVar('_In')
_Out = TypeVar('_Out')


class UnreadableImageError(ValueError):
  """The bytes are not an image that PIL can decode completely (corrupt or truncated)."""


_SIXTEEN_BIT_GREY = ('I;16', 'I;16B', 'I;16L', 'I;16N', 'I')  # 'I': 16-bit PNGs in older PIL
_WITH_ALPHA = ('RGBA', 'RGBa', 'LA', 'La', 'PA')
_EXIF_ORIENTATION = 0x0112


def decode(data: bytes, mode: str = 'RGB') -> Image.Image:
  """Decodes every pixel of ``data`` into ``mode`` ('RGB' or 'L'), or raises UnreadableImageError.

  ``Image.load()`` is called so that a truncated file fails here rather than later. The
  result is the picture an image viewer shows (:func:`as_displayed`), as 8-bit RGB (§2's
  "raw RGB") or grey.
  """
  try:
    image = Image.open(io.BytesIO(data))
    image.load()
  except Image.UnidentifiedImageError as e:  # its message names PIL's in-memory file object
    raise UnreadableImageError(f'not a decodable image (no image format PIL reads begins '
                               f'with the bytes {data[:8]!r})') from e
  except Exception as e:  # PIL raises many types (OSError, SyntaxError, ValueError, ...).
    raise UnreadableImageError(f'not a decodable image ({type(e).__name__}: {e})') from e
  image = as_displayed(image)
  return image if image.mode == mode else image.convert(mode)


def is_colour(data: bytes) -> bool:
  """Whether an image file is stored in a colour mode (RGB, CMYK, a palette, …) rather than
  as grey levels (with or without alpha, 1 to 32 bits)."""
  with Image.open(io.BytesIO(data)) as image:
    return image.mode not in ('1', 'L', 'LA', 'La', 'F', *_SIXTEEN_BIT_GREY)


def as_displayed(image: Image.Image) -> Image.Image:
  """The picture a viewer shows of a decoded file, in an 8-bit mode PIL converts faithfully.

  PIL's own ``convert('RGB')`` gets three kinds of file wrong: 16-bit grey (PNG ``I;16``)
  is clipped at 255, so nearly every pixel turns white, where a viewer maps 0–65535 onto
  0–255; transparent pixels (RGBA, grey with alpha, palettes with a transparent index) keep
  whatever colour lies under the alpha, often black, where a viewer shows the background
  (white here); and a camera's EXIF orientation is ignored, where a viewer turns the
  picture upright. CMYK (Adobe's inverted form too), palettes and grey JPEGs convert
  correctly and are left to ``convert``.
  """
  orientation = image.getexif().get(_EXIF_ORIENTATION, 1)
  if orientation != 1:
    image = ImageOps.exif_transpose(image)
  if image.mode in _SIXTEEN_BIT_GREY:
    levels = np.asarray(image, dtype=np.float64) / 257.0  # 65535 → 255
    image = Image.fromarray(np.clip(np.rint(levels), 0, 255).astype(np.uint8), 'L')
  if image.mode == 'P':
    image = image.convert('RGBA' if 'transparency' in image.info else 'RGB')
  if image.mode in _WITH_ALPHA:
    rgba = image.convert('RGBA')
    image = Image.alpha_composite(Image.new('RGBA', rgba.size, (255, 255, 255, 255)), rgba)
    image = image.convert('RGB')
  return image


def shorter_side_and_central_crop(image: Image.Image, size: int) -> Image.Image:
  """§2: rescales so the shorter side is ``size``, then keeps the central size×size patch."""
  width, height = image.size
  scale = size / min(width, height)
  new_w, new_h = max(size, round(width * scale)), max(size, round(height * scale))
  if (new_w, new_h) != (width, height):
    image = image.resize((new_w, new_h), Image.Resampling.BICUBIC)
  left, top = (new_w - size) // 2, (new_h - size) // 2
  return image.crop((left, top, left + size, top + size))


def to_stored_jpeg(data: bytes, size: int) -> bytes:
  """Any image file's bytes → the stored form of colour datasets: RGB, size×size, JPEG.

  A file already in that form is kept byte for byte, so no second JPEG generation is
  added to data that was prepared elsewhere.
  """
  return to_stored(data, size, grayscale=False, image_format='jpeg')


def to_stored(data: bytes, size: int, *, grayscale: bool, image_format: str) -> bytes:
  """Any image file's bytes → a dataset's stored form: size×size, grey or RGB, JPEG or PNG."""
  mode = 'L' if grayscale else 'RGB'
  image = decode(data, mode)
  if image.size == (size, size) and _already(data, mode, image_format):
    return data
  out = io.BytesIO()
  shorter_side_and_central_crop(image, size).save(
      out, format=image_format.upper(),
      **({'quality': JPEG_QUALITY} if image_format == 'jpeg' else {}))
  return out.getvalue()


def _already(data: bytes, mode: str, image_format: str) -> bool:
  """Whether the file itself is what would be stored: format, mode, and upright as it is."""
  with Image.open(io.BytesIO(data)) as image:
    return (image.format == image_format.upper() and image.mode == mode
            and image.getexif().get(_EXIF_ORIENTATION, 1) == 1)


def ordered_parallel_map(fn: Callable[[_In], _Out], items: Iterable[_In],
                         workers: int | None = None) -> Iterator[_Out]:
  """Yields ``fn(item)`` for every item, in input order, computed by a pool of threads.

  PIL releases the GIL while it decodes, resizes and encodes, so threads give a near-linear
  speed-up of preparation; at most ``4 × workers`` items are in flight, so memory stays
  bounded however long ``items`` is.
  """
  workers = workers or os.cpu_count() or 1
  with concurrent.futures.ThreadPoolExecutor(workers) as pool:
    pending: collections.deque[concurrent.futures.Future] = collections.deque()
    for item in items:
      pending.append(pool.submit(fn, item))
      if len(pending) >= 4 * workers:
        yield pending.popleft().result()
    while pending:
      yield pending.popleft().result()
