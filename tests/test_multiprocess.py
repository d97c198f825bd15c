"""Two real processes joined by jax.distributed train like one process with all devices,
and stop together when one of them is told to."""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import processes
import xla_flags
from alexnet.run.workdir import Workdir

pytestmark = pytest.mark.integration

PROGRAM = Path(__file__).parent / 'programs' / 'train_tiny_on_2x2_mesh.py'


def run_processes(output: Path, count: int) -> None:
  env = {**os.environ, 'XLA_FLAGS': xla_flags.UNOPTIMISED}  # devices set by the program
  port = processes.free_port()
  commands = [[
      sys.executable,
      str(PROGRAM), '--output',
      str(output), '--process',
      str(i), '--processes',
      str(count), '--port',
      str(port)
  ] for i in range(count)]
  running = [
      subprocess.Popen(c, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
      for c in commands
  ]
  for process in running:
    log, _ = process.communicate(timeout=300)
    assert process.returncode == 0, log


def test_two_processes_on_a_2x2_mesh_reach_the_parameters_of_one_process(tmp_path):
  run_processes(tmp_path / 'one.npz', count=1)
  run_processes(tmp_path / 'two.npz', count=2)
  one, two = np.load(tmp_path / 'one.npz'), np.load(tmp_path / 'two.npz')
  assert sorted(one) == sorted(two) and 'conv1/kernel' in one
  for name in one:
    np.testing.assert_allclose(two[name], one[name], rtol=1e-6, atol=1e-7, err_msg=name)


def test_sigterm_to_one_of_two_processes_stops_both_at_the_same_step_and_they_resume(
    tmp_path, fashion_mnist, two_process_run):
  overrides = [*fashion_mnist, *processes.TWO_PROCESS_RUN]
  workdir = tmp_path / 'stopped'
  began = time.time_ns()
  pair = processes.start_trainers(workdir, overrides)
  processes.wait_until(pair[1], lambda: processes.logged_step(workdir, began) >= 5)
  with processes.frozen(process.pid for process in pair):
    signalled = f'SIGTERM sent to process 1 after step {processes.logged_step(workdir, began)}'
    pair[1].send_signal(signal.SIGTERM)
  outputs = processes.finish_trainers(pair, 128 + signal.SIGTERM, signalled)
  steps = [
      re.findall(r'stopped at step (\d+)[^\n]* by SIGTERM; rerun the same command', output)
      for output in outputs
  ]
  assert steps[0] == steps[1] and len(steps[0]) == 1, (signalled, outputs)
  step = int(steps[0][0])
  assert all(f"stopped at step {step}, with the run's other processes, by SIGTERM" in output
             for output in outputs)
  assert step in Workdir(workdir).checkpoint_steps()

  resumed = processes.finish_trainers(processes.start_trainers(workdir, overrides), 0)
  assert f'resumed at step {step}' in resumed[0]
  processes.assert_same_parameters(workdir, processes.final_parameters(two_process_run))
  assert processes.training_records(workdir) == processes.training_records(two_process_run)
