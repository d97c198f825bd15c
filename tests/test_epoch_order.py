"""The order the training examples are read in: one permutation per epoch, from the seed alone.

A resumed run must read from its checkpoint's step on exactly what an uninterrupted run
reads, on any numpy and any number of processes; test_data.py checks the batches of a
prepared dataset against these orders (integration).
"""

import threading

import numpy as np

from alexnet.data.epoch_order import EpochOrder, epoch_permutation


def test_every_epoch_visits_every_example_once_in_a_new_order():
  orders = [epoch_permutation(0, epoch, 1000) for epoch in range(3)]
  for order in orders:
    np.testing.assert_array_equal(np.sort(order), np.arange(1000))
  assert not np.array_equal(orders[0], orders[1])


def test_an_epochs_order_is_fixed_by_the_seed_and_the_epoch_on_any_numpy():
  """Pinned values: a change here reorders the data of every run resumed across it."""
  assert epoch_permutation(0, 0, 10).tolist() == [0, 2, 9, 1, 8, 5, 4, 3, 6, 7]
  assert epoch_permutation(3, 1, 10).tolist() == [9, 7, 8, 3, 5, 6, 4, 0, 2, 1]
  assert not np.array_equal(epoch_permutation(1, 0, 10), epoch_permutation(0, 0, 10))


def test_stream_positions_map_into_each_epochs_own_order_across_epoch_ends():
  order = EpochOrder(seed=7, num_examples=10)
  expected = np.concatenate([epoch_permutation(7, epoch, 10) for epoch in range(3)])
  np.testing.assert_array_equal(order.indices(np.arange(25)), expected[:25])
  positions = np.array([23, 4, 17, 9, 10])  # any positions, in any order
  np.testing.assert_array_equal(order.indices(positions), expected[positions])


def test_an_epoch_read_again_after_later_ones_gets_the_same_order():
  """Only the latest epochs' orders are kept; an older one is computed again, identically."""
  order = EpochOrder(seed=2, num_examples=8)
  first = order.indices(np.arange(8))
  for epoch in range(1, 6):
    order.indices(np.arange(8) + 8 * epoch)
  np.testing.assert_array_equal(order.indices(np.arange(8)), first)


def test_reader_threads_asking_at_once_get_the_orders_of_a_single_reader():
  """tf.data calls it from several threads."""
  positions = np.arange(0, 4000, 7)
  expected = EpochOrder(seed=5, num_examples=100).indices(positions)
  shared = EpochOrder(seed=5, num_examples=100)
  results = [None] * 8

  def read(i):
    results[i] = shared.indices(np.roll(positions, 31 * i))

  threads = [threading.Thread(target=read, args=(i,)) for i in range(8)]
  for thread in threads:
    thread.start()
  for thread in threads:
    thread.join()
  for i, result in enumerate(results):
    np.testing.assert_array_equal(result, np.roll(expected, 31 * i))
