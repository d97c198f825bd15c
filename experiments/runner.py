"""Runs of a study: each an ordinary ``python -m alexnet.main`` run, recorded and resumable.

A study is arms (:class:`Variant`: config overrides of a base config) × seeds. Each run is
started as a subprocess, one after another; its workdir (checkpoints, logs) goes under
``--workdirs`` and what the report needs (``config.json``, ``metrics.jsonl``, or the
failure's message) is copied to its record, ``<out>/runs/<variant>/seed<S>/``, which is
what gets committed. A run whose record holds its final evaluation, made with the config
asked for now, is not run again; an interrupted run resumes from its checkpoint; records
made with another config stop the study before anything runs. experiments/ablations.py,
experiments/ablations.py and experiments/study.py run their studies with this.
"""

from __future__ import annotations

import dataclasses
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from absl import flags
from ml_collections import config_flags

from alexnet import cli, errors
from alexnet import config as config_lib
from alexnet.data import registry
from alexnet.run import stopping
from alexnet.run.records import FINAL_CROPS, FINAL_ERROR
from alexnet.run.workdir import Workdir


@dataclasses.dataclass(frozen=True)
class Variant:
  """One arm of a study: what changes, the config fields that change it, the paper's word."""

  name: str
  change: str
  overrides: tuple[str, ...]  # 'section.field=value', applied after the user's overrides
  paper: str = ''  # the effect the paper quotes (shared/docs/paper.md), on ImageNet unless said


@dataclasses.dataclass(frozen=True)
class RunSpec:
  """One (variant, seed) run: its command, workdir and the record kept in ``--out``."""

  variant: Variant
  seed: int
  command: tuple[str, ...]  # as recorded: starts with 'python'
  workdir: Path
  record: Path  # <out>/runs/<variant>/seed<S>

  @property
  def label(self) -> str:
    return f'{self.variant.name} seed {self.seed}'


def record_dir(out: Path, variant: str, seed: int) -> Path:
  """Where the record of ``variant``'s run with ``seed`` is kept under ``out``."""
  return out / 'runs' / variant / f'seed{seed}'


def run_specs(config_arg: str, overrides: Sequence[str], variants: Sequence[Variant],
              seeds: Sequence[int], workdirs: Path, out: Path) -> list[RunSpec]:
  """Every run, seed-major: after each seed the table has a complete set of variants."""
  specs = []
  for seed in seeds:
    for variant in variants:
      workdir = workdirs / variant.name / f'seed{seed}'
      command = ('python', '-m', 'alexnet.main', f'--config={config_arg}', f'--workdir={workdir}',
                 *overrides, *(f'--config.{o}' for o in variant.overrides), f'--config.seed={seed}')
      specs.append(RunSpec(variant, seed, command, workdir, record_dir(out, variant.name, seed)))
  return specs


def resolve_config(command: Sequence[str]) -> dict:
  """The config ``command`` trains, every field filled, as :func:`recorded_config` reads it.

  Parsed by the same flag machinery as ``alexnet.main``, so a misspelt field or a value
  of the wrong type stops here, before any run starts; so does a dataset the registry lacks.
  """
  argv = ['resolve', *(a for a in command if a.startswith('--config'))]
  values = flags.FlagValues()
  config_flags.DEFINE_config_file('config', None, 'Config file.', flag_values=values,
                                  lock_config=True, sys_argv=argv)
  try:
    cli.parse_config_flags(values, argv)
  except flags.Error as error:  # an override of the wrong type
    raise config_lib.ConfigError(' '.join(str(error).split())) from error
  checked = config_lib.validate(values.config)
  registry.entry(checked.data)
  return checked.to_dict()


def finished(directory: Path) -> bool:
  return Workdir(directory).final_record() is not None


def recorded_config(directory: Path) -> dict | None:
  """The config a run was made with, every field filled (a field added since: its default)."""
  run = Workdir(directory)
  if not run.has_config():
    return None
  return config_lib.RunConfig.from_mapping(run.read_config()).to_dict()


def differing_fields(a: dict, b: dict, prefix: str = '') -> list[str]:
  """Dotted names of the fields where two config dicts differ."""
  fields = []
  for key in sorted(a.keys() | b.keys()):
    x, y = a.get(key), b.get(key)
    if isinstance(x, dict) and isinstance(y, dict):
      fields += differing_fields(x, y, f'{prefix}{key}.')
    elif x != y:
      fields.append(f'{prefix}{key}')
  return fields


def stale_runs(specs: Sequence[RunSpec], configs: Sequence[dict]) -> list[str]:
  """Runs whose record or workdir was made with another config than the one asked for."""
  stale = []
  for spec, config in zip(specs, configs):
    for place in (spec.record, spec.workdir):
      previous = recorded_config(place)
      if previous is not None and previous != config:
        stale.append(f'{spec.label} in {place} (differs in '
                     f'{", ".join(differing_fields(previous, config)[:4])})')
  return stale


class RunFailed(RuntimeError):
  """A run exited with a failure; ``reason`` is its own one-line ``error:`` message, if any."""

  def __init__(self, spec: RunSpec, status: int, log_path: Path):
    lines = log_path.read_text().splitlines()
    reasons = [line.removeprefix('error: ') for line in lines if line.startswith('error: ')]
    self.reason = reasons[-1] if reasons else None
    tail = '\n'.join(lines[-15:])
    super().__init__(f'{spec.label} failed (exit status {status}); its log is {log_path}:\n'
                     f'{tail}')


FAILURE_FILE = 'failure.txt'  # in a record: the run failed, and its error message


