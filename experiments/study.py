"""The ablation study: each of the paper's claims in a regime where its mechanism acts.

  python experiments/study.py --out experiments/results/study               # every regime
  python experiments/study.py --out experiments/results/study --regimes lrn,pooling

The plan — each regime's config and reason, the claims, the outcome and statistic each is
judged on, the verdict rule — is experiments/results/study/plan.md, and as data
experiments/plan.py, committed before the regimes' runs. For each regime this command:

1. chooses the learning rate, where the regime lists rates: the base arm (every arm, where
   each has its own) at each rate with the selection seeds, and the rate with the lowest
   mean of the regime's ``choose_by`` outcome; a run that diverges counts as the worst;
2. runs its arms (experiments/ablations.py's variants) over its seeds at that rate;
   experiments/runner.py records and resumes every run, and a run that diverges is
   recorded as such;
3. writes ``<out>/<regime>/results.md``, the ablation table (experiments/ablations.py).

Then ``<out>/results.md`` gives each claim's estimate, its p adjusted by Holm's method over
the primary claims, and its verdict (experiments/stats.py).
"""

from __future__ import annotations

import dataclasses
import json
import math
import shlex
import statistics
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from absl import flags

import ablations
import curves
import runner
import stats
from alexnet import cli, errors
from alexnet.run.records import EVALUATION_ERROR, is_evaluation
from alexnet.run.workdir import Workdir
from plan import CLAIMS, FIGURE1_TARGETS, REGIMES, Claim, Regime

# The verdict of a claim whose every run's step count is its budget's (:func:`censored`):
# its ratio compares two budgets, not two nets. It stays in Holm's family (which only
# makes the others' adjusted p larger), since it was declared there.
NOT_MEASURED = 'not measured: no run got there'
CONVERGED_WITHIN = 0.005  # steps to converge: first evaluation within 0.5 point of the minimum
CHANCE = 0.9  # the error counted for a run that diverged: chance on 10 classes
# What outcome_of can measure: a test outcome, or a measure of the logs ('name@argument').
OUTCOME_KINDS = (*ablations.OUTCOMES, 'validation', 'steps', 'train_steps', 'loss', 'collapsed')
COLLAPSED_ABOVE, AFTER_BELOW = 0.5, 0.3  # a collapse: validation error above 50 % after 30 %
REGIME_NAMES = tuple(r.name for r in REGIMES)

FLAGS = flags.FLAGS

# --- Outcomes of a run -------------------------------------------------------------------------


def steps_to_converge(records: Sequence[Mapping]) -> int | None:
  """The first evaluation's step whose validation error is within CONVERGED_WITHIN of the
  run's lowest; None for a run without evaluations."""
  evaluations = [(r['step'], r[EVALUATION_ERROR]) for r in records if is_evaluation(r)]
  if not evaluations:
    return None
  lowest = min(error for _, error in evaluations)
  return next(step for step, error in evaluations if error <= lowest + CONVERGED_WITHIN)


def collapsed(records: Sequence[Mapping]) -> bool:
  """Whether the validation error rose above COLLAPSED_ABOVE after it had been below
  AFTER_BELOW (the earlier study's no-noise run went 34 % → 90 %)."""
  validation = [r[EVALUATION_ERROR] for r in records if is_evaluation(r)]
  learnt = [i for i, e in enumerate(validation) if e < AFTER_BELOW]
  return bool(learnt) and max(validation[learnt[0]:]) > COLLAPSED_ABOVE


def smoothed_loss_at(records: Sequence[Mapping], step: int) -> float:
  """The training loss at ``step``, the mean of the SMOOTHING_WINDOW logs that end there;
  nan for a run that did not log that far."""
  steps, losses = curves.series(records, 'loss')
  if len(losses) < curves.SMOOTHING_WINDOW:
    return math.nan
  steps, losses = curves.smooth(steps, losses)
  at = [loss for s, loss in zip(steps, losses) if s == step]
  return float(at[0]) if at else math.nan


