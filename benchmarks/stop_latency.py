"""Seconds from a stop signal to the trainer's stop line and to the end of its processes.

  python benchmarks/stop_latency.py                  # two processes joined by address
  python benchmarks/stop_latency.py --processes 1
  python benchmarks/stop_latency.py --slurm          # a two-task job of slurm/train.sbatch
  python benchmarks/stop_latency.py --busy           # with another trainer on the same cores

Trains the smoke config on a small fake Fashion-MNIST (written as the tests write it) for
far more steps than it will run, with no checkpoint or evaluation due, and at step 100
sends SIGTERM: to process 1 (or the only one), or ``scancel --signal=TERM JOB`` under SLURM
(a real slurmctld and slurmd, started as the tests start them: root and Debian's slurm-wlm
needed). Times, from the signal, the first ``stopped at step`` line and the moment the last
trainer process has gone. ``--busy`` first starts a one-process trainer that keeps the
cores busy throughout.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / 'tests'))

SIGNAL_AT_STEP = 100
ENV = {
    **os.environ, 'XLA_FLAGS': '--xla_force_host_platform_device_count=1',
    'TF_CPP_MIN_LOG_LEVEL': '1'
}


def trainer_arguments(data: Path, workdir: Path) -> list[str]:
  return [
      '--config', 'configs/fashion_mnist.py:smoke', f'--workdir={workdir}',
      f'--config.data.data_dir={data / "tfds"}', f'--config.data.manual_dir={data / "manual"}',
      '--config.train.log_every_steps=1', '--config.train.num_steps=1000000',
      '--config.train.checkpoint_every_steps=1000000', '--config.train.eval_every_epochs=100000',
      '--config.data.eval_crops=1'
  ]


def trainer(arguments: list[str], *extra: str) -> subprocess.Popen:
  return subprocess.Popen([sys.executable, '-m', 'alexnet.main', *arguments, *extra], cwd=ROOT,
                          env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def logged_step(workdir: Path) -> int:
  try:
    return json.loads((workdir / 'metrics.jsonl').read_text().splitlines()[-1])['step']
  except (FileNotFoundError, IndexError, json.JSONDecodeError):
    return -1


def wait_for_step(workdir: Path, alive) -> None:
  while logged_step(workdir) < SIGNAL_AT_STEP:
    if not alive():
      raise RuntimeError(f'the trainer ended before step {SIGNAL_AT_STEP}')
    time.sleep(0.02)


class Lines:
  """When a line containing ``text`` first appeared in any of the processes' outputs."""

  def __init__(self, streams, text: str):
    self.text, self.seen = text, None
    self.threads = [threading.Thread(target=self._read, args=(s,), daemon=True) for s in streams]
    for thread in self.threads:
      thread.start()

  def _read(self, stream) -> None:
    for line in stream:
      if self.text in line and self.seen is None:
        self.seen = time.monotonic()


def local_trial(data: Path, workdir: Path, processes: int) -> tuple[float, float]:
  from processes import free_port

  arguments = trainer_arguments(data, workdir)
  port = free_port()
  joined = ([] if processes == 1 else [[
      f'--coordinator_address=127.0.0.1:{port}', f'--num_processes={processes}', f'--process_id={i}'
  ] for i in range(processes)])
  running = [trainer(arguments, *extra) for extra in (joined or [[]])]
  lines = Lines([p.stdout for p in running], 'stopped at step')
  wait_for_step(workdir, lambda: all(p.poll() is None for p in running))
  sent = time.monotonic()
  running[-1].send_signal(signal.SIGTERM)
  for process in running:
    process.wait(timeout=300)
  gone = time.monotonic()
  for thread in lines.threads:
    thread.join()
  return lines.seen - sent, gone - sent


def slurm_trial(cluster, data: Path, workdir: Path, logs: Path) -> tuple[float, float]:
  job = cluster.sbatch(f'--output={logs}/job-%j.out', '--ntasks-per-node=2',
                       str(ROOT / 'slurm' / 'train.sbatch'), *trainer_arguments(data, workdir),
                       env=ENV, cwd=ROOT)
  wait_for_step(workdir, lambda: cluster.job(job)['JobState'] in ('PENDING', 'RUNNING'))
  pids = subprocess.run(['pgrep', '-f', f'alexnet.main .*--workdir={workdir}'], capture_output=True,
                        text=True).stdout.split()
  pids = [pid for pid in pids if 'srun' not in Path(f'/proc/{pid}/cmdline').read_text()]
  log = logs / f'job-{job}.out'
  sent = time.monotonic()
  cluster.command('scancel', '--signal=TERM', str(job))
  stop_line = None
  while any(Path(f'/proc/{pid}').exists() for pid in pids):
    if stop_line is None and 'stopped at step' in log.read_text():
      stop_line = time.monotonic() - sent
    time.sleep(0.01)
  gone = time.monotonic() - sent
  cluster.wait_until_ended(job)
  return stop_line, gone


def start_busy_trainer(data: Path, workdir: Path) -> subprocess.Popen:
  busy = subprocess.Popen([sys.executable, '-m', 'alexnet.main', *trainer_arguments(data, workdir)],
                          cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  wait_for_step(workdir, lambda: busy.poll() is None)
  return busy


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--processes', type=int, choices=(1, 2), default=2)
  parser.add_argument('--slurm', action='store_true', help='a two-task job under SLURM')
  parser.add_argument('--busy', action='store_true', help='another trainer on the same cores')
  parser.add_argument('--trials', type=int, default=3)
  args = parser.parse_args()

  import fake_data

  root = Path(tempfile.mkdtemp(prefix='alexnet-stop-latency-'))
  fake_data.write_fashion_mnist_idx(str(root / 'data' / 'manual'), train=512, test=128)
  cluster = busy = None
  try:
    if args.busy:
      busy = start_busy_trainer(root / 'data', root / 'busy')
    if args.slurm:
      import slurm_cluster

      cluster = slurm_cluster.start()
    where = ('a two-task SLURM job, scancel --signal=TERM'
             if args.slurm else f'{args.processes} process(es), SIGTERM to the last')
    print(f'{where}{", beside a busy trainer" if args.busy else ""}; seconds after the signal:')
    for trial in range(args.trials):
      workdir = root / f'run{trial}'
      stop_line, gone = (slurm_trial(cluster, root / 'data', workdir, root)
                         if args.slurm else local_trial(root / 'data', workdir, args.processes))
      print(f'  trial {trial}: stop line {stop_line:.2f}, every process gone {gone:.2f}',
            flush=True)
  finally:
    if busy is not None:
      busy.terminate()
      busy.wait()
    if cluster is not None:
      slurm_cluster.stop(cluster)
    shutil.rmtree(root, ignore_errors=True)


if __name__ == '__main__':
  main()
