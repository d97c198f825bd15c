"""The paper's ablation study in one command: a base config, each ablation, several seeds.

  python experiments/ablations.py --config configs/fashion_mnist_study.py --seeds 5 \\
      --variants no_lrn,no_overlap,no_dropout,one_tower,no_augmentation \\
      --out experiments/results/fashion_mnist_study
  python experiments/ablations.py --config configs/imagenet_paper.py --seeds 2 \\
      --out results/imagenet --workdirs /shared/runs/ablations --config.data.manual_dir=...

Each run is ``python -m alexnet.main`` with the base config, the variant's overrides and
``--config.seed=S``, started as a subprocess one after another; any ``--config.x=y`` given
here is passed to every run. Workdirs (checkpoints, logs) go under ``--workdirs``;
``--out`` receives only what is worth keeping:

* ``results.md``: test and training error per variant (mean ± std over seeds); the paired
  differences from the base (test error, and the gap test − train) with 95 % confidence
  intervals (t over seeds), the paper's quoted difference beside them, and a verdict per
  claim (reproduced, not reproduced, contradicted, not testable here); ten patches against
  the centre patch; the steps to converge with and without dropout;
* ``training_loss.png``, ``eval_error.png`` (the evaluation split during training),
  ``train_and_eval_error.png`` (both errors per variant);
* ``commands.sh``: the exact command of every run; ``runs/<variant>/seed<S>/``: each
  run's ``config.json`` and ``metrics.jsonl`` (the table and plots are made from these).

Resumable: a run whose record in ``--out`` holds its final evaluation, made with the
config this command gives it, is not run again; an interrupted run resumes from its
checkpoint. Records made with another config stop the command before anything runs.

Figure 1 (ReLU against tanh, each at its own learning rate) is experiments/figure1.py's,
which runs its sweep with this module's machinery.
"""

from __future__ import annotations

import dataclasses
import math
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import scipy.stats
from absl import app, flags
from ml_collections import config_flags

import figures
from alexnet import config as config_lib
from alexnet import errors, stopping
from alexnet.workdir import Workdir

BASE = 'base'


@dataclasses.dataclass(frozen=True)
class Variant:
  """One arm of the study: what changes, the config fields that change it, the paper's word."""

  name: str
  change: str
  overrides: tuple[str, ...]  # 'section.field=value', applied after the user's overrides
  paper: str  # the effect the paper quotes (shared/docs/paper.md), on ImageNet unless said
  needs_colour: bool = False  # the claim is about colour: grey images cannot test it
  judged_on: str = 'top1'  # 'top1': Δ test error; 'gap': Δ (test − train), for overfitting


VARIANTS = (
    Variant(BASE, "the paper's choices", (),
            '40.7 / 18.2 % (ILSVRC-2012 val, 1 CNN, §6)'),
    Variant('no_lrn', 'no local response normalisation (§3.3)', ('model.lrn=False',),
            '+1.4 / +1.2'),
    Variant('no_overlap', 'max-pool 2/2 instead of the overlapping 3/2 (§3.4)',
            ('model.overlapping_pool=False',), '+0.4 / +0.3'),
    Variant('no_dropout', 'no dropout on fc6, fc7 (§4.2)', ('model.dropout_rate=0.0',),
            'no number: "substantial overfitting"; dropout ≈ doubles the steps to converge',
            judged_on='gap'),
    Variant('one_tower', "one tower: §3.5 footnote's one-GPU net",
            ('model.towers=1', 'mesh.model=1'), '+1.7 / +1.2'),
    Variant('no_augmentation', 'no random crop positions, no reflections (§4.1)',
            ('data.translate=False', 'data.flip=False'),
            'no number: without them "substantial overfitting"', judged_on='gap'),
    Variant('no_pca', 'no PCA colour noise (§4.1)', ('data.pca_std=0.0',), '> +1 top-1',
            needs_colour=True),
)
VARIANT_NAMES = tuple(v.name for v in VARIANTS)

FLAGS = flags.FLAGS


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


def run_specs(config_arg: str, overrides: Sequence[str], variants: Sequence[Variant],
              seeds: int, workdirs: Path, out: Path) -> list[RunSpec]:
  """Every run, seed-major: after each seed the table has a complete set of variants."""
  specs = []
  for seed in range(seeds):
    for variant in variants:
      workdir = workdirs / variant.name / f'seed{seed}'
      command = ('python', '-m', 'alexnet.main', f'--config={config_arg}', f'--workdir={workdir}',
                 *overrides, *(f'--config.{o}' for o in variant.overrides),
                 f'--config.seed={seed}')
      specs.append(RunSpec(variant, seed, command, workdir,
                           out / 'runs' / variant.name / f'seed{seed}'))
  return specs


