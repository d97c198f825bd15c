"""experiments/figure1.py: the learning-rate sweep, the rate each activation gets, the seeds
at it, the table and the figure; a diverging rate is recorded, not fatal; a rerun resumes."""

import json
import os
import subprocess
import sys

import pytest
from PIL import Image

import fake_data
from tiny_run import ROOT

sys.path.insert(0, str(ROOT / 'experiments'))
import figure1  # noqa: E402

STEPS = 8
SEEDS = 2
DIVERGING = 1e38  # the smoke net's loss, ReLU or tanh, is not finite after a step


@pytest.fixture(scope='module')
def study(tmp_path_factory) -> dict:
  """ReLU and tanh at a usable and a diverging rate, then 2 seeds at the usable one."""
  root = tmp_path_factory.mktemp('figure1')
  fake_data.write_fashion_mnist_idx(str(root / 'manual'), train=512, test=40)
  command = [sys.executable, 'experiments/figure1.py', '--config=configs/fashion_mnist.py:smoke',
             f'--seeds={SEEDS}', f'--learning_rates=0.01,{DIVERGING:g}',
             '--target_train_error=0.99', f'--out={root / "out"}',
             f'--workdirs={root / "workdirs"}', f'--config.data.data_dir={root / "tfds"}',
             f'--config.data.manual_dir={root / "manual"}', '--config.data.eval_split=test',
             f'--config.train.num_steps={STEPS}']
  return dict(out=root / 'out', workdirs=root / 'workdirs', command=command,
              first=run(command))


def run(command) -> subprocess.CompletedProcess:
  env = {**os.environ, 'XLA_FLAGS': '--xla_force_host_platform_device_count=1'}
  result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=900)
  assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
  return result


def test_the_sweep_records_a_diverging_rate_and_goes_on_to_the_seeds_at_the_usable_one(study):
  out = study['out']
  for activation in figure1.ACTIVATIONS:
    diverged = out / 'runs' / f'{activation}_lr{DIVERGING:g}' / 'seed0'
    assert 'NaN or infinite' in (diverged / 'failure.txt').read_text()
    for seed in range(SEEDS):
      config = json.loads((out / 'runs' / f'{activation}_lr0.01' / f'seed{seed}' /
                           'config.json').read_text())
      assert config['model']['activation'] == activation and config['seed'] == seed
      assert config['optim']['learning_rate'] == 0.01
  assert study['first'].stdout.count('failed: The loss or the gradients became NaN') == 2

  table = (out / 'results.md').read_text()
  assert table.count('diverged at step') == 2  # one per activation, in the sweep
  assert '| 0.01 | **8** | **8** |' in table  # reached at the first smoothed log: chosen
  assert 'Chosen (in bold), the fewest steps: ReLU 0.01, tanh 0.01.' in table
  assert '| tanh / ReLU | | 1.00× | 1.00×, 1.00× |' in table
  assert 'tanh / ReLU − 1 = +0.00' in table and 'not reproduced' in table
  assert 'unlike Figure 1, with regularisation: dropout 0.5, weight decay 0.0005' in table

  commands = (out / 'commands.sh').read_text().splitlines()
  trainings = [c for c in commands if c.startswith('python -m alexnet.main ')]
  assert len(trainings) == 2 * 2 + 2 * (SEEDS - 1)  # the sweep, then the other seeds
  assert len(set(trainings)) == len(trainings)
  assert 'set -e' not in commands  # a diverging rate does not stop the script's other runs
  with Image.open(out / 'figure1.png') as image:
    assert image.format == 'PNG' and image.width > 600


def test_a_rerun_skips_every_run_the_failed_ones_too(study):
  logs = sorted(study['workdirs'].glob('*/seed*/train.log'))
  before = {log: log.stat().st_mtime_ns for log in logs}
  table = (study['out'] / 'results.md').read_text()

  result = run(study['command'])

  assert result.stdout.count('done before, skipped') == 2 * 2 + 2 * SEEDS
  assert 'training in' not in result.stdout
  assert {log: log.stat().st_mtime_ns for log in logs} == before
  assert (study['out'] / 'results.md').read_text() == table


def test_the_fastest_rate_is_the_fewest_steps_to_the_target_and_the_lower_rate_on_a_tie():
  def reached(steps):
    return figure1.Outcome(steps, 1000, None)

  never = figure1.Outcome(None, 1000, None)
  diverged = figure1.Outcome(None, 40, 'The loss or the gradients became NaN or infinite at '
                             'step 40; training stopped.')
  assert figure1.fastest([0.01, 0.1, 1.0], [reached(300), reached(120), diverged]) == 0.1
  assert figure1.fastest([0.01, 0.1, 1.0], [reached(120), reached(120), never]) == 0.01
  assert figure1.fastest([0.1, 1.0], [never, diverged]) is None
  assert (str(never), str(diverged)) == ('> 1000', 'diverged at step 40')
  late = figure1.Outcome(90, 200, diverged.failure.replace('40', '200'))
  assert str(late) == '90, then diverged at step 200'
