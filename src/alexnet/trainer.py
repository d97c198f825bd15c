"""The training loop: data, steps, evaluation, the plateau rule, logs and checkpoints.

Running the same command with the same workdir resumes from the latest
readable checkpoint and continues exactly as an uninterrupted run would: the
data stream, the dropout masks and the learning rate are functions of the step
(and of the plateau rule's state, which the checkpoint holds), and on a CPU the
final parameters are bitwise identical (tests/test_trainer.py kills a run with
SIGKILL to check this).
"""

from __future__ import annotations

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


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str | Path) -> dict:
  """Trains (or resumes) the run of ``config`` in ``workdir``; returns the final evaluation."""
  workdir = Path(workdir).absolute()
  model_config = config_lib.validate(config)
  mesh = parallel.mesh_for(model_config.towers, config.mesh.data, config.mesh.model)
  parallel.check_mesh(mesh, model_config.towers)
  parallel.check_batch(config.train.batch_size, mesh)
  parallel.check_batch(config.train.eval_batch_size, mesh)
  process, processes = jax.process_index(), jax.process_count()
  is_writer = process == 0
  if is_writer:
    workdir.mkdir(parents=True, exist_ok=True)
    record_config(config, workdir)

  info = data.prepare(config.data, model_config.image_size)
  config_lib.require(model_config.num_classes == info.num_classes, 'model.num_classes',
                     model_config.num_classes, f'{info.num_classes}, the classes of {info.tfds_name}')
  if info.skipped_images:
    logging.warning('%d unreadable images were skipped when %s was prepared.',
                    info.skipped_images, info.tfds_name)
  length = RunLength.of(config, info.num_examples[config.data.train_split])

  net = parallel.ShardedAlexNet(model_config, mesh)
  tx = optim.make_optimizer(config.optim)
  schedule = optim.base_schedule(config.optim, length.steps_per_epoch, length.total_steps)
  plateau = make_plateau(config.optim)
  checkpoints = Checkpoints(workdir, keep=config.train.keep_checkpoints)
  restored = checkpoints.restore(abstract_train_state(net, tx))
  if restored is None:
    state = train.create_train_state(net, tx, seed=config.seed)
  else:
    state, progress = restored
    plateau.load_state_dict(progress['plateau'])
  start_step = int(state.step)
  writer = MetricsWriter(workdir, start_step=start_step, total_steps=length.total_steps,
                         enabled=is_writer)
  writer.print(f'{info.tfds_name}: {info.num_examples} examples, {info.num_classes} classes; '
               f'mesh {dict(mesh.shape)} over {jax.device_count()} {jax.devices()[0].platform} '
               f'device(s), {processes} process(es); {length.total_steps} steps of '
               f'{config.train.batch_size} ({length.steps_per_epoch} per epoch)'
               + (f'; resumed at step {start_step}' if restored else ''))

  train_step = train.make_train_step(net, tx)
  eval_step = train.make_eval_step(net)
  batches = data.train_batches(config.data, model_config.image_size,
                               global_batch_size=config.train.batch_size, seed=config.seed,
                               start_step=start_step, process_index=process,
                               process_count=processes)

  def evaluation(crops: int) -> dict[str, float]:
    return evaluate(eval_step, state.params, data.eval_batches(
        config.data, model_config.image_size, split=config.data.eval_split,
        global_batch_size=config.train.eval_batch_size, crops=crops, process_index=process,
        process_count=processes), mesh)

  def check_finite() -> None:
    bad_step = int(state.nonfinite_step)
    if bad_step >= 0:
      checkpoints.wait()
      kept = checkpoints.steps()
      raise NonFiniteError(
          f'The loss or the gradients became NaN or infinite at step {bad_step}; training '
          f'stopped. The last good checkpoint is step {kept[-1] if kept else "(none)"} in '
          f'{checkpoints.directory}. Try a lower optim.learning_rate or model.init.')

  def progress_record(epoch: float, evaluation_result: dict | None) -> dict:
    return dict(plateau=plateau.state_dict(), epoch=epoch, data_position=int(state.step),
                evaluation=evaluation_result)

  last_log_time, last_log_step = time.perf_counter(), start_step
  latest_evaluation = None
  for step in range(start_step, length.total_steps):
    learning_rate = float(schedule(step)) * plateau.scale
    state, metrics = train_step(state, parallel.global_batch(next(batches), mesh),
                                np.float32(learning_rate))
    done = step + 1
    epoch = done / length.steps_per_epoch
    writer.advance(1)

    if done % config.train.log_every_steps == 0 or done == length.total_steps:
      metrics = jax.device_get(metrics)
      check_finite()
      now = time.perf_counter()
      images_per_second = (done - last_log_step) * config.train.batch_size / (now - last_log_time)
      last_log_time, last_log_step = now, done
      record = dict(epoch=epoch, loss=float(metrics['loss']),
                    train_top1_error=float(metrics['top1_error']),
                    grad_norm=float(metrics['grad_norm']), learning_rate=learning_rate,
                    images_per_second=images_per_second, host_memory_gib=host_memory_gib())
      if (device_gib := device_memory_gib()) is not None:
        record['device_memory_gib'] = device_gib
      writer.write(done, record)
      writer.advance(0, loss=record['loss'], img_s=images_per_second, lr=learning_rate)

    evaluate_now = done % length.eval_every_steps == 0 or done == length.total_steps
    if evaluate_now:
      check_finite()
      latest_evaluation = evaluation(crops=1)
      if config.optim.schedule == 'plateau' and plateau.update(latest_evaluation['top1_error']):
        writer.print(f'step {done}: validation top-1 error stopped improving; learning rate '
                     f'divided by {1 / plateau.factor:g} ({plateau.reductions} of '
                     f'{plateau.max_reductions})')
      writer.write(done, {f'eval_{k}': v for k, v in latest_evaluation.items()})
    if evaluate_now or done % config.train.checkpoint_every_steps == 0:
      check_finite()
      checkpoints.save(done, state, progress_record(epoch, latest_evaluation if evaluate_now
                                                    else None),
                       metrics={'top1_error': latest_evaluation['top1_error']}
                       if evaluate_now else None)

  check_finite()
  final = evaluation(crops=config.data.eval_crops)
  writer.write(length.total_steps, {f'final_{k}': v for k, v in final.items()}
               | {'final_crops': config.data.eval_crops})
  writer.print(f'final {config.data.eval_split} error ({config.data.eval_crops} crop'
               f'{"s" if config.data.eval_crops > 1 else ""}): top-1 {100 * final["top1_error"]:.2f} %, '
               f'top-5 {100 * final["top5_error"]:.2f} % on {final["examples"]} images')
  checkpoints.wait()
  checkpoints.close()
  writer.close()
  return final