def resolve_config(command: Sequence[str]) -> dict:
  """The config ``command`` trains, every field filled, as :func:`recorded_config` reads it.

  Parsed by the same flag machinery as ``alexnet.main``, so a misspelt field or a value
  of the wrong type stops here, before any run starts.
  """
  argv = ['resolve', *(a for a in command if a.startswith('--config'))]
  values = flags.FlagValues()
  config_flags.DEFINE_config_file('config', None, 'Config file.', flag_values=values,
                                  lock_config=True, sys_argv=argv)
  try:
    config_lib.parse_flags(values, argv)
  except flags.Error as error:  # an override of the wrong type
    raise config_lib.ConfigError(' '.join(str(error).split())) from error
  return config_lib.validate(values.config).to_dict()


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
  for source, destination in ((run.config_file, record.config_file),
                              (run.metrics_file, record.metrics_file)):
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

  The run stops itself cleanly on SIGTERM and Ctrl-C (alexnet.stopping), so while it runs
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
    previous = {signal.SIGINT: signal.signal(signal.SIGINT, signal.SIG_IGN),
                signal.SIGTERM: signal.signal(signal.SIGTERM,
                                              lambda signum, _: process.send_signal(signum))}
    try:
      status = process.wait()
    finally:
      for signum, handler in previous.items():
        signal.signal(signum, handler)
  signum = -status if status < 0 else status - 128  # killed by it, or stopped on it
  if signum in stopping.SIGNAL_NAMES:
    raise errors.Stopped(f'{spec.label} was stopped by {stopping.SIGNAL_NAMES[signum]} (its '
                         f'log is {log_path}); rerun the same command to resume the study',
                         exit_status=128 + signum)
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
    final = final_errors(Workdir(spec.record).read_metrics())
    print(f'{prefix} top-1 {100 * final["top1"]:.2f} %, top-5 {100 * final["top5"]:.2f} %',
          flush=True)


def write_commands(path: Path, runner_command: str, specs: Sequence[RunSpec],
                   keep_failures: bool = False) -> None:
  """commands.sh: every run's command; as in :func:`run_all`, a failed run stops the
  script unless ``keep_failures``."""
  lines = ['#!/usr/bin/env bash', '# Made by:', f'#   {runner_command}',
           '# which runs each of these in turn (and skips those already done):']
  lines.append('# (a run that fails, such as a diverging rate, does not stop the others)'
               if keep_failures else 'set -e')
  lines += [shlex.join(spec.command) for spec in specs]
  path.write_text('\n'.join(lines) + '\n')


# --- The report ----------------------------------------------------------------------------


def final_errors(records: Sequence[dict]) -> dict[str, float]:
  final = next(r for r in reversed(records) if 'final_top1_error' in r)
  return {'top1': final['final_top1_error'], 'top5': final['final_top5_error'],
          'crops': final['final_crops'], 'examples': final['final_examples'],
          'step': final['step']}


def mean_std(values: Sequence[float]) -> str:
  """'m ± s' in percent; s is the sample standard deviation (none for one value)."""
  mean = 100 * statistics.fmean(values)
  if len(values) < 2:
    return f'{mean:.2f}'
  return f'{mean:.2f} ± {100 * statistics.stdev(values):.2f}'


@dataclasses.dataclass(frozen=True)
class Difference:
  """Mean of per-seed differences with its 95 % confidence interval (Student's t over seeds)."""

  mean: float
  low: float
  high: float

  def __str__(self) -> str:
    if math.isnan(self.low):
      return f'{self.mean:+.2f}'
    return f'{self.mean:+.2f} [{self.low:+.2f}, {self.high:+.2f}]'


def paired_difference(values: Sequence[float], base: Sequence[float],
                      scale: float = 100.0) -> Difference:
  """Variant − base per seed (in points: × ``scale``), mean and 95 % CI over the seeds."""
  differences = [scale * (v - b) for v, b in zip(values, base)]
  mean = statistics.fmean(differences)
  if len(differences) < 2:
    return Difference(mean, math.nan, math.nan)
  half = (scipy.stats.t.ppf(0.975, len(differences) - 1) * statistics.stdev(differences)
          / math.sqrt(len(differences)))
  return Difference(mean, mean - half, mean + half)


def verdict(difference: Difference, expected: str) -> str:
  """The verdict on a claim that the difference is ``expected`` ('> 0' or '< 0'), from its
  interval; *not testable here* for reasons of the data is the caller's to give."""
  if math.isnan(difference.low):
    return 'not testable here: one seed gives no interval'
  above, below = difference.low > 0, difference.high < 0
  if expected == '< 0':
    above, below = below, above
  if above:
    return '**reproduced**: the same direction as the paper, the 95 % CI excludes 0'
  if below:
    return '**contradicted**: the opposite direction, the 95 % CI excludes 0'
  return '**not reproduced**: the 95 % CI includes 0'


