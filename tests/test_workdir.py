"""alexnet/run/workdir.py: a run's files, and the lock that keeps a second trainer out.

The lock's refusals are tested in this process (flock refuses a second open file of the same
process as it refuses another process); only a holder that dies, and the command's own
one-line errors, need processes of their own (integration).
"""

import fcntl
import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from alexnet import config, errors, trained_run
from alexnet.run import workdir as workdir_lib
from alexnet.run.workdir import Workdir, WorkdirInUseError
from processes import ROOT, SMOKE, start
from xla_flags import cpu_devices


def test_a_second_lock_on_a_held_workdir_is_refused_naming_its_holder(tmp_path):
  workdir = Workdir(tmp_path / 'run')
  first = workdir.lock()
  first.acquire()
  try:
    with pytest.raises(
        WorkdirInUseError, match=rf'{re.escape(str(workdir.path))} is in use by '
        rf'another training run: process {os.getpid()} on host '
        rf'{re.escape(socket.gethostname())}, started .*kill -TERM {os.getpid()}'):
      workdir.lock().acquire()
  finally:
    first.release()
  second = workdir.lock()
  second.acquire()  # released: free again
  second.release()


@pytest.mark.integration
def test_the_lock_of_a_killed_trainer_does_not_block_the_next(tmp_path):
  workdir = Workdir(tmp_path / 'run')
  holder = start(
      None, command=[
          sys.executable, '-c',
          ('import sys, time; from alexnet.run.workdir import Workdir; '
           f'Workdir({str(workdir.path)!r}).lock().acquire(); print("held", flush=True); '
           'time.sleep(600)')
      ])
  assert holder.stdout.readline().strip() == 'held'
  with pytest.raises(WorkdirInUseError, match=f'process {holder.pid} on host'):
    workdir.lock().acquire()
  holder.send_signal(signal.SIGKILL)
  holder.communicate(timeout=60)
  lock = workdir.lock()
  lock.acquire()  # the kernel dropped the dead holder's lock
  lock.release()


def test_a_lock_held_by_a_process_that_is_not_a_trainer_is_not_blamed_on_the_last_trainer(tmp_path):
  workdir = Workdir(tmp_path)
  ended_pid = int(Path('/proc/sys/kernel/pid_max').read_text()) + 1  # no process has it
  last_trainer = dict(pid=ended_pid, host=socket.gethostname(), started='yesterday',
                      command='python -m alexnet.main')
  workdir.lock_file.write_text(json.dumps(last_trainer) + '\n')
  holder = os.open(workdir.lock_file, os.O_RDONLY)  # as `flock lock sleep 600` holds it
  fcntl.flock(holder, fcntl.LOCK_EX)
  try:
    with pytest.raises(
        WorkdirInUseError, match=rf'locked by a process other than a trainer '
        rf'.*names process {ended_pid}, .* which has ended\): find the '
        r'holder with `fuser -v'):
      workdir.lock().acquire()
    workdir.lock_file.write_text(json.dumps({**last_trainer, 'host': 'elsewhere'}) + '\n')
    with pytest.raises(
        WorkdirInUseError, match=rf'process {ended_pid} on host elsewhere, '
        r'.*this host cannot check it'):
      workdir.lock().acquire()
  finally:
    os.close(holder)


def test_a_lock_taken_by_a_refused_run_is_put_back_as_it_was(tmp_path):
  workdir = Workdir(tmp_path / 'new' / 'run')
  lock = workdir.lock()
  lock.acquire()
  assert json.loads(workdir.lock_file.read_text())['pid'] > 0
  lock.release(undo=True)
  assert not (tmp_path / 'new').exists()  # created by the lock, removed with it
  workdir.path.mkdir(parents=True)
  workdir.lock_file.write_text('{"pid": 1, "host": "earlier"}\n')
  lock = workdir.lock()
  lock.acquire()
  lock.release(undo=True)
  assert workdir.lock_file.read_text() == '{"pid": 1, "host": "earlier"}\n'


CANNOT_BE_A_WORKDIR = {
    'a-file': (2, '{workdir} is a file, not a directory: give --workdir a new directory, or '
               'one of a run.'),
    'under-a-file': (2, '{workdir}: a part of this path is a file, not a directory.'),
    'name-too-long': (2, '{workdir}: a name in this path is longer than its file system allows '
                      '(often 255 bytes).'),
    'read-only': (1, '{workdir}/lock: the file system is read-only: use a writable place.'),
}


