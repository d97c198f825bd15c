"""What each command shows a person: every flag in its --help, nothing before its own output,
and TensorBoard logs that TensorBoard's own reader understands."""

import os
import re
import subprocess
import sys

import pytest

from tiny_run import NUM_TEST, ROOT
from xla_flags import cpu_devices

pytestmark = pytest.mark.integration

_RUN_FLAGS = ('--workdir', '--checkpoint')
COMMANDS = {
    '-m alexnet.main': ('--config', '--workdir', '--coordinator_address', '--num_processes',
                        '--process_id'),
    '-m alexnet.evaluate': (*_RUN_FLAGS, '--split', '--crops'),
    '-m alexnet.predict': (*_RUN_FLAGS, '--crops'),
    '-m alexnet.export': (*_RUN_FLAGS, '--output'),
    '-m alexnet.summary': ('--config',),
    'experiments/figures.py': (*_RUN_FLAGS, '--figure', '--out'),
    'experiments/ablations.py': ('--config', '--seeds', '--variants', '--out', '--workdirs'),
    'experiments/study.py': ('--regimes', '--out', '--workdirs'),
    'experiments/lrn_diagnostic.py': ('--workdirs', '--images', '--out'),
}


def command(program: str, *args: str, **kwargs) -> subprocess.CompletedProcess:
  env = {**os.environ, **cpu_devices(1)}
  return subprocess.run([sys.executable, *program.split(), *args], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=600, **kwargs)


@pytest.mark.parametrize('program', COMMANDS)
def test_help_lists_every_flag_of_the_command_and_nothing_comes_before_it(program):
  result = command(program, '--help')  # absl's --help exits with status 1
  assert '\nflags:\n' in result.stdout, result.stderr[-2000:]
  listed = result.stdout.split('\nflags:\n', 1)[1].split('Try --helpfull')[0]
  for flag in COMMANDS[program]:
    assert f'  {flag}:' in listed, f'{program} --help does not list {flag}:\n{result.stdout}'
  assert len(listed.splitlines()) < 40  # the command's own flags, not absl's or JAX's
  assert result.stderr == ''  # no TensorFlow or XLA start-up lines


def test_a_tool_prints_its_result_and_nothing_else(tiny_run):
  result = command('-m alexnet.evaluate', f'--workdir={tiny_run}', '--crops=1')
  assert result.returncode == 0, result.stderr[-2000:]
  assert result.stderr == ''
  assert result.stdout.splitlines() == [
      line for line in result.stdout.splitlines() if line.startswith(str(tiny_run))
  ]
  assert f'test ({NUM_TEST} images, 1 crop)' in result.stdout


def test_the_summary_prints_its_table_first():
  result = command('-m alexnet.summary', '--config', 'configs/imagenet_paper.py')
  assert result.returncode == 0, result.stderr[-2000:]
  assert result.stdout.startswith('layer ') and result.stderr == ''


def test_tensorboard_finds_the_runs_numbers_grouped_and_no_constants(tiny_run):
  from tensorboard.backend.event_processing import event_accumulator

  import alexnet.data.tensorflow_import  # noqa: F401 - TensorBoard's reader imports TensorFlow

  events = event_accumulator.EventAccumulator(str(tiny_run / 'tensorboard'))
  events.Reload()
  scalars = set(events.Tags()['scalars'])
  assert {
      'train/loss', 'train/top1_error', 'train/learning_rate', 'train/images_per_second',
      'train/grad_norm', 'train/host_memory_gib', 'eval/top1_error', 'eval/top5_error', 'eval/loss',
      'final/top1_error', 'final/top5_error', 'final/loss'
  } <= scalars
  assert all(tag.split('/')[0] in ('train', 'eval', 'final') for tag in scalars)
  assert not scalars & {'eval/examples', 'final/examples', 'final/crops', 'train/epoch'}
  assert [event.step for event in events.Scalars('eval/top1_error')] == [8]
  assert 'config/text_summary' in events.Tags()['tensors']


@pytest.mark.parametrize(
    'program, file_text, message', [
        ('-m alexnet.main', None, r'the config file \S*mine.py \(--config\) does not exist\.$'),
        ('-m alexnet.main', 'def get_config(:\n',
         r'the config file \S*mine.py is not valid Python: line 1: invalid syntax'),
        ('-m alexnet.summary', 'def get_config():\n  return {}["model"]\n',
         r"cannot be loaded: KeyError at \S*mine.py:2: 'model'"),
        ('experiments/ablations.py', 'def get_config():\n  raise ValueError("no such variant")\n',
         r'of base seed 0 cannot be built: the config file cannot be loaded: ValueError at '
         r'\S*mine.py:2: no such variant\.$'),
    ], ids=['missing', 'syntax-error', 'get-config-raises', 'get-config-raises-in-a-study'])
def test_a_config_file_that_cannot_be_loaded_is_one_line_naming_it(tmp_path, program, file_text,
                                                                   message):
  config_file = tmp_path / 'mine.py'
  if file_text is not None:
    config_file.write_text(file_text)
  where = {
      '-m alexnet.main': f'--workdir={tmp_path / "run"}', '-m alexnet.summary': '--config.seed=1',
      'experiments/ablations.py': f'--out={tmp_path / "run"}'
  }[program]
  result = command(program, f'--config={config_file}', where)
  assert result.returncode == 2, result.stderr[-2000:]
  said = [line for line in result.stderr.splitlines() if line.startswith('error: ')]
  assert len(said) == 1 and re.search(message, said[0]), result.stderr[-2000:]
  assert 'Traceback' not in result.stderr and not (tmp_path / 'run').exists()
