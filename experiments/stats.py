"""The study's statistics, fixed before its runs: paired estimates, Holm's adjustment, verdicts.

Seed S of a variant is paired with seed S of the base (the same initialisation seed and data
order), so every estimate is over per-seed differences:

* :func:`mean_difference`: mean of the differences, Student's t 95 % interval, two-sided p;
* :func:`log_ratio`: mean of log(variant / base), reported as the ratio of geometric means
  with the exponentiated t interval, for what multiplies (steps to a target);
* :func:`median_difference`: median of the differences, Wilcoxon's signed-rank p and the
  distribution-free interval between two order statistics, for outcomes whose tails are
  heavy (one collapsed seed would decide a mean).

Which estimate a claim uses is declared with the claim, before its runs. :func:`holm`
adjusts the p-values of the study's family of verdicts, and :func:`verdict` gives one of
four words from an estimate, its adjusted p and the paper's figure.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Sequence

import numpy as np
import scipy.stats

LEVEL = 0.95  # of every interval
ALPHA = 0.05  # the Holm-adjusted p below which an estimate excludes 0

REPRODUCED = 'reproduced'
CONTRADICTED = 'contradicted'
SMALLER = "smaller than the paper's"
INCONCLUSIVE = 'inconclusive'


@dataclasses.dataclass(frozen=True)
class Estimate:
  """A paired effect: its point estimate, interval (nan where the seeds give none) and
  two-sided p against no effect; ``log_scale`` when the numbers are log-ratios."""

  value: float
  low: float
  high: float
  p: float
  log_scale: bool = False

  def shown(self, unit: str = '') -> str:
    if self.log_scale:
      value, low, high = (math.exp(x) for x in (self.value, self.low, self.high))
      interval = '' if math.isnan(low) else f' [{low:.2f}, {high:.2f}]'
      return f'{value:.2f}×{interval}'
    interval = '' if math.isnan(self.low) else f' [{self.low:+.2f}, {self.high:+.2f}]'
    return f'{self.value:+.2f}{unit}{interval}'


def _t_interval(differences: Sequence[float]) -> Estimate:
  n = len(differences)
  mean = statistics.fmean(differences)
  if n < 2:
    return Estimate(mean, math.nan, math.nan, math.nan)
  sd = statistics.stdev(differences)
  if sd == 0:
    return Estimate(mean, mean, mean, 1.0 if mean == 0 else 0.0)
  se = sd / math.sqrt(n)
  half = scipy.stats.t.ppf((1 + LEVEL) / 2, n - 1) * se
  p = 2 * scipy.stats.t.sf(abs(mean) / se, n - 1)
  return Estimate(mean, mean - half, mean + half, float(p))


def mean_difference(values: Sequence[float], base: Sequence[float],
                    scale: float = 100.0) -> Estimate:
  """Variant − base per seed (× ``scale``: points of error by default)."""
  return _t_interval([scale * (v - b) for v, b in zip(values, base, strict=True)])


def log_ratio(values: Sequence[float], base: Sequence[float]) -> Estimate:
  """log(variant / base) per seed: its mean is the log of the geometric-mean ratio."""
  estimate = _t_interval([math.log(v / b) for v, b in zip(values, base, strict=True)])
  return dataclasses.replace(estimate, log_scale=True)


def median_interval(differences: Sequence[float]) -> tuple[float, float]:
  """The order statistics (d_(j), d_(n+1-j)) that hold the median with probability
  ≥ LEVEL whatever the distribution (the sign test's interval); nan for too few seeds."""
  n = len(differences)
  ordered = sorted(differences)
  tail = (1 - LEVEL) / 2
  j = 0
  while j + 1 <= n and scipy.stats.binom.cdf(j, n, 0.5) <= tail:
    j += 1  # P(fewer than j differences below the median) stays within the tail
  if j == 0:
    return math.nan, math.nan
  return ordered[j - 1], ordered[n - j]


def median_difference(values: Sequence[float], base: Sequence[float],
                      scale: float = 100.0) -> Estimate:
  """Variant − base per seed: the median, its interval, Wilcoxon's signed-rank p."""
  differences = [scale * (v - b) for v, b in zip(values, base, strict=True)]
  low, high = median_interval(differences)
  if all(d == 0 for d in differences):
    p = 1.0
  else:
    p = float(scipy.stats.wilcoxon(differences, zero_method='wilcox').pvalue)
  return Estimate(float(np.median(differences)), low, high, p)


def holm(p_values: Sequence[float]) -> list[float]:
  """Holm's step-down adjustment: the family-wise error stays below ALPHA."""
  order = sorted(range(len(p_values)), key=lambda i: p_values[i])
  adjusted, running = [0.0] * len(p_values), 0.0
  for rank, i in enumerate(order):
    running = max(running, min(1.0, (len(p_values) - rank) * p_values[i]))
    adjusted[i] = running
  return adjusted


def verdict(estimate: Estimate, adjusted_p: float, sign: int, paper: float | None = None) -> str:
  """The claim that the effect has ``sign`` (+1 or −1), of size ``paper`` if the paper
  gives one (in the estimate's units; a ratio as its log), judged:

  * *contradicted*: the other sign, adjusted p < ALPHA;
  * *smaller than the paper's*: the interval lies wholly on 0's side of the paper's figure
    (whether or not it holds 0: the paper's size is ruled out);
  * *reproduced*: the paper's sign, adjusted p < ALPHA (the paper's figure in the interval
    or below it);
  * *inconclusive*: otherwise — the interval holds 0 and the paper's figure, or the
    paper gives no figure and the interval holds 0.
  """
  value, high = sign * estimate.value, max(sign * estimate.low, sign * estimate.high)
  significant = adjusted_p < ALPHA
  if significant and value < 0:
    return CONTRADICTED
  if paper is not None and high < sign * paper:
    return SMALLER
  if significant:
    return REPRODUCED
  return INCONCLUSIVE
