"""The failures a user is told about, and how every command tells them.

A failure the user can act on (a config field, a file, a workdir, a checkpoint) is
printed as one line, ``error: <what is wrong and what to do>``, with no traceback: the
exception types below mark them, and the modules that detect each raise a subclass that
says what it is about (``config.ConfigError``, ``workdir.WorkdirInUseError``, …).
Setting ``ALEXNET_TRACEBACK=1`` shows the traceback as well, for debugging.

Exit statuses, which a batch script acts on (``slurm/train.sbatch`` requeues only the
last): 2 for a usage error (the command cannot run as given, a path in it too long or not
a directory), 1 for a run that failed for a reason a rerun alone does not fix (non-finite
loss, every checkpoint damaged, disk full, a path it may not write; Python's own status for
a bug's traceback too), 128 + the signal's number for a run
stopped by a signal after saving (``alexnet.stopping``), as shells report a process
killed by it.
"""

from __future__ import annotations

import errno
import functools
import logging
import os
import sys
import threading
import traceback
import warnings
from collections.abc import Callable, Sequence
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
  return (isinstance(error, OSError) and error.errno in _PATH_ERRORS
          and error.filename is not None)


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


_CHECKPOINT_LIBRARIES = (f'{os.sep}orbax{os.sep}', f'{os.sep}tensorstore{os.sep}')


class _HideCheckpointLibraryErrors(logging.Filter):
  """Drops the error logs of orbax and tensorstore, and asyncio's of their failed tasks: the
  failure they log (a full disk, say) reaches the user once, as the command's last line."""

  def filter(self, record: logging.LogRecord) -> bool:
    if record.levelno < logging.ERROR:
      return True
    if any(p in record.pathname for p in _CHECKPOINT_LIBRARIES):
      return False
    if record.name != 'asyncio':
      return True
    failed = record.exc_info[1] if record.exc_info else None
    return not (any(p in record.getMessage() for p in _CHECKPOINT_LIBRARIES)
                or (failed is not None and disk_full_in(failed)))


_failure_reported = threading.Event()


def _report_failures_once() -> None:
  """Keeps a failure that many threads meet (a full disk) from printing a traceback for each.

  The main thread reports it, in one line. The writer threads of orbax and TensorBoard,
  and the exit handlers that flush them, would otherwise each print their own: their
  disk-full errors are dropped, and once the main line is printed, whatever those
  threads print (or warn) as the interpreter shuts them down.
  """
  hide = _HideCheckpointLibraryErrors()
  logging.getLogger('absl').addFilter(hide)
  logging.getLogger('asyncio').addFilter(hide)
  thread_hook, unraisable_hook = threading.excepthook, sys.unraisablehook

  def secondary(error: BaseException | None) -> bool:
    # tensorstore completes the writes of a save orbax abandoned (its disk filled up) into
    # the save's event loop, already closed: asyncio then raises this, in tensorstore's threads.
    late_callback = isinstance(error, RuntimeError) and str(error) == 'Event loop is closed'
    return _failure_reported.is_set() or late_callback or (
        error is not None and disk_full_in(error))

  def quiet_thread_failure(args) -> None:
    if not secondary(args.exc_value):
      thread_hook(args)

  def quiet_unraisable(args) -> None:
    if not secondary(args.exc_value):
      unraisable_hook(args)

  threading.excepthook, sys.unraisablehook = quiet_thread_failure, quiet_unraisable


def _hide_library_info_logs() -> None:
  """Log records below WARNING hidden, unless ``--verbosity`` is given: JAX, orbax and TFDS
  log at INFO (JAX's "Unable to initialize backend 'tpu'" on every CPU machine, orbax every
  file it writes), and a command prints its own results; PIL's warning for large photos."""
  from absl import flags
  from absl import logging as absl_logging

  if not flags.FLAGS['verbosity'].present:
    absl_logging.set_verbosity(absl_logging.WARNING)
  # PIL warns of a "decompression bomb" from 89 megapixels, an ordinary camera's photo; its
  # error at twice that still stops a real one (an unreadable image, said in one line).
  warnings.filterwarnings('ignore', message=r'Image size \(\d+ pixels\) exceeds limit')


def reported(main: Callable[[Sequence[str]], None]) -> Callable[[Sequence[str]], None]:
  """``main`` for ``absl.app.run`` whose known failures end the program with one line, and
  whose console holds only its own output (no library INFO logs).

  Unexpected exceptions keep their traceback: they are bugs to report.
  """

  @functools.wraps(main)
  def wrapped(argv: Sequence[str]) -> None:
    _hide_library_info_logs()
    if not show_tracebacks():
      _report_failures_once()
    try:
      main(argv)
    except KeyboardInterrupt:  # a tool (not the trainer, which stops cleanly) was interrupted
      print('interrupted', file=sys.stderr)
      sys.exit(130)
    except Exception as error:  # noqa: BLE001 - sorted into known failures and bugs below
      status = exit_status(error)
      if status is None:
        raise
      if show_tracebacks():
        traceback.print_exc()
      print(one_line(error), file=sys.stderr, flush=True)
      _failure_reported.set()
      if not show_tracebacks():
        warnings.simplefilter('ignore')  # e.g. the coroutines of a save the failure abandoned
      sys.exit(status)

  return wrapped


def parse_flags(argv: Sequence[str]) -> list[str]:
  """absl's flag parsing, with a wrong flag or value as one line and exit status 2.

  The config's own mistakes (a misspelt ``--config.<section>.<field>``, a config file that
  cannot be loaded) are found by :func:`alexnet.config.parse_flags`.
  """
  from absl import flags

  from alexnet import config

  try:
    return config.parse_flags(flags.FLAGS, argv)
  except (UsageError, flags.Error) as error:
    if show_tracebacks():
      traceback.print_exc()
    # absl may put a whole traceback in the message: its first line says which flag, its
    # last what went wrong.
    lines = [line for line in str(error).splitlines() if line.strip()]
    said = lines[0] if len(lines) < 2 else f'{lines[0]} {lines[-1].strip()}'
    print(f'error: {said}', file=sys.stderr)
    print(f'Pass --help to see the flags of {Path(argv[0]).name}.', file=sys.stderr)
    sys.exit(USAGE_STATUS)