def train_error(records: Sequence[dict]) -> float:
  """Top-1 error of the training batches over the run's last epoch (augmented, with
  dropout: what the network fitted while it trained)."""
  logged = [r for r in records if 'train_top1_error' in r]
  last_epoch = logged[-1]['epoch'] - 1.0
  tail = [r['train_top1_error'] for r in logged if r['epoch'] > last_epoch] or [
      logged[-1]['train_top1_error']]
  return statistics.fmean(tail)


def centre_crop_error(records: Sequence[dict]) -> float | None:
  """The centre-crop error of the evaluation at the final step, if there was one."""
  final_step = final_errors(records)['step']
  centre = [r for r in records if 'eval_top1_error' in r and r['step'] == final_step]
  return centre[-1]['eval_top1_error'] if centre else None


def convergence_lines(with_dropout: Sequence[Sequence[dict]],
                      without: Sequence[Sequence[dict]]) -> list[str]:
  """§4.2's "dropout roughly doubles the number of iterations required to converge", as the
  steps each run needs to reach the base's final training error."""
  level = statistics.fmean(train_error(r) for r in with_dropout)
  steps_with = [figures.steps_to_error(r, level) for r in with_dropout]
  steps_without = [figures.steps_to_error(r, level) for r in without]
  shown = lambda steps: ', '.join('–' if s is None else str(s) for s in steps)
  line = (f'**Steps to converge** (§4.2): steps to reach the base\'s final training error '
          f'({100 * level:.1f} %, the mean of {figures.SMOOTHING_WINDOW} logs): with dropout '
          f'{shown(steps_with)}, without {shown(steps_without)}')
  if None in steps_with or None in steps_without:
    return ['', line + '; **not testable here**: not every run reached it.']
  ratio = paired_difference([a / b for a, b in zip(steps_with, steps_without)],
                            [1.0] * len(steps_with), scale=1.0)
  return ['', f'{line}; with / without − 1 = {ratio} (the paper: ≈ +1): '
          f'{verdict(ratio, "> 0")}.']


def report(config_arg: str, runner_command: str, variants: Sequence[Variant], seeds: int,
           out: Path) -> str:
  """results.md from the records in ``out``, and the plots beside it."""
  records = {v.name: [Workdir(out / 'runs' / v.name / f'seed{s}').read_metrics()
                      for s in range(seeds)] for v in variants}
  errors = {name: [final_errors(r) for r in runs] for name, runs in records.items()}
  base = errors[BASE]
  first = base[0]
  config = recorded_config(out / 'runs' / BASE / 'seed0')
  grey = config['model']['input_channels'] == 1 or config['data']['dataset'] == 'fashion_mnist'
  eval_split = config['data']['eval_split']  # 'test', or 'validation' where the test is hidden
  lines = [f'# Ablations of `{config_arg}`', '',
           f'Made by `{runner_command}`.', '',
           f'{seeds} seed{"s" if seeds > 1 else ""} per variant (0–{seeds - 1}); '
           f'{first["step"]} steps of {config["train"]["batch_size"]} images from '
           f'`{config["data"]["train_split"]}`; final error on '
           f'`{eval_split}` ({first["examples"]} images, '
           f'{first["crops"]} crop{"s" if first["crops"] > 1 else ""}).', '',
           f'| variant | change | {eval_split} top-1 % | {eval_split} top-5 % | train top-1 % '
           f'(last epoch) | Δ {eval_split} top-1, points [95 % CI] | Δ {eval_split} top-5 '
           f'[95 % CI] | Δ gap ({eval_split} − train) [95 % CI] | paper, ImageNet: Δ top-1 / '
           'top-5 | verdict |',
           '|---|---|---|---|---|---|---|---|---|---|']
  gaps = {name: [e['top1'] - train_error(r) for e, r in zip(errors[name], records[name])]
          for name in records}
  for variant in variants:
    own = errors[variant.name]
    top1, top5 = [e['top1'] for e in own], [e['top5'] for e in own]
    trained = [train_error(r) for r in records[variant.name]]
    if variant.name == BASE:
      delta1 = delta5 = delta_gap = '–'
      judged = '–'
    else:
      delta1 = paired_difference(top1, [e['top1'] for e in base])
      delta5 = paired_difference(top5, [e['top5'] for e in base])
      delta_gap = paired_difference(gaps[variant.name], gaps[BASE])
      if variant.needs_colour and grey:
        judged = '**not testable here**: grey images have no colour to jitter'
      elif variant.judged_on == 'gap':
        judged = 'on the gap: ' + verdict(delta_gap, '> 0')
      else:
        judged = verdict(delta1, '> 0')
    lines.append(f'| {variant.name} | {variant.change} | {mean_std(top1)} | {mean_std(top5)} | '
                 f'{mean_std(trained)} | {delta1} | {delta5} | {delta_gap} | {variant.paper} | '
                 f'{judged} |')
  lines += ['', 'Errors: mean ± standard deviation over seeds. Δ: variant − base, the mean of '
            'the per-seed differences (seed S of every variant has the same initialisation '
            'seed and data order) with its 95 % confidence interval (Student\'s t over the '
            'seeds). The paper\'s Δ is the error added by removing the choice; a verdict is '
            '*reproduced* when Δ top-1 has the paper\'s sign and its interval excludes 0, '
            '*not reproduced* when the interval includes 0, *contradicted* when it excludes 0 '
            'on the other side. Train error is that of the training batches over the last '
            'epoch, as the network saw them (augmented, and with dropout if the config has '
            f'it); the gap {eval_split} − train is what the paper\'s "overfitting" claims are '
            'about, so the dropout and augmentation claims are judged on Δ gap instead of '
            f'Δ {eval_split} error.']
  if 'no_dropout' in records:
    lines += convergence_lines(records[BASE], records['no_dropout'])
  centre = [centre_crop_error(r) for r in records[BASE]]
  if first['crops'] == 10 and None not in centre:
    ten_patches = [e['top1'] for e in base]
    ten = paired_difference(centre, ten_patches)
    lines += ['', f'**Ten patches against the centre patch** (§4.1, base runs): centre-crop '
              f'top-1 {mean_std(centre)} % against ten patches {mean_std(ten_patches)} %; '
              f'centre − ten = {ten} points: {verdict(ten, "> 0")}.']
  else:
    lines += ['', '**Ten patches against the centre patch**: not testable here: the final '
              'evaluation used one crop.']
  figures.plot_training_curves(records, eval_split, out / 'training_loss.png',
                               out / 'eval_error.png')
  figures.plot_generalisation(records, eval_split, out / 'train_and_eval_error.png')
  lines += ['', '![training loss](training_loss.png)', '',
            f'![{eval_split} error during training](eval_error.png)', '',
            f'![training and {eval_split} error per variant](train_and_eval_error.png)']
  return '\n'.join(lines) + '\n'


