"""alexnet/config.py: the allowed-value sets it owns, each acted on by the module that uses it."""

import numpy as np
import pytest

from alexnet import config
from alexnet.data import views
from alexnet.model import network
from alexnet.training import optim


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
