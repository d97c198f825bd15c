"""How every command runs: ``cli.run(main)`` in place of ``absl.app.run(main)``.

It gives each command (the trainer, the tools, the experiments) the same conduct:

* a wrong flag or config field, and every known failure (:mod:`alexnet.errors`), end the
  program with one line and its exit status; unexpected exceptions keep their traceback,
  as bugs to report (``ALEXNET_TRACEBACK=1`` shows it for known failures too);
* the console holds the command's own output: the libraries' INFO logs are hidden unless
  ``--verbosity`` is given, and the warnings and errors they log about what this project
  does on purpose, or about a failure the command reports itself, are dropped;
* Python's garbage collector runs less often (:func:`_collect_garbage_less_often`).

These are settings of the whole process, installed here, when a command starts, and by no
module when it is imported.
"""

from __future__ import annotations

import functools
import gc
import logging
import os
import sys
import threading
import traceback
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

from absl import app, flags
from absl import logging as absl_logging

from alexnet import config, errors

_CHECKPOINT_LIBRARIES = (f'{os.sep}orbax{os.sep}', f'{os.sep}tensorstore{os.sep}')
# Warnings of libraries about how this project uses them, not something to act on:
# (file of the library it comes from, start of the message).
_EXPECTED_WARNINGS = (
    # TFDS, each time a builder is made with a config of its own (this project's ImageNet
    # and image-folder builders always are).
    (os.path.join('tensorflow_datasets', 'core',
                  'dataset_builder.py'), 'Using custom data configuration'),
    # TFDS, when asked whether a dataset not yet prepared is prepared (twice before every
    # first preparation).
    (os.path.join('tensorflow_datasets', 'core', 'utils', 'file_utils.py'), 'Variant folder '),
    # orbax, for a save without metrics: most saves fall between evaluations.
    (os.path.join('orbax', ''), 'Requested `tracked_metric`'),
)


class _DropExpectedWarnings(logging.Filter):

  def filter(self, record: logging.LogRecord) -> bool:
    return not any(source in record.pathname and record.getMessage().startswith(start)
                   for source, start in _EXPECTED_WARNINGS)


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
    return not (any(p in record.getMessage() for p in _CHECKPOINT_LIBRARIES) or
                (failed is not None and errors.disk_full_in(failed)))


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
    return _failure_reported.is_set() or late_callback or (error is not None
                                                           and errors.disk_full_in(error))

  def quiet_thread_failure(args) -> None:
    if not secondary(args.exc_value):
      thread_hook(args)

  def quiet_unraisable(args) -> None:
    if not secondary(args.exc_value):
      unraisable_hook(args)

  threading.excepthook, sys.unraisablehook = quiet_thread_failure, quiet_unraisable


def _quiet_libraries() -> None:
  """Log records below WARNING hidden, unless ``--verbosity`` is given: JAX, orbax and TFDS
  log at INFO (JAX's "Unable to initialize backend 'tpu'" on every CPU machine, orbax every
  file it writes), and a command prints its own results; the expected warnings dropped;
  PIL's warning for large photos."""
  if not flags.FLAGS['verbosity'].present:
    absl_logging.set_verbosity(absl_logging.WARNING)
  logging.getLogger('absl').addFilter(_DropExpectedWarnings())
  # PIL warns of a "decompression bomb" from 89 megapixels, an ordinary camera's photo; its
  # error at twice that still stops a real one (an unreadable image, said in one line).
  warnings.filterwarnings('ignore', message=r'Image size \(\d+ pixels\) exceeds limit')


def reported(main: Callable[[Sequence[str]], None]) -> Callable[[Sequence[str]], None]:
  """``main`` whose known failures end the program with one line and their exit status, and
  whose console holds only its own output."""

  @functools.wraps(main)
  def wrapped(argv: Sequence[str]) -> None:
    _quiet_libraries()
    if not errors.show_tracebacks():
      _report_failures_once()
    try:
      main(argv)
    except KeyboardInterrupt:  # a tool (not the trainer, which stops cleanly) was interrupted
      print('interrupted', file=sys.stderr)
      sys.exit(130)
    except Exception as error:  # sorted into known failures and bugs below
      status = errors.exit_status(error)
      if status is None:
        raise
      if errors.show_tracebacks():
        traceback.print_exc()
      print(errors.one_line(error), file=sys.stderr, flush=True)
      _failure_reported.set()
      if not errors.show_tracebacks():
        warnings.simplefilter('ignore')  # e.g. the coroutines of a save the failure abandoned
      sys.exit(status)

  return wrapped


def check_override_names(args: Iterable[str]) -> None:
  """Refuses a ``--config.<name>=…`` command-line override of a field that does not exist."""
  names = config.field_names()
  for arg in args:
    for prefix in ('--config.', '--noconfig.'):
      if arg.startswith(prefix):
        name = arg[len(prefix):].split('=', 1)[0]
        if name not in names:
          raise config.ConfigError(f'config field {name} (given as {arg}) does not exist'
                                   f'{errors.did_you_mean(name, names)}.')


