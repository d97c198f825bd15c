"""The ablation study: each of the paper's claims in a regime where its mechanism acts.

  python experiments/study.py --out experiments/results/study               # every regime
  python experiments/study.py --out experiments/results/study --regimes lrn,pooling

The plan — each regime's config and reason, the claims, the outcome and statistic each is
judged on, the verdict rule — is fixed in experiments/results/study/plan.md and in this
module's REGIMES and CLAIMS, committed before the regimes' runs. For each regime this
command:

1. chooses the learning rate, where the regime lists rates: the base arm at each rate, seed
   0, and the rate with the lowest validation error (``data.eval_split``, centre crop) at
   the last step; a rate that diverges counts as the worst;
2. runs the base and the regime's variants over its seeds at that rate (experiments/
   ablations.py's variants; experiments/runner.py records and resumes every run; a run
   that diverges is recorded as such, and counts as chance error);
3. writes ``<out>/<regime>/results.md``, the ablation table (experiments/ablations.py).

Then ``<out>/results.md`` gives each claim's estimate, its p adjusted by Holm's method over
the family of claims, and its verdict (experiments/stats.py).
"""

from __future__ import annotations

import dataclasses
import math
import shlex
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from absl import app, flags

import ablations
import runner
import stats
from alexnet import errors
from alexnet.workdir import Workdir

CONVERGED_WITHIN = 0.005  # steps to converge: first evaluation within 0.5 point of the minimum


@dataclasses.dataclass(frozen=True)
class Regime:
  """A base config, the variants it tests, its seeds and how its learning rate is chosen."""

  name: str
  config: str
  variants: tuple[str, ...]
  seeds: int
  rates: tuple[float, ...] = ()  # tried by the base arm on validation; () = the config's
  rates_from: str = ''  # or: the rate another regime chose


REGIMES = (
    Regime('base', 'configs/study/base.py', ('one_tower',), seeds=5),
    Regime('lrn', 'configs/study/lrn.py', ('lrn_scale_only', 'no_lrn'), seeds=5,
           rates=(0.003, 0.01, 0.03)),
    Regime('pooling', 'configs/study/pooling.py', ('no_overlap',), seeds=4),
    Regime('overfitting_5000', 'configs/study/overfitting.py:5000',
           ('no_dropout', 'no_augmentation', 'no_dropout_no_augmentation', 'no_translate',
            'no_flip'), seeds=3, rates=(0.01, 0.03)),
    Regime('overfitting_1000', 'configs/study/overfitting.py:1000',
           ('no_dropout', 'no_augmentation', 'no_dropout_no_augmentation'), seeds=3,
           rates_from='overfitting_5000'),
    Regime('overfitting_20000', 'configs/study/overfitting.py:20000',
           ('no_dropout', 'no_augmentation', 'no_dropout_no_augmentation'), seeds=3,
           rates_from='overfitting_5000'),
)
REGIME_NAMES = tuple(r.name for r in REGIMES)


@dataclasses.dataclass(frozen=True)
class Claim:
  """One of the paper's claims, as an estimate over paired seeds, judged by stats.verdict.

  The estimate compares ``outcome`` of the arm ``variant`` with ``against_outcome`` of the
  arm ``against``, seed by seed, oriented so that the paper's claim is a positive effect
  (the error a mechanism's absence adds; with / without for steps); ``paper`` is the paper's
  figure in the statistic's units (points; a ratio for 'log_ratio'), None where it gives
  none.
  """

  name: str
  regime: str
  variant: str
  against: str
  outcome: str  # an ablations.OUTCOMES name, or 'steps' (steps to converge)
  statistic: str  # 'mean', 'median' or 'log_ratio' (see stats)
  paper: float | None
  quote: str
  against_outcome: str = ''  # '' = outcome
  primary: bool = True  # in the family of verdicts; secondary claims are reported, not judged


