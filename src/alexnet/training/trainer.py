"""A run, from its config to its final test: :func:`train_and_evaluate`.

Running the same command with the same workdir resumes from the latest
readable checkpoint and continues exactly as an uninterrupted run would: the
data stream, the dropout masks and the learning rate are functions of the step
(and of the plateau rule's state, which the checkpoint holds), and on a CPU the
final parameters are bitwise identical (tests/test_lifecycle.py stops runs with
SIGKILL, SIGTERM and SIGINT to check this).

A run has three phases, each in a module of its own:

1. **Deciding** (:mod:`alexnet.training.plan`): the config is checked, the mesh built, the
   workdir's lock taken, the config compared with the one the workdir's checkpoints were
   made with, the data prepared; then the latest checkpoint is verified and restored.
   Whatever refuses the run refuses it here, and the workdir is left byte for byte as it was.
2. **Committing** (:meth:`alexnet.training.session.Session.commit`): config.json, with any
   change of a field allowed on resume; metrics.jsonl cut back to the restored step.
3. **Training** (:mod:`alexnet.training.loop`): SIGTERM or SIGINT stop it at the next step
   boundary (or between evaluation batches) with a checkpoint of that step
   (:mod:`alexnet.run.stopping`).
"""

from __future__ import annotations

import json
from pathlib import Path

import jax
import ml_collections

from alexnet import config as config_lib
from alexnet.model import parallel
from alexnet.run import records, stopping
from alexnet.run.workdir import Workdir
from alexnet.training import optim, steps
from alexnet.training.evaluator import Evaluator, crops_name
from alexnet.training.loop import TrainingLoop
from alexnet.training.plan import RunPlan, decide
from alexnet.training.session import Session


def train_and_evaluate(config: ml_collections.ConfigDict | config_lib.RunConfig,
                       workdir: str | Path) -> dict[str, float]:
  """Trains (or resumes) the run of ``config`` in ``workdir``; returns the final test's errors.

  SIGTERM and SIGINT stop it cleanly while it runs (:mod:`alexnet.run.stopping`).
  """
  with stopping.handled():
    run_config = config_lib.validate(config)
    mesh = parallel.mesh_for(run_config.model.towers, run_config.mesh.data, run_config.mesh.model)
    parallel.check_batch(run_config.train.batch_size, mesh)
    parallel.check_batch(run_config.train.eval_batch_size, mesh)
    with Session(Workdir(workdir)) as session:
      plan = decide(run_config, mesh, session)
      if plan.final_record is not None:
        return _report_finished(plan)
      return _start(plan, session)


def _start(plan: RunPlan, session: Session) -> dict[str, float]:
  """Restores (or creates) the training state, commits the start and trains to the end."""
  config = plan.config
  net = parallel.ShardedAlexNet(config.model, plan.mesh)
  tx = optim.make_optimizer(config.optim)
  checkpoints = session.open_checkpoints(config.train.keep_checkpoints)
  restored = checkpoints.restore(steps.abstract_train_state(net, tx))
  plateau = optim.Plateau.of(config.optim)
  if restored is None:
    state, progress = steps.create_train_state(net, tx, seed=config.seed), None
  else:
    state, progress = restored
    plateau.load_state_dict(progress['plateau'])
  start_step = int(state.step)
  if stopping.reached_sync_point():
    raise stopping.StopRequested(f'before training began (at step {start_step})',
                                 stopping.stop_signal())
  writer = session.commit(config, plan.changes, start_step=start_step,
                          total_steps=plan.length.total_steps, resumed=restored is not None)
  _announce(plan, writer, start_step, resumed=restored is not None)
  loop = TrainingLoop(
      plan, state=state, plateau=plateau, checkpoints=checkpoints, writer=writer,
      train_step=steps.make_train_step(net, tx, plan.dataset.device.train_images),
      evaluator=Evaluator(plan.dataset, net, plan.mesh, batch_size=config.train.eval_batch_size,
                          show_progress=jax.process_index() == 0))
  evaluation_pending = (progress is not None and progress.get('evaluation') is None
                        and plan.length.evaluates_at(start_step))
  return loop.run(evaluation_pending=evaluation_pending)


def _announce(plan: RunPlan, writer, start_step: int, *, resumed: bool) -> None:
  """The run's config as TensorBoard text, and what the run is, on the console."""
  config, info, length = plan.config, plan.dataset.info, plan.length
  writer.write_text('config', '```\n' + json.dumps(config.to_dict(), indent=2) + '\n```',
                    start_step)
  writer.print(f'{info.tfds_name}: {info.train_examples} training examples, '
               f'{info.num_classes} classes; mesh {dict(plan.mesh.shape)} over '
               f'{jax.device_count()} {jax.devices()[0].platform} device(s), {jax.process_count()} '
               f'process(es); {length.total_steps} steps of {config.train.batch_size} '
               f'({length.steps_per_epoch} per epoch)'
               + (f'; resumed at step {start_step}' if resumed else ''))
  if plan.changes:
    writer.print(f'changed on resume, from step {start_step}: {plan.changes_text()} '
                 '(recorded in config.json)')


def _report_finished(plan: RunPlan) -> dict[str, float]:
  record = plan.final_record
  crops = record.get(records.FINAL_CROPS, plan.config.data.eval_crops)
  final = records.results_of(record, records.FINAL)
  print(
      f'{plan.workdir.path}: this run finished at step {record["step"]}; its final '
      f'{plan.config.data.final_split} error ({crops_name(crops)}) was top-1 '
      f'{100 * final["top1_error"]:.2f} %, top-5 {100 * final["top5_error"]:.2f} %. '
      'Nothing to do (train.num_steps or train.num_epochs would extend it; '
      'python -m alexnet.evaluate evaluates it again).', flush=True)
  return final
