"""The trainer as a user runs it: real processes, real kills, real checkpoints on disk.

Runs use configs/fashion_mnist.py:smoke on a small Fashion-MNIST written in
Debian's idx format (tests/fake_data.py), prepared once per session.
"""

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest

from alexnet import checkpoint, metrics, optim, parallel, train, trainer
from alexnet.config import ModelConfig
import fake_data

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ['--config', 'configs/fashion_mnist.py:smoke']
# Patience 1 makes the plateau rule divide the learning rate within the smoke run, so
# a resume that lost its state would train with another rate.
PLATEAU_EVERY_EVALUATION = ['--config.optim.plateau_patience=1',
                            '--config.optim.plateau_min_improvement=0.5']


@pytest.fixture(scope='session')
def fashion_mnist(tmp_path_factory) -> list[str]:
  """Command-line overrides pointing at a small Fashion-MNIST (512 train, 128 test)."""
  root = tmp_path_factory.mktemp('fashion_mnist')
  fake_data.write_fashion_mnist_idx(str(root / 'manual'), train=512, test=128)
  return [f'--config.data.data_dir={root / "tfds"}', f'--config.data.manual_dir={root / "manual"}']


def start(workdir: Path, *overrides: str) -> subprocess.Popen:
  command = [sys.executable, '-m', 'alexnet.main', *SMOKE, f'--workdir={workdir}', *overrides]
  env = {**os.environ, 'XLA_FLAGS': '--xla_force_host_platform_device_count=1'}
  return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)


def run(workdir: Path, *overrides: str, expect_success: bool = True) -> str:
  process = start(workdir, *overrides)
  output, _ = process.communicate(timeout=600)
  assert (process.returncode == 0) == expect_success, output
  return output


def kill_after_step(workdir: Path, step: int, *overrides: str) -> None:
  """Starts a run and SIGKILLs it once its metrics.jsonl shows ``step`` done."""
  started = time.time_ns()
  process = start(workdir, *overrides)
  deadline = time.monotonic() + 600
  log = workdir / 'metrics.jsonl'
  while time.monotonic() < deadline and process.poll() is None:
    # Only this process's writes count: a resumed run first rewrites the file.
    records = metrics.read_metrics(workdir) if log.exists() and (
        log.stat().st_mtime_ns > started) else []
    if records and records[-1]['step'] >= step:
      process.send_signal(signal.SIGKILL)
      break
    time.sleep(0.05)
  process.communicate(timeout=60)
  assert process.returncode == -signal.SIGKILL, f'run ended before step {step}'


def final_parameters(workdir: Path) -> dict:
  """The parameters of the latest checkpoint, read as plain arrays."""
  ckpt = checkpoint.Checkpoints(workdir, keep=3)
  step = ckpt.steps()[-1]
  restored = ckpt.manager.restore(step, args=checkpoint.ocp.args.Composite(
      state=checkpoint.ocp.args.StandardRestore()))
  ckpt.close()
  return jax.tree.map(np.asarray, restored.state['params'])


def training_records(workdir: Path) -> list[dict]:
  """metrics.jsonl without the fields that depend on timing."""
  timing = ('time', 'images_per_second', 'host_memory_gib', 'device_memory_gib', 'train_seconds')
  return [{k: v for k, v in r.items() if k not in timing} for r in metrics.read_metrics(workdir)]


@pytest.mark.slow
def test_runs_killed_at_random_steps_resume_to_bitwise_identical_parameters(
    tmp_path, fashion_mnist):
  overrides = [*fashion_mnist, *PLATEAU_EVERY_EVALUATION, '--config.train.log_every_steps=1']
  run(tmp_path / 'uninterrupted', *overrides)
  expected = final_parameters(tmp_path / 'uninterrupted')
  reference = training_records(tmp_path / 'uninterrupted')
  rates = {r['learning_rate'] for r in reference if 'learning_rate' in r}
  assert len(rates) > 1, 'the plateau rule never divided the rate: the test would prove less'

  workdir = tmp_path / 'killed'
  kill_points = sorted(random.Random(0).sample(range(2, 23), 3))
  for step in kill_points:
    kill_after_step(workdir, step, *overrides)
  run(workdir, *overrides)

  resumed = final_parameters(workdir)
  for name in expected:
    for kind in expected[name]:
      np.testing.assert_array_equal(resumed[name][kind], expected[name][kind],
                                    err_msg=f'{name}/{kind} after kills at {kill_points}')
  assert training_records(workdir) == reference  # each step once, with the same numbers


def test_a_finished_run_reports_its_final_error_and_keeps_latest_and_best_checkpoints(
    tmp_path, fashion_mnist):
  output = run(tmp_path, *fashion_mnist)
  assert re.search(r'final test\[:128\] error \(10 crops\): top-1 [\d.]+ %', output)
  assert re.search(r'training \(steps 1–24\) took \d+ min \d+ s', output)
  records = metrics.read_metrics(tmp_path)
  final = [r for r in records if 'final_top1_error' in r]
  assert len(final) == 1 and final[0]['final_crops'] == 10 and final[0]['train_seconds'] > 0
  evaluations = [r for r in records if 'eval_top1_error' in r]
  assert [r['step'] for r in evaluations] == [8, 16, 24]
  kept = checkpoint.Checkpoints(tmp_path, keep=3).steps()  # smoke: every 4 steps, keep 3
  assert kept[-3:] == [16, 20, 24] and len(kept) <= 4
  error_at = {r['step']: r['eval_top1_error'] for r in evaluations}
  assert min(error_at[s] for s in kept if s in error_at) == min(error_at.values())  # the best
  assert len(list((tmp_path / 'tensorboard').iterdir())) == 1
  assert json.loads((tmp_path / 'config.json').read_text())['train']['num_steps'] == 24