def cannot_be_a_workdir(tmp_path: Path, case: str) -> Path:
  """The workdir of ``case`` in ``tmp_path``, beside a file ``afile`` and a directory ``ro``."""
  (tmp_path / 'afile').write_text('')
  (tmp_path / 'ro').mkdir()
  return {
      'a-file': tmp_path / 'afile', 'under-a-file': tmp_path / 'afile' / 'run',
      'name-too-long': tmp_path / ('x' * 256) / 'run', 'read-only': tmp_path / 'ro'
  }[case]


@pytest.mark.parametrize('case', ['a-file', 'under-a-file', 'name-too-long'])
def test_a_workdir_that_cannot_be_one_is_refused_by_its_lock_with_the_line_a_command_prints(
    tmp_path, case):
  workdir = cannot_be_a_workdir(tmp_path, case)
  status, message = CANNOT_BE_A_WORKDIR[case]
  with pytest.raises(OSError if case != 'a-file' else errors.UsageError) as raised:
    Workdir(workdir).lock().acquire()
  assert errors.exit_status(raised.value) == status
  assert errors.one_line(raised.value) == 'error: ' + message.format(workdir=workdir)
  assert sorted(p.name for p in tmp_path.iterdir()) == ['afile', 'ro']  # nothing created


READ_ONLY = 'mount --bind -o ro "$DIRECTORY" "$DIRECTORY" && exec "$@"'


@pytest.mark.integration
@pytest.mark.parametrize('case', ['a-file', 'read-only'])
def test_a_workdir_that_cannot_be_one_is_one_line_naming_it(tmp_path, case):
  workdir = cannot_be_a_workdir(tmp_path, case)
  status, message = CANNOT_BE_A_WORKDIR[case]
  command = [sys.executable, '-m', 'alexnet.main', *SMOKE, f'--workdir={workdir}']
  if case == 'read-only':
    if subprocess.run(['unshare', '--user', '--map-root-user', '--mount', 'true']).returncode:
      pytest.skip('needs unshare (user and mount namespaces) to mount a read-only directory')
    command = [
        'unshare', '--user', '--map-root-user', '--mount', 'sh', '-c', READ_ONLY, 'read-only',
        *command
    ]
  env = {**os.environ, 'DIRECTORY': str(tmp_path / 'ro'), **cpu_devices(1)}
  result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
  assert result.returncode == status, result.stderr[-2000:]
  assert result.stderr.splitlines() == ['error: ' + message.format(workdir=workdir)], result.stderr
  assert sorted(p.name for p in tmp_path.iterdir()) == ['afile', 'ro']  # nothing created


def test_config_json_gives_back_the_config_and_every_change_made_on_resume(tmp_path):
  workdir = Workdir(tmp_path)
  started = config.RunConfig().to_dict()  # as the trainer writes it
  changes = [{'step': 24, 'time': 'then', 'fields': {'optim.learning_rate': [0.01, 0.001]}}]
  workdir.write_config(started, changes)
  assert workdir.read_config().to_dict() == started
  assert workdir.read_changes() == changes
  assert [p.name for p in tmp_path.iterdir()] == ['config.json']  # no temporary file left


def test_a_config_json_edited_into_invalid_json_is_named(tmp_path):
  Workdir(tmp_path).write_config(config.RunConfig().to_dict(), [])  # as the trainer writes it
  config_file = Workdir(tmp_path).config_file
  config_file.write_text(config_file.read_text()[:-20])
  with pytest.raises(workdir_lib.DamagedConfigError,
                     match=rf'{re.escape(str(config_file))} is not valid JSON \(.*line'):
    trained_run.load_run(tmp_path)


def test_a_directory_without_config_json_is_not_a_run(tmp_path):
  with pytest.raises(workdir_lib.RunNotFoundError, match=r'holds no config\.json'):
    Workdir(tmp_path).read_config()
  assert Workdir(tmp_path).read_changes() == []


def test_checkpoint_steps_are_the_finished_step_directories_in_order(tmp_path):
  workdir = Workdir(tmp_path)
  assert workdir.checkpoint_steps() == [] and workdir.damaged_steps() == []
  for name in ('16', '4', '8', '12.orbax-checkpoint-tmp-1'):
    (workdir.checkpoints_dir / name).mkdir(parents=True)
  (workdir.checkpoints_dir / '20').write_text('')  # not a directory
  (workdir.damaged_dir / '8').mkdir(parents=True)
  assert workdir.checkpoint_steps() == [4, 8, 16] and workdir.damaged_steps() == [8]