# --- The command line ----------------------------------------------------------------------


def define_flags() -> None:
  flags.DEFINE_string('config', None, 'Base config file (path[:variant]), as for alexnet.main.',
                      required=True)
  flags.DEFINE_integer('seeds', 3, 'Seeds per variant: 0, 1, …, seeds − 1.', lower_bound=1)
  flags.DEFINE_list('variants', list(VARIANT_NAMES),
                    f'Variants to run, of {", ".join(VARIANT_NAMES)}; the base always runs.')
  flags.DEFINE_string('out', None, 'Directory of the table, plots, commands and run records.',
                      required=True)
  flags.DEFINE_string('workdirs', None, 'Directory of the runs\' workdirs; default: '
                      'workdirs/ablations/<name of --out>.')


def split_overrides(argv: Sequence[str]) -> tuple[list[str], list[str]]:
  """(--config.x=y overrides for every run, the remaining arguments for absl)."""
  overrides = [a for a in argv[1:] if a.startswith('--config.')]
  for override in overrides:
    if '=' not in override:
      raise SystemExit(f'error: write config overrides as --config.field=value, not {override!r}.')
  return overrides, [a for a in argv if not a.startswith('--config.')]


def main(argv: Sequence[str], overrides: Sequence[str], runner_command: str) -> None:
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  unknown = sorted(set(FLAGS.variants) - set(VARIANT_NAMES))
  if unknown:
    raise app.UsageError(f'Unknown variants {unknown}; known: {", ".join(VARIANT_NAMES)}.')
  variants = [v for v in VARIANTS if v.name == BASE or v.name in FLAGS.variants]
  out = Path(FLAGS.out)
  workdirs = Path(FLAGS.workdirs or Path('workdirs', 'ablations', out.name))
  specs = run_specs(FLAGS.config, overrides, variants, FLAGS.seeds, workdirs, out)
  check_configs(specs)
  out.mkdir(parents=True, exist_ok=True)
  write_commands(out / 'commands.sh', runner_command, specs)
  run_all(specs)
  table = report(FLAGS.config, runner_command, variants, FLAGS.seeds, out)
  (out / 'results.md').write_text(table)
  print(f'\n{table}\nWritten to {out}.')


if __name__ == '__main__':
  _overrides, _argv = split_overrides(sys.argv)
  _runner_command = shlex.join(['python', *sys.argv])
  define_flags()
  app.run(errors.reported(lambda argv: main(argv, _overrides, _runner_command)), argv=_argv)
