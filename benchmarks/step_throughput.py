"""Training-step throughput of this project's AlexNet, the full trainer, and PyTorch, in one run.

  python benchmarks/step_throughput.py --out step_throughput.json            # GPU defaults
  python benchmarks/step_throughput.py --quick --torch_python /work/venv-torch/bin/python

(run with the project's venv; the PyTorch side runs in a python of its own, see
benchmarks/requirements-torch.txt; ``benchmarks/gpu_check.sh`` is the one-call GPU run).
In one invocation it measures:

1. **The bare train step**: ``ShardedAlexNet`` + ``train.make_train_step`` on a 1×1 mesh
   (the paper's two towers on one device), the paper's layout at 227×227 input, synthetic
   on-device batches, forward + softmax cross-entropy + backward + the paper's SGD update
   (``optim.make_optimizer`` with ``configs/imagenet_paper.py``'s optimiser). Every
   combination of the batch sizes, compute dtypes and LRN on/off, and (``--compare_pool``)
   the paper net with the other max-pooling lowering of ``alexnet.model.lowering`` than the one
   it gives the backend (strided slices on a GPU, ``reduce_window`` on the CPU), an A/B
   (bf16 by default). Reported per variant:
   ms/step, img/s, compile time (lower + compile), the first call's run time, % of peak from
   the nominal 4.35 GFLOP per image per training step (``--peak_flops``; the default
   790e12 is an H200's measured dense bf16 matmul rate; no % on CPU unless given), XLA's own
   FLOP count of the compiled step, XLA's memory plan of the step (arguments + outputs +
   temporaries) and the device's peak memory (``memory_stats()``; None on CPU; a running
   peak over the process, so variants run from small to large).
2. **The trainer against the bare step**: ``trainer.train_and_evaluate`` on
   ``configs/fashion_mnist.py`` (the real data, already prepared in ``--data_dir``) for a
   fixed number of steps, its throughput taken from its own ``metrics.jsonl``
   (``images_per_second`` of every logging interval but the first, which holds the
   compilation), against the bare step of the same model config, optimiser and batch
   timed just before and just after it. The ratio trainer / bare is the figure of merit
   (goal ≥ 0.95). On a CPU the input pipeline shares the cores with the step, so the ratio
   there is a lower bound of what a GPU host gives.
3. **The PyTorch reference**: ``.bench/torch_reference.py`` (a copy of the shared
   ``bench/torch_reference.py``; ``.bench/`` is git-ignored and travels to a GPU machine
   with ``carry``) with ``--only torch`` in a subprocess with ``--torch_python``, its JSON
   read back. It runs first, before JAX takes the GPU's memory. With ``--quick`` or where
   no NVIDIA driver is found it gets ``--quick`` too (paper layout, batch 8, fp32 and bf16
   channels-last).

4. **The main job against PyTorch** (CPU only): the train step of ``configs/fashion_mnist.py``'s
   network (``--trainer_config``; batch 128, fp32, synthetic batch) against the same
   network in PyTorch (``.bench/fashion_torch_reference.py``, a copy of the shared
   ``bench/fashion_torch_reference.py``, served by ``benchmarks/torch_rounds.py`` in
   ``--torch_python``: eager, eager channels-last and torch.compile), in alternating
   rounds; the ratio project / torch.compile of the medians is the figure of merit.

It prints one table and writes everything to ``--out`` (JSON). Nothing here asserts a
time: the figures go to BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import pathlib
import platform
import runpy
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
PAPER_FLOPS_PER_IMAGE = 4.35e9  # forward 1.45 GFLOP, ×3 for forward + backward
H200_BF16_PEAK = 790e12  # measured dense bf16 matmul rate of one H200 (shared/docs)
_GPU_BATCHES, _CPU_BATCHES, _QUICK_BATCHES = (128, 1024), (32, 128), (8,)


def cpu_model() -> str:
  try:
    with open('/proc/cpuinfo') as f:
      return next(line.split(':', 1)[1].strip() for line in f if line.startswith('model name'))
  except (OSError, StopIteration):
    return platform.processor() or 'unknown'


def _paper_config(variant: str = ''):
  return runpy.run_path(str(ROOT / 'configs' / 'imagenet_paper.py'))['get_config'](variant)


def _cost(compiled) -> float | None:
  try:
    cost = compiled.cost_analysis()
  except Exception:  # noqa: BLE001 - not every backend reports it
    return None
  if isinstance(cost, (list, tuple)):
    cost = cost[0] if cost else {}
  flops = (cost or {}).get('flops')
  return None if flops is None or flops < 0 else float(flops)


def _memory_plan_gib(compiled) -> float | None:
  try:
    m = compiled.memory_analysis()
  except Exception:  # noqa: BLE001 - nor this
    return None
  if m is None:
    return None
  total = (m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes
           - m.alias_size_in_bytes)
  return total / 2 ** 30


def _peak_device_memory_gib() -> float | None:
  import jax
  stats = jax.local_devices()[0].memory_stats() or {}
  peak = stats.get('peak_bytes_in_use')
  return None if peak is None else peak / 2 ** 30


class PreparedStep:
  """The project's jitted train step, compiled, with its state and a synthetic on-device batch."""

  def __init__(self, model_config, optim_config, batch_size: int, *, mesh=None, seed: int = 0):
    import jax
    import jax.numpy as jnp
    import numpy as np
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P

    from alexnet.config import OptimConfig
    from alexnet.model import parallel
    from alexnet.training import optim, steps

    mesh = mesh or parallel.make_mesh(1, 1, jax.devices()[:1])
    net = parallel.ShardedAlexNet(model_config, mesh)
    tx = optim.make_optimizer(OptimConfig.from_mapping(optim_config, 'optim'))
    self.state = steps.create_train_state(net, tx, seed=seed)
    rows = NamedSharding(mesh, P('data'))
    size, channels = model_config.image_size, model_config.input_channels
    image_key, label_key = jax.random.split(jax.random.key(seed + 1))
    self.batch_size = batch_size
    self.batch = {
        'image': jax.device_put(
            jax.random.normal(image_key, (batch_size, size, size, channels), jnp.float32), rows),
        'label': jax.device_put(
            jax.random.randint(label_key, (batch_size,), 0, model_config.num_classes), rows),
    }
    self.learning_rate = np.float32(0.01)
    start = time.perf_counter()
    self.compiled = steps.make_train_step(net, tx).lower(self.state, self.batch,
                                                         self.learning_rate).compile()
    self.compile_s = time.perf_counter() - start
    self.metrics = None

  def run(self, steps: int) -> float:
    """Seconds taken by ``steps`` steps, the last one finished."""
    import jax
    start = time.perf_counter()
    for _ in range(steps):
      self.state, self.metrics = self.compiled(self.state, self.batch, self.learning_rate)
    jax.block_until_ready((self.state, self.metrics))
    return time.perf_counter() - start

  def timed_round(self, seconds: float) -> float:
    """Images per second over steps run for about ``seconds``."""
    import jax
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
      self.state, self.metrics = self.compiled(self.state, self.batch, self.learning_rate)
      steps += 1
    jax.block_until_ready((self.state, self.metrics))
    return steps * self.batch_size / (time.perf_counter() - start)


