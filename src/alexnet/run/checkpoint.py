"""Orbax checkpoints of a run: the train state and its progress, verified, restorable onto any mesh.

A checkpoint holds two items:

* ``state``: the :class:`alexnet.training.steps.TrainState` — step (which is also the data
  position), parameters, optimizer state, dropout RNG, NaN guard — saved with
  ``StandardSave`` as plain arrays with their global shapes;
* ``progress``: JSON for what lives on the host — the plateau rule's state, the
  epoch, the latest evaluation.

Saves are asynchronous: the arrays are copied to host memory before ``save``
returns, so the training step may donate its buffers at once. The latest
``keep`` checkpoints are kept, and the one with the lowest validation top-1
error. Restoring reads only arrays and JSON (no pickle) into the shardings of
the caller's mesh, so a checkpoint saved on (1, 2) restores on (1, 1) or (4, 2).

**Integrity** (:mod:`alexnet.run.checkpoint_files`): a checkpoint is never visible without
the checksums of its files, a restore verifies them first, and one that fails to verify or
to read is moved aside to ``damaged_checkpoints/`` — never deleted — and the one before it
used; when none is left, the run is refused rather than started again from step 0.

**Readers.** The tools read checkpoints through :class:`CheckpointReader`, which writes
nothing: no directory created, no temporary directory cleaned up (the trainer's save in
flight), no lock. They see only finished checkpoints, since orbax writes under a temporary
name and renames the directory to ``<step>/`` when it is complete; a checkpoint the trainer
deletes (its retention) while a reader reads it is reported as gone, and chosen again.
"""

from __future__ import annotations

import collections
import json
import logging
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp
from jax.experimental import multihost_utils

from alexnet import errors
from alexnet.model import parallel
from alexnet.run import checkpoint_files, records
from alexnet.run.workdir import Workdir

# Where orbax writes a checkpoint before renaming it to <step>/ (on local and network
# filesystems; object stores have no rename and write in place).
_TMP_SUFFIX = '.orbax-checkpoint-tmp'


class IncompatibleCheckpointError(errors.UsageError, RuntimeError):
  """The checkpoint was written by a different network or optimizer."""


class DamagedCheckpointError(errors.RunFailure):
  """A checkpoint (or every checkpoint of the run) cannot be read or fails to verify."""


def _warn_if_unverified(step: int, problem: str | None) -> str:
  if problem is None:
    logging.warning(
        'The checkpoint at step %d has no checksums (an earlier version wrote '
        'it): it is restored unverified.', step)
  return problem or ''


def _checkpointer() -> ocp.Checkpointer:
  """Reads one checkpoint directory (every item's handler named, so orbax guesses none)."""
  return ocp.Checkpointer(
      ocp.CompositeCheckpointHandler(state=ocp.StandardCheckpointHandler(),
                                     progress=ocp.JsonCheckpointHandler(),
                                     **{checkpoint_files.METRICS_ITEM: ocp.JsonCheckpointHandler()
                                       }))


def _read(directory: Path, abstract_state: Any) -> tuple[Any, dict]:
  """The checkpoint in ``directory`` in the shardings of ``abstract_state``; reads, never writes."""
  restored = _checkpointer().restore(
      directory, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract_state),
                                         progress=ocp.args.JsonRestore()))
  return restored.state, dict(restored.progress)


def _read_failure(error: Exception) -> str:
  return f'{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ""}'


def _check_compatible(directory: Path, step: int, abstract_state: Any) -> None:
  """Refuses, with the differing shapes, a checkpoint of another network."""
  try:
    stored = _checkpointer().metadata(directory).item_metadata['state']
  except Exception:  # noqa: BLE001 - unreadable metadata: the restore reports the damage
    return
  if stored is None:
    return
  expected, found = ({
      jax.tree_util.keystr(path, simple=True, separator='/'): tuple(leaf.shape)
      for path, leaf in jax.tree_util.tree_leaves_with_path(tree) if hasattr(leaf, 'shape')
  } for tree in (abstract_state, stored))
  differences = sorted(
      (name for name in expected.keys() | found.keys() if expected.get(name) != found.get(name)),
      key=lambda name: (not name.startswith('params'), name))
  if differences:
    shown = '; '.join(f'{name}: checkpoint {found.get(name)}, config {expected.get(name)}'
                      for name in differences[:5])
    raise IncompatibleCheckpointError(
        f'The checkpoint at step {step} in {directory.parent} was written by a different '
        f'network or optimizer ({len(differences)} arrays differ: {shown}). Use a new '
        f'--workdir, or the config the run was started with.')


class CheckpointDeletedError(FileNotFoundError):
  """The trainer deleted the checkpoint (its retention policy) while a reader read it."""


