"""The plots of the ablation study, drawn from its runs' records: training curves, the gap
between training and evaluation error, and Figure 1 (ReLU against tanh: steps to a training
error) with the learning-rate sweep that chose its rates.

``experiments/ablations.py`` and ``experiments/study.py`` draw them from the metrics.jsonl of
their runs; nothing here loads a network, so neither needs JAX or TensorFlow to draw. The
figures of a trained run (3 and 4) are in ``experiments/figures.py``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use('Agg')  # files only, no display

import matplotlib.pyplot as plt
import numpy as np

from alexnet.run.records import EVALUATION_ERROR, TRAINING_ERROR

SMOOTHING_WINDOW = 5  # logged steps averaged for training curves and Figure 1
DPI = 110


def series(records: Sequence[Mapping], key: str) -> tuple[np.ndarray, np.ndarray]:
  """(steps, values) of one metric over a run's records."""
  pairs = [(r['step'], r[key]) for r in records if key in r]
  return np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs], np.float64)


def smooth(steps: np.ndarray, values: np.ndarray,
           window: int = SMOOTHING_WINDOW) -> tuple[np.ndarray, np.ndarray]:
  """Trailing mean over ``window`` values (fewer if a run logged fewer), at the step of the
  window's last value: entry i averages values i−window+1 … i."""
  window = max(1, min(window, len(values)))
  return steps[window - 1:], np.convolve(values, np.ones(window) / window, mode='valid')


def steps_to_error(records: Sequence[Mapping], target: float) -> int | None:
  """The first logged step at which the smoothed training error is ≤ ``target`` (Figure 1)."""
  steps, errors = series(records, TRAINING_ERROR)
  if not len(steps):
    return None
  steps, errors = smooth(steps, errors)
  reached = np.flatnonzero(errors <= target)
  return int(steps[reached[0]]) if len(reached) else None


BANDS = 'line: mean over seeds; band: lowest to highest seed'


def _band(ax, runs_records: Sequence[Sequence[Mapping]], key: str, window: int, label: str,
          **style) -> None:
  """Mean over seeds as a line, min–max over seeds as a band (:data:`BANDS`)."""
  curves = [smooth(*series(r, key), window) for r in runs_records]
  length = min(len(values) for _, values in curves)
  steps = curves[0][0][:length]
  values = np.stack([v[:length] for _, v in curves])
  line, = ax.plot(steps, values.mean(axis=0), label=label, **style)
  if len(values) > 1:
    ax.fill_between(steps, values.min(axis=0), values.max(axis=0), color=line.get_color(),
                    alpha=0.15, linewidth=0)


