"""Two real processes joined by jax.distributed train like one process with all devices,
and stop together when one of them is told to."""

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import processes
from alexnet.workdir import Workdir

PROGRAM = Path(__file__).parent / 'programs' / 'train_tiny_on_2x2_mesh.py'


def free_port() -> int:
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def run_processes(output: Path, processes: int) -> None:
  env = {k: v for k, v in os.environ.items() if k != 'XLA_FLAGS'}  # devices set by the program
  port = free_port()
  commands = [[sys.executable, str(PROGRAM), '--output', str(output), '--process', str(i),
               '--processes', str(processes), '--port', str(port)] for i in range(processes)]
  running = [subprocess.Popen(c, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True) for c in commands]
  for process in running:
    log, _ = process.communicate(timeout=300)
    assert process.returncode == 0, log


@pytest.mark.slow
def test_two_processes_on_a_2x2_mesh_reach_the_parameters_of_one_process(tmp_path):
  run_processes(tmp_path / 'one.npz', processes=1)
  run_processes(tmp_path / 'two.npz', processes=2)
  one, two = np.load(tmp_path / 'one.npz'), np.load(tmp_path / 'two.npz')
  assert sorted(one) == sorted(two) and 'conv1/kernel' in one
  for name in one:
    np.testing.assert_allclose(two[name], one[name], rtol=1e-6, atol=1e-7, err_msg=name)


def start_trainers(workdir: Path, overrides: list[str], port: int) -> list[subprocess.Popen]:
  """The trainer as two processes of one run, one CPU device each, joined by jax.distributed.

  TF_CPP_MIN_LOG_LEVEL=1 keeps the preemption service's warnings (``SIGTERM caught``, a
  failed sync protocol) in the outputs, where a failing test shows them.
  """
  return [processes.start(workdir, *overrides, f'--coordinator_address=127.0.0.1:{port}',
                          '--num_processes=2', f'--process_id={i}',
                          env={'TF_CPP_MIN_LOG_LEVEL': '1'}) for i in range(2)]


def finish_trainers(pair: list[subprocess.Popen], status: int, context: str = '') -> list[str]:
  """Both outputs, once both processes have ended with ``status``; a failure shows both."""
  outputs = [process.communicate(timeout=600)[0] for process in pair]
  statuses = [process.returncode for process in pair]
  assert statuses == [status, status], '\n'.join(
      [context] + [f'--- process {i}, exit status {s}:\n{output}'
                   for i, (s, output) in enumerate(zip(statuses, outputs))])
  return outputs


@pytest.mark.slow
def test_sigterm_to_one_of_two_processes_stops_both_at_the_same_step_and_they_resume(
    tmp_path, fashion_mnist):
  # JAX's preemption service agrees on the stopping step within about a second here (its
  # notifier polls once a second); the 384-step run leaves half a minute after the signal,
  # so that the test cannot pass or fail on how fast the machine is.
  overrides = [*fashion_mnist, '--config.train.log_every_steps=1', '--config.data.eval_crops=1',
               '--config.train.num_steps=384', '--config.train.eval_every_epochs=4',
               '--config.train.checkpoint_every_steps=128']
  finish_trainers(start_trainers(tmp_path / 'uninterrupted', overrides, free_port()), 0)

  workdir = tmp_path / 'stopped'
  began = time.time_ns()
  pair = start_trainers(workdir, overrides, free_port())
  processes.signal_when(pair[1], lambda: processes.logged_step(workdir, began) >= 5,
                        signal.SIGTERM)
  signalled = f'SIGTERM sent to process 1 after step {processes.logged_step(workdir, began)}'
  outputs = finish_trainers(pair, 128 + signal.SIGTERM, signalled)
  steps = [re.findall(r'stopped at step (\d+)[^\n]* by SIGTERM; rerun the same command', output)
           for output in outputs]
  assert steps[0] == steps[1] and len(steps[0]) == 1, (signalled, outputs)
  step = int(steps[0][0])
  assert all(f"stopped at step {step}, with the run's other processes, by SIGTERM" in output
             for output in outputs)
  assert step in Workdir(workdir).checkpoint_steps()

  resumed = finish_trainers(start_trainers(workdir, overrides, free_port()), 0)
  assert f'resumed at step {step}' in resumed[0]
  processes.assert_same_parameters(workdir, processes.final_parameters(tmp_path / 'uninterrupted'))
  assert processes.training_records(workdir) == processes.training_records(
      tmp_path / 'uninterrupted')
