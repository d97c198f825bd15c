"""Does LRN normalise? The size of §3.3's term α Σ a² beside k, at norm1 and norm2.

  python experiments/lrn_diagnostic.py --workdirs workdirs/study/lrn/base/seed0,... \\
      --out experiments/results/study/lrn/lrn_diagnostic.json

§3.3 divides each activation by (k + α Σ_j a_j²)^β. Where the term α Σ a² is small beside
k, LRN is the constant scaling k^-β (2^-0.75 ≈ 0.59 with the paper's values), and an
ablation of LRN removes a scale factor, not a normalisation; where the term is comparable
to k, neighbouring strong responses damp each other. So a study of LRN says which regime
it is in. For each run, at initialisation (the run's seed) and at its latest checkpoint,
over the centre crops of the first ``--images`` images of the run's ``data.eval_split``:
the median, mean and 90th percentile of term / k at each LRN layer, over every position
and channel, and the median of (1 + term / k)^-β, the scaling the term adds to k^-β
(1 = none). The inputs of norm1 and norm2 are conv1's and conv2's outputs.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import jax
import numpy as np
from absl import flags

from alexnet import cli, errors
from alexnet.model import network
from alexnet.training import steps
from alexnet.training.optim import make_optimizer

if TYPE_CHECKING:
  from alexnet import trained_run

LRN_INPUTS = {'norm1': 'conv1', 'norm2': 'conv2'}  # each LRN layer and the output it normalises
IMAGES = 512  # of the evaluation split, measured on

FLAGS = flags.FLAGS


def term_over_k(run: trained_run.Run, images: np.ndarray) -> dict[str, dict[str, float]]:
  """{LRN layer: statistics of term / k over ``images``' positions and channels}."""
  config = run.model_config
  statistics = {}
  for norm, layer in LRN_INPUTS.items():
    outputs = run.features(images, layer)
    term = np.asarray(
        network.lrn_term(jax.numpy.asarray(outputs), groups=config.towers, size=config.lrn_size,
                         alpha=config.lrn_alpha, alpha_over_size=config.lrn_alpha_over_size))
    ratio = term / config.lrn_k
    statistics[norm] = dict(median=float(np.median(ratio)), mean=float(ratio.mean()),
                            p90=float(np.percentile(ratio, 90)),
                            median_extra_scaling=float(np.median((1 + ratio) ** -config.lrn_beta)))
  return statistics


def at_initialisation(run: trained_run.Run) -> trained_run.Run:
  """The run's network as its trainer created it, before the first step."""
  state = steps.create_train_state(run.net, make_optimizer(run.config.optim), seed=run.config.seed)
  return dataclasses.replace(run, params=state.params, step=0)


def first_images(run: trained_run.Run, count: int) -> np.ndarray:
  """Centre crops of the first ``count`` images of the run's evaluation split."""
  chosen = []
  for batch in run.eval_batches(run.config.data.eval_split, crops=1):
    chosen.append(run.dataset.finish_eval(batch, crops=1)[batch['mask'], 0])
    if sum(len(c) for c in chosen) >= count:
      break
  return np.concatenate(chosen)[:count]


def diagnose(workdir: str, count: int) -> dict:
  from alexnet import trained_run  # TensorFlow, for the run's data: not loaded for --help

  trained = trained_run.load_run(workdir)
  images = first_images(trained, count)
  return dict(workdir=workdir, images=len(images), k=trained.model_config.lrn_k,
              alpha=trained.model_config.lrn_alpha,
              initialisation=term_over_k(at_initialisation(trained), images),
              **{f'step {trained.step}': term_over_k(trained, images)})


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise errors.UsageError(f'Unexpected arguments: {argv[1:]}')
  results = [diagnose(w, FLAGS.images) for w in FLAGS.workdirs]
  text = json.dumps(results, indent=1)
  if FLAGS.out:
    Path(FLAGS.out).parent.mkdir(parents=True, exist_ok=True)
    Path(FLAGS.out).write_text(text + '\n')
  print(text)


if __name__ == '__main__':
  flags.DEFINE_list('workdirs', None, 'Workdirs of finished runs.', required=True)
  flags.DEFINE_integer('images', IMAGES, 'Images of data.eval_split to measure on.', lower_bound=1)
  flags.DEFINE_string('out', None, 'JSON file of the statistics; default: printed only.')
  cli.run(main, argv=sys.argv)
