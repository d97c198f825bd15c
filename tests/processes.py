"""Training runs as a user starts them: real ``python -m alexnet.main`` processes, real signals.

The runs use configs/fashion_mnist.py:smoke on a small Fashion-MNIST written in Debian's idx
format (``fashion_mnist`` fixture, conftest.py). Children start with Python's own SIGINT
handler, as in a terminal: a child of a background job inherits SIGINT ignored, which the
trainer keeps ignored (as POSIX programs do), so a test of Ctrl-C would test nothing. The
handler is set by a launcher in the child rather than by ``preexec_fn``, which would run
Python between fork and exec in this multithreaded (JAX) process.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import jax
import numpy as np

from alexnet.run import checkpoint
from alexnet.run.workdir import Workdir
from xla_flags import cpu_devices

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ['--config', 'configs/fashion_mnist.py:smoke']
# The two-process run of the multi-process and SLURM tests (with the fashion_mnist fixture's
# data): 96 steps, evaluated and checkpointed every 32 (2 epochs), a record every step so that
# a test can act at a chosen step. A test that stops it freezes both trainers (``frozen``)
# at the step it chose until its signal, or SLURM's, is on its way, so the stop lands a few
# steps after that one however fast the machine trains (at step 13 after a freeze at step 5
# in test_slurm.py's preemption), far from the end.
TWO_PROCESS_RUN = [
    '--config.train.log_every_steps=1', '--config.data.eval_crops=1', '--config.train.num_steps=96',
    '--config.train.eval_every_epochs=2', '--config.train.checkpoint_every_steps=32'
]
TIMING_FIELDS = ('time', 'images_per_second', 'host_memory_gib', 'device_memory_gib',
                 'train_seconds')

_LAUNCH_WITH_SIGINT = ('import runpy, signal; '
                       'signal.signal(signal.SIGINT, signal.default_int_handler); '
                       'runpy.run_module("alexnet.main", run_name="__main__", alter_sys=True)')


def start(workdir: Path | None, *overrides: str, devices: int = 1, env: dict | None = None,
          command: list[str] | None = None) -> subprocess.Popen:
  """``python -m alexnet.main`` on the smoke config (or ``command``, then ``workdir`` is
  unused), output (both streams) in ``stdout``."""
  command = command or [
      sys.executable, '-c', _LAUNCH_WITH_SIGINT, *SMOKE, f'--workdir={workdir}', *overrides
  ]
  env = {**os.environ, **cpu_devices(devices), **(env or {})}
  return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)


def free_port() -> int:
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def start_trainers(workdir: Path, overrides: list[str]) -> list[subprocess.Popen]:
  """The trainer as two processes of one run, one CPU device each, joined by jax.distributed.

  TF_CPP_MIN_LOG_LEVEL=1 keeps the preemption service's warnings (``SIGTERM caught``, a
  failed sync protocol) in the outputs, where a failing test shows them.
  """
  port = free_port()
  return [
      start(workdir, *overrides, f'--coordinator_address=127.0.0.1:{port}', '--num_processes=2',
            f'--process_id={i}', env={'TF_CPP_MIN_LOG_LEVEL': '1'}) for i in range(2)
  ]


def finish_trainers(pair: list[subprocess.Popen], status: int, context: str = '') -> list[str]:
  """Both outputs, once both processes have ended with ``status``; a failure shows both."""
  outputs = [process.communicate(timeout=600)[0] for process in pair]
  statuses = [process.returncode for process in pair]
  assert statuses == [status, status], '\n'.join([context] + [
      f'--- process {i}, exit status {s}:\n{output}'
      for i, (s, output) in enumerate(zip(statuses, outputs))
  ])
  return outputs


def run(workdir: Path, *overrides: str, status: int = 0, **kwargs) -> str:
  """Runs to the end; asserts the exit status; returns the output."""
  process = start(workdir, *overrides, **kwargs)
  output, _ = process.communicate(timeout=600)
  assert process.returncode == status, output
  return output


def wait_until(process: subprocess.Popen, ready: Callable[[], bool], poll_s: float = 0.02,
               timeout_s: float = 600) -> None:
  """Returns as soon as ``ready()`` holds; fails if the process ends first."""
  deadline = time.monotonic() + timeout_s
  while not ready():
    assert process.poll() is None, (
        f'the run ended before the moment came:\n{process.stdout.read()}')
    assert time.monotonic() < deadline, 'the moment never came'
    time.sleep(poll_s)


def signal_when(process: subprocess.Popen, ready: Callable[[], bool], signum: int, **wait) -> None:
  """Sends ``signum`` as soon as ``ready()`` holds; fails if the process ends first."""
  wait_until(process, ready, **wait)
  process.send_signal(signum)


@contextlib.contextmanager
def frozen(pids: Iterable[int]) -> Iterator[None]:
  """The processes stopped (SIGSTOP) inside the block and continued (SIGCONT) after it, so
  that what the block does (a signal, a scheduler's decision) finds a run at the step it was
  frozen at, however fast the machine trains. A signal sent meanwhile waits for SIGCONT."""
  pids = list(pids)
  for pid in pids:
    os.kill(pid, signal.SIGSTOP)
  try:
    yield
  finally:
    for pid in pids:
      with contextlib.suppress(ProcessLookupError):  # killed while frozen
        os.kill(pid, signal.SIGCONT)


def logged_step(workdir: Path, since_ns: int) -> int:
  """The last step in metrics.jsonl, counting only what was written after ``since_ns``
  (a resumed run first rewrites the file)."""
  log = Workdir(workdir).metrics_file
  if not log.exists() or log.stat().st_mtime_ns <= since_ns:
    return -1
  records = Workdir(workdir).read_metrics()
  return records[-1]['step'] if records else -1


def finish(process: subprocess.Popen, status: int) -> str:
  output, _ = process.communicate(timeout=600)
  assert process.returncode == status, output
  return output


def final_parameters(workdir: Path) -> dict:
  """The parameters of the latest checkpoint, read as plain arrays onto this process's first
  device (whatever processes and devices saved it)."""
  ckpt = checkpoint.Checkpoints.open(Workdir(workdir), keep=3)
  step = ckpt.steps()[-1]
  device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
  target = jax.tree.map(lambda leaf: jax.ShapeDtypeStruct(leaf.shape, leaf.dtype, sharding=device),
                        ckpt.manager.item_metadata(step)['state'])
  restored = ckpt.manager.restore(
      step, args=checkpoint.ocp.args.Composite(state=checkpoint.ocp.args.StandardRestore(target)))
  ckpt.close()
  return jax.tree.map(np.asarray, restored.state['params'])


def assert_same_parameters(workdir: Path, expected: dict, context: str = '') -> None:
  resumed = final_parameters(workdir)
  for name in expected:
    for kind in expected[name]:
      np.testing.assert_array_equal(resumed[name][kind], expected[name][kind],
                                    err_msg=f'{name}/{kind} {context}')


def training_records(workdir: Path) -> list[dict]:
  """metrics.jsonl without the fields that depend on timing."""
  return [{k: v for k, v in r.items() if k not in TIMING_FIELDS}
          for r in Workdir(workdir).read_metrics()]


def snapshot(directory: Path) -> dict[str, bytes]:
  """Every file under ``directory`` with its bytes."""
  return {
      str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob('*'))
      if p.is_file()
  }