def keep_record(spec: RunSpec, failure: RunFailed | None = None) -> None:
  """Copies what the report needs (config.json, metrics.jsonl) from the workdir to --out;
  for a failed run, also its error message, which marks the run as ended."""
  spec.record.mkdir(parents=True, exist_ok=True)
  run, record = Workdir(spec.workdir), Workdir(spec.record)
  for source, destination in ((run.config_file, record.config_file), (run.metrics_file,
                                                                      record.metrics_file)):
    if failure is None or source.exists():  # a run can fail before it writes either
      shutil.copyfile(source, destination)
  if failure is not None:
    (spec.record / FAILURE_FILE).write_text(f'{failure.reason or "(no error message)"}\n')


def failure_reason(record: Path) -> str | None:
  """The error message of a run recorded as failed; None for a run that did not fail."""
  path = record / FAILURE_FILE
  return path.read_text().strip() if path.exists() else None


def train(spec: RunSpec) -> float:
  """Runs ``spec``'s command (its output to the workdir's log); returns its wall time in s.

  The run stops itself cleanly on SIGTERM and Ctrl-C (alexnet.run.stopping), so while it runs
  this process leaves Ctrl-C to it (the terminal sends it to both) and passes SIGTERM on;
  a run stopped that way stops the study, to be resumed by the same command. A run that
  fails raises :class:`RunFailed`.
  """
  spec.workdir.mkdir(parents=True, exist_ok=True)
  log_path = Workdir(spec.workdir).console_log
  started = time.monotonic()
  with log_path.open('a') as log:
    log.write(f'$ {shlex.join(spec.command)}\n')
    log.flush()
    process = subprocess.Popen([sys.executable, *spec.command[1:]], stdout=log,
                               stderr=subprocess.STDOUT)
    previous = {
        signal.SIGINT: signal.signal(signal.SIGINT, signal.SIG_IGN),
        signal.SIGTERM: signal.signal(signal.SIGTERM, lambda signum, _: process.send_signal(signum))
    }
    try:
      status = process.wait()
    finally:
      for signum, handler in previous.items():
        signal.signal(signum, handler)
  signum = -status if status < 0 else status - 128  # killed by it, or stopped on it
  if signum in stopping.SIGNAL_NAMES:
    raise errors.Stopped(
        f'{spec.label} was stopped by {stopping.SIGNAL_NAMES[signum]} (its '
        f'log is {log_path}); rerun the same command to resume the study', exit_status=128 + signum)
  if status:
    raise RunFailed(spec, status, log_path)
  return time.monotonic() - started


def check_configs(specs: Sequence[RunSpec]) -> None:
  """Stops the command, before anything runs, if a run's config cannot be built or a run
  already recorded was made with another config than the one asked for now."""
  configs = []
  for spec in specs:
    try:
      configs.append(resolve_config(spec.command))
    except (flags.Error, AttributeError, ValueError) as error:  # ConfigError is a ValueError
      raise errors.UsageError(f'the config of {spec.label} cannot be built: {error}') from error
  stale = stale_runs(specs, configs)
  if stale:
    raise SystemExit('error: these runs were made with another config than this command gives '
                     'them; use another --out and --workdirs, or delete them:\n  '
                     + '\n  '.join(stale))


def run_all(specs: Sequence[RunSpec], keep_failures: bool = False) -> None:
  """Trains each run not yet recorded as done, one after another, and keeps its record.

  A run that fails stops the command, unless ``keep_failures``: then its record says why
  (:func:`failure_reason`), it counts as done, and the next run starts (a learning-rate
  sweep expects its fastest rates to diverge).
  """
  for number, spec in enumerate(specs, 1):
    prefix = f'[{number:{len(str(len(specs)))}}/{len(specs)}] {spec.label}:'
    if finished(spec.record) or (keep_failures and failure_reason(spec.record) is not None):
      print(f'{prefix} done before, skipped', flush=True)
      continue
    if not finished(spec.workdir):
      print(f'{prefix} training in {spec.workdir} …', flush=True)
      try:
        seconds = train(spec)
      except RunFailed as failure:
        if not keep_failures:
          raise
        keep_record(spec, failure)
        print(f'{prefix} failed: {failure.reason}', flush=True)
        continue
      print(f'{prefix} trained in {seconds / 60:.1f} min', flush=True)
    keep_record(spec)
    final = Workdir(spec.record).final_record()
    print(f'{prefix} test top-1 {100 * final[FINAL_ERROR]:.2f} % '
          f'({final[FINAL_CROPS]} crops)', flush=True)


def write_commands(path: Path, runner_command: str, specs: Sequence[RunSpec],
                   keep_failures: bool = False) -> None:
  """commands.sh: every run's command; as in :func:`run_all`, a failed run stops the
  script unless ``keep_failures``."""
  lines = [
      '#!/usr/bin/env bash', '# Made by:', f'#   {runner_command}',
      '# which runs each of these in turn (and skips those already done):'
  ]
  lines.append('# (a run that fails, such as a diverging rate, does not stop the others)'
               if keep_failures else 'set -e')
  lines += [shlex.join(spec.command) for spec in specs]
  path.write_text('\n'.join(lines) + '\n')


def split_overrides(argv: Sequence[str]) -> tuple[list[str], list[str]]:
  """(--config.x=y overrides for every run, the remaining arguments for absl)."""
  overrides = [a for a in argv[1:] if a.startswith('--config.')]
  for override in overrides:
    if '=' not in override:
      raise SystemExit(f'error: write config overrides as --config.field=value, not {override!r}.')
  return overrides, [a for a in argv if not a.startswith('--config.')]
