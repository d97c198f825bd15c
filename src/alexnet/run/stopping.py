"""Stopping a run cleanly: SIGTERM (preemption) and SIGINT (Ctrl-C) end it at a step boundary.

Clusters stop jobs with SIGTERM (SLURM, Kubernetes) and people with Ctrl-C. Python's
default for either would end the run wherever it is, inside a TensorFlow or orbax thread
as often as not, losing every step since the last checkpoint. While a trainer runs,
both signals only *request* a stop; the trainer looks at the request where it can act on
it — after each training step, between the batches of an evaluation, between the
examples of a dataset preparation — saves a checkpoint of the step it reached and raises
:class:`StopRequested`, which the command line turns into one line and the exit status a
shell expects of that signal (143 for SIGTERM, 130 for SIGINT). A second Ctrl-C exits at
once, without saving.

**Several processes** must stop at the same step, or the one that stops to save would
wait for the others inside a collective. There JAX's preemption service is the source
of truth: its notifier takes SIGTERM, tells every process, and
``multihost_utils.reached_preemption_sync_point`` returns True at the same call on all of
them. A Ctrl-C is handed to it as a SIGTERM to the process itself. The calls are counted
by :func:`reached_sync_point` here — once when the run is set up, once per training step,
once per evaluation batch — which every process makes in the same order. A single process
has no such service and acts on its own request at the same points.

Where processes do not move in step (preparing a dataset, waiting for another process to
prepare it), :func:`check` acts on this process's own request: in a multi-process run
that means Ctrl-C, as SIGTERM belongs to JAX's notifier there.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator

from alexnet import errors

# JAX is imported where it is needed, not here: the input pipeline calls check() and does
# not otherwise load JAX.

SIGNAL_NAMES = {signal.SIGTERM: 'SIGTERM', signal.SIGINT: 'SIGINT'}


class StopRequested(errors.Stopped):
  """The run stopped at a signal's request; the message says where and how to go on."""

  def __init__(self, where: str, signum: int = signal.SIGTERM):
    super().__init__(
        f'stopped {where} by {SIGNAL_NAMES[signum]}; rerun the same command to '
        'resume', exit_status=128 + signum)


_received: int | None = None  # the first signal received while the handlers are installed
_sync_calls = 0  # calls of reached_sync_point in this process


def requested() -> int | None:
  """The signal that asked this process to stop, if one did."""
  return _received


def _processes() -> int:
  import jax

  return jax.process_count()


def _on_signal(signum: int, frame) -> None:
  del frame
  global _received  # noqa: PLW0603 - a signal is the whole process's
  if _received is None:
    _received = signum
    again = ' (Ctrl-C again to exit at once)' if signum == signal.SIGINT else ''
    os.write(
        2, f'\n{SIGNAL_NAMES[signum]} received: stopping at the next step boundary '
        f'after saving a checkpoint{again}\n'.encode())
  if signum == signal.SIGINT:
    # The next Ctrl-C kills at once, even inside a long call into C (a compilation, a
    # save), where a Python handler would wait for the call to return. The checkpoints
    # already on disk are complete: orbax renames a save into place only when it is.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
  if _processes() > 1 and signum == signal.SIGINT:
    os.kill(os.getpid(), signal.SIGTERM)  # to JAX's preemption notifier, which tells the others


@contextlib.contextmanager
def handled() -> Iterator[None]:
  """SIGTERM and SIGINT request a stop while inside; the previous handlers come back after.

  Outside the main thread (where Python cannot install handlers) signals keep their
  default effect, and a signal ignored when the run started stays ignored. With several
  processes SIGTERM is left to JAX's preemption notifier, which ``jax.distributed.initialize``
  installed.
  """
  global _received  # noqa: PLW0603 - a signal is the whole process's
  if threading.current_thread() is not threading.main_thread():
    yield
    return
  signals = [signal.SIGINT] + ([signal.SIGTERM] if _processes() == 1 else [])
  # A signal ignored when the run started (SIGINT in a background job) stays ignored.
  signals = [s for s in signals if signal.getsignal(s) is not signal.SIG_IGN]
  previous = {s: signal.signal(s, _on_signal) for s in signals}
  _received = None
  try:
    yield
  finally:
    for s, handler in previous.items():
      signal.signal(s, handler)
    _received = None


def check(where: str) -> None:
  """Raises StopRequested if this process was asked to stop (for work not done in step)."""
  if _received is not None:
    raise StopRequested(where, _received)


def reached_sync_point() -> bool:
  """Whether to stop here: call at the points every process passes in the same order."""
  global _sync_calls  # noqa: PLW0603 - counted for the whole process
  _sync_calls += 1
  if _processes() == 1:
    return _received is not None
  from jax.experimental import multihost_utils

  return multihost_utils.reached_preemption_sync_point(_sync_calls)


def stop_signal() -> int:
  """The signal to name for a stop agreed at a sync point (another process may have had it)."""
  return _received or signal.SIGTERM
