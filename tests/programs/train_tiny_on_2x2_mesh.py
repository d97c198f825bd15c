"""Trains a tiny net for a few steps on a (2, 2) mesh, as one process or as one of two.

  python train_tiny_on_2x2_mesh.py --output params.npz                       # 4 local devices
  python train_tiny_on_2x2_mesh.py --process 0 --processes 2 --port P ...    # 2 devices each

Every process builds the same global batches from a seed and contributes only
its own rows, as the input pipeline does; process 0 writes the final parameters.
"""

import argparse

import jax
import numpy as np
from jax.experimental import multihost_utils

from alexnet.config import ModelConfig, OptimConfig
from alexnet.model import parallel
from alexnet.training import optim, steps

STEPS = 3
BATCH = 8


def main() -> None:
  parser = argparse.ArgumentParser()
  parser.add_argument('--process', type=int, default=0)
  parser.add_argument('--processes', type=int, default=1)
  parser.add_argument('--port', type=int, default=0)
  parser.add_argument('--output', required=True)
  args = parser.parse_args()

  jax.config.update('jax_num_cpu_devices', 4 // args.processes)
  if args.processes > 1:
    jax.distributed.initialize(f'127.0.0.1:{args.port}', num_processes=args.processes,
                               process_id=args.process)
  mesh = parallel.make_mesh(data=2, model=2)
  net = parallel.ShardedAlexNet(ModelConfig(num_classes=10, width=1 / 16, image_size=35, init='he'),
                                mesh)
  tx = optim.make_optimizer(OptimConfig())
  state = steps.create_train_state(net, tx, seed=0)
  train_step = steps.make_train_step(net, tx)

  rows = BATCH // args.processes
  own = slice(args.process * rows, (args.process + 1) * rows)
  for step in range(STEPS):
    rng = np.random.default_rng(step)
    images = rng.normal(size=(BATCH, 35, 35, 3)).astype(np.float32)
    labels = rng.integers(0, 10, size=BATCH).astype(np.int32)
    batch = parallel.global_batch(dict(image=images[own], label=labels[own]), mesh)
    state, _ = train_step(state, batch, 0.01)

  params = multihost_utils.process_allgather(state.params, tiled=True)
  if args.process == 0:
    flat = {
        '/'.join(k.key for k in path): v for path, v in jax.tree_util.tree_leaves_with_path(params)
    }
    np.savez(args.output, **flat)


if __name__ == '__main__':
  main()
