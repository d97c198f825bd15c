"""alexnet/errors.py: which failures a command reports in one line, and with which exit status.

A batch script acts on the status (slurm/train.sbatch requeues only a stopped run), and a
person reads the line: both are decided here, from the exception alone.
"""

import errno
import signal

import pytest

from alexnet import errors


class Bug(Exception):
  """Not a failure the user can act on: a traceback is its report."""


@pytest.mark.parametrize(
    'error, status',
    [
        (errors.UsageError('no such field'), 2),
        (errors.RunFailure('the loss became NaN'), 1),
        (errors.DiskFullError('/runs/a', 'a checkpoint'), 1),
        (errors.Stopped('stopped at step 5 by SIGTERM', 128 + signal.SIGTERM), 143),
        (OSError(errno.ENOSPC, 'No space left on device', '/runs/a/metrics.jsonl'), 1),
        (OSError(errno.ENOTDIR, 'Not a directory', '/runs/afile/run'), 2),
        (OSError(errno.ENAMETOOLONG, 'File name too long', '/runs/x'), 2),
        (OSError(errno.EROFS, 'Read-only file system', '/runs/lock'), 1),
        (PermissionError(errno.EACCES, 'Permission denied', '/runs'), 1),
        (OSError(errno.ENOTDIR, 'Not a directory'), None),  # no path to name: not the user's
        (OSError(errno.EIO, 'Input/output error', '/runs/a'), None),
        (Bug('index out of range'), None),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else str(value))
def test_each_known_failure_has_its_exit_status_and_an_unexpected_one_none(error, status):
  assert errors.exit_status(error) == status


def test_a_message_of_several_lines_is_said_in_one():
  error = errors.UsageError('model.towers=3 is not allowed:\n    it must be 1 or 2.')
  assert errors.one_line(error) == 'error: model.towers=3 is not allowed: it must be 1 or 2.'


def test_a_stop_is_its_own_line_without_the_error_prefix():
  stopped = errors.Stopped('stopped at step 5 by SIGINT; rerun the same command to resume', 130)
  assert errors.one_line(stopped) == str(stopped) and errors.exit_status(stopped) == 130


def test_a_path_the_os_refuses_is_named_with_what_the_refusal_means():
  error = OSError(errno.ENAMETOOLONG, 'File name too long', '/runs/xxx/run')
  assert errors.one_line(error) == ('error: /runs/xxx/run: a name in this path is longer than its '
                                    'file system allows (often 255 bytes).')


def test_a_full_disk_names_the_directory_of_the_file_being_written():
  error = OSError(errno.ENOSPC, 'No space left on device', '/runs/a/metrics.jsonl')
  assert errors.one_line(error) == (
      'error: no space left on the device of /runs/a while writing /runs/a/metrics.jsonl; free '
      'space there (or point --workdir / data.data_dir elsewhere) and rerun the same command: '
      'the checkpoints saved before are intact.')


def raised_from(cause: BaseException, outer: BaseException) -> BaseException:
  try:
    try:
      raise cause
    except BaseException as inner:
      raise outer from inner
  except BaseException as error:  # noqa: BLE001 - the chain as raised, whatever its types
    return error


def test_a_full_disk_is_found_along_the_chain_by_its_errno_or_its_text():
  enospc = OSError(errno.ENOSPC, 'No space left on device')
  assert errors.disk_full_in(raised_from(enospc, RuntimeError('the save failed')))
  # orbax and tensorstore keep only the OS's text:
  text_only = ValueError('INTERNAL: Error writing "d/0": [OS error: No space left on device]')
  assert errors.disk_full_in(raised_from(text_only, RuntimeError('the save failed')))
  assert errors.exit_status(raised_from(enospc, OSError('the save failed'))) == 1
  assert not errors.disk_full_in(raised_from(KeyError('x'), RuntimeError('the save failed')))


def test_a_chain_that_loops_back_on_itself_ends_the_search():
  first, second = RuntimeError('a'), RuntimeError('b')
  first.__context__, second.__context__ = second, first
  assert not errors.disk_full_in(first)


@pytest.mark.parametrize('value, shown', [('', False), ('0', False), ('1', True), ('yes', True)])
def test_alexnet_traceback_shows_tracebacks_unless_empty_or_zero(monkeypatch, value, shown):
  monkeypatch.setenv(errors.TRACEBACK_VARIABLE, value)
  assert errors.show_tracebacks() == shown
