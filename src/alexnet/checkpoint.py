"""Orbax checkpoints of a run: the train state and its progress, verified, restorable onto any mesh.

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

**Integrity.** When a save's files are all written, orbax's background thread (not the
training thread) hashes every file of both items with SHA-256 into ``checksums.json``,
inside the checkpoint's temporary directory, before orbax renames it into place: a
checkpoint is never visible without its checksums. A restore verifies them before
reading. A checkpoint that fails to verify or to read is moved aside to
``damaged_checkpoints/`` — never deleted — and the one before it is used; when none is
left, the run is refused rather than started again from step 0.
"""

from __future__ import annotations

import collections
import hashlib
import json
import logging
import shutil
from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp
from jax.experimental import multihost_utils

from alexnet import errors, parallel
from alexnet.workdir import Workdir

BEST_METRIC = 'top1_error'
CHECKSUMS_FILE = 'checksums.json'  # in <checkpoints>/<step>/, beside the items
_ITEMS = ('state', 'progress')
# Where orbax writes a checkpoint before renaming it to <step>/ (on local and network
# filesystems; object stores have no rename and write in place).
_TMP_SUFFIX = '.orbax-checkpoint-tmp'


class _QuietUnrankedSaves(logging.Filter):
  """Drops orbax's warning for a save without metrics: most saves fall between evaluations."""

  def filter(self, record: logging.LogRecord) -> bool:
    return not record.getMessage().startswith('Requested `tracked_metric`')


logging.getLogger('absl').addFilter(_QuietUnrankedSaves())


class IncompatibleCheckpointError(errors.UsageError, RuntimeError):
  """The checkpoint was written by a different network or optimizer."""


class DamagedCheckpointError(errors.RunFailure):
  """A checkpoint (or every checkpoint of the run) cannot be read or fails to verify."""


def file_checksums(directory: Path) -> dict[str, str]:
  """{path relative to ``directory``: SHA-256} of every file of the checkpoint's items."""
  sums = {}
  for item in _ITEMS:
    for path in sorted((directory / item).rglob('*')):
      if path.is_file():
        with path.open('rb') as f:
          sums[str(path.relative_to(directory))] = hashlib.file_digest(f, 'sha256').hexdigest()
  return sums


def verify(directory: Path) -> str | None:
  """What is wrong with the checkpoint in ``directory`` ('' if nothing; None if unverifiable).

  None means the checkpoint has no checksums (written before they existed).
  """
  listed = directory / CHECKSUMS_FILE
  if not listed.is_file():
    return None
  try:
    expected = json.loads(listed.read_text())
  except (OSError, ValueError) as error:
    return f'its {CHECKSUMS_FILE} cannot be read ({error})'
  found = file_checksums(directory)
  bad = sorted(name for name in expected.keys() | found.keys()
               if expected.get(name) != found.get(name))
  if not bad:
    return ''
  return (f'{len(bad)} of its files differ from the checksums written when it was saved '
          f'({", ".join(bad[:3])}{", …" if len(bad) > 3 else ""})')


class Checkpoints:
  """The checkpoints of one run, under ``<workdir>/checkpoints``."""

  def __init__(self, workdir: Workdir, *, keep: int):
    self.directory = workdir.checkpoints_dir
    self.damaged_directory = workdir.damaged_dir
    self._checksum_queue: collections.deque[int] = collections.deque()
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
        async_options=ocp.AsyncOptions(post_finalization_callback=self._write_checksums),
        cleanup_tmp_directories=True,  # a save cut short by a kill leaves only a tmp directory
    )
    self.manager = ocp.CheckpointManager(
        self.directory, options=options,
        item_handlers=dict(state=ocp.StandardCheckpointHandler(),
                           progress=ocp.JsonCheckpointHandler()))

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
      self.manager.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(state),
                                                      progress=ocp.args.JsonSave(progress)),
                        metrics=metrics, force=True)
    except Exception as error:
      self._raise_if_disk_full(error, f'the checkpoint of step {step}')
      raise

  def _write_checksums(self) -> None:
    """orbax's post-finalisation callback (its background thread, primary host only):
    the checksums of the save just written, before it is renamed into place."""
    step = self._checksum_queue.popleft()
    pending = self.directory / f'{step}{_TMP_SUFFIX}'
    directory = pending if pending.is_dir() else self.directory / str(step)
    sums = file_checksums(directory)
    (directory / CHECKSUMS_FILE).write_text(json.dumps(sums, indent=1) + '\n')

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
        self._check_compatible(candidate, abstract_state)
        try:
          restored = self.manager.restore(candidate, args=ocp.args.Composite(
              state=ocp.args.StandardRestore(abstract_state), progress=ocp.args.JsonRestore()))
          return restored.state, dict(restored.progress)
        except Exception as error:  # noqa: BLE001 - any read failure means a damaged checkpoint
          problem = f'{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ""}'
      if step is not None:
        raise DamagedCheckpointError(f'the checkpoint at step {step} in {self.directory} is '
                                     f'damaged: {problem}.')
      self._set_aside(candidate, problem)
    damaged = sorted((p.name for p in self.damaged_directory.iterdir()),
                     key=lambda name: (len(name), name)) if self.damaged_directory.is_dir() else []
    if damaged:  # never a silent restart from step 0 of a run that had checkpoints
      raise DamagedCheckpointError(
          f'no checkpoint of this run can be read: {len(damaged)} damaged checkpoint(s) '
          f'(steps {", ".join(damaged)}) are in {self.damaged_directory}, and '
          f'{self.directory} holds no other. Nothing was deleted. To start this run again '
          f'from step 0 here, move {self.damaged_directory} away; or give the new run '
          'another --workdir.')
    return None

  def _problem(self, step: int) -> str | None:
    """Why the checkpoint at ``step`` cannot be trusted, or None; decided by process 0."""
    problem = verify(self.directory / str(step)) if jax.process_index() == 0 else ''
    if problem is None:
      logging.warning('The checkpoint at step %d has no checksums (an earlier version wrote '
                      'it): it is restored unverified.', step)
      problem = ''
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
    logging.warning('The checkpoint at step %d cannot be used (%s); moved it to %s and '
                    'trying the one before.', step, problem, destination)
    self.manager.reload()
