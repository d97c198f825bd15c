"""A run's workdir: the one module that knows its layout, and the lock of its trainer.

::

  <workdir>/
    config.json           the config of the latest start, and the changes made on resume
    metrics.jsonl         one JSON record per logged step, evaluation and the final test
    tensorboard/          the same numbers as TensorBoard events
    checkpoints/<step>/   orbax checkpoints (alexnet.run.checkpoint)
    damaged_checkpoints/  checkpoints that failed to read or to verify, set aside, never deleted
    lock                  held (flock) by the trainer writing here; names it
    train.log             the trainer's console output, where a runner keeps it (ablations)

The trainer, the tools (:mod:`alexnet.trained_run`) and the ablation runner ask this module for
every path and record, so a file is named in one place.

**The lock.** A trainer holds an exclusive ``flock`` on ``lock`` for its whole life, so a
second trainer on the same workdir is refused at once, and told which host and process
holds it. The kernel drops the lock when its holder dies however it dies (SIGKILL, a
reboot; on NFS when the client's lease expires), so a dead holder never blocks a resume.
Taking the lock writes the holder's name into the file; a run refused after that (its
config cannot resume this workdir, its data is missing) puts the file back as it was and
removes what it created, so a refused run leaves the workdir exactly as it found it.

``config.json`` holds the config as plain JSON (``ml_collections`` reads it back) plus,
under ``changes_on_resume``, each resume that changed a field: the step from which the new
values hold, and the old and new value of each field.
"""

from __future__ import annotations

import datetime
import errno
import fcntl
import json
import os
import shlex
import shutil
import socket
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import ml_collections

from alexnet import errors
from alexnet.run import records

CHANGES_KEY = 'changes_on_resume'  # in config.json


class RunNotFoundError(errors.UsageError, FileNotFoundError):
  """The directory is not the workdir of a run, or holds no usable checkpoint."""


class NotAWorkdirError(errors.UsageError):
  """--workdir names something that is not a directory."""


class WorkdirInUseError(errors.UsageError):
  """Another trainer holds the workdir's lock."""


class DamagedConfigError(errors.RunFailure, ValueError):
  """config.json cannot be read as the config the trainer wrote."""


class DamagedMetricsError(errors.RunFailure, ValueError):
  """A line of metrics.jsonl before the last is not a record."""