class CheckpointReader:
  """The finished checkpoints of a run, read-only (see the module's docstring): for the
  tools, which may run beside the trainer, on this host or another."""

  def __init__(self, workdir: Workdir):
    self.workdir = workdir
    self.directory = workdir.checkpoints_dir

  def steps(self) -> list[int]:
    return self.workdir.checkpoint_steps()

  def best_step(self) -> int | None:
    """The step with the lowest validation top-1 error (the latest of equals), as the
    trainer's manager ranks them; a checkpoint with damaged metrics is left out."""
    ranked = []
    for step in self.steps():
      try:
        error = checkpoint_files.ranking_error(self.directory / str(step))
      except (OSError, ValueError) as problem:
        logging.warning('The checkpoint at step %d is not ranked: %s.', step, problem)
        continue
      if error is not None:
        ranked.append((error, -step))
    return -min(ranked)[1] if ranked else None

  def restore(self, abstract_state: Any, step: int) -> tuple[Any, dict]:
    """The checkpoint at ``step``, verified, in the shardings of ``abstract_state``.

    DamagedCheckpointError if it fails to verify or to read (nothing is moved: that is the
    trainer's to do); CheckpointDeletedError if it was deleted meanwhile.
    """
    directory = self.directory / str(step)
    try:
      problem = _warn_if_unverified(step, checkpoint_files.verify(directory))
      if not problem:
        _check_compatible(directory, step, abstract_state)
        return _read(directory, abstract_state)
    except IncompatibleCheckpointError:
      raise
    except Exception as error:  # noqa: BLE001 - any read failure: deleted, or damaged
      problem = _read_failure(error)
    if _disappears(directory):
      raise CheckpointDeletedError(f'the checkpoint at step {step} was deleted while it was read')
    raise DamagedCheckpointError(
        f'the checkpoint at step {step} in {self.directory} is damaged: {problem}. Nothing '
        'was changed; the trainer sets it aside when the run next starts.')


def _disappears(directory: Path, patience: float = 1.0) -> bool:
  """Whether ``directory`` is gone within ``patience`` seconds (a deletion in progress)."""
  deadline = time.monotonic() + patience
  while directory.exists():
    if time.monotonic() > deadline:
      return False
    time.sleep(0.05)
  return True


def _refuse_a_restart_over_damaged(directory: Path, damaged_directory: Path) -> None:
  """Never a silent restart from step 0 of a run whose checkpoints were all set aside."""
  damaged = sorted((p.name for p in damaged_directory.iterdir()), key=lambda name:
                   (len(name), name)) if damaged_directory.is_dir() else []
  if damaged:
    raise DamagedCheckpointError(
        f'no checkpoint of this run can be read: {len(damaged)} damaged checkpoint(s) '
        f'(steps {", ".join(damaged)}) are in {damaged_directory}, and {directory} holds no '
        f'other. Nothing was deleted. To start this run again from step 0 here, move '
        f'{damaged_directory} away; or give the new run another --workdir.')


def _manager_options(keep: int, on_saved: Callable[[], None]) -> ocp.CheckpointManagerOptions:
  """The latest ``keep`` checkpoints kept, and the one of lowest error; ``on_saved`` called
  in orbax's thread when a save's files are written, before it is renamed into place."""
  policies = ocp.checkpoint_managers
  lowest_error = lambda metrics: metrics[records.RANKING_FIELD]
  return ocp.CheckpointManagerOptions(
      best_fn=lowest_error,
      best_mode='min',  # writes the metrics, ranks by them
      preservation_policy=policies.AnyPreservationPolicy([
          policies.LatestN(keep),
          # reverse=True sorts errors downwards, so the one kept is the lowest.
          policies.BestN(get_metric_fn=lowest_error, reverse=True, n=1,
                         keep_checkpoints_without_metrics=False),
      ]),
      enable_async_checkpointing=True,
      async_options=ocp.AsyncOptions(post_finalization_callback=on_saved),
      cleanup_tmp_directories=True,  # a save cut short by a kill leaves only a tmp directory
  )