def plot_training_curves(records: Mapping[str, Sequence[Sequence[Mapping]]], eval_split: str,
                         loss_path: Path, error_path: Path) -> None:
  """Training loss and the top-1 error on ``eval_split`` (the split the runs evaluated during
  training, as their config names it) per variant: mean over seeds, min–max band."""
  seeds = len(next(iter(records.values())))
  for path, key, window, ylabel, scale in ((loss_path, 'loss', SMOOTHING_WINDOW,
                                            f'training loss (mean of {SMOOTHING_WINDOW} logs)',
                                            'log'),
                                           (error_path, EVALUATION_ERROR, 1,
                                            f'{eval_split} top-1 error (centre crop)', 'linear')):
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, runs_records in records.items():
      _band(ax, runs_records, key, window, name)
    ax.set_title(f'{seeds} seeds per variant; {BANDS}', fontsize=9)
    ax.set_xlabel('step')
    ax.set_ylabel(ylabel)
    ax.set_yscale(scale)
    ax.grid(True, which='both', alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def plot_generalisation(records: Mapping[str, Sequence[Sequence[Mapping]]], eval_split: str,
                        path: Path) -> None:
  """One panel per variant: training error (the augmented training batches, smoothed) and
  the ``eval_split`` error (centre crop) against steps; the space between is the gap that
  the paper's overfitting claims are about."""
  names = list(records)
  columns = min(3, len(names))
  rows = -(-len(names) // columns)
  fig, axes = plt.subplots(rows, columns, figsize=(4 * columns, 3.2 * rows), sharex=True,
                           sharey=True, squeeze=False)
  for ax, name in zip(axes.flat, names):
    _band(ax, records[name], TRAINING_ERROR, SMOOTHING_WINDOW, 'training batches', color='tab:blue')
    _band(ax, records[name], EVALUATION_ERROR, 1, f'{eval_split} (centre crop)', color='tab:red',
          marker='o', markersize=3)
    ax.set_title(name, fontsize=10)
    ax.grid(True, alpha=0.3)
  for ax in axes.flat[len(names):]:
    ax.set_visible(False)
  for ax in axes[:, 0]:
    ax.set_ylabel('top-1 error')
  for ax in axes[-1]:
    ax.set_xlabel('step')
  axes.flat[0].set_ylim(0, 0.5)
  axes.flat[0].legend(fontsize=8)
  fig.suptitle(
      f'Training and {eval_split} error, {len(records[names[0]])} seeds per variant; '
      f'{BANDS}', fontsize=10)
  fig.tight_layout()
  fig.savefig(path, dpi=DPI)
  plt.close(fig)


def _training_error_panel(ax, relu: Sequence[Sequence[Mapping]], tanh: Sequence[Sequence[Mapping]],
                          target: float) -> None:
  """Figure 1 itself: training error against steps, ReLU solid and tanh dashed as in the
  paper, in two colours. Each seed's crossing of the target is marked in its curve's colour
  and shape, ReLU's above the target line and tanh's below, one seed per row, so that none
  hides another (seeds can cross at the same logged step)."""
  crossed = []
  for name, runs_records, style, colour, marker, side in (('ReLU', relu, '-', 'tab:blue', 'o', 1),
                                                          ('tanh', tanh, '--', 'tab:orange', 's',
                                                           -1)):
    _band(ax, runs_records, TRAINING_ERROR, SMOOTHING_WINDOW, name, linestyle=style, color=colour)
    crossings = [(steps_to_error(r, target), target + side * 0.025 * (seed + 1))
                 for seed, r in enumerate(runs_records)]
    crossings = [(step, y) for step, y in crossings if step is not None]
    crossed += [step for step, _ in crossings]
    ax.plot([step for step, _ in crossings], [y for _, y in crossings], marker, color=colour,
            markersize=5, markerfacecolor='none', linestyle='none',
            label=f'{name}: where each seed reaches {100 * target:g} % (a row per seed)')
  ax.axhline(target, color='grey', linewidth=0.8, linestyle=':')
  if crossed:  # the steps around the target, not the whole run
    ax.set_xlim(0, 3 * max(crossed))
  ax.set_xlabel('step')
  ax.set_ylabel(f'training error (mean of {SMOOTHING_WINDOW} logs)')
  ax.set_ylim(0, 1)
  ax.set_title(f'Training error at the chosen rates, {len(relu)} seeds each\n{BANDS}', fontsize=10)
  ax.grid(True, alpha=0.3)
  ax.legend(fontsize=8)


Sweep = Mapping[str, tuple[Sequence[float], Sequence[float | None]]]  # label: (rates, values)


def _sweep_panel(ax, sweep: Sweep, outcome: str) -> None:
  """The selection outcome against the learning rate, one line per activation; a rate
  whose runs diverged (value None) is a cross above the rest, a row per activation."""
  measured = [v for _, row in sweep.values() for v in row if v is not None]
  top, bottom = max(measured, default=1), min(measured, default=1)
  for row_number, ((name, (rates, row)), colour,
                   marker) in enumerate(zip(sweep.items(), ('tab:blue', 'tab:orange'), 'os')):
    ax.plot([r for r, v in zip(rates, row) if v is not None], [v for v in row if v is not None],
            marker=marker, color=colour, label=name)
    diverged = [r for r, v in zip(rates, row) if v is None]
    ax.plot(diverged, [top * (2.0 - 0.4 * row_number)] * len(diverged), 'x', color=colour,
            markersize=8, linestyle='none', label=f'{name}: diverged')
  ax.set_xscale('log')
  ax.set_yscale('log')  # a rate that barely trains can be 100× worse than the best
  ax.set_ylim(bottom / 1.5, 3 * top)
  ax.set_xlabel('learning rate')
  ax.set_ylabel(outcome)
  ax.set_title('The learning-rate sweep (mean over the selection seeds)', fontsize=10)
  ax.grid(True, which='both', alpha=0.3)
  ax.legend(fontsize=8)


def plot_figure1(sweep: Sweep, outcome: str, relu: Sequence[Sequence[Mapping]],
                 tanh: Sequence[Sequence[Mapping]], target: float, setup: str, path: Path) -> None:
  """Figure 1 with the sweep that chose its learning rates: the selection ``outcome`` per
  rate and activation, and the training error of every seed at the chosen rates, with
  where each reaches ``target``."""
  fig, (sweep_ax, curve_ax) = plt.subplots(1, 2, figsize=(12, 4.5),
                                           gridspec_kw={'width_ratios': [2, 3]})
  _sweep_panel(sweep_ax, sweep, outcome)
  _training_error_panel(curve_ax, relu, tanh, target)
  fig.suptitle(
      f'Figure 1, {setup}: ReLU against tanh, each at its fastest rate, no '
      'regularisation', fontsize=11)
  fig.tight_layout()
  fig.savefig(path, dpi=DPI)
  plt.close(fig)
