"""experiments/study.py: the plan's regimes and claims, steps to converge, the verdict table."""

import dataclasses
import json
import math
import sys

import pytest

import fake_data
import xla_flags
from tiny_run import ROOT

sys.path.insert(0, str(ROOT / 'experiments'))
import ablations
import plan
import runner
import stats
import study


def test_every_claim_names_a_regime_arms_it_runs_and_an_outcome_there_is():
  for claim in plan.CLAIMS:
    regime = study.regime_named(claim.regime)
    arms = {ablations.BASE, *regime.variants}
    assert {claim.variant, claim.against} <= arms, claim.name
    assert claim.statistic in study.ESTIMATES
    for outcome in (claim.outcome, claim.against_outcome or claim.outcome):
      assert outcome.partition('@')[0] in study.OUTCOME_KINDS, claim.name


@pytest.mark.filterwarnings('ignore:the load_module:DeprecationWarning')  # ml_collections
def test_every_regimes_config_builds_and_keeps_the_test_apart_from_what_is_chosen():
  for regime in plan.REGIMES:
    data = runner.resolve_config(['--config=' + regime.config])['data']
    assert data['test_split'] == 'test' and data['eval_split'] not in ('test', ''), regime.name
    if data['dataset'] == 'fashion_mnist':
      assert data['eval_split'] == 'train[50000:55000]'
      assert int(data['train_split'].split(':')[1].rstrip(']')) <= 50000, regime.name


def test_steps_to_converge_is_the_first_evaluation_within_half_a_point_of_the_minimum():
  errors = [0.30, 0.20, 0.124, 0.13, 0.12, 0.126]
  records = [{'step': 78 * (i + 1), 'eval_top1_error': e} for i, e in enumerate(errors)]
  records.insert(2, {'step': 100, 'train_top1_error': 0.0})  # training records are ignored
  assert study.steps_to_converge(records) == 3 * 78  # 0.124 ≤ 0.12 + 0.005
  assert study.steps_to_converge([{'step': 1, 'loss': 1.0}]) is None


def write_run(record_dir, final_error: float | None) -> None:
  """A run's record as runner.keep_record leaves it: metrics, or the failure's message."""
  record_dir.mkdir(parents=True)
  (record_dir / 'config.json').write_text(json.dumps({'train': {'num_steps': 20}}))
  metrics = [{'step': 10, 'eval_top1_error': 0.5}]
  if final_error is None:
    (record_dir / runner.FAILURE_FILE).write_text('The loss became NaN at step 3\n')
  else:
    metrics.append({
        'step': 20, 'final_top1_error': final_error, 'final_loss': 0.3,
        'final_centre_top1_error': final_error + 0.01, 'final_train_top1_error': 0.05,
        'final_crops': 10
    })
  (record_dir / 'metrics.jsonl').write_text(''.join(json.dumps(m) + '\n' for m in metrics))


def test_a_diverged_run_counts_as_chance_and_turns_the_claim_to_the_median(tmp_path):
  claim = plan.Claim('LRN', 'lrn', 'no_lrn', 'base', 'centre', 'mean', 1.4, 'quote')
  for seed, (base, ablated) in enumerate([(0.10, 0.12), (0.11, 0.13), (0.10, None)]):
    write_run(tmp_path / 'lrn' / 'runs' / 'base' / f'seed{seed}', base)
    write_run(tmp_path / 'lrn' / 'runs' / 'no_lrn' / f'seed{seed}', ablated)
  judged = study.estimate(claim, tmp_path, seeds=range(3))
  assert judged.diverged == 1 and judged.pairs == 3
  # centre-crop differences +2, +2 and 90 − 11 = +79 points: the median, not the mean
  assert judged.estimate.value == pytest.approx(2.0)
  assert judged.estimate.p == stats.median_difference([0.13, 0.14, 0.9], [0.11, 0.12, 0.11]).p


def test_the_verdicts_leave_out_a_regime_until_every_one_of_its_runs_has_ended(tmp_path):
  pooling = study.regime_named('pooling')
  for arm in ('base', 'no_overlap'):
    for seed in pooling.seeds:
      write_run(tmp_path / 'pooling' / 'runs' / arm / f'seed{seed}', 0.2 if seed else None)
  assert '| Overlapping pooling (§3.4), centre crop | pooling |' in study.report(tmp_path, 'x')
  (tmp_path / 'pooling' / 'runs' / 'no_overlap' / 'seed1' / 'metrics.jsonl').unlink()
  (tmp_path / 'pooling' / 'runs' / 'no_overlap' / 'seed1' / 'config.json').unlink()
  shown = study.report(tmp_path, 'x')
  assert '| pooling |' not in shown and 'not to their end: base, lrn, pooling' in shown


