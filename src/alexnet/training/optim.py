"""§5, "Details of learning": SGD with momentum and weight decay, and the learning-rate rules.

The paper's update keeps the learning rate ε *inside* the velocity:

    v ← 0.9·v − 0.0005·ε·w − ε·∂L/∂w ;   w ← w + v

so a change of ε affects new gradients only; the velocity already built up keeps
its scale. The usual form (momentum on gradients, then × ε) rescales the whole
velocity at once; both are exact optax chains and the same whenever ε is
constant.

The learning rate is a base schedule of the step (constant, step, cosine, with
optional linear warm-up) times the factor of the paper's plateau rule, which
divides by 10 when the validation error stops improving, at most three times.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping

import jax
import numpy as np
import optax

from alexnet.config import SCHEDULES, UPDATE_RULES, OptimConfig


def sgd(learning_rate: float, momentum: float, weight_decay: float, *, update_rule: str,
        decay_mask: Callable | None) -> optax.GradientTransformation:
  """SGD with momentum and weight decay in the paper's form or the usual one."""
  decay = optax.add_decayed_weights(weight_decay, mask=decay_mask)
  if update_rule == 'paper':  # v ← μv − ε(g + λw), w ← w + v
    return optax.chain(decay, optax.scale_by_learning_rate(learning_rate), optax.trace(momentum))
  if update_rule == 'usual':  # v ← μv + (g + λw), w ← w − εv
    return optax.chain(decay, optax.trace(momentum), optax.scale_by_learning_rate(learning_rate))
  raise ValueError(f'optim.update_rule={update_rule!r} must be one of {UPDATE_RULES}.')


def kernels_only(params):
  """The weight-decay mask that spares biases, as cuda-convnet2 and Caffe did."""
  return jax.tree_util.tree_map_with_path(lambda path, _: path[-1].key != 'bias', params)


def make_optimizer(optim_config: OptimConfig) -> optax.GradientTransformation:
  """The configured SGD, its learning rate a hyperparameter the train step sets each step."""
  decay_mask = None if optim_config.weight_decay_on_biases else kernels_only

  def configured_sgd(learning_rate, momentum, weight_decay):
    return sgd(learning_rate, momentum, weight_decay, update_rule=optim_config.update_rule,
               decay_mask=decay_mask)

  return optax.inject_hyperparams(configured_sgd)(learning_rate=optim_config.learning_rate,
                                                  momentum=optim_config.momentum,
                                                  weight_decay=optim_config.weight_decay)


def base_rates(optim_config: OptimConfig, steps_per_epoch: int, total_steps: int) -> np.ndarray:
  """:func:`base_schedule` at every step 0 … total_steps − 1, float32, computed once on the
  host's CPU: the training loop reads its rate from here without asking a device.

  Evaluated on all steps at once, a rate may differ in its last bit (≤ 1 ulp) from the same
  schedule evaluated on one step, as XLA's vectorised ``cos`` rounds differently.
  """
  schedule = base_schedule(optim_config, steps_per_epoch, total_steps)
  with jax.default_device(jax.local_devices(backend='cpu')[0]):
    rates = np.asarray(schedule(np.arange(total_steps)), np.float32)
  return np.broadcast_to(rates, (total_steps,)).copy()


def base_schedule(optim_config: OptimConfig, steps_per_epoch: int,
                  total_steps: int) -> optax.Schedule:
  """The learning rate as a function of the step, before the plateau rule's factor."""
  lr = optim_config.learning_rate
  name = optim_config.schedule
  warmup_steps = round(optim_config.warmup_epochs * steps_per_epoch)
  if name in ('plateau', 'constant'):
    schedule = optax.constant_schedule(lr)
  elif name == 'step':
    schedule = optax.exponential_decay(
        lr, transition_steps=max(1, round(optim_config.step_epochs * steps_per_epoch)),
        decay_rate=optim_config.step_factor, staircase=True)
  elif name == 'cosine':
    schedule = optax.cosine_decay_schedule(lr, decay_steps=max(1, total_steps - warmup_steps))
  else:
    raise ValueError(f'optim.schedule={name!r} must be one of {SCHEDULES}.')
  if warmup_steps <= 0:
    return schedule
  warmup = optax.linear_schedule(0.0, lr, warmup_steps)
  return optax.join_schedules([warmup, schedule], [warmup_steps])


@dataclasses.dataclass
class Plateau:
  """§5: "divide the learning rate by 10 when the validation error rate stopped improving".

  Updated once per evaluation. The error must beat the best so far by more than
  ``min_improvement`` to count as an improvement; after ``patience`` evaluations
  without one, the factor is divided by ``1 / factor`` and the count restarts.
  The paper reduced the rate three times, which ``max_reductions`` bounds.
  Its rule comes from the config (:meth:`of`); its state is a few numbers, checkpointed as
  JSON.
  """

  patience: int
  factor: float
  max_reductions: int
  min_improvement: float
  best_error: float = math.inf
  evaluations_without_improvement: int = 0
  reductions: int = 0

  @classmethod
  def of(cls, optim_config: OptimConfig) -> Plateau:
    """The rule ``optim.plateau_*`` configures, before its first evaluation."""
    return cls(patience=optim_config.plateau_patience, factor=optim_config.plateau_factor,
               max_reductions=optim_config.plateau_max_reductions,
               min_improvement=optim_config.plateau_min_improvement)

  @property
  def scale(self) -> float:
    return self.factor ** self.reductions

  def update(self, error: float) -> bool:
    """Records one evaluation's error; returns True if the learning rate was just divided."""
    if error < self.best_error - self.min_improvement:
      self.best_error = error
      self.evaluations_without_improvement = 0
      return False
    self.evaluations_without_improvement += 1
    if (self.evaluations_without_improvement >= self.patience
        and self.reductions < self.max_reductions):
      self.reductions += 1
      self.evaluations_without_improvement = 0
      return True
    return False

  def state_dict(self) -> dict:
    return dict(best_error=self.best_error,
                evaluations_without_improvement=self.evaluations_without_improvement,
                reductions=self.reductions)

  def load_state_dict(self, state: Mapping) -> None:
    self.best_error = float(state['best_error'])
    self.evaluations_without_improvement = int(state['evaluations_without_improvement'])
    self.reductions = int(state['reductions'])
