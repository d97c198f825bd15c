"""alexnet/run/checkpoint.py and checkpoint_files.py: saves that verify, restore onto any
mesh, and damage set aside.

Tiny states saved and restored in this process: no trainer, no dataset, no subprocess.
"""

import json
import os
import re
from pathlib import Path

import jax
import numpy as np
import pytest

from alexnet.config import ModelConfig, OptimConfig
from alexnet.model import parallel
from alexnet.run import checkpoint, checkpoint_files, records
from alexnet.run.workdir import Workdir
from alexnet.training import optim, steps

# Each test initialises (and one trains) a network on the CPU's meshes: tens of seconds each.
pytestmark = pytest.mark.integration


def tiny_state(mesh_shape):
  data, model = mesh_shape
  net = parallel.ShardedAlexNet(ModelConfig(num_classes=10, width=1 / 16, image_size=35),
                                parallel.make_mesh(data, model,
                                                   jax.devices()[:data * model]))
  tx = optim.make_optimizer(OptimConfig())
  return net, tx


def test_a_checkpoint_saved_on_one_mesh_restores_on_others(tmp_path):
  net, tx = tiny_state((1, 2))
  state = steps.create_train_state(net, tx, seed=3)
  batch = dict(image=jax.random.normal(jax.random.key(0), (8, 35, 35, 3)), label=np.arange(8) % 10)
  state, _ = steps.make_train_step(net, tx)(state, batch, 0.01)
  saved = checkpoint.Checkpoints.open(Workdir(tmp_path), keep=2)
  saved.save(1, state, {'plateau': {}})
  saved.wait()
  expected = jax.device_get(state)
  for shape in [(1, 1), (4, 2), (8, 1)]:
    other_net, other_tx = tiny_state(shape)
    restored, progress = checkpoint.Checkpoints.open(Workdir(tmp_path), keep=2).restore(
        steps.abstract_train_state(other_net, other_tx))
    assert progress == {'plateau': {}}
    kernel = restored.params['conv2']['kernel']
    assert kernel.sharding.mesh.shape == dict(zip(('data', 'model'), shape))
    jax.tree.map(np.testing.assert_array_equal, jax.device_get(restored), expected)


def saved_at_steps_4_and_8(workdir: Path):
  """Checkpoints of a tiny state at steps 4 and 8 (progress {'step': s}, top-1 errors 0.5 and
  0.4) in ``workdir``; returns the net and optimizer that restore them."""
  net, tx = tiny_state((1, 1))
  state = steps.create_train_state(net, tx, seed=0)
  ckpt = checkpoint.Checkpoints.open(Workdir(workdir), keep=3)
  for step, error in ((4, 0.5), (8, 0.4)):
    ckpt.save(step, state.replace(step=np.int32(step)), {'step': step},
              metrics={records.RANKING_FIELD: error})
  ckpt.wait()
  ckpt.close()
  return net, tx


