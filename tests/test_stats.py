"""experiments/stats.py: paired estimates, Holm's adjustment and the four verdicts."""

import math
import sys

import pytest

from tiny_run import ROOT

sys.path.insert(0, str(ROOT / 'experiments'))
import stats


def test_a_mean_difference_is_paired_by_seed_with_a_t_interval_and_p():
  # per-seed differences +1, +3, +5 points: mean +3, standard error 2 / √3, t(0.975, 2) 4.303
  estimate = stats.mean_difference([0.11, 0.15, 0.19], [0.10, 0.12, 0.14])
  assert estimate.shown() == '+3.00 [-1.97, +7.97]'
  assert estimate.p == pytest.approx(0.1217, abs=1e-4)  # t = 2.598 on 2 degrees of freedom


def test_a_log_ratio_is_shown_as_the_geometric_mean_ratio():
  estimate = stats.log_ratio([200, 400, 300], [100, 200, 150])  # 2× on every seed
  assert estimate.shown() == '2.00× [2.00, 2.00]' and estimate.p == 0.0
  assert math.isclose(math.exp(stats.log_ratio([100, 400], [100, 100]).value), 2.0)


def test_a_median_difference_has_wilcoxons_p_and_an_order_statistic_interval():
  base = [0.10] * 10
  values = [0.11, 0.12, 0.11, 0.13, 0.12, 0.11, 0.12, 0.14, 0.11, 0.90]  # one collapsed seed
  estimate = stats.median_difference(values, base)
  assert estimate.value == pytest.approx(2.0)  # sorted: 1, 1, 1, 1, 2, 2, 2, 3, 4, 80
  # n = 10: the 2nd and 9th of the sorted differences hold the median with ≥ 95 %
  assert (estimate.low, estimate.high) == pytest.approx((1.0, 4.0))
  assert estimate.p == pytest.approx(0.00195, abs=1e-5)  # every difference positive
  assert math.isnan(stats.median_difference([0.2] * 5, [0.1] * 5).low)  # 5 seeds: no interval


def test_holm_multiplies_the_smallest_p_by_the_family_size_and_keeps_the_order():
  assert stats.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
  assert stats.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])


@pytest.mark.parametrize(
    'low, high, p, paper, expected',
    [
        (+0.5, +3.0, 0.01, 1.4, stats.REPRODUCED),  # the paper's figure inside, 0 excluded
        (+2.0, +4.0, 0.01, 1.4, stats.REPRODUCED),  # larger than the paper's
        (-3.0, -0.5, 0.01, 1.4, stats.CONTRADICTED),
        (+0.1, +0.9, 0.01, 1.4, stats.SMALLER),  # an effect, but below the paper's
        (-0.5, +0.9, 0.30, 1.4, stats.SMALLER),  # no effect ruled out, the paper's size ruled out
        (-0.5, +3.0, 0.30, 1.4, stats.INCONCLUSIVE),  # both 0 and the paper's figure inside
        (-0.5, +3.0, 0.30, None, stats.INCONCLUSIVE),
        (+0.5, +3.0, 0.10, None, stats.INCONCLUSIVE),  # the interval excludes 0, the family's p not
    ])
def test_the_verdict_follows_the_interval_the_adjusted_p_and_the_papers_figure(
    low, high, p, paper, expected):
  estimate = stats.Estimate((low + high) / 2, low, high, p)
  assert stats.verdict(estimate, p, +1, paper) == expected
