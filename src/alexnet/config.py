"""Every field of a run's config: its default (the paper's value), its check, its rule on resume.

A run's config is an ``ml_collections.ConfigDict`` with a ``seed`` and the sections ``model``,
``mesh``, ``data``, ``optim`` and ``train``, each a frozen dataclass here: its fields are the
only ones, their defaults the paper's values (§ cites Krizhevsky, Sutskever and Hinton, NIPS
2012), ``__post_init__`` checks them. The files in ``configs/`` override ``paper_config()``.

:func:`validate` refuses, before any work, a field that does not exist (naming the nearest
one that does), a value of the wrong type and a value the run cannot use, each as a
:class:`ConfigError` naming the field and what it may be. Past it, functions take sections.

**On resume** (the same command rerun on a workdir that has checkpoints) the fields that
decide what a checkpoint and a step mean must be those the run was started with: the
network, the batch size, the training data and its augmentation, the update rule, the
seed. Every other field may change: each section lists them in ``CHANGEABLE_ON_RESUME``
(learning rate and its schedule — the paper itself lowered the rate by hand —, logging,
evaluation and checkpoint intervals, the number of steps, the mesh, where the data lives).
:func:`resume_differences` applies that rule.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from typing import Any, ClassVar

import ml_collections

from alexnet import errors

# Each set of allowed values is defined here, once, so that a config is checked without
# importing what acts on it (JAX, optax); the module that acts on a value maps these names to
# what they do, and tests/test_config.py checks that each map covers its set.
ACTIVATIONS = ('relu', 'tanh')  # §3.1: ReLUs; tanh, Figure 1's saturating baseline
INITS = ('paper', 'caffe', 'he')  # §5's; bvlc_alexnet's; He et al. (2015)
UPDATE_RULES = ('paper', 'usual')  # §5's v ← μv − ε(g + λw), or v ← μv + (g + λw)
SCHEDULES = ('plateau', 'step', 'cosine', 'constant')
PCA_CONVENTIONS = ('lambda', 'sqrt_lambda')  # §4.1: α·λ as the text writes it, or α·√λ
EVAL_CROPS = (1, 10)  # the centre crop, or §4.1's ten patches
COMPUTE_DTYPES = ('float32', 'bfloat16')
MEANS = ('pixel', 'channel')
PCA_EIGEN = ('computed', 'imagenet')


class ConfigError(errors.UsageError, ValueError):
  """A config field holds a value the run cannot use, or does not exist."""


def require(ok: bool, field: str, value, allowed: str) -> None:
  if not ok:
    raise ConfigError(f'{field}={value!r} is not allowed: it must be {allowed}.')


class _Section:
  """What the config sections share: building from a mapping that may hold any names."""

  CHANGEABLE_ON_RESUME: ClassVar[frozenset[str]] = frozenset()

  @classmethod
  def from_mapping(cls, fields: Mapping, section: str):
    """The section from e.g. an ml_collections ``config.<section>``; fields left out take
    their defaults. Unknown names and values of the wrong type are ConfigErrors. A section
    already checked is returned as it is."""
    if isinstance(fields, cls):
      return fields
    known = [f.name for f in dataclasses.fields(cls)]
    for name in fields:
      if name not in known:
        raise ConfigError(f'config field {section}.{name} does not exist'
                          f'{errors.did_you_mean(name, known, f"{section}.")}; the fields of '
                          f'{section} are {", ".join(known)}.')
    types = typing.get_type_hints(cls)
    values = {}
    for name, value in fields.items():
      expected = types[name]
      if expected is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)  # noqa: PLW2901 - the int given for a float field, as a float
      if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        raise ConfigError(f'{section}.{name}={value!r} is not allowed: it must be a '
                          f'{expected.__name__}.')
      values[name] = value
    return cls(**values)


@dataclasses.dataclass(frozen=True)
class ModelConfig(_Section):
  """The network's choices; every default is the paper's value."""

  num_classes: int = 1000  # §6: the 1000 ILSVRC classes
  towers: int = 2  # §3.2: two GPUs, each with half the kernels; 1 = §3.5 footnote's one-GPU net
  width: float = 1.0  # not in the paper: multiplies every layer's kernel count (small-image runs)
  image_size: int = 227  # §3.5 says 224, but only 227 gives 55×55 unpadded; 224 pads conv1 (0, 3)
  input_channels: int = 3  # §2: raw RGB
  conv1_kernel: int = 11  # §3.5: 96 kernels of 11×11×3
  conv1_stride: int = 4  # §3.5: "a stride of 4 pixels"
  lrn: bool = True  # §3.3: response normalisation after conv1 and conv2
  lrn_k: float = 2.0  # §3.3
  lrn_size: int = 5  # §3.3: n, adjacent kernel maps summed over
  lrn_alpha: float = 1e-4  # §3.3
  lrn_beta: float = 0.75  # §3.3
  lrn_alpha_over_size: bool = False  # §3.3 uses α; cuda-convnet2 and Caffe use α/n
  overlapping_pool: bool = True  # §3.4: window 3, stride 2; False = window 2, stride 2
  dropout_rate: float = 0.5  # §4.2: on fc6 and fc7
  init: str = 'paper'  # §5: N(0, 0.01), bias 1 on conv2/4/5 and fc6/7; or 'caffe', 'he'
  activation: str = 'relu'  # §3.1; 'tanh' is Figure 1's saturating baseline
  compute_dtype: str = 'float32'  # not in the paper; 'bfloat16' keeps float32 parameters

  def __post_init__(self):
    require(self.towers in (1, 2), 'model.towers', self.towers, '1 or 2')
    require(self.num_classes >= 1, 'model.num_classes', self.num_classes, 'a positive integer')
    require(self.width > 0, 'model.width', self.width, 'a positive number')
    require(self.input_channels >= 1, 'model.input_channels', self.input_channels,
            'a positive integer')
    require(self.conv1_kernel >= 1, 'model.conv1_kernel', self.conv1_kernel, 'a positive integer')
    require(self.conv1_stride >= 1, 'model.conv1_stride', self.conv1_stride, 'a positive integer')
    require(self.image_size >= self.conv1_kernel, 'model.image_size', self.image_size,
            f'at least conv1_kernel={self.conv1_kernel}')
    require(self.lrn_size >= 1 and self.lrn_size % 2 == 1, 'model.lrn_size', self.lrn_size,
            'an odd positive integer (the window is centred on each channel)')
    require(0.0 <= self.dropout_rate < 1.0, 'model.dropout_rate', self.dropout_rate, 'in [0, 1)')
    require(self.init in INITS, 'model.init', self.init, ' or '.join(INITS))
    require(self.activation in ACTIVATIONS, 'model.activation', self.activation,
            ' or '.join(ACTIVATIONS))
    require(self.compute_dtype in COMPUTE_DTYPES, 'model.compute_dtype', self.compute_dtype,
            ' or '.join(COMPUTE_DTYPES))

  @classmethod
  def from_mapping(cls, fields: Mapping, section: str = 'model') -> ModelConfig:
    return super().from_mapping(fields, section)


@dataclasses.dataclass(frozen=True)
class MeshConfig(_Section):
  """How the devices are arranged; checkpoints hold global arrays, so any of it may change."""

  CHANGEABLE_ON_RESUME: ClassVar[frozenset[str]] = frozenset({'data', 'model'})

  data: int = -1  # data-parallel devices; -1 = every device the model axis leaves
  model: int = -1  # devices per model (tower split, §3.2); -1 = one tower per device when possible

  def __post_init__(self):
    require(self.data == -1 or self.data >= 1, 'mesh.data', self.data, '-1 (all) or positive')
    require(self.model == -1 or self.model >= 1, 'mesh.model', self.model,
            '-1 (one tower per device) or positive')


@dataclasses.dataclass(frozen=True)
class DataConfig(_Section):
  """The dataset, §2's preprocessing and §4.1's augmentation."""

  # Where the data lives and what is evaluated; the training data itself must not change.
  CHANGEABLE_ON_RESUME: ClassVar[frozenset[str]] = frozenset({
      'data_dir', 'manual_dir', 'eval_split', 'test_split', 'train_eval_split', 'eval_crops',
      'threads'
  })

  dataset: str = 'imagenet2012'  # §2: ILSVRC-2012; or another name in alexnet.data.registry
  # Not in the paper: TFDS data_dir; '' = $TFDS_DATA_DIR or ~/tensorflow_datasets.
  data_dir: str = ''
  # Not in the paper: holds the ILSVRC2012 tars; '' = <data_dir>/downloads/manual.
  manual_dir: str = ''
  folder: str = ''  # not in the paper: root of <class>/<image> folders for dataset='image_folder'
  train_split: str = 'train'  # §2: the 1.2 million training images
  eval_split: str = 'validation'  # §6: ILSVRC-2012 results are on the 50,000 validation images
  # Not in the paper: the split of the final test, read once, at the end; '' = eval_split (§6
  # reports ILSVRC-2012's validation images). A study that chooses anything on eval_split
  # tests on another split.
  test_split: str = ''
  # Not in the paper: training images the final evaluation also measures as it does the test
  # (centre crop, no dropout), so that the test − train gap compares like with like; '' = none.
  train_eval_split: str = ''
  resize_size: int = 256  # §2: shorter side to 256, central 256×256 crop (once, at preparation)
  mean: str = 'pixel'  # §2: per-pixel mean image of the training set; 'channel' = per-channel mean
  divide_by_std: bool = False  # §2 feeds raw values minus the mean; True also divides by RGB std
  translate: bool = True  # §4.1: training crops at random positions; False = the centre crop
  flip: bool = True  # §4.1: horizontal reflections of the training crops
  pca_std: float = 0.1  # §4.1: α ~ N(0, 0.1) per image per use; 0 turns the colour shift off
  pca_eigen: str = 'computed'  # §4.1: PCA of the training set's RGB; 'imagenet' = published values
  pca_convention: str = 'lambda'  # §4.1's text: α·λ; 'sqrt_lambda' = α·√λ as in cuda-convnet2
  eval_crops: int = 10  # §4.1: average of the 10 patches' softmax; 1 = centre crop only
  threads: int = 0  # not in the paper: tf.data's threads and parallel calls; 0 = one per core

  @property
  def final_split(self) -> str:
    """The split the finished run is tested on."""
    return self.test_split or self.eval_split

  def __post_init__(self):
    require(self.mean in MEANS, 'data.mean', self.mean, ' or '.join(MEANS))
    require(self.pca_std >= 0, 'data.pca_std', self.pca_std, 'zero (off) or positive')
    require(self.pca_eigen in PCA_EIGEN, 'data.pca_eigen', self.pca_eigen, ' or '.join(PCA_EIGEN))
    require(self.pca_convention in PCA_CONVENTIONS, 'data.pca_convention', self.pca_convention,
            ' or '.join(PCA_CONVENTIONS))
    require(self.eval_crops in EVAL_CROPS, 'data.eval_crops', self.eval_crops,
            ' or '.join(map(str, EVAL_CROPS)))
    require(self.threads >= 0, 'data.threads', self.threads, '0 (all cores) or positive')


@dataclasses.dataclass(frozen=True)
class OptimConfig(_Section):
  """§5: SGD with momentum and weight decay, and the learning-rate rule."""

  # Hyperparameters of the update; the update rule decides what the stored velocity means.
  CHANGEABLE_ON_RESUME: ClassVar[frozenset[str]] = frozenset({
      'learning_rate', 'momentum', 'weight_decay', 'weight_decay_on_biases', 'schedule',
      'plateau_patience', 'plateau_factor', 'plateau_max_reductions', 'plateau_min_improvement',
      'step_epochs', 'step_factor', 'warmup_epochs'
  })

  learning_rate: float = 0.01  # §5: "initialized at 0.01", equal for all layers
  momentum: float = 0.9  # §5
  weight_decay: float = 5e-4  # §5
  weight_decay_on_biases: bool = False  # §5 decays weights; cuda-convnet2 and Caffe spare biases
  update_rule: str = 'paper'  # §5: v ← 0.9v − 0.0005εw − εg, w ← w + v; 'usual' = (μv + g)·ε
  # §5: ÷10 when validation error stops improving; or 'step', 'cosine', 'constant'.
  schedule: str = 'plateau'
  plateau_patience: int = 4  # not in the paper: evaluations without improvement before ÷10
  plateau_factor: float = 0.1  # §5: "divide the learning rate by 10"
  plateau_max_reductions: int = 3  # §5: "reduced three times prior to termination"
  plateau_min_improvement: float = 0.0  # not in the paper: top-1 error drop that counts as progress
  step_epochs: float = 30.0  # schedule='step' only: epochs between divisions (not the paper's rule)
  step_factor: float = 0.1  # schedule='step' only: factor at each division
  warmup_epochs: float = 0.0  # not in the paper: linear warm-up from 0 over this many epochs

  def __post_init__(self):
    require(self.learning_rate > 0, 'optim.learning_rate', self.learning_rate, 'positive')
    require(0 <= self.momentum < 1, 'optim.momentum', self.momentum, 'in [0, 1)')
    require(self.weight_decay >= 0, 'optim.weight_decay', self.weight_decay, 'zero or positive')
    require(self.update_rule in UPDATE_RULES, 'optim.update_rule', self.update_rule,
            ' or '.join(UPDATE_RULES))
    require(self.schedule in SCHEDULES, 'optim.schedule', self.schedule, ' or '.join(SCHEDULES))
    require(self.plateau_patience >= 1, 'optim.plateau_patience', self.plateau_patience,
            'a positive number of evaluations')
    require(0 < self.plateau_factor < 1, 'optim.plateau_factor', self.plateau_factor, 'in (0, 1)')
    require(self.plateau_max_reductions >= 0, 'optim.plateau_max_reductions',
            self.plateau_max_reductions, 'zero or positive')
    require(self.step_epochs > 0, 'optim.step_epochs', self.step_epochs, 'positive')
    require(0 < self.step_factor < 1, 'optim.step_factor', self.step_factor, 'in (0, 1)')
    require(self.warmup_epochs >= 0, 'optim.warmup_epochs', self.warmup_epochs, 'zero or positive')


USE_NUM_EPOCHS = -1  # train.num_steps' value for "train num_epochs instead"


@dataclasses.dataclass(frozen=True)
class TrainConfig(_Section):
  """How long a run trains, and how often it logs, evaluates and saves."""

  # All but batch_size, which decides what a step (and so the data position) is.
  CHANGEABLE_ON_RESUME: ClassVar[frozenset[str]] = frozenset({
      'num_epochs', 'num_steps', 'eval_every_epochs', 'eval_batch_size', 'log_every_steps',
      'checkpoint_every_steps', 'checkpoint_every_minutes', 'keep_checkpoints', 'profile_steps'
  })

  batch_size: int = 128  # §5: "batch size of 128 examples" (global, over all devices)
  num_epochs: float = 90.0  # §5: "roughly 90 cycles through the training set"
  # Not in the paper: when positive, overrides num_epochs (smoke runs).
  num_steps: int = USE_NUM_EPOCHS
  eval_every_epochs: float = 1.0  # not in the paper: how often the plateau rule sees the error
  eval_batch_size: int = 128  # not in the paper: global batch of evaluation
  log_every_steps: int = 100  # not in the paper: metrics.jsonl, TensorBoard and console
  checkpoint_every_steps: int = 5000  # not in the paper: also at every evaluation and the end
  # Not in the paper: also a checkpoint at the first log step this long after the last one,
  # for jobs killed without a signal; 0 = by steps only.
  checkpoint_every_minutes: float = 30.0
  keep_checkpoints: int = 3  # not in the paper: the latest kept, plus the best by top-1 error
  # Not in the paper: 'S,E' writes a JAX profiler trace of steps S to E (counted from 1) into
  # <workdir>/tensorboard (TensorBoard's profile plugin; Perfetto); '' = none.
  profile_steps: str = ''

  def __post_init__(self):
    require(self.batch_size >= 1, 'train.batch_size', self.batch_size, 'a positive integer')
    require(self.eval_batch_size >= 1, 'train.eval_batch_size', self.eval_batch_size,
            'a positive integer')
    require(self.num_steps == USE_NUM_EPOCHS or self.num_steps > 0, 'train.num_steps',
            self.num_steps, f'a positive number of steps, or {USE_NUM_EPOCHS} to train '
            'train.num_epochs')
    require(self.num_epochs > 0 or self.num_steps > 0, 'train.num_epochs', self.num_epochs,
            'positive (or train.num_steps positive)')
    for field in ('log_every_steps', 'checkpoint_every_steps', 'keep_checkpoints'):
      require(
          getattr(self, field) >= 1, f'train.{field}', getattr(self, field), 'a positive integer')
    require(self.eval_every_epochs > 0, 'train.eval_every_epochs', self.eval_every_epochs,
            'positive')
    require(self.checkpoint_every_minutes >= 0, 'train.checkpoint_every_minutes',
            self.checkpoint_every_minutes, 'zero (off) or positive')
    _step_range(self.profile_steps, 'train.profile_steps')

  @property
  def profile_range(self) -> tuple[int, int] | None:
    """(first, last) step of ``profile_steps``, or None when it is ''."""
    return _step_range(self.profile_steps, 'train.profile_steps')


def _step_range(text: str, field: str) -> tuple[int, int] | None:
  """'S,E' → (S, E), '' → None; anything else is a ConfigError naming ``field``."""
  if not text:
    return None
  first, _, last = (part.strip() for part in text.partition(','))
  require(first.isdigit() and last.isdigit() and 1 <= int(first) <= int(last), field, text,
          "'' (none) or 'S,E' with 1 <= S <= E, the first and last step")
  return int(first), int(last)


@dataclasses.dataclass(frozen=True)
class RunConfig:
  """A whole run's config, checked: the seed and the five sections."""

  seed: int = 0  # seeds parameters, dropout and the data order; must match on resume
  model: ModelConfig = ModelConfig()
  mesh: MeshConfig = MeshConfig()
  data: DataConfig = DataConfig()
  optim: OptimConfig = OptimConfig()
  train: TrainConfig = TrainConfig()

  @classmethod
  def from_mapping(cls, config: Mapping) -> RunConfig:
    """Checks every name and value of ``config`` (a ConfigDict or the JSON of one)."""
    if isinstance(config, cls):
      return config
    for name in config:
      if name != 'seed' and name not in _SECTIONS:
        nearest = errors.did_you_mean(name, ('seed', *_SECTIONS))
        raise ConfigError(f'config field {name} does not exist{nearest}; the config has seed '
                          f'and the sections {", ".join(_SECTIONS)}.')
    seed = config.get('seed', 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
      raise ConfigError(f'seed={seed!r} is not allowed: it must be a non-negative integer.')
    return cls(
        seed=seed, **{
            name: section.from_mapping(config.get(name, {}), name)
            for name, section in _SECTIONS.items()
        })

  def to_dict(self) -> dict[str, Any]:
    return dataclasses.asdict(self)


_SECTIONS: dict[str, type[_Section]] = dict(model=ModelConfig, mesh=MeshConfig, data=DataConfig,
                                            optim=OptimConfig, train=TrainConfig)


def paper_config() -> ml_collections.ConfigDict:
  """The paper's run: every field at its default. Config files start from it."""
  return ml_collections.ConfigDict(RunConfig().to_dict())


def field_names() -> tuple[str, ...]:
  """Every config field as a dotted name: 'seed', 'model.width', …."""
  return tuple(_flatten(RunConfig().to_dict()))


def _flatten(tree: Mapping, prefix: str = '') -> dict[str, Any]:
  flat = {}
  for key, value in tree.items():
    if isinstance(value, Mapping):
      flat.update(_flatten(value, f'{prefix}{key}.'))
    else:
      flat[f'{prefix}{key}'] = value
  return flat


def validate_data(data: Mapping, image_size: int) -> DataConfig:
  """The ``config.data`` fields that can be checked without reading any data."""
  checked = DataConfig.from_mapping(data, 'data')
  require(checked.resize_size >= image_size, 'data.resize_size', checked.resize_size,
          f'at least model.image_size={image_size}: crops must fit inside the resized image')
  return checked


def validate(config: Mapping) -> RunConfig:
  """Raises ConfigError for the first unusable field; returns the checked config.

  Checks that need the devices (the mesh against the towers, the batch against the data
  axis) are made where the mesh is built (:func:`alexnet.model.parallel.mesh_for`), still
  before any data is read.
  """
  checked = RunConfig.from_mapping(config)
  validate_data(checked.data, checked.model.image_size)
  return checked


def resume_differences(started: RunConfig, now: RunConfig
                      ) -> tuple[dict[str, tuple[Any, Any]], dict[str, tuple[Any, Any]]]:
  """({field: (then, now)} that must match but differ, {field: (then, now)} changed and allowed).

  ``started`` is the config the workdir's checkpoints were made with.
  """
  then, current = _flatten(started.to_dict()), _flatten(now.to_dict())
  changeable = {
      f'{section_name}.{name}' for section_name, section in _SECTIONS.items()
      for name in section.CHANGEABLE_ON_RESUME
  }
  refused, allowed = {}, {}
  for name, value in current.items():
    if then[name] != value:
      (allowed if name in changeable else refused)[name] = (then[name], value)
  return refused, allowed