def test_holm_runs_over_the_primary_claims_only_and_secondary_ones_get_no_verdict():

  def judged(p: float, primary: bool = True) -> study.Judged:
    claim = plan.Claim('c', 'lrn', 'no_lrn', 'base', 'centre', 'mean', None, 'q', primary=primary)
    return study.Judged(claim, stats.Estimate(3.0, 1.0, 5.0, p), diverged=0, pairs=3)

  result = study.judge([judged(0.01), judged(0.02), judged(0.001, primary=False)])
  assert [j.adjusted_p for j in result[:2]] == pytest.approx([0.02, 0.02])
  assert [j.verdict for j in result[:2]] == [stats.REPRODUCED] * 2
  assert math.isnan(result[2].adjusted_p) and result[2].verdict == ''


def test_a_claim_whose_every_run_stopped_short_of_its_target_is_not_measured_but_counted():
  claim = plan.Claim('c', 'figure1_today', 'tanh', 'base', 'train_steps@0.08', 'log_ratio', 6.0,
                     'q')
  cut_short = study.Judged(claim, stats.Estimate(-1.0, -1.5, -0.5, 0.01, log_scale=True),
                           diverged=0, pairs=4, censored=8)
  partly = dataclasses.replace(cut_short, censored=3)
  result = study.judge([cut_short, partly])
  assert [j.verdict for j in result] == [study.NOT_MEASURED, stats.CONTRADICTED]
  assert [j.adjusted_p for j in result] == pytest.approx([0.02, 0.02])


def write_logs(record_dir, train_errors, eval_errors=(), failed=False, loss=1.0) -> None:
  """A Figure 1-style record: training errors every 5 steps, validation errors every 10."""
  record_dir.mkdir(parents=True)
  (record_dir / 'config.json').write_text(json.dumps({'train': {'num_steps': 100}}))
  metrics = [
      {'step': 5 * (i + 1), 'loss': loss, 'train_top1_error': e} for i, e in enumerate(train_errors)
  ]
  metrics += [{'step': 10 * (i + 1), 'eval_top1_error': e} for i, e in enumerate(eval_errors)]
  (record_dir / 'metrics.jsonl').write_text(''.join(json.dumps(m) + '\n' for m in metrics))
  if failed:
    (record_dir / runner.FAILURE_FILE).write_text('The loss became NaN at step 40\n')


def test_a_target_not_reached_or_a_diverged_run_counts_as_twice_the_runs_length(tmp_path):
  write_logs(tmp_path / 'fast', [0.5] * 4 + [0.1] * 6)  # means of 5: 0.42, 0.34, 0.26, 0.18
  write_logs(tmp_path / 'never', [0.5] * 10)
  write_logs(tmp_path / 'diverged', [0.1] * 10, failed=True)
  assert study.outcome_of(tmp_path / 'fast', 'train_steps@0.2') == 40.0
  assert study.outcome_of(tmp_path / 'never', 'train_steps@0.2') == 200.0
  assert study.outcome_of(tmp_path / 'diverged', 'train_steps@0.2') == 200.0
  assert study.outcome_of(tmp_path / 'fast', 'loss@25') == 1.0
  assert math.isnan(study.outcome_of(tmp_path / 'fast', 'loss@1000'))
  write_logs(tmp_path / 'short', [0.5] * 4)  # fewer logs than the smoothing window
  assert math.isnan(study.outcome_of(tmp_path / 'short', 'loss@20'))


def test_each_arm_gets_its_lowest_scoring_rate_and_a_rate_that_diverged_is_never_chosen(tmp_path):
  regime = plan.Regime('r', 'configs/fashion_mnist.py:smoke', ('tanh',), seeds=(2,),
                       selection_seeds=(0, 1), rates=(0.01, 0.1, 1.0), rate_per_arm=True,
                       choose_by='loss@25')
  places = study.Places(tmp_path, tmp_path / 'workdirs')
  losses = {('base', 0.01): 1.0, ('base', 0.1): 0.5, ('base', 1.0): 2.0, ('tanh', 0.01): 0.9,
            ('tanh', 0.1): 0.3, ('tanh', 1.0): 0.6}
  for (arm, rate), loss in losses.items():
    for seed in (0, 1):
      diverged = arm == 'base' and rate == 0.1 and seed == 1
      write_logs(tmp_path / 'r' / 'sweep' / 'runs' / f'{arm}_lr{rate:g}' / f'seed{seed}', [0.5] * 5,
                 failed=diverged, loss=loss)
  scores = study.sweep_scores(regime, places)
  assert scores['base'] == {0.01: 1.0, 0.1: math.inf, 1.0: 2.0}
  assert study.chosen_rates(regime, places) == {'base': 0.01, 'tanh': 0.1}