CLAIMS = (
    Claim('LRN normalises (§3.3): normalisation on vs its scaling alone, centre crop', 'lrn',
          'lrn_scale_only', 'base', 'centre', 'mean', 1.4, '"reduces our top-1 ... error '
          'rates by 1.4%"'),
    Claim('LRN normalises (§3.3), ten patches', 'lrn', 'lrn_scale_only', 'base', 'ten', 'mean',
          1.4, 'as above'),
    Claim('LRN whole (normalisation and scaling), centre crop', 'lrn', 'no_lrn', 'base',
          'centre', 'mean', 1.4, 'as above', primary=False),
    Claim("LRN's scaling alone, centre crop", 'lrn', 'no_lrn', 'lrn_scale_only', 'centre',
          'mean', None, '(no claim: the control)', primary=False),
    Claim('Overlapping pooling (§3.4), centre crop', 'pooling', 'no_overlap', 'base', 'centre',
          'mean', 0.4, '"reduces the top-1 ... error rates by 0.4%"'),
    Claim('Overlapping pooling (§3.4), ten patches', 'pooling', 'no_overlap', 'base', 'ten',
          'mean', 0.4, 'as above'),
    Claim('Overlapping pooling is harder to overfit (§3.4): gap', 'pooling', 'no_overlap',
          'base', 'gap', 'mean', None, '"slightly more difficult to overfit"', primary=False),
    Claim('Two towers (§3.5 footnote), centre crop', 'base', 'one_tower', 'base', 'centre',
          'mean', 1.7, '"reduces our top-1 ... error rates by 1.7%"'),
    Claim('Two towers (§3.5 footnote), ten patches', 'base', 'one_tower', 'base', 'ten', 'mean',
          1.7, 'as above'),
    Claim('Ten patches beat the centre patch (§4.1)', 'base', 'base', 'base', 'centre', 'mean',
          None, 'at test, the average of ten patches\' predictions', against_outcome='ten'),
    Claim('Dropout prevents overfitting (§4.2): gap, 5,000 images', 'overfitting_5000',
          'no_dropout', 'base', 'gap', 'mean', None, '"without dropout, our network exhibits '
          'substantial overfitting"'),
    Claim('Dropout ≈ doubles the steps to converge (§4.2), 5,000 images', 'overfitting_5000',
          'base', 'no_dropout', 'steps', 'log_ratio', 2.0, '"roughly doubles the number of '
          'iterations required to converge"'),
    Claim('Augmentation prevents overfitting (§4.1): gap, 5,000 images', 'overfitting_5000',
          'no_augmentation', 'base', 'gap', 'mean', None, '"without this scheme, our network '
          'suffers from substantial overfitting"'),
    Claim('Augmentation, centre-crop test error, 5,000 images', 'overfitting_5000',
          'no_augmentation', 'base', 'centre', 'mean', None, 'as above'),
    *(Claim(f'Dropout: gap, {n:,} images', f'overfitting_{n}', 'no_dropout', 'base', 'gap',
            'mean', None, 'secondary: the size sweep', primary=False) for n in (1000, 20000)),
    *(Claim(f'Augmentation: gap, {n:,} images', f'overfitting_{n}', 'no_augmentation', 'base',
            'gap', 'mean', None, 'secondary: the size sweep', primary=False)
      for n in (1000, 20000)),
    *(Claim(f'Dropout without augmentation: gap, {n:,} images', f'overfitting_{n}',
            'no_dropout_no_augmentation', 'no_augmentation', 'gap', 'mean', None,
            'secondary: the 2×2', primary=False) for n in (1000, 5000, 20000)),
    *(Claim(f'{label}, gap, 5,000 images', 'overfitting_5000', variant, 'base', 'gap', 'mean',
            None, 'secondary: the parts of augmentation', primary=False)
      for variant, label in (('no_translate', 'Random crop positions'),
                             ('no_flip', 'Reflections'))),
)

FLAGS = flags.FLAGS


# --- Running ---------------------------------------------------------------------------------


def rate_arm(rate: float) -> runner.Variant:
  return runner.Variant(f'lr{rate:g}', f'the base arm at learning rate {rate:g}',
                        (f'optim.learning_rate={rate!r}',))


def validation_error(records: Sequence[Mapping]) -> float:
  """The validation error (centre crop) at a run's last step; inf for a run that failed."""
  evaluations = [r for r in records if 'eval_top1_error' in r]
  return evaluations[-1]['eval_top1_error'] if evaluations else math.inf


@dataclasses.dataclass(frozen=True)
class Places:
  """Where a study's records (``out``) and workdirs go, and the overrides every run gets."""

  out: Path
  workdirs: Path
  overrides: tuple[str, ...] = ()


def sweep_specs(regime: Regime, places: Places) -> list[runner.RunSpec]:
  return runner.run_specs(regime.config, places.overrides, [rate_arm(r) for r in regime.rates],
                          1, places.workdirs / regime.name / 'sweep',
                          places.out / regime.name / 'sweep')


def chosen_rate(regime: Regime, places: Places) -> float | None:
  """The rate of the sweep's run with the lowest validation error (the lower rate on a tie)."""
  if regime.rates_from:
    return chosen_rate(regime_named(regime.rates_from), places)
  if not regime.rates:
    return None
  errors_by_rate = []
  for rate, spec in zip(regime.rates, sweep_specs(regime, places)):
    failed = runner.failure_reason(spec.record) is not None
    records = [] if failed else Workdir(spec.record).read_metrics()
    errors_by_rate.append((validation_error(records), rate))
  return min(errors_by_rate)[1]


