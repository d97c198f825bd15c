"""The ablation study's plan as data: its regimes and the claims judged in them.

Fixed before the runs, with experiments/results/study/plan.md, which gives each regime's
reason; experiments/study.py runs the regimes and judges the claims.
"""

from __future__ import annotations

import dataclasses

# The learning-rate grids. today: both activations, steps of ×2 to ×2.5. hypothesis: raw
# inputs make ReLU diverge down to 0.001 while tanh trains at 0.01 (300-step trials), so each
# activation gets its own rates in steps of ×√10 around where it trains. Each grid's last
# step beyond its first four rates (0.005; tanh's 0.1) was added where the first choice lay
# on the grid's edge (plan.md, 'Changed after results').
FIGURE1_RATES = (0.005, 0.01, 0.02, 0.05, 0.1)
HYPOTHESIS_RATES = (('base', (3e-6, 1e-5, 3e-5, 1e-4)), ('tanh', (1e-3, 3e-3, 1e-2, 3e-2, 1e-1)))
FIGURE1_TARGETS = (0.25, 0.15, 0.08)  # training error: the paper's 25 %, then harder ones
FIGURE1_LOSS_STEPS = (100, 300, 600)  # the fixed-budget measure: training loss at these steps
# Each activation's rate: the lowest mean training loss at the budget's end over the
# selection seeds, defined for every run (steps to a target are not, where none reaches it).
FIGURE1_CHOOSE_BY = f'loss@{FIGURE1_LOSS_STEPS[-1]}'


@dataclasses.dataclass(frozen=True)
class Regime:
  """A base config, the variants it tests, its seeds and how its learning rate is chosen.

  Where ``rates`` are given, the learning rate is chosen before the seeds run: the base arm
  (every arm, with ``rate_per_arm``) tries each rate with ``selection_seeds``, and the rate
  with the lowest mean ``choose_by`` outcome is used. A selection run whose seed is also
  one of ``seeds`` is that seed's run.
  """

  name: str
  config: str
  variants: tuple[str, ...]
  seeds: tuple[int, ...]
  rates: tuple[float, ...] = ()  # () = the config's rate
  rates_from: str = ''  # or: the rate another regime chose
  arm_rates: tuple[tuple[str, tuple[float, ...]], ...] = ()  # (arm, its own grid) pairs
  selection_seeds: tuple[int, ...] = (0,)
  choose_by: str = 'validation'  # an outcome (outcome_of) to minimise
  rate_per_arm: bool = False  # each arm its own rate (Figure 1: "chosen independently")
  lrn_diagnostic: bool = False  # measure α Σ a² against k in the base arm's trained runs

  def rates_for(self, arm: str) -> tuple[float, ...]:
    """The grid ``arm`` tries: its own, where ``arm_rates`` gives one, else ``rates``."""
    return dict(self.arm_rates).get(arm, self.rates)

  @property
  def sweeps(self) -> bool:
    return bool(self.rates or self.arm_rates)


