"""Two real processes joined by jax.distributed train like one process with all devices."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

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
