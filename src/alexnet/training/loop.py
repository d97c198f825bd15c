"""The training loop of a committed run: its steps and their periodic actions.

After each step the loop may log it (``train.log_every_steps``, also the NaN check),
evaluate (``train.eval_every_epochs``, which drives §5's plateau rule), save a checkpoint
(at every evaluation, every ``train.checkpoint_every_steps`` and ``…_minutes``), stop
(SIGTERM or SIGINT, at the next step boundary, with a checkpoint of that step:
:mod:`alexnet.run.stopping`) and profile (``train.profile_steps``). Then it tests the
finished run once (:func:`alexnet.training.evaluator.final_passes`).
"""

from __future__ import annotations

import contextlib
import time

import jax
import numpy as np
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from alexnet import errors
from alexnet.model import parallel
from alexnet.run import records, stopping
from alexnet.run.checkpoint import Checkpoints
from alexnet.training import optim, profiling
from alexnet.training.evaluator import Evaluator, crops_name, final_passes
from alexnet.training.metrics import MetricsWriter
from alexnet.training.plan import RunPlan


class NonFiniteError(errors.RunFailure):
  """The loss or the gradients became NaN or infinite."""


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


def _check_finite(state, checkpoints: Checkpoints) -> None:
  """Stops the run if a step's loss or gradients were NaN or infinite."""
  bad_step = int(state.nonfinite_step)
  if bad_step >= 0:
    checkpoints.wait()  # the saves already started are of good states
    kept = checkpoints.steps()
    raise NonFiniteError(
        f'The loss or the gradients became NaN or infinite at step {bad_step}; training '
        f'stopped. The last good checkpoint is step {kept[-1] if kept else "(none)"} in '
        f'{checkpoints.directory}. Try a lower optim.learning_rate or model.init.')


def _stop_request(step: int, *, during_evaluation: bool) -> stopping.StopRequested:
  where = f'at step {step}'
  if during_evaluation:
    where += ', during its evaluation (a resumed run evaluates that step first)'
  if jax.process_count() > 1:  # the stop was agreed at a sync point (stopping.py)
    where += ", with the run's other processes,"
  return stopping.StopRequested(where, stopping.stop_signal())


