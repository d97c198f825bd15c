"""Figure 1 in the paper's setup: ReLU against tanh, each at its own fastest learning rate.

  python experiments/figure1.py --config configs/fashion_mnist_figure1.py --seeds 5 \\
      --learning_rates 0.003,0.01,0.03,0.1,0.3,1 \\
      --out experiments/results/fashion_mnist_figure1

The paper (§3.1, Figure 1): a four-layer CNN with ReLUs reaches 25 % training error on
CIFAR-10 six times faster than the same network with tanh units; "the learning rates for
each network were chosen independently to make training as fast as possible. No
regularization of any kind was employed." The config switches the regularisers off; this
command chooses the rates and compares, in two stages:

1. the sweep: each activation at each of ``--learning_rates``, seed 0. An activation's rate
   is the one whose run reaches ``--target_train_error`` in the fewest steps; a run that
   never reaches it, or diverges first, is slower than any that does.
2. seeds 1 … N − 1 at each activation's rate; ReLU and tanh are paired by seed.

Training error is that of the logged training batches, the mean of consecutive logs
(``figures.steps_to_error``). The runs are ordinary training runs, started, recorded and
resumed by experiments/runner.py (its docstring says how), except that a
run that fails (a rate too high diverges) is recorded as failed instead of stopping the
command. ``--out`` receives:

* ``results.md``: the sweep's steps to the target per activation and rate, the rates
  chosen, the steps per seed at them, tanh / ReLU per seed with its mean, 95 % confidence
  interval (Student's t over seeds) and a verdict on the claim that ReLU is faster;
* ``figure1.png``: the sweep (steps to the target against the rate) beside the paper's
  figure (training error against steps at the chosen rates);
* ``commands.sh`` and ``runs/<activation>_lr<rate>/seed<S>/``, as for the ablations.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
import shlex
import statistics
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from absl import app, flags

import figures
import runner
import stats
from alexnet import errors
from alexnet.workdir import Workdir

ACTIVATIONS = ('relu', 'tanh')  # §3.1: the non-saturating unit against the saturating one
LABELS = {'relu': 'ReLU', 'tanh': 'tanh'}
PAPER_RATIO = 6.0  # Figure 1: ReLU reaches 25 % training error six times faster

FLAGS = flags.FLAGS


def arm(activation: str, rate: float) -> runner.Variant:
  """One activation at one learning rate, as a variant of the base config."""
  return runner.Variant(f'{activation}_lr{rate:g}', f'{LABELS[activation]} at rate {rate:g}',
                           (f'model.activation={activation}', f'optim.learning_rate={rate!r}'),
                           paper=f'Figure 1: ReLU {PAPER_RATIO:g}× faster than tanh')


@dataclasses.dataclass(frozen=True)
class Outcome:
  """How one run went: where it reached the target, and whether it diverged."""

  steps: int | None  # the first step at the target; None if the run never reached it
  last_step: int  # the last step it logged
  failure: str | None  # the run's error message if it failed (a non-finite loss)

  @property
  def diverged_at(self) -> int | None:
    """The step the trainer's NaN guard stopped the run at (its NonFiniteError's words)."""
    found = re.search(r'NaN or infinite at step (\d+)', self.failure or '')
    return int(found.group(1)) if found else None

  def __str__(self) -> str:
    if self.failure is None:
      return str(self.steps) if self.steps is not None else f'> {self.last_step}'
    ended = (f'diverged at step {self.diverged_at}' if self.diverged_at is not None
             else 'failed (its record says why)')
    return ended if self.steps is None else f'{self.steps}, then {ended}'


def outcome(spec: runner.RunSpec, records: Sequence[Mapping], target: float) -> Outcome:
  """``spec``'s run, from its records (its metrics) and its failure, if it failed."""
  logged = [r['step'] for r in records if 'train_top1_error' in r]
  return Outcome(figures.steps_to_error(records, target), logged[-1] if logged else 0,
                 runner.failure_reason(spec.record))


def outcomes(specs: Sequence[runner.RunSpec], target: float) -> list[Outcome]:
  return [outcome(s, Workdir(s.record).read_metrics(), target) for s in specs]


def fastest(rates: Sequence[float], outcomes: Sequence[Outcome]) -> float | None:
  """The rate that reached the target in the fewest steps (the lower rate on a tie)."""
  reached = [(o.steps, rate) for rate, o in zip(rates, outcomes) if o.steps is not None]
  return min(reached)[1] if reached else None


# --- The report ----------------------------------------------------------------------------


