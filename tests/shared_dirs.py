"""Directories the whole test session shares, made once however many xdist workers ask.

A session-scoped fixture is per process: under xdist each worker would make its own copy
(a trained run: a minute or more on two cores). The first worker to ask makes the
directory under a file lock in the session's temporary folder; the others wait for it
and then read what it made. A directory whose making failed is made again by the next
asker, which then meets the same error.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import filelock
import pytest


def made_once(factory: pytest.TempPathFactory, name: str, make: Callable[[Path], None]) -> Path:
  """``<session folder>/name``, filled by ``make(directory)`` in the first process that asks."""
  root = factory.getbasetemp()
  if 'PYTEST_XDIST_WORKER' in os.environ:
    root = root.parent  # the workers' folders are inside the session's
  directory, done = root / name, root / f'{name}.done'
  with filelock.FileLock(root / f'{name}.lock'):
    if not done.exists():
      shutil.rmtree(directory, ignore_errors=True)
      directory.mkdir()
      make(directory)
      done.touch()
  return directory
