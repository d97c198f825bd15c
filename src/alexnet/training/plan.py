"""What a run is, decided once before anything is written, then fixed: a :class:`RunPlan`.

:func:`decide` reads the workdir (under its lock, which the
:class:`~alexnet.training.session.Session` takes and holds), compares the config with the
one the workdir's checkpoints were made with, prepares the data and works out how long the
run is. Whatever refuses a run refuses it here, in every process alike, and the workdir is
left byte for byte as it was.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from jax.sharding import Mesh

from alexnet import config as config_lib
from alexnet import errors
from alexnet.data import preparation
from alexnet.data.dataset import Dataset
from alexnet.model import parallel
from alexnet.run.workdir import Workdir
from alexnet.training.session import Session


class ResumeMismatchError(errors.UsageError):
  """The config differs from the run's in fields that decide what its checkpoints mean."""


@dataclasses.dataclass(frozen=True)
class RunLength:
  """How many steps a run takes and when it evaluates, from the config and the dataset."""

  steps_per_epoch: int
  total_steps: int
  eval_every_steps: int

  @classmethod
  def of(cls, config: config_lib.RunConfig, num_train_examples: int) -> RunLength:
    steps_per_epoch = max(1, num_train_examples // config.train.batch_size)
    total = (config.train.num_steps if config.train.num_steps > 0 else max(
        1, round(config.train.num_epochs * steps_per_epoch)))
    every = max(1, round(config.train.eval_every_epochs * steps_per_epoch))
    return cls(steps_per_epoch, total, every)

  def evaluates_at(self, step: int) -> bool:
    """Whether the run evaluates after ``step`` (every ``eval_every_steps``, and the last)."""
    return step % self.eval_every_steps == 0 or step == self.total_steps

  def epoch(self, step: int) -> float:
    return step / self.steps_per_epoch


@dataclasses.dataclass(frozen=True)
class RunPlan:
  """A run as decided: its config, devices, workdir, data and length."""

  config: config_lib.RunConfig
  mesh: Mesh
  workdir: Workdir
  dataset: Dataset
  length: RunLength
  # The fields this start changes from the run's config.json, {field: (then, now)}: only
  # those that may change on resume (config.CHANGEABLE_ON_RESUME).
  changes: dict[str, tuple[Any, Any]]
  # The record of the final test when the run has already trained to its length.
  final_record: dict | None

  def changes_text(self) -> str:
    return '; '.join(
        f'{name} {shown(then)} → {shown(now)}' for name, (then, now) in self.changes.items())


def decide(config: config_lib.RunConfig, mesh: Mesh, session: Session) -> RunPlan:
  """The run of ``config`` in the session's workdir, or the one-line reason it is refused.

  Each process decides alone, without collectives, process 0 under the workdir's lock;
  then they agree, so that a refusal in one (its data, say) stops all of them at one point.
  """
  refusal = plan = None
  workdir = session.workdir
  try:
    session.lock()
    changes = _compare_with_the_runs_config(config, workdir)
    dataset = _prepare_data(config)
    length = RunLength.of(config, dataset.info.train_examples)
    _refuse_a_length_below_the_trained_steps(config, workdir, length)
    plan = RunPlan(config, mesh, workdir, dataset, length, changes,
                   _final_record_of_a_finished_run(workdir, length))
  except (errors.UsageError, errors.Stopped) as error:
    refusal = error
  if not parallel.all_processes_agree(refusal is None):
    raise refusal or errors.UsageError('another process of this run refused to start it; '
                                       'its output says why.')
  return plan


def shown(value) -> str:
  """A config value as the messages show it: strings quoted, floats short."""
  return repr(value) if isinstance(
      value, str) else f'{value:g}' if isinstance(value, float) else str(value)


def _compare_with_the_runs_config(config: config_lib.RunConfig,
                                  workdir: Workdir) -> dict[str, tuple[Any, Any]]:
  """{field: (then, now)} the resume changes; refuses fields that must stay as they were.

  Only a workdir with checkpoints has a run to resume; otherwise the run starts afresh.
  """
  if not (workdir.checkpoint_steps() and workdir.has_config()):
    return {}
  try:
    started = config_lib.RunConfig.from_mapping(workdir.read_config())
  except config_lib.ConfigError as error:
    raise ResumeMismatchError(f'the config.json of {workdir.path} is not a config this '
                              f'version can resume ({error}); use a new --workdir.') from None
  refused, allowed = config_lib.resume_differences(started, config)
  if refused:
    listed = '; '.join(f'{name}: the run has {shown(then)}, this command {shown(now)}'
                       for name, (then, now) in refused.items())
    raise ResumeMismatchError(
        f'this config cannot resume the run in {workdir.path}: {listed}. These fields '
        'decide what its checkpoints and steps mean (the network, the batch, the training '
        'data and its augmentation, the update rule, the seed). Rerun with the run\'s values '
        '(its config.json has them), or give a new --workdir to start another run. Fields '
        'that may change on resume: learning rate and schedule, the number of steps, '
        'evaluation, logging and checkpoint intervals, the mesh, the data\'s location.')
  return allowed


def _prepare_data(config: config_lib.RunConfig) -> Dataset:
  dataset = preparation.prepare(config.data, config.model)
  info = dataset.info
  config_lib.require(config.model.num_classes == info.num_classes, 'model.num_classes',
                     config.model.num_classes,
                     f'{info.num_classes}, the classes of {info.tfds_name}')
  if info.skipped_images:
    logging.warning('%d unreadable images were skipped when %s was prepared.', info.skipped_images,
                    info.tfds_name)
  return dataset


def _refuse_a_length_below_the_trained_steps(config: config_lib.RunConfig, workdir: Workdir,
                                             length: RunLength) -> None:
  """A run cannot be shortened below what it has trained: its checkpoint would be past
  the end, and its final test would be labelled with a step it is not at."""
  saved = workdir.checkpoint_steps()
  if saved and saved[-1] > length.total_steps:
    train_config = config.train
    asked = (f'train.num_steps={train_config.num_steps}' if train_config.num_steps > 0 else
             f'train.num_epochs={train_config.num_epochs} ({length.total_steps} steps)')
    raise config_lib.ConfigError(
        f'{asked} is below the {saved[-1]} steps this run has already trained (its latest '
        f'checkpoint, in {workdir.checkpoints_dir}): ask for at least {saved[-1]} '
        'steps, or give the shorter run another --workdir.')


def _final_record_of_a_finished_run(workdir: Workdir, length: RunLength) -> dict | None:
  saved = workdir.checkpoint_steps()
  if saved and saved[-1] == length.total_steps:
    return workdir.final_record(step=length.total_steps)
  return None
