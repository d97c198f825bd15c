"""The paper's figures on a trained run, and the plots of the ablation study.

  python experiments/figures.py --figure=kernels --workdir DIR --out figure3.png
  python experiments/figures.py --figure=neighbours --workdir DIR --out figure4.png

* Figure 1 (ReLU against tanh: steps to a training error) and the training curves are
  drawn by ``experiments/ablations.py`` with the functions here, from its runs' metrics.
* Figure 3 (``kernels``): conv1's kernels, one row of kernels per tower, and how
  colour-specific each tower's kernels are. A kernel's *chroma fraction* is the share of
  its energy Σw² that lies in the differences between its colour channels,
  ‖w − mean over channels of w‖² / ‖w‖²: 0 for a grey kernel, which responds only to
  luminance; near 2/3 for random (initial) weights. The paper saw one tower's kernels
  "largely color-agnostic" and the other's "color-specific": the tower means differ
  widely. How unlikely the observed difference is under a random split of the kernels
  into towers is given as a permutation p-value.
* Figure 4 (``neighbours``): for a few test images, the training images whose fc7
  activations are nearest in Euclidean distance; with two numbers the paper only shows:
  how often the neighbours share the query's class (against neighbours in raw pixels),
  and how far from the query they are in raw pixels (the paper: "generally not close").

The numbers are printed and written beside the PNG as JSON.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use('Agg')  # files only, no display

import matplotlib.patches
import matplotlib.pyplot as plt
import numpy as np
from absl import flags

from alexnet import cli, errors, trained_run
from alexnet.run.records import EVALUATION_ERROR, TRAINING_ERROR

SMOOTHING_WINDOW = 5  # logged steps averaged for training curves and Figure 1
PERMUTATIONS = 10_000
NEIGHBOURS = 6  # per query in Figure 4's grid (the paper shows 6)
AGREEMENT_QUERIES = 1_000  # test images over which Figure 4's numbers are computed
DPI = 110

FLAGS = flags.FLAGS

# --- Training curves and Figure 1 ------------------------------------------------------------


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


# --- Figure 3: conv1's kernels by tower -------------------------------------------------------

GREY_NOTE = ('trained on grey images: every kernel saw three equal channels, so no colour '
             'could be learnt; the chroma only shows how far the random initial colour '
             'decayed')


def chroma_fractions(kernel: np.ndarray) -> np.ndarray:
  """Per output channel of an HWIO kernel with 3 input channels: the share of Σw² that lies
  in the differences between colour channels (0: grey kernel; ≈ 2/3: random weights)."""
  grey = kernel.mean(axis=2, keepdims=True)
  return ((kernel - grey) ** 2).sum(axis=(0, 1, 2)) / (kernel ** 2).sum(axis=(0, 1, 2))


def tower_split_p_value(fractions: np.ndarray, towers: int, permutations: int = PERMUTATIONS,
                        seed: int = 0) -> float:
  """P(a random split of the kernels into equal towers separates their mean chroma as
  much as the real split does); for two towers, on the absolute difference of the means."""

  def spread(values: np.ndarray) -> float:
    means = values.reshape(towers, -1).mean(axis=1)
    return float(means.max() - means.min())

  observed = spread(fractions)
  rng = np.random.default_rng(seed)
  hits = sum(spread(rng.permutation(fractions)) >= observed - 1e-12 for _ in range(permutations))
  return (hits + 1) / (permutations + 1)


def kernel_mosaic(kernel: np.ndarray, towers: int, columns: int) -> np.ndarray:
  """conv1's kernels as one RGB image: each tower's kernels in its own block of rows.

  Each kernel is shown on its own scale: 0.5 ± w / (2 max|w|), so grey is zero weight.
  """
  kh, kw, channels, out = kernel.shape
  per_tower = out // towers
  rows_per_tower = -(-per_tower // columns)
  gap = 1
  height = towers * rows_per_tower * (kh + gap) + (towers - 1) * 2 * gap
  width = columns * (kw + gap) - gap
  mosaic = np.ones((height, width, 3))
  for index in range(out):
    tower, within = divmod(index, per_tower)
    row, column = divmod(within, columns)
    w = kernel[..., index]
    w = w if channels == 3 else np.repeat(w[..., :1], 3, axis=-1)
    shown = 0.5 + w / (2 * np.abs(w).max() + 1e-12)
    top = tower * (rows_per_tower * (kh + gap) + 2 * gap) + row * (kh + gap)
    left = column * (kw + gap)
    mosaic[top:top + kh, left:left + kw] = shown
  return mosaic


def figure3(run: trained_run.Run, path: Path) -> dict:
  """Plots conv1's kernels by tower; returns each tower's mean chroma fraction and the p-value."""
  kernel = np.asarray(run.params['conv1']['kernel'], np.float64)
  if kernel.shape[2] != 3:
    raise errors.UsageError(f'Figure 3 measures colour, and the network of {run.workdir} '
                            f'takes {kernel.shape[2]} input channel(s), not RGB.')
  towers = run.model_config.towers
  fractions = chroma_fractions(kernel)
  by_tower = fractions.reshape(towers, -1)
  grey_data = run.dataset.info.stored_shape[2] == 1
  numbers = {
      'workdir': str(run.workdir),
      'step': run.step,
      'kernels_per_tower': by_tower.shape[1],
      'mean_chroma_fraction_per_tower': [round(float(x), 4) for x in by_tower.mean(axis=1)],
      'chroma_fraction_per_kernel': [[round(float(x), 4) for x in t] for t in by_tower],
      'random_weights_expectation': 2 / 3,
      'p_value_random_tower_split': (round(tower_split_p_value(fractions, towers), 5)
                                     if towers > 1 else None),
  }
  if grey_data:
    numbers['note'] = GREY_NOTE
  columns = min(by_tower.shape[1], 12)
  mosaic = kernel_mosaic(kernel, towers, columns)
  fig, (ax, chroma_ax) = plt.subplots(
      1, 2, figsize=(0.55 * columns + 4.5, 0.6 * mosaic.shape[0] / kernel.shape[0] + 1.6),
      gridspec_kw={'width_ratios': [0.55 * columns, 3.2]})
  ax.imshow(mosaic, interpolation='nearest')
  ax.set_xticks([])
  rows_per_tower = mosaic.shape[0] / towers
  ax.set_yticks([rows_per_tower * (t + 0.5) for t in range(towers)])
  ax.set_yticklabels([f'tower {t + 1}' for t in range(towers)])
  ax.set_title(f'conv1 kernels, step {run.step}', fontsize=9)
  _plot_chroma(chroma_ax, by_tower, numbers['p_value_random_tower_split'])
  if grey_data:
    fig.text(0.5, 0.01, GREY_NOTE, ha='center', va='bottom', fontsize=7, color='tab:red', wrap=True)
  fig.tight_layout()
  fig.savefig(path, dpi=DPI)
  plt.close(fig)
  return numbers


def _plot_chroma(ax, by_tower: np.ndarray, p_value: float | None) -> None:
  """Each kernel's chroma fraction as a dot, per tower, with the tower's mean, beside the
  levels a grey kernel (0) and random weights (2/3, as at initialisation) have."""
  towers = len(by_tower)
  for tower, fractions in enumerate(by_tower):
    ax.plot(fractions, np.full(len(fractions), tower), 'o', color='black', alpha=0.5, markersize=3)
    ax.plot([fractions.mean()], [tower], '|', color='tab:blue', markersize=16, markeredgewidth=2)
    ax.annotate(f'mean {fractions.mean():.2f}', (fractions.mean(), tower), xytext=(0, -14),
                textcoords='offset points', ha='center', fontsize=7, color='tab:blue')
  ax.axvline(2 / 3, color='tab:orange', linestyle='--', linewidth=1)
  ax.text(2 / 3, -0.45, ' random weights\n (initialisation)', color='tab:orange', fontsize=7,
          va='top')
  ax.set_xlim(0, 1)
  ax.set_ylim(towers - 0.4, -0.6)
  ax.set_yticks(range(towers))
  ax.set_yticklabels([f'tower {t + 1}' for t in range(towers)], fontsize=8)
  ax.set_xlabel(
      'chroma fraction: share of a kernel\'s Σw² in\ncolour differences '
      '(0 = grey kernel)', fontsize=7)
  ax.tick_params(labelsize=7)
  title = 'chroma of each kernel'
  if p_value is not None:
    title += f'\nrandom split into towers differs this much: p = {p_value:.2g}'
  ax.set_title(title, fontsize=8)


# --- Figure 4: nearest training images in fc7 space -------------------------------------------


def eval_view(run: trained_run.Run, split: str) -> tuple[np.ndarray, np.ndarray]:
  """(fc7 features, labels) of every image of ``split``, centre crop, in stored order."""
  features, labels = [], []
  for batch in run.eval_batches(split, crops=1):
    keep = batch['mask']
    features.append(run.features(run.dataset.finish_eval(batch, crops=1)[keep, 0], 'fc7'))
    labels.append(batch['label'][keep])
  return np.concatenate(features), np.concatenate(labels)


def nearest(queries: np.ndarray, pool: np.ndarray, k: int, chunk: int = 256) -> np.ndarray:
  """Indices of the ``k`` rows of ``pool`` nearest (Euclidean) to each query, nearest first."""
  pool = pool.astype(np.float32)
  pool_norms = (pool ** 2).sum(axis=1)
  result = []
  for start in range(0, len(queries), chunk):
    q = queries[start:start + chunk].astype(np.float32)
    distances = pool_norms[None] - 2 * q @ pool.T  # + |q|², the same for every candidate
    candidates = np.argpartition(distances, k, axis=1)[:, :k]
    order = np.take_along_axis(distances, candidates, axis=1).argsort(axis=1)
    result.append(np.take_along_axis(candidates, order, axis=1))
  return np.concatenate(result)


def pixel_distance_percentiles(queries: np.ndarray, pool: np.ndarray,
                               neighbours: np.ndarray) -> np.ndarray:
  """For each (query, neighbour): the share of the pool nearer to the query in raw pixels."""
  pool = pool.reshape(len(pool), -1).astype(np.float32)
  pool_norms = (pool ** 2).sum(axis=1)
  percentiles = []
  for q, chosen in zip(queries.reshape(len(queries), -1).astype(np.float32), neighbours):
    distances = pool_norms - 2 * pool @ q
    percentiles.append((distances[None] < distances[chosen][:, None]).mean(axis=1))
  return np.array(percentiles)


def figure4(run: trained_run.Run, path: Path, queries_shown: int = 8) -> dict:
  """Plots test images with their nearest training images in fc7 space; returns how often
  the neighbours share the query's class, in fc7 and in raw pixels, and how close in pixels
  the fc7 neighbours are."""
  dataset = run.dataset
  train_split, test_split = run.config.data.train_split, run.config.data.eval_split
  train_features, train_labels = eval_view(run, train_split)
  test_features, test_labels = eval_view(run, test_split)
  rng = np.random.default_rng(0)
  queries = np.sort(
      rng.choice(len(test_labels), min(AGREEMENT_QUERIES, len(test_labels)), replace=False))
  fc7_neighbours = nearest(test_features[queries], train_features, NEIGHBOURS)
  train_pixels = dataset.stored_images(train_split, range(len(train_labels)))
  query_pixels = dataset.stored_images(test_split, queries)
  flat = lambda x: x.reshape(len(x), -1)
  pixel_neighbours = nearest(flat(query_pixels), flat(train_pixels), NEIGHBOURS)
  agreement = lambda found: float((train_labels[found] == test_labels[queries][:, None]).mean())
  percentiles = pixel_distance_percentiles(query_pixels, train_pixels, fc7_neighbours)
  numbers = {
      'workdir': str(run.workdir),
      'step': run.step,
      'queries': len(queries),
      'neighbours': NEIGHBOURS,
      'fc7_features': int(train_features.shape[1]),
      'train_images': len(train_labels),
      'same_class_fc7_neighbours': round(agreement(fc7_neighbours), 4),
      'same_class_pixel_neighbours': round(agreement(pixel_neighbours), 4),
      'median_pixel_distance_percentile_of_fc7_neighbours': round(float(np.median(percentiles)), 4),
  }

  shown = _one_query_per_class(test_labels[queries], queries_shown)
  names = dataset.info.class_names
  fig, axes = plt.subplots(len(shown), NEIGHBOURS + 1,
                           figsize=(1.15 * (NEIGHBOURS + 1), 1.25 * len(shown)), squeeze=False)
  for row, i in enumerate(shown):
    images = [query_pixels[i], *train_pixels[fc7_neighbours[i]]]
    labels = [test_labels[queries[i]], *train_labels[fc7_neighbours[i]]]
    for column, (image, label) in enumerate(zip(images, labels)):
      ax = axes[row, column]
      ax.imshow(image.squeeze(), cmap='gray' if image.shape[-1] == 1 else None, vmin=0, vmax=255)
      ax.set_xticks([])
      ax.set_yticks([])
      colour = FIGURE4_FRAMES['query' if column == 0 else 'same' if label ==
                              labels[0] else 'other'][0]
      ax.set_title(names[label][:14], fontsize=6, color=colour)
      for spine in ax.spines.values():
        spine.set_color(colour)
        spine.set_linewidth(2)
  fig.suptitle(
      f'Figure 4: test images (first column) and their {NEIGHBOURS} nearest training '
      'images in fc7 space, nearest first', fontsize=8)
  fig.legend(
      handles=[
          matplotlib.patches.Patch(facecolor='none', edgecolor=colour, linewidth=2, label=label)
          for colour, label in FIGURE4_FRAMES.values()
      ], loc='lower center', ncol=len(FIGURE4_FRAMES), fontsize=6, frameon=False)
  fig.tight_layout(rect=(0, 0.04, 1, 1))
  fig.savefig(path, dpi=DPI)
  plt.close(fig)
  return numbers


FIGURE4_FRAMES = {
    'query': ('tab:blue', 'test image'), 'same': ('tab:green', 'neighbour of the same class'),
    'other': ('tab:red', 'neighbour of another class')
}


def _one_query_per_class(labels: np.ndarray, count: int) -> list[int]:
  """Positions of the first query of each class, up to ``count`` of them."""
  seen, chosen = set(), []
  for position, label in enumerate(labels):
    if label not in seen:
      seen.add(label)
      chosen.append(position)
    if len(chosen) == count:
      break
  return chosen


# --- The command line ------------------------------------------------------------------------

FIGURES = {'kernels': figure3, 'neighbours': figure4}


def define_flags() -> None:
  trained_run.define_run_flags()
  flags.adopt_module_key_flags(trained_run)  # --help lists them with this command's own
  flags.DEFINE_enum('figure', None, list(FIGURES), 'kernels: Figure 3; neighbours: Figure 4.',
                    required=True)
  flags.DEFINE_string('out', None, 'The PNG to write; the numbers go beside it as .json.',
                      required=True)


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise errors.UsageError(f'unexpected arguments: {argv[1:]}')
  run = trained_run.load_run_from_flags()
  path = Path(FLAGS.out)
  path.parent.mkdir(parents=True, exist_ok=True)
  # The workdir as given: the resolved path would tie the committed numbers to one machine.
  numbers = {**FIGURES[FLAGS.figure](run, path), 'workdir': FLAGS.workdir}
  path.with_suffix('.json').write_text(json.dumps(numbers, indent=2) + '\n')
  print(json.dumps(numbers, indent=2))


if __name__ == '__main__':
  define_flags()
  cli.run(main)
