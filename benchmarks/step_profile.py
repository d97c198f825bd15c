"""Where the training step's time goes, layer by layer, forward and backward.

  python benchmarks/step_profile.py  # configs/fashion_mnist.py, b=128
  python benchmarks/step_profile.py --config configs/imagenet_paper.py --batch 8 --image_size 227

Method: XLA's own profile of the compiled step. ``jax.profiler`` traces ``--steps`` calls
of ``train.make_train_step`` (synthetic batch, the config's network and optimiser, a 1×1
mesh); on the CPU the trace holds one event per *thunk* (one fused kernel, convolution,
reduce-window, scatter…) with its duration. Each thunk is named after its HLO instruction,
and the compiled HLO's metadata says which JAX operation it came from: the model's
``jax.named_scope`` per stage (``model.STAGES``: conv1, norm1, pool1, …, fc8) and
``transpose(…)`` for the backward pass. Thunks outside any stage are the loss, the
optimiser update and the NaN guard ("update").

Prints a table per layer (forward ms, backward ms per step) and the slowest thunks with
the operation they came from. The per-layer sum can exceed the step's wall time where XLA
ran independent thunks at the same time, and falls short of it where work is not traced:
XLA's own (Eigen) convolutions, which the CPU lowering uses (``alexnet.model.lowering``), run on
Eigen's thread pool and leave no thunk event, so ``--lowering ynnpack_convolutions`` or
``xla_defaults`` shows the convolutions. Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import collections
import gzip
import json
import pathlib
import re
import runpy
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / 'src'))
sys.path.insert(0, str(ROOT / 'benchmarks'))

import jax  # noqa: E402

from alexnet.config import ModelConfig  # noqa: E402
from alexnet.model import network  # noqa: E402
from step_throughput import CPU_LOWERINGS, PreparedStep, cpu_lowering  # noqa: E402


def _sources(hlo_text: str) -> dict[str, list[str]]:
  """Each instruction's op_names, its called computation's included (fusions carry the
  metadata of their root only)."""
  own, calls, operands = {}, {}, {}
  members, computation = collections.defaultdict(list), None
  for line in hlo_text.splitlines():
    header = re.match(r'^(?:ENTRY )?%?([\w.\-]+) \(.*\{$', line)
    if header:
      computation = header.group(1)
      continue
    match = re.match(r'^\s*(?:ROOT )?%?([\w.\-]+) = ', line)
    if not match:
      continue
    name = match.group(1)
    called = re.search(r'calls=%?([\w.\-]+)', line)
    op_name = re.search(r'op_name="([^"]*)"', line)
    arguments = re.search(r' [\w\-]+\((.*?)\)(?:, |$)', line.split(' = ', 1)[1])
    own[name] = [op_name.group(1)] if op_name else []
    calls[name] = called.group(1) if called else None
    operands[name] = re.findall(r'%([\w.\-]+)', arguments.group(1)) if arguments else []
    members[computation].append(name)

  def collect(name: str, depth: int = 0) -> list[str]:
    names = list(own.get(name, []))
    if calls.get(name) and depth < 4:
      for member in members[calls[name]]:
        names += collect(member, depth + 1)
    return names

  users = collections.defaultdict(list)
  for name, inputs in operands.items():
    for operand in inputs:
      users[operand].append(name)

  def nearest(name: str, graph: dict) -> list[str]:
    frontier = [name]
    for _ in range(5):
      frontier = [o for n in frontier for o in graph.get(n, [])]
      names = [op for o in frontier for op in collect(o) if _layer(op) != 'update']
      if names:
        return names
    return []

  def inferred(name: str) -> list[str]:
    """XLA drops the metadata of what it rewrites (the argmax of select_and_scatter, a
    kernel's gradient convolution): such a thunk goes to the layer of the operations that
    use it, or else of those that feed it, in the backward pass."""
    return nearest(name, users) or ['transpose(' + op for op in nearest(name, operands)]

  return {name: collect(name) or inferred(name) for name in own}


def _layer(op_name: str) -> str:
  return next((p for p in op_name.split('/') if p in network.STAGES), 'update')


def _where(op_names: list[str]) -> tuple[str, str]:
  """(layer, 'forward'|'backward') of a thunk from the op_names it computes."""
  votes = collections.Counter()
  for op_name in op_names:
    layer = _layer(op_name)
    direction = 'backward' if 'transpose(' in op_name else 'forward'
    votes[layer, direction] += 1
  if not votes:
    return 'update', 'forward'
  layer, direction = votes.most_common(1)[0][0]
  return layer, 'forward' if layer == 'update' else direction


def profile(config_path: str, batch_size: int, steps: int, image_size: int | None,
            overrides: list[str], lowering_name: str = 'project') -> dict:
  config = runpy.run_path(str(ROOT / config_path))['get_config']()
  model_fields = config.model.to_dict()
  if image_size:
    model_fields['image_size'] = image_size
  for override in overrides:
    key, value = override.split('=', 1)
    model_fields[key] = type(model_fields[key])(json.loads(value))
  model_config = ModelConfig.from_mapping(model_fields)
  with cpu_lowering(lowering_name):
    step = PreparedStep(model_config, config.optim, batch_size)
  sources = _sources(step.compiled.as_text())
  step.run(5)
  wall_ms = step.run(steps) / steps * 1e3
  with tempfile.TemporaryDirectory() as trace_dir:
    jax.profiler.start_trace(trace_dir, create_perfetto_trace=True)
    step.run(steps)
    jax.profiler.stop_trace()
    trace_file = next(pathlib.Path(trace_dir).rglob('perfetto_trace.json.gz'))
    trace = json.loads(gzip.decompress(trace_file.read_bytes()))
  events = trace['traceEvents'] if isinstance(trace, dict) else trace
  thunk_us = collections.Counter()
  for event in events:
    if event.get('ph') == 'X' and event['name'] in sources:
      thunk_us[event['name']] += event['dur']

  layers = collections.defaultdict(lambda: {'forward': 0.0, 'backward': 0.0})
  thunks = []
  for name, micros in thunk_us.items():
    layer, direction = _where(sources[name])
    ms = micros / steps / 1e3
    layers[layer][direction] += ms
    thunks.append(
        dict(
            thunk=name, layer=layer, direction=direction, ms=ms, op_name=collections.Counter(
                sources[name]).most_common(1)[0][0] if sources[name] else ''))
  return dict(
      config=config_path, batch=batch_size, image_size=model_config.image_size, steps=steps,
      lowering=lowering_name, wall_ms_per_step=wall_ms, backend=jax.default_backend(),
      layers={layer: layers[layer] for layer in (*network.STAGES, 'update') if layer in layers},
      thunks=sorted(thunks, key=lambda t: -t['ms']))


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--config', default='configs/fashion_mnist.py')
  parser.add_argument('--batch', type=int, default=128)
  parser.add_argument('--image_size', type=int, default=0, help='0: the config\'s')
  parser.add_argument('--steps', type=int, default=20)
  parser.add_argument('--top', type=int, default=15, help='slowest thunks listed')
  parser.add_argument('--set', action='append', default=[],
                      help='model field override, e.g. --set lrn=false (repeatable)')
  parser.add_argument('--lowering', default='project', choices=sorted(CPU_LOWERINGS),
                      help="the project's CPU lowering, or one with its choices undone")
  parser.add_argument('--json', default='', help='file for the whole result')
  args = parser.parse_args()
  result = profile(args.config, args.batch, args.steps, args.image_size or None, args.set,
                   args.lowering)
  total = sum(v['forward'] + v['backward'] for v in result['layers'].values())
  print(f"{result['config']} b={result['batch']} {result['image_size']} px on "
        f"{result['backend']}, {result['lowering']} lowering: "
        f"{result['wall_ms_per_step']:.2f} ms/step untraced, {total:.2f} ms in traced thunks")
  print('| layer | forward ms | backward ms | share |')
  print('|---|---|---|---|')
  for layer, v in result['layers'].items():
    both = v['forward'] + v['backward']
    print(f"| {layer} | {v['forward']:.2f} | {v['backward']:.2f} | {100 * both / total:.0f} % |")
  print(f'\nslowest {args.top} thunks:')
  for t in result['thunks'][:args.top]:
    print(f"  {t['ms']:6.2f} ms  {t['layer']:>6s} {t['direction']:8s} {t['thunk']:32s} "
          f"{t['op_name'][-70:]}")
  if args.json:
    pathlib.Path(args.json).write_text(json.dumps(result, indent=1))


if __name__ == '__main__':
  main()
