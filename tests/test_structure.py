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
def test_tensorflow_is_imported_only_after_the_settings_of_alexnet_tensorflow_import(path):
  if path == ROOT / 'src' / 'alexnet' / 'data' / 'tensorflow_import.py':
    return
  imports = _imported_modules(ast.parse(path.read_text()))
  first_tf = next((line for line, module in imports if module.split('.')[0] in _TENSORFLOW), None)
  if first_tf is None:
    return
  settings = [line for line, module in imports if module == 'alexnet.data.tensorflow_import']
  assert settings and settings[0] < first_tf, (
      f'{path.relative_to(ROOT)}:{first_tf} imports TensorFlow before '
      'alexnet.data.tensorflow_import, whose settings (log level, no GPU for TensorFlow) must '
      'come first')


def _loaded_by_importing(modules, watched) -> list[str]:
  """Those of ``watched`` that a fresh Python has loaded once it has imported ``modules``
  (the experiments' scripts importable by name, as they are when run)."""
  code = (f'import sys; sys.path.insert(0, "experiments"); import {", ".join(modules)}; '
          f'print(" ".join(m for m in {tuple(watched)!r} if m in sys.modules))')
  return subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True,
                        timeout=300, check=True).stdout.split()


@pytest.mark.integration
def test_the_tools_do_not_import_the_training_loop():
  """Nor its logging (tensorboardX); tqdm is not asked about, as TFDS imports it too."""
  modules = [
      'alexnet.evaluate', 'alexnet.predict', 'alexnet.export', 'alexnet.trained_run',
      'alexnet.summary'
  ]
  watched = ('alexnet.training.trainer', 'alexnet.training.metrics', 'tensorboardX')
  assert _loaded_by_importing(modules, watched) == []


@pytest.mark.integration
def test_the_commands_load_tensorflow_only_in_their_main():
  """So that --help and a wrong flag or config field are answered in a second, not after the
  seconds TensorFlow takes to import. (alexnet.main and alexnet.summary both define
  --config when imported: one process each.)"""
  for commands in [('alexnet.main', 'alexnet.evaluate', 'alexnet.predict', 'alexnet.export',
                    'figures', 'ablations', 'study', 'lrn_diagnostic'), ('alexnet.summary',)]:
    assert _loaded_by_importing(commands, ('tensorflow',)) == [], commands


PACKAGE = ROOT / 'src' / 'alexnet'


def _module_name(path: Path) -> str:
  parts = path.relative_to(PACKAGE.parent).with_suffix('').parts
  return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


def _package_modules() -> dict[str, Path]:
  return {_module_name(path): path for path in sorted(PACKAGE.rglob('*.py'))}


def _package_imports(path: Path, modules: dict[str, Path]) -> set[str]:
  """The package's modules that ``path`` imports anywhere: at the top, in a function, under
  ``TYPE_CHECKING``; ``from alexnet import x`` counts as importing ``alexnet.x``."""
  found = set()
  for node in ast.walk(ast.parse(path.read_text())):
    if isinstance(node, ast.Import):
      found |= {alias.name for alias in node.names}
    elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
      found.add(node.module)
      found |= {f'{node.module}.{alias.name}' for alias in node.names}
  return {name for name in found if name in modules and name != 'alexnet'}


def _import_graph() -> dict[str, set[str]]:
  modules = _package_modules()
  return {name: _package_imports(path, modules) - {name} for name, path in modules.items()}


def test_no_module_imports_itself_back_through_others():
  graph = _import_graph()
  for start in graph:
    seen = set()
    stack = [(start, [start])]
    while stack:
      module, path = stack.pop()
      for imported in graph[module]:
        assert imported != start, f'import cycle: {" → ".join([*path, start])}'
        if imported not in seen:
          seen.add(imported)
          stack.append((imported, [*path, imported]))


def test_errors_is_a_leaf_and_the_config_rests_on_it_alone():
  graph = _import_graph()
  assert graph['alexnet.errors'] == set()
  assert graph['alexnet.config'] == {'alexnet.errors'}


@pytest.mark.integration
def test_loading_every_config_file_imports_no_jax():
  """A config is data: reading one (a tool that lists runs, a SLURM script) needs no JAX."""
  files = sorted(str(p) for p in (ROOT / 'configs').rglob('*.py'))
  loads = ('import runpy, sys\n'
           f'for path in {files!r}:\n'
           "  runpy.run_path(path)['get_config']()\n"
           "print(' '.join(m for m in ('jax', 'flax', 'optax') if m in sys.modules))")
  loaded = subprocess.run([sys.executable, '-c', loads], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, check=True).stdout.split()
  assert loaded == []


def test_only_the_command_line_module_changes_process_wide_settings():
  """Log filters and exception hooks are the command's choice (alexnet.cli), not a side
  effect of importing a module."""
  for path in _package_modules().values():
    if path.name == 'cli.py':
      continue
    source = path.read_text()
    for setting in ('addFilter(', 'threading.excepthook', 'sys.unraisablehook'):
      assert setting not in source, f'{path.relative_to(ROOT)} sets {setting.rstrip("(")}'


# The package's layers, lowest first: a module imports only from its own layer and those
# below it. The commands and their shared glue sit on top.
LAYERS = (
    ('alexnet.errors', 'alexnet.config'),
    ('alexnet.model',),  # the network, its towers, the mesh and sharding, lowering
    ('alexnet.run',),  # a run's life: its workdir, checkpoints, stopping, the console
    ('alexnet.data',),  # preparation, the TFDS builders, the views, the tf.data pipeline
    ('alexnet.training',),  # the steps, the optimizer, the loop, its logs and profiles
    ('alexnet.cli', 'alexnet.tool_flags', 'alexnet.trained_run', 'alexnet.main', 'alexnet.evaluate',
     'alexnet.predict', 'alexnet.export', 'alexnet.summary'),
)


def _layer(module: str) -> int:
  return next(i for i, prefixes in enumerate(LAYERS)
              if any(module == p or module.startswith(p + '.') for p in prefixes))


def test_every_module_has_a_layer_and_imports_nothing_above_it():
  for module, imported in _import_graph().items():
    if module == 'alexnet':
      continue
    for other in imported:
      assert _layer(other) <= _layer(module), (
          f'{module} (layer {_layer(module)}) imports {other} (layer {_layer(other)}): lower '
          'layers never import higher ones')


def test_every_folder_of_the_package_is_a_package_an_install_finds():
  """Without __init__.py a folder imports from a checkout (a namespace package) but
  setuptools' find leaves it out of an installed wheel."""
  folders = {path.parent for path in PACKAGE.rglob('*.py')}
  assert sorted(
      str(f.relative_to(PACKAGE)) for f in folders if not (f / '__init__.py').exists()) == []
