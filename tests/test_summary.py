"""The model summary command, run as a user runs it."""

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[1]


def summary(*args: str) -> str:
  result = subprocess.run([sys.executable, '-m', 'alexnet.summary', *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
  assert result.returncode == 0, result.stderr
  return result.stdout


def row(table: str, name: str) -> str:
  return next(line for line in table.splitlines() if line.split()[:1] == [name])


def test_paper_summary_shows_the_papers_shapes_placement_exchanges_and_total():
  table = summary('--config', 'configs/imagenet_paper.py')
  assert row(table, 'total').split()[-1] == '60,965,224'
  assert '55×55×96' in row(table, 'conv1') and '6×6×256' in row(table, 'pool5')
  assert 'tower 1 → device 0, tower 2 → device 1' in row(table, 'conv2')
  assert 'replicated' in row(table, 'fc8')
  exchanged = [
      name for name in ('conv1', 'conv2', 'conv3', 'conv4', 'conv5', 'fc6', 'fc7', 'fc8')
      if 'exchange' in row(table, name)
  ]
  assert exchanged == ['conv3', 'fc6', 'fc7', 'fc8']


def test_summary_follows_command_line_overrides():
  table = summary('--config', 'configs/imagenet_paper.py', '--config.model.towers=1',
                  '--config.mesh.model=1')
  assert row(table, 'total').split()[-1] == '59,798,312'
  assert 'exchange' not in table
