"""The training loop: data, steps, evaluation, the plateau rule, logs and checkpoints.

Running the same command with the same workdir resumes from the latest
readable checkpoint and continues exactly as an uninterrupted run would: the
data stream, the dropout masks and the learning rate are functions of the step
(and of the plateau rule's state, which the checkpoint holds), and on a CPU the
final parameters are bitwise identical (tests/test_trainer.py kills a run with
SIGKILL to check this).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import resource
import time
from pathlib import Path

import jax
import ml_collections
import numpy as np

from alexnet import config as config_lib
from alexnet import data, optim, parallel, train
from alexnet.checkpoint import Checkpoints
from alexnet.metrics import MetricsWriter


class NonFiniteError(RuntimeError):
  """The loss or the gradients became NaN or infinite."""


@dataclasses.dataclass(frozen=True)
class RunLength:
  """How many steps a run takes and when it evaluates, from the config and the dataset."""

  steps_per_epoch: int
  total_steps: int
  eval_every_steps: int

  @classmethod
  def of(cls, config: ml_collections.ConfigDict, num_train_examples: int) -> RunLength:
    steps_per_epoch = max(1, num_train_examples // config.train.batch_size)
    total = (config.train.num_steps if config.train.num_steps > 0
             else max(1, round(config.train.num_epochs * steps_per_epoch)))
    every = max(1, round(config.train.eval_every_epochs * steps_per_epoch))
    return cls(steps_per_epoch, total, every)


def make_plateau(optim_config: ml_collections.ConfigDict) -> optim.Plateau:
  return optim.Plateau(patience=optim_config.plateau_patience, factor=optim_config.plateau_factor,
                       max_reductions=optim_config.plateau_max_reductions,
                       min_improvement=optim_config.plateau_min_improvement)


def evaluate(eval_step, params, batches, mesh) -> dict[str, float]:
  """Top-1 and top-5 error (and the loss) over one pass of ``batches``."""
  totals = None
  for local in batches:
    sums = eval_step(params, parallel.global_batch(local, mesh))
    totals = sums if totals is None else jax.tree.map(lambda a, b: a + b, totals, sums)
  totals = jax.device_get(totals)
  examples = float(totals['examples'])
  return dict(top1_error=float(totals['top1_errors']) / examples,
              top5_error=float(totals['top5_errors']) / examples,
              loss=float(totals['loss']) / examples, examples=int(examples))


def device_memory_gib() -> float | None:
  """Peak memory of the first local device, or None where the backend does not report it."""
  stats = jax.local_devices()[0].memory_stats() or {}
  peak = stats.get('peak_bytes_in_use')
  return None if peak is None else peak / 2**30


def host_memory_gib() -> float:
  """Peak resident memory of this process (Linux reports KiB)."""
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def abstract_train_state(net: parallel.ShardedAlexNet, tx) -> train.TrainState:
  """Shapes, dtypes and shardings of the train state on ``net``'s mesh: a restore target."""
  shapes = jax.eval_shape(lambda: train.create_train_state(net, tx, seed=0))
  return jax.tree.map(lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s), shapes,
                      train.state_shardings(net, tx))


def record_config(config: ml_collections.ConfigDict, workdir: Path) -> None:
  """Writes config.json (what the tools rebuild the run from); warns if it changed."""
  path = workdir / 'config.json'
  current = json.loads(config.to_json_best_effort())
  if path.exists():
    previous = json.loads(path.read_text())
    if previous != current:
      changed = sorted(k for k in previous.keys() | current.keys()
                       if previous.get(k) != current.get(k))
      logging.warning('The config differs from the one this workdir was started with (sections '
                      '%s); continuing with the new one.', changed)
  path.write_text(json.dumps(current, indent=2) + '\n')


