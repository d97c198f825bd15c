"""A training run loaded back from its workdir: config, network, parameters, dataset.

The tools (:mod:`alexnet.evaluate`, :mod:`alexnet.predict`, :mod:`alexnet.export`) and
the figures need nothing but the workdir: ``config.json`` (written by the trainer) gives
the config, the config gives the network, and a checkpoint gives the parameters. This is
the one place that does it, so every tool sees a run the same way.

The tools run on whatever devices this machine has, not on the mesh the run was trained
on: checkpoints hold global arrays, so they restore onto any mesh. All devices go on the
``data`` axis, and the ``model`` axis keeps the run's size where the device count allows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path

import jax
import ml_collections
import numpy as np
from absl import flags, logging

from alexnet import data, errors, optim, parallel, trainer
from alexnet.checkpoint import Checkpoints
from alexnet.config import ModelConfig
from alexnet.towers import DATA_AXIS
from alexnet.workdir import RunNotFoundError, Workdir

CHECKPOINT_CHOICES = "'latest', 'best' or a step number"


class CheckpointChoiceError(errors.UsageError, ValueError):
  """--checkpoint names no saved checkpoint."""


@dataclasses.dataclass(frozen=True)
class Run:
  """One checkpoint of a run, ready to compute with."""

  workdir: Path
  config: ml_collections.ConfigDict
  model_config: ModelConfig
  net: parallel.ShardedAlexNet
  params: dict  # nested {layer: {kernel, bias}}, global shapes, on net.mesh
  step: int
  _jitted: dict = dataclasses.field(default_factory=dict, init=False, repr=False, compare=False)

  def dataset(self) -> data.DatasetInfo:
    """The run's dataset (class names, statistics); prepares it if this machine lacks it."""
    return data.prepare(self.config.data, self.model_config.image_size)

  def eval_batches(self, split: str, crops: int):
    """``split`` as the trainer's evaluation reads it (:func:`data.eval_batches`)."""
    return data.eval_batches(self.config.data, self.model_config.image_size, split=split,
                             global_batch_size=self.config.train.eval_batch_size, crops=crops,
                             channels=self.model_config.input_channels)

  def preprocess(self, encoded_image: bytes, crops: int) -> np.ndarray:
    """One image file's bytes → (crops, H, W, channels), as evaluation would see it."""
    return data.preprocess_for_eval(encoded_image, self.config.data, self.model_config.image_size,
                                    crops, channels=self.model_config.input_channels)

  def probabilities(self, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Softmax outputs averaged over crops (§4.1): (n, crops, H, W, 3) → (n, classes)."""
    n, crops = images.shape[:2]
    flat = images.reshape(n * crops, *images.shape[2:])
    logits = self._in_batches(self._compiled('logits', self.net.apply), flat, batch_size)
    return np.asarray(jax.nn.softmax(logits)).reshape(n, crops, -1).mean(axis=1)

  def features(self, images: np.ndarray, layer: str = 'fc7', batch_size: int = 256) -> np.ndarray:
    """One layer's global output for (n, H, W, 3) images, evaluation mode (Figure 4: fc7)."""
    layer_output = lambda params, x: self.net.activations(params, x, (layer,))[layer]
    return self._in_batches(self._compiled(layer, layer_output), images, batch_size)

  def _compiled(self, name: str, fn):
    """``fn(params, images)`` jitted once per Run and name, so repeated calls reuse it."""
    if name not in self._jitted:
      self._jitted[name] = jax.jit(fn)
    return self._jitted[name]

  def _in_batches(self, fn, images: np.ndarray, batch_size: int) -> np.ndarray:
    """Jitted ``fn(params, batch)`` over equal batches that split over the data axis; padding
    dropped. Every batch has the same shape, the last one padded with zeros, so ``fn``
    compiles once.
    """
    devices = self.net.mesh.shape[DATA_AXIS]
    batch_size = -(-min(batch_size, len(images)) // devices) * devices
    outputs = []
    for start in range(0, len(images), batch_size):
      chunk = images[start:start + batch_size]
      rows = len(chunk)
      if rows < batch_size:
        chunk = np.concatenate([chunk, np.zeros((batch_size - rows, *chunk.shape[1:]),
                                                chunk.dtype)])
      batch = parallel.global_batch({'image': chunk}, self.net.mesh)['image']
      outputs.append(np.asarray(jax.device_get(fn(self.params, batch)))[:rows])
    return np.concatenate(outputs)


def load_config(workdir: str | Path) -> ml_collections.ConfigDict:
  """The config a run was (last) started with, from its ``config.json``."""
  return Workdir(workdir).read_config()


def mesh_for_tools(model_config: ModelConfig, mesh_config: Mapping) -> jax.sharding.Mesh:
  """Every device of this machine: the run's model axis where it divides them, else one
  tower per device where possible (``parallel.mesh_for``'s rule), the rest on ``data``."""
  model = mesh_config['model']
  if model != -1 and jax.device_count() % model:
    model = -1
  return parallel.mesh_for(model_config.towers, -1, model)


def choose_step(checkpoints: Checkpoints, which: str) -> int:
  """The step of ``which`` ('latest', 'best' or a step number) among the saved checkpoints."""
  steps = checkpoints.steps()
  if not steps:
    raise RunNotFoundError(f'No checkpoint in {checkpoints.directory}: the run has not saved '
                           'one yet.')
  if which == 'latest':
    return steps[-1]
  if which == 'best':
    best = checkpoints.best_step()
    if best is None:
      raise RunNotFoundError(f'No checkpoint in {checkpoints.directory} has a validation error '
                             f'(only saves at evaluations do); saved steps: {steps}.')
    return best
  if which.isdigit() and int(which) in steps:
    return int(which)
  raise CheckpointChoiceError(f'checkpoint {which!r} is not {CHECKPOINT_CHOICES} of a saved '
                              f'checkpoint; saved steps in {checkpoints.directory}: {steps}.')


def load_run(workdir: str | Path, checkpoint: str = 'latest',
             mesh: jax.sharding.Mesh | None = None) -> Run:
  """Restores the parameters of one checkpoint of the run in ``workdir``.

  ``checkpoint`` is 'latest', 'best' (lowest validation top-1 error) or a step number.
  Only arrays and JSON are read (orbax, no pickle).
  """
  run_dir = Workdir(workdir)
  config = run_dir.read_config()
  model_config = ModelConfig.from_mapping(config.model)
  net = parallel.ShardedAlexNet(model_config, mesh or mesh_for_tools(model_config, config.mesh))
  tx = optim.make_optimizer(config.optim)
  checkpoints = Checkpoints(run_dir, keep=config.train.keep_checkpoints)
  try:
    step = choose_step(checkpoints, checkpoint)
    state, _ = checkpoints.restore(trainer.abstract_train_state(net, tx), step=step)
  finally:
    checkpoints.close()
  return Run(workdir=run_dir.path, config=config, model_config=model_config, net=net,
             params=state.params, step=step)


def define_run_flags() -> None:
  """--workdir and --checkpoint, the flags every tool has.

  Tools define their flags only when run as programs, so that tests can import several.
  """
  flags.DEFINE_string('workdir', None, 'Workdir of a training run.', required=True)
  flags.DEFINE_string('checkpoint', 'latest',
                      "'latest', 'best' (lowest validation top-1 error) or a step number.")


def define_crops_flag() -> None:
  flags.DEFINE_enum('crops', None, ['1', '10'], "1 = the centre patch, 10 = §4.1's ten "
                    "patches (softmax outputs averaged); default: the run's data.eval_crops.")


def load_run_from_flags(verbosity: int = logging.WARNING) -> Run:
  """The run named by --workdir and --checkpoint (RunNotFoundError and others if there is none).

  Logs below ``verbosity`` are hidden unless --verbosity is given: a tool prints its result.
  """
  if not flags.FLAGS['verbosity'].present:
    logging.set_verbosity(verbosity)
  return load_run(flags.FLAGS.workdir, flags.FLAGS.checkpoint)