class Workdir:
  """The files of one run (see the layout above)."""

  def __init__(self, path: str | os.PathLike):
    self.path = Path(path).absolute()
    self.config_file = self.path / 'config.json'
    self.metrics_file = self.path / 'metrics.jsonl'
    self.tensorboard_dir = self.path / 'tensorboard'
    self.checkpoints_dir = self.path / 'checkpoints'
    self.damaged_dir = self.path / 'damaged_checkpoints'
    self.lock_file = self.path / 'lock'
    self.console_log = self.path / 'train.log'

  # --- config.json ------------------------------------------------------------------------

  def has_config(self) -> bool:
    return self.config_file.is_file()

  def _read_config_json(self) -> dict[str, Any]:
    if not self.has_config():
      raise RunNotFoundError(f'{self.path} holds no {self.config_file.name}, so it is not the '
                             'workdir of a training run (python -m alexnet.main --workdir DIR '
                             'writes it).')
    try:
      content = json.loads(self.config_file.read_text())
    except ValueError as error:
      raise DamagedConfigError(f'{self.config_file} is not valid JSON ({error}): put back the '
                               'file the trainer wrote (it writes plain JSON, and records '
                               'changes itself under changes_on_resume).') from None
    if not isinstance(content, dict):
      raise DamagedConfigError(f'{self.config_file} holds no config (a JSON object).')
    return content

  def read_config(self) -> ml_collections.ConfigDict:
    """The config of the run's latest start (without the record of changes)."""
    recorded = self._read_config_json()
    recorded.pop(CHANGES_KEY, None)
    return ml_collections.ConfigDict(recorded)

  def read_changes(self) -> list[dict[str, Any]]:
    """Every resume that changed a field: {'step', 'time', 'fields': {name: [old, new]}}."""
    return self._read_config_json().get(CHANGES_KEY, []) if self.has_config() else []

  def write_config(self, config: Mapping[str, Any], changes: list[dict[str, Any]]) -> None:
    """config.json, written whole and atomically (a kill leaves the old or the new file)."""
    content = dict(config)
    if changes:
      content[CHANGES_KEY] = changes
    write_atomically(self.config_file, json.dumps(content, indent=2) + '\n')

  # --- metrics.jsonl ---------------------------------------------------------------------

  def read_metrics(self) -> list[dict]:
    """All records of metrics.jsonl, in order ([] before the first)."""
    return [record for _, record in self.metrics_lines()]

  def metrics_lines(self, *, leave_out_damaged: bool = False) -> list[tuple[str, dict]]:
    """(line, record) of every record of metrics.jsonl, in order.

    A last line cut short — the disk filled up, or the run was killed, while it was being
    written — is left out: the step it recorded is computed again on resume. A damaged
    line before the last is a DamagedMetricsError naming it, unless ``leave_out_damaged``.
    """
    if not self.metrics_file.exists():
      return []
    lines = [
        line for line in self.metrics_file.read_text(errors='replace').splitlines() if line.strip()
    ]
    readable = []
    for number, line in enumerate(lines, 1):
      try:
        record = json.loads(line)
        if not isinstance(record, dict) or not isinstance(record.get('step'), int):
          raise ValueError('not a record with a step')
        readable.append((line, record))
      except ValueError as error:
        if number < len(lines) and not leave_out_damaged:
          raise DamagedMetricsError(f'{self.metrics_file}:{number} is not a JSON record '
                                    f'({error}); the trainer keeps a copy of the file and '
                                    'leaves that line out when the run is resumed.') from None
    return readable

  def keep_damaged_metrics(self) -> Path:
    """Copies metrics.jsonl, as it is, beside it (``metrics.jsonl.damaged``, numbered if
    taken), before the trainer rewrites it without its damaged lines."""
    copy = self.metrics_file.with_name(f'{self.metrics_file.name}.damaged')
    number = 2
    while copy.exists():
      copy = self.metrics_file.with_name(f'{self.metrics_file.name}.damaged-{number}')
      number += 1
    shutil.copy2(self.metrics_file, copy)
    return copy

  def final_record(self, step: int | None = None) -> dict | None:
    """The record of the final test (at ``step``, if given), or None if there is none."""
    for _, record in reversed(self.metrics_lines(leave_out_damaged=True)):
      if records.is_final(record) and (step is None or record['step'] == step):
        return record
    return None

  # --- checkpoints ------------------------------------------------------------------------

  def checkpoint_steps(self) -> list[int]:
    """Steps of the finished checkpoints, read from the directory names only."""
    return _step_directories(self.checkpoints_dir)

  def damaged_steps(self) -> list[int]:
    return _step_directories(self.damaged_dir)

  # --- the lock ---------------------------------------------------------------------------

  def lock(self) -> WorkdirLock:
    return WorkdirLock(self)


def _step_directories(directory: Path) -> list[int]:
  if not directory.is_dir():
    return []
  return sorted(int(p.name) for p in directory.iterdir() if p.is_dir() and p.name.isdigit())


def write_atomically(path: Path, text: str) -> None:
  """Writes ``text`` to a temporary file beside ``path``, then renames it over ``path``."""
  with tempfile.NamedTemporaryFile('w', dir=path.parent, prefix=f'.{path.name}.',
                                   delete=False) as f:
    f.write(text)
  os.replace(f.name, path)


def _holder() -> dict[str, Any]:
  return dict(host=socket.gethostname(), pid=os.getpid(),
              started=datetime.datetime.now().astimezone().isoformat(timespec='seconds'),
              command=shlex.join(['python', *sys.orig_argv[1:]]))


