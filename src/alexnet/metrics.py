"""Where a run's numbers go: metrics.jsonl, TensorBoard and a console progress bar.

Only process 0 writes. A resumed run first drops the lines of ``metrics.jsonl``
written after its checkpoint (those steps are computed again, identically), and
TensorBoard is told to purge the events after it, so every step appears once.
"""

from __future__ import annotations

import json
import math
import time

import tensorboardX
import tqdm

from alexnet import errors
from alexnet.workdir import Workdir


class MetricsWriter:
  """Writes training and evaluation records of one run, from process 0 only."""

  def __init__(self, workdir: Workdir, *, start_step: int, total_steps: int, enabled: bool):
    self.enabled = enabled
    self.path = workdir.metrics_file
    if not enabled:
      return
    if self.path.exists():  # left by a run that stopped after its last checkpoint
      kept = [line for line in self.path.read_text().splitlines()
              if line.strip() and json.loads(line)['step'] <= start_step]
      self.path.write_text(''.join(line + '\n' for line in kept))
    self.tensorboard = tensorboardX.SummaryWriter(str(workdir.tensorboard_dir),
                                                  purge_step=start_step)
    self.bar = tqdm.tqdm(total=total_steps, initial=start_step, unit='step', dynamic_ncols=True,
                         mininterval=2.0, smoothing=0.1)

  def write(self, step: int, record: dict[str, float | int]) -> None:
    """Appends one record (plain numbers) for ``step`` to every sink."""
    if not self.enabled:
      return
    clean = {key: (value if not isinstance(value, float) or math.isfinite(value) else str(value))
             for key, value in record.items()}
    try:
      with self.path.open('a') as f:
        f.write(json.dumps({'step': step, 'time': round(time.time(), 3), **clean}) + '\n')
      for key, value in record.items():
        if isinstance(value, (int, float)) and key not in ('epoch',):
          self.tensorboard.add_scalar(key, value, step)
      self.tensorboard.flush()
    except OSError as error:
      if errors.disk_full_in(error):
        raise errors.DiskFullError(self.path.parent, f'the logs of step {step}') from error
      raise

  def advance(self, steps: int, **postfix: float) -> None:
    """Moves the progress bar on and shows the latest loss, img/s and learning rate."""
    if not self.enabled:
      return
    self.bar.update(steps)
    if postfix:
      self.bar.set_postfix({k: f'{v:.4g}' for k, v in postfix.items()}, refresh=False)

  def print(self, message: str) -> None:
    """A line on the console that does not break the progress bar."""
    if self.enabled:
      tqdm.tqdm.write(message)

  def close(self) -> None:
    if self.enabled:
      self.bar.close()
      self.tensorboard.close()
