"""What a person watching a command sees: results as lines, progress as one line that moves.

On a terminal the progress of training, an evaluation or a statistics pass is one line
redrawn in place, and every result is printed above it. Where there is no terminal to
redraw (a batch job's log, a pipe, a terminal that reports a width of 0) a plain progress
line is printed every :data:`PLAIN_INTERVAL_S` seconds instead, so a log shows the run
moving without a line per step.

The rate and the time left are measured from the first update on, not from the start:
the first step of a jitted function includes its compilation (seconds to minutes), which
would otherwise dominate the estimate for the whole run.
"""

from __future__ import annotations

import os
import sys
import time
from typing import TextIO

PLAIN_INTERVAL_S = 30.0  # between progress lines where the line cannot be redrawn
_REDRAW_INTERVAL_S = 0.5


def terminal_width(stream: TextIO) -> int:
  """Columns of the terminal ``stream`` writes to; 0 when it is none, or reports none."""
  try:
    return os.get_terminal_size(stream.fileno()).columns if stream.isatty() else 0
  except (AttributeError, OSError, ValueError):  # no file descriptor (a StringIO), or closed
    return 0


def interactive(stream: TextIO) -> bool:
  """Whether ``stream`` is a terminal a line can be redrawn on."""
  return terminal_width(stream) > 0


def duration(seconds: float) -> str:
  """'1:02:03', '2:03': hours only when there are any."""
  minutes, secs = divmod(round(seconds), 60)
  hours, minutes = divmod(minutes, 60)
  return f'{hours}:{minutes:02d}:{secs:02d}' if hours else f'{minutes}:{secs:02d}'


class Progress:
  """``what`` done out of ``total`` ``unit``s, with the rate and the time left.

  Disabled (``enabled=False``, as on every process but the first), it prints nothing.
  """

  def __init__(self, what: str, total: int, *, unit: str, done: int = 0, enabled: bool = True,
               stream: TextIO | None = None, plain_interval_s: float = PLAIN_INTERVAL_S):
    self.what, self.total, self.unit, self.done = what, total, unit, done
    self.enabled = enabled
    self.stream = stream or sys.stdout
    self.live = enabled and interactive(self.stream)
    self.plain_interval_s = plain_interval_s
    self.stats: dict[str, str] = {}
    self._first: tuple[float, int] | None = None  # (time, done) of the first update
    self._last_shown = time.monotonic()
    self._shown_width = 0  # of the line on the terminal now; 0 = none there
    self._shown_done = None
    if self.live:
      self._show(self._last_shown)  # at once, 'compiling' or 'starting' until the first update

  def update(self, done: int, **stats: str) -> None:
    """Now ``done`` of ``total``; ``stats`` (already formatted) are shown beside it."""
    if not self.enabled:
      return
    now = time.monotonic()
    if self._first is None:
      self._first = (now, done)
    self.done = done
    self.stats.update(stats)
    if self.live:
      if now - self._last_shown >= _REDRAW_INTERVAL_S or done >= self.total:
        self._show(now)
    elif now - self._last_shown >= self.plain_interval_s and done < self.total:
      self._show(now)  # the end is said by the result line that follows

  def line(self, now: float | None = None) -> str:
    """'what 1,234/10,296 (12 %) · loss 0.41 · 30.1 step/s · 5:01 left'."""
    now = time.monotonic() if now is None else now
    parts = [
        f'{self.what} {self.done:,}/{self.total:,} ({100 * self.done / self.total:.0f} %)',
        *(f'{name} {value}' for name, value in self.stats.items())
    ]
    if self._first is not None and self.done > self._first[1] and now > self._first[0]:
      rate = (self.done - self._first[1]) / (now - self._first[0])
      parts.append(f'{rate:,.1f} {self.unit}/s')
      if self.done < self.total:
        parts.append(f'{duration((self.total - self.done) / rate)} left')
    elif self.done < self.total:
      parts.append('compiling' if self.unit == 'step' else 'starting')
    return ' · '.join(parts)

  def print(self, message: str) -> None:
    """A result line, above the progress line."""
    if not self.enabled:
      return
    self.clear()
    print(message, file=self.stream, flush=True)
    if self.live:
      self._show(time.monotonic())

  def close(self) -> None:
    """Leaves the last state on the screen (on a terminal) and moves past it."""
    if self.live and self._shown_width:
      if self._shown_done != self.done:
        self._show(time.monotonic())
      print(file=self.stream, flush=True)
      self._shown_width = 0

  def clear(self) -> None:
    """Removes the progress line from a terminal (a result line or another progress line
    takes its place)."""
    if self.live and self._shown_width:
      self.stream.write('\r' + ' ' * self._shown_width + '\r')
      self.stream.flush()
      self._shown_width = 0

  def _show(self, now: float) -> None:
    self._last_shown, self._shown_done = now, self.done
    text = self.line(now)
    if not self.live:
      print(text, file=self.stream, flush=True)
      return
    text = text[:max(1, terminal_width(self.stream) - 1)]
    self.stream.write('\r' + text + ' ' * max(0, self._shown_width - len(text)))
    self.stream.flush()
    self._shown_width = len(text)
