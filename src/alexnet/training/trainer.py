"""The training loop: data, steps, evaluation, the plateau rule, logs, checkpoints and stopping.

Running the same command with the same workdir resumes from the latest
readable checkpoint and continues exactly as an uninterrupted run would: the
data stream, the dropout masks and the learning rate are functions of the step
(and of the plateau rule's state, which the checkpoint holds), and on a CPU the
final parameters are bitwise identical (tests/test_lifecycle.py stops runs with
SIGKILL, SIGTERM and SIGINT to check this).

A run has three phases:

1. **Deciding** (:meth:`Trainer.__init__`): the config is checked, the mesh built, the
   workdir's lock taken, the config compared with the one the workdir's checkpoints were
   made with, the data prepared, the latest checkpoint verified and restored. Whatever
   refuses the run refuses it here, and the workdir is left byte for byte as it was.
2. **Committing** (start of :meth:`Trainer.run`): config.json, with any change of a
   field allowed on resume; metrics.jsonl cut back to the restored step.
3. **Training**: SIGTERM or SIGINT stop it at the next step boundary (or between
   evaluation batches) with a checkpoint of that step (:mod:`alexnet.run.stopping`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import functools
import json
import logging
import resource
import time
from pathlib import Path

import jax
import ml_collections
import numpy as np
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from alexnet import config as config_lib
from alexnet import errors
from alexnet.data import preparation
from alexnet.data.dataset import Dataset
from alexnet.model import parallel
from alexnet.run import console, stopping
from alexnet.training import optim, profiling, steps
from alexnet.run.checkpoint import Checkpoints
from alexnet.training.metrics import MetricsWriter
from alexnet.run.workdir import Workdir


class NonFiniteError(errors.RunFailure):
  """The loss or the gradients became NaN or infinite."""


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
    total = (config.train.num_steps if config.train.num_steps > 0
             else max(1, round(config.train.num_epochs * steps_per_epoch)))
    every = max(1, round(config.train.eval_every_epochs * steps_per_epoch))
    return cls(steps_per_epoch, total, every)

  def evaluates_at(self, done: int) -> bool:
    """Whether the run evaluates after step ``done`` (every ``eval_every_steps``, and last)."""
    return done % self.eval_every_steps == 0 or done == self.total_steps


def make_plateau(optim_config: config_lib.OptimConfig) -> optim.Plateau:
  return optim.Plateau(patience=optim_config.plateau_patience, factor=optim_config.plateau_factor,
                       max_reductions=optim_config.plateau_max_reductions,
                       min_improvement=optim_config.plateau_min_improvement)


def device_memory_gib() -> float | None:
  """Peak memory of the first local device, or None where the backend does not report it."""
  stats = jax.local_devices()[0].memory_stats() or {}
  peak = stats.get('peak_bytes_in_use')
  return None if peak is None else peak / 2**30


def host_memory_gib() -> float:
  """Peak resident memory of this process (Linux reports KiB)."""
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def nothing_waits_for_the_device():
  """The part of every training step between two logged steps runs under this guard: no
  implicit transfer between host and device, so the host never waits for the device there
  and queues the next batch's transfer and step while the device computes.

  The batch is assembled just before (``parallel.global_batch``, which multi-host JAX
  counts as implicit) and the learning rate goes by an explicit ``device_put``; it is read
  from a table computed once (:func:`alexnet.training.optim.base_rates`).
  On a GPU or TPU the guard stops any implicit read-back; on the CPU, where JAX does not
  count reading a result as a transfer, it still stops any device computation on host
  numbers in the loop (its inputs' implicit transfers), the way such syncs come.
  """
  return jax.transfer_guard('disallow')


def _shown(value) -> str:
  return repr(value) if isinstance(value, str) else f'{value:g}' if isinstance(
      value, float) else str(value)


def _crops(crops: int) -> str:
  return 'centre crop' if crops == 1 else f'{crops} crops'


class Trainer:
  """One run of a config in a workdir: decided (set up or resumed) once, then trained to the end.

  Constructing it decides (phase 1 above) and holds the workdir's lock; :meth:`run`
  releases it when the run ends, however it ends.
  """

  def __init__(self, config: ml_collections.ConfigDict, workdir: str | Path):
    self.given_config = config  # as the user wrote it, for config.json
    self.config = config_lib.validate(config)
    self.mesh = parallel.mesh_for(self.config.model.towers, self.config.mesh.data,
                                  self.config.mesh.model)
    parallel.check_batch(self.config.train.batch_size, self.mesh)
    parallel.check_batch(self.config.train.eval_batch_size, self.mesh)
    self.process, self.processes = jax.process_index(), jax.process_count()
    self.workdir = Workdir(workdir)
    self.lock = self.workdir.lock() if self.process == 0 else None
    self.checkpoints: Checkpoints | None = None
    try:
      self._decide()
    except BaseException:
      if self.checkpoints is not None:
        self.checkpoints.close()
      self._release(undo=True)
      raise

  # --- Phase 1: deciding, without writing to the workdir ---------------------------------

  def _decide(self) -> None:
    refusal = None
    try:  # the decisions each process takes alone, without collectives
      if self.lock:
        self.lock.acquire()
      self.allowed_changes = self._compare_with_the_runs_config()
      self.dataset = self._prepare_data()
      self.info = self.dataset.info
      self.length = RunLength.of(self.config, self.info.train_examples)
      self._refuse_a_length_below_the_trained_steps()
    except (errors.UsageError, errors.Stopped) as error:
      refusal = error
    if not parallel.all_processes_agree(refusal is None):
      raise refusal or errors.UsageError('another process of this run refused to start it; '
                                         'its output says why.')
    self.finished = self._final_record_of_a_finished_run()
    if self.finished:
      return
    self.net = parallel.ShardedAlexNet(self.config.model, self.mesh)
    self.tx = optim.make_optimizer(self.config.optim)
    self.base_rates = optim.base_rates(self.config.optim, self.length.steps_per_epoch,
                                       self.length.total_steps)
    self.plateau = make_plateau(self.config.optim)
    self.checkpoints = Checkpoints(self.workdir, keep=self.config.train.keep_checkpoints)
    restored = self.checkpoints.restore(steps.abstract_train_state(self.net, self.tx))
    if restored is None:
      self.state, progress = steps.create_train_state(self.net, self.tx,
                                                      seed=self.config.seed), None
    else:
      self.state, progress = restored
      self.plateau.load_state_dict(progress['plateau'])
    self.resumed = restored is not None
    self.start_step = int(self.state.step)
    # A stop during the evaluation of a step saves that step without its evaluation,
    # which the resumed run then does first, as the uninterrupted run did.
    self.evaluation_pending = (progress is not None and progress.get('evaluation') is None
                               and self.length.evaluates_at(self.start_step))
    if stopping.reached_sync_point():
      raise stopping.StopRequested(f'before training began (at step {self.start_step})',
                                   stopping.stop_signal())
    device = self.dataset.device
    self.train_step = steps.make_train_step(self.net, self.tx, device.train_images)
    self.eval_steps = {crops: steps.make_eval_step(
        self.net, functools.partial(device.eval_images, crops=crops))
        for crops in {1, self.config.data.eval_crops}}
    self.replicated = NamedSharding(self.mesh, P())
    self.latest_evaluation: dict | None = None

  def _compare_with_the_runs_config(self) -> dict:
    """{field: (then, now)} the resume changes; refuses fields that must stay as they were.

    Only a workdir with checkpoints has a run to resume; otherwise the run starts afresh.
    """
    if not (self.workdir.checkpoint_steps() and self.workdir.has_config()):
      return {}
    try:
      started = config_lib.RunConfig.from_mapping(self.workdir.read_config())
    except config_lib.ConfigError as error:
      raise ResumeMismatchError(f'the config.json of {self.workdir.path} is not a config this '
                                f'version can resume ({error}); use a new --workdir.') from None
    refused, allowed = config_lib.resume_differences(started, self.config)
    if refused:
      listed = '; '.join(f'{name}: the run has {_shown(then)}, this command {_shown(now)}'
                         for name, (then, now) in refused.items())
      raise ResumeMismatchError(
          f'this config cannot resume the run in {self.workdir.path}: {listed}. These fields '
          'decide what its checkpoints and steps mean (the network, the batch, the training '
          'data and its augmentation, the update rule, the seed). Rerun with the run\'s values '
          '(its config.json has them), or give a new --workdir to start another run. Fields '
          'that may change on resume: learning rate and schedule, the number of steps, '
          'evaluation, logging and checkpoint intervals, the mesh, the data\'s location.')
    return allowed

  def _prepare_data(self) -> Dataset:
    dataset = preparation.prepare(self.config.data, self.config.model)
    info = dataset.info
    config_lib.require(self.config.model.num_classes == info.num_classes, 'model.num_classes',
                       self.config.model.num_classes,
                       f'{info.num_classes}, the classes of {info.tfds_name}')
    if info.skipped_images:
      logging.warning('%d unreadable images were skipped when %s was prepared.',
                      info.skipped_images, info.tfds_name)
    return dataset

  def _refuse_a_length_below_the_trained_steps(self) -> None:
    """A run cannot be shortened below what it has trained: its checkpoint would be past
    the end, and its final test would be labelled with a step it is not at."""
    saved = self.workdir.checkpoint_steps()
    if saved and saved[-1] > self.length.total_steps:
      train_config = self.config.train
      asked = (f'train.num_steps={train_config.num_steps}' if train_config.num_steps > 0 else
               f'train.num_epochs={train_config.num_epochs} ({self.length.total_steps} steps)')
      raise config_lib.ConfigError(
          f'{asked} is below the {saved[-1]} steps this run has already trained (its latest '
          f'checkpoint, in {self.workdir.checkpoints_dir}): ask for at least {saved[-1]} '
          'steps, or give the shorter run another --workdir.')

  def _final_record_of_a_finished_run(self) -> dict | None:
    saved = self.workdir.checkpoint_steps()
    if saved and saved[-1] == self.length.total_steps:
      return self.workdir.final_record(step=self.length.total_steps)
    return None

  # --- Phases 2 and 3 -----------------------------------------------------------------------

  def run(self) -> dict:
    """Trains from the start (or resumed) step to the end; returns the final evaluation.

    Whatever happens, started checkpoint saves are finished and the lock released before
    it returns or raises.
    """
    if self.finished:
      self._release(undo=True)
      return self._report_finished()
    try:
      self._commit()
      started = time.perf_counter()
      if self.evaluation_pending:
        self.evaluate_pending(self.start_step)
      self.train()
      self.check_finite()
      final = self.final_evaluation(time.perf_counter() - started)
    except BaseException as error:
      self._finish(error)
      raise
    self._finish()
    return final

  def _commit(self) -> None:
    """Phase 2: config.json (with this start's changes) and the logs, from the restored step."""
    changes = self.workdir.read_changes() if self.resumed else []
    if self.allowed_changes:
      changes.append(dict(step=self.start_step,
                          time=datetime.datetime.now().astimezone().isoformat(timespec='seconds'),
                          fields={name: list(values)
                                  for name, values in self.allowed_changes.items()}))
    if self.process == 0:
      self.workdir.write_config(self.given_config, changes)
    self.writer = MetricsWriter(self.workdir, start_step=self.start_step,
                                total_steps=self.length.total_steps, enabled=self.process == 0)
    self.writer.write_text('config', '```\n' + json.dumps(self.config.to_dict(), indent=2)
                           + '\n```', self.start_step)
    self.writer.print(
        f'{self.info.tfds_name}: {self.info.train_examples} training examples, '
        f'{self.info.num_classes} classes; mesh {dict(self.mesh.shape)} over '
        f'{jax.device_count()} {jax.devices()[0].platform} device(s), {self.processes} '
        f'process(es); {self.length.total_steps} steps of {self.config.train.batch_size} '
        f'({self.length.steps_per_epoch} per epoch)'
        + (f'; resumed at step {self.start_step}' if self.resumed else ''))
    if self.allowed_changes:
      self.writer.print('changed on resume, from step {}: {} (recorded in config.json)'.format(
          self.start_step, '; '.join(f'{name} {_shown(then)} → {_shown(now)}'
                                     for name, (then, now) in self.allowed_changes.items())))
    self.last_save_time = time.monotonic()

  def _finish(self, failure: BaseException | None = None) -> None:
    """Waits for the saves, closes the logs, releases the lock, whatever fails on the way.

    A failure here is raised unless the run is already failing for the same reason (a full
    disk fails the pending saves and the log writers too): the first report is the one.
    """
    later = None
    closers = [self.checkpoints.wait, self.checkpoints.close] if self.checkpoints else []
    if hasattr(self, 'writer'):
      closers.append(self.writer.close)
    for close in (*closers, self._release):
      try:
        close()
      except Exception as error:  # noqa: BLE001 - every closer must run; the first is raised
        later = later or error
    if later is not None and not (failure is not None and errors.disk_full_in(failure)
                                  and errors.disk_full_in(later)):
      raise later

  def _release(self, *, undo: bool = False) -> None:
    if self.lock:
      self.lock.release(undo=undo)

  def _report_finished(self) -> dict:
    record = self.finished
    crops = record.get('final_crops', self.config.data.eval_crops)
    print(f'{self.workdir.path}: this run finished at step {record["step"]}; its final '
          f'{self.config.data.final_split} error ({_crops(crops)}) was top-1 '
          f'{100 * record["final_top1_error"]:.2f} %, top-5 {100 * record["final_top5_error"]:.2f}'
          ' %. Nothing to do (train.num_steps or train.num_epochs would extend it; '
          'python -m alexnet.evaluate evaluates it again).', flush=True)
    return {name: record[f'final_{name}'] for name in ('top1_error', 'top5_error', 'loss',
                                                          'examples')}

  def train(self) -> None:
    """The training steps, with their logs, evaluations and checkpoints."""
    config = self.config
    batches = self.dataset.train_batches(global_batch_size=config.train.batch_size,
                                         seed=config.seed, start_step=self.start_step)
    self.last_log = (time.perf_counter(), self.start_step)
    trace = profiling.StepTrace(config.train.profile_range, self.workdir.tensorboard_dir,
                                say=self.writer.print)
    # Closing the batches stops tf.data's threads now rather than at interpreter shutdown.
    with contextlib.closing(batches), trace:
      for step in range(self.start_step, self.length.total_steps):
        # The step's one transfer to the device, issued while the previous step computes.
        batch = parallel.global_batch(next(batches), self.mesh)
        with nothing_waits_for_the_device():
          learning_rate = float(self.base_rates[step]) * self.plateau.scale
          trace.before(step + 1)
          self.state, metrics = self.train_step(
              self.state, batch, jax.device_put(np.float32(learning_rate), self.replicated))
          done = step + 1
          self.writer.advance(done)
        trace.after(done, self.state)
        save_due = done % config.train.checkpoint_every_steps == 0
        if done % config.train.log_every_steps == 0 or done == self.length.total_steps:
          self.log(done, jax.device_get(metrics), learning_rate)
          save_due = save_due or self.checkpoint_time_is_due()
        evaluates = self.length.evaluates_at(done)
        evaluated = evaluates and self.evaluate_during_training(done)
        interrupted = evaluates and not evaluated
        stop = interrupted or stopping.reached_sync_point()
        if evaluates or save_due or stop:
          self.save(done, with_evaluation=evaluated)
        if stop:
          raise self._stop_request(done, during_evaluation=interrupted)

  def checkpoint_time_is_due(self) -> bool:
    """``train.checkpoint_every_minutes`` since the last save, on process 0's clock."""
    minutes = self.config.train.checkpoint_every_minutes
    due = minutes > 0 and time.monotonic() - self.last_save_time >= 60 * minutes
    return parallel.from_process_0(due)

  def _stop_request(self, step: int, *, during_evaluation: bool) -> stopping.StopRequested:
    where = f'at step {step}'
    if during_evaluation:
      where += ', during its evaluation (a resumed run evaluates that step first)'
    if self.processes > 1:  # the stop was agreed at a sync point (stopping.py)
      where += ", with the run's other processes,"
    return stopping.StopRequested(where, stopping.stop_signal())

  def log(self, done: int, metrics: dict, learning_rate: float) -> None:
    """The training record of step ``done``: a sync point, so also the NaN check."""
    self.check_finite()
    now = time.perf_counter()
    last_time, last_step = self.last_log
    self.last_log = (now, done)
    record = dict(epoch=done / self.length.steps_per_epoch, loss=float(metrics['loss']),
                  train_top1_error=float(metrics['top1_error']),
                  grad_norm=float(metrics['grad_norm']), learning_rate=learning_rate,
                  images_per_second=(done - last_step) * self.config.train.batch_size
                  / (now - last_time),
                  host_memory_gib=host_memory_gib())
    if (device_gib := device_memory_gib()) is not None:
      record['device_memory_gib'] = device_gib
    self.writer.write(done, record)
    self.writer.advance(done, {'loss': f'{record["loss"]:.4f}',
                               'img/s': f'{record["images_per_second"]:,.0f}',
                               'lr': f'{learning_rate:.3g}'})

  def errors_on(self, split: str, crops: int) -> dict[str, float] | None:
    """Errors of the current parameters on ``split``, without dropout; None if stopped midway."""
    batches = self.dataset.eval_batches(split, crops=crops,
                                        global_batch_size=self.config.train.eval_batch_size)
    eval_step = self.eval_steps[crops]
    progress = console.Progress(f'evaluating {split} ({_crops(crops)}):',
                                self.dataset.split_examples(split), unit='image',
                                enabled=self.process == 0)
    try:
      return steps.evaluate_batches(eval_step, self.state.params, batches, self.mesh,
                                    progress)
    finally:
      progress.clear()

  def evaluate_during_training(self, done: int) -> bool:
    """Centre-crop errors, which also drive the plateau rule (§5); False if stopped midway."""
    self.check_finite()
    split = self.config.data.eval_split
    evaluation = self.errors_on(split, crops=1)
    if evaluation is None:
      return False
    self.latest_evaluation = evaluation
    self.writer.print(f'step {done} (epoch {done / self.length.steps_per_epoch:.3g}): {split} '
                      f'error ({_crops(1)}) top-1 {100 * evaluation["top1_error"]:.2f} %, '
                      f'top-5 {100 * evaluation["top5_error"]:.2f} %, '
                      f'loss {evaluation["loss"]:.4f}')
    if (self.config.optim.schedule == 'plateau'
        and self.plateau.update(self.latest_evaluation['top1_error'])):
      self.writer.print(f'step {done}: {split} top-1 error stopped improving; learning rate '
                        f'divided by {1 / self.plateau.factor:g} ({self.plateau.reductions} of '
                        f'{self.plateau.max_reductions})')
    self.writer.write(done, {f'eval_{k}': v for k, v in self.latest_evaluation.items()})
    return True

  def evaluate_pending(self, step: int) -> None:
    """The evaluation of the restored step, which a stop cut short; then its checkpoint again,
    now ranked by it as the uninterrupted run's was."""
    if not self.evaluate_during_training(step):
      raise self._stop_request(step, during_evaluation=True)
    self.save(step, with_evaluation=True, replace=True)

  def final_passes(self) -> dict[str, tuple[str, int]]:
    """The final evaluation's passes, {record prefix: (split, crops)}: the test with the
    config's crops (§4.1: 10); the centre crop alone beside it, the view training saw; and
    ``data.train_eval_split`` measured as the test is, for the generalisation gap."""
    data_config = self.config.data
    passes = {'final': (data_config.final_split, data_config.eval_crops)}
    if data_config.eval_crops > 1:
      passes['final_centre'] = (data_config.final_split, 1)
    if data_config.train_eval_split:
      passes['final_train'] = (data_config.train_eval_split, 1)
    return passes

  def final_evaluation(self, train_seconds: float) -> dict:
    """The test of the finished run (:meth:`final_passes`), recorded once."""
    total = self.length.total_steps
    record, final = {}, None
    for prefix, (split, crops) in self.final_passes().items():
      result = self.errors_on(split, crops)
      if result is None:
        raise stopping.StopRequested(f'during the final evaluation (step {total} is saved)',
                                     stopping.stop_signal())
      final = final or result
      record |= {f'{prefix}_{k}': v for k, v in result.items()}
    self.writer.write(total, record | {'final_crops': self.config.data.eval_crops,
                                       'train_seconds': train_seconds})
    if self.start_step < total:
      minutes, seconds = divmod(round(train_seconds), 60)
      self.writer.print(f'training (steps {self.start_step + 1}–{total}) took {minutes} min '
                        f'{seconds} s, compilation, evaluations and checkpoints included')
    for prefix, (split, crops) in self.final_passes().items():
      top1, top5 = (100 * record[f'{prefix}_top{k}_error'] for k in (1, 5))
      self.writer.print(f'final {split} error ({_crops(crops)}): top-1 {top1:.2f} %, top-5 '
                        f'{top5:.2f} % on {record[f"{prefix}_examples"]} images')
    return final

  def save(self, done: int, *, with_evaluation: bool, replace: bool = False) -> None:
    """An asynchronous checkpoint; ranked for "best" when it follows an evaluation."""
    self.check_finite()
    progress = dict(plateau=self.plateau.state_dict(), epoch=done / self.length.steps_per_epoch,
                    evaluation=self.latest_evaluation if with_evaluation else None)
    self.checkpoints.save(done, self.state, progress,
                          metrics={'top1_error': self.latest_evaluation['top1_error']}
                          if with_evaluation else None, replace=replace)
    self.last_save_time = time.monotonic()

  def check_finite(self) -> None:
    """Stops the run if a step's loss or gradients were NaN or infinite."""
    bad_step = int(self.state.nonfinite_step)
    if bad_step >= 0:
      self.checkpoints.wait()  # the saves already started are of good states
      kept = self.checkpoints.steps()
      raise NonFiniteError(
          f'The loss or the gradients became NaN or infinite at step {bad_step}; training '
          f'stopped. The last good checkpoint is step {kept[-1] if kept else "(none)"} in '
          f'{self.checkpoints.directory}. Try a lower optim.learning_rate or model.init.')


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str | Path) -> dict:
  """Trains (or resumes) the run of ``config`` in ``workdir``; returns the final evaluation.

  SIGTERM and SIGINT stop it cleanly while it runs (:mod:`alexnet.run.stopping`).
  """
  with stopping.handled():
    return Trainer(config, workdir).run()
