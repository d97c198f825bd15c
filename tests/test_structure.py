"""Rules of the code's structure that a change could break without any other test noticing."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_TENSORFLOW = ('tensorflow', 'tensorflow_datasets')


def _imported_modules(tree: ast.AST) -> list[tuple[int, str]]:
  """(line, module) of every import in a file, wherever it is (functions too), in order."""
  found = []
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      found += [(node.lineno, alias.name) for alias in node.names]
    elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
      found.append((node.lineno, node.module))
  return sorted(found)


def _python_files() -> list[Path]:
  return sorted(path for folder in ('src', 'tests', 'experiments', 'benchmarks')
                for path in (ROOT / folder).rglob('*.py'))


@pytest.mark.parametrize('path', _python_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_tensorflow_is_imported_only_after_the_settings_of_alexnet_tf_process(path):
  if path == ROOT / 'src' / 'alexnet' / 'tf_process.py':
    return
  imports = _imported_modules(ast.parse(path.read_text()))
  first_tf = next((line for line, module in imports if module.split('.')[0] in _TENSORFLOW),
                  None)
  if first_tf is None:
    return
  settings = [line for line, module in imports if module == 'alexnet.tf_process']
  assert settings and settings[0] < first_tf, (
      f'{path.relative_to(ROOT)}:{first_tf} imports TensorFlow before alexnet.tf_process, whose '
      'settings (log level, no GPU for TensorFlow) must come first')


def test_the_tools_do_not_import_the_training_loop():
  """Nor its logging (tensorboardX); tqdm is not asked about, as TFDS imports it too."""
  modules = ['alexnet.evaluate', 'alexnet.predict', 'alexnet.export', 'alexnet.runs',
             'alexnet.summary']
  loaded = subprocess.run(
      [sys.executable, '-c', f'import sys; import {", ".join(modules)}; '
       "print(' '.join(m for m in ('alexnet.trainer', 'alexnet.metrics', 'tensorboardX') "
       'if m in sys.modules))'],
      cwd=ROOT, capture_output=True, text=True, timeout=300, check=True).stdout.split()
  assert loaded == []