def outcome_of(run: Path, name: str) -> float:
  """One outcome of the run recorded in ``run`` (errors as fractions):

  * the test outcomes of ablations.OUTCOMES; a run that diverged has CHANCE test error;
  * 'validation': the validation error at the last step (inf for a run that diverged);
  * 'steps': steps to converge on the validation curve (:func:`steps_to_converge`);
  * 'train_steps@T': the first step at which the smoothed training error is ≤ T; a run that
    does not get there in its steps, or diverges first, counts as twice its length;
  * 'loss@N': the smoothed training loss at step N (:func:`smoothed_loss_at`);
  * 'collapsed': 1 for a run that collapsed (:func:`collapsed`) or diverged, else 0.
  """
  record = Workdir(run)
  metrics = record.read_metrics() if record.metrics_file.exists() else []
  failed = runner.failure_reason(run) is not None
  kind, _, argument = name.partition('@')
  if kind == 'validation':
    return math.inf if failed else ablations.validation_error(metrics)
  if kind == 'steps':
    steps = None if failed else steps_to_converge(metrics)
    return math.nan if steps is None else float(steps)
  if kind == 'train_steps':
    steps = None if failed else curves.steps_to_error(metrics, float(argument))
    return float(steps) if steps is not None else 2.0 * run_length(run)
  if kind == 'loss':
    return smoothed_loss_at(metrics, int(argument))
  if kind == 'collapsed':
    return float(failed or collapsed(metrics))
  if failed:
    return CHANCE if name in ('centre', 'ten') else math.nan
  return ablations.outcomes(metrics)[name]


def censored(run: Path, name: str) -> bool:
  """Whether a step count ``name`` of the run is its budget, not the net's: steps to converge
  at the run's last evaluation (still improving, or level only there), or a training-error
  target not reached (or a diverged run). Reported beside the claims that count steps."""
  kind = name.partition('@')[0]
  if kind == 'train_steps':
    return outcome_of(run, name) >= 2 * run_length(run)
  if kind == 'steps':
    evaluations = [r['step'] for r in Workdir(run).read_metrics() if is_evaluation(r)]
    return not evaluations or outcome_of(run, name) == evaluations[-1]
  return False


def outcome_label(name: str) -> str:
  """How a plot's axis names the outcome ``name`` of :func:`outcome_of`."""
  kind, _, argument = name.partition('@')
  if kind == 'train_steps':
    return f'steps to {100 * float(argument):g} % training error'
  if kind == 'loss':
    return f'training loss at step {argument} (mean of {curves.SMOOTHING_WINDOW} logs)'
  return name


def run_length(run: Path) -> int:
  """The steps a recorded run was asked for (its config's train.num_steps)."""
  config = json.loads(Workdir(run).config_file.read_text())
  return config['train']['num_steps']


# --- Running -----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Places:
  """Where a study's records (``out``) and workdirs go, and the overrides every run gets."""

  out: Path
  workdirs: Path
  overrides: tuple[str, ...] = ()


def swept_arms(regime: Regime) -> list[runner.Variant]:
  arms = ablations.chosen_variants(regime.variants)
  return arms if regime.rate_per_arm else arms[:1]


def at_rate(arm: runner.Variant, rate: float, regime: Regime) -> runner.Variant:
  """``arm`` at ``rate``, named for the sweep ('lr0.01', or 'tanh_lr0.01' per arm)."""
  name = f'{arm.name}_lr{rate:g}' if regime.rate_per_arm else f'lr{rate:g}'
  return runner.Variant(name, f'{arm.change}, learning rate {rate:g}',
                        (*arm.overrides, f'optim.learning_rate={rate!r}'))


def sweep_specs(regime: Regime, places: Places) -> list[runner.RunSpec]:
  return runner.run_specs(regime.config, places.overrides, [
      at_rate(arm, rate, regime) for arm in swept_arms(regime)
      for rate in regime.rates_for(arm.name)
  ], regime.selection_seeds, places.workdirs / regime.name / 'sweep',
                          places.out / regime.name / 'sweep')


def chosen_rates(regime: Regime, places: Places) -> dict[str, float]:
  """{arm: its rate}: the rate whose selection runs have the lowest mean ``choose_by``
  outcome (the lower rate on a tie); {} where the regime keeps its config's rate."""
  if regime.rates_from:
    return chosen_rates(regime_named(regime.rates_from), places)
  if not regime.sweeps:
    return {}
  scores = sweep_scores(regime, places)
  chosen = {
      arm: min((score, rate) for rate, score in row.items())[1] for arm, row in scores.items()
  }
  if not regime.rate_per_arm:
    return {arm.name: chosen[ablations.BASE] for arm in ablations.chosen_variants(regime.variants)}
  return chosen


