"""The trainer as a user runs it: real processes, real kills, real checkpoints on disk.

Runs use configs/fashion_mnist.py:smoke on a small Fashion-MNIST written in
Debian's idx format (tests/fake_data.py), prepared once per session.
"""

import collections
import gzip
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

import fake_data
from alexnet.config import ModelConfig, OptimConfig
from alexnet.data import input_pipeline, pixel_statistics, preparation, registry
from alexnet.run.workdir import Workdir
from alexnet.training import loop, optim, trainer
from processes import (
    ROOT,
    SMOKE,
    assert_same_parameters,
    final_parameters,
    logged_step,
    run,
    signal_when,
    start,
    training_records,
)
from tiny_run import smoke_config
from xla_flags import cpu_devices

# Patience 1 makes the plateau rule divide the learning rate within the smoke run, so
# a resume that lost its state would train with another rate.
PLATEAU_EVERY_EVALUATION = [
    '--config.optim.plateau_patience=1', '--config.optim.plateau_min_improvement=0.5'
]


def kill_after_step(workdir: Path, step: int, *overrides: str) -> None:
  """Starts a run and SIGKILLs it once its metrics.jsonl shows ``step`` done."""
  started = time.time_ns()
  process = start(workdir, *overrides)
  signal_when(process, lambda: logged_step(workdir, started) >= step, signal.SIGKILL, poll_s=0.05)
  process.communicate(timeout=60)
  assert process.returncode == -signal.SIGKILL, f'run ended before step {step}'


@pytest.mark.integration
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

  assert_same_parameters(workdir, expected, f'after kills at {kill_points}')
  assert training_records(workdir) == reference  # each step once, with the same numbers


@pytest.mark.integration
def test_a_finished_run_reports_its_final_error_and_keeps_latest_and_best_checkpoints(
    tmp_path, fashion_mnist):
  output = run(tmp_path, *fashion_mnist)
  assert re.search(r'final test\[:128\] error \(10 crops\): top-1 [\d.]+ %', output)
  assert re.search(r'training \(steps 1–24\) took \d+ min \d+ s', output)
  records = Workdir(tmp_path).read_metrics()
  final = [r for r in records if 'final_top1_error' in r]
  assert len(final) == 1 and final[0]['final_crops'] == 10 and final[0]['train_seconds'] > 0
  evaluations = [r for r in records if 'eval_top1_error' in r]
  assert [r['step'] for r in evaluations] == [8, 16, 24]
  kept = Workdir(tmp_path).checkpoint_steps()  # smoke: every 4 steps, keep 3
  assert kept[-3:] == [16, 20, 24] and len(kept) <= 4
  error_at = {r['step']: r['eval_top1_error'] for r in evaluations}
  assert min(error_at[s] for s in kept if s in error_at) == min(error_at.values())  # the best
  assert len(list(Workdir(tmp_path).tensorboard_dir.iterdir())) == 1
  assert Workdir(tmp_path).read_config().train.num_steps == 24


@pytest.mark.integration
def test_nonfinite_loss_stops_the_run_naming_the_step_and_keeps_the_last_good_checkpoint(
    tmp_path, fashion_mnist):
  # The rate rises from 0 towards 10 over the 24 steps: healthy at first, then divergent.
  output = run(tmp_path, *fashion_mnist, '--config.optim.schedule=constant',
               '--config.optim.learning_rate=10', '--config.optim.warmup_epochs=1.5',
               '--config.train.log_every_steps=1', status=1)
  bad_step = int(output.split('became NaN or infinite at step ')[1].split(';')[0])
  assert 'The last good checkpoint is step' in output and 'Traceback' not in output
  kept = Workdir(tmp_path).checkpoint_steps()
  assert kept and max(kept) <= bad_step
  params = final_parameters(tmp_path)
  assert all(np.all(np.isfinite(leaf)) for leaf in jax.tree.leaves(params))


