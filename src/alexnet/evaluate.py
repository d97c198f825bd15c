"""Top-1 and top-5 error of a run's checkpoint: ``python -m alexnet.evaluate --workdir DIR``.

  python -m alexnet.evaluate --workdir runs/paper                       # latest, config's crops
  python -m alexnet.evaluate --workdir runs/paper --checkpoint best --crops 1
  python -m alexnet.evaluate --workdir runs/paper --split train[:10000] --crops 10

``--crops 10`` is §4.1's test: the softmax outputs of the four corner patches, the centre
patch and their mirror images, averaged; ``--crops 1`` is the centre patch alone. The
numbers are computed by the same evaluation step as the trainer's, on the devices of this
machine, whatever mesh the run was trained on.
"""

from __future__ import annotations

import functools

from absl import flags

from alexnet import cli, errors, trained_run
from alexnet.model import parallel
from alexnet.run import console, stopping
from alexnet.training import steps

FLAGS = flags.FLAGS


def evaluate_run(run: trained_run.Run, *, split: str, crops: int,
                 progress: console.Progress | None = None) -> dict[str, float]:
  """{top1_error, top5_error, loss, examples} of ``run`` on ``split`` with 1 or 10 crops."""
  parallel.check_batch(run.config.train.eval_batch_size, run.net.mesh)
  eval_step = steps.make_eval_step(run.net,
                                   functools.partial(run.dataset.device.eval_images, crops=crops))
  result = steps.evaluate_batches(eval_step, run.params, run.eval_batches(split, crops),
                                  run.net.mesh, progress)
  if result is None:  # only with several processes, where JAX's preemption notice stops it
    raise stopping.StopRequested(f'while evaluating {split}', stopping.stop_signal())
  return result


def main(argv) -> None:
  if len(argv) > 1:
    raise errors.UsageError(f'unexpected arguments: {argv[1:]}')
  run = trained_run.load_run_from_flags()
  split = FLAGS.split or run.config.data.eval_split
  crops = int(FLAGS.crops or run.config.data.eval_crops)
  examples = run.dataset.split_examples(split, '--split')
  progress = console.Progress(f'evaluating {split}:', examples, unit='image')
  result = evaluate_run(run, split=split, crops=crops, progress=progress)
  progress.clear()
  print(f'{run.workdir} step {run.step}, {split} ({result["examples"]} images, {crops} '
        f'crop{"s" if crops > 1 else ""}): top-1 error {100 * result["top1_error"]:.2f} %, '
        f'top-5 error {100 * result["top5_error"]:.2f} %, loss {result["loss"]:.4f}')


def define_flags() -> None:
  trained_run.define_run_flags()
  flags.DEFINE_string(
      'split', None, "TFDS split, e.g. 'test' or 'train[:10%]'; default: the "
      "run's data.eval_split.")
  trained_run.define_crops_flag()
  flags.adopt_module_key_flags(trained_run)  # --help lists them with this command's own


if __name__ == '__main__':
  define_flags()
  cli.run(main)
