"""alexnet/run/stopping.py: SIGTERM and Ctrl-C only ask a run to stop, where it can save first.

The signals are raised in this process, inside ``stopping.handled()``, as a scheduler or a
person sends them to a trainer; test_lifecycle.py sends them to real trainers.
"""

import signal
import threading

import pytest

from alexnet import errors
from alexnet.run import stopping


def test_sigterm_inside_a_run_is_only_a_request_which_check_turns_into_the_stop_line():
  with stopping.handled():
    assert stopping.requested() is None
    stopping.check('while preparing Fashion-MNIST')  # nothing asked: goes on
    signal.raise_signal(signal.SIGTERM)
    assert stopping.requested() == signal.SIGTERM  # still running: the signal only asked
    with pytest.raises(stopping.StopRequested) as raised:
      stopping.check('while preparing Fashion-MNIST')
  assert str(raised.value) == ('stopped while preparing Fashion-MNIST by SIGTERM; rerun the same '
                               'command to resume')
  assert errors.exit_status(raised.value) == 128 + signal.SIGTERM  # as a shell reports SIGTERM
  assert errors.one_line(raised.value) == str(raised.value)


@pytest.fixture
def sigint_as_in_a_terminal():
  """Python's own SIGINT handler for the test, as a command started in a terminal has it,
  even when pytest itself runs as a background job, whose SIGINT is ignored (and which the
  run then keeps ignored, as the last test here proves)."""
  previous = signal.signal(signal.SIGINT, signal.default_int_handler)
  yield
  signal.signal(signal.SIGINT, previous)


@pytest.mark.usefixtures('sigint_as_in_a_terminal')
def test_a_single_process_stops_at_the_first_sync_point_after_the_signal(capfd):
  with stopping.handled():
    assert not stopping.reached_sync_point()
    signal.raise_signal(signal.SIGINT)
    assert stopping.reached_sync_point() and stopping.stop_signal() == signal.SIGINT
  assert 'SIGINT received: stopping at the next step boundary after saving a checkpoint (Ctrl-C ' \
         'again to exit at once)' in capfd.readouterr().err


@pytest.mark.usefixtures('sigint_as_in_a_terminal')
def test_after_a_first_ctrl_c_a_second_one_kills_at_once():
  with stopping.handled():
    assert signal.getsignal(signal.SIGINT) is not signal.SIG_DFL
    signal.raise_signal(signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is signal.SIG_DFL  # the next one is not handled
    assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL  # SIGTERM still only asks


def test_the_previous_handlers_come_back_and_the_request_is_forgotten_after_the_run():
  before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
  with stopping.handled():
    signal.raise_signal(signal.SIGTERM)
  assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
  assert stopping.requested() is None
  stopping.check('after the run')  # no request left over for the next run in this process
  assert stopping.stop_signal() == signal.SIGTERM  # what a stop agreed elsewhere is named by


def test_a_signal_ignored_when_the_run_starts_stays_ignored():
  """A background job's children inherit SIGINT ignored; POSIX programs keep it so."""
  previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
  try:
    with stopping.handled():
      assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
      signal.raise_signal(signal.SIGINT)
      assert stopping.requested() is None
  finally:
    signal.signal(signal.SIGINT, previous)


def test_outside_the_main_thread_no_handler_is_installed():
  """Python installs signal handlers only from the main thread; a run elsewhere keeps the
  defaults rather than failing."""
  seen = []

  def run():
    with stopping.handled():
      seen.append((signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)))

  before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
  thread = threading.Thread(target=run)
  thread.start()
  thread.join()
  assert seen == [before]
