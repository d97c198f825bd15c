"""Training-pipeline throughput per CPU core, against a PyTorch DataLoader on the same files.

  python benchmarks/pipeline_throughput.py --torch-python /work/venv-torch/bin/python

(run with the project's venv; the torch side runs in its own venv, see
benchmarks/requirements-torch.txt). In one invocation it:

1. writes 256×256 JPEGs (quality 95, 4 classes) cut from scikit-image's sample photos;
2. prepares them as an image folder (stored byte for byte: they already are §2's form);
3. measures, each in a fresh process pinned to one core (``sched_setaffinity`` before
   TensorFlow or torch start, so their thread pools see one CPU):
   * this project's ``train_batches`` with the paper's config: random 227 crop (only the
     window decoded), batches of 128 of what the host sends the device — uint8 windows and
     each example's draws (flip, offset, PCA shift); the device finishes them in the step
     (before the device-side augmentation: mean, flip, PCA colour noise, float32 here);
   * a torch DataLoader (``num_workers=0``: the one core does everything) over the same
     files doing the same crop, flip and per-pixel mean subtraction (no PCA noise, so it
     does less work), in two styles: PIL + torchvision functional ops, and
     ``torchvision.io.decode_jpeg`` + tensor ops; the faster one is the baseline;
   * the same two on all cores (tf.data's default threads; DataLoader ``num_workers`` =
     number of cores);
   * supporting figures: reading records by index alone (``from_generator`` vs a parallel
     ``tf.numpy_function``), and decoding a typical full-size ImageNet JPEG (500×375) with
     the resize at read time against the 256×256 stored image with the resize done at
     preparation, and decoding only the crop window against decoding it all.
4. prints a Markdown table for BENCHMARKS.md.

``--measure tf --cpus 0 --steps 20 --json FILE`` makes one measurement only (preparing the
files first if they are missing) and writes ``{"img_per_s": …, "bytes_per_image": …}``.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import time

_BATCH = 128
_CROP = 227
_SIZE = 256
_PHOTOS = ('astronaut', 'coffee', 'chelsea', 'rocket', 'hubble_deep_field', 'immunohistochemistry',
           'retina', 'colorwheel', 'cat', 'logo')


def write_jpegs(root: str, count: int, size: int | tuple[int, int], seed: int = 0) -> list[str]:
  """``count`` JPEGs of ``size`` cut at random from the sample photos, in 4 class folders."""
  import numpy as np
  import skimage.data
  from PIL import Image
  width, height = (size, size) if isinstance(size, int) else size
  photos = [getattr(skimage.data, name)()[..., :3] for name in _PHOTOS]
  rng = np.random.default_rng(seed)
  paths = []
  for i in range(count):
    photo = photos[i % len(photos)]
    h, w = photo.shape[:2]
    side = int(min(h, w) * rng.uniform(0.5, 1.0))
    top, left = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
    image = Image.fromarray(photo[top:top + side, left:left + side])
    directory = os.path.join(root, f'class{i % 4}')
    os.makedirs(directory, exist_ok=True)
    paths.append(os.path.join(directory, f'{i:05d}.jpg'))
    image.resize((width, height), Image.Resampling.BICUBIC).save(paths[-1], quality=95)
  return paths


def prepare_files(workdir: str, images: int) -> None:
  """The benchmark's JPEGs, their image-folder dataset and its mean image, unless present."""
  done = os.path.join(workdir, 'mean_image.npy')
  if os.path.exists(done):
    return
  import numpy as np

  from alexnet.config import ModelConfig
  from alexnet.data.preparation import prepare
  paths = write_jpegs(os.path.join(workdir, 'images'), images, _SIZE)
  write_jpegs(os.path.join(workdir, 'large'), 256, (500, 375), seed=1)
  dataset = prepare(_paper_config(workdir), ModelConfig(image_size=_CROP))
  with open(os.path.join(workdir, 'files.json'), 'w') as f:
    json.dump(paths, f)
  np.save(done, dataset.statistics.mean_image)