def measure_step(model_config, optim_config, batch_size: int, *, warmup: int, min_steps: int,
                 max_steps: int, budget_s: float, mesh=None, seed: int = 0) -> dict:
  """Times the project's jitted train step on synthetic on-device batches."""
  step = PreparedStep(model_config, optim_config, batch_size, mesh=mesh, seed=seed)
  first_step_s = step.run(1)
  step.run(warmup)
  one = step.run(1)  # one step alone, to choose how many to time
  steps = int(min(max_steps, max(min_steps, budget_s // max(one, 1e-6))))
  step_s = step.run(steps) / steps
  loss = float(step.metrics['loss'])
  result = dict(batch=batch_size, steps=steps, step_ms=step_s * 1e3, img_per_s=batch_size / step_s,
                compile_s=step.compile_s, first_step_s=first_step_s, loss=loss,
                finite=math.isfinite(loss) and int(step.state.nonfinite_step) < 0,
                xla_flops_per_image=None, memory_plan_gib=_memory_plan_gib(step.compiled),
                peak_device_memory_gib=_peak_device_memory_gib())
  flops = _cost(step.compiled)
  if flops is not None:
    result['xla_flops_per_image'] = flops / batch_size
  del step
  return result


# The CPU lowering choices of alexnet.model.lowering, each undone alone or both (the lowering
# before BENCHMARKS.md's "The CPU step"), for before/after rounds in one run.
CPU_LOWERINGS = {
    'project': dict(pooling=True, options=True),
    'reduce_window_pool': dict(pooling=False, options=True),
    'ynnpack_convolutions': dict(pooling=True, options=False),
    'xla_defaults': dict(pooling=False, options=False),
}


@contextlib.contextmanager
def _lowering_tables_restored():
  """``alexnet.model.lowering`` for the block to change its tables (POOLING, COMPILER_OPTIONS),
  which are as they were again once the block ends."""
  from alexnet.model import lowering
  tables = (lowering.POOLING, lowering.COMPILER_OPTIONS)
  saved = [dict(table) for table in tables]
  try:
    yield lowering
  finally:
    for table, entries in zip(tables, saved):
      table.clear()
      table.update(entries)


@contextlib.contextmanager
def cpu_lowering(name: str):
  """Builds the network's programs with some of the CPU lowering choices undone."""
  keep = CPU_LOWERINGS[name]
  with _lowering_tables_restored() as lowering:
    if not keep['pooling']:
      lowering.POOLING.pop('cpu', None)
    if not keep['options']:
      lowering.COMPILER_OPTIONS.pop('cpu', None)
    yield


def _lowering_platforms() -> tuple[str, ...]:
  """This backend's names as ``jax.lax.platform_dependent`` (and so ``alexnet.model.lowering``'s
  tables) spell them: a GPU is 'cuda' or 'rocm' there, never 'gpu'."""
  import jax
  platform = jax.default_backend()
  return ('cuda', 'rocm') if platform == 'gpu' else (platform,)


@contextlib.contextmanager
def pooling(kind: str):
  """Builds the network with the max-pooling lowering ``kind`` ('slices' or 'reduce_window')
  on this backend, whichever ``alexnet.model.lowering.POOLING`` gives it, for the A/B."""
  with _lowering_tables_restored() as lowering:
    for platform in _lowering_platforms():
      lowering.POOLING.pop(platform, None)
      if kind == 'slices':
        lowering.POOLING[platform] = lowering.sliced_max
    yield


def backend_pooling() -> str:
  """The max-pooling lowering ``alexnet.model.lowering`` gives this backend."""
  from alexnet.model import lowering
  return ('slices'
          if any(p in lowering.POOLING for p in _lowering_platforms()) else 'reduce_window')


def run_steps(args, save=lambda: None, results: list | None = None) -> list[dict]:
  """The paper-layout variants: batch × compute dtype × LRN, towers=2 on a 1×1 mesh."""
  import jax

  from alexnet.config import ModelConfig

  paper = _paper_config()
  results = [] if results is None else results
  for batch_size in sorted(args.batch_sizes):
    usual = backend_pooling()
    other = 'reduce_window' if usual == 'slices' else 'slices'
    plan = [(dtype, lrn, usual) for dtype in args.dtypes for lrn in args.lrn]
    plan += [(dtype, True, other) for dtype in args.compare_pool]
    for dtype, lrn, pool in plan:
      model_config = ModelConfig.from_mapping({
          **paper.model.to_dict(), 'compute_dtype': dtype, 'lrn': lrn, 'towers': 2,
          'image_size': args.image_size
      })
      name = (f'paper {args.image_size} towers=2 {"bf16" if dtype == "bfloat16" else "fp32"} '
              f'lrn={"on" if lrn else "off"}' + (f' pool={pool}' if pool != usual else ''))
      try:
        with pooling(pool):
          r = measure_step(model_config, paper.optim, batch_size, warmup=args.warmup,
                           min_steps=args.min_steps, max_steps=args.max_steps, budget_s=args.budget)
      except Exception as error:  # noqa: BLE001 - e.g. out of memory at a large batch: report, go on
        r = dict(batch=batch_size, error=f'{type(error).__name__}: {error}'[:500])
      r.update(name=name, compute_dtype=dtype, lrn=lrn, towers=2, image_size=args.image_size,
               pool=pool)
      if 'img_per_s' in r and args.peak_flops:
        r['percent_of_peak'] = 100 * r['img_per_s'] * args.flops_per_image / args.peak_flops
      results.append(r)
      _print_step(r)
      save()
      jax.clear_caches()
  return results


def _print_step(r: dict) -> None:
  if 'error' in r:
    print(f"{r['name']:36s} b={r['batch']:5d} failed: {r['error']}", flush=True)
    return
  peak = f" {r['percent_of_peak']:5.1f}% of peak" if 'percent_of_peak' in r else ''
  print(
      f"{r['name']:36s} b={r['batch']:5d} {r['step_ms']:9.2f} ms {r['img_per_s']:9.1f} img/s "
      f"compile {r['compile_s']:5.1f}s{peak}", flush=True)


def _set(config, dotted: str) -> None:
  """Applies one ``section.field=value`` override, parsed as the field's current type."""
  key, value = dotted.split('=', 1)
  *path, field = key.split('.')
  node = config
  for part in path:
    node = node[part]
  old = node[field]
  if isinstance(old, bool):
    node[field] = value.lower() in ('1', 'true', 'yes')
  elif isinstance(old, int):
    node[field] = int(float(value))
  elif isinstance(old, float):
    node[field] = float(value)
  else:
    node[field] = value


def trainer_config(args):
  config = runpy.run_path(str(ROOT / args.trainer_config))['get_config'](args.trainer_variant)
  config.data.data_dir = args.data_dir
  config.data.eval_split = args.trainer_eval_split  # the final evaluation only: keep it short
  config.data.eval_crops = 1
  config.train.num_steps = args.trainer_steps
  config.train.log_every_steps = args.trainer_log_every
  config.train.eval_every_epochs = 1e9  # no evaluation inside the timed steps
  config.train.checkpoint_every_steps = 10 * args.trainer_steps  # only the final one
  for override in args.trainer_set:
    _set(config, override)
  return config


def run_trainer(args) -> dict:
  """The full trainer for a fixed number of steps, against the bare step of the same config."""
  from alexnet.config import ModelConfig
  from alexnet.model import parallel
  from alexnet.run.workdir import Workdir
  from alexnet.training import trainer

  config = trainer_config(args)
  model_config = ModelConfig.from_mapping(config.model)
  batch_size = config.train.batch_size
  mesh = parallel.mesh_for(model_config.towers, config.mesh.data, config.mesh.model)
  steady_steps = args.trainer_steps - args.trainer_log_every

  def bare():
    return measure_step(model_config, config.optim, batch_size, warmup=3, min_steps=steady_steps,
                        max_steps=steady_steps, budget_s=0.0, mesh=mesh, seed=config.seed)

  before = bare()
  print(f"bare step of {args.trainer_config}: {before['img_per_s']:.0f} img/s", flush=True)
  workdir = tempfile.mkdtemp(prefix='alexnet_step_throughput_')
  try:
    start = time.perf_counter()
    final = trainer.train_and_evaluate(config, workdir)
    wall_s = time.perf_counter() - start
    records = [
        r for r in Workdir(workdir).read_metrics()
        if 'loss' in r and 'step' in r and 'images_per_second' in r
    ]
  finally:
    shutil.rmtree(workdir, ignore_errors=True)
  after = bare()
  print(f"bare step of {args.trainer_config} again: {after['img_per_s']:.0f} img/s", flush=True)
  try:
    pipeline_rate = _pipeline_alone(config, model_config, steady_steps)
    print(f"input pipeline alone: {pipeline_rate:.0f} img/s", flush=True)
  except Exception as error:  # noqa: BLE001 - the data module's API is not this script's to pin
    pipeline_rate = f'{type(error).__name__}: {error}'[:500]

  steady = records[1:]  # the first interval holds the compilation and the pipeline's start
  images, seconds, last = 0, 0.0, records[0]['step'] if records else 0
  for r in steady:
    done = (r['step'] - last) * batch_size
    images, seconds, last = images + done, seconds + done / r['images_per_second'], r['step']
  trainer_rate = images / seconds if seconds else None
  bare_rate = 2 / (1 / before['img_per_s'] + 1 / after['img_per_s'])  # mean time per image
  return dict(config=args.trainer_config, variant=args.trainer_variant, overrides=args.trainer_set,
              batch=batch_size, image_size=model_config.image_size, width=model_config.width,
              steps=args.trainer_steps, timed_steps=images // batch_size,
              trainer_img_per_s=trainer_rate,
              trainer_intervals_img_per_s=[r['images_per_second'] for r in steady],
              trainer_wall_s=wall_s, final_top1_error=final.get('top1_error'),
              bare_img_per_s=bare_rate, bare_before=before, bare_after=after,
              pipeline_alone_img_per_s=pipeline_rate,
              ratio=None if trainer_rate is None else trainer_rate / bare_rate)


def _pipeline_alone(config, model_config, steps: int) -> float:
  """Training batches per second of the input pipeline alone, on the host (no step)."""
  from alexnet.data.dataset import Dataset
  batches = Dataset.open(config.data,
                         model_config).train_batches(global_batch_size=config.train.batch_size,
                                                     seed=config.seed)
  with contextlib.closing(batches):
    for _ in range(5):
      next(batches)
    start = time.perf_counter()
    for _ in range(steps):
      next(batches)
    return steps * config.train.batch_size / (time.perf_counter() - start)


def _reference_script(path: str) -> pathlib.Path | None:
  """The ignored copy of a shared reference script; copied there from shared/bench/ (the
  file of the same name) when missing."""
  target = (ROOT / path).resolve()
  if target.exists():
    return target
  for source in (ROOT.parent / 'shared' / 'bench' / target.name,
                 ROOT / 'shared' / 'bench' / target.name):
    if source.exists():
      target.parent.mkdir(parents=True, exist_ok=True)
      shutil.copy(source, target)
      return target
  return None


def run_main_job(args) -> dict:
  """The README main job's train step against PyTorch's reference of the same network.

  The JAX side is ``PreparedStep`` on ``--trainer_config``'s model and optimiser (batch
  ``train.batch_size``, fp32, synthetic batch, one device); the PyTorch side is
  ``benchmarks/torch_rounds.py`` serving ``--main_job_reference``'s step in its own python.
  Each side first runs ``--main_job_warmup`` seconds untimed (torch.compile's step speeds
  up over its first seconds). Rounds alternate: one of JAX, then one of each PyTorch mode,
  ``--main_job_rounds`` times, each ``--main_job_seconds`` long, so drift of the machine
  falls on both sides alike.
  """
  import statistics

  from alexnet.config import ModelConfig

  script = _reference_script(args.main_job_reference)
  if script is None:
    return dict(error=f'{args.main_job_reference} not found (copy '
                'shared/bench/fashion_torch_reference.py there)')
  config = runpy.run_path(str(ROOT / args.trainer_config))['get_config'](args.trainer_variant)
  model_config = ModelConfig.from_mapping(config.model)
  batch_size = config.train.batch_size
  command = [
      args.torch_python,
      str(ROOT / 'benchmarks' / 'torch_rounds.py'), '--reference',
      str(script), '--batch',
      str(batch_size), '--warmup_seconds',
      str(args.main_job_warmup)
  ]
  print('$', ' '.join(command), flush=True)
  torch_side = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
  try:
    ready = json.loads(torch_side.stdout.readline() or '{}')
    if 'ready' not in ready:
      return dict(command=command, error=f'the PyTorch side did not start (exit '
                  f'{torch_side.wait()})')
    projects = {}
    for lowering_name in args.main_job_lowerings:
      with cpu_lowering(lowering_name):
        projects[lowering_name] = PreparedStep(model_config, config.optim, batch_size,
                                               seed=config.seed)
      projects[lowering_name].timed_round(args.main_job_warmup)
    rounds = {**{f'jax {name}': [] for name in projects}, **{mode: [] for mode in ready['ready']}}
    for _ in range(args.main_job_rounds):
      for name, project in projects.items():
        rounds[f'jax {name}'].append(project.timed_round(args.main_job_seconds))
      for mode in ready['ready']:
        torch_side.stdin.write(f'{mode} {args.main_job_seconds}\n')
        torch_side.stdin.flush()
        rounds[mode].append(json.loads(torch_side.stdout.readline())['img_per_s'])
      print(
          'round: ' + ', '.join(f'{name} {values[-1]:,.0f}' for name, values in rounds.items())
          + ' img/s', flush=True)
  finally:
    torch_side.stdin.close()
    torch_side.wait()
  medians = {name: statistics.median(values) for name, values in rounds.items()}
  first = f'jax {args.main_job_lowerings[0]}'
  return dict(
      config=args.trainer_config, batch=batch_size, image_size=model_config.image_size,
      width=model_config.width, command=command, torch_version=ready['torch'],
      torch_threads=ready['threads'], torch_failed=ready['failed'],
      seconds_per_round=args.main_job_seconds, rounds=rounds, medians=medians, ratio_of=first,
      ratio_to_compile=medians[first] / medians['compile'] if 'compile' in medians else None)


def run_torch(args, quick: bool) -> dict:
  script = _reference_script(args.torch_reference)
  if script is None:
    return dict(error=f'{args.torch_reference} not found (copy shared/bench/torch_reference.py '
                'there, or carry .bench to the GPU machine)')
  with tempfile.TemporaryDirectory() as tmp:
    out = os.path.join(tmp, 'torch.json')
    command = [
        args.torch_python,
        str(script), '--only', 'torch', '--out', out, '--budget',
        str(args.torch_budget)
    ] + (['--quick'] if quick else [])
    print('$', ' '.join(command), flush=True)
    try:
      done = subprocess.run(command, capture_output=True, text=True, timeout=args.torch_timeout)
    except (OSError, subprocess.TimeoutExpired) as error:
      return dict(command=command, error=f'{type(error).__name__}: {error}')
    sys.stdout.write(done.stdout)
    if done.returncode or not os.path.exists(out):
      return dict(command=command, error=f'exit {done.returncode}: {done.stderr[-2000:]}')
    with open(out) as f:
      result = json.load(f)
  result['command'] = command
  version = subprocess.run([args.torch_python, '-c', 'import torch; print(torch.__version__)'],
                           capture_output=True, text=True).stdout.strip()
  result['torch_version'] = version
  return result


def print_summary(report: dict) -> None:
  print(f"\ndevice: {report['device']} ({report['platform']}), jax {report['jax_version']}, "
        f"CPU {report['cpu']}")
  print('\n| variant | batch | ms/step | img/s | compile s | first step s | % of peak '
        '| XLA GFLOP/img | step memory plan GiB | peak device memory GiB |')
  print('|---|---|---|---|---|---|---|---|---|---|')
  fmt = lambda v, spec: '–' if v is None else format(v, spec)
  for r in report['steps']:
    if 'error' in r:
      print(f"| {r['name']} | {r['batch']} | failed: {r['error'][:80]} |||||||")
      continue
    flops = None if r['xla_flops_per_image'] is None else r['xla_flops_per_image'] / 1e9
    print(f"| {r['name']} | {r['batch']} | {r['step_ms']:.1f} | {r['img_per_s']:,.1f} | "
          f"{r['compile_s']:.1f} | {r['first_step_s']:.2f} | "
          f"{fmt(r.get('percent_of_peak'), '.1f')} | "
          f"{fmt(flops, '.2f')} | {fmt(r['memory_plan_gib'], '.2f')} | "
          f"{fmt(r['peak_device_memory_gib'], '.2f')} |")
  t = report.get('trainer')
  if t and 'error' not in t and t.get('ratio') is not None:
    print(f"| trainer {t['config']} (b={t['batch']}, {t['image_size']} px, width {t['width']:g}) "
          f"| {t['batch']} | {t['batch'] / t['trainer_img_per_s'] * 1e3:.1f} | "
          f"{t['trainer_img_per_s']:,.1f} ||||||")
    print(f"| bare step, same config | {t['batch']} | "
          f"{t['batch'] / t['bare_img_per_s'] * 1e3:.1f} | "
          f"{t['bare_img_per_s']:,.1f} ||||||")
    print(f"\ntrainer / bare step = {t['ratio']:.3f} (goal ≥ 0.95)")
    if isinstance(t.get('pipeline_alone_img_per_s'), float):
      p = t['pipeline_alone_img_per_s']
      print(f"input pipeline alone: {p:,.0f} img/s; if the step and the pipeline took turns on "
            f"the same cores: {1 / (1 / p + 1 / t['bare_img_per_s']):,.0f} img/s")
  elif t:
    missing = 'no steady-state logging interval (raise --trainer_steps)'
    print(f"\ntrainer: {t.get('error', missing)}")
  job = report.get('main_job')
  if job and 'medians' in job:
    print(f"\nThe main job's step ({job['config']}, b={job['batch']}, {job['image_size']} px, "
          f"fp32), alternating rounds of {job['seconds_per_round']:g} s, PyTorch "
          f"{job['torch_version']} on {job['torch_threads']} threads:")
    print('| side | median img/s | rounds |')
    print('|---|---|---|')
    for name, values in job['rounds'].items():
      label = f'this project (JAX), {name[4:]} lowering' if name.startswith('jax ') else (
          f'PyTorch {name}')
      print(f"| {label} | {job['medians'][name]:,.0f} | "
            f"{', '.join(f'{v:,.0f}' for v in values)} |")
    if job['ratio_to_compile'] is not None:
      print(f"\n{job['ratio_of']} / PyTorch compile = {job['ratio_to_compile']:.2f} (goal ≥ 1)")
  elif job:
    print(f"\nmain job vs PyTorch: {job.get('error')}")
  torch = report.get('torch')
  if torch and 'results' in torch:
    print(f"\nPyTorch {torch.get('torch_version')} (device: {torch['info'].get('gpu')}):")
    print('| variant | batch | ms/step | img/s | first step s |')
    print('|---|---|---|---|---|')
    for r in torch['results']:
      print(f"| {r['name']} | {r['batch']} | {r['step_ms']:.1f} | {r['img_per_s']:,.1f} | "
            f"{r['compile_s']:.1f} |")
  elif torch:
    print(f"\nPyTorch: {torch.get('error')}")


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--out', default='', help='JSON file for every result')
  parser.add_argument('--quick', action='store_true', help='batch 8, few steps (a smoke run)')
  parser.add_argument(
      '--batch_sizes', '--batch-sizes', type=int, nargs='+',
      help=f'default {_GPU_BATCHES} on GPU, {_CPU_BATCHES} on CPU, '
      f'{_QUICK_BATCHES} with --quick')
  parser.add_argument('--dtypes', nargs='+', default=['bfloat16', 'float32'],
                      choices=['bfloat16', 'float32'])
  parser.add_argument('--lrn', nargs='+', default=['on', 'off'], choices=['on', 'off'])
  parser.add_argument('--image_size', type=int, default=227)
  parser.add_argument(
      '--compare_pool', nargs='*', default=['bfloat16'], choices=['bfloat16', 'float32'],
      help='dtypes at which the paper net (LRN on) also runs with the max-pooling '
      'lowering that alexnet.model.lowering does not give this backend (A/B)')
  parser.add_argument('--warmup', type=int, help='untimed steps after the first (3; 1 on CPU)')
  parser.add_argument('--min_steps', type=int, help='timed steps at least (10; 2 on CPU)')
  parser.add_argument('--max_steps', type=int, default=200)
  parser.add_argument('--budget', type=float,
                      help='seconds of timed steps per variant (8; 2 on CPU)')
  parser.add_argument('--flops_per_image', type=float, default=PAPER_FLOPS_PER_IMAGE)
  parser.add_argument(
      '--peak_flops', type=float,
      help=f'device peak FLOP/s for %% of peak; default {H200_BF16_PEAK:g} '
      '(H200 dense bf16) on GPU, none on CPU')
  parser.add_argument('--skip_steps', action='store_true')
  parser.add_argument('--skip_trainer', action='store_true')
  parser.add_argument('--trainer_config', default='configs/fashion_mnist.py')
  parser.add_argument('--trainer_variant', default='')
  parser.add_argument('--data_dir', '--data-dir', default='',
                      help="TFDS data_dir holding the prepared dataset ('' = TFDS default)")
  parser.add_argument('--trainer_steps', type=int, default=300)
  parser.add_argument('--trainer_log_every', type=int, default=50)
  parser.add_argument('--trainer_eval_split', default='test[:512]')
  parser.add_argument('--trainer_set', action='append', default=[],
                      help='extra config override section.field=value (repeatable)')
  parser.add_argument('--skip_torch', action='store_true')
  parser.add_argument('--torch_python', '--torch-python', default=sys.executable)
  parser.add_argument('--torch_reference', default='.bench/torch_reference.py')
  parser.add_argument('--skip_main_job', action='store_true',
                      help='skip the main job\'s step against PyTorch (runs on CPU only)')
  parser.add_argument('--main_job_reference', default='.bench/fashion_torch_reference.py')
  parser.add_argument('--main_job_rounds', type=int, default=5)
  parser.add_argument(
      '--main_job_lowerings', nargs='+', default=['project'], choices=sorted(CPU_LOWERINGS),
      help='JAX sides of the comparison: the project\'s CPU lowering and/or '
      'ones with its choices undone (before/after in one run); the first one '
      'is the ratio\'s')
  parser.add_argument('--main_job_seconds', type=float, default=4.0)
  parser.add_argument('--main_job_warmup', type=float, default=8.0,
                      help='untimed seconds of steps per side (and PyTorch mode) first')
  parser.add_argument('--torch_mode', choices=['auto', 'quick', 'full'], default='auto',
                      help='auto: the reference\'s --quick on CPU or with --quick')
  parser.add_argument('--torch_budget', type=float, default=8.0)
  parser.add_argument('--torch_timeout', type=float, default=1800.0)
  args = parser.parse_args()

  sys.path.insert(0, str(ROOT / 'src'))
  # PyTorch runs first, before JAX starts its backends and preallocates the GPU's memory,
  # so whether this is a GPU machine is read from the driver's device files here.
  gpu_present = os.path.exists('/dev/nvidiactl') or shutil.which('nvidia-smi') is not None
  if not args.skip_torch:
    quick = args.torch_mode == 'quick' or (args.torch_mode == 'auto' and
                                           (args.quick or not gpu_present))
    torch_report = run_torch(args, quick)
  import jax

  on_cpu = jax.default_backend() == 'cpu'
  args.lrn = [v == 'on' for v in args.lrn]
  if args.batch_sizes is None:
    args.batch_sizes = _QUICK_BATCHES if args.quick else _CPU_BATCHES if on_cpu else _GPU_BATCHES
  small = args.quick or on_cpu
  args.warmup = args.warmup if args.warmup is not None else 1 if small else 3
  args.min_steps = args.min_steps if args.min_steps is not None else 2 if small else 10
  args.budget = args.budget if args.budget is not None else 2.0 if small else 8.0
  if args.peak_flops is None and not on_cpu:
    args.peak_flops = H200_BF16_PEAK
  if args.quick:
    args.trainer_steps, args.trainer_log_every = min(args.trainer_steps,
                                                     60), min(args.trainer_log_every, 20)

  report = dict(date=time.strftime('%Y-%m-%d %H:%M'), cpu=cpu_model(), cores=os.cpu_count(),
                python=sys.version.split()[0], jax_version=jax.__version__, args=dict(vars(args)))
  if not args.skip_torch:
    report['torch'] = torch_report
  report.update(platform=jax.default_backend(), device=jax.devices()[0].device_kind)
  print(f"device: {report['device']}, jax {jax.__version__}", flush=True)

  def save():  # after every measurement, so that a run cut short keeps what it measured
    if args.out:
      pathlib.Path(args.out).parent.mkdir(parents=True, exist_ok=True)
      with open(args.out, 'w') as f:
        json.dump(report, f, indent=1, default=str)

  report['steps'] = []
  save()
  if not args.skip_steps:
    run_steps(args, save, report['steps'])
  if not args.skip_main_job and on_cpu:
    report['main_job'] = run_main_job(args)
    save()
  if not args.skip_trainer:
    try:
      report['trainer'] = run_trainer(args)
    except Exception as error:  # noqa: BLE001 - the report says how the trainer failed
      import traceback
      traceback.print_exc()
      report['trainer'] = dict(error=f'{type(error).__name__}: {error}'[:2000])
  save()
  print_summary(report)


if __name__ == '__main__':
  main()
