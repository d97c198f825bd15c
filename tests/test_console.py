"""The console's progress line on a real terminal (a pseudo-terminal), one of width 0, and a
pipe."""

import fcntl
import io
import os
import pty
import struct
import termios
import time

import pytest

from alexnet.run import console


@pytest.fixture
def terminal():
  """A pseudo-terminal: (the stream a program writes to, a function reading what it shows)."""
  leader, follower = pty.openpty()
  stream = os.fdopen(follower, 'w')

  def resize(columns: int) -> None:
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack('HHHH', 24, columns, 0, 0))

  def shown() -> str:
    stream.flush()
    chunks = []
    while True:
      try:
        os.set_blocking(leader, False)
        chunks.append(os.read(leader, 65536).decode())
      except (BlockingIOError, OSError):
        return ''.join(chunks)

  yield stream, resize, shown
  stream.close()
  os.close(leader)


def test_on_a_terminal_the_line_is_redrawn_in_place_and_results_print_above_it(terminal):
  stream, resize, shown = terminal
  resize(100)
  progress = console.Progress('step', 10, unit='step', stream=stream)
  assert progress.live
  for done in range(1, 11):
    progress.update(done, loss='0.5')
    if done == 5:
      progress.print('step 5: test error 12.00 %')
    time.sleep(0.06)
  progress.close()
  output = shown()
  assert '\r' in output and 'step 10/10 (100 %) · loss 0.5' in output
  assert '\nstep 5: test error 12.00 %' in output.replace('\r\n', '\n').replace('\r', '\n')


@pytest.mark.parametrize('where', ['terminal of width 0', 'pipe'])
def test_without_a_terminal_to_redraw_it_prints_plain_lines_at_intervals(terminal, where):
  if where == 'pipe':
    stream = io.StringIO()
    read = stream.getvalue
  else:
    stream, resize, read = terminal
    resize(0)
  progress = console.Progress('step', 100, unit='step', stream=stream, plain_interval_s=0.05)
  assert not progress.live
  for done in range(1, 101):
    progress.update(done)
    time.sleep(0.002)
  lines = [line for line in read().replace('\r\n', '\n').split('\n') if line]
  assert '\r' not in read().replace('\r\n', '\n')
  assert 2 <= len(lines) < 100  # at intervals, not per step
  assert all(line.startswith('step ') and 'step/s' in line and 'left' in line for line in lines)


def test_the_time_left_leaves_out_the_time_before_the_first_step(terminal):
  stream = io.StringIO()
  progress = console.Progress('step', 1000, unit='step', stream=stream)
  time.sleep(1.0)  # compilation: before the first step ends
  progress.update(1)
  time.sleep(0.1)
  progress.update(101)
  # 100 steps in ≈ 0.1 s: ≈ 1,000 step/s and about a second left, not the ≈ 9 s that
  # counting the compilation (≈ 1.1 s for 101 steps) would give.
  line = progress.line()
  rate = float(line.split(' step/s')[0].split(' · ')[-1].replace(',', ''))
  assert rate > 500, line
  assert line.endswith(('0:01 left', '0:00 left')), line