@pytest.mark.integration
def test_the_evaluations_of_a_run_reuse_its_dataset_without_reading_it_again(tmp_path, monkeypatch):
  fake_data.write_fashion_mnist_idx(str(tmp_path / 'manual'), train=512, test=40)
  config = smoke_config(tmp_path)
  config.train.num_steps = 16  # evaluations at steps 8 and 16, then the final one
  preparation.prepare(config.data, ModelConfig.from_mapping(config.model))
  calls = collections.Counter()
  for module, name in ((registry, 'validate_data'), (registry, 'spec'), (pixel_statistics, 'load'),
                       (input_pipeline, 'source')):
    original = getattr(module, name)

    def counted(*args, _name=name, _function=original, **kwargs):
      calls[_name] += 1
      return _function(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
  trainer.train_and_evaluate(config, tmp_path / 'run')
  evaluations = [r for r in Workdir(tmp_path / 'run').read_metrics() if 'eval_top1_error' in r]
  assert len(evaluations) == 2
  # Opened once: checked, its builder made and its statistics read once, and one record
  # source for the training split and one for the evaluation split.
  assert calls == {'validate_data': 1, 'spec': 1, 'load': 1, 'source': 2}


@pytest.mark.integration
def test_profile_steps_write_a_trace_of_those_training_steps(tmp_path):
  fake_data.write_fashion_mnist_idx(str(tmp_path / 'manual'), train=512, test=40)
  config = smoke_config(tmp_path)
  config.train.num_steps, config.train.profile_steps = 6, '3,4'
  trainer.train_and_evaluate(config, tmp_path / 'run')
  traces = list((tmp_path / 'run' / 'tensorboard' / 'plugins' / 'profile').glob('*/*'))
  assert any(path.name.endswith('.xplane.pb') for path in traces)  # TensorBoard's profile tab
  perfetto = [path for path in traces if path.name == 'perfetto_trace.json.gz']
  events = json.loads(gzip.decompress(perfetto[0].read_bytes()))['traceEvents']
  calls = sorted((event['ts'], event['ts'] + event['dur']) for event in events
                 if event.get('name') == 'PjitFunction(train_step)')
  outermost = [
      call for call in calls
      if not any(other != call and other[0] <= call[0] and call[1] <= other[1] for other in calls)
  ]
  assert len(outermost) == 2  # steps 3 and 4, not the first (compiling) ones


def test_between_logged_steps_the_loop_refuses_what_would_make_it_wait_for_the_device():
  """Every trainer test runs its steps under loop.nothing_waits_for_the_device(). What the
  loop did before — the learning rate computed by optax on the device at every step and
  read back — is refused there; the table the loop reads now is not."""
  config = OptimConfig(learning_rate=0.03, schedule='cosine', warmup_epochs=0.0)
  schedule = optim.base_schedule(config, steps_per_epoch=10, total_steps=100)
  rates = optim.base_rates(config, steps_per_epoch=10, total_steps=100)
  with loop.nothing_waits_for_the_device():
    with pytest.raises(RuntimeError, match='Disallowed host-to-device transfer'):
      float(schedule(5))
    assert abs(float(rates[5]) - 0.03 * 0.5 * (1 + np.cos(np.pi * 5 / 100))) < 1e-8


# The config's own checks are tested in this process (tests/test_config.py); these runs prove
# that the command stops before any work with one line and the usage status, for a check of
# the config's fields and one of its dataset's name (alexnet.data.registry), both made before
# the trainer is imported, and one made when the trainer builds the mesh.
@pytest.mark.integration
@pytest.mark.parametrize('override, message', [
    ('--config.model.towers=3', r'model.towers=3 is not allowed: it must be 1 or 2'),
    ('--config.data.dataset=imagenet2013',
     r"data.dataset='imagenet2013' is not allowed: it must be imagenet2012 or fashion_mnist or "
     r'image_folder'),
    ('--config.train.batch_size=12', r'batch of 12 images .* multiple of 8'),
])
def test_config_errors_stop_before_any_work_with_one_line_naming_the_field(
    tmp_path, override, message):
  data_dir = tmp_path / 'tfds'
  command = [
      sys.executable, '-m', 'alexnet.main', *SMOKE, f'--workdir={tmp_path / "run"}',
      f'--config.data.data_dir={data_dir}', '--config.mesh.model=1', override
  ]
  env = {**os.environ, **cpu_devices(8)}
  result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
  assert result.returncode == 2, result.stderr[-2000:]
  said = [line for line in result.stderr.splitlines() if line.startswith('error: ')]
  assert len(said) == 1 and re.search(message, said[0]), result.stderr[-2000:]
  assert 'Traceback' not in result.stderr
  assert not (tmp_path / 'run').exists() and not data_dir.exists()


@pytest.mark.integration
def test_a_checkpoint_interval_in_minutes_saves_at_the_first_logged_step_after_it(
    tmp_path, fashion_mnist):
  output = run(tmp_path, *fashion_mnist, '--config.train.checkpoint_every_steps=1000',
               '--config.train.checkpoint_every_minutes=1e-9', '--config.train.log_every_steps=6',
               '--config.train.keep_checkpoints=10', '--config.train.eval_every_epochs=10')
  assert 'final test' in output
  assert Workdir(tmp_path).checkpoint_steps() == [6, 12, 18, 24]  # the log steps; 24 is the end


@pytest.mark.integration
def test_a_known_error_is_one_line_and_alexnet_traceback_adds_the_traceback(tmp_path):
  manual = tmp_path / 'manual'
  manual.mkdir()
  command = [
      sys.executable, '-m', 'alexnet.main', '--config=configs/imagenet_paper.py:smoke',
      f'--workdir={tmp_path / "run"}', f'--config.data.manual_dir={manual}',
      f'--config.data.data_dir={tmp_path / "tfds"}', '--config.mesh.model=1'
  ]
  for traceback in ('', '1'):
    env = {**os.environ, **cpu_devices(1), 'ALEXNET_TRACEBACK': traceback}
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stderr[-3000:]
    last = result.stderr.strip().splitlines()[-1]
    assert re.match(
        r'error: ImageNet tars missing: ILSVRC2012_img_train.tar, '
        r'ILSVRC2012_img_val.tar not found in ', last), result.stderr[-3000:]
    assert ('Traceback' in result.stderr) == bool(traceback)
    assert not (tmp_path / 'run').exists()