class Checkpoints:
  """The checkpoints of one run, under ``<workdir>/checkpoints``, as its trainer writes them.

  Only the trainer, which holds the workdir's lock, opens them so (:meth:`open`): orbax's
  manager creates the directory and removes the temporary directories of saves cut short.
  """

  def __init__(self, workdir: Workdir):
    self.directory = workdir.checkpoints_dir
    self.damaged_directory = workdir.damaged_dir
    self._checksum_queue: collections.deque[int] = collections.deque()
    self.manager: ocp.CheckpointManager | None = None

  @classmethod
  def open(cls, workdir: Workdir, *, keep: int) -> Checkpoints:
    """The run's checkpoints, ready to restore and save: those whose metrics are damaged set
    aside first (orbax reads the metrics on opening), then orbax's manager opened."""
    checkpoints = cls(workdir)
    for step in workdir.checkpoint_steps():
      checkpoints._set_aside_if_unranked(step)
    checkpoints.manager = ocp.CheckpointManager(
        checkpoints.directory, options=_manager_options(keep, checkpoints._write_checksums),
        item_handlers=dict(state=ocp.StandardCheckpointHandler(),
                           progress=ocp.JsonCheckpointHandler()))
    return checkpoints

  def steps(self) -> list[int]:
    return sorted(self.manager.all_steps())

  def save(self, step: int, state: Any, progress: dict, metrics: dict | None = None, *,
           replace: bool = False) -> None:
    """Starts an asynchronous save; ``metrics`` (with 'top1_error') ranks it for "best".

    ``replace`` first deletes a checkpoint of the same step (one saved before the
    evaluation of that step could finish, saved again with it).
    """
    try:
      if replace and step in self.manager.all_steps():
        self.manager.wait_until_finished()
        self.manager.delete(step)
      if jax.process_index() == 0:  # orbax's primary host, which alone finalises saves
        self._checksum_queue.append(step)
      self.manager.save(
          step, args=ocp.args.Composite(state=ocp.args.StandardSave(state),
                                        progress=ocp.args.JsonSave(progress)), metrics=metrics,
          force=True)
    except Exception as error:
      self._raise_if_disk_full(error, f'the checkpoint of step {step}')
      raise

  def _write_checksums(self) -> None:
    """orbax's post-finalisation callback (its background thread, primary host only):
    the checksums of the save just written, before it is renamed into place."""
    step = self._checksum_queue.popleft()
    pending = self.directory / f'{step}{_TMP_SUFFIX}'
    directory = pending if pending.is_dir() else self.directory / str(step)
    sums = checkpoint_files.file_checksums(directory)
    (directory / checkpoint_files.CHECKSUMS_FILE).write_text(json.dumps(sums, indent=1) + '\n')

  def restore(self, abstract_state: Any, step: int | None = None) -> tuple[Any, dict] | None:
    """The given (default: latest readable) checkpoint in the shardings of ``abstract_state``.

    Returns None when the run has no checkpoint yet. Without an explicit ``step``, a
    checkpoint that fails to verify or to read is reported, moved to
    ``damaged_checkpoints/`` and passed over for the one before; if none is left, or
    earlier ones were set aside and none remains, DamagedCheckpointError says what was
    moved where. An explicit ``step`` that is damaged raises DamagedCheckpointError.
    """
    candidates = [step] if step is not None else self.steps()[::-1]
    for candidate in candidates:
      problem = self._problem(candidate)  # first: a damaged checkpoint's metadata is not read
      if problem is None:
        directory = self.directory / str(candidate)
        _check_compatible(directory, candidate, abstract_state)
        try:
          return _read(directory, abstract_state)
        except Exception as error:  # noqa: BLE001 - any read failure means a damaged checkpoint
          problem = _read_failure(error)
      if step is not None:
        raise DamagedCheckpointError(f'the checkpoint at step {step} in {self.directory} is '
                                     f'damaged: {problem}.')
      self._set_aside(candidate, problem)
    _refuse_a_restart_over_damaged(self.directory, self.damaged_directory)
    return None

  def _problem(self, step: int) -> str | None:
    """Why the checkpoint at ``step`` cannot be trusted, or None; decided by process 0."""
    problem = (_warn_if_unverified(step, checkpoint_files.verify(self.directory / str(step)))
               if jax.process_index() == 0 else '')
    if parallel.from_process_0(not problem):
      return None
    return problem or 'its files differ from their checksums (checked by process 0)'

  def best_step(self) -> int | None:
    """The step of the checkpoint with the lowest validation top-1 error, if any has one."""
    return self.manager.best_step()

  def wait(self) -> None:
    """Blocks until every started save is on disk."""
    try:
      self.manager.wait_until_finished()
    except Exception as error:
      self._raise_if_disk_full(error, 'a checkpoint')
      raise

  def close(self) -> None:
    self.manager.close()

  def _raise_if_disk_full(self, error: Exception, what: str) -> None:
    if errors.disk_full_in(error):
      raise errors.DiskFullError(self.directory, what) from error

  def _set_aside_if_unranked(self, step: int) -> None:
    """Sets aside the checkpoint at ``step`` if its metrics (read by orbax on opening) are
    damaged; decided by process 0."""
    problem = ''
    if jax.process_index() == 0:
      try:
        checkpoint_files.ranking_error(self.directory / str(step))
      except (OSError, ValueError) as error:
        problem = str(error)
    if not parallel.from_process_0(not problem):
      self._set_aside(step, problem or 'its metrics are damaged (checked by process 0)')

  def _set_aside(self, step: int, problem: str) -> None:
    destination = self.damaged_directory / str(step)
    for copy in range(2, 1000):  # a step set aside before, and written again since
      if not destination.exists():
        break
      destination = self.damaged_directory / f'{step}-{copy}'
    if jax.process_index() == 0:
      self.damaged_directory.mkdir(parents=True, exist_ok=True)
      shutil.move(str(self.directory / str(step)), destination)
    if jax.process_count() > 1:
      multihost_utils.sync_global_devices(f'alexnet: checkpoint {step} set aside')
    logging.warning(
        'The checkpoint at step %d cannot be used (%s); moved it to %s and '
        'trying the one before.', step, problem, destination)
    if self.manager is not None:
      self.manager.reload()
