"""alexnet/run/records.py: the records of metrics.jsonl, their keys and TensorBoard tags."""

import pytest

from alexnet.run import records


@pytest.mark.parametrize('key, tag', [
    ('loss', 'train/loss'),
    ('train_top1_error', 'train/top1_error'),
    ('learning_rate', 'train/learning_rate'),
    ('eval_top1_error', 'eval/top1_error'),
    ('final_top5_error', 'final/top5_error'),
    ('final_centre_top1_error', 'final/centre_top1_error'),
    ('final_train_loss', 'final/train_loss'),
    ('epoch', None),
    ('eval_examples', None),
    ('final_crops', None),
    ('train_seconds', None),
])
def test_each_field_of_a_record_has_its_tensorboard_group_and_constants_none(key, tag):
  assert records.tensorboard_tag(key) == tag


def test_a_final_record_holds_each_pass_under_its_prefix_and_is_told_from_the_others():
  test = dict(top1_error=0.2, top5_error=0.05, loss=0.6, examples=100)
  centre = dict(top1_error=0.25, top5_error=0.06, loss=0.7, examples=100)
  final = records.final({records.FINAL: test, records.FINAL_CENTRE: centre}, crops=10,
                        train_seconds=12.5)
  assert final['final_top1_error'] == 0.2 and final['final_centre_loss'] == 0.7
  assert final[records.FINAL_CROPS] == 10 and final[records.TRAIN_SECONDS] == 12.5
  assert records.results_of(final, records.FINAL_CENTRE) == centre
  assert records.is_final(final) and not records.is_evaluation(final)
  evaluation = records.evaluation(records.EVALUATION, test)
  assert evaluation == dict(eval_top1_error=0.2, eval_top5_error=0.05, eval_loss=0.6,
                            eval_examples=100)
  assert records.is_evaluation(evaluation) and not records.is_final(evaluation)


def test_a_training_record_leaves_out_device_memory_where_the_device_does_not_report_it():
  fields = dict(epoch=0.5, loss=2.3, top1_error=0.9, grad_norm=1.5, learning_rate=0.01,
                images_per_second=100.0, host_memory_gib=1.0)
  assert 'device_memory_gib' not in records.training(**fields, device_memory_gib=None)
  logged = records.training(**fields, device_memory_gib=2.0)
  assert logged['device_memory_gib'] == 2.0 and logged[records.TRAINING_ERROR] == 0.9
  assert list(logged)[:3] == ['epoch', 'loss', 'train_top1_error']
