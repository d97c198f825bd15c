"""The network's choices as a typed config, and the check of a whole run's config.

Both raise :class:`ConfigError` naming the field and the values it may take,
before any work is done.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import ml_collections

from alexnet import optim

INITS = ('paper', 'caffe', 'he')
ACTIVATIONS = ('relu', 'tanh')
COMPUTE_DTYPES = ('float32', 'bfloat16')
DATASETS = ('imagenet2012', 'fashion_mnist', 'image_folder')
MEANS = ('pixel', 'channel')
PCA_EIGEN = ('computed', 'imagenet')
PCA_CONVENTIONS = ('lambda', 'sqrt_lambda')
EVAL_CROPS = (1, 10)


class ConfigError(ValueError):
  """A config field holds a value the run cannot use."""


def require(ok: bool, field: str, value, allowed: str) -> None:
  if not ok:
    raise ConfigError(f'{field}={value!r} is not allowed: it must be {allowed}.')


@dataclasses.dataclass(frozen=True)
class ModelConfig:
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
    require(self.input_channels >= 1, 'model.input_channels', self.input_channels, 'a positive integer')
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
  def from_mapping(cls, fields: Mapping) -> ModelConfig:
    """Builds the config from e.g. an ml_collections ``config.model``, naming unknown fields."""
    unknown = sorted(set(fields) - {f.name for f in dataclasses.fields(cls)})
    if unknown:
      raise ConfigError(f'Unknown model config field(s) {unknown}; known fields: '
                       f'{[f.name for f in dataclasses.fields(cls)]}.')
    return cls(**dict(fields))

  @property
  def pool_window(self) -> int:
    return 3 if self.overlapping_pool else 2

  @property
  def pool_stride(self) -> int:
    return 2

  @property
  def conv1_padding(self) -> tuple[int, int]:
    """Padding of conv1 so that its last window fits exactly (§3.5, paper.md).

    227 needs none (55×55); 224 needs 3 on the far side, as cuda-convnet's
    overhanging last window, so the map is still 55×55.
    """
    return 0, (-(self.image_size - self.conv1_kernel)) % self.conv1_stride



def validate_data(data: ml_collections.ConfigDict, image_size: int) -> None:
  """The ``config.data`` fields that can be checked without reading any data."""
  require(data.dataset in DATASETS, 'data.dataset', data.dataset, ' or '.join(DATASETS))
  require(data.dataset != 'image_folder' or bool(data.folder), 'data.folder', data.folder,
          "the root of the image folder when data.dataset='image_folder'")
  require(data.resize_size >= image_size, 'data.resize_size', data.resize_size,
          f'at least model.image_size={image_size}: crops must fit inside the resized image')
  require(data.mean in MEANS, 'data.mean', data.mean, ' or '.join(MEANS))
  require(data.pca_std >= 0, 'data.pca_std', data.pca_std, 'zero (off) or positive')
  require(data.pca_eigen in PCA_EIGEN, 'data.pca_eigen', data.pca_eigen, ' or '.join(PCA_EIGEN))
  require(data.pca_convention in PCA_CONVENTIONS, 'data.pca_convention', data.pca_convention,
          ' or '.join(PCA_CONVENTIONS))
  require(data.eval_crops in EVAL_CROPS, 'data.eval_crops', data.eval_crops, '1 or 10')
  require(data.threads >= 0, 'data.threads', data.threads, '0 (all cores) or positive')


def validate(config: ml_collections.ConfigDict) -> ModelConfig:
  """Raises ConfigError for the first unusable field; returns the model's config.

  Checks that need the devices (the batch against the data axis) are made
  where the mesh is built, still before any data is read.
  """
  model = ModelConfig.from_mapping(config.model)
  opt = config.optim
  require(opt.learning_rate > 0, 'optim.learning_rate', opt.learning_rate, 'positive')
  require(0 <= opt.momentum < 1, 'optim.momentum', opt.momentum, 'in [0, 1)')
  require(opt.weight_decay >= 0, 'optim.weight_decay', opt.weight_decay, 'zero or positive')
  require(opt.update_rule in optim.UPDATE_RULES, 'optim.update_rule', opt.update_rule,
          ' or '.join(optim.UPDATE_RULES))
  require(opt.schedule in optim.SCHEDULES, 'optim.schedule', opt.schedule,
          ' or '.join(optim.SCHEDULES))
  require(opt.plateau_patience >= 1, 'optim.plateau_patience', opt.plateau_patience,
          'a positive number of evaluations')
  require(0 < opt.plateau_factor < 1, 'optim.plateau_factor', opt.plateau_factor, 'in (0, 1)')
  require(opt.plateau_max_reductions >= 0, 'optim.plateau_max_reductions',
          opt.plateau_max_reductions, 'zero or positive')
  require(opt.step_epochs > 0, 'optim.step_epochs', opt.step_epochs, 'positive')
  require(0 < opt.step_factor < 1, 'optim.step_factor', opt.step_factor, 'in (0, 1)')
  require(opt.warmup_epochs >= 0, 'optim.warmup_epochs', opt.warmup_epochs, 'zero or positive')
  tr = config.train
  require(tr.batch_size >= 1, 'train.batch_size', tr.batch_size, 'a positive integer')
  require(tr.eval_batch_size >= 1, 'train.eval_batch_size', tr.eval_batch_size,
          'a positive integer')
  require(tr.num_epochs > 0 or tr.num_steps > 0, 'train.num_epochs', tr.num_epochs,
          'positive (or train.num_steps positive)')
  for field in ('log_every_steps', 'checkpoint_every_steps', 'keep_checkpoints'):
    require(tr[field] >= 1, f'train.{field}', tr[field], 'a positive integer')
  require(tr.eval_every_epochs > 0, 'train.eval_every_epochs', tr.eval_every_epochs, 'positive')
  validate_data(config.data, model.image_size)
  require(model.towers % config.mesh.model == 0 or config.mesh.model == -1, 'mesh.model',
          config.mesh.model, f'-1, 1 or {model.towers} (model.towers={model.towers})')
  return model
