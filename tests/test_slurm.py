"""slurm/train.sbatch on a real SLURM (slurmctld, slurmd and munged started by the fixture):
jobs of two tasks that are preempted, timed out, cancelled or misconfigured.

Each job trains processes.TWO_PROCESS_RUN, so a run that SLURM stops and requeues must end
with the parameters of the same run trained uninterrupted by two processes outside SLURM.
SLURM is missing where the README's test command could not install it (no apt, not root):
the tests then skip, except in CI (CI=true), where they fail.
"""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import processes
import slurm_cluster
from alexnet.run.workdir import Workdir
from xla_flags import cpu_devices

SCRIPT = processes.ROOT / 'slurm' / 'train.sbatch'
# Each task one CPU device, as in the two-process run it is compared with.
JOB_ENV = {**cpu_devices(1), 'TF_CPP_MIN_LOG_LEVEL': '1'}

# One SLURM cluster for the file, on one xdist worker.
pytestmark = [pytest.mark.integration, pytest.mark.xdist_group('slurm')]


@pytest.fixture(scope='module')
def slurm() -> Iterator[slurm_cluster.Cluster]:
  missing = slurm_cluster.missing_programs()
  why = (f'SLURM is not installed here (missing: {", ".join(missing)}); the README\'s test '
         'command installs it'
         if missing else 'the SLURM tests start its daemons as root' if os.geteuid() != 0 else None)
  if why:
    if os.environ.get('CI') == 'true':
      pytest.fail(why)
    pytest.skip(why)
  cluster = slurm_cluster.start()
  yield cluster
  slurm_cluster.stop(cluster)


def submit(slurm, tmp_path: Path, workdir: Path, *overrides: str, options=()) -> int:
  """sbatch slurm/train.sbatch, two tasks, the smoke config; the log is tmp_path/job-ID.out."""
  return slurm.sbatch(f'--output={tmp_path}/job-%j.out', '--ntasks-per-node=2', *options,
                      str(SCRIPT), *processes.SMOKE, f'--workdir={workdir}', *overrides,
                      env=JOB_ENV, cwd=processes.ROOT)


def job_log(tmp_path: Path, job: int) -> str:
  path = tmp_path / f'job-{job}.out'
  return path.read_text() if path.exists() else ''


def ended(slurm, tmp_path: Path, job: int, state: str, restarts: int) -> dict[str, str]:
  """The job's record once it has ended; asserts its state and number of requeues."""
  record = slurm.wait_until_ended(job)
  assert (record['JobState'], record['Restarts']) == (state, str(restarts)), (
      f'{record}\n--- the job\'s log:\n{job_log(tmp_path, job)}')
  return record


def stops_and_resumptions(log: str) -> list[tuple[str, int]]:
  """('stopped', N) and ('resumed', N) in the order the trainer printed them (every process
  prints its stop; once each here)."""
  found = re.finditer(
      r'(stopped) (?:at step |before training began \(at step )(\d+)'
      r'|(resumed) at step (\d+)', log)
  events = [(m[1] or m[3], int(m[2] or m[4])) for m in found]
  return [event for i, event in enumerate(events) if i == 0 or event != events[i - 1]]


def assert_trained_like_the_uninterrupted_run(workdir: Path, two_process_run: Path) -> None:
  processes.assert_same_parameters(workdir, processes.final_parameters(two_process_run))
  assert processes.training_records(workdir) == processes.training_records(two_process_run)


def test_two_tasks_under_srun_train_like_two_processes_joined_by_address(
    slurm, tmp_path, fashion_mnist, two_process_run):
  job = submit(slurm, tmp_path, tmp_path / 'run', *fashion_mnist, *processes.TWO_PROCESS_RUN)
  record = ended(slurm, tmp_path, job, 'COMPLETED', restarts=0)
  log = job_log(tmp_path, job)
  assert record['ExitCode'] == '0:0', log
  assert "mesh {'data': 2, 'model': 1} over 2 cpu device(s), 2 process(es)" in log, log
  assert 'the run has finished' in log, log
  assert_trained_like_the_uninterrupted_run(tmp_path / 'run', two_process_run)


def the_two_trainers(workdir: Path) -> list[int]:
  """The PIDs of the job's two trainer processes on ``workdir`` (Python, not srun or the
  script)."""
  found = []
  for cmdline in Path('/proc').glob('[0-9]*/cmdline'):
    try:
      argv = cmdline.read_bytes().split(b'\0')
    except OSError:  # the process has ended
      continue
    if (Path(argv[0].decode()).name.startswith('python') and b'alexnet.main' in argv
        and f'--workdir={workdir}'.encode() in argv):
      found.append(int(cmdline.parent.name))
  assert len(found) == 2, found
  return found


