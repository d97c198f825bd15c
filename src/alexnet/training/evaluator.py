"""Evaluation: the errors of a network's parameters on a split, and the final test's passes.

Every evaluation runs without dropout, on the centre crop or on §4.1's ten patches
(averaging their softmax), over one pass of the split; a stop requested during the pass
cuts it short (every process looks at the same batch boundaries).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from jax.sharding import Mesh

from alexnet import config as config_lib
from alexnet.data.dataset import Dataset
from alexnet.model import parallel
from alexnet.run import console, records, stopping
from alexnet.training import steps


def crops_name(crops: int) -> str:
  return 'centre crop' if crops == 1 else f'{crops} crops'


def final_passes(data_config: config_lib.DataConfig) -> dict[str, tuple[str, int]]:
  """The final evaluation's passes, {record pass: (split, crops)}: the test with the
  config's crops (§4.1: 10); the centre crop alone beside it, the view training saw; and
  ``data.train_eval_split`` measured as the test is, for the generalisation gap."""
  passes = {records.FINAL: (data_config.final_split, data_config.eval_crops)}
  if data_config.eval_crops > 1:
    passes[records.FINAL_CENTRE] = (data_config.final_split, 1)
  if data_config.train_eval_split:
    passes[records.FINAL_TRAIN] = (data_config.train_eval_split, 1)
  return passes


class Evaluator:
  """Errors of parameters on any split of the dataset, its steps compiled on first use."""

  def __init__(self, dataset: Dataset, net: parallel.ShardedAlexNet, mesh: Mesh, *, batch_size: int,
               show_progress: bool):
    self.dataset, self.net, self.mesh = dataset, net, mesh
    self.batch_size, self.show_progress = batch_size, show_progress
    self._eval_steps: dict[int, Callable] = {}

  def _eval_step(self, crops: int) -> Callable:
    if crops not in self._eval_steps:
      self._eval_steps[crops] = steps.make_eval_step(
          self.net, functools.partial(self.dataset.device.eval_images, crops=crops))
    return self._eval_steps[crops]

  def errors_on(self, params, split: str, crops: int) -> dict[str, float] | None:
    """:data:`~alexnet.run.records.EVALUATION_FIELDS` of ``params`` on ``split``; None if
    a stop was requested midway."""
    batches = self.dataset.eval_batches(split, crops=crops, global_batch_size=self.batch_size)
    progress = console.Progress(f'evaluating {split} ({crops_name(crops)}):',
                                self.dataset.split_examples(split), unit='image',
                                enabled=self.show_progress)
    try:
      return steps.evaluate_batches(self._eval_step(crops), params, batches, self.mesh, progress)
    finally:
      progress.clear()

  def final_test(self, params, data_config: config_lib.DataConfig,
                 step: int) -> dict[str, dict[str, float]]:
    """{record pass: errors} of every :func:`final_passes` pass of the run at ``step``."""
    results = {}
    for evaluation_pass, (split, crops) in final_passes(data_config).items():
      result = self.errors_on(params, split, crops)
      if result is None:
        raise stopping.StopRequested(f'during the final evaluation (step {step} is saved)',
                                     stopping.stop_signal())
      results[evaluation_pass] = result
    return results
