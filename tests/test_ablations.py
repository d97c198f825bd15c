"""experiments/ablations.py: variants × seeds, the table, the plots, resuming a sweep."""

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
import ablations  # noqa: E402
import figures  # noqa: E402

STEPS = 8
SEEDS = 2


@pytest.fixture(scope='module')
def sweep(tmp_path_factory) -> dict:
  """base and no_lrn × 2 seeds of the smoke config, 8 steps each, on a fake Fashion-MNIST."""
  root = tmp_path_factory.mktemp('ablations')
  fake_data.write_fashion_mnist_idx(str(root / 'manual'), train=512, test=40)
  command = [sys.executable, 'experiments/ablations.py', '--config=configs/fashion_mnist.py:smoke',
             f'--seeds={SEEDS}', '--variants=no_lrn', f'--out={root / "out"}',
             f'--workdirs={root / "workdirs"}',
             f'--config.data.data_dir={root / "tfds"}',
             f'--config.data.manual_dir={root / "manual"}',
             '--config.data.eval_split=test', f'--config.train.num_steps={STEPS}']
  first = run(command)
  return dict(root=root, out=root / 'out', workdirs=root / 'workdirs', command=command,
              first=first)


def run(command, expect_success=True) -> subprocess.CompletedProcess:
  env = {**os.environ, 'XLA_FLAGS': '--xla_force_host_platform_device_count=1'}
  result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=900)
  assert (result.returncode == 0) == expect_success, (result.stdout + result.stderr)[-3000:]
  return result


def test_the_sweep_writes_the_table_the_plots_and_every_run_command_and_config(sweep):
  out = sweep['out']
  table = (out / 'results.md').read_text()
  for variant in ('base', 'no_lrn'):
    finals = [next(json.loads(line) for line in
                   (out / 'runs' / variant / f'seed{s}' / 'metrics.jsonl').read_text().splitlines()
                   if 'final_top1_error' in line) for s in range(SEEDS)]
    assert all(f['step'] == STEPS and f['final_crops'] == 10 for f in finals)
    mean = 100 * sum(f['final_top1_error'] for f in finals) / SEEDS
    row = next(line for line in table.splitlines() if line.startswith(f'| {variant} |'))
    assert f'| {mean:.2f} ± ' in row, row
  no_lrn_row = next(line for line in table.splitlines() if line.startswith('| no_lrn |'))
  # Δ from the base with its 95 % interval, and the verdict that interval gives
  assert re.search(r'\| [+-]\d+\.\d\d \[[+-]\d+\.\d\d, [+-]\d+\.\d\d\] \|', no_lrn_row)
  assert re.search(r'\*\*(reproduced|not reproduced|contradicted)\*\*', no_lrn_row)
  assert 'Ten patches against the centre patch** (§4.1, base runs)' in table

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
  assert 'no_lrn seed 1: top-1' in result.stdout and 'training in' not in result.stdout
  assert {log: log.stat().st_mtime_ns for log in logs} == before
  assert (sweep['out'] / 'results.md').read_text() == table


def test_a_rerun_with_another_config_stops_before_running_naming_the_changed_field(sweep):
  changed = [a for a in sweep['command'] if not a.startswith('--config.train.num_steps')]
  result = run([*changed, f'--config.train.num_steps={STEPS + 1}'], expect_success=False)
  assert 'made with another config' in result.stderr
  assert 'base seed 0' in result.stderr and 'train.num_steps' in result.stderr
  assert 'training in' not in result.stdout


def test_a_misspelt_override_stops_the_sweep_before_any_run(tmp_path):
  result = run([sys.executable, 'experiments/ablations.py', '--config=configs/fashion_mnist.py',
                f'--out={tmp_path / "out"}', '--config.model.lrn_n=3'], expect_success=False)
  assert 'cannot be built' in result.stderr and 'lrn_n' in result.stderr
  assert not (tmp_path / 'out').exists()


@pytest.mark.filterwarnings('ignore:the load_module:DeprecationWarning')  # ml_collections
def test_variants_change_only_their_own_fields_after_the_users_overrides():
  specs = ablations.run_specs('configs/fashion_mnist_study.py', ['--config.model.lrn=True'],
                              ablations.VARIANTS, seeds=1, workdirs=ROOT / 'w', out=ROOT / 'o')
  base = ablations.resolve_config(specs[0].command)
  for spec in specs[1:]:
    config = ablations.resolve_config(spec.command)
    changed = ablations.differing_fields(base, config)
    expected = {f'{o.split("=")[0]}' for o in spec.variant.overrides} - {'mesh.model'}
    assert set(changed) == expected, spec.variant.name
  no_lrn = next(s for s in specs if s.variant.name == 'no_lrn')
  assert ablations.resolve_config(no_lrn.command)['model']['lrn'] is False


def test_steps_to_error_takes_the_first_step_where_the_smoothed_error_reaches_the_target():
  errors = [0.9, 0.8, 0.7, 0.1, 0.6, 0.3, 0.3, 0.15, 0.2, 0.2]
  records = [{'step': 10 * (i + 1), 'train_top1_error': e} for i, e in enumerate(errors)]
  records.insert(3, {'step': 35, 'eval_top1_error': 0.0})  # other records are ignored
  # Trailing means of 5: 0.62, 0.5, 0.4, 0.29, …: ≤ 0.3 first at the 8th value (step 80).
  assert figures.steps_to_error(records, 0.3) == 80
  assert figures.steps_to_error(records, 0.05) is None


def test_differences_are_paired_by_seed_with_a_t_interval_and_a_verdict():
  assert ablations.mean_std([0.10, 0.12, 0.14]) == '12.00 ± 2.00'
  # per-seed differences +1, +3, +5 points: mean +3, standard error 2 / √3, t(0.975, 2) 4.303
  difference = ablations.paired_difference([0.11, 0.15, 0.19], [0.10, 0.12, 0.14])
  assert str(difference) == '+3.00 [-1.97, +7.97]'
  assert 'not reproduced' in ablations.verdict(difference, '> 0')
  clear = ablations.paired_difference([0.12, 0.13, 0.14], [0.10, 0.10, 0.10])  # +2, +3, +4
  assert str(clear) == '+3.00 [+0.52, +5.48]'
  assert 'reproduced' in ablations.verdict(clear, '> 0')
  assert 'not' not in ablations.verdict(clear, '> 0')
  assert 'contradicted' in ablations.verdict(clear, '< 0')
