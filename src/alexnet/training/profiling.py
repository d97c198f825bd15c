"""What a run measures of itself: a JAX profiler trace of chosen steps, and peak memory.

The trace covers the steps ``train.profile_steps`` names.

Where to look at it: TensorBoard's profile plugin (``pip install tensorboard-plugin-profile``)
reads ``<workdir>/tensorboard/plugins/profile/<time>/*.xplane.pb``; ui.perfetto.dev opens
``perfetto_trace.json.gz`` beside it with nothing installed. Choose steps after the first,
whose call includes the compilation.
"""

from __future__ import annotations

import resource
from collections.abc import Callable
from pathlib import Path

import jax


class StepTrace:
  """A JAX profiler trace of the steps ``train.profile_steps`` names, written where
  TensorBoard's profile plugin looks (``<tensorboard dir>/plugins/profile/<time>/``), with a
  Perfetto trace beside it (``perfetto_trace.json.gz``, for ui.perfetto.dev).

  Every process traces its own devices. The trace stops after its last step has finished
  on the devices, or when the run stops before it.
  """

  def __init__(self, steps: tuple[int, int] | None, directory: Path, say: Callable[[str], None]):
    self.steps, self.directory, self.say = steps, directory, say
    self.tracing = False

  def before(self, step: int) -> None:
    """Called before step ``step`` (counted from 1) is computed."""
    if self.steps and step == self.steps[0]:
      jax.profiler.start_trace(str(self.directory), create_perfetto_trace=True)
      self.tracing = True

  def after(self, done: int, state) -> None:
    """Called once step ``done`` is dispatched; ``state`` is its result."""
    if self.tracing and done >= self.steps[1]:
      jax.block_until_ready(state)
      self._stop()
      self.say(f'profiled steps {self.steps[0]}–{done}: trace in '
               f'{self.directory / "plugins" / "profile"} (TensorBoard\'s profile tab, or '
               'perfetto_trace.json.gz in ui.perfetto.dev)')

  def _stop(self) -> None:
    jax.profiler.stop_trace()
    self.tracing = False

  def __enter__(self) -> StepTrace:
    return self

  def __exit__(self, *exc_info) -> None:
    if self.tracing:
      self._stop()


def device_memory_gib() -> float | None:
  """Peak memory of the first local device, or None where the backend does not report it."""
  stats = jax.local_devices()[0].memory_stats() or {}
  peak = stats.get('peak_bytes_in_use')
  return None if peak is None else peak / 2 ** 30


def host_memory_gib() -> float:
  """Peak resident memory of this process (Linux reports KiB)."""
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
