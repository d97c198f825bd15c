"""experiments/ablations.py and runner.py: variants × seeds, the table, the plots, resuming."""

import json
import os
import re
import subprocess
import sys

import pytest
from PIL import Image

import fake_data
from tiny_run import ROOT

sys.path.insert(0, str(ROOT / 'experiments'))
import ablations
import curves
import runner
from xla_flags import cpu_devices

# The sweep fixture runs once, on one xdist worker.
pytestmark = pytest.mark.xdist_group('ablations')

STEPS = 8
SEEDS = 2


@pytest.fixture(scope='module')
def sweep(tmp_path_factory) -> dict:
  """base and no_lrn × 2 seeds of the smoke config, 8 steps each, on a fake Fashion-MNIST."""
  root = tmp_path_factory.mktemp('ablations')
  fake_data.write_fashion_mnist_idx(str(root / 'manual'), train=512, test=40)
  command = [
      sys.executable, 'experiments/ablations.py', '--config=configs/fashion_mnist.py:smoke',
      f'--seeds={SEEDS}', '--variants=no_lrn', f'--out={root / "out"}',
      f'--workdirs={root / "workdirs"}', f'--config.data.data_dir={root / "tfds"}',
      f'--config.data.manual_dir={root / "manual"}', '--config.data.eval_split=test[:20]',
      '--config.data.test_split=test[20:]', '--config.data.train_eval_split=train[:64]',
      f'--config.train.num_steps={STEPS}'
  ]
  first = run(command)
  return dict(root=root, out=root / 'out', workdirs=root / 'workdirs', command=command, first=first)


def run(command, expect_success=True) -> subprocess.CompletedProcess:
  env = {**os.environ, **cpu_devices(1)}
  result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
  assert (result.returncode == 0) == expect_success, (result.stdout + result.stderr)[-3000:]
  return result


@pytest.mark.integration
def test_the_sweep_writes_the_table_the_plots_and_every_run_command_and_config(sweep):
  out = sweep['out']
  table = (out / 'results.md').read_text()
  for variant in ('base', 'no_lrn'):
    finals = [
        next(
            json.loads(line) for line in (out / 'runs' / variant / f'seed{s}'
                                          / 'metrics.jsonl').read_text().splitlines()
            if 'final_top1_error' in line) for s in range(SEEDS)
    ]
    assert all(f['step'] == STEPS and f['final_crops'] == 10 for f in finals)
    assert all(f['final_examples'] == f['final_centre_examples'] == 20 for f in finals)
    assert all(f['final_train_examples'] == 64 for f in finals)
    row = next(line for line in table.splitlines() if line.startswith(f'| {variant} |'))
    cells = [cell.strip() for cell in row.split('|')[3:8]]  # centre, ten, loss, train, gap
    for cell, key in zip(cells, ('final_centre_top1_error', 'final_top1_error', 'final_loss',
                                 'final_train_top1_error')):
      scale = 1 if key == 'final_loss' else 100
      assert cell.startswith(f'{scale * sum(f[key] for f in finals) / SEEDS:.2f} ± '), (key, row)
  no_lrn_row = next(line for line in table.splitlines() if line.startswith('| no_lrn |'))
  # Δ from the base, centre crop, ten patches and gap, each with its 95 % interval and p
  deltas = re.findall(r'\| [+-]\d+\.\d\d \[[+-]\d+\.\d\d, [+-]\d+\.\d\d\], p = [\d.e-]+ ',
                      no_lrn_row)
  assert len(deltas) == 3, no_lrn_row
  assert 'top-5' not in table

  for name in ('training_loss.png', 'eval_error.png', 'train_and_eval_error.png'):
    with Image.open(out / name) as image:
      assert image.format == 'PNG' and image.width > 300
    assert (out / name).stat().st_size < 1_000_000

  commands = (out / 'commands.sh').read_text().splitlines()
  trainings = [c for c in commands if c.startswith('python -m alexnet.main ')]
  assert len(trainings) == 2 * SEEDS
  assert sum('--config.model.lrn=False' in c for c in trainings) == SEEDS
  for seed in range(SEEDS):
    assert sum(c.endswith(f'--config.seed={seed}') for c in trainings) == 2
    config = json.loads((out / 'runs' / 'no_lrn' / f'seed{seed}' / 'config.json').read_text())
    assert config['seed'] == seed and config['model']['lrn'] is False
    assert config['train']['num_steps'] == STEPS
  assert 'experiments/ablations.py --config=configs/fashion_mnist.py:smoke' in commands[2]


