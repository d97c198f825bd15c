"""A real SLURM cluster on this machine, for the tests of ``slurm/train.sbatch``.

munged, slurmctld and slurmd from Debian's ``slurm-wlm`` and ``munge`` packages (the
README's test command installs them), run as root on one node with this machine's cores,
with two partitions: ``low`` (the default), whose jobs a job in ``high`` preempts in
SLURM's REQUEUE mode after a grace time, and ``high``. Everything lives in one temporary
directory: munged has its own key and socket, and the daemons listen on free ports, so a
SLURM or munge already on the machine is neither used nor disturbed.

Two settings differ from SLURM's defaults, to keep the tests short, and change no
behaviour the tests check: a requeued job may start again 10 s after its requeue
(``AuthInfo=cred_expire``, 120 s by default) and the scheduler looks at pending jobs every
2 s (``sched_interval``, 60 s).
"""

from __future__ import annotations

import dataclasses
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from processes import free_port

PROGRAMS = ('munged', 'mungekey', 'slurmctld', 'slurmd', 'sbatch', 'scontrol', 'scancel', 'sinfo')
SBIN = ('/usr/sbin', '/usr/bin')
FINAL_STATES = {
    'COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT', 'PREEMPTED', 'NODE_FAIL', 'BOOT_FAIL',
    'DEADLINE', 'OUT_OF_MEMORY'
}
GRACE_SECONDS = 60  # the low partition's preemption grace time: SIGTERM, then SIGKILL after it


def _program(name: str) -> str | None:
  """The path of a SLURM or munge program (daemons live in /usr/sbin, off a user's PATH)."""
  return shutil.which(name, path=os.pathsep.join([os.environ.get('PATH', ''), *SBIN]))


def missing_programs() -> list[str]:
  """The programs the cluster needs that this machine lacks."""
  return [name for name in PROGRAMS if _program(name) is None]


def _config(root: Path, node: str, cpus: int) -> str:
  return f"""\
ClusterName=alexnet-tests
SlurmctldHost={node}
SlurmctldPort={free_port()}
SlurmdPort={free_port()}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={root}/munge/socket,cred_expire=10
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2,bf_interval=2
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
ReturnToService=2
KillWait=30
MinJobAge=600
PreemptType=preempt/partition_prio
PreemptMode=REQUEUE
NodeName={node} CPUs={cpus} State=UNKNOWN
PartitionName=low Nodes={node} Default=YES MaxTime=INFINITE State=UP PriorityTier=1 PreemptMode=REQUEUE GraceTime={GRACE_SECONDS}
PartitionName=high Nodes={node} MaxTime=INFINITE State=UP PriorityTier=2 PreemptMode=OFF
"""  # noqa: E501 - slurm.conf's lines, as slurm.conf has them


@dataclasses.dataclass
class Cluster:
  """A running cluster: its directory and the environment its commands need."""

  root: Path
  env: dict[str, str]

  def command(self, *args: str, check: bool = True, env: dict | None = None,
              cwd: Path | None = None) -> str:
    """A SLURM command (sbatch, scontrol, …) against this cluster; its standard output."""
    done = subprocess.run([_program(args[0]), *args[1:]], env={**self.env, **(env or {})}, cwd=cwd,
                          capture_output=True, text=True, timeout=60)
    if check and done.returncode:
      raise RuntimeError(f'{" ".join(args)} failed ({done.returncode}): {done.stderr}')
    return done.stdout

  def sbatch(self, *args: str, env: dict | None = None, cwd: Path | None = None) -> int:
    """Submits a job; its id."""
    return int(self.command('sbatch', '--parsable', *args, env=env, cwd=cwd).split(';')[0])

  def job(self, job_id: int) -> dict[str, str]:
    """``scontrol show job`` as {field: value}."""
    text = self.command('scontrol', '--oneliner', 'show', 'job', str(job_id))
    return dict(re.findall(r'(\w+)=(\S*)', text))

  def wait_for(self, what: str, ready: Callable[[], bool], timeout_s: float = 300) -> None:
    """Polls ``ready`` until it holds; fails naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not ready():
      if time.monotonic() > deadline:
        raise TimeoutError(f'waited {timeout_s:.0f} s for {what}; slurmctld.log ends:\n'
                           + self.log_tail())
      time.sleep(0.2)

  def wait_until_ended(self, job_id: int, timeout_s: float = 300) -> dict[str, str]:
    """The job's record once it has ended for good (not when a requeue ends one start)."""
    record = {}

    def ended() -> bool:
      nonlocal record
      record = self.job(job_id)
      return record['JobState'] in FINAL_STATES

    self.wait_for(f'job {job_id} to end', ended, timeout_s)
    return record

  def log_tail(self, lines: int = 30) -> str:
    log = self.root / 'slurmctld.log'
    return '\n'.join(log.read_text().splitlines()[-lines:]) if log.exists() else ''

  def cancel_all(self) -> None:
    self.command('scancel', '--full', '--user=root', check=False)


def start(cpus: int | None = None) -> Cluster:
  """munged, slurmctld and slurmd, running and answering, in a new temporary directory."""
  if os.geteuid() != 0:
    raise PermissionError('the SLURM tests start munged, slurmctld and slurmd as root')
  # Outside pytest's tmp_path: munged refuses directories other users cannot read.
  root = Path(tempfile.mkdtemp(prefix='alexnet-slurm-'))
  root.chmod(0o755)
  node = socket.gethostname().split('.')[0]
  munge = pwd.getpwnam('munge')
  (root / 'munge').mkdir(mode=0o755)  # munged: its socket's folder must be searchable by all
  for name in ('state', 'spool'):
    (root / name).mkdir()
  key = root / 'munge' / 'key'
  subprocess.run([_program('mungekey'), '--create', f'--keyfile={key}'], check=True,
                 capture_output=True)
  for path in (root / 'munge', key):
    os.chown(path, munge.pw_uid, munge.pw_gid)
  munged = [
      _program('munged'), f'--socket={root}/munge/socket', f'--key-file={key}',
      f'--pid-file={root}/munge/pid', f'--log-file={root}/munge/log',
      f'--seed-file={root}/munge/seed'
  ]
  subprocess.run(['runuser', '-u', 'munge', '--', *munged], check=True, capture_output=True)
  conf = root / 'slurm.conf'
  conf.write_text(_config(root, node, cpus or os.cpu_count()))
  env = {**os.environ, 'SLURM_CONF': str(conf)}
  for daemon in ('slurmctld', 'slurmd'):
    subprocess.run([_program(daemon), '-f', str(conf)], env=env, check=True, capture_output=True)
  cluster = Cluster(root, env)
  cluster.wait_for(
      'the node to be idle',
      lambda: 'idle' in cluster.command('sinfo', '--noheader', '--format=%T', check=False),
      timeout_s=60)
  return cluster


def stop(cluster: Cluster) -> None:
  """Ends every job, then the daemons; removes the directory."""
  cluster.cancel_all()
  cluster.command('scontrol', 'shutdown', check=False)
  pid_file = cluster.root / 'munge' / 'pid'
  if pid_file.exists():
    subprocess.run(['kill', pid_file.read_text().strip()], check=False)
  for pid_name in ('slurmctld.pid', 'slurmd.pid'):
    pid = cluster.root / pid_name
    deadline = time.monotonic() + 30
    while pid.exists() and time.monotonic() < deadline:
      time.sleep(0.2)
  shutil.rmtree(cluster.root, ignore_errors=True)