def regularisers(config: Mapping) -> list[str]:
  """The regularisers ``config`` (a recorded config) leaves on; Figure 1 had none."""
  model, optim, data = config['model'], config['optim'], config['data']
  on = {f'dropout {model["dropout_rate"]:g}': model['dropout_rate'] > 0,
        f'weight decay {optim["weight_decay"]:g}': optim['weight_decay'] > 0,
        'random crops': data['translate'], 'reflections': data['flip'],
        f'PCA colour noise {data["pca_std"]:g}': data['pca_std'] > 0}
  return [name for name, is_on in on.items() if is_on]


def sweep_lines(rates: Sequence[float], sweep: Mapping[str, Sequence[Outcome]],
                chosen: Mapping[str, float], target: float) -> list[str]:
  header = ' | '.join(f'{LABELS[a]}: steps to {100 * target:g} %' for a in ACTIVATIONS)
  lines = ['### The learning-rate sweep (seed 0)', '', f'| learning rate | {header} |',
           '|---|' + '---|' * len(ACTIVATIONS)]
  for i, rate in enumerate(rates):
    cells = [f'**{sweep[a][i]}**' if chosen[a] == rate else str(sweep[a][i])
             for a in ACTIVATIONS]
    lines.append(f'| {rate:g} | {" | ".join(cells)} |')
  lines += ['', 'Chosen (in bold), the fewest steps: ' + ', '.join(
      f'{LABELS[a]} {chosen[a]:g}' for a in ACTIVATIONS) + '.']
  for a in ACTIVATIONS:
    if chosen[a] in (min(rates), max(rates)):
      lines[-1] += (f' {LABELS[a]}\'s rate is at the edge of the sweep: a faster one may lie '
                    'beyond it.')
  return lines


def seeds_lines(chosen: Mapping[str, float], runs: Mapping[str, Sequence[Outcome]],
                target: float) -> list[str]:
  seeds = len(runs[ACTIVATIONS[0]])
  lines = ['', f'### At the chosen rates, {seeds} seeds', '',
           f'| activation | learning rate | steps to {100 * target:g} % (mean) | per seed |',
           '|---|---|---|---|']
  for a in ACTIVATIONS:
    steps = [o.steps for o in runs[a]]
    mean = (f'{statistics.fmean(steps):.0f}' if None not in steps
            else 'not reached by every seed')
    lines.append(f'| {LABELS[a]} | {chosen[a]:g} | {mean} | '
                 f'{", ".join(str(o) for o in runs[a])} |')
  relu, tanh = ([o.steps for o in runs[a]] for a in ACTIVATIONS)
  if None in relu or None in tanh:
    return lines + ['', f'tanh / ReLU: **not testable here**: not every seed reached '
                    f'{100 * target:g} % training error; lengthen the runs.']
  ratios = [t / r for t, r in zip(tanh, relu)]
  lines.append(f'| tanh / ReLU | | {statistics.fmean(ratios):.2f}× | '
               f'{", ".join(f"{x:.2f}×" for x in ratios)} |')
  ratio = stats.log_ratio(tanh, relu)
  judged = stats.verdict(ratio, ratio.p, +1, math.log(PAPER_RATIO))
  return lines + ['', f'tanh / ReLU = {ratio.shown()} (geometric mean over seeds, 95 % CI; '
                  f'p = {ratio.p:.2g}; the paper: {PAPER_RATIO:g}×): **{judged}**.']


def report(config_arg: str, runner_command: str, rates: Sequence[float],
           tried: Mapping[str, Sequence[Outcome]], chosen: Mapping[str, float],
           runs: Mapping[str, Sequence[runner.RunSpec]], out: Path, target: float) -> str:
  """results.md from the sweep's outcomes (``tried``: seed 0 at each rate, per activation),
  the rate chosen for each and the records in ``out`` of its seeds (``runs``), and
  figure1.png beside it."""
  config = runner.recorded_config(runs[ACTIVATIONS[0]][0].record)
  train = config['train']
  left_on = regularisers(config)
  records = {a: [Workdir(s.record).read_metrics() for s in runs[a]] for a in ACTIVATIONS}
  lines = [f'# Figure 1: ReLU against tanh, `{config_arg}`', '',
           f'Made by `{runner_command}`.', '',
           f'Every run: up to {max(o.last_step for a in ACTIVATIONS for o in tried[a])} '
           f'steps of {train["batch_size"]} images from `{config["data"]["train_split"]}`, '
           + ('no regularisation (no dropout, no weight decay, no augmentation)' if not left_on
              else f'**unlike Figure 1, with regularisation: {", ".join(left_on)}**')
           + f', learning-rate schedule `{config["optim"]["schedule"]}`. Training error: the '
           f'top-1 error of the training batches, logged every {train["log_every_steps"]} '
           f'steps, the mean of {figures.SMOOTHING_WINDOW} consecutive logs; a run\'s steps '
           f'to {100 * target:g} % are the first step at which that mean reaches it ("> N": '
           'not in its N steps).', '']
  lines += sweep_lines(rates, tried, chosen, target)
  lines += seeds_lines(chosen, {a: [outcome(s, r, target) for s, r in zip(runs[a], records[a])]
                                for a in ACTIVATIONS}, target)
  lines += ['', 'The paper (Figure 1): a four-layer CNN on CIFAR-10 with ReLUs reaches 25 % '
            'training error six times faster than the same net with tanh units, each at its '
            'own fastest learning rate, without regularisation; "the magnitude of the effect '
            'demonstrated here varies with network architecture".', '',
            '![Figure 1: the sweep and the training error at the chosen rates](figure1.png)']
  figures.plot_figure1(rates, {LABELS[a]: [o.steps for o in tried[a]] for a in ACTIVATIONS},
                       records['relu'], records['tanh'], target, left_on, out / 'figure1.png')
  return '\n'.join(lines) + '\n'


