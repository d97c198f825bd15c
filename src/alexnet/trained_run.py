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
import functools
from pathlib import Path

import jax
import numpy as np
from absl import flags

from alexnet import errors
from alexnet.config import ModelConfig, RunConfig
from alexnet.data import preparation
from alexnet.data.dataset import Dataset
from alexnet.model import lowering, parallel
from alexnet.model.towers import DATA_AXIS
from alexnet.run import console, stopping
from alexnet.run.checkpoint import CheckpointDeletedError, CheckpointReader
from alexnet.run.workdir import RunNotFoundError, Workdir
from alexnet.training import optim, steps

CHECKPOINT_CHOICES = "'latest', 'best' or a step number"
# A live trainer may delete the chosen checkpoint (its retention) while it is read: choose again.
_CHOICES_BEFORE_GIVING_UP = 5


class CheckpointChoiceError(errors.UsageError, ValueError):
  """--checkpoint names no saved checkpoint."""


@dataclasses.dataclass(frozen=True)
class Run:
  """One checkpoint of a run, ready to compute with."""

  workdir: Path
  config: RunConfig  # the config the run was (last) started with, checked
  net: parallel.ShardedAlexNet
  params: dict  # nested {layer: {kernel, bias}}, global shapes, on net.mesh
  step: int
  _jitted: dict = dataclasses.field(default_factory=dict, init=False, repr=False, compare=False)

  @property
  def model_config(self) -> ModelConfig:
    return self.config.model

  @functools.cached_property
  def dataset(self) -> Dataset:
    """The run's dataset, opened once for its network's input (class names, statistics,
    batches). Where this machine has not prepared it yet, it is prepared first, as the
    trainer would (for ImageNet that takes hours; the data config says where the files are).
    """
    return preparation.prepare(self.config.data, self.config.model)

  def eval_batches(self, split: str, crops: int):
    """``split`` as the trainer's evaluation reads it, with the run's evaluation batch: what
    the host sends (``self.dataset.finish_eval(batch, crops)`` gives the views)."""
    return self.dataset.eval_batches(split, crops=crops,
                                     global_batch_size=self.config.train.eval_batch_size)

  def evaluate(self, split: str, crops: int,
               progress: console.Progress | None = None) -> dict[str, float]:
    """{top1_error, top5_error, loss, examples} on ``split`` with 1 or 10 crops, computed by
    the trainer's own evaluation step on this machine's devices."""
    parallel.check_batch(self.config.train.eval_batch_size, self.net.mesh)
    eval_step = steps.make_eval_step(
        self.net, functools.partial(self.dataset.device.eval_images, crops=crops))
    result = steps.evaluate_batches(eval_step, self.params, self.eval_batches(split, crops),
                                    self.net.mesh, progress)
    if result is None:  # only with several processes, where JAX's preemption notice stops it
      raise stopping.StopRequested(f'while evaluating {split}', stopping.stop_signal())
    return result

  def preprocess(self, encoded_image: bytes, crops: int) -> np.ndarray:
    """One image file's bytes → (crops, H, W, channels), as evaluation would see it."""
    return self.dataset.preprocess(encoded_image, crops)

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
      self._jitted[name] = lowering.jit(fn, self.net.mesh)
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
        chunk = np.concatenate(
            [chunk, np.zeros((batch_size - rows, *chunk.shape[1:]), chunk.dtype)])
      batch = parallel.global_batch({'image': chunk}, self.net.mesh)['image']
      outputs.append(np.asarray(jax.device_get(fn(self.params, batch)))[:rows])
    return np.concatenate(outputs)


def load_config(workdir: str | Path) -> RunConfig:
  """The config a run was (last) started with, from its ``config.json``, checked."""
  return RunConfig.from_mapping(Workdir(workdir).read_config())


def mesh_for_tools(config: RunConfig) -> jax.sharding.Mesh:
  """Every device of this machine: the run's model axis where it divides them, else
  :func:`parallel.model_axis_size`'s rule for -1; the rest on ``data``."""
  return parallel.mesh_for(config.model.towers, -1, config.mesh.model, adapt=True)


def choose_step(checkpoints: CheckpointReader, which: str) -> int:
  """The step of ``which`` ('latest', 'best' or a step number) among the saved checkpoints."""
  saved = checkpoints.steps()
  if not saved:
    raise RunNotFoundError(f'No checkpoint in {checkpoints.directory}: the run has not saved '
                           'one yet.')
  if which == 'latest':
    return saved[-1]
  if which == 'best':
    best = checkpoints.best_step()
    if best is None:
      raise RunNotFoundError(f'No checkpoint in {checkpoints.directory} has an evaluation '
                             f'error (only saves at evaluations do); saved steps: {saved}.')
    return best
  if which.isdigit() and int(which) in saved:
    return int(which)
  raise CheckpointChoiceError(f'checkpoint {which!r} is not {CHECKPOINT_CHOICES} of a saved '
                              f'checkpoint; saved steps in {checkpoints.directory}: {saved}.')


def load_run(workdir: str | Path, checkpoint: str = 'latest',
             mesh: jax.sharding.Mesh | None = None) -> Run:
  """Restores the parameters of one checkpoint of the run in ``workdir``.

  ``checkpoint`` is 'latest', 'best' (lowest top-1 error on the run's evaluation split,
  ``data.eval_split``, centre crop, as evaluated during training) or a step number.
  Only arrays and JSON are read (orbax, no pickle), and nothing in the workdir is written,
  so a trainer may be running there.
  """
  run_dir = Workdir(workdir)
  config = load_config(run_dir.path)
  net = parallel.ShardedAlexNet(config.model, mesh or mesh_for_tools(config))
  abstract_state = steps.abstract_train_state(net, optim.make_optimizer(config.optim))
  checkpoints = CheckpointReader(run_dir)
  for attempt in range(_CHOICES_BEFORE_GIVING_UP):
    step = choose_step(checkpoints, checkpoint)
    try:
      state, _ = checkpoints.restore(abstract_state, step)
      break
    except CheckpointDeletedError:  # by a trainer saving faster than this reads
      if attempt == _CHOICES_BEFORE_GIVING_UP - 1:
        raise
  return Run(workdir=run_dir.path, config=config, net=net, params=state.params, step=step)


def load_run_from_flags() -> Run:
  """The run named by :mod:`alexnet.tool_flags`' --workdir and --checkpoint
  (RunNotFoundError and others if there is none)."""
  return load_run(flags.FLAGS.workdir, flags.FLAGS.checkpoint)
