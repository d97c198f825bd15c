"""What the checkpoints' checksums cost, for the paper's network (61 M parameters).

  python benchmarks/checkpoint_integrity.py [--saves 3] [--dir /fast/disk/tmp]

Saves the paper net's train state (parameters and momentum, ≈ 0.49 GB) with
``alexnet.run.checkpoint.Checkpoints`` a few times and reports, per save: how long the training
thread is held by ``save()`` (the copy to host memory), how long until the save is on disk,
how long the SHA-256 of its files takes (what orbax's background thread adds, after the
arrays are written and before the checkpoint is renamed into place), and at restore how
long verifying them takes beside reading the checkpoint. Medians over the saves.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import jax
import numpy as np

from alexnet.config import ModelConfig, OptimConfig
from alexnet.model import parallel
from alexnet.run import checkpoint, checkpoint_files
from alexnet.run.workdir import Workdir
from alexnet.training import optim, steps


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--saves', type=int, default=3)
  parser.add_argument('--dir', default=None, help='where to write (default: a temporary dir)')
  args = parser.parse_args()

  net = parallel.ShardedAlexNet(ModelConfig(), parallel.make_mesh(1, 1, jax.devices()[:1]))
  tx = optim.make_optimizer(OptimConfig())
  state = steps.create_train_state(net, tx, seed=0)
  # A trained run's momentum is not zeros (which would compress to nothing on disk).
  velocity = jax.tree.map(
      lambda v: v + 1e-3 * jax.random.normal(jax.random.key(1), v.shape, v.dtype),
      state.opt_state.inner_state[-1].trace)
  state = state.replace(opt_state=state.opt_state._replace(
      inner_state=(*state.opt_state.inner_state[:-1],
                   state.opt_state.inner_state[-1]._replace(trace=velocity))))
  state = jax.block_until_ready(state)
  size = sum(leaf.nbytes for leaf in jax.tree.leaves(state))
  root = Path(tempfile.mkdtemp(dir=args.dir, prefix='alexnet_checkpoint_integrity_'))
  try:
    ckpt = checkpoint.Checkpoints.open(Workdir(root), keep=args.saves + 1)
    held, on_disk, hashing, verifying, restoring = [], [], [], [], []
    for step in range(1, args.saves + 1):
      started = time.perf_counter()
      ckpt.save(step, state.replace(step=np.int32(step)), {'plateau': {}})
      held.append(time.perf_counter() - started)
      ckpt.wait()
      on_disk.append(time.perf_counter() - started)
      directory = root / 'checkpoints' / str(step)
      on_disk_bytes = sum(p.stat().st_size for p in directory.rglob('*') if p.is_file())
      started = time.perf_counter()
      checkpoint_files.file_checksums(directory)
      hashing.append(time.perf_counter() - started)
      started = time.perf_counter()
      assert checkpoint_files.verify(directory) == ''
      verifying.append(time.perf_counter() - started)
      started = time.perf_counter()
      jax.block_until_ready(ckpt.restore(steps.abstract_train_state(net, tx), step=step))
      restoring.append(time.perf_counter() - started)
    ckpt.close()
  finally:
    shutil.rmtree(root, ignore_errors=True)
  median = statistics.median
  print(f'paper net train state: {size / 1e9:.3f} GB in memory, {on_disk_bytes / 1e9:.3f} GB on '
        f'disk; {args.saves} saves; medians:')
  print(f'  save() holds the training thread   {median(held):6.2f} s')
  print(f'  save on disk (checksums included)   {median(on_disk):6.2f} s')
  print(f'  SHA-256 of its files (background)   {median(hashing):6.2f} s  '
        f'({on_disk_bytes / median(hashing) / 1e9:.2f} GB/s of files)')
  print(f'  verifying them at restore           {median(verifying):6.2f} s')
  print(f'  restore, verification included      {median(restoring):6.2f} s')


if __name__ == '__main__':
  main()
