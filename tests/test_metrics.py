"""alexnet/training/metrics.py and the records it writes: metrics.jsonl and TensorBoard.

Written and read back in this process, as a run and a resumed run write them; the records of
real runs are checked in test_trainer.py and test_lifecycle.py (integration).
"""

import errno
import json
import struct

import pytest
from tensorboardX.proto import event_pb2

from alexnet import errors
from alexnet.run.workdir import Workdir
from alexnet.training import metrics


def scalars(workdir: Workdir) -> dict[str, list[tuple[int, float]]]:
  """{tag: [(step, value)]} of the TensorBoard event files under ``workdir``, read from their
  TFRecord framing (length, its CRC, the event, its CRC) without TensorFlow."""
  found = {}
  for path in sorted(workdir.tensorboard_dir.rglob('events.out.tfevents.*')):
    content, offset = path.read_bytes(), 0
    while offset < len(content):
      length, = struct.unpack('<Q', content[offset:offset + 8])
      event = event_pb2.Event.FromString(content[offset + 12:offset + 12 + length])
      offset += 16 + length
      for value in event.summary.value:
        found.setdefault(value.tag, []).append((event.step, value.simple_value))
  return found


def writer(workdir: Workdir, start_step: int = 0, enabled: bool = True) -> metrics.MetricsWriter:
  return metrics.MetricsWriter.open(workdir, start_step=start_step, total_steps=10, enabled=enabled)


def test_each_record_is_one_json_line_and_its_scalars_go_to_tensorboard(tmp_path):
  workdir = Workdir(tmp_path)
  sink = writer(workdir)
  sink.write(1, {'loss': 2.5, 'learning_rate': 0.01, 'epoch': 0.1})
  sink.write(2, {'loss': float('nan'), 'eval_top1_error': 0.5, 'eval_examples': 40})
  sink.close()
  records = workdir.read_metrics()
  assert [r['step'] for r in records] == [1, 2] and all(r['time'] > 0 for r in records)
  assert records[0]['epoch'] == 0.1 and records[1]['eval_examples'] == 40
  assert records[1]['loss'] == 'nan'  # JSON has no NaN: the text, which the file can hold
  found = scalars(workdir)
  assert set(found) == {'train/loss', 'train/learning_rate', 'eval/top1_error'}
  assert found['eval/top1_error'] == [(2, 0.5)] and found['train/loss'][0] == (1, 2.5)


def test_a_writer_on_any_process_but_the_first_writes_nothing(tmp_path):
  sink = writer(Workdir(tmp_path), enabled=False)
  sink.write(1, {'loss': 1.0})
  sink.write_text('config', 'text', 1)
  sink.close()
  assert list(tmp_path.iterdir()) == []


def test_a_resumed_run_drops_the_records_after_its_checkpoint(tmp_path):
  """Those steps are computed again, identically: each step is then recorded once."""
  workdir = Workdir(tmp_path)
  first = writer(workdir)
  for step in range(1, 7):
    first.write(step, {'loss': 1.0 / step})
  first.close()
  resumed = writer(workdir, start_step=4)  # the checkpoint was at step 4
  assert [r['step'] for r in workdir.read_metrics()] == [1, 2, 3, 4]
  resumed.write(5, {'loss': 0.2})
  resumed.close()
  assert [r['step'] for r in workdir.read_metrics()] == [1, 2, 3, 4, 5]


def test_a_damaged_line_is_left_out_on_resume_and_the_file_as_it_was_kept(tmp_path, capsys):
  workdir = Workdir(tmp_path)
  lines = [json.dumps({'step': step, 'loss': 1.0}) + '\n' for step in (1, 2, 3)]
  lines[1] = lines[1][:10] + '\n'
  workdir.metrics_file.write_text(''.join(lines))
  writer(workdir, start_step=3).close()
  assert [r['step'] for r in workdir.read_metrics()] == [1, 3]
  assert (tmp_path / 'metrics.jsonl.damaged').read_text() == ''.join(lines)
  assert 'metrics.jsonl:2 is not a JSON record' in capsys.readouterr().out


class FullDisk:
  """A path whose device is full."""

  parent = '/runs/full'

  def open(self, mode):
    raise OSError(errno.ENOSPC, 'No space left on device', '/runs/full/metrics.jsonl')


def test_a_full_disk_while_writing_a_record_names_the_directory_and_the_step(tmp_path):
  sink = writer(Workdir(tmp_path))
  sink.path = FullDisk()
  with pytest.raises(errors.DiskFullError, match=r'device of /runs/full while writing the logs '
                     r'of step 7;') as raised:
    sink.write(7, {'loss': 1.0})
  assert errors.exit_status(raised.value) == errors.FAILURE_STATUS
  sink.close()


def test_a_metrics_line_cut_short_by_a_kill_or_a_full_disk_is_left_out_and_others_kept(tmp_path):
  run = Workdir(tmp_path)
  whole = [json.dumps({'step': step, 'loss': 1.0 / step}) for step in (1, 2)]
  run.metrics_file.write_text('\n'.join(whole) + '\n{"step": 3, "lo')
  assert [r['step'] for r in run.read_metrics()] == [1, 2]
  run.metrics_file.write_text('{"step": 1, "lo\n' + whole[1] + '\n')
  with pytest.raises(ValueError, match=r'metrics.jsonl:1 is not a JSON record'):
    run.read_metrics()


def test_the_final_record_is_the_latest_final_test_or_the_one_at_the_step_asked(tmp_path):
  run = Workdir(tmp_path)
  assert run.final_record() is None
  records = [{'step': 8, 'loss': 1.0}, {'step': 8, 'final_top1_error': 0.5},
             {'step': 12, 'final_top1_error': 0.4}]
  run.metrics_file.write_text(''.join(json.dumps(r) + '\n' for r in records))
  assert run.final_record()['final_top1_error'] == 0.4
  assert run.final_record(step=8)['final_top1_error'] == 0.5 and run.final_record(step=9) is None
