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

from absl import flags

from alexnet import cli, errors, tool_flags
from alexnet.run import console

FLAGS = flags.FLAGS


def main(argv) -> None:
  if len(argv) > 1:
    raise errors.UsageError(f'unexpected arguments: {argv[1:]}')
  from alexnet import trained_run  # JAX and TensorFlow: not loaded for --help or a wrong flag

  run = trained_run.load_run_from_flags()
  split = FLAGS.split or run.config.data.eval_split
  crops = int(FLAGS.crops or run.config.data.eval_crops)
  examples = run.dataset.split_examples(split, '--split')
  progress = console.Progress(f'evaluating {split}:', examples, unit='image')
  result = run.evaluate(split, crops, progress)
  progress.clear()
  print(f'{run.workdir} step {run.step}, {split} ({result["examples"]} images, {crops} '
        f'crop{"s" if crops > 1 else ""}): top-1 error {100 * result["top1_error"]:.2f} %, '
        f'top-5 error {100 * result["top5_error"]:.2f} %, loss {result["loss"]:.4f}')


def define_flags() -> None:
  tool_flags.define_run_flags()
  flags.DEFINE_string(
      'split', None, "TFDS split, e.g. 'test' or 'train[:10%]'; default: the "
      "run's data.eval_split.")
  tool_flags.define_crops_flag()
  flags.adopt_module_key_flags(tool_flags)  # --help lists them with this command's own


if __name__ == '__main__':
  define_flags()
  cli.run(main)
