"""Prints the network of a config layer by layer: shapes, parameters, towers, devices.

  python -m alexnet.summary --config configs/imagenet_paper.py
  python -m alexnet.summary --config configs/imagenet_paper.py --config.model.towers=1

Shapes come from tracing the network (``jax.eval_shape``), so the full-size
net is summarised in a second on a CPU. Placement follows ``config.mesh.model``
(-1: one tower per device, the paper's layout) whatever devices this machine has.
"""

from __future__ import annotations

import math

import jax
from ml_collections import config_flags

from alexnet import cli
from alexnet import config as config_lib
from alexnet.config import ModelConfig
from alexnet.model import parallel
from alexnet.model.network import LAYER_OUTPUTS

_CONFIG = config_flags.DEFINE_config_file(
    'config', None, 'Config file, path[:variant], e.g. configs/imagenet_paper.py; set any field '
    'with --config.<section>.<field>=value.', lock_config=True)

# Where each layer's input comes from (§3.2, Figure 2).
_INPUTS = dict(conv1='the image, on every tower', conv2='own tower', conv3='all towers (exchange)',
               conv4='own tower', conv5='own tower', fc6='all towers (exchange)',
               fc7='all towers (exchange)', fc8='all towers (exchange)')


def placement(layer: str, towers: int, model_axis: int) -> str:
  """Which tower(s) and which device(s) of the model axis hold a layer's parameters."""
  if layer == 'fc8':
    return 'replicated on every device'
  per_device = towers // model_axis
  if towers == 1:
    return 'the single tower'
  return ', '.join(
      f'tower{"s" if per_device > 1 else ""} '
      f'{"+".join(str(t + 1) for t in range(d * per_device, (d + 1) * per_device))} → device {d}'
      for d in range(model_axis))


def summary_table(config: ModelConfig, model_axis: int) -> str:
  """The per-layer table; output shapes are global (all towers, one image)."""
  net = parallel.ShardedAlexNet(config, parallel.make_mesh(1, 1, jax.devices()[:1]))
  outputs = net.layer_outputs(batch_size=1)
  params = net.abstract_params
  rows = [('layer', 'output', 'parameters', f'held by (model axis of {model_axis})', 'input')]
  for name in LAYER_OUTPUTS:
    shape = '×'.join(str(d) for d in outputs[name].shape[1:])
    if name in params:
      count = sum(math.prod(p.shape) for p in params[name].values())
      source = _INPUTS[name] if config.towers > 1 or name == 'conv1' else 'the layer above'
      rows.append((name, shape, f'{count:,}', placement(name, config.towers, model_axis), source))
    else:
      rows.append((name, shape, '', '', 'max-pool of the layer above'))
  total = sum(math.prod(p.shape) for p in jax.tree.leaves(params))
  rows.append(('total', '', f'{total:,}', '', ''))
  widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
  lines = ['  '.join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
  lines.insert(1, '  '.join('-' * w for w in widths))
  return '\n'.join(lines)


def main(argv) -> None:
  del argv
  config = config_lib.validate(_CONFIG.value)
  model_axis = parallel.model_axis_size(config.model.towers, config.mesh.model)
  parallel.check_towers_fit(config.model.towers, model_axis)
  print(summary_table(config.model, model_axis))


if __name__ == '__main__':
  cli.run(main)