def sweep_scores(regime: Regime, places: Places) -> dict[str, dict[float, float]]:
  """{arm: {rate: mean ``choose_by`` outcome of its selection runs}}, inf where a run
  diverged or has no such outcome: such a rate is never chosen over one that trained."""
  specs = sweep_specs(regime, places)
  scores = {}
  for arm in swept_arms(regime):
    row = {}
    for rate in regime.rates_for(arm.name):
      name = at_rate(arm, rate, regime).name
      runs = [s.record for s in specs if s.variant.name == name]
      mean = statistics.fmean(outcome_of(r, regime.choose_by) for r in runs)
      failed = any(runner.failure_reason(r) is not None for r in runs)
      row[rate] = mean if math.isfinite(mean) and not failed else math.inf
    scores[arm.name] = row
  return scores


def regime_named(name: str) -> Regime:
  return next(r for r in REGIMES if r.name == name)


def regime_specs(regime: Regime, places: Places) -> list[runner.RunSpec]:
  """Every run of the regime's arms at their rates, seed-major."""
  rates = chosen_rates(regime, places)
  specs = []
  for arm in ablations.chosen_variants(regime.variants):
    rate = [f'--config.optim.learning_rate={rates[arm.name]!r}'] if rates else []
    specs += runner.run_specs(regime.config, [*places.overrides, *rate], [arm], regime.seeds,
                              places.workdirs / regime.name, places.out / regime.name)
  return sorted(specs, key=lambda s: s.seed)


def selection_run(spec: runner.RunSpec, regime: Regime, places: Places) -> runner.RunSpec | None:
  """The selection run that is ``spec``'s run — a swept arm at its chosen rate with the same
  seed, the same config — or None (an arm not swept is never its base's selection run)."""
  if not regime.sweeps or spec.variant.name not in {a.name for a in swept_arms(regime)}:
    return None
  name = at_rate(spec.variant, chosen_rates(regime, places)[spec.variant.name], regime).name
  return next(
      (s for s in sweep_specs(regime, places) if s.variant.name == name and s.seed == spec.seed),
      None)


def reuse_the_sweeps_runs(regime: Regime, places: Places, specs: Sequence[runner.RunSpec]) -> None:
  """A selection run that is one of ``specs`` (:func:`selection_run`) is copied there
  instead of training it again."""
  for spec in specs:
    chosen = selection_run(spec, regime, places)
    if chosen and runner.finished(chosen.record) and not runner.finished(spec.record):
      runner.keep_record(dataclasses.replace(spec, workdir=chosen.workdir))


def trained_workdir(spec: runner.RunSpec, regime: Regime, places: Places) -> Path:
  """Where ``spec``'s run trained: its workdir, or the selection run's it reused."""
  chosen = selection_run(spec, regime, places)
  if runner.finished(spec.workdir) or chosen is None:
    return spec.workdir
  return chosen.workdir


def diagnose_lrn(regime: Regime, places: Places, specs: Sequence[runner.RunSpec]) -> None:
  """lrn_diagnostic.json in the regime's records: α Σ a² against k at each LRN layer, at
  initialisation and at the end, in each of the base arm's runs.

  lrn_diagnostic loads the runs' networks (JAX, TensorFlow for their data): imported here,
  where a regime needs it, so that the study's other work and its refusals start without."""
  path = places.out / regime.name / 'lrn_diagnostic.json'
  if path.exists():
    return
  import lrn_diagnostic

  runs = [trained_workdir(s, regime, places) for s in specs if s.variant.name == ablations.BASE]
  results = [lrn_diagnostic.diagnose(str(w), lrn_diagnostic.IMAGES) for w in runs]
  path.write_text(json.dumps(results, indent=1) + '\n')


