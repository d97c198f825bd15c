"""Test-wide setup: eight CPU devices, so meshes up to (4, 2) can be tested on one CPU.

XLA reads the flag when JAX first initialises its backends, so it is set here,
before any test module imports JAX.
"""

import os
from pathlib import Path

_DEVICES_FLAG = '--xla_force_host_platform_device_count=8'
if _DEVICES_FLAG not in os.environ.get('XLA_FLAGS', ''):
  os.environ['XLA_FLAGS'] = f"{os.environ.get('XLA_FLAGS', '')} {_DEVICES_FLAG}".strip()
# The tests run on the CPU, whatever accelerators the machine has.
os.environ.setdefault('CUDA_VISIBLE_DEVICES', '')

import pytest  # noqa: E402 - after the environment above, which must come first


@pytest.fixture(scope='session')
def fashion_mnist(tmp_path_factory) -> list[str]:
  """Command-line overrides pointing at a small Fashion-MNIST (512 train, 128 test images),
  prepared by the first run that uses it."""
  import fake_data

  root = tmp_path_factory.mktemp('fashion_mnist')
  fake_data.write_fashion_mnist_idx(str(root / 'manual'), train=512, test=128)
  return [f'--config.data.data_dir={root / "tfds"}', f'--config.data.manual_dir={root / "manual"}']


@pytest.fixture(scope='session')
def two_process_run(tmp_path_factory, fashion_mnist) -> Path:
  """The workdir of processes.TWO_PROCESS_RUN trained to its end, uninterrupted, by two
  processes joined by jax.distributed: what every stopped and resumed two-process run of the
  multi-process and SLURM tests must reach, bit for bit."""
  import processes

  workdir = tmp_path_factory.mktemp('two_process_run') / 'run'
  processes.finish_trainers(
      processes.start_trainers(workdir, [*fashion_mnist, *processes.TWO_PROCESS_RUN]), 0)
  return workdir