def regime_named(name: str) -> Regime:
  return next(r for r in REGIMES if r.name == name)


def regime_specs(regime: Regime, places: Places) -> list[runner.RunSpec]:
  rate = chosen_rate(regime, places)
  overrides = [*places.overrides, *([] if rate is None else
                                    [f'--config.optim.learning_rate={rate!r}'])]
  return runner.run_specs(regime.config, overrides, ablations.chosen_variants(regime.variants),
                          regime.seeds, places.workdirs / regime.name, places.out / regime.name)


def reuse_the_sweeps_run(regime: Regime, places: Places, specs: Sequence[runner.RunSpec]) -> None:
  """The sweep's run at the chosen rate is the base arm's seed 0 (the same config): its
  record is copied there instead of training it again."""
  if not regime.rates:
    return
  rate = chosen_rate(regime, places)
  sweep_run = sweep_specs(regime, places)[regime.rates.index(rate)]
  base_seed0 = next(s for s in specs if s.variant.name == ablations.BASE and s.seed == 0)
  if runner.finished(sweep_run.record) and not runner.finished(base_seed0.record):
    runner.keep_record(dataclasses.replace(base_seed0, workdir=sweep_run.workdir))


def run_regime(regime: Regime, places: Places, runner_command: str) -> None:
  """The regime's sweep (if it has one), its runs, and its ablation table."""
  sweep = sweep_specs(regime, places) if regime.rates else []
  runner.check_configs(sweep)
  runner.run_all(sweep, keep_failures=True)
  specs = regime_specs(regime, places)
  runner.check_configs(specs)
  reuse_the_sweeps_run(regime, places, specs)
  out = places.out / regime.name
  out.mkdir(parents=True, exist_ok=True)
  runner.write_commands(out / 'commands.sh', runner_command, [*sweep, *specs],
                        keep_failures=True)
  runner.run_all(specs, keep_failures=True)
  table = ablations.report(regime.config, runner_command,
                           ablations.chosen_variants(regime.variants), regime.seeds, out)
  (out / 'results.md').write_text(table)


# --- The verdicts ----------------------------------------------------------------------------


def steps_to_converge(records: Sequence[Mapping]) -> int | None:
  """The first evaluation's step whose validation error is within CONVERGED_WITHIN of the
  run's lowest; None for a run without evaluations."""
  evaluations = [(r['step'], r['eval_top1_error']) for r in records if 'eval_top1_error' in r]
  if not evaluations:
    return None
  lowest = min(error for _, error in evaluations)
  return next(step for step, error in evaluations if error <= lowest + CONVERGED_WITHIN)


def outcome_of(records: Sequence[Mapping], name: str, chance: float) -> float:
  """One outcome of a run; a run that failed (diverged) has chance error and no steps."""
  if name == 'steps':
    steps = steps_to_converge(records)
    return math.nan if steps is None else float(steps)
  if not any('final_top1_error' in r for r in records):
    return chance if name in ('centre', 'ten') else math.nan
  return ablations.outcomes(records)[name]


ESTIMATES = {'mean': stats.mean_difference, 'median': stats.median_difference,
             'log_ratio': stats.log_ratio}


@dataclasses.dataclass(frozen=True)
class Judged:
  claim: Claim
  estimate: stats.Estimate
  diverged: int  # runs of the two arms that diverged (counted as chance error)
  adjusted_p: float = math.nan
  verdict: str = ''


def estimate(claim: Claim, out: Path, seeds: int, chance: float) -> Judged:
  """The claim's paired estimate over the seeds recorded in ``out``/<regime>/runs."""
  def values(variant: str, name: str) -> list[float]:
    runs = [Workdir(out / claim.regime / 'runs' / variant / f'seed{s}') for s in range(seeds)]
    return [outcome_of(run.read_metrics() if run.metrics_file.exists() else [], name, chance)
            for run in runs]

  ablated = values(claim.variant, claim.outcome)
  reference = values(claim.against, claim.against_outcome or claim.outcome)
  diverged = sum(runner.failure_reason(out / claim.regime / 'runs' / v / f'seed{s}') is not None
                 for v in {claim.variant, claim.against} for s in range(seeds))
  statistic = 'median' if diverged and claim.statistic == 'mean' else claim.statistic
  return Judged(claim, ESTIMATES[statistic](ablated, reference), diverged)