class Trainer:
  """One run of a config in a workdir: set up (or resumed) once, then trained to the end."""

  def __init__(self, config: ml_collections.ConfigDict, workdir: str | Path):
    self.config = config
    self.workdir = Path(workdir).absolute()
    self.model_config = config_lib.validate(config)
    self.mesh = parallel.mesh_for(self.model_config.towers, config.mesh.data, config.mesh.model)
    parallel.check_mesh(self.mesh, self.model_config.towers)
    parallel.check_batch(config.train.batch_size, self.mesh)
    parallel.check_batch(config.train.eval_batch_size, self.mesh)
    self.process, self.processes = jax.process_index(), jax.process_count()
    if self.process == 0:
      self.workdir.mkdir(parents=True, exist_ok=True)
      record_config(config, self.workdir)

    self.info = data.prepare(config.data, self.model_config.image_size)
    config_lib.require(self.model_config.num_classes == self.info.num_classes, 'model.num_classes',
                       self.model_config.num_classes,
                       f'{self.info.num_classes}, the classes of {self.info.tfds_name}')
    if self.info.skipped_images:
      logging.warning('%d unreadable images were skipped when %s was prepared.',
                      self.info.skipped_images, self.info.tfds_name)
    self.length = RunLength.of(config, self.info.train_examples)

    self.net = parallel.ShardedAlexNet(self.model_config, self.mesh)
    self.tx = optim.make_optimizer(config.optim)
    self.schedule = optim.base_schedule(config.optim, self.length.steps_per_epoch,
                                        self.length.total_steps)
    self.plateau = make_plateau(config.optim)
    self.checkpoints = Checkpoints(self.workdir, keep=config.train.keep_checkpoints)
    restored = self.checkpoints.restore(abstract_train_state(self.net, self.tx))
    if restored is None:
      self.state = train.create_train_state(self.net, self.tx, seed=config.seed)
    else:
      self.state, progress = restored
      self.plateau.load_state_dict(progress['plateau'])
    self.start_step = int(self.state.step)
    self.writer = MetricsWriter(self.workdir, start_step=self.start_step,
                                total_steps=self.length.total_steps, enabled=self.process == 0)
    self.writer.print(
        f'{self.info.tfds_name}: {self.info.train_examples} training examples, '
        f'{self.info.num_classes} classes; mesh {dict(self.mesh.shape)} over '
        f'{jax.device_count()} {jax.devices()[0].platform} device(s), {self.processes} '
        f'process(es); {self.length.total_steps} steps of {config.train.batch_size} '
        f'({self.length.steps_per_epoch} per epoch)'
        + (f'; resumed at step {self.start_step}' if restored else ''))
    self.train_step = train.make_train_step(self.net, self.tx)
    self.eval_step = train.make_eval_step(self.net)
    self.latest_evaluation: dict | None = None

  def run(self) -> dict:
    """Trains from the start (or resumed) step to the end; returns the final evaluation.

    Whatever happens, started checkpoint saves are finished before it returns or raises.
    """
    try:
      started = time.perf_counter()
      self.train()
      self.check_finite()
      train_seconds = time.perf_counter() - started
      crops = self.config.data.eval_crops
      final = self.evaluate(crops)
      self.writer.write(self.length.total_steps,
                        {f'final_{k}': v for k, v in final.items()}
                        | {'final_crops': crops, 'train_seconds': train_seconds})
      minutes, seconds = divmod(round(train_seconds), 60)
      self.writer.print(
          f'training (steps {self.start_step + 1}–{self.length.total_steps}) took {minutes} min '
          f'{seconds} s, compilation, evaluations and checkpoints included')
      self.writer.print(
          f'final {self.config.data.eval_split} error ({crops} crop{"s" if crops > 1 else ""}): '
          f'top-1 {100 * final["top1_error"]:.2f} %, top-5 {100 * final["top5_error"]:.2f} % '
          f'on {final["examples"]} images')
      return final
    finally:
      self.checkpoints.wait()
      self.checkpoints.close()
      self.writer.close()

  def train(self) -> None:
    """The training steps, with their logs, evaluations and checkpoints."""
    config = self.config
    batches = data.train_batches(config.data, self.model_config.image_size,
                                 global_batch_size=config.train.batch_size, seed=config.seed,
                                 start_step=self.start_step,
                                 channels=self.model_config.input_channels,
                                 process_index=self.process,
                                 process_count=self.processes)
    self.last_log = (time.perf_counter(), self.start_step)
    # Closing the batches stops tf.data's threads now rather than at interpreter shutdown.
    with contextlib.closing(batches):
      for step in range(self.start_step, self.length.total_steps):
        learning_rate = float(self.schedule(step)) * self.plateau.scale
        self.state, metrics = self.train_step(
            self.state, parallel.global_batch(next(batches), self.mesh),
            np.float32(learning_rate))
        done = step + 1
        self.writer.advance(1)
        if done % config.train.log_every_steps == 0 or done == self.length.total_steps:
          self.log(done, jax.device_get(metrics), learning_rate)
        evaluate_now = done % self.length.eval_every_steps == 0 or done == self.length.total_steps
        if evaluate_now:
          self.evaluate_during_training(done)
        if evaluate_now or done % config.train.checkpoint_every_steps == 0:
          self.save(done, with_evaluation=evaluate_now)

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
    self.writer.advance(0, loss=record['loss'], img_s=record['images_per_second'],
                        lr=learning_rate)

  def evaluate(self, crops: int) -> dict[str, float]:
    """Errors of the current parameters on the evaluation split."""
    return evaluate(self.eval_step, self.state.params, data.eval_batches(
        self.config.data, self.model_config.image_size, split=self.config.data.eval_split,
        global_batch_size=self.config.train.eval_batch_size, crops=crops,
        channels=self.model_config.input_channels, process_index=self.process,
        process_count=self.processes), self.mesh)

  def evaluate_during_training(self, done: int) -> None:
    """Centre-crop errors, which also drive the plateau rule (§5)."""
    self.check_finite()
    self.latest_evaluation = self.evaluate(crops=1)
    if (self.config.optim.schedule == 'plateau'
        and self.plateau.update(self.latest_evaluation['top1_error'])):
      self.writer.print(f'step {done}: validation top-1 error stopped improving; learning rate '
                        f'divided by {1 / self.plateau.factor:g} ({self.plateau.reductions} of '
                        f'{self.plateau.max_reductions})')
    self.writer.write(done, {f'eval_{k}': v for k, v in self.latest_evaluation.items()})

  def save(self, done: int, *, with_evaluation: bool) -> None:
    """An asynchronous checkpoint; ranked for "best" when it follows an evaluation."""
    self.check_finite()
    progress = dict(plateau=self.plateau.state_dict(), epoch=done / self.length.steps_per_epoch,
                    evaluation=self.latest_evaluation if with_evaluation else None)
    self.checkpoints.save(done, self.state, progress,
                          metrics={'top1_error': self.latest_evaluation['top1_error']}
                          if with_evaluation else None)

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
  """Trains (or resumes) the run of ``config`` in ``workdir``; returns the final evaluation."""
  return Trainer(config, workdir).run()
