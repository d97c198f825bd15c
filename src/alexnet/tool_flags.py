"""The flags of the tools on a trained run: --workdir and --checkpoint, and --crops.

They are apart from :mod:`alexnet.trained_run`, which loads the run they name (JAX and
TensorFlow, seconds of a process's start), so that a tool's --help and its usage errors
answer without loading either. Tools define their flags only when run as programs, so
that tests can import several.
"""

from absl import flags

from alexnet.config import EVAL_CROPS


def define_run_flags() -> None:
  """--workdir and --checkpoint, the flags every tool has."""
  flags.DEFINE_string('workdir', None, 'Workdir of a training run.', required=True)
  flags.DEFINE_string(
      'checkpoint', 'latest', "'latest', 'best' (lowest centre-crop top-1 error on the run's "
      "data.eval_split, among the saved evaluations) or a step number.")


def define_crops_flag() -> None:
  flags.DEFINE_enum(
      'crops', None, [str(crops) for crops in EVAL_CROPS],
      "1 = the centre patch, 10 = §4.1's ten patches (softmax outputs "
      "averaged); default: the run's data.eval_crops.")