def _paper_config(workdir: str):
  import runpy
  here = os.path.dirname(os.path.abspath(__file__))
  config = runpy.run_path(os.path.join(here, os.pardir, 'configs', 'imagenet_paper.py'))
  data_config = config['get_config']().data
  data_config.update(dataset='image_folder', folder=os.path.join(workdir, 'images'),
                     data_dir=os.path.join(workdir, 'tfds'), eval_split='train')
  return data_config


def _rate(batches, steps: int, warmup: int = 3) -> float:
  for _ in range(warmup):
    next(batches)
  start = time.perf_counter()
  for _ in range(steps):
    next(batches)
  return steps * _BATCH / (time.perf_counter() - start)


def measure_tf(workdir: str, steps: int) -> dict[str, float]:
  """This project's training batches: img/s, and the bytes per image the host hands to the
  device (every array of a batch: pixels, labels and any per-image draws)."""
  from alexnet.config import ModelConfig
  from alexnet.data.dataset import Dataset
  dataset = Dataset.open(_paper_config(workdir), ModelConfig(image_size=_CROP))
  batches = dataset.train_batches(global_batch_size=_BATCH, seed=0)
  first = next(batches)
  bytes_per_image = sum(v.nbytes for v in first.values()) / _BATCH
  return {'tf': _rate(batches, steps), 'bytes_per_image': bytes_per_image}


def measure_grain(workdir: str, steps: int, workers: int) -> dict[str, float]:
  """The same host work with grain (``MapDataset`` over the same array_record source) in
  place of tf.data: read by index, parse, decode, cut the 227 window as uint8, batch of 128
  with the same draws. Without TensorFlow at training time there is no libjpeg window
  decode: PIL decodes the whole 256×256 image. Needs grain importable (it is not a
  dependency of the project; see BENCHMARKS.md for how it was measured).
  """
  import io

  import grain
  import numpy as np
  from PIL import Image

  from alexnet.config import ModelConfig
  from alexnet.data import views
  from alexnet.data.dataset import Dataset
  from alexnet.data.tensorflow_import import tf

  dataset = Dataset.open(_paper_config(workdir), ModelConfig(image_size=_CROP))
  source = dataset.source('train')
  count = len(source)
  offsets = views.random_crop_offsets(
      np.stack([views.stateless_uniform(0, np.arange(count), s) for s in range(2)], 1), _SIZE,
      _CROP)

  def example(index: int, record: bytes) -> dict[str, np.ndarray]:
    features = tf.train.Example.FromString(record).features.feature
    image = np.asarray(Image.open(io.BytesIO(features['image'].bytes_list.value[0])).convert('RGB'))
    top, left = offsets[index % count]
    return {
        'image': image[top:top + _CROP, left:left + _CROP],
        'label': np.int32(features['label'].int64_list.value[0]), 'offset': offsets[index % count]
    }

  ds = grain.MapDataset.source(source).map_with_index(example).repeat().batch(_BATCH)
  # Two batches buffered, as tf.data's prefetch(2): a deeper buffer filled during the
  # warm-up would be counted as throughput.
  iterable = ds.to_iter_dataset(
      grain.ReadOptions(num_threads=max(1, len(os.sched_getaffinity(0))),
                        prefetch_buffer_size=2 * _BATCH))
  if workers:
    from absl import flags
    flags.FLAGS.mark_as_parsed()  # grain's worker processes read absl flags; this script has none
    iterable = iterable.mp_prefetch(grain.MultiprocessingOptions(num_workers=workers))
  return {'grain': _rate(iter(iterable), steps)}


