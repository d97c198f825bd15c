"""A checkpoint's parameters as one flat ``.npz`` that any framework can read.

  python -m alexnet.export --workdir runs/paper        # → runs/paper/params_step<N>.npz
  python -m alexnet.export --workdir runs/paper --checkpoint best --output alexnet.npz

The file is a plain numpy archive (``np.load(path)``; nothing in it needs pickle). Keys:

``<layer>/kernel``, ``<layer>/bias`` for layer in conv1, conv2, conv3, conv4, conv5, fc6,
fc7, fc8; float32:

* conv kernels are **HWIO**: (kh, kw, in_per_group, out). Output channels are grouped by
  tower: tower t owns out channels [t·out/T, (t+1)·out/T) (T = ``towers``, 2 in the paper).
  conv2, conv4 and conv5 read only their own tower's maps (§3.2): with T = 2 they are
  grouped convolutions, in_per_group = in / 2, exactly ``feature_group_count=2`` in
  ``jax.lax.conv_general_dilated`` and ``groups=2`` in PyTorch (PyTorch's OIHW kernel is
  ``kernel.transpose(3, 2, 0, 1)``). conv1 and conv3 read all input maps (in_per_group = in).
  Strides and padding: conv1 stride 4, padding ``conv1_padding`` below; conv2 pad 2;
  conv3–5 pad 1; all stride 1 after conv1.
* fc kernels are (in, out) (PyTorch's ``nn.Linear.weight`` is the transpose). fc6's input
  is pool5 flattened in **(h, w, c)** order, c running over both towers' channels (tower 1's
  first); a PyTorch model that flattens (c, h, w) must permute fc6's rows accordingly.
* biases are (out,), in the same channel order as the kernels.

The forward pass (§3): conv1 → act → LRN → max-pool → conv2 → act → LRN → max-pool →
conv3 → act → conv4 → act → conv5 → act → max-pool → fc6 → act → fc7 → act → fc8 → softmax,
where act is ReLU (or tanh), pooling is window 3 stride 2 (2/2 if not
``overlapping_pool``) with no padding (only a map smaller than the window, on tiny inputs,
is padded with −∞ so that it pools to 1×1), and LRN (if ``lrn``) is §3.3's
b_i = a_i / (k + α Σ_j a_j²)^β with j over the ``lrn_size`` channels centred on i **within
the same tower** (α/n instead of α if ``lrn_alpha_over_size``). Dropout is inverted, so
nothing is rescaled at test time.

Also in the file:

* ``model_config``: the network's fields (``alexnet.config.ModelConfig``) as a JSON string,
  plus ``conv1_padding``: the (low, high) padding of conv1's spatial axes;
* ``class_names``: one string per output of fc8;
* ``input/mean_image`` (resize_size, resize_size, 3) in 0–255 and ``input/scale`` (3,): the
  network's input is ``(image − mean_image)[centre crop of image_size] × scale``, where
  ``image`` is 0–255 RGB at resize_size × resize_size: §2's shorter side to
  ``resize_size`` and central square for colour datasets; for Fashion-MNIST the 28×28
  image, bilinearly enlarged, as three equal channels. A net with ``input_channels`` 1
  (grey input) reads only the first channel of that result.

``tests/test_export.py`` runs a forward pass written from this description alone, with
plain ``jax.lax`` operations, and checks that it gives the model's logits.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import jax
import numpy as np
from absl import flags

from alexnet import cli, errors, tool_flags
from alexnet.config import ModelConfig
from alexnet.model import network

if TYPE_CHECKING:
  from alexnet import trained_run

FLAGS = flags.FLAGS


@dataclasses.dataclass(frozen=True)
class Export:
  """What an exported file holds, read back."""

  params: dict[str, dict[str, np.ndarray]]  # {layer: {'kernel', 'bias'}}, as the model's
  model_config: ModelConfig
  class_names: tuple[str, ...]
  mean_image: np.ndarray
  scale: np.ndarray


def flat_parameters(params: Mapping) -> dict[str, np.ndarray]:
  """{'conv1/kernel': array, ...} from the model's nested {layer: {kind: array}}."""
  return {
      f'{layer}/{kind}': np.asarray(jax.device_get(value), np.float32)
      for layer, kinds in params.items() for kind, value in kinds.items()
  }


def export_run(run: trained_run.Run, path: str | Path) -> Path:
  """Writes ``run``'s parameters and what is needed to feed them images; returns the path
  written, which ends in ``.npz`` (added if ``path`` lacks it, as numpy does)."""
  dataset = run.dataset
  model_fields = dataclasses.asdict(run.model_config)
  model_fields['conv1_padding'] = list(network.conv1_padding(run.model_config))
  path = Path(path)
  if path.suffix != '.npz':
    path = path.with_name(path.name + '.npz')
  path.parent.mkdir(parents=True, exist_ok=True)
  partial = path.with_name(f'.{path.name}.{os.getpid()}.partial')  # a kill leaves no half file
  with partial.open('wb') as f:
    np.savez(f, **flat_parameters(run.params), model_config=np.array(json.dumps(model_fields)),
             class_names=np.array(dataset.info.class_names),
             **{'input/mean_image': dataset.mean_image, 'input/scale': dataset.scale})
  os.replace(partial, path)
  return path


def load_export(path: str | Path) -> Export:
  """Reads a file written by :func:`export_run` (without pickle)."""
  with np.load(path, allow_pickle=False) as archive:
    params: dict[str, dict[str, np.ndarray]] = {}
    for key in archive.files:
      if key.startswith(('conv', 'fc')):
        layer, kind = key.split('/')
        params.setdefault(layer, {})[kind] = archive[key]
    fields = json.loads(str(archive['model_config']))
    fields.pop('conv1_padding')
    return Export(params=params, model_config=ModelConfig(**fields),
                  class_names=tuple(str(name) for name in archive['class_names']),
                  mean_image=archive['input/mean_image'], scale=archive['input/scale'])


def main(argv) -> None:
  if len(argv) > 1:
    raise errors.UsageError(f'unexpected arguments: {argv[1:]}')
  from alexnet import trained_run  # JAX and TensorFlow: not loaded for --help or a wrong flag

  run = trained_run.load_run_from_flags()
  path = export_run(run, FLAGS.output or run.workdir / f'params_step{run.step}.npz')
  count = sum(v.size for v in flat_parameters(run.params).values())
  print(f'{path}: {count:,} parameters of step {run.step}')


def define_flags() -> None:
  tool_flags.define_run_flags()
  flags.adopt_module_key_flags(tool_flags)  # --help lists them with this command's own
  flags.DEFINE_string('output', None, 'The .npz to write; default: '
                      '<workdir>/params_step<step>.npz.')


if __name__ == '__main__':
  define_flags()
  cli.run(main)
