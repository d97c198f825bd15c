"""Orbax checkpoints of a run: the train state and its progress, restorable onto any mesh.

A checkpoint holds two items:

* ``state``: the :class:`alexnet.train.TrainState` — step (which is also the data
  position), parameters, optimizer state, dropout RNG, NaN guard — saved with
  ``StandardSave`` as plain arrays with their global shapes;
* ``progress``: JSON for what lives on the host — the plateau rule's state, the
  epoch, the latest evaluation.

Saves are asynchronous: the arrays are copied to host memory before ``save``
returns, so the training step may donate its buffers at once. The latest
``keep`` checkpoints are kept, and the one with the lowest validation top-1
error. Restoring reads only arrays and JSON (no pickle) into the shardings of
the caller's mesh, so a checkpoint saved on (1, 2) restores on (1, 1) or (4, 2).
A checkpoint that cannot be read is moved aside to ``damaged/`` — never
deleted — and the one before it is used.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp

BEST_METRIC = 'top1_error'


class _QuietUnrankedSaves(logging.Filter):
  """Drops orbax's warning for a save without metrics: most saves fall between evaluations."""

  def filter(self, record: logging.LogRecord) -> bool:
    return not record.getMessage().startswith('Requested `tracked_metric`')


logging.getLogger('absl').addFilter(_QuietUnrankedSaves())


class IncompatibleCheckpointError(RuntimeError):
  """The checkpoint was written by a different network or optimizer."""


class Checkpoints:
  """The checkpoints of one run, under ``<workdir>/checkpoints``."""

  def __init__(self, workdir: str | Path, *, keep: int):
    self.directory = Path(workdir).absolute() / 'checkpoints'
    self.damaged_directory = Path(workdir).absolute() / 'damaged_checkpoints'
    policies = ocp.checkpoint_managers
    lowest_error = lambda metrics: metrics[BEST_METRIC]
    options = ocp.CheckpointManagerOptions(
        best_fn=lowest_error, best_mode='min',  # writes the metrics, ranks by them
        preservation_policy=policies.AnyPreservationPolicy([
            policies.LatestN(keep),
            # reverse=True sorts errors downwards, so the one kept is the lowest.
            policies.BestN(get_metric_fn=lowest_error, reverse=True, n=1,
                           keep_checkpoints_without_metrics=False),
        ]),
        enable_async_checkpointing=True,
        cleanup_tmp_directories=True,  # a save cut short by a kill leaves only a tmp directory
    )
    self.manager = ocp.CheckpointManager(
        self.directory, options=options,
        item_handlers=dict(state=ocp.StandardCheckpointHandler(),
                           progress=ocp.JsonCheckpointHandler()))

  def steps(self) -> list[int]:
    return sorted(self.manager.all_steps())

  def save(self, step: int, state: Any, progress: dict, metrics: dict | None = None) -> None:
    """Starts an asynchronous save; ``metrics`` (with 'top1_error') ranks it for "best"."""
    self.manager.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(state),
                                                    progress=ocp.args.JsonSave(progress)),
                      metrics=metrics, force=True)

  def restore(self, abstract_state: Any, step: int | None = None) -> tuple[Any, dict] | None:
    """The given (default: latest readable) checkpoint in the shardings of ``abstract_state``.

    Returns None when there is no checkpoint. Without an explicit ``step``,
    unreadable checkpoints are reported, moved to ``damaged_checkpoints/`` and
    passed over for the one before.
    """
    candidates = [step] if step is not None else self.steps()[::-1]
    for candidate in candidates:
      self._check_compatible(candidate, abstract_state)
      try:
        restored = self.manager.restore(candidate, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(abstract_state), progress=ocp.args.JsonRestore()))
      except Exception as error:  # noqa: BLE001 - any read failure means a damaged checkpoint
        if step is not None:
          raise
        self._set_aside(candidate, error)
        continue
      return restored.state, dict(restored.progress)
    return None

  def best_step(self) -> int | None:
    """The step of the checkpoint with the lowest validation top-1 error, if any has one."""
    return self.manager.best_step()

  def wait(self) -> None:
    """Blocks until every started save is on disk."""
    self.manager.wait_until_finished()

  def close(self) -> None:
    self.manager.close()

  def _check_compatible(self, step: int, abstract_state: Any) -> None:
    """Refuses, with the differing shapes, a checkpoint of another network."""
    try:
      stored = self.manager.item_metadata(step)['state']
    except Exception:  # noqa: BLE001 - unreadable metadata: restore() reports the damage
      return
    if stored is None:
      return
    expected, found = (
        {jax.tree_util.keystr(path, simple=True, separator='/'): tuple(leaf.shape)
         for path, leaf in jax.tree_util.tree_leaves_with_path(tree) if hasattr(leaf, 'shape')}
        for tree in (abstract_state, stored))
    differences = sorted((name for name in expected.keys() | found.keys()
                          if expected.get(name) != found.get(name)),
                         key=lambda name: (not name.startswith('params'), name))
    if differences:
      shown = '; '.join(f'{name}: checkpoint {found.get(name)}, config {expected.get(name)}'
                        for name in differences[:5])
      raise IncompatibleCheckpointError(
          f'The checkpoint at step {step} in {self.directory} was written by a different '
          f'network or optimizer ({len(differences)} arrays differ: {shown}). Use a new '
          f'--workdir, or the config the run was started with.')

  def _set_aside(self, step: int, error: Exception) -> None:
    self.damaged_directory.mkdir(parents=True, exist_ok=True)
    destination = self.damaged_directory / str(step)
    if jax.process_index() == 0:
      shutil.move(str(self.directory / str(step)), destination)
    logging.warning('The checkpoint at step %d cannot be read (%s: %s); moved it to %s and '
                    'trying the one before.', step, type(error).__name__,
                    str(error).splitlines()[0] if str(error) else '', destination)
    self.manager.reload()
