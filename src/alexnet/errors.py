"""The failures a user is told about: their types, exit statuses and one-line messages.

A failure the user can act on (a config field, a file, a workdir, a checkpoint) is
printed as one line, ``error: <what is wrong and what to do>``, with no traceback, by
:func:`alexnet.cli.run`, which every command runs through. The exception types below mark
them, and the modules that detect each raise a subclass that says what it is about
(``config.ConfigError``, ``workdir.WorkdirInUseError``, …).
Setting ``ALEXNET_TRACEBACK=1`` shows the traceback as well, for debugging.

Exit statuses, which a batch script acts on (``slurm/train.sbatch`` requeues only the
last): 2 for a usage error (the command cannot run as given, a path in it too long or not
a directory), 1 for a run that failed for a reason a rerun alone does not fix (non-finite
loss, every checkpoint damaged, disk full, a path it may not write; Python's own status for
a bug's traceback too), 128 + the signal's number for a run
stopped by a signal after saving (``alexnet.run.stopping``), as shells report a process
killed by it.
"""

from __future__ import annotations

import difflib
import errno
import os
from collections.abc import Iterable
from pathlib import Path

TRACEBACK_VARIABLE = 'ALEXNET_TRACEBACK'
USAGE_STATUS = 2
FAILURE_STATUS = 1


class UsageError(Exception):
  """The command cannot run as given; the message says what to change. Exit status 2."""


class RunFailure(Exception):
  """The run started but cannot go on; the message says why and what was kept. Exit status 1."""


class Stopped(Exception):
  """The run stopped because it was asked to (a signal), after saving what it had done.

  The message is the whole line to print; ``exit_status`` is 128 + the signal's number.
  """

  def __init__(self, message: str, exit_status: int):
    super().__init__(message)
    self.exit_status = exit_status


class DiskFullError(RunFailure):
  """A write failed because the device holding ``directory`` is full."""

  def __init__(self, directory: str | os.PathLike, what: str):
    self.directory = Path(directory)
    super().__init__(f'no space left on the device of {self.directory} while writing {what}; '
                     'free space there (or point --workdir / data.data_dir elsewhere) and rerun '
                     'the same command: the checkpoints saved before are intact.')


def disk_full_in(error: BaseException) -> bool:
  """Whether ``error`` or an exception it was raised from is ENOSPC ('No space left on device').

  Libraries that write through their own I/O layers (orbax, tensorstore) wrap the OS's
  error or keep only its text, so both are looked for along the chain.
  """
  seen = set()
  while error is not None and id(error) not in seen:
    seen.add(id(error))
    if isinstance(error, OSError) and error.errno == errno.ENOSPC:
      return True
    if 'No space left on device' in str(error):
      return True
    error = error.__cause__ or error.__context__
  return False


# An OS error about a path, what it means, and its status: one the command can fix (a name
# too long, a file where a directory must be) is a usage error; one of the environment
# (permissions, a read-only file system) a failure.
_PATH_ERRORS = {
    errno.ENOTDIR: ('a part of this path is a file, not a directory', USAGE_STATUS),
    errno.EISDIR: ('this is a directory, where a file is meant', USAGE_STATUS),
    errno.EEXIST: ('a file is in the way of a directory needed here', USAGE_STATUS),
    errno.ENAMETOOLONG: ('a name in this path is longer than its file system allows (often '
                         '255 bytes)', USAGE_STATUS),
    errno.EACCES: ('permission denied: this user may not write (or read) there', FAILURE_STATUS),
    errno.EPERM: ('operation not permitted there', FAILURE_STATUS),
    errno.EROFS: ('the file system is read-only: use a writable place', FAILURE_STATUS),
}


def _path_error(error: BaseException) -> bool:
  return (isinstance(error, OSError) and error.errno in _PATH_ERRORS and error.filename is not None)


def show_tracebacks() -> bool:
  return os.environ.get(TRACEBACK_VARIABLE, '') not in ('', '0')


def exit_status(error: BaseException) -> int | None:
  """The exit status a known failure gets; None for an unexpected one (a bug: traceback)."""
  if isinstance(error, Stopped):
    return error.exit_status
  if isinstance(error, UsageError):
    return USAGE_STATUS
  if isinstance(error, RunFailure) or (isinstance(error, OSError) and disk_full_in(error)):
    return FAILURE_STATUS
  if _path_error(error):
    return _PATH_ERRORS[error.errno][1]
  return None


def one_line(error: BaseException) -> str:
  """The message of a known failure, flattened to one line."""
  if isinstance(error, Stopped):
    return str(error)
  if isinstance(error, OSError) and not isinstance(error, UsageError) and disk_full_in(error):
    where = Path(error.filename).parent if error.filename else Path.cwd()
    return 'error: ' + str(DiskFullError(where, error.filename or 'a file'))
  if _path_error(error) and not isinstance(error, (UsageError, RunFailure)):
    return f'error: {error.filename}: {_PATH_ERRORS[error.errno][0]}.'
  return 'error: ' + ' '.join(str(error).split())


def did_you_mean(name: str, candidates: Iterable[str], prefix: str = '') -> str:
  """' (did you mean <prefix><the nearest candidate>?)', or '' when none is near."""
  close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.5)
  return f' (did you mean {prefix}{close[0]}?)' if close else ''
