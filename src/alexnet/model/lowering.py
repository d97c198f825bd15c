"""How the network is lowered on each backend: choices that change its speed, not its function.

Two choices are made here, each measured (BENCHMARKS.md, "The CPU step") and each kept
only on the backend where it helped; the network's outputs and gradients stay equal to
float32 round-off (tests/test_lowering.py):

1. **Max-pooling** (§3.4). ``window_max(x, window, stride)`` is the maximum over each
   ``window × window`` window of the spatial axes (no padding), in one of two lowerings
   that compute the same values and, on a CPU, the same gradients bit for bit:

   - ``reduce_window_max``: ``lax.reduce_window``, whose gradient is ``select_and_scatter``.
     XLA's CPU backend lowers that gradient to an argmax reduce-window over four index
     maps and a scatter: the slowest thunks of the CPU step.
   - ``sliced_max``: the maximum of the window's ``window²`` strided slices, with a custom
     gradient that sends each window's gradient to its first maximum in row-major order
     and adds overlapping windows in ``select_and_scatter``'s order. XLA fuses both
     directions into elementwise loops.

   ``jax.lax.platform_dependent`` picks one when the program is lowered for a backend:
   ``POOLING`` maps a platform to its lowering (``sliced_max`` on the CPU), every other
   backend gets ``reduce_window_max`` (``benchmarks/step_throughput.py --compare_pool``
   measures the other choice on a GPU).

2. **XLA's compile options** (``compiler_options(mesh)``), which every program of the
   network gets by being compiled with :func:`jit`. On the CPU, XLA sends convolutions
   and matrix products to YNNPACK by default; its convolutions were slower here than
   XLA's own (Eigen) ones, so the CPU keeps YNNPACK for matrix products only.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax.sharding import Mesh


def reduce_window_max(x: jax.Array, window: int, stride: int) -> jax.Array:
  """XLA's own max-pooling of (batch, height, width, channels), no padding."""
  return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, window, window, 1),
                               (1, stride, stride, 1), 'VALID')


def _window_slices(x: jax.Array, window: int, stride: int, out_height: int, out_width: int):
  """(row, column, strided slice) of each window offset, in row-major order."""
  batch, _, _, channels = x.shape
  for i in range(window):
    for j in range(window):
      yield i, j, jax.lax.slice(x, (0, i, j, 0), (batch, i + (out_height - 1) * stride + 1, j +
                                                  (out_width - 1) * stride + 1, channels),
                                (1, stride, stride, 1))


@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 2))
def sliced_max(x: jax.Array, window: int, stride: int) -> jax.Array:
  """The same pooling as :func:`reduce_window_max`, from strided slices."""
  return _sliced_forward(x, window, stride)[0]


def _sliced_forward(x, window, stride):
  out_height = (x.shape[1] - window) // stride + 1
  out_width = (x.shape[2] - window) // stride + 1
  pooled = None
  for _, _, part in _window_slices(x, window, stride, out_height, out_width):
    pooled = part if pooled is None else jnp.maximum(pooled, part)
  return pooled, (x, pooled)


def _sliced_backward(window, stride, residuals, cotangent):
  x, pooled = residuals
  height, width = x.shape[1:3]
  out_height, out_width = pooled.shape[1:3]
  zero = jnp.zeros((), cotangent.dtype)
  taken = jnp.zeros(pooled.shape, bool)  # windows whose maximum already has the gradient
  scattered = []
  for i, j, part in _window_slices(x, window, stride, out_height, out_width):
    first = (part == pooled) & ~taken
    taken = taken | first
    scattered.append(
        jax.lax.pad(jnp.where(first, cotangent, zero), zero,
                    ((0, 0, 0), (i, height - i - (out_height - 1) * stride - 1, stride - 1),
                     (j, width - j - (out_width - 1) * stride - 1, stride - 1), (0, 0, 0))))
  # Overlapping windows add into one input in the order select_and_scatter adds them
  # (windows in row-major order, i.e. window offsets from last to first): same rounding.
  gradient = jnp.zeros_like(x)
  for part in reversed(scattered):
    gradient = gradient + part
  return (gradient,)


sliced_max.defvjp(_sliced_forward, _sliced_backward)

PoolLowering = Callable[[jax.Array, int, int], jax.Array]
# Platform, as jax.lax.platform_dependent names it ('cpu', 'cuda', 'rocm', 'tpu'; never
# 'gpu') → max-pooling lowering; every other backend gets reduce_window_max.
POOLING: dict[str, PoolLowering] = {'cpu': sliced_max}

# Platform, as a device names it (jax.Device.platform: 'cpu', 'gpu', 'tpu') → XLA compile
# options of the network's programs.
COMPILER_OPTIONS: dict[str, dict[str, str]] = {
    # YNNPACK for dots only: the default also sends it every convolution.
    'cpu': {'xla_cpu_experimental_ynn_fusion_type': 'LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT'},
}


def window_max(x: jax.Array, window: int, stride: int) -> jax.Array:
  """Max-pooling of (batch, height, width, channels), no padding, lowered per backend."""
  branches = {
      platform: functools.partial(lowering, window=window, stride=stride)
      for platform, lowering in POOLING.items()
  }
  return jax.lax.platform_dependent(
      x, **branches, default=functools.partial(reduce_window_max, window=window, stride=stride))


def compiler_options(mesh: Mesh) -> dict[str, str] | None:
  """XLA compile options for a program of the network on ``mesh``'s backend (None: XLA's
  defaults)."""
  return COMPILER_OPTIONS.get(mesh.devices.flat[0].platform)


def jit(fn: Callable, mesh: Mesh, **jit_kwargs) -> Callable:
  """``jax.jit(fn, **jit_kwargs)`` with :func:`compiler_options` for ``mesh``: how every
  program of the network (train step, eval step, the tools' forward passes) is compiled."""
  return jax.jit(fn, compiler_options=compiler_options(mesh), **jit_kwargs)
