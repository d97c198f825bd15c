"""What a checkpoint's directory holds, and the checksums that prove it whole.

When a save's files are all written, orbax's background thread (not the
training thread) hashes every file of both items with SHA-256 into ``checksums.json``,
inside the checkpoint's temporary directory, before orbax renames it into place: a
checkpoint is never visible without its checksums. A restore verifies them before
reading. A checkpoint that fails to verify or to read is moved aside to
``damaged_checkpoints/`` — never deleted — and the one before it is used; when none is
left, the run is refused rather than started again from step 0. The checksums also cover
the metrics orbax ranks checkpoints by (``metrics/``), which orbax reads as soon as it opens
the directory: the trainer checks those first, so a damaged one is set aside like the rest.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from alexnet.run import records

CHECKSUMS_FILE = 'checksums.json'  # in <checkpoints>/<step>/, beside the items
ITEMS = ('state', 'progress')
# orbax's own item: the metrics a checkpoint is ranked by, read when a manager opens the run.
METRICS_ITEM = 'metrics'
METRICS_FILE = f'{METRICS_ITEM}/metrics'
_CHECKSUMMED = (*ITEMS, METRICS_ITEM)


def file_checksums(directory: Path) -> dict[str, str]:
  """{path relative to ``directory``: SHA-256} of every file of the checkpoint's items."""
  sums = {}
  for item in _CHECKSUMMED:
    for path in sorted((directory / item).rglob('*')):
      if path.is_file():
        with path.open('rb') as f:
          sums[str(path.relative_to(directory))] = hashlib.file_digest(f, 'sha256').hexdigest()
  return sums


def verify(directory: Path) -> str | None:
  """What is wrong with the checkpoint in ``directory`` ('' if nothing; None if unverifiable).

  None means the checkpoint has no checksums (written before they existed).
  """
  listed = directory / CHECKSUMS_FILE
  if not listed.is_file():
    return None
  try:
    expected = json.loads(listed.read_text())
  except (OSError, ValueError) as error:
    return f'its {CHECKSUMS_FILE} cannot be read ({error})'
  found = file_checksums(directory)
  if not any(name.startswith(f'{METRICS_ITEM}/') for name in expected):
    # Checksums written before they covered the metrics: those files are not compared.
    found = {name: sum_ for name, sum_ in found.items() if not name.startswith(f'{METRICS_ITEM}/')}
  bad = sorted(
      name for name in expected.keys() | found.keys() if expected.get(name) != found.get(name))
  if not bad:
    return ''
  return (f'{len(bad)} of its files differ from the checksums written when it was saved '
          f'({", ".join(bad[:3])}{", …" if len(bad) > 3 else ""})')


def ranking_error(directory: Path) -> float | None:
  """The validation error the checkpoint in ``directory`` is ranked by, if it has one.

  ValueError if its metrics file is damaged: unreadable, not the expected record, or
  different from its checksum.
  """
  path = directory / METRICS_FILE
  if not path.is_file():
    return None
  try:
    listed = json.loads((directory / CHECKSUMS_FILE).read_text())
  except (OSError, ValueError):
    listed = {}  # no checksums (or damaged ones, which a restore reports)
  with path.open('rb') as f:
    digest = hashlib.file_digest(f, 'sha256').hexdigest()
  if listed.get(METRICS_FILE, digest) != digest:
    raise ValueError(f'its {METRICS_FILE} differs from the checksum written when it was saved')
  try:
    error = json.loads(path.read_bytes())[records.RANKING_FIELD]
  except (ValueError, KeyError, TypeError) as problem:
    raise ValueError(f'its {METRICS_FILE} is not a metrics record ({problem})') from None
  if not isinstance(error, (int, float)):
    raise ValueError(f'its {METRICS_FILE} holds {error!r} as {records.RANKING_FIELD}')
  return float(error)