# --- The command line ----------------------------------------------------------------------


def define_flags() -> None:
  flags.DEFINE_string('config', None, 'Base config file (path[:variant]), as for alexnet.main; '
                      'its regularisers off, as in Figure 1.', required=True)
  flags.DEFINE_integer('seeds', 5, 'Seeds at each chosen rate: 0, 1, …, seeds − 1.',
                       lower_bound=1)
  flags.DEFINE_list('learning_rates', ['0.003', '0.01', '0.03', '0.1', '0.3', '1'],
                    'The sweep: learning rates each activation is tried at (seed 0).')
  flags.DEFINE_float('target_train_error', 0.25, 'The training error to reach (the paper: '
                     '25 %).', lower_bound=0.0, upper_bound=1.0)
  flags.DEFINE_string('out', None, 'Directory of the table, figure, commands and run records.',
                      required=True)
  flags.DEFINE_string('workdirs', None, 'Directory of the runs\' workdirs; default: '
                      'workdirs/figure1/<name of --out>.')


def learning_rates(values: Sequence[str]) -> list[float]:
  try:
    rates = sorted({float(v) for v in values})
  except ValueError as error:
    raise app.UsageError(f'--learning_rates takes numbers, got {",".join(values)}') from error
  if not rates or rates[0] <= 0:
    raise app.UsageError(f'--learning_rates must be positive numbers, got {",".join(values)}')
  return rates


def main(argv: Sequence[str], overrides: Sequence[str], runner_command: str) -> None:
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  rates = learning_rates(FLAGS.learning_rates)
  target = FLAGS.target_train_error
  out = Path(FLAGS.out)
  workdirs = Path(FLAGS.workdirs or Path('workdirs', 'figure1', out.name))
  specs = functools.partial(runner.run_specs, FLAGS.config, overrides, workdirs=workdirs,
                            out=out)  # (variants, seeds) → the runs
  sweep = {a: specs([arm(a, r) for r in rates], range(1)) for a in ACTIVATIONS}
  sweep_runs = [s for a in ACTIVATIONS for s in sweep[a]]
  runner.check_configs(sweep_runs)
  out.mkdir(parents=True, exist_ok=True)
  runner.write_commands(out / 'commands.sh', runner_command, sweep_runs, keep_failures=True)
  runner.run_all(sweep_runs, keep_failures=True)

  tried = {a: outcomes(sweep[a], target) for a in ACTIVATIONS}
  chosen = {a: fastest(rates, tried[a]) for a in ACTIVATIONS}
  for a, rate in chosen.items():
    if rate is None:
      raise SystemExit(f'error: at no rate of --learning_rates did {LABELS[a]} reach '
                       f'{100 * target:g} % training error; lengthen the runs '
                       '(--config.train.num_epochs) or widen the sweep.')
  seed_runs = specs([arm(a, chosen[a]) for a in ACTIVATIONS], range(FLAGS.seeds))
  runner.check_configs(seed_runs)
  runner.write_commands(out / 'commands.sh', runner_command,
                           [*sweep_runs, *(s for s in seed_runs if s.seed > 0)], keep_failures=True)
  runner.run_all(seed_runs, keep_failures=True)

  runs = {a: [s for s in seed_runs if s.variant.name == arm(a, chosen[a]).name]
          for a in ACTIVATIONS}
  table = report(FLAGS.config, runner_command, rates, tried, chosen, runs, out, target)
  (out / 'results.md').write_text(table)
  print(f'\n{table}\nWritten to {out}.')


if __name__ == '__main__':
  _overrides, _argv = runner.split_overrides(sys.argv)
  _runner_command = shlex.join(['python', *sys.argv])
  define_flags()
  app.run(errors.reported(lambda argv: main(argv, _overrides, _runner_command)), argv=_argv)