def test_only_the_swept_arm_at_its_chosen_rate_and_seed_is_a_selection_runs_reuse(tmp_path):
  """The base arm alone is swept: the other arm's seed 0 has another config and trains."""
  regime = plan.Regime('r', 'configs/fashion_mnist.py:smoke', ('no_dropout',), seeds=(0, 1),
                       rates=(0.01, 0.1))
  places = study.Places(tmp_path, tmp_path / 'workdirs')
  for rate, validation_error in ((0.01, 0.3), (0.1, 0.2)):
    write_logs(tmp_path / 'r' / 'sweep' / 'runs' / f'lr{rate:g}' / 'seed0', [0.5] * 5,
               eval_errors=[validation_error])
  reused = {(s.variant.name, s.seed): study.selection_run(s, regime, places)
            for s in study.regime_specs(regime, places)}
  assert reused[('base', 0)].record == tmp_path / 'r' / 'sweep' / 'runs' / 'lr0.1' / 'seed0'
  assert reused[('base', 1)] is None and reused[('no_dropout', 0)] is None


def test_a_step_count_set_by_the_budget_is_reported_as_censored(tmp_path):
  write_logs(tmp_path / 'improving', [0.5] * 5, eval_errors=[0.6, 0.3, 0.2])
  write_logs(tmp_path / 'levelled', [0.5] * 5, eval_errors=[0.6, 0.2, 0.201])
  write_logs(tmp_path / 'never', [0.5] * 10)
  assert study.censored(tmp_path / 'improving', 'steps')  # its minimum is its last evaluation
  assert not study.censored(tmp_path / 'levelled', 'steps')
  assert study.censored(tmp_path / 'never', 'train_steps@0.2')
  assert not study.censored(tmp_path / 'never', 'train_steps@0.6')
  assert not study.censored(tmp_path / 'improving', 'centre')


def test_a_collapse_is_a_rise_above_half_after_the_run_had_learnt(tmp_path):
  write_logs(tmp_path / 'not_learnt', [0.5], eval_errors=[0.6, 0.34, 0.9, 0.5])
  write_logs(tmp_path / 'slow_start', [0.5], eval_errors=[0.9, 0.6, 0.25, 0.2])
  assert study.outcome_of(tmp_path / 'not_learnt', 'collapsed') == 0.0  # never below 30 %
  write_logs(tmp_path / 'learnt', [0.5], eval_errors=[0.6, 0.25, 0.9, 0.5])
  assert study.outcome_of(tmp_path / 'learnt', 'collapsed') == 1.0
  assert study.outcome_of(tmp_path / 'slow_start', 'collapsed') == 0.0


@pytest.mark.integration
@pytest.mark.filterwarnings('ignore:the load_module:DeprecationWarning')  # ml_collections
def test_a_regime_chooses_each_arms_rate_reuses_the_selection_runs_and_draws_figure_1(
    tmp_path, monkeypatch):
  """ReLU and tanh of the smoke config, each at its own rate of two; seeds 0 and 1, seed 0
  also the selection seed: 4 selection runs, then only seed 1 of each arm trains."""
  fake_data.write_fashion_mnist_idx(str(tmp_path / 'manual'), train=512, test=40)
  monkeypatch.chdir(ROOT)
  monkeypatch.setenv('XLA_FLAGS', xla_flags.cpu_devices(1)['XLA_FLAGS'])
  regime = plan.Regime('figure1_smoke', 'configs/fashion_mnist.py:smoke', ('tanh',), seeds=(0, 1),
                       rates=(0.01, 1.0), rate_per_arm=True, choose_by='train_steps@0.85')
  places = study.Places(tmp_path / 'out', tmp_path / 'workdirs',
                        (f'--config.data.data_dir={tmp_path / "tfds"}',
                         f'--config.data.manual_dir={tmp_path / "manual"}',
                         '--config.train.num_steps=8', '--config.data.eval_split=test[:20]',
                         '--config.data.test_split=test[20:]',
                         '--config.data.train_eval_split=train[:64]'))
  monkeypatch.setattr(study, 'REGIMES', (regime,))

  study.run_regime(regime, places, 'the test')

  rates = study.chosen_rates(regime, places)
  assert set(rates) == {'base', 'tanh'} and set(rates.values()) <= {0.01, 1.0}
  trained = sorted(
      p.parent.name + '/' + p.name for p in (tmp_path / 'workdirs' / regime.name).glob('*/seed*'))
  assert trained == ['base/seed1', 'tanh/seed1']  # seed 0 of each arm is its selection run
  out = places.out / regime.name
  for arm in ('base', 'tanh'):
    config = json.loads((out / 'runs' / arm / 'seed0' / 'config.json').read_text())
    assert config['optim']['learning_rate'] == rates[arm]
  assert (out / 'figure1.png').stat().st_size > 10_000
  assert '![Figure 1' in (out / 'results.md').read_text()
  commands = (out / 'commands.sh').read_text()
  assert commands.count('python -m alexnet.main') == 4 + 4  # the selection runs, then the seeds