class TrainingLoop:
  """Trains a run from its start step to the end; every part it uses is built before."""

  def __init__(self, plan: RunPlan, *, state, train_step, plateau: optim.Plateau,
               evaluator: Evaluator, checkpoints: Checkpoints, writer: MetricsWriter):
    self.plan, self.config, self.length = plan, plan.config, plan.length
    self.state, self.train_step, self.plateau = state, train_step, plateau
    self.evaluator, self.checkpoints, self.writer = evaluator, checkpoints, writer
    self.start_step = int(state.step)
    self.latest_evaluation: dict[str, float] | None = None
    self.last_save_time = time.monotonic()
    self.last_log = (time.perf_counter(), self.start_step)  # (time, step) of the latest log

  def run(self, *, evaluation_pending: bool) -> dict[str, float]:
    """Trains to the end; returns the final test's errors (``data.eval_crops`` crops).

    ``evaluation_pending``: a stop during the evaluation of a step saved that step without
    its evaluation, which the resumed run then does first, as the uninterrupted run did.
    """
    started = time.perf_counter()
    if evaluation_pending:
      self._evaluate_pending(self.start_step)
    self._train()
    _check_finite(self.state, self.checkpoints)
    return self._final_test(time.perf_counter() - started)

  def _train(self) -> None:
    train_config = self.config.train
    base_rates = optim.base_rates(self.config.optim, self.length.steps_per_epoch,
                                  self.length.total_steps)
    replicated = NamedSharding(self.plan.mesh, P())
    batches = self.plan.dataset.train_batches(global_batch_size=train_config.batch_size,
                                              seed=self.config.seed, start_step=self.start_step)
    self.last_log = (time.perf_counter(), self.start_step)
    trace = profiling.StepTrace(train_config.profile_range, self.plan.workdir.tensorboard_dir,
                                say=self.writer.print)
    # Closing the batches stops tf.data's threads now rather than at interpreter shutdown.
    with contextlib.closing(batches), trace:
      for step in range(self.start_step + 1, self.length.total_steps + 1):
        # The step's one transfer to the device, issued while the previous step computes.
        batch = parallel.global_batch(next(batches), self.plan.mesh)
        with nothing_waits_for_the_device():
          learning_rate = float(base_rates[step - 1]) * self.plateau.scale
          trace.before(step)
          self.state, metrics = self.train_step(
              self.state, batch, jax.device_put(np.float32(learning_rate), replicated))
          self.writer.advance(step)
        trace.after(step, self.state)
        self._after_step(step, metrics, learning_rate)

  def _after_step(self, step: int, metrics, learning_rate: float) -> None:
    """The periodic actions after ``step``: log, evaluate, save, stop."""
    save_due = step % self.config.train.checkpoint_every_steps == 0
    if step % self.config.train.log_every_steps == 0 or step == self.length.total_steps:
      self._log(step, jax.device_get(metrics), learning_rate)
      save_due = save_due or self._checkpoint_time_is_due()
    evaluates = self.length.evaluates_at(step)
    evaluated = evaluates and self._evaluate(step)
    interrupted = evaluates and not evaluated
    stop = interrupted or stopping.reached_sync_point()
    if evaluates or save_due or stop:
      self._save(step, with_evaluation=evaluated)
    if stop:
      raise _stop_request(step, during_evaluation=interrupted)

  def _checkpoint_time_is_due(self) -> bool:
    """``train.checkpoint_every_minutes`` since the last save, on process 0's clock."""
    minutes = self.config.train.checkpoint_every_minutes
    due = minutes > 0 and time.monotonic() - self.last_save_time >= 60 * minutes
    return parallel.from_process_0(due)

  def _log(self, step: int, metrics: dict, learning_rate: float) -> None:
    """The training record of ``step``: a sync point, so also the NaN check."""
    _check_finite(self.state, self.checkpoints)
    now = time.perf_counter()
    last_time, last_step = self.last_log
    self.last_log = (now, step)
    images_per_second = (step - last_step) * self.config.train.batch_size / (now - last_time)
    record = records.training(epoch=self.length.epoch(step), loss=float(metrics['loss']),
                              top1_error=float(metrics['top1_error']),
                              grad_norm=float(metrics['grad_norm']), learning_rate=learning_rate,
                              images_per_second=images_per_second,
                              host_memory_gib=profiling.host_memory_gib(),
                              device_memory_gib=profiling.device_memory_gib())
    self.writer.write(step, record)
    self.writer.advance(
        step, {
            'loss': f'{record["loss"]:.4f}', 'img/s': f'{images_per_second:,.0f}',
            'lr': f'{learning_rate:.3g}'
        })

  def _evaluate(self, step: int) -> bool:
    """Centre-crop errors, which also drive the plateau rule (§5); False if stopped midway."""
    _check_finite(self.state, self.checkpoints)
    split = self.config.data.eval_split
    evaluation = self.evaluator.errors_on(self.state.params, split, crops=1)
    if evaluation is None:
      return False
    self.latest_evaluation = evaluation
    self.writer.print(f'step {step} (epoch {self.length.epoch(step):.3g}): {split} error '
                      f'({crops_name(1)}) top-1 {100 * evaluation["top1_error"]:.2f} %, '
                      f'top-5 {100 * evaluation["top5_error"]:.2f} %, '
                      f'loss {evaluation["loss"]:.4f}')
    if (self.config.optim.schedule == 'plateau'
        and self.plateau.update(evaluation[records.RANKING_FIELD])):
      self.writer.print(f'step {step}: {split} top-1 error stopped improving; learning rate '
                        f'divided by {1 / self.plateau.factor:g} ({self.plateau.reductions} of '
                        f'{self.plateau.max_reductions})')
    self.writer.write(step, records.evaluation(records.EVALUATION, evaluation))
    return True

  def _evaluate_pending(self, step: int) -> None:
    """The evaluation of the restored step, which a stop cut short; then its checkpoint again,
    now ranked by it as the uninterrupted run's was."""
    if not self._evaluate(step):
      raise _stop_request(step, during_evaluation=True)
    self._save(step, with_evaluation=True, replace=True)

  def _final_test(self, train_seconds: float) -> dict[str, float]:
    """The test of the finished run (:func:`final_passes`), recorded once."""
    total, data_config = self.length.total_steps, self.config.data
    results = self.evaluator.final_test(self.state.params, data_config, total)
    self.writer.write(
        total, records.final(results, crops=data_config.eval_crops, train_seconds=train_seconds))
    if self.start_step < total:
      minutes, seconds = divmod(round(train_seconds), 60)
      self.writer.print(f'training (steps {self.start_step + 1}–{total}) took {minutes} min '
                        f'{seconds} s, compilation, evaluations and checkpoints included')
    for evaluation_pass, (split, crops) in final_passes(data_config).items():
      result = results[evaluation_pass]
      self.writer.print(f'final {split} error ({crops_name(crops)}): top-1 '
                        f'{100 * result["top1_error"]:.2f} %, top-5 '
                        f'{100 * result["top5_error"]:.2f} % on {result["examples"]} images')
    return results[records.FINAL]

  def _save(self, step: int, *, with_evaluation: bool, replace: bool = False) -> None:
    """An asynchronous checkpoint; ranked for "best" when it follows an evaluation."""
    _check_finite(self.state, self.checkpoints)
    progress = dict(plateau=self.plateau.state_dict(), epoch=self.length.epoch(step),
                    evaluation=self.latest_evaluation if with_evaluation else None)
    ranking = ({records.RANKING_FIELD: self.latest_evaluation[records.RANKING_FIELD]}
               if with_evaluation else None)
    self.checkpoints.save(step, self.state, progress, metrics=ranking, replace=replace)
    self.last_save_time = time.monotonic()
