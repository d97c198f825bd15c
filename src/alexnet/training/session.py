"""A run's hold on its workdir, from the lock to the last save: a :class:`Session`.

Inside a session the trainer takes the lock (:meth:`Session.lock`, process 0 alone),
decides what the run is (:func:`alexnet.training.plan.decide`), opens and restores the
checkpoints and commits the start (:meth:`Session.commit`: config.json, the logs) before
the first step. However the ``with`` block ends, the session then waits for the saves it
started, closes the logs and releases the lock; a run that ended before it committed (a
refusal, a stop, a run already finished) leaves the workdir byte for byte as it found it.
"""

from __future__ import annotations

import datetime
from typing import Any

import jax

from alexnet import config as config_lib
from alexnet import errors
from alexnet.run.checkpoint import Checkpoints
from alexnet.run.workdir import Workdir, WorkdirLock
from alexnet.training.metrics import MetricsWriter


class Session:
  """The lock, the checkpoints and the logs of one start of a run, released together."""

  def __init__(self, workdir: Workdir):
    self.workdir = workdir
    self.checkpoints: Checkpoints | None = None
    self.writer: MetricsWriter | None = None
    self._lock: WorkdirLock | None = None
    self._committed = False

  def __enter__(self) -> Session:
    return self

  def lock(self) -> None:
    """Takes the workdir's lock in process 0 (the other processes write nothing there)."""
    if jax.process_index() == 0:
      self._lock = self.workdir.lock()
      self._lock.acquire()

  def open_checkpoints(self, keep: int) -> Checkpoints:
    self.checkpoints = Checkpoints.open(self.workdir, keep=keep)
    return self.checkpoints

  def commit(self, config: config_lib.RunConfig, changes: dict[str, tuple[Any, Any]], *,
             start_step: int, total_steps: int, resumed: bool) -> MetricsWriter:
    """config.json, with this start's ``changes`` recorded; the logs, cut back to
    ``start_step`` (a resumed run computes the steps after its checkpoint again)."""
    self._committed = True
    history = self.workdir.read_changes() if resumed else []
    if changes:
      history.append(
          dict(step=start_step,
               time=datetime.datetime.now().astimezone().isoformat(timespec='seconds'),
               fields={name: list(values) for name, values in changes.items()}))
    process_0 = jax.process_index() == 0
    if process_0:
      self.workdir.write_config(config.to_dict(), history)
    self.writer = MetricsWriter.open(self.workdir, start_step=start_step, total_steps=total_steps,
                                     enabled=process_0)
    return self.writer

  def __exit__(self, kind, failure: BaseException | None, traceback) -> None:
    """Waits for the saves, closes the logs, releases the lock, whatever fails on the way.

    A failure here is raised unless the run is already failing for the same reason (a full
    disk fails the pending saves and the log writers too): the first report is the one.
    """
    later = None
    closers = [self.checkpoints.wait, self.checkpoints.close] if self.checkpoints else []
    if self.writer is not None:
      closers.append(self.writer.close)
    for close in (*closers, self._release):
      try:
        close()
      except Exception as error:  # noqa: BLE001 - every closer must run; the first is raised
        later = later or error
    if later is not None and not (failure is not None and errors.disk_full_in(failure)
                                  and errors.disk_full_in(later)):
      raise later

  def _release(self) -> None:
    if self._lock is not None:
      self._lock.release(undo=not self._committed)
