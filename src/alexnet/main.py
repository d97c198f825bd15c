"""Trains AlexNet: ``python -m alexnet.main --config configs/<name>.py --workdir DIR``.

Any config field can be overridden on the command line, e.g.
``--config.model.lrn=False --config.optim.learning_rate=0.02``. Running the same
command again with the same workdir resumes from the latest checkpoint.

Several hosts: start the same command on every host. Under SLURM (``srun``)
JAX finds the coordinator and each process's rank by itself; elsewhere pass
``--coordinator_address=host:port --num_processes=N --process_id=i``.

SIGTERM and Ctrl-C stop the run at the next step boundary with a checkpoint of that
step (exit status 143 or 130; a second Ctrl-C exits at once). A mistake in the command
(a config field that does not exist, a value the run cannot use, a workdir another
trainer holds, a config that cannot resume the workdir's run) is one line, exit status 2;
``ALEXNET_TRACEBACK=1`` shows the traceback too.
"""

from __future__ import annotations

import os

from absl import app, flags
from ml_collections import config_flags

from alexnet import errors

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


def load_config():
  """The config file with the command line's overrides; a file that fails to load is one line."""
  try:
    return _CONFIG.value
  except Exception as error:  # noqa: BLE001 - the file's own error, whatever it is, is the message
    raise errors.UsageError(f'the config file {flags.FLAGS["config"].config_filename} cannot be '
                            f'loaded: {type(error).__name__}: {error}') from error


@errors.reported
def main(argv) -> None:
  if len(argv) > 1:
    raise errors.UsageError(f'unexpected arguments: {argv[1:]}')
  config = load_config()
  join_processes()
  from alexnet import trainer

  trainer.train_and_evaluate(config, _WORKDIR.value)


if __name__ == '__main__':
  app.run(main, flags_parser=errors.parse_flags)
