"""Timed rounds of the PyTorch reference's train step, on request: PyTorch's side of the
alternating comparison of the main job's step in ``step_throughput.py``.

  <torch python> benchmarks/torch_rounds.py --reference .bench/fashion_torch_reference.py

Runs in a python of its own (benchmarks/requirements-torch.txt) and imports nothing of the
project. It builds the reference's network (``FashionAlexNet``), batch and SGD step in each
of the reference's modes (eager, eager channels-last, torch.compile), runs each for
``--warmup_seconds`` untimed, prints ``{"ready": [...modes]}`` and then answers each line
``<mode> <seconds>`` on stdin with one JSON line: the images per second of that many
seconds of steps. Between requests it waits on stdin and uses no CPU, so the two sides of
the comparison never run at the same time.
"""

import argparse
import importlib.util
import json
import sys
import time

import torch
import torch.nn.functional as F

MODES = ('eager', 'eager_channels_last', 'compile')


def load_reference(path: str):
  spec = importlib.util.spec_from_file_location('fashion_torch_reference', path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def make_step(reference, mode: str, batch: int):
  """The reference's train step in ``mode``: the same network, batch and optimiser."""
  net = reference.FashionAlexNet()
  x, y = torch.randn(batch, 1, 64, 64), torch.randint(0, 10, (batch,))
  if mode == 'eager_channels_last':
    net, x = net.to(memory_format=torch.channels_last), x.to(memory_format=torch.channels_last)
  opt = torch.optim.SGD(net.parameters(), lr=0.03, momentum=0.9, weight_decay=5e-4)
  forward = torch.compile(net) if mode == 'compile' else net

  def step():
    opt.zero_grad(set_to_none=True)
    F.cross_entropy(forward(x), y).backward()
    opt.step()

  return step


def timed_round(step, batch: int, seconds: float) -> float:
  """Images per second of steps run for about ``seconds`` (at least one step)."""
  steps, start = 0, time.perf_counter()
  while steps == 0 or time.perf_counter() - start < seconds:
    step()
    steps += 1
  return batch * steps / (time.perf_counter() - start)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--reference', required=True, help='fashion_torch_reference.py')
  parser.add_argument('--batch', type=int, default=128)
  parser.add_argument('--threads', type=int, default=0, help='0: torch default')
  parser.add_argument(
      '--warmup_seconds', type=float, default=8.0,
      help='untimed steps per mode first: torch.compile\'s step still speeds '
      'up over its first seconds')
  parser.add_argument('--modes', nargs='+', default=list(MODES), choices=MODES)
  args = parser.parse_args()
  if args.threads:
    torch.set_num_threads(args.threads)
  reference = load_reference(args.reference)
  steps, failed = {}, {}
  for mode in args.modes:
    try:
      step = make_step(reference, mode, args.batch)
      timed_round(step, args.batch, args.warmup_seconds)
      steps[mode] = step
    except Exception as error:  # noqa: BLE001 - e.g. no C++ compiler for torch.compile
      failed[mode] = f'{type(error).__name__}: {error}'[:300]
  print(
      json.dumps(
          dict(ready=list(steps), failed=failed, torch=torch.__version__,
               threads=torch.get_num_threads())), flush=True)
  for line in sys.stdin:
    mode, seconds = line.split()
    print(
        json.dumps(dict(mode=mode, img_per_s=timed_round(steps[mode], args.batch, float(seconds)))),
        flush=True)


if __name__ == '__main__':
  main()