def test_a_job_preempted_then_timed_out_requeues_itself_and_ends_as_if_never_stopped(
    slurm, tmp_path, fashion_mnist, two_process_run):
  workdir = tmp_path / 'run'
  began = time.time_ns()
  job = submit(slurm, tmp_path, workdir, *fashion_mnist, *processes.TWO_PROCESS_RUN)
  # Each stop lands near the step chosen, whatever this machine's speed: the trainers are
  # frozen (SIGSTOP) there until SLURM has decided (the preemption, the time limit's warning).
  slurm.wait_for('step 5 of the first start', lambda: processes.logged_step(workdir, began) >= 5)
  with processes.frozen(the_two_trainers(workdir)):
    slurm.sbatch('--partition=high', '--ntasks=1', f'--output={tmp_path}/preemptor-%j.out',
                 '--wrap=true', env=JOB_ENV)
    slurm.wait_for('the preemption', lambda: slurm.job(job)['PreemptTime'] != 'None')
  slurm.wait_for('the requeue after the preemption', lambda: slurm.job(job)['Restarts'] == '1')
  requeued = time.time_ns()
  stopped = stops_and_resumptions(job_log(tmp_path, job))[0]
  assert stopped[0] == 'stopped' and stopped[1] >= 5, job_log(tmp_path, job)

  # The time limit, mid-training: once the second start has trained a step, the job is given
  # two minutes, less than the script's warning time: SLURM warns the script at its next
  # time-limit check (every 30 s), and the script's SIGTERM waits for the trainers, which go
  # on once the warning is in the log.
  slurm.wait_for('a step of the second start',
                 lambda: processes.logged_step(workdir, requeued) > stopped[1])
  with processes.frozen(the_two_trainers(workdir)):
    slurm.command('scontrol', 'update', f'JobId={job}', 'TimeLimit=2')
    slurm.wait_for('SLURM\'s warning', lambda: 'the time limit is near' in job_log(tmp_path, job))
  slurm.wait_for('the requeue at the time limit', lambda: slurm.job(job)['Restarts'] == '2')
  slurm.command('scontrol', 'update', f'JobId={job}', 'TimeLimit=UNLIMITED')
  record = ended(slurm, tmp_path, job, 'COMPLETED', restarts=2)

  log = job_log(tmp_path, job)
  assert record['ExitCode'] == '0:0', log
  starts = log.split('slurm/train.sbatch: job ')[1:]
  assert len(starts) == 3, log
  assert 'requeueing the job (preempted)' in starts[0], log
  assert 'requeueing the job (time limit)' in starts[1], log
  assert 'the run has finished' in starts[2], log
  events = stops_and_resumptions(log)
  assert [event for event, _ in events] == ['stopped', 'resumed'] * 2, log
  assert events[1][1] == events[0][1] and events[3][1] == events[2][1] > events[0][1], log
  assert_trained_like_the_uninterrupted_run(workdir, two_process_run)


def test_a_config_error_ends_the_job_failed_once_without_a_requeue(slurm, tmp_path, fashion_mnist):
  job = submit(slurm, tmp_path, tmp_path / 'run', *fashion_mnist, '--config.model.lrn=maybe',
               options=['--ntasks-per-node=1'])
  record = ended(slurm, tmp_path, job, 'FAILED', restarts=0)
  log = job_log(tmp_path, job)
  assert record['ExitCode'] == '2:0', log
  assert re.search(r'^error: .*model\.lrn', log, re.MULTILINE), log
  assert 'exit status 2; the job is not requeued' in log, log
  assert 'Traceback' not in log, log


def test_a_missing_python_environment_ends_the_job_failed_with_one_line(slurm, tmp_path):
  job = slurm.sbatch(f'--output={tmp_path}/job-%j.out', str(SCRIPT), *processes.SMOKE,
                     f'--workdir={tmp_path / "run"}',
                     env={**JOB_ENV, 'ALEXNET_PYTHON': str(tmp_path / 'no-venv' / 'python')},
                     cwd=processes.ROOT)
  record = ended(slurm, tmp_path, job, 'FAILED', restarts=0)
  log = job_log(tmp_path, job)
  assert record['ExitCode'] == '2:0', log
  assert f'error: no Python environment at {tmp_path}/no-venv/python' in log, log


def test_scancel_full_kills_the_tasks_at_once_and_leaves_the_checkpoints_saved_before(
    slurm, tmp_path, fashion_mnist):
  workdir = tmp_path / 'run'
  # A checkpoint at step 64, the next one 64 steps later: the run is killed between them.
  job = submit(slurm, tmp_path, workdir, *fashion_mnist, *processes.TWO_PROCESS_RUN,
               '--config.train.num_steps=384', '--config.train.checkpoint_every_steps=64')
  slurm.wait_for('the checkpoint of step 64', lambda: 64 in Workdir(workdir).checkpoint_steps())
  slurm.command('scancel', '--full', '--signal=TERM', str(job))
  record = ended(slurm, tmp_path, job, 'FAILED', restarts=0)
  log = job_log(tmp_path, job)
  # srun answers the SIGTERM of the batch step by killing the tasks: they cannot save.
  assert record['ExitCode'] == f'{128 + signal.SIGKILL}:0', log
  assert 'stopped at step' not in log, log
  steps = Workdir(workdir).checkpoint_steps()
  assert steps[-1] == 64, (steps, log)
  processes.final_parameters(workdir)  # the checkpoint saved before is whole
