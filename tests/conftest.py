"""Test-wide setup: eight CPU devices, so meshes up to (4, 2) can be tested on one CPU,
compiled as tests/xla_flags.py says, and one persistent XLA compilation cache for the whole
session.

XLA reads its flags when JAX first initialises its backends, so they are set here,
before any test module imports JAX.
"""

import os
import shutil
import tempfile
from pathlib import Path

import xla_flags

_EIGHT_DEVICES = xla_flags.cpu_devices(8)['XLA_FLAGS']
if _EIGHT_DEVICES not in os.environ.get('XLA_FLAGS', ''):
  os.environ['XLA_FLAGS'] = f"{os.environ.get('XLA_FLAGS', '')} {_EIGHT_DEVICES}".strip()
# The tests run on the CPU, whatever accelerators the machine has.
os.environ.setdefault('CUDA_VISIBLE_DEVICES', '')

import pytest  # noqa: E402 - after the environment above, which must come first

# Compiling the smoke config's steps is most of a short run's time on two cores (an 8-step
# run: 31 CPU-seconds with nothing cached, 11 with its programs in the cache), and the suite
# starts about a hundred trainers, commands and pytest workers that compile the same
# programs. They share one cache through the environment, which every process the tests
# start inherits (JAX reads these at import). The cache is bounded so that JAX serialises
# its reads and writes with a file lock (the filelock package): two processes compiling the
# same program never read a half-written entry.
_COMPILATION_CACHE = 'JAX_COMPILATION_CACHE_DIR'
_CACHE_SETTINGS = {
    'JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS': '0',
    'JAX_COMPILATION_CACHE_MAX_SIZE': str(4 << 30),
}


def pytest_configure(config: pytest.Config) -> None:
  """A fresh cache directory for this session, made by the process that starts the session
  (with xdist, the controller: its workers inherit the environment). A cache the caller
  already names is used as it is."""
  if _COMPILATION_CACHE in os.environ:
    return
  directory = tempfile.mkdtemp(prefix='alexnet-xla-cache-')
  os.environ.update({_COMPILATION_CACHE: directory, **_CACHE_SETTINGS})
  config.add_cleanup(lambda: shutil.rmtree(directory, ignore_errors=True))


_GROUP_LOST = pytest.StashKey[bool]()


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
  """Notes the tests whose ``xdist_group`` xdist ignores (pytest-xdist 3.8 with pytest 9.2,
  pytest-xdist#1386): a group's tests would run on several workers at once, each with its
  own copy of what they share (the SLURM cluster). A worker that raised here would die
  without a word, so each such test fails at its set-up instead, saying why."""
  if getattr(config.option, 'loadgroup', False):
    for item in items:
      item.stash[_GROUP_LOST] = bool(
          item.get_closest_marker('xdist_group') and '@' not in item.nodeid)


def pytest_runtest_setup(item: pytest.Item) -> None:
  if item.stash.get(_GROUP_LOST, False):
    pytest.fail(
        'pytest-xdist ignored this test\'s xdist_group (pytest-xdist#1386); install '
        'the pytest requirements.txt pins', pytrace=False)


@pytest.fixture(scope='session')
def fashion_mnist(tmp_path_factory) -> list[str]:
  """Command-line overrides pointing at a small Fashion-MNIST (512 train, 128 test images),
  prepared by the first run that uses it (runs on other workers wait for it)."""
  import fake_data
  from shared_dirs import made_once

  root = made_once(
      tmp_path_factory, 'fashion_mnist',
      lambda root: fake_data.write_fashion_mnist_idx(str(root / 'manual'), train=512, test=128))
  return [f'--config.data.data_dir={root / "tfds"}', f'--config.data.manual_dir={root / "manual"}']


@pytest.fixture(scope='session')
def two_process_run(tmp_path_factory, fashion_mnist) -> Path:
  """The workdir of processes.TWO_PROCESS_RUN trained to its end, uninterrupted, by two
  processes joined by jax.distributed: what every stopped and resumed two-process run of the
  multi-process and SLURM tests must reach, bit for bit."""
  import processes
  from shared_dirs import made_once

  def train(root: Path) -> None:
    processes.finish_trainers(
        processes.start_trainers(root / 'run', [*fashion_mnist, *processes.TWO_PROCESS_RUN]), 0)

  return made_once(tmp_path_factory, 'two_process_run', train) / 'run'


@pytest.fixture(scope='session')
def tiny_run(tmp_path_factory) -> Path:
  """The workdir of tiny_run.smoke_config's finished 8-step run (checkpoints at steps 4 and
  8, evaluated at 8), trained once in the process of the first test that asks, by the real
  trainer: what the tests of the tools read."""
  import fake_data
  import tiny_run as tiny
  from alexnet.training import trainer
  from shared_dirs import made_once

  def train(root: Path) -> None:
    fake_data.write_fashion_mnist_idx(str(root / 'manual'), train=512, test=tiny.NUM_TEST)
    trainer.train_and_evaluate(tiny.smoke_config(root), root / 'run')

  return made_once(tmp_path_factory, 'tiny_run', train) / 'run'