def judge(judged: Sequence[Judged]) -> list[Judged]:
  """Holm's adjustment over the primary claims, and their verdicts; secondary ones keep
  their own p and get no verdict."""
  primary = [j for j in judged if j.claim.primary]
  adjusted = dict(zip((id(j) for j in primary), stats.holm([j.estimate.p for j in primary])))
  result = []
  for j in judged:
    if not j.claim.primary:
      result.append(j)
      continue
    p = adjusted[id(j)]
    paper = j.claim.paper
    if paper is not None and j.claim.statistic == 'log_ratio':
      paper = math.log(paper)
    result.append(dataclasses.replace(j, adjusted_p=p,
                                      verdict=stats.verdict(j.estimate, p, +1, paper)))
  return result


def verdict_lines(judged: Sequence[Judged]) -> list[str]:
  lines = ['| claim | regime | estimate [95 % CI] | p | Holm-adjusted p | the paper | verdict |',
           '|---|---|---|---|---|---|---|']
  for j in judged:
    unit = '' if j.estimate.log_scale else ' points'
    paper = '–' if j.claim.paper is None else (
        f'{j.claim.paper:g}×' if j.claim.statistic == 'log_ratio' else f'+{j.claim.paper:g}')
    note = f' ({j.diverged} diverged runs: median, Wilcoxon)' if j.diverged else ''
    adjusted = '–' if math.isnan(j.adjusted_p) else f'{j.adjusted_p:.2g}'
    lines.append(f'| {j.claim.name} | {j.claim.regime} | {j.estimate.shown(unit)}{note} | '
                 f'{j.estimate.p:.2g} | {adjusted} | {paper}: {j.claim.quote} | '
                 f'{f"**{j.verdict}**" if j.verdict else "secondary"} |')
  return lines


def report(out: Path, regimes: Sequence[Regime], runner_command: str) -> str:
  done = {r.name for r in regimes if (out / r.name / 'results.md').exists()}
  claims = [c for c in CLAIMS if c.regime in done]
  judged = judge([estimate(c, out, regime_named(c.regime).seeds, chance=0.9) for c in claims])
  lines = ['# The ablation study: verdicts', '', f'Made by `{runner_command}`; the plan, fixed '
           'before the runs: [plan.md](plan.md). Each regime\'s table: `<regime>/results.md`.',
           '', *verdict_lines(judged), '',
           'Estimate: the claim\'s effect as the mechanism\'s absence minus its presence, seed by '
           'seed (points of test error, or the gap\'s points; a ratio of steps as the geometric '
           'mean), Student\'s t interval; p two-sided. Holm\'s adjustment runs over the '
           f'{sum(j.claim.primary for j in judged)} primary claims. Verdicts (stats.verdict): '
           '*reproduced* — the paper\'s sign, adjusted p < 0.05; *contradicted* — the other '
           'sign, adjusted p < 0.05; *smaller than the paper\'s* — the interval lies below '
           'the paper\'s figure; *inconclusive* — the interval holds 0 and the paper\'s figure.']
  missing = [r.name for r in REGIMES if r.name not in done]
  if missing:
    lines += ['', f'Not run yet: {", ".join(missing)}.']
  return '\n'.join(lines) + '\n'


# --- The command line ------------------------------------------------------------------------


def main(argv: Sequence[str], overrides: Sequence[str], runner_command: str) -> None:
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  unknown = sorted(set(FLAGS.regimes) - set(REGIME_NAMES))
  if unknown:
    raise app.UsageError(f'Unknown regimes {unknown}; known: {", ".join(REGIME_NAMES)}.')
  places = Places(Path(FLAGS.out), Path(FLAGS.workdirs or Path('workdirs', 'study')),
                  tuple(overrides))
  for regime in REGIMES:
    if regime.name in FLAGS.regimes:
      run_regime(regime, places, runner_command)
  table = report(places.out, REGIMES, runner_command)
  (places.out / 'results.md').write_text(table)
  print(f'\n{table}\nWritten to {places.out}.')


if __name__ == '__main__':
  _overrides, _argv = runner.split_overrides(sys.argv)
  _runner_command = shlex.join(['python', *sys.argv])
  flags.DEFINE_list('regimes', list(REGIME_NAMES), f'Regimes to run, of {", ".join(REGIME_NAMES)}.')
  flags.DEFINE_string('out', None, 'Directory of the plan, the tables and every run\'s record.',
                      required=True)
  flags.DEFINE_string('workdirs', None, 'Directory of the runs\' workdirs; default: '
                      'workdirs/study.')
  app.run(errors.reported(lambda argv: main(argv, _overrides, _runner_command)), argv=_argv)