def measure_torch(workdir: str, steps: int, workers: int) -> dict[str, float]:
  import numpy as np
  import torch
  import torchvision
  from PIL import Image
  from torchvision.transforms import functional as F
  torch.set_num_threads(1)
  with open(os.path.join(workdir, 'files.json')) as f:
    paths = json.load(f)
  mean = torch.from_numpy(np.load(os.path.join(workdir, 'mean_image.npy'))).permute(2, 0, 1)

  def window(i, j, flip):  # the per-pixel mean at the crop's pixels, mirrored with it
    m = mean[:, i:i + _CROP, j:j + _CROP]
    return m.flip(-1) if flip else m

  class PilStyle(torch.utils.data.Dataset):

    def __len__(self):
      return len(paths)

    def __getitem__(self, k):
      image = Image.open(paths[k]).convert('RGB')
      i, j = np.random.randint(0, _SIZE - _CROP + 1, 2)
      image = F.crop(image, i, j, _CROP, _CROP)
      flip = np.random.rand() < 0.5
      if flip:
        image = F.hflip(image)
      return F.pil_to_tensor(image).float() - window(i, j, flip), k % 4

  class TensorStyle(PilStyle):

    def __getitem__(self, k):
      image = torchvision.io.decode_jpeg(torchvision.io.read_file(paths[k]))
      i, j = np.random.randint(0, _SIZE - _CROP + 1, 2)
      image = image[:, i:i + _CROP, j:j + _CROP]
      flip = np.random.rand() < 0.5
      if flip:
        image = image.flip(-1)
      return image.float() - window(i, j, flip), k % 4

  rates = {}
  for name, dataset in (('torch_pil', PilStyle()), ('torch_io', TensorStyle())):
    loader = torch.utils.data.DataLoader(dataset, batch_size=_BATCH, shuffle=True,
                                         num_workers=workers, drop_last=True,
                                         persistent_workers=workers > 0)

    def endless(loader=loader):
      while True:
        yield from loader

    rates[name] = _rate(endless(), steps)
  return rates


def measure_reading(workdir: str, steps: int) -> dict[str, float]:
  """Reading records by index alone, two ways of getting them into tf.data."""
  import numpy as np

  from alexnet.config import ModelConfig
  from alexnet.data.dataset import Dataset
  from alexnet.data.tensorflow_import import tf
  source = Dataset.open(_paper_config(workdir), ModelConfig(image_size=_CROP)).source('train')
  order = np.random.default_rng(0).permutation(len(source))

  def indices(step):
    return order[(np.arange(_BATCH) + step * _BATCH) % len(source)]

  def generator():
    step = 0
    while True:
      yield np.array(source.__getitems__(indices(step).tolist()), dtype=object)
      step += 1

  by_generator = tf.data.Dataset.from_generator(generator, output_signature=tf.TensorSpec([
      _BATCH
  ], tf.string)).prefetch(2)
  read = lambda step: np.array(source.__getitems__(indices(int(step)).tolist()), dtype=object)
  by_numpy_function = tf.data.Dataset.range(1 << 40).map(
      lambda step: tf.ensure_shape(tf.numpy_function(read, [step], tf.string), [_BATCH]),
      num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).prefetch(2)
  return {
      'read_from_generator': _rate(iter(by_generator), steps * 4),
      'read_numpy_function': _rate(iter(by_numpy_function), steps * 4)
  }


def measure_decoding(workdir: str, steps: int) -> dict[str, float]:
  """Per-image decode cost: §2's resize at read time vs at preparation; crop window vs all."""
  import glob

  import numpy as np

  from alexnet.data.tensorflow_import import tf
  large = [pathlib.Path(p).read_bytes() for p in sorted(glob.glob(f'{workdir}/large/*/*.jpg'))]
  small = [pathlib.Path(p).read_bytes() for p in sorted(glob.glob(f'{workdir}/images/*/*.jpg'))]

  def resize_at_read(encoded):
    image = tf.cast(tf.io.decode_jpeg(encoded, channels=3), tf.float32)
    h, w = tf.shape(image)[0], tf.shape(image)[1]
    scale = _SIZE / tf.cast(tf.minimum(h, w), tf.float32)
    new = tf.cast(tf.round(tf.cast(tf.stack([h, w]), tf.float32) * scale), tf.int32)
    image = tf.image.resize(image, tf.maximum(new, _SIZE), antialias=True)
    image = tf.image.resize_with_crop_or_pad(image, _SIZE, _SIZE)
    return image[10:10 + _CROP, 10:10 + _CROP]

  def window_of_stored(encoded):
    return tf.cast(tf.image.decode_and_crop_jpeg(encoded, [10, 10, _CROP, _CROP], channels=3),
                   tf.float32)

  def all_of_stored(encoded):
    return tf.cast(tf.io.decode_jpeg(encoded, channels=3)[10:10 + _CROP, 10:10 + _CROP], tf.float32)

  rates = {}
  for name, files, fn in (('decode_resize_at_read_500x375', large, resize_at_read),
                          ('decode_window_of_stored_256', small,
                           window_of_stored), ('decode_all_of_stored_256', small, all_of_stored)):
    ds = tf.data.Dataset.from_tensor_slices(files).repeat().map(
        fn, num_parallel_calls=tf.data.AUTOTUNE).batch(_BATCH).prefetch(2)
    rates[name] = _rate(iter(ds), steps)
  rates['bytes_per_image_500x375'] = float(np.mean([len(b) for b in large]))
  rates['bytes_per_image_256'] = float(np.mean([len(b) for b in small]))
  return rates


