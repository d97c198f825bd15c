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

from PIL import Image

# Not in the paper: quality of the stored JPEG. 95 keeps re-encoding artefacts well below
# the noise that §4.1's augmentation adds, at ≈ 2× the bytes of quality 75.
JPEG_QUALITY = 95

_In = TypeVar('_In')
_Out = TypeVar('_Out')


class UnreadableImageError(ValueError):
  """The bytes are not an image that PIL can decode completely (corrupt or truncated)."""


def decode(data: bytes, mode: str = 'RGB') -> Image.Image:
  """Decodes every pixel of ``data`` into ``mode`` ('RGB' or 'L'), or raises UnreadableImageError.

  ``Image.load()`` is called so that a truncated file fails here rather than later;
  CMYK, palette, grey and alpha images become plain RGB, as §2's "raw RGB" needs.
  """
  try:
    image = Image.open(io.BytesIO(data))
    image.load()
  except Exception as e:  # PIL raises many types (OSError, SyntaxError, ValueError, ...).
    raise UnreadableImageError(f'not a decodable image ({type(e).__name__}: {e})') from e
  return image if image.mode == mode else image.convert(mode)


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
  with Image.open(io.BytesIO(data)) as image:
    return image.format == image_format.upper() and image.mode == mode


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
