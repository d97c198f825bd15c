"""The paper's figures of a trained run: Figures 3 and 4.

  python experiments/figures.py --figure=kernels --workdir DIR --out figure3.png
  python experiments/figures.py --figure=neighbours --workdir DIR --out figure4.png

(Figure 1 and the ablation study's curves are drawn from the runs' records by
``experiments/curves.py``.)

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
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib.patches
import matplotlib.pyplot as plt
import numpy as np
from absl import flags

from alexnet import cli, errors, tool_flags
from curves import DPI  # curves also sets matplotlib's backend: files only, no display

if TYPE_CHECKING:
  from alexnet import trained_run

PERMUTATIONS = 10_000
NEIGHBOURS = 6  # per query in Figure 4's grid (the paper shows 6)
AGREEMENT_QUERIES = 1_000  # test images over which Figure 4's numbers are computed

FLAGS = flags.FLAGS

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
  tool_flags.define_run_flags()
  flags.adopt_module_key_flags(tool_flags)  # --help lists them with this command's own
  flags.DEFINE_enum('figure', None, list(FIGURES), 'kernels: Figure 3; neighbours: Figure 4.',
                    required=True)
  flags.DEFINE_string('out', None, 'The PNG to write; the numbers go beside it as .json.',
                      required=True)


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise errors.UsageError(f'unexpected arguments: {argv[1:]}')
  from alexnet import trained_run  # JAX and TensorFlow: not loaded for --help or a wrong flag

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