def _run(args, python: str, measure: str, cpus: str, extra: tuple[str, ...] = ()) -> dict:
  command = [
      python,
      os.path.abspath(__file__), '--workdir', args.workdir, '--steps',
      str(args.steps), '--measure', measure, '--cpus', cpus, *extra
  ]
  out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
  return json.loads(out.strip().splitlines()[-1])


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--workdir', default='/tmp/alexnet_pipeline_benchmark')
  parser.add_argument('--images', type=int, default=1024)
  parser.add_argument('--steps', type=int, default=20, help='timed batches of 128 per figure')
  parser.add_argument('--torch-python', default='/work/venv-torch/bin/python')
  parser.add_argument(
      '--measure', choices=('tf', 'grain', 'torch', 'read', 'decode'),
      help='one measurement only, in this process (pinned to --cpus); the '
      'files are prepared first if they are missing')
  parser.add_argument('--cpus', default='', help='with --measure: the CPUs to pin it to')
  parser.add_argument('--json', default='', help='with --measure: also write the result here')
  args = parser.parse_args()

  if args.measure:  # one measurement: pin first, then start TF or torch
    if args.measure != 'torch':
      prepare_files(args.workdir, args.images)
    cpus = {int(c) for c in args.cpus.split(',')} if args.cpus else os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    os.environ['CUDA_VISIBLE_DEVICES'] = ''
    result = {
        'tf': lambda: measure_tf(args.workdir, args.steps),
        'torch': lambda: measure_torch(args.workdir, args.steps, workers=0
                                       if len(cpus) == 1 else len(cpus)),
        'grain': lambda: measure_grain(args.workdir, args.steps, workers=0
                                       if len(cpus) == 1 else len(cpus)),
        'read': lambda: measure_reading(args.workdir, args.steps),
        'decode': lambda: measure_decoding(args.workdir, args.steps)
    }[args.measure]()
    if args.measure == 'tf':
      result['img_per_s'] = result['tf']
    print(json.dumps(result))
    if args.json:
      with open(args.json, 'w') as f:
        json.dump(result, f)
    return

  prepare_files(args.workdir, args.images)

  all_cpus = ','.join(str(c) for c in sorted(os.sched_getaffinity(0)))
  one = str(min(os.sched_getaffinity(0)))
  results = {
      'one_core': {
          **_run(args, sys.executable, 'tf', one), **_run(args, args.torch_python, 'torch', one)
      },
      'all_cores': {
          **_run(args, sys.executable, 'tf', all_cpus),
          **_run(args, args.torch_python, 'torch', all_cpus)
      },
      'supporting': {
          **_run(args, sys.executable, 'read', one), **_run(args, sys.executable, 'decode', one)
      },
  }
  with open('/proc/cpuinfo') as f:
    cpu = next(line.split(':', 1)[1].strip() for line in f if line.startswith('model name'))
  print(json.dumps(results, indent=1))
  print(f'\nCPU: {cpu}, {len(os.sched_getaffinity(0))} cores; {args.images} JPEGs of '
        f'{_SIZE}×{_SIZE}, batches of {_BATCH}, crops of {_CROP}.\n')
  print('| cores | this pipeline (img/s) | torch, PIL (img/s) | torch, torchvision.io (img/s) '
        '| ratio to the faster torch |')
  print('|---|---|---|---|---|')
  for name, r in (('1 (per core)', results['one_core']), (all_cpus, results['all_cores'])):
    best = max(r['torch_pil'], r['torch_io'])
    print(f"| {name} | {r['tf']:.0f} | {r['torch_pil']:.0f} | {r['torch_io']:.0f} "
          f"| {r['tf'] / best:.2f}× |")


if __name__ == '__main__':
  main()
