"""Which examples a step reads: the order of each epoch, and the rows of a batch each process reads.

The order of an epoch is a permutation of example indices computed from (seed, epoch)
alone, and step k's global batch is positions [kB, (k+1)B) of the endless stream of
epochs; each process reads its own contiguous rows of it. So a batch depends on (seed,
step) only, not on the number of processes, and a run can start at any step in O(1).
"""

from __future__ import annotations

import threading

import jax
import numpy as np


def epoch_permutation(seed: int, epoch: int, num_examples: int) -> np.ndarray:
  """The order of one epoch, from (seed, epoch) alone.

  Sorting the raw output of a keyed Philox counter (not ``Generator.permutation``, whose
  algorithm numpy may change) keeps the order identical across numpy versions.
  """
  keys = np.random.Philox(key=[seed, epoch]).random_raw(num_examples)
  return np.argsort(keys, kind='stable')


class EpochOrder:
  """Maps global stream positions to example indices; caches the last epochs' orders.

  Called from tf.data's reader threads, hence the lock.
  """

  def __init__(self, seed: int, num_examples: int):
    self._seed, self._n, self._cache = seed, num_examples, {}
    self._lock = threading.Lock()

  def _order(self, epoch: int) -> np.ndarray:
    with self._lock:
      if epoch not in self._cache:
        if len(self._cache) >= 3:
          del self._cache[min(self._cache)]
        self._cache[epoch] = epoch_permutation(self._seed, epoch, self._n)
      return self._cache[epoch]

  def indices(self, positions: np.ndarray) -> np.ndarray:
    epochs, offsets = np.divmod(positions, self._n)
    out = np.empty_like(positions)
    for epoch in np.unique(epochs):
      where = epochs == epoch
      out[where] = self._order(int(epoch))[offsets[where]]
    return out


def local_rows(global_batch_size: int, process_index: int | None,
               process_count: int | None) -> range:
  """The rows of a global batch that one process (by default this JAX process) reads."""
  process_index = jax.process_index() if process_index is None else process_index
  process_count = jax.process_count() if process_count is None else process_count
  if global_batch_size % process_count:
    raise ValueError(f'global_batch_size {global_batch_size} is not a multiple of '
                     f'process_count {process_count}.')
  if not 0 <= process_index < process_count:
    raise ValueError(f'process_index {process_index} outside [0, {process_count}).')
  local = global_batch_size // process_count
  return range(process_index * local, (process_index + 1) * local)