def plot_figure1(regime: Regime, places: Places) -> str:
  """figure1.png for a regime of ReLU against tanh at their own rates: the sweep (the mean
  selection outcome per rate over the selection seeds) and the compared seeds' training
  error, marked where each reaches the hardest target; returns its line for results.md."""
  sweep = {
      'ReLU' if arm == ablations.BASE else arm: (tuple(row), [
          score if math.isfinite(score) else None for score in row.values()
      ]) for arm, row in sweep_scores(regime, places).items()
  }
  out = places.out / regime.name
  records = ablations.read_records(out, ablations.chosen_variants(regime.variants), regime.seeds)
  curves.plot_figure1(sweep, outcome_label(regime.choose_by), records[ablations.BASE],
                      records['tanh'], FIGURE1_TARGETS[-1], regime.name, out / 'figure1.png')
  return '\n![Figure 1: the sweep and the training error at the chosen rates](figure1.png)\n'


def run_regime(regime: Regime, places: Places, runner_command: str) -> None:
  """The regime's sweep (if it has one), its runs, and its ablation table."""
  sweep = sweep_specs(regime, places) if regime.sweeps else []
  runner.check_configs(sweep)
  runner.run_all(sweep, keep_failures=True)
  specs = regime_specs(regime, places)
  runner.check_configs(specs)
  reuse_the_sweeps_runs(regime, places, specs)
  out = places.out / regime.name
  out.mkdir(parents=True, exist_ok=True)
  runner.write_commands(out / 'commands.sh', runner_command, [*sweep, *specs], keep_failures=True)
  runner.run_all(specs, keep_failures=True)
  if regime.lrn_diagnostic:
    diagnose_lrn(regime, places, specs)
  table = ablations.report(regime.config, runner_command,
                           ablations.chosen_variants(regime.variants), regime.seeds, out)
  if regime.rate_per_arm:
    table += plot_figure1(regime, places)
  (out / 'results.md').write_text(table)


# --- The verdicts ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Judged:
  claim: Claim
  estimate: stats.Estimate
  diverged: int  # runs of the two arms that diverged
  pairs: int  # seeds with both outcomes (a loss is missing where a run diverged before it)
  censored: int = 0  # runs whose step count is their budget's (:func:`censored`)
  adjusted_p: float = math.nan
  verdict: str = ''


ESTIMATES = {
    'mean': stats.mean_difference, 'median': stats.median_difference, 'log_ratio': stats.log_ratio
}


def estimate(claim: Claim, out: Path, seeds: Sequence[int]) -> Judged:
  """The claim's paired estimate over the seeds recorded in ``out``/<regime>/runs. If a run
  of either arm diverged, a mean becomes the median with Wilcoxon's p (plan.md)."""
  runs = lambda arm: [runner.record_dir(out / claim.regime, arm, s) for s in seeds]
  pairs = [(outcome_of(a, claim.outcome), outcome_of(b, claim.against_outcome or claim.outcome))
           for a, b in zip(runs(claim.variant), runs(claim.against))]
  pairs = [(a, b) for a, b in pairs if not (math.isnan(a) or math.isnan(b))]
  diverged = sum(
      runner.failure_reason(r) is not None for arm in {claim.variant, claim.against}
      for r in runs(arm))
  statistic = 'median' if diverged and claim.statistic == 'mean' else claim.statistic
  ablated, reference = zip(*pairs) if pairs else ((), ())
  cut_short = sum(
      censored(r, claim.outcome) for arm in {claim.variant, claim.against} for r in runs(arm)
      if r.exists())
  return Judged(claim, ESTIMATES[statistic](ablated, reference), diverged, len(pairs), cut_short)


def judge(judged: Sequence[Judged]) -> list[Judged]:
  """Holm's adjustment over the primary claims, and their verdicts; secondary ones keep
  their own p and get no verdict."""
  primary = [i for i, j in enumerate(judged) if j.claim.primary]
  adjusted = dict(zip(primary, stats.holm([judged[i].estimate.p for i in primary])))
  result = []
  for i, j in enumerate(judged):
    if i not in adjusted:
      result.append(j)
      continue
    paper = j.claim.paper
    if paper is not None and j.claim.statistic == 'log_ratio':
      paper = math.log(paper)
    verdict = stats.verdict(j.estimate, adjusted[i], +1, paper)
    if j.censored and j.censored == 2 * j.pairs:
      verdict = NOT_MEASURED
    result.append(dataclasses.replace(j, adjusted_p=adjusted[i], verdict=verdict))
  return result