class ConfigFileError(errors.UsageError, ValueError):
  """A ``--config`` file that cannot be loaded: missing, not Python, or ``get_config`` raised."""

  @classmethod
  def from_loading(cls, error: BaseException, files: Iterable[Path]) -> ConfigFileError:
    """What went wrong in one of ``files`` while it was loaded, and on which line, as one line.

    ``error`` may wrap the file's own exception (absl and ml_collections re-raise it with
    the traceback as text): the outermost one raised through the file is the one said.
    """
    if isinstance(error, SyntaxError) and error.filename:
      return cls(f'the config file {error.filename} is not valid Python: line {error.lineno}: '
                 f'{error.msg}.')
    paths = {str(path.resolve()) for path in files}
    for raised in _chain(error):
      lines = [
          frame for frame in traceback.extract_tb(raised.__traceback__)
          if str(Path(frame.filename).resolve()) in paths
      ]
      if lines:
        message = ' '.join(str(raised).split())
        return cls(f'the config file cannot be loaded: {type(raised).__name__} at '
                   f'{lines[-1].filename}:{lines[-1].lineno}{": " + message if message else ""}.')
    return cls(f'the config file cannot be loaded: {type(error).__name__}: '
               f'{" ".join(str(error).split())}.')


def _chain(error: BaseException | None) -> Iterator[BaseException]:
  """``error`` and the exceptions it was raised from, outermost first."""
  while error is not None:
    yield error
    error = error.__cause__ or error.__context__


def parse_config_flags(flag_values, argv: list[str]) -> list[str]:
  """``flag_values(argv)``, with the config's mistakes said in one line, where ml_collections
  gives a traceback: a misspelt override (ConfigError naming the nearest field), a
  ``--config`` file that is missing (for ml_collections, only once the config is first used),
  not Python, or whose ``get_config`` raises (ConfigFileError naming it)."""
  check_override_names(argv[1:])
  files = _config_files(flag_values, argv)
  for name, path in files:
    if not path.is_file():
      raise ConfigFileError(f'the config file {path} (--{name}) '
                            f'{"is not a file" if path.exists() else "does not exist"}.')
  paths = [path for _, path in files]
  try:
    return flag_values(argv)
  except flags.Error as error:  # absl keeps a ValueError or TypeError of get_config as text
    if 'Error whilst parsing config file' not in str(error):
      raise
    raise ConfigFileError.from_loading(error, paths) from error
  except Exception as error:
    raise ConfigFileError.from_loading(error, paths) from error


def _config_files(flag_values, argv: list[str]) -> list[tuple[str, Path]]:
  """(flag name, file) of each config-file flag given in ``argv`` (``path[:variant]``)."""
  names = [name for name in flag_values if hasattr(type(flag_values[name]), 'config_filename')]
  files = []
  for i, arg in enumerate(argv):
    for name in names:
      if arg.startswith(f'--{name}='):
        files.append((name, Path(arg.split('=', 1)[1].split(':', 1)[0])))
      elif arg == f'--{name}' and i + 1 < len(argv):
        files.append((name, Path(argv[i + 1].split(':', 1)[0])))
  return files


def parse_flags(argv: Sequence[str]) -> list[str]:
  """absl's flag parsing, with a wrong flag or value as one line and exit status 2.

  The config's own mistakes (a misspelt ``--config.<section>.<field>``, a config file that
  cannot be loaded) are found by :func:`parse_config_flags`.
  """
  try:
    return parse_config_flags(flags.FLAGS, argv)
  except (errors.UsageError, flags.Error) as error:
    if errors.show_tracebacks():
      traceback.print_exc()
    # absl may put a whole traceback in the message: its first line says which flag, its
    # last what went wrong.
    lines = [line for line in str(error).splitlines() if line.strip()]
    said = lines[0] if len(lines) < 2 else f'{lines[0]} {lines[-1].strip()}'
    print(f'error: {said}', file=sys.stderr)
    print(f'Pass --help to see the flags of {Path(argv[0]).name}.', file=sys.stderr)
    sys.exit(errors.USAGE_STATUS)


# Allocations between two collections of the youngest generation; Python's default is 700.
_YOUNG_GENERATION_THRESHOLD = 10_000


def _collect_garbage_less_often() -> None:
  """Importing TensorFlow, JAX and their libraries, and tracing a network with JAX, create
  millions of objects that live as long as the process; at Python's default threshold the
  collector runs over a thousand times while a command starts and finds almost nothing to
  free. With 10,000 it runs about a hundred times: an 8-step smoke run spent 1.4–1.6 of its 12–13.5
  CPU-seconds collecting, and 0.6 this way (2-core AMD EPYC; Python 3.11)."""
  gc.set_threshold(_YOUNG_GENERATION_THRESHOLD, *gc.get_threshold()[1:])


def run(main: Callable[[Sequence[str]], None], argv: Sequence[str] | None = None) -> None:
  """Runs a command's ``main`` (given the arguments absl leaves) as described above."""
  _collect_garbage_less_often()
  app.run(reported(main), argv=argv, flags_parser=parse_flags)
