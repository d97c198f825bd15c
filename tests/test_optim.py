"""§5's update rule and learning-rate rules, checked against hand-written versions."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from alexnet.config import OptimConfig
from alexnet.training import optim

SGD = dict(learning_rate=0.01, momentum=0.9, weight_decay=5e-4, weight_decay_on_biases=False)
# The learning rate of each step: it changes twice, as the paper's schedule does.
LEARNING_RATES = [0.01, 0.01, 0.01, 0.001, 0.001, 0.0001]


def random_params_and_grads(steps):
  keys = jax.random.split(jax.random.key(0), 2 + steps)
  params = {
      'conv1': {
          'kernel': jax.random.normal(keys[0], (3, 3, 2, 4)),
          'bias': jax.random.normal(keys[1], (4,))
      }
  }
  grads = [jax.tree.map(lambda p, k=k: jax.random.normal(k, p.shape), params) for k in keys[2:]]
  return params, grads


def run_optimizer(config, params, grads, learning_rates):
  tx = optim.make_optimizer(OptimConfig(**config))
  state = tx.init(params)
  for g, lr in zip(grads, learning_rates):
    state.hyperparams['learning_rate'] = jnp.asarray(lr)
    updates, state = tx.update(g, state, params)
    params = optax.apply_updates(params, updates)
  return jax.tree.map(np.asarray, params)


def numpy_paper_rule(params, grads, learning_rates, decay_biases):
  """v ← 0.9·v − 0.0005·ε·w − ε·∂L/∂w ;  w ← w + v, written out for every array."""
  w = {name: np.asarray(value, np.float64) for name, value in params['conv1'].items()}
  v = {name: np.zeros_like(value) for name, value in w.items()}
  for g, lr in zip(grads, learning_rates):
    for name in w:
      decay = 0.0005 if (name == 'kernel' or decay_biases) else 0.0
      v[name] = 0.9 * v[name] - decay * lr * w[name] - lr * np.asarray(g['conv1'][name])
      w[name] = w[name] + v[name]
  return w


def numpy_usual_rule(params, grads, learning_rates):
  """v ← 0.9·v + ∂L/∂w + 0.0005·w ;  w ← w − ε·v (biases not decayed)."""
  w = {name: np.asarray(value, np.float64) for name, value in params['conv1'].items()}
  v = {name: np.zeros_like(value) for name, value in w.items()}
  for g, lr in zip(grads, learning_rates):
    for name in w:
      decay = 0.0005 if name == 'kernel' else 0.0
      v[name] = 0.9 * v[name] + np.asarray(g['conv1'][name]) + decay * w[name]
      w[name] = w[name] - lr * v[name]
  return w


@pytest.mark.parametrize('decay_biases', [False, True])
def test_paper_update_rule_matches_the_papers_formula_across_learning_rate_changes(decay_biases):
  params, grads = random_params_and_grads(len(LEARNING_RATES))
  config = dict(SGD, update_rule='paper', weight_decay_on_biases=decay_biases)
  ours = run_optimizer(config, params, grads, LEARNING_RATES)
  expected = numpy_paper_rule(params, grads, LEARNING_RATES, decay_biases)
  for name in expected:
    np.testing.assert_allclose(ours['conv1'][name], expected[name], rtol=1e-5, atol=1e-7)


def test_usual_update_rule_matches_momentum_on_gradients_then_times_lr():
  params, grads = random_params_and_grads(len(LEARNING_RATES))
  ours = run_optimizer(dict(SGD, update_rule='usual'), params, grads, LEARNING_RATES)
  expected = numpy_usual_rule(params, grads, LEARNING_RATES)
  for name in expected:
    np.testing.assert_allclose(ours['conv1'][name], expected[name], rtol=1e-5, atol=1e-7)


def test_the_two_rules_agree_at_a_constant_rate_and_differ_once_it_changes():
  params, grads = random_params_and_grads(len(LEARNING_RATES))
  constant = [0.01] * len(LEARNING_RATES)
  paper = run_optimizer(dict(SGD, update_rule='paper'), params, grads, constant)
  usual = run_optimizer(dict(SGD, update_rule='usual'), params, grads, constant)
  np.testing.assert_allclose(paper['conv1']['kernel'], usual['conv1']['kernel'], rtol=1e-5)
  paper = run_optimizer(dict(SGD, update_rule='paper'), params, grads, LEARNING_RATES)
  usual = run_optimizer(dict(SGD, update_rule='usual'), params, grads, LEARNING_RATES)
  assert not np.allclose(paper['conv1']['kernel'], usual['conv1']['kernel'], rtol=1e-4)


def test_plateau_divides_by_ten_after_patience_evaluations_without_improvement():
  plateau = optim.Plateau.of(OptimConfig(plateau_patience=2))
  errors = [0.9, 0.8, 0.8, 0.85, 0.7, 0.71, 0.72, 0.6, 0.6]
  divided = [plateau.update(e) for e in errors]
  # Evaluations 2-3 (0.8, 0.85) and 5-6 (0.71, 0.72) do not beat the best.
  assert divided == [False, False, False, True, False, False, True, False, False]
  assert plateau.reductions == 2
  assert plateau.scale == pytest.approx(0.01)


def test_plateau_divides_at_most_three_times():
  plateau = optim.Plateau.of(OptimConfig(plateau_patience=1))
  divided = [plateau.update(0.5) for _ in range(10)]
  assert sum(divided) == 3 and divided[:4] == [False, True, True, True]
  assert plateau.scale == pytest.approx(1e-3)


def test_plateau_counts_only_improvements_larger_than_the_threshold():
  plateau = optim.Plateau.of(OptimConfig(plateau_patience=1, plateau_min_improvement=0.01))
  assert [plateau.update(e) for e in (0.5, 0.495, 0.48)] == [False, True, False]


def test_plateau_state_survives_a_round_trip_through_json():
  import json
  plateau = optim.Plateau.of(OptimConfig(plateau_patience=3))
  for error in (0.9, 0.8, 0.85):
    plateau.update(error)
  restored = optim.Plateau.of(OptimConfig(plateau_patience=3))
  restored.load_state_dict(json.loads(json.dumps(plateau.state_dict())))
  assert restored == plateau
  fresh = optim.Plateau.of(OptimConfig(plateau_patience=3))
  fresh.load_state_dict(json.loads(json.dumps(fresh.state_dict())))
  assert fresh == optim.Plateau.of(OptimConfig(plateau_patience=3))


@pytest.mark.parametrize('name, expected', [
    ('constant', [0.1, 0.1, 0.1, 0.1]),
    ('plateau', [0.1, 0.1, 0.1, 0.1]),
    ('step', [0.1, 0.1, 0.01, 0.01]),
])
def test_base_schedules(name, expected):
  config = OptimConfig(learning_rate=0.1, schedule=name, step_epochs=2.0, step_factor=0.1,
                       warmup_epochs=0.0)
  schedule = optim.base_schedule(config, steps_per_epoch=10, total_steps=40)
  np.testing.assert_allclose([schedule(s) for s in (0, 19, 20, 39)], expected, rtol=1e-6)


def test_cosine_schedule_with_warmup_rises_linearly_then_decays_to_zero():
  config = OptimConfig(learning_rate=0.1, schedule='cosine', step_epochs=1.0, step_factor=0.1,
                       warmup_epochs=1.0)
  schedule = optim.base_schedule(config, steps_per_epoch=10, total_steps=50)
  assert float(schedule(0)) == 0.0
  assert float(schedule(5)) == pytest.approx(0.05)
  assert float(schedule(10)) == pytest.approx(0.1)
  assert float(schedule(10 + 40)) == pytest.approx(0.0, abs=1e-6)