class WorkdirLock:
  """The exclusive lock of a training run on its workdir (see the module's docstring)."""

  def __init__(self, workdir: Workdir):
    self.workdir = workdir
    self._fd: int | None = None
    self._previous: bytes | None = None  # the lock file's content before we took it
    self._created: list[Path] = []  # what taking the lock created, newest last

  def acquire(self) -> None:
    """Takes the lock or raises WorkdirInUseError naming its holder."""
    missing = [p for p in (self.workdir.path, *self.workdir.path.parents) if not p.exists()]
    if self.workdir.path.exists() and not self.workdir.path.is_dir():
      raise NotAWorkdirError(f'{self.workdir.path} is a file, not a directory: give --workdir '
                             'a new directory, or one of a run.')
    self.workdir.path.mkdir(parents=True, exist_ok=True)
    self._created = missing[::-1]
    path = self.workdir.lock_file
    while True:
      existed = path.exists()
      fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
      try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
      except BlockingIOError:
        holder = os.read(fd, 4096)
        os.close(fd)
        raise WorkdirInUseError(self._in_use_message(holder)) from None
      except OSError as error:  # a filesystem without flock: run, but say what is lost
        if error.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
          raise
        print(
            f'warning: {path.parent} does not support file locks: a second trainer on this '
            'workdir would not be refused.', file=sys.stderr)
      # The file we locked must still be the one at the path (not one a refused run
      # removed just before): otherwise two runs could each hold a lock of their own.
      if os.path.exists(path) and os.stat(path).st_ino == os.fstat(fd).st_ino:
        break
      os.close(fd)
    self._fd = fd
    self._previous = _read_all(fd) if existed else None
    if not existed:
      self._created.append(path)
    os.ftruncate(fd, 0)
    os.pwrite(fd, (json.dumps(_holder()) + '\n').encode(), 0)

  def _in_use_message(self, holder: bytes) -> str:
    """Who holds the lock, as far as can be known: the lock file names the last trainer that
    took it, which is the holder only if it is still alive (checkable on this host alone)."""
    path, lock_file = self.workdir.path, self.workdir.lock_file
    try:
      who = json.loads(holder)
      pid, host, started, command = who['pid'], who['host'], who['started'], who['command']
    except (ValueError, KeyError, TypeError):
      return (f'{path} is in use by another training run, still starting. Wait for it, stop '
              f'it, or give this run another --workdir.')
    here = host == socket.gethostname()
    if here and not _alive(pid):
      return (f'{path} is locked by a process other than a trainer ({lock_file} names process '
              f'{pid}, a trainer started {started}, which has ended): find the holder with '
              f'`fuser -v {lock_file}` and stop it, or give this run another --workdir.')
    named = f'process {pid} on host {host}, started {started} ({command})'
    if not here:
      named += f', as {lock_file} says (this host cannot check it)'
    return (f'{path} is in use by another training run: {named}. Wait for it to finish, stop '
            f'it (kill -TERM {pid} on {host}), or give this run another --workdir.')

  def release(self, *, undo: bool = False) -> None:
    """Releases the lock; ``undo`` first puts the workdir back as it was before ``acquire``."""
    if self._fd is None:
      return
    if undo:
      if self._previous is None:
        for path in reversed(self._created):
          try:
            path.unlink() if path == self.workdir.lock_file else path.rmdir()
          except OSError:  # a directory something else wrote into meanwhile stays
            break
      else:
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, self._previous, 0)
    fcntl.flock(self._fd, fcntl.LOCK_UN)
    os.close(self._fd)
    self._fd = None


def _alive(pid: int) -> bool:
  """Whether process ``pid`` exists on this host."""
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:  # exists, owned by another user
    return True
  return True


def _read_all(fd: int) -> bytes:
  chunks, offset = [], 0
  while chunk := os.pread(fd, 1 << 16, offset):
    chunks.append(chunk)
    offset += len(chunk)
  return b''.join(chunks)