def test_nonfinite_loss_stops_the_run_naming_the_step_and_keeps_the_last_good_checkpoint(
    tmp_path, fashion_mnist):
  # The rate rises from 0 towards 10 over the 24 steps: healthy at first, then divergent.
  output = run(tmp_path, *fashion_mnist, '--config.optim.schedule=constant',
               '--config.optim.learning_rate=10', '--config.optim.warmup_epochs=1.5',
               '--config.train.log_every_steps=1', expect_success=False)
  bad_step = int(output.split('became NaN or infinite at step ')[1].split(';')[0])
  assert 'The last good checkpoint is step' in output
  ckpt = checkpoint.Checkpoints(tmp_path, keep=3)
  assert ckpt.steps() and max(ckpt.steps()) <= bad_step
  params = final_parameters(tmp_path)
  assert all(np.all(np.isfinite(leaf)) for leaf in jax.tree.leaves(params))


@pytest.mark.parametrize('override, message', [
    ('--config.model.lrn_n=5', 'lrn_n'),
    ('--config.model.towers=3', r'model.towers=3 is not allowed: it must be 1 or 2'),
    ('--config.optim.learning_rate=-0.1', r'optim.learning_rate=-0.1 is not allowed'),
    ('--config.optim.schedule=linear', r"optim.schedule='linear' .* plateau or step"),
    ('--config.data.eval_crops=5', r'data.eval_crops=5 .* 1 or 10'),
    ('--config.train.batch_size=12', r'batch of 12 images .* multiple of 8'),
])
def test_config_errors_stop_before_any_work_naming_the_field(tmp_path, override, message):
  data_dir = tmp_path / 'tfds'
  command = [sys.executable, '-m', 'alexnet.main', *SMOKE, f'--workdir={tmp_path / "run"}',
             f'--config.data.data_dir={data_dir}', '--config.mesh.model=1', override]
  env = {**os.environ, 'XLA_FLAGS': '--xla_force_host_platform_device_count=8'}
  result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
  assert result.returncode != 0
  assert re.search(message, result.stderr), result.stderr[-2000:]
  assert not (tmp_path / 'run').exists() and not data_dir.exists()


def tiny_state(mesh_shape):
  data, model = mesh_shape
  net = parallel.ShardedAlexNet(ModelConfig(num_classes=10, width=1 / 16, image_size=35),
                                parallel.make_mesh(data, model, jax.devices()[:data * model]))
  tx = optim.make_optimizer(dict(learning_rate=0.01, momentum=0.9, weight_decay=5e-4,
                                 weight_decay_on_biases=False, update_rule='paper'))
  return net, tx


def test_a_checkpoint_saved_on_one_mesh_restores_on_others(tmp_path):
  net, tx = tiny_state((1, 2))
  state = train.create_train_state(net, tx, seed=3)
  batch = dict(image=jax.random.normal(jax.random.key(0), (8, 35, 35, 3)),
               label=np.arange(8) % 10)
  state, _ = train.make_train_step(net, tx)(state, batch, 0.01)
  saved = checkpoint.Checkpoints(tmp_path, keep=2)
  saved.save(1, state, {'plateau': {}})
  saved.wait()
  expected = jax.device_get(state)
  for shape in [(1, 1), (4, 2), (8, 1)]:
    other_net, other_tx = tiny_state(shape)
    restored, progress = checkpoint.Checkpoints(tmp_path, keep=2).restore(
        trainer.abstract_train_state(other_net, other_tx))
    assert progress == {'plateau': {}}
    kernel = restored.params['conv2']['kernel']
    assert kernel.sharding.mesh.shape == dict(zip(('data', 'model'), shape))
    jax.tree.map(np.testing.assert_array_equal, jax.device_get(restored), expected)


def test_a_damaged_latest_checkpoint_is_set_aside_and_the_previous_one_used(tmp_path, caplog):
  net, tx = tiny_state((1, 1))
  state = train.create_train_state(net, tx, seed=0)
  ckpt = checkpoint.Checkpoints(tmp_path, keep=3)
  for step in (4, 8):
    ckpt.save(step, state.replace(step=np.int32(step)), {'step': step})
  ckpt.wait()
  for path in (tmp_path / 'checkpoints' / '8').rglob('*'):
    if path.is_file() and path.stat().st_size > 64:
      os.truncate(path, path.stat().st_size // 2)
  # A save cut short leaves a temporary directory, which is never read.
  (tmp_path / 'checkpoints' / '12.orbax-checkpoint-tmp-1').mkdir()
  restored, progress = checkpoint.Checkpoints(tmp_path, keep=3).restore(
      trainer.abstract_train_state(net, tx))
  assert progress == {'step': 4} and int(restored.step) == 4
  assert (tmp_path / 'damaged_checkpoints' / '8').is_dir()
  assert 'checkpoint at step 8 cannot be read' in caplog.text


def test_a_checkpoint_of_another_network_is_refused_with_the_differing_shapes(tmp_path):
  net, tx = tiny_state((1, 1))
  ckpt = checkpoint.Checkpoints(tmp_path, keep=3)
  ckpt.save(1, train.create_train_state(net, tx, seed=0), {})
  ckpt.wait()
  wider = parallel.ShardedAlexNet(ModelConfig(num_classes=10, width=1 / 8, image_size=35),
                                  parallel.make_mesh(1, 1, jax.devices()[:1]))
  with pytest.raises(checkpoint.IncompatibleCheckpointError, match='params/conv1/kernel'):
    checkpoint.Checkpoints(tmp_path, keep=3).restore(trainer.abstract_train_state(wider, tx))
  assert (tmp_path / 'checkpoints' / '1').is_dir()  # refused, not set aside