def test_a_damaged_latest_checkpoint_is_set_aside_and_the_previous_one_used(tmp_path, caplog):
  net, tx = saved_at_steps_4_and_8(tmp_path)
  for path in (tmp_path / 'checkpoints' / '8').rglob('*'):
    if path.is_file() and path.stat().st_size > 64:
      os.truncate(path, path.stat().st_size // 2)
  # A save cut short leaves a temporary directory, which is never read.
  (tmp_path / 'checkpoints' / '12.orbax-checkpoint-tmp-1').mkdir()
  restored, progress = checkpoint.Checkpoints.open(Workdir(tmp_path), keep=3).restore(
      steps.abstract_train_state(net, tx))
  assert progress == {'step': 4} and int(restored.step) == 4
  assert (tmp_path / 'damaged_checkpoints' / '8').is_dir()
  assert 'checkpoint at step 8 cannot be used' in caplog.text


def test_a_checkpoint_of_another_network_is_refused_with_the_differing_shapes(tmp_path):
  net, tx = tiny_state((1, 1))
  ckpt = checkpoint.Checkpoints.open(Workdir(tmp_path), keep=3)
  ckpt.save(1, steps.create_train_state(net, tx, seed=0), {})
  ckpt.wait()
  wider = parallel.ShardedAlexNet(ModelConfig(num_classes=10, width=1 / 8, image_size=35),
                                  parallel.make_mesh(1, 1,
                                                     jax.devices()[:1]))
  with pytest.raises(checkpoint.IncompatibleCheckpointError, match='params/conv1/kernel'):
    checkpoint.Checkpoints.open(Workdir(tmp_path),
                                keep=3).restore(steps.abstract_train_state(wider, tx))
  assert (tmp_path / 'checkpoints' / '1').is_dir()  # refused, not set aside


def test_every_checkpoint_carries_the_checksums_of_all_its_files_and_verifies(tmp_path):
  _net, _tx = saved_at_steps_4_and_8(tmp_path)
  for step in (4, 8):
    directory = tmp_path / 'checkpoints' / str(step)
    listed = json.loads((directory / checkpoint_files.CHECKSUMS_FILE).read_text())
    items = {
        str(p.relative_to(directory)) for item in ('state', 'progress', 'metrics')
        for p in (directory / item).rglob('*') if p.is_file()
    }
    assert set(listed) == items and len(items) > 3 and 'metrics/metrics' in items
    assert checkpoint_files.verify(directory) == ''


def test_a_flipped_byte_in_a_checkpoint_is_detected_and_the_checkpoint_before_used(
    tmp_path, caplog):
  net, tx = saved_at_steps_4_and_8(tmp_path)
  arrays = max((p for p in (tmp_path / 'checkpoints' / '8' / 'state').rglob('*') if p.is_file()),
               key=lambda p: p.stat().st_size)
  content = bytearray(arrays.read_bytes())
  content[len(content) // 2] ^= 0x01  # one bit of one byte
  arrays.write_bytes(bytes(content))
  assert 'differ from the checksums' in checkpoint_files.verify(tmp_path / 'checkpoints' / '8')
  with pytest.raises(checkpoint.DamagedCheckpointError, match=r'step 8 .* is damaged'):
    checkpoint.Checkpoints.open(Workdir(tmp_path),
                                keep=3).restore(steps.abstract_train_state(net, tx),
                                                step=8)  # asked for by number: refused
  restored, progress = checkpoint.Checkpoints.open(Workdir(tmp_path), keep=3).restore(
      steps.abstract_train_state(net, tx))
  assert progress == {'step': 4} and int(restored.step) == 4
  assert (tmp_path / 'damaged_checkpoints' / '8').is_dir()
  assert re.search(
      r'checkpoint at step 8 cannot be used \(1 of its files differ from the '
      r'checksums written when it was saved', caplog.text)


@pytest.mark.parametrize('damage', [b'{"top1_error": 0.1}', b'\x00garbage'],
                         ids=['a-changed-digit', 'garbage'])
def test_damaged_metrics_read_before_any_verification_make_a_damaged_checkpoint(
    tmp_path, caplog, damage):
  net, tx = saved_at_steps_4_and_8(tmp_path)
  (tmp_path / 'checkpoints' / '8' / 'metrics' / 'metrics').write_bytes(damage)
  reader = checkpoint.CheckpointReader(Workdir(tmp_path))  # a tool: reads, moves nothing
  assert reader.best_step() == 4 and 'checkpoint at step 8 is not ranked' in caplog.text
  with pytest.raises(checkpoint.DamagedCheckpointError, match=r'step 8 .* is damaged'):
    reader.restore(steps.abstract_train_state(net, tx), 8)
  assert Workdir(tmp_path).checkpoint_steps() == [4, 8]
  restored, progress = checkpoint.Checkpoints.open(Workdir(tmp_path), keep=3).restore(
      steps.abstract_train_state(net, tx))  # the trainer: sets it aside, uses the one before
  assert progress == {'step': 4} and int(restored.step) == 4
  assert (tmp_path / 'damaged_checkpoints' / '8').is_dir()
