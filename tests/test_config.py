"""alexnet/config.py: the allowed-value sets it owns, each acted on by the module that uses it,
and the checks of a command line and a config file, made in this process as the commands make
them (tests/test_trainer.py runs the trainer on two of them, to see it stop before any work)."""

import re
from pathlib import Path

import numpy as np
import pytest
from absl import flags
from ml_collections import config_flags

from alexnet import cli, config, errors
from alexnet.data import views
from alexnet.model import network
from alexnet.training import optim

# ml_collections loads config files with the deprecated load_module.
pytestmark = pytest.mark.filterwarnings('ignore:the load_module:DeprecationWarning')


def test_every_activation_and_initialisation_the_config_allows_is_one_the_network_has():
  assert tuple(network.ACTIVATION_FUNCTIONS) == config.ACTIVATIONS
  assert tuple(network.INIT_RULES) == config.INITS


@pytest.mark.parametrize('rule', config.UPDATE_RULES)
def test_every_update_rule_the_config_allows_builds_an_optimizer(rule):
  optimizer = optim.sgd(0.01, 0.9, 5e-4, update_rule=rule, decay_mask=None)
  params = {'w': np.ones(3, np.float32)}
  updates, _ = optimizer.update(params, optimizer.init(params), params)
  assert np.all(np.asarray(updates['w']) < 0)


@pytest.mark.parametrize('schedule', config.SCHEDULES)
def test_every_schedule_the_config_allows_gives_a_rate_per_step(schedule):
  fields = config.OptimConfig(schedule=schedule, learning_rate=0.01, warmup_epochs=1.0)
  rates = optim.base_rates(fields, steps_per_epoch=10, total_steps=50)
  assert rates.shape == (50,) and rates[0] == 0 and 0 < rates.max() <= 0.01


@pytest.mark.parametrize('convention', config.PCA_CONVENTIONS)
def test_every_pca_convention_the_config_allows_shifts_colours(convention):
  shifts = views.pca_shifts(np.full((2, 3), 0.1, np.float32), views.IMAGENET_EIGENVALUES,
                            views.IMAGENET_EIGENVECTORS, convention)
  assert shifts.shape == (2, 3) and np.all(np.isfinite(shifts))


@pytest.mark.parametrize('field, value', [('activation', 'sigmoid'), ('init', 'xavier')])
def test_a_value_outside_the_configs_set_is_refused_naming_the_set(field, value):
  with pytest.raises(config.ConfigError, match=f'model.{field}=.*must be'):
    config.ModelConfig(**{field: value})


ROOT = Path(__file__).resolve().parents[1]
SMOKE = f'--config={ROOT / "configs" / "fashion_mnist.py"}:smoke'


def checked(*args: str) -> config.RunConfig:
  """The config ``python -m alexnet.main ARGS`` would train, checked as it is checked there:
  the flags parsed by :func:`cli.parse_config_flags` (in cli.parse_flags), the config validated
  (by the trainer, before it touches the workdir or the data)."""
  argv = ['alexnet.main', *args]
  flag_values = flags.FlagValues()  # main.py's --config, in flags of this test's own
  config_flags.DEFINE_config_file('config', None, flag_values=flag_values, lock_config=True,
                                  sys_argv=argv)
  cli.parse_config_flags(flag_values, argv)
  return config.validate(flag_values.config)


def said(error: Exception) -> str:
  """The line a command prints for ``error``: one line, with the usage status."""
  assert errors.exit_status(error) == errors.USAGE_STATUS, repr(error)
  line = errors.one_line(error)
  assert '\n' not in line and line.startswith('error: ')
  return line


def test_the_smoke_config_and_its_overrides_pass_the_checks():
  run = checked(SMOKE, '--config.optim.learning_rate=0.02', '--config.model.lrn=False')
  assert run.optim.learning_rate == 0.02 and run.model.lrn is False


@pytest.mark.parametrize('override, message', [
    ('--config.model.lrn_n=5', r'config field model.lrn_n .* does not exist'),
    ('--config.sed=1', r'config field sed .* does not exist.*did you mean seed'),
    ('--config.mesh.modle=1', r'config field mesh.modle .*did you mean mesh.model'),
    ('--config.data.flipp=False', r'config field data.flipp .*did you mean data.flip\?'),
    ('--config.optim.learning_rte=0.1', r'did you mean optim.learning_rate\?'),
    ('--config.train.checkpoint_every_step=9', r'did you mean train.checkpoint_every_steps\?'),
    ('--config.optim.schedule=linear', r"optim.schedule='linear' .* plateau or step"),
    ('--config.optim.learning_rate=-0.1', r'optim.learning_rate=-0.1 is not allowed'),
    ('--config.data.eval_crops=5', r'data.eval_crops=5 .* 1 or 10'),
    ('--config.train.num_steps=0', r'train.num_steps=0 .* positive number of steps, or -1 to '
     'train train.num_epochs'),
])
def test_a_wrong_override_is_one_line_naming_the_field_or_the_nearest_one(override, message):
  with pytest.raises(errors.UsageError) as raised:
    checked(SMOKE, override)
  assert re.search(message, said(raised.value))


def test_a_value_of_the_wrong_type_on_the_command_line_is_refused_by_the_flag_parser():
  """absl's error, which cli.parse_flags prints as one line with the usage status."""
  with pytest.raises(flags.Error, match=r'could not convert string to float'):
    checked(SMOKE, '--config.optim.learning_rate=fast')


@pytest.mark.parametrize('line, message', [
    ('config.optim.learning_rte = 0.1', r'optim.learning_rte does not exist'),
    ('config.train.checkpoint_every_step = 10', r'did you mean train.checkpoint_every_steps'),
    ('config.data.flipp = False', r'data.flipp does not exist \(did you mean data.flip\?\)'),
    ('config.seeed = 3', r'config field seeed does not exist'),
    ('config.model.lrn_sizes = 7', r'did you mean model.lrn_size\?'),
    ('config.mesh.modle = 1', r'did you mean mesh.model\?'),
    ('config.train.batch_size = "128"', r"Could not override field 'batch_size'"),
])
def test_a_typo_in_a_config_file_is_one_line_naming_the_nearest_field(tmp_path, line, message):
  config_file = tmp_path / 'mine.py'
  config_file.write_text('import runpy\n'
                         f'_BASE = runpy.run_path({str(ROOT / "configs" / "fashion_mnist.py")!r})\n'
                         'def get_config():\n'
                         '  config = _BASE["get_config"]("smoke")\n'
                         f'  {line}\n'
                         '  return config\n')
  with pytest.raises(errors.UsageError) as raised:
    checked(f'--config={config_file}')
  assert re.search(message, said(raised.value))
