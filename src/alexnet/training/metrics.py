"""Where a run's numbers go: metrics.jsonl, TensorBoard and the console.

Only process 0 writes. A resumed run first drops the lines of ``metrics.jsonl``
written after its checkpoint (those steps are computed again, identically), and
TensorBoard is told to purge the events after it, so every step appears once.

``metrics.jsonl`` keeps every field of every record (:mod:`alexnet.run.records` defines
them). TensorBoard gets the numbers that change, grouped by what they measure
(:func:`~alexnet.run.records.tensorboard_tag`): ``train/…`` (the logged training steps:
loss, top-1 error of the augmented batch, gradient norm, learning rate, img/s, memory),
``eval/…`` (the centre-crop evaluations during training) and ``final/…`` (the final test;
``final/centre_…`` its centre crop alone, ``final/train_…`` the training images measured
as the test is); the run's config is its text. Counts that do not change (images
evaluated, crops) and the epoch (the step axis says it) are not scalars.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from pathlib import Path

import tensorboardX

from alexnet import errors
from alexnet.run import console, records
from alexnet.run.workdir import DamagedMetricsError, Workdir


class MetricsWriter:
  """Writes training and evaluation records of one run, from process 0 only."""

  def __init__(self, path: Path, tensorboard: tensorboardX.SummaryWriter | None,
               progress: console.Progress | None):
    self.path, self.tensorboard, self.progress = path, tensorboard, progress
    self.enabled = tensorboard is not None

  @classmethod
  def open(cls, workdir: Workdir, *, start_step: int, total_steps: int,
           enabled: bool) -> MetricsWriter:
    """The logs of a run (re)started at ``start_step``: metrics.jsonl cut back to it, and
    TensorBoard told to purge what came after. A writer not ``enabled`` writes nothing."""
    path = workdir.metrics_file
    if not enabled:
      return cls(path, None, None)
    if path.exists():  # left by a run that stopped after its last checkpoint
      kept = [line for line, record in cls._readable_lines(workdir) if record['step'] <= start_step]
      path.write_text(''.join(line + '\n' for line in kept))
    tensorboard = tensorboardX.SummaryWriter(str(workdir.tensorboard_dir), purge_step=start_step)
    return cls(path, tensorboard, console.Progress('step', total_steps, unit='step',
                                                   done=start_step))

  @staticmethod
  def _readable_lines(workdir: Workdir) -> list[tuple[str, dict]]:
    """The records a resumed run keeps; a damaged line is left out, the file copied first."""
    try:
      return workdir.metrics_lines()
    except DamagedMetricsError as error:
      copy = workdir.keep_damaged_metrics()
      print(
          f'warning: {str(error).split(";")[0]}: left out; the file as it was is kept as '
          f'{copy}.', flush=True)
      return workdir.metrics_lines(leave_out_damaged=True)

  def write(self, step: int, record: dict[str, float | int]) -> None:
    """Appends one record (plain numbers) for ``step`` to every sink."""
    if not self.enabled:
      return
    clean = {
        key: (value if not isinstance(value, float) or math.isfinite(value) else str(value))
        for key, value in record.items()
    }
    try:
      with self.path.open('a') as f:
        f.write(json.dumps({'step': step, 'time': round(time.time(), 3), **clean}) + '\n')
      for key, value in record.items():
        tag = records.tensorboard_tag(key)
        if tag is not None and isinstance(value, (int, float)):
          self.tensorboard.add_scalar(tag, value, step)
      self.tensorboard.flush()
    except OSError as error:
      if errors.disk_full_in(error):
        raise errors.DiskFullError(self.path.parent, f'the logs of step {step}') from error
      raise

  def write_text(self, tag: str, markdown: str, step: int) -> None:
    """A text card in TensorBoard (the config of a run), not a scalar."""
    if self.enabled:
      self.tensorboard.add_text(tag, markdown, step)
      self.tensorboard.flush()

  def advance(self, done: int, stats: Mapping[str, str] | None = None) -> None:
    """The console's progress line: ``done`` steps, and the latest loss, img/s and rate."""
    if self.enabled:
      self.progress.update(done, **(stats or {}))

  def print(self, message: str) -> None:
    """A line on the console, above the progress line."""
    if self.enabled:
      self.progress.print(message)

  def close(self) -> None:
    if self.enabled:
      self.progress.close()
      self.tensorboard.close()
