"""Trains AlexNet: ``python -m alexnet.main --config configs/<name>.py --workdir DIR``.

Any config field can be overridden on the command line, e.g.
``--config.model.lrn=False --config.optim.learning_rate=0.02``. Running the same
command again with the same workdir resumes from the latest checkpoint.

Several hosts: start the same command on every host. Under SLURM,
``sbatch slurm/train.sbatch <these arguments>`` runs it with ``srun`` (JAX finds the
coordinator and each process's rank by itself) and requeues the job after a preemption or
at the time limit; elsewhere pass ``--coordinator_address=host:port --num_processes=N
--process_id=i``.

Exit statuses (``alexnet.errors``): 0 the run has finished; 1 it failed for a reason a
rerun alone does not fix (a non-finite loss, every checkpoint damaged, a full disk, a bug); 2 the
command is wrong (a config field that does not exist, a value the run cannot use, a
workdir another trainer holds, a config that cannot resume the workdir's run), said in one
line (``ALEXNET_TRACEBACK=1`` shows the traceback too); 143 or 130: SIGTERM or Ctrl-C
stopped the run at a step boundary after saving it (a second Ctrl-C exits at once), and
the same command resumes it.
"""

from __future__ import annotations

import os

from absl import flags
from ml_collections import config_flags

from alexnet import cli, errors
from alexnet import config as config_lib
from alexnet.data import registry

_CONFIG = config_flags.DEFINE_config_file(
    'config', None, 'Config file, path[:variant], e.g. configs/fashion_mnist.py; set any field '
    'with --config.<section>.<field>=value (--config.model.lrn=False).', lock_config=True)
_WORKDIR = flags.DEFINE_string('workdir', None, 'Directory for checkpoints and logs.')
_COORDINATOR = flags.DEFINE_string('coordinator_address', None,
                                   'host:port of process 0, for multi-host runs outside SLURM.')
_NUM_PROCESSES = flags.DEFINE_integer('num_processes', None, 'Processes of a multi-host run.')
_PROCESS_ID = flags.DEFINE_integer('process_id', None, 'This process of a multi-host run.')
flags.mark_flags_as_required(['config', 'workdir'])


def join_processes() -> None:
  """Starts jax.distributed when this is one process of several, before JAX is used."""
  import jax

  if _COORDINATOR.value is not None:
    jax.distributed.initialize(_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value)
  elif int(os.environ.get('SLURM_NTASKS', '1')) > 1:
    jax.distributed.initialize()  # SLURM is detected by JAX itself


def main(argv) -> None:
  if len(argv) > 1:
    raise errors.UsageError(f'unexpected arguments: {argv[1:]}')
  # The config's own mistakes and an unknown dataset are said before JAX and TensorFlow are
  # imported (seconds): the trainer checks the same again, with what needs the devices.
  run_config = config_lib.validate(_CONFIG.value)
  registry.entry(run_config.data)
  join_processes()
  from alexnet.training import trainer

  trainer.train_and_evaluate(run_config, _WORKDIR.value)


if __name__ == '__main__':
  cli.run(main)