@pytest.mark.integration
def test_a_rerun_skips_finished_runs_and_recovers_records_from_finished_workdirs(sweep):
  logs = sorted(sweep['workdirs'].glob('*/seed*/train.log'))
  assert len(logs) == 2 * SEEDS
  before = {log: log.stat().st_mtime_ns for log in logs}
  # A record lost from --out is copied back from its finished workdir, not trained again.
  lost = sweep['out'] / 'runs' / 'no_lrn' / 'seed1'
  for path in lost.iterdir():
    path.unlink()
  table = (sweep['out'] / 'results.md').read_text()

  result = run(sweep['command'])

  assert result.stdout.count('done before, skipped') == 2 * SEEDS - 1
  assert 'no_lrn seed 1: test top-1' in result.stdout and 'training in' not in result.stdout
  assert {log: log.stat().st_mtime_ns for log in logs} == before
  assert (sweep['out'] / 'results.md').read_text() == table


@pytest.mark.integration
def test_a_rerun_with_another_config_stops_before_running_naming_the_changed_field(sweep):
  changed = [a for a in sweep['command'] if not a.startswith('--config.train.num_steps')]
  result = run([*changed, f'--config.train.num_steps={STEPS + 1}'], expect_success=False)
  assert 'made with another config' in result.stderr
  assert 'base seed 0' in result.stderr and 'train.num_steps' in result.stderr
  assert 'training in' not in result.stdout


@pytest.mark.integration
def test_a_misspelt_override_stops_the_sweep_before_any_run(tmp_path):
  result = run([
      sys.executable, 'experiments/ablations.py', '--config=configs/fashion_mnist.py',
      f'--out={tmp_path / "out"}', '--config.model.lrn_n=3'
  ], expect_success=False)
  assert 'cannot be built' in result.stderr and 'lrn_n' in result.stderr
  assert not (tmp_path / 'out').exists()


@pytest.mark.filterwarnings('ignore:the load_module:DeprecationWarning')  # ml_collections
def test_variants_change_only_their_own_fields_after_the_users_overrides():
  specs = runner.run_specs('configs/study/base.py', ['--config.model.lrn=True'], ablations.VARIANTS,
                           seeds=[0], workdirs=ROOT / 'w', out=ROOT / 'o')
  base = runner.resolve_config(specs[0].command)
  for spec in specs[1:]:
    config = runner.resolve_config(spec.command)
    changed = runner.differing_fields(base, config)
    expected = {f'{o.split("=")[0]}' for o in spec.variant.overrides} - {'mesh.model'}
    assert set(changed) == expected, spec.variant.name
  no_lrn = next(s for s in specs if s.variant.name == 'no_lrn')
  assert runner.resolve_config(no_lrn.command)['model']['lrn'] is False


def test_steps_to_error_takes_the_first_step_where_the_smoothed_error_reaches_the_target():
  errors = [0.9, 0.8, 0.7, 0.1, 0.6, 0.3, 0.3, 0.15, 0.2, 0.2]
  records = [{'step': 10 * (i + 1), 'train_top1_error': e} for i, e in enumerate(errors)]
  records.insert(3, {'step': 35, 'eval_top1_error': 0.0})  # other records are ignored
  # Trailing means of 5: 0.62, 0.5, 0.4, 0.29, …: ≤ 0.3 first at the 8th value (step 80).
  assert curves.steps_to_error(records, 0.3) == 80
  assert curves.steps_to_error(records, 0.05) is None