REGIMES = (
    Regime('base', 'configs/study/base.py', ('one_tower',), seeds=tuple(range(5)),
           lrn_diagnostic=True),
    Regime('lrn', 'configs/study/lrn.py', ('lrn_scale_only', 'no_lrn'), seeds=tuple(range(5)),
           rates=(0.003, 0.01, 0.03), lrn_diagnostic=True),
    Regime('pooling', 'configs/study/pooling.py', ('no_overlap',), seeds=tuple(range(4))),
    Regime('overfitting_5000', 'configs/study/overfitting.py:5000',
           ('no_dropout', 'no_augmentation', 'no_dropout_no_augmentation', 'no_translate',
            'no_flip'), seeds=tuple(range(3)), rates=(0.01, 0.03)),
    Regime('overfitting_1000', 'configs/study/overfitting.py:1000',
           ('no_dropout', 'no_augmentation', 'no_dropout_no_augmentation'), seeds=(0, 1),
           rates_from='overfitting_5000'),
    Regime('overfitting_20000', 'configs/study/overfitting.py:20000',
           ('no_dropout', 'no_augmentation', 'no_dropout_no_augmentation'), seeds=(0, 1),
           rates_from='overfitting_5000'),
    *(Regime(f'figure1_{setup}', f'configs/study/figure1.py:{setup}', ('tanh',), seeds=(2, 3, 4, 5),
             selection_seeds=(0, 1), rate_per_arm=True, choose_by=FIGURE1_CHOOSE_BY, **grid)
      for setup, grid in (('today', dict(rates=FIGURE1_RATES)),
                          ('hypothesis', dict(arm_rates=HYPOTHESIS_RATES)))),
    Regime('colour', 'configs/study/colour.py', ('no_pca',), seeds=tuple(range(10))),
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
  outcome: str  # one of study.outcome_of's: a test outcome, steps to converge or a target
  statistic: str  # 'mean', 'median' or 'log_ratio' (see stats)
  paper: float | None
  quote: str
  against_outcome: str = ''  # '' = outcome
  primary: bool = True  # in the family of verdicts; secondary claims are reported, not judged


CLAIMS = (
    Claim('LRN normalises (§3.3): normalisation on vs its scaling alone, centre crop', 'lrn',
          'lrn_scale_only', 'base', 'centre', 'mean', 1.4, '"reduces our top-1 ... error '
          'rates by 1.4%"'),
    Claim('LRN normalises (§3.3), ten patches', 'lrn', 'lrn_scale_only', 'base', 'ten', 'mean', 1.4,
          'as above'),
    Claim('LRN whole (normalisation and scaling), centre crop', 'lrn', 'no_lrn', 'base', 'centre',
          'mean', 1.4, 'as above', primary=False),
    Claim("LRN's scaling alone, centre crop", 'lrn', 'no_lrn', 'lrn_scale_only', 'centre', 'mean',
          None, '(no claim: the control)', primary=False),
    Claim('Overlapping pooling (§3.4), centre crop', 'pooling', 'no_overlap', 'base', 'centre',
          'mean', 0.4, '"reduces the top-1 ... error rates by 0.4%"'),
    Claim('Overlapping pooling (§3.4), ten patches', 'pooling', 'no_overlap', 'base', 'ten', 'mean',
          0.4, 'as above'),
    Claim('Overlapping pooling is harder to overfit (§3.4): gap', 'pooling', 'no_overlap', 'base',
          'gap', 'mean', None, '"slightly more difficult to overfit"', primary=False),
    Claim('Two towers (§3.5 footnote), centre crop', 'base', 'one_tower', 'base', 'centre', 'mean',
          1.7, '"reduces our top-1 ... error rates by 1.7%"'),
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
    *(Claim(f'Dropout: gap, {n:,} images', f'overfitting_{n}', 'no_dropout', 'base', 'gap', 'mean',
            None, 'secondary: the size sweep', primary=False) for n in (1000, 20000)),
    *(Claim(f'Augmentation: gap, {n:,} images', f'overfitting_{n}', 'no_augmentation', 'base',
            'gap', 'mean', None, 'secondary: the size sweep', primary=False)
      for n in (1000, 20000)),
    *(Claim(f'Dropout without augmentation: gap, {n:,} images', f'overfitting_{n}',
            'no_dropout_no_augmentation', 'no_augmentation', 'gap', 'mean', None,
            'secondary: the 2×2', primary=False) for n in (1000, 5000, 20000)),
    *(Claim(f'{label}, gap, 5,000 images', 'overfitting_5000', variant, 'base', 'gap', 'mean', None,
            'secondary: the parts of augmentation', primary=False)
      for variant, label in (('no_translate', 'Random crop positions'),
                             ('no_flip', 'Reflections'))),
    *(Claim(
        f'ReLUs train faster than tanh (Figure 1), {setup}: steps to {100 * target:g} % '
        'training error', f'figure1_{setup}', 'tanh', 'base', f'train_steps@{target}', 'log_ratio',
        6.0, '"six times faster" to 25 % on CIFAR-10', primary=target
        in (FIGURE1_TARGETS[0], FIGURE1_TARGETS[-1])) for setup in ('today', 'hypothesis')
      for target in FIGURE1_TARGETS),
    *(Claim(f'Figure 1, {setup}: training loss at step {steps}, tanh / ReLU', f'figure1_{setup}',
            'tanh', 'base', f'loss@{steps}', 'log_ratio', None, 'the fixed-budget measure',
            primary=False) for setup in ('today', 'hypothesis') for steps in FIGURE1_LOSS_STEPS),
    Claim('PCA colour noise (§4.1), centre crop', 'colour', 'no_pca', 'base', 'centre', 'median',
          1.0, '"reduces the top-1 error rate by over 1%"'),
    Claim('PCA colour noise (§4.1), ten patches', 'colour', 'no_pca', 'base', 'ten', 'median', 1.0,
          'as above'),
    Claim('PCA colour noise: collapsed runs (points of the rate)', 'colour', 'no_pca', 'base',
          'collapsed', 'mean', None, 'the earlier study\'s collapse', primary=False),
)
