"""A candidate ``model.max_pool``: the maximum of the window's strided slices, custom gradient.

The same values and, on a CPU, the same gradients bit for bit as ``model.max_pool``
(``reduce_window``, whose gradient is ``select_and_scatter``): each window's gradient goes
to its first maximum in row-major order, and where windows overlap their gradients are
added in select_and_scatter's order (tests/test_sliced_max_pool_matches_reduce_window.py).
XLA fuses it into elementwise loops. On the development CPU the pooling layers alone ran
3-6× faster in float32 (forward + backward), but the whole training step did not get
measurably faster (BENCHMARKS.md, "Training step"), so the model does not use it;
``step_throughput.py --compare_pool`` measures it against the model's on a GPU, where
select_and_scatter is the suspect.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp


def max_pool(x: jax.Array, window: int, stride: int) -> jax.Array:
  """Drop-in for ``alexnet.model.max_pool``: no padding, -inf padding below the window."""
  height, width = x.shape[1:3]
  padding = ((0, 0), (0, max(0, window - height)), (0, max(0, window - width)), (0, 0))
  if any(high for _, high in padding):
    x = jnp.pad(x, padding, constant_values=-jnp.inf)
  return _max_pool_valid(x, window, stride)


def _window_slices(x: jax.Array, window: int, stride: int, out_height: int, out_width: int):
  """(row, column, strided slice) of each window offset, in row-major order."""
  batch, _, _, channels = x.shape
  for i in range(window):
    for j in range(window):
      yield i, j, jax.lax.slice(
          x, (0, i, j, 0),
          (batch, i + (out_height - 1) * stride + 1, j + (out_width - 1) * stride + 1, channels),
          (1, stride, stride, 1))


@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 2))
def _max_pool_valid(x: jax.Array, window: int, stride: int) -> jax.Array:
  return _max_pool_forward(x, window, stride)[0]


def _max_pool_forward(x, window, stride):
  out_height = (x.shape[1] - window) // stride + 1
  out_width = (x.shape[2] - window) // stride + 1
  pooled = None
  for _, _, part in _window_slices(x, window, stride, out_height, out_width):
    pooled = part if pooled is None else jnp.maximum(pooled, part)
  return pooled, (x, pooled)


def _max_pool_backward(window, stride, residuals, cotangent):
  x, pooled = residuals
  height, width = x.shape[1:3]
  out_height, out_width = pooled.shape[1:3]
  zero = jnp.zeros((), cotangent.dtype)
  taken = jnp.zeros(pooled.shape, bool)  # windows whose maximum already has the gradient
  scattered = []
  for i, j, part in _window_slices(x, window, stride, out_height, out_width):
    first = (part == pooled) & ~taken
    taken = taken | first
    scattered.append(jax.lax.pad(
        jnp.where(first, cotangent, zero), zero,
        ((0, 0, 0), (i, height - i - (out_height - 1) * stride - 1, stride - 1),
         (j, width - j - (out_width - 1) * stride - 1, stride - 1), (0, 0, 0))))
  # Overlapping windows add into one input in the order select_and_scatter adds them
  # (windows in row-major order, i.e. window offsets from last to first): same rounding.
  gradient = jnp.zeros_like(x)
  for part in reversed(scattered):
    gradient = gradient + part
  return (gradient,)


_max_pool_valid.defvjp(_max_pool_forward, _max_pool_backward)
