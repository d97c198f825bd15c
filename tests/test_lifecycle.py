"""A run's life as people and schedulers live it: signals, a second launch, a changed config.

Real ``python -m alexnet.main`` processes get real SIGTERM and SIGINT at the moments that
matter (between steps, inside an evaluation, during an asynchronous save, while the
dataset is prepared); each must leave a checkpoint of the step it stopped at, say so in
one line, exit with the signal's conventional status, and resume to the parameters of a
run never interrupted, bit for bit.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import ml_collections
import numpy as np
import pytest

import fake_data
from alexnet import trained_run
from alexnet.run import checkpoint, checkpoint_files
from alexnet.run.workdir import Workdir
from alexnet.training import plan, trainer
from processes import (
    ROOT,
    SMOKE,
    assert_same_parameters,
    final_parameters,
    finish,
    frozen,
    logged_step,
    run,
    signal_when,
    snapshot,
    start,
    training_records,
    wait_until,
)
from shared_dirs import made_once
from xla_flags import cpu_devices

pytestmark = pytest.mark.integration

# Patience 1 makes the plateau rule divide the learning rate within the run, so a resume
# that lost the rule's state, or an evaluation, would go on with another rate.
LIFECYCLE = [
    '--config.optim.plateau_patience=1', '--config.optim.plateau_min_improvement=0.5',
    '--config.train.log_every_steps=1', '--config.data.eval_split=test',
    '--config.data.eval_crops=1'
]
STOP_LINE = r'stopped at step (\d+)(, during its evaluation[^\n]*)? by {}; rerun the same ' \
            r'command to resume'


@pytest.fixture(scope='session')
def data(tmp_path_factory) -> list[str]:
  root = made_once(
      tmp_path_factory, 'lifecycle_data',
      lambda root: fake_data.write_fashion_mnist_idx(str(root / 'manual'), train=512, test=512))
  return [
      f'--config.data.data_dir={root / "tfds"}', f'--config.data.manual_dir={root / "manual"}',
      *LIFECYCLE
  ]


@pytest.fixture(scope='session')
def uninterrupted(tmp_path_factory, data) -> Path:
  """A finished 24-step run with the lifecycle overrides, never interrupted."""

  def train(root: Path) -> None:
    output = run(root / 'run', *data)
    assert len({r['learning_rate'] for r in training_records(root / 'run') if 'learning_rate' in r
               }) > 1, ('the plateau rule never divided the rate: the tests would prove less\n'
                        + output)

  return made_once(tmp_path_factory, 'uninterrupted', train) / 'run'


def stopped_at(output: str, signal_name: str) -> tuple[int, bool]:
  """(the step the run said it stopped at, whether it was inside an evaluation)."""
  found = re.findall(STOP_LINE.format(signal_name), output)
  assert len(found) == 1, output
  assert 'Traceback' not in output and 'KeyboardInterrupt' not in output, output
  return int(found[0][0]), bool(found[0][1])


def assert_resumes_to_the_uninterrupted_run(workdir: Path, data: list[str], uninterrupted: Path,
                                            stop_step: int) -> None:
  assert stop_step in Workdir(workdir).checkpoint_steps()  # a checkpoint of the stopping step
  output = run(workdir, *data)
  assert f'resumed at step {stop_step}' in output
  assert_same_parameters(workdir, final_parameters(uninterrupted), f'stopped at {stop_step}')
  assert training_records(workdir) == training_records(uninterrupted)  # each step once


def test_sigterm_between_steps_saves_that_step_and_resumes_to_identical_parameters(
    tmp_path, data, uninterrupted):
  began = time.time_ns()
  process = start(tmp_path, *data)
  signal_when(process, lambda: logged_step(tmp_path, began) >= 5, signal.SIGTERM)
  output = finish(process, 128 + signal.SIGTERM)
  step, _ = stopped_at(output, 'SIGTERM')
  assert step >= 5 and Workdir(tmp_path).read_metrics()[-1]['step'] == step
  assert_resumes_to_the_uninterrupted_run(tmp_path, data, uninterrupted, step)


def test_sigint_inside_an_evaluation_stops_there_and_the_resumed_run_evaluates_that_step_first(
    tmp_path, data, uninterrupted):
  began = time.time_ns()
  process = start(tmp_path, *data)
  # Step 8's record is written just before its evaluation of 16 batches starts: the run,
  # frozen as soon as the record is seen, gets the signal inside that evaluation.
  wait_until(process, lambda: logged_step(tmp_path, began) >= 8, poll_s=0.005)
  with frozen([process.pid]):
    process.send_signal(signal.SIGINT)
  output = finish(process, 128 + signal.SIGINT)
  step, during_evaluation = stopped_at(output, 'SIGINT')
  assert (step, during_evaluation) == (8, True), output
  assert not [r for r in Workdir(tmp_path).read_metrics() if 'eval_top1_error' in r]
  assert_resumes_to_the_uninterrupted_run(tmp_path, data, uninterrupted, step)


def test_sigterm_during_an_asynchronous_save_keeps_that_save_and_saves_the_stopping_step(
    tmp_path, data, uninterrupted):
  checkpoints = Workdir(tmp_path).checkpoints_dir
  saving = lambda: checkpoints.is_dir() and any(
      p.name.startswith('8.') and p.name.endswith('tmp') for p in checkpoints.iterdir())
  process = start(tmp_path, *data)
  signal_when(process, saving, signal.SIGTERM, poll_s=0.001)  # step 8's save is being written
  output = finish(process, 128 + signal.SIGTERM)
  step, _ = stopped_at(output, 'SIGTERM')
  assert 8 in Workdir(tmp_path).checkpoint_steps() and step >= 8
  assert checkpoint_files.verify(checkpoints / '8') == ''  # complete, and its checksums match
  assert_resumes_to_the_uninterrupted_run(tmp_path, data, uninterrupted, step)


def test_sigint_while_the_dataset_is_prepared_stops_there_and_leaves_no_workdir(tmp_path):
  fake_data.write_fashion_mnist_idx(str(tmp_path / 'manual'), train=512, test=100)
  tfds_dir = tmp_path / 'tfds'
  overrides = [
      f'--config.data.data_dir={tfds_dir}', f'--config.data.manual_dir={tmp_path / "manual"}',
      '--config.train.num_steps=2', '--config.data.eval_split=test', '--config.data.eval_crops=1'
  ]
  preparing = lambda: any(tfds_dir.glob('alexnet_fashion_mnist/incomplete*'))
  process = start(tmp_path / 'run', *overrides)
  wait_until(process, preparing, poll_s=0.005)
  with frozen([process.pid]):  # preparing its first images, however fast the machine prepares
    process.send_signal(signal.SIGINT)
  output = finish(process, 128 + signal.SIGINT)
  assert re.search(r'stopped while preparing Fashion-MNIST by SIGINT; rerun the same command',
                   output), output
  assert 'Traceback' not in output
  assert not (tmp_path / 'run').exists()  # the refused run created nothing
  assert not any(tfds_dir.glob('alexnet_fashion_mnist/incomplete*'))  # TFDS removed its draft
  output = run(tmp_path / 'run', *overrides)
  assert 'final test error (centre crop)' in output


def test_a_second_ctrl_c_exits_at_once_and_the_saved_checkpoints_still_resume(tmp_path, data):
  # The second Ctrl-C has to arrive while the first one's stop (a step, a save) is still
  # running; on a loaded machine this test may react after that stop has already finished
  # cleanly (exit status 130). Such an attempt proves nothing either way and is repeated in
  # a fresh workdir; one attempt in five must see the second Ctrl-C kill the run.
  for attempt in range(5):
    workdir = tmp_path / f'attempt{attempt}'
    process = start(workdir, *data)
    signal_when(process, lambda workdir=workdir: 4 in Workdir(workdir).checkpoint_steps(),
                signal.SIGINT)
    while 'SIGINT received' not in (line := process.stdout.readline()):
      assert line, 'the run ended without saying it received SIGINT'
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=60)
    if process.returncode != 128 + signal.SIGINT:  # not the first Ctrl-C's clean stop
      break
  assert process.returncode == -signal.SIGINT  # killed by it: a shell shows 130
  output = run(workdir, *data)
  assert 'resumed at step' in output and 'final test error' in output


def test_a_second_trainer_on_a_held_workdir_is_refused_at_once_and_the_first_finishes(
    tmp_path, data, uninterrupted):
  began = time.time_ns()
  first = start(tmp_path, *data)
  wait_until(first, lambda: logged_step(tmp_path, began) >= 1, poll_s=0.05, timeout_s=300)
  with frozen([first.pid]):  # paused while it holds the lock, however fast it trains
    second = run(tmp_path, *data, status=2)
  assert re.search(
      rf'error: {re.escape(str(tmp_path))} is in use by another training run: '
      rf'process {first.pid} on host \S+, started ', second), second
  assert 'Traceback' not in second
  finish(first, 0)
  assert training_records(tmp_path) == training_records(uninterrupted)
  assert_same_parameters(tmp_path, final_parameters(uninterrupted))


def start_tools(workdir: Path, scratch: Path) -> list[subprocess.Popen]:
  """evaluate, predict and export on ``workdir``, at once, as people peek at a live run."""
  image = scratch / 'image.jpg'
  if not image.exists():
    image.write_bytes(fake_data.jpeg_bytes(np.random.default_rng(0), 40, 40))
  env = {**os.environ, **cpu_devices(1)}
  commands = [['-m', 'alexnet.evaluate', '--crops=1', '--split=test[:64]'],
              ['-m', 'alexnet.predict', '--crops=1',
               str(image)], ['-m', 'alexnet.export', f'--output={scratch / "params.npz"}']]
  return [
      subprocess.Popen([sys.executable, *command, f'--workdir={workdir}'], cwd=ROOT, env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
      for command in commands
  ]


def freeze_during_a_save(trainer: subprocess.Popen, workdir: Path) -> bool:
  """SIGSTOPs the trainer while a save of it is in flight (orbax's temporary directory is
  there) and a finished checkpoint exists; False if the trainer ended first."""
  checkpoints = Workdir(workdir).checkpoints_dir
  in_flight = lambda: any(checkpoints.glob(f'*{checkpoint._TMP_SUFFIX}*'))
  while trainer.poll() is None:
    if in_flight() and Workdir(workdir).checkpoint_steps():
      trainer.send_signal(signal.SIGSTOP)
      if in_flight():
        return True
      trainer.send_signal(signal.SIGCONT)  # the save finished before the trainer stopped
    time.sleep(0.002)
  return False


def test_tools_reading_a_live_run_never_disturb_its_trainer(tmp_path, data, uninterrupted):
  workdir = tmp_path / 'run'
  trainer = start(workdir, *data, '--config.train.checkpoint_every_steps=1')
  for _ in range(2):  # evaluate, predict and export while a save is half written
    assert freeze_during_a_save(trainer, workdir), trainer.communicate()[0]
    in_flight = sorted(Workdir(workdir).checkpoints_dir.glob(f'*{checkpoint._TMP_SUFFIX}*'))
    tools = start_tools(workdir, tmp_path)
    outputs = [tool.communicate(timeout=300)[0] for tool in tools]
    assert [tool.returncode for tool in tools] == [0, 0, 0], '\n'.join(outputs)
    assert all(path.exists() for path in in_flight), 'a tool removed the save in flight'
    trainer.send_signal(signal.SIGCONT)
  output = finish(trainer, 0)
  assert_same_parameters(workdir, final_parameters(uninterrupted), f'with tools reading:\n{output}')
  assert training_records(workdir) == training_records(uninterrupted)


def test_a_tool_on_a_workdir_without_checkpoints_says_so_and_creates_nothing(finished_run):
  shutil.rmtree(finished_run / 'checkpoints')
  before = snapshot(finished_run), sorted(p.name for p in finished_run.iterdir())
  with pytest.raises(trained_run.RunNotFoundError, match='has not saved one yet'):
    trained_run.load_run(finished_run)
  assert (snapshot(finished_run), sorted(p.name for p in finished_run.iterdir())) == before


@pytest.fixture
def finished_run(tmp_path, uninterrupted) -> Path:
  """A copy of the uninterrupted run, to change."""
  workdir = tmp_path / 'run'
  shutil.copytree(uninterrupted, workdir)
  return workdir


def test_a_refused_resume_leaves_every_file_byte_identical_and_the_run_usable(finished_run, data):
  before = snapshot(finished_run)
  output = run(finished_run, *data, '--config.model.width=0.125', status=2)
  assert re.search(
      r'error: this config cannot resume the run in .*: model.width: the run has '
      r'0.0625, this command 0.125\.', output), output
  assert 'Traceback' not in output
  assert snapshot(finished_run) == before
  assert trained_run.load_run(finished_run).step == 24  # the tools still read the run


def the_runs_config(workdir: Path) -> ml_collections.ConfigDict:
  return Workdir(workdir).read_config()


def shown(value) -> str:
  """A value as the messages write it."""
  return repr(value) if isinstance(
      value, str) else f'{value:g}' if isinstance(value, float) else str(value)


@pytest.mark.parametrize('field, value', [
    ('train.batch_size', 16),
    ('data.train_split', 'train[:256]'),
    ('seed', 1),
    ('model.lrn', False),
    ('data.flip', False),
    ('optim.update_rule', 'usual'),
])
def test_a_resume_that_would_change_what_the_checkpoint_means_is_refused_naming_both_values(
    finished_run, field, value):
  config = the_runs_config(finished_run)
  section, _, name = field.rpartition('.')
  old = (config[section] if section else config)[name]
  (config[section] if section else config)[name] = value
  before = snapshot(finished_run)
  with pytest.raises(
      plan.ResumeMismatchError,
      match=re.escape(f'{field}: the run has {shown(old)}, this command {shown(value)}')):
    trainer.train_and_evaluate(config, finished_run)
  assert snapshot(finished_run) == before


def test_a_resume_may_change_the_rate_length_and_intervals_and_config_json_records_from_when(
    finished_run, capsys):
  config = the_runs_config(finished_run)
  old_rate = config.optim.learning_rate
  config.optim.learning_rate = old_rate / 10  # as the paper did by hand
  config.train.num_steps = 28
  config.train.checkpoint_every_steps = 2
  config.mesh.data = 8  # checkpoints hold global arrays: any mesh may resume them
  config.train.eval_batch_size = 16
  trainer.train_and_evaluate(config, finished_run)
  captured = capsys.readouterr()
  printed = captured.out + captured.err
  assert re.search(
      r'changed on resume, from step 24: .*optim.learning_rate '
      rf'{old_rate:g} → {old_rate / 10:g}; .*train.num_steps 24 → 28', printed)
  changes = Workdir(finished_run).read_changes()
  assert [c['step'] for c in changes] == [24]
  assert changes[0]['fields']['optim.learning_rate'] == [old_rate, old_rate / 10]
  assert changes[0]['fields']['mesh.data'] == [-1, 8]
  assert Workdir(finished_run).read_config().optim.learning_rate == old_rate / 10
  assert Workdir(finished_run).final_record()['step'] == 28


def test_rerunning_a_finished_run_says_so_and_writes_nothing(finished_run, data):
  before = snapshot(finished_run)
  output = run(finished_run, *data)
  final = Workdir(finished_run).final_record()
  assert re.search(
      rf'this run finished at step 24; its final test error \(centre crop\) was top-1 '
      rf'{100 * final["final_top1_error"]:.2f} %', output), output
  assert 'training (steps' not in output
  assert snapshot(finished_run) == before


def test_a_shorter_run_than_the_steps_already_trained_is_refused_and_writes_nothing(
    finished_run, data):
  before = snapshot(finished_run)
  output = run(finished_run, *data, '--config.train.num_steps=12', status=2)
  assert output.strip().splitlines()[-1].startswith(
      'error: train.num_steps=12 is below the 24 steps this run has already trained'), output
  assert snapshot(finished_run) == before


def test_a_run_whose_checkpoints_are_all_damaged_is_refused_saying_what_was_moved_where(
    finished_run):
  for path in Workdir(finished_run).checkpoints_dir.rglob('*'):
    if path.is_file() and path.parent.name == 'd':  # the array data of every checkpoint
      path.write_bytes(b'\0' * path.stat().st_size)
  steps = Workdir(finished_run).checkpoint_steps()
  config = the_runs_config(finished_run)
  config.train.num_steps = 30  # not finished: it must resume from a checkpoint
  for _ in range(2):  # and again: never a silent restart from step 0
    with pytest.raises(
        checkpoint.DamagedCheckpointError,
        match=rf'no checkpoint of this run can be read: {len(steps)} damaged '
        rf'checkpoint\(s\) \(steps {", ".join(map(str, steps))}\) are in '
        r'.*damaged_checkpoints'
        r'.*Nothing was deleted\. To start this run again from step 0 here, '
        r'move .*damaged_checkpoints away'):
      trainer.train_and_evaluate(config, finished_run)
  assert Workdir(finished_run).damaged_steps() == steps
  assert Workdir(finished_run).checkpoint_steps() == []
  assert Workdir(finished_run).final_record()['step'] == 24  # nothing else touched


FILL_THE_DISK = r'''
set -u
mount -t tmpfs -o size=16m tmpfs "$MOUNT"
"$@" > "$OUT/first.txt" 2>&1 &
trainer=$!
until [ -d "$MOUNT/run/checkpoints/8" ] || ! kill -0 $trainer 2>/dev/null; do sleep 0.02; done
kill -STOP $trainer  # the disk fills up before the trainer takes another step
dd if=/dev/zero of="$MOUNT/filler" bs=64k 2>/dev/null
kill -CONT $trainer
wait $trainer
echo $? > "$OUT/first.status"
ls "$MOUNT/run/checkpoints" > "$OUT/checkpoints.txt"
rm "$MOUNT/filler"
"$@" > "$OUT/second.txt" 2>&1
echo $? > "$OUT/second.status"
'''


def test_a_full_disk_stops_the_run_with_one_line_naming_the_directory_and_keeps_the_checkpoints(
    tmp_path, data):
  if subprocess.run(['unshare', '--user', '--map-root-user', '--mount', 'true']).returncode:
    pytest.skip('needs unshare (user and mount namespaces) to give the run a small disk')
  mount, out = tmp_path / 'mount', tmp_path / 'out'
  mount.mkdir()
  out.mkdir()
  script = tmp_path / 'fill_the_disk.sh'
  script.write_text(FILL_THE_DISK)
  command = [
      sys.executable, '-m', 'alexnet.main', *SMOKE, f'--workdir={mount / "run"}', *data,
      '--config.train.eval_every_epochs=100'
  ]
  env = {**os.environ, 'MOUNT': str(mount), 'OUT': str(out), **cpu_devices(1)}
  subprocess.run(['unshare', '--user', '--map-root-user', '--mount', 'bash',
                  str(script), *command], cwd=ROOT, env=env, check=True, timeout=900)
  first = (out / 'first.txt').read_text()
  assert (out / 'first.status').read_text().strip() == '1', first
  lines = [line for line in first.splitlines() if line.startswith('error: ')]
  assert len(lines) == 1 and re.match(
      rf'error: no space left on the device of {re.escape(str(mount / "run"))}\S* while '
      r'writing .*: the checkpoints saved before are intact\.', lines[0]), first
  assert 'Traceback' not in first and lines[0] == first.strip().splitlines()[-1]
  assert {'4', '8'} <= set((out / 'checkpoints.txt').read_text().split())
  second = (out / 'second.txt').read_text()
  assert (out / 'second.status').read_text().strip() == '0', second
  assert re.search(r'resumed at step (8|12|16)', second), second


FILL_THE_DISK_WHILE_PREPARING = r'''
set -u
mount -t tmpfs -o size=300k tmpfs "$MOUNT"
"$@" > "$OUT/first.txt" 2>&1
echo $? > "$OUT/first.status"
mount -o remount,size=64m "$MOUNT"
"$@" > "$OUT/second.txt" 2>&1
echo $? > "$OUT/second.status"
'''


def test_a_full_disk_while_preparing_the_data_is_one_line_and_the_next_run_clears_what_it_left(
    tmp_path):
  if subprocess.run(['unshare', '--user', '--map-root-user', '--mount', 'true']).returncode:
    pytest.skip('needs unshare (user and mount namespaces) to give the run a small disk')
  mount, out = tmp_path / 'mount', tmp_path / 'out'
  mount.mkdir()
  out.mkdir()
  fake_data.write_fashion_mnist_idx(str(tmp_path / 'manual'), train=512, test=128)
  script = tmp_path / 'fill_the_disk.sh'
  script.write_text(FILL_THE_DISK_WHILE_PREPARING)
  command = [
      sys.executable, '-m', 'alexnet.main', *SMOKE, f'--workdir={tmp_path / "run"}',
      f'--config.data.data_dir={mount / "tfds"}', f'--config.data.manual_dir={tmp_path / "manual"}',
      '--config.train.num_steps=1'
  ]
  env = {**os.environ, 'MOUNT': str(mount), 'OUT': str(out), **cpu_devices(1)}
  subprocess.run(['unshare', '--user', '--map-root-user', '--mount', 'bash',
                  str(script), *command], cwd=ROOT, env=env, check=True, timeout=900)
  first = (out / 'first.txt').read_text()
  assert (out / 'first.status').read_text().strip() == '1', first
  assert first.strip().splitlines()[-1] == (
      f'error: no space left on the device of {mount / "tfds"} while writing the prepared '
      'fashion_mnist; free space there (or point --workdir / data.data_dir elsewhere) and rerun '
      'the same command: the checkpoints saved before are intact.'), first
  assert 'Traceback' not in first
  second = (out / 'second.txt').read_text()
  assert (out / 'second.status').read_text().strip() == '0', second
  assert re.search(
      rf'removing {re.escape(str(mount))}\S*/incomplete\.\S+, left by a '
      'preparation that was cut short', second), second


def test_a_damaged_metrics_line_before_the_last_is_left_out_on_resume_and_the_file_kept(
    finished_run, data):
  lines = Workdir(finished_run).metrics_file.read_text().splitlines(keepends=True)
  lines[1] = lines[1][:len(lines[1]) // 2] + '\n'  # cut in the middle, the records after it whole
  Workdir(finished_run).metrics_file.write_text(''.join(lines))
  output = run(finished_run, *data, '--config.train.num_steps=32')
  assert re.search(
      r'warning: \S*metrics.jsonl:2 is not a JSON record .*: left out; the file as '
      r'it was is kept as \S*metrics.jsonl.damaged\.', output), output
  assert (finished_run / 'metrics.jsonl.damaged').read_text() == ''.join(lines)
  steps = [record['step'] for record in Workdir(finished_run).read_metrics()]
  assert steps[-1] == 32 and 2 not in steps and {1, 3, 24} <= set(steps)