def verdict_lines(judged: Sequence[Judged]) -> list[str]:
  lines = [
      '| claim | regime | estimate [95 % CI] | seeds | p | Holm-adjusted p | the paper | '
      'verdict |', '|---|---|---|---|---|---|---|---|'
  ]
  for j in judged:
    unit = '' if j.estimate.log_scale else ' points'
    paper = '–' if j.claim.paper is None else (
        f'{j.claim.paper:g}×' if j.claim.statistic == 'log_ratio' else f'+{j.claim.paper:g}')
    note = f' ({j.diverged} runs diverged: median, Wilcoxon)' if j.diverged else ''
    if j.censored:
      note += f' ({j.censored} of {2 * j.pairs} runs: the budget, not the net, set the steps)'
    adjusted = '–' if math.isnan(j.adjusted_p) else f'{j.adjusted_p:.2g}'
    lines.append(f'| {j.claim.name} | {j.claim.regime} | {j.estimate.shown(unit)}{note} | '
                 f'{j.pairs} | {j.estimate.p:.2g} | {adjusted} | {paper}: {j.claim.quote} | '
                 f'{f"**{j.verdict}**" if j.verdict else "secondary"} |')
  return lines


def regime_recorded(regime: Regime, out: Path) -> bool:
  """Whether every run of the regime's arms has ended in ``out`` (finished, or failed)."""
  arms = ablations.chosen_variants(regime.variants)
  records = [
      runner.record_dir(out / regime.name, arm.name, seed) for arm in arms for seed in regime.seeds
  ]
  return all(runner.finished(r) or runner.failure_reason(r) is not None for r in records)


def report(out: Path, runner_command: str) -> str:
  """results.md: every claim whose regime has run, judged."""
  done = {r.name for r in REGIMES if regime_recorded(r, out)}
  claims = [c for c in CLAIMS if c.regime in done]
  judged = judge([estimate(c, out, regime_named(c.regime).seeds) for c in claims])
  lines = [
      '# The ablation study: verdicts', '', f'Made by `{runner_command}`; the plan, fixed '
      'before the runs: [plan.md](plan.md). Each regime\'s table: `<regime>/results.md`.', '',
      *verdict_lines(judged), '',
      'Estimate: the mechanism\'s absence against its presence, seed by seed (points of '
      'test error or of the gap; a ratio of steps or losses as the geometric mean), with '
      'its 95 % interval; p two-sided, and adjusted by Holm\'s method over the '
      f'{sum(j.claim.primary for j in judged)} primary claims here. Verdicts '
      '(experiments/stats.py): *reproduced* — the paper\'s sign, adjusted p < 0.05; '
      '*contradicted* — the other sign, adjusted p < 0.05; *smaller than the paper\'s* — '
      'the interval lies below the paper\'s figure; *inconclusive* — otherwise. '
      '"The budget, not the net, set the steps": in that many runs a step count is the '
      'run\'s budget (a target not reached, or the validation error lowest at the last '
      'evaluation), so the ratio is not the nets\' own; where that is every run, the '
      f'verdict is *{NOT_MEASURED}*.'
  ]
  missing = [r.name for r in REGIMES if r.name not in done]
  if missing:
    lines += ['', f'Not run yet, or not to their end: {", ".join(missing)}.']
  return '\n'.join(lines) + '\n'


# --- The command line --------------------------------------------------------------------------


def main(argv: Sequence[str], overrides: Sequence[str], runner_command: str) -> None:
  if len(argv) > 1:
    raise errors.UsageError(f'Unexpected arguments: {argv[1:]}')
  unknown = sorted(set(FLAGS.regimes) - set(REGIME_NAMES))
  if unknown:
    raise errors.UsageError(f'Unknown regimes {unknown}; known: {", ".join(REGIME_NAMES)}.')
  places = Places(Path(FLAGS.out), Path(FLAGS.workdirs or Path('workdirs', 'study')),
                  tuple(overrides))
  for regime in REGIMES:
    if regime.name in FLAGS.regimes:
      run_regime(regime, places, runner_command)
  table = report(places.out, runner_command)
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
  cli.run(lambda argv: main(argv, _overrides, _runner_command), argv=_argv)
