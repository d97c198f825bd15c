"""The input pipeline end to end: real TFDS builders on generated files, then batches."""

import io
import os
import re
import runpy
import tarfile

import ml_collections
import numpy as np
import pytest
from PIL import Image

import fake_data
from alexnet.config import ConfigError, ModelConfig
from alexnet.data import input_pipeline, pixel_statistics, registry
from alexnet.data.builders import fashion_mnist, image_folder
from alexnet.data.builders import imagenet as imagenet_builder
from alexnet.data.dataset import Dataset, DatasetInfo
from alexnet.data.epoch_order import epoch_permutation
from alexnet.data.preparation import prepare
from alexnet.data.tensorflow_import import tf

# Real TFDS preparations, shared by the whole file: on one xdist worker, each made once.
pytestmark = [pytest.mark.integration, pytest.mark.xdist_group('data')]

_CONFIGS = os.path.join(os.path.dirname(__file__), os.pardir, 'configs')
RESIZE = 32  # the stored size here, as 256 is for the paper
CROP = 27  # the network's input, as 227 is for the paper
NUM_TRAIN, NUM_VAL = 3 * 6, 7
FMNIST_CROP = 28


def _paper_data_config(**overrides) -> ml_collections.ConfigDict:
  config = runpy.run_path(os.path.join(_CONFIGS, 'imagenet_paper.py'))['get_config']().data
  config.update(overrides)
  return config


@pytest.fixture(scope='session')
def imagenet(tmp_path_factory) -> tuple[ml_collections.ConfigDict, DatasetInfo]:
  """TFDS's imagenet2012 builder (our §2 subclass) prepared from generated ILSVRC tars."""
  root = tmp_path_factory.mktemp('imagenet')
  fake_data.write_ilsvrc_tars(str(root / 'manual'), num_synsets=3, per_synset=6, num_val=NUM_VAL)
  config = _paper_data_config(data_dir=str(root / 'tfds'), manual_dir=str(root / 'manual'),
                              resize_size=RESIZE)
  return config, prepare(config, _net(CROP)).info


def _plain(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """No flips, no colour shift: what the pipeline yields is then known exactly."""
  plain = ml_collections.ConfigDict(config.to_dict())
  plain.flip, plain.pca_std = False, 0.0
  return plain


def _net(image_size: int, channels: int = 3) -> ModelConfig:
  """A network's input: what the dataset is opened for."""
  return ModelConfig(image_size=image_size, input_channels=channels)


def _open(config, image_size: int, channels: int = 3) -> Dataset:
  return Dataset.open(config, _net(image_size, channels))


def _finished(dataset: Dataset, batches, crops: int | None = None):
  """The batches as the steps see them: the host's uint8 and draws, finished as on the
  device (float32 images; crops given for evaluation batches)."""
  for batch in batches:
    image = (dataset.finish_train(batch) if crops is None else dataset.finish_eval(batch, crops))
    yield {**batch, 'image': image}


def _train_batches(config, image_size: int, channels: int = 3, **kwargs):
  dataset = _open(config, image_size, channels)
  return _finished(dataset, dataset.train_batches(**kwargs))


def _eval_batches(config, image_size: int, split: str, channels: int = 3, **kwargs):
  dataset = _open(config, image_size, channels)
  return _finished(dataset, dataset.eval_batches(split, **kwargs), kwargs['crops'])


def _stored_images(config, split: str) -> np.ndarray:
  """The split's stored images in stored order, decoded outside the pipeline."""
  source = input_pipeline.source(registry.spec(config), split)
  records = source.__getitems__(list(range(len(source))))
  parsed = tf.io.parse_example(tf.constant(records), input_pipeline._FEATURES)
  return np.stack([tf.io.decode_image(e, channels=3).numpy() for e in parsed['image']])


def _take(iterator, n: int) -> list[dict[str, np.ndarray]]:
  return [next(iterator) for _ in range(n)]


def test_imagenet_builder_prepares_train_and_validation_from_ilsvrc_tars(imagenet):
  _, info = imagenet
  assert info.num_examples == {'train': NUM_TRAIN, 'validation': NUM_VAL}
  assert info.num_classes == 1000 and len(info.class_names) == 1000
  assert info.class_names[0].startswith('tench')
  assert info.skipped_images == 0
  assert info.stored_shape == (RESIZE, RESIZE, 3)


def test_imagenet_images_are_stored_as_central_square_crops(imagenet):
  config, _ = imagenet
  images = _stored_images(config, 'validation')
  assert images.shape == (NUM_VAL, RESIZE, RESIZE, 3)


def test_train_batches_have_the_promised_shapes_and_types(imagenet):
  config, info = imagenet
  batch = next(_train_batches(config, CROP, global_batch_size=8, seed=0))
  assert batch['image'].shape == (8, CROP, CROP, 3) and batch['image'].dtype == np.float32
  assert batch['label'].shape == (8,) and batch['label'].dtype == np.int32
  assert set(batch['label']) <= set(range(info.num_classes))


def test_train_batches_are_the_epoch_permutation_minus_the_mean_image(imagenet):
  config, info = imagenet
  plain = _plain(config)
  stored = _stored_images(config, 'train').astype(np.float32)
  mean = pixel_statistics.load(info.statistics_file).mean_image
  batch = next(_train_batches(plain, RESIZE, global_batch_size=8, seed=5))
  order = epoch_permutation(5, 0, NUM_TRAIN)[:8]
  np.testing.assert_allclose(batch['image'], stored[order] - mean, atol=1e-4)


def test_statistics_are_the_mean_image_and_rgb_covariance_of_the_training_split(imagenet):
  config, info = imagenet
  stored = _stored_images(config, 'train').astype(np.float64)
  statistics = pixel_statistics.load(info.statistics_file)
  np.testing.assert_allclose(statistics.mean_image, stored.mean(0), atol=1e-3)
  np.testing.assert_allclose(statistics.rgb_covariance,
                             np.cov((stored / 255).reshape(-1, 3).T, bias=True), atol=1e-5)
  assert statistics.num_images == NUM_TRAIN


def test_channel_mean_subtracts_one_value_per_channel(imagenet):
  config, info = imagenet
  plain = _plain(config)
  plain.mean = 'channel'
  stored = _stored_images(config, 'train').astype(np.float32)
  rgb_mean = pixel_statistics.load(info.statistics_file).rgb_mean
  batch = next(_train_batches(plain, RESIZE, global_batch_size=4, seed=0))
  order = epoch_permutation(0, 0, NUM_TRAIN)[:4]
  np.testing.assert_allclose(batch['image'], stored[order] - rgb_mean, atol=1e-4)


def test_resumed_pipeline_sees_the_batches_of_an_uninterrupted_run(imagenet):
  config, _ = imagenet
  uninterrupted = _take(_train_batches(config, CROP, global_batch_size=8, seed=3), 6)
  resumed = _take(_train_batches(config, CROP, global_batch_size=8, seed=3, start_step=4), 2)
  for a, b in zip(uninterrupted[4:], resumed):  # steps 4 and 5 cross the 2nd epoch's end
    np.testing.assert_array_equal(a['image'], b['image'])
    np.testing.assert_array_equal(a['label'], b['label'])


def test_seed_changes_order_and_augmentation(imagenet):
  config, _ = imagenet
  a = next(_train_batches(config, CROP, global_batch_size=8, seed=0))
  b = next(_train_batches(config, CROP, global_batch_size=8, seed=1))
  assert not np.array_equal(a['image'], b['image'])


def test_global_batch_is_the_same_for_one_or_two_processes(imagenet):
  config, _ = imagenet
  whole = _take(_train_batches(config, CROP, global_batch_size=8, seed=2), 3)
  halves = [
      _take(
          _train_batches(config, CROP, global_batch_size=8, seed=2, process_index=p,
                         process_count=2), 3) for p in (0, 1)
  ]
  for step in range(3):
    np.testing.assert_array_equal(whole[step]['image'],
                                  np.concatenate([h[step]['image'] for h in halves]))


def _match(rows: np.ndarray, references: np.ndarray) -> list[int]:
  """Index of the reference each row equals (within float error)."""
  distances = np.abs(rows[:, None] - references[None]).reshape(len(rows), len(references), -1)
  best = distances.max(-1).argmin(1)
  assert distances.max(-1)[np.arange(len(rows)), best].max() < 1e-3
  return best.tolist()


def test_two_processes_together_read_one_training_epoch_exactly_once(imagenet):
  config, info = imagenet
  plain = _plain(config)
  references = (_stored_images(config, 'train').astype(np.float32)
                - pixel_statistics.load(info.statistics_file).mean_image)
  seen = {}
  for p in (0, 1):  # 18 examples = 3 global batches of 6
    batches = _take(
        _train_batches(plain, RESIZE, global_batch_size=6, seed=0, process_index=p,
                       process_count=2), 3)
    seen[p] = _match(np.concatenate([b['image'] for b in batches]), references)
  assert not set(seen[0]) & set(seen[1])
  assert sorted(seen[0] + seen[1]) == list(range(NUM_TRAIN))


def test_two_processes_together_evaluate_the_split_exactly_once(imagenet):
  config, info = imagenet
  references = (_stored_images(config, 'validation').astype(np.float32)
                - pixel_statistics.load(info.statistics_file).mean_image)
  seen = []
  for p in (0, 1):
    for batch in _eval_batches(config, RESIZE, 'validation', global_batch_size=4, crops=1,
                               process_index=p, process_count=2):
      assert batch['image'].shape == (2, 1, RESIZE, RESIZE, 3)
      seen += _match(batch['image'][batch['mask'], 0], references)
  assert sorted(seen) == list(range(NUM_VAL))


def test_eval_pads_the_last_batch_and_masks_the_padding(imagenet):
  config, _ = imagenet
  batches = list(_eval_batches(config, CROP, 'validation', global_batch_size=4, crops=1))
  assert len(batches) == 2  # 7 examples
  assert [b['mask'].tolist() for b in batches] == [[True] * 4, [True] * 3 + [False]]
  assert all(b['image'].shape == (4, 1, CROP, CROP, 3) for b in batches)
  assert all(b['label'].dtype == np.int32 for b in batches)


def test_ten_crop_eval_holds_five_patches_and_their_mirrors(imagenet):
  config, info = imagenet
  batch = next(_eval_batches(config, CROP, 'validation', global_batch_size=4, crops=10))
  images = batch['image']
  assert images.shape == (4, 10, CROP, CROP, 3)
  np.testing.assert_array_equal(images[:, 5:], images[:, :5, :, ::-1])
  full = (_stored_images(config, 'validation')[:4].astype(np.float32)
          - pixel_statistics.load(info.statistics_file).mean_image)
  far, c = RESIZE - CROP, (RESIZE - CROP) // 2
  for k, (top, left) in enumerate([(c, c), (0, 0), (0, far), (far, 0), (far, far)]):
    np.testing.assert_allclose(images[:, k], full[:, top:top + CROP, left:left + CROP], atol=1e-4)


def test_preprocess_gives_what_evaluation_gives(imagenet):
  config, _ = imagenet
  source = input_pipeline.source(registry.spec(config), 'validation')
  encoded = tf.io.parse_example(tf.constant(source.__getitems__([0])),
                                input_pipeline._FEATURES)['image'][0].numpy()
  batch = next(_eval_batches(config, CROP, 'validation', global_batch_size=4, crops=10))
  got = _open(config, CROP).preprocess(encoded, crops=10)
  np.testing.assert_allclose(got, batch['image'][0], atol=1e-4)


def test_preprocess_takes_any_image_file(imagenet):
  config, _ = imagenet
  png = io.BytesIO()
  Image.fromarray(np.zeros((40, 90, 4), np.uint8)).save(png, format='PNG')  # RGBA, not square
  assert _open(config, CROP).preprocess(png.getvalue(), crops=1).shape == (1, CROP, CROP, 3)


def test_preprocess_rejects_bytes_that_are_not_an_image(imagenet):
  config, _ = imagenet
  with pytest.raises(ValueError, match='not a decodable image'):
    _open(config, CROP).preprocess(b'<html>404</html>', crops=10)


def test_prepare_again_only_reads(imagenet):
  config, info = imagenet
  before = os.stat(info.statistics_file).st_mtime_ns
  assert prepare(config, _net(CROP)).info == info
  assert os.stat(info.statistics_file).st_mtime_ns == before


def test_missing_imagenet_tars_are_named_with_the_directory_searched(tmp_path):
  manual = tmp_path / 'manual'
  manual.mkdir()
  (manual / 'ILSVRC2012_img_val.tar').write_bytes(b'')
  config = _paper_data_config(data_dir=str(tmp_path / 'tfds'), manual_dir=str(manual))
  with pytest.raises(imagenet_builder.ArchiveError) as error:
    prepare(config, _net(227))
  assert 'ILSVRC2012_img_train.tar' in str(error.value)
  assert 'ILSVRC2012_img_val.tar' not in str(error.value)
  assert str(manual) in str(error.value)


@pytest.mark.parametrize('content, message', [
    (b'', r'ILSVRC2012_img_val.tar is an empty file \(0 bytes\)'),
    ('no files', r'ILSVRC2012_img_val.tar is a tar with no files in it'),
    (b'<html>Your session expired</html>' * 40, r'ILSVRC2012_img_val.tar is not a readable tar'),
])
def test_an_empty_or_broken_imagenet_tar_is_named_before_anything_is_prepared(
    tmp_path, content, message):
  manual = tmp_path / 'manual'
  fake_data.write_ilsvrc_tars(str(manual), num_synsets=1, per_synset=1, num_val=1)
  val = manual / 'ILSVRC2012_img_val.tar'
  if content == 'no files':
    tarfile.open(val, 'w').close()
  else:
    val.write_bytes(content)
  config = _paper_data_config(data_dir=str(tmp_path / 'tfds'), manual_dir=str(manual))
  with pytest.raises(imagenet_builder.ArchiveError, match=message):
    prepare(config, _net(227))
  assert not list((tmp_path / 'tfds').glob('alexnet_imagenet2012/*/*'))


def test_a_split_the_dataset_lacks_is_refused_at_preparation_naming_the_splits(imagenet):
  config, _ = imagenet
  for field, split in (('eval_split', 'test'), ('train_split', 'train[:200%]')):
    wrong = ml_collections.ConfigDict(config.to_dict())
    wrong[field] = split
    with pytest.raises(
        ConfigError, match=rf"data.{field}='{re.escape(split)}' is not allowed: "
        r'it must be a split of .* \(train, validation\)'):
      prepare(wrong, _net(CROP))


@pytest.mark.parametrize('overrides, message', [
    ({'dataset': 'imagenet2013'}, r"^data.dataset='imagenet2013' is not allowed: it must be "
     r'imagenet2012 or fashion_mnist or image_folder\.$'),
    ({'dataset': 'image_folder'}, r"^data.folder='' is not allowed: it must be the root of the "
     r"image folder when data.dataset='image_folder'\.$"),
])
def test_a_dataset_not_in_the_registry_or_without_a_field_it_needs_is_refused_before_any_write(
    tmp_path, overrides, message):
  config = _paper_data_config(data_dir=str(tmp_path / 'tfds'), **overrides)
  for open_or_prepare in (prepare, Dataset.open):
    with pytest.raises(ConfigError, match=message):
      open_or_prepare(config, _net(227))
  assert not (tmp_path / 'tfds').exists()


def test_unprepared_dataset_is_an_error_that_says_to_prepare(tmp_path):
  config = _paper_data_config(data_dir=str(tmp_path))
  with pytest.raises(FileNotFoundError, match='prepare'):
    _open(config, 227)


@pytest.fixture(scope='session')
def folder(tmp_path_factory) -> tuple[ml_collections.ConfigDict, DatasetInfo]:
  """An Imagenette-like folder with one corrupt and one truncated JPEG."""
  root = tmp_path_factory.mktemp('folder') / 'pets'
  fake_data.write_image_folder(str(root),
                               {'train': {'cat': 4, 'dog': 5}, 'val': {'cat': 2, 'dog': 1}})
  (root / 'train' / 'cat' / 'corrupt.jpg').write_bytes(b'\xff\xd8\xff\xe0 not really a JPEG')
  whole = (root / 'train' / 'dog' / '0.jpg').read_bytes()
  (root / 'train' / 'dog' / 'truncated.jpg').write_bytes(whole[:len(whole) // 2])
  config = _paper_data_config(dataset='image_folder', folder=str(root),
                              data_dir=str(root.parent / 'tfds'), resize_size=RESIZE)
  return config, prepare(config, _net(CROP)).info


def test_corrupt_and_truncated_images_in_a_folder_are_skipped_and_counted(folder):
  config, info = folder
  assert info.skipped_images == 2
  assert info.num_examples == {'train': 9, 'validation': 3}
  assert info.class_names == ('cat', 'dog')
  batch = next(_train_batches(config, CROP, global_batch_size=4, seed=0))
  assert batch['image'].shape == (4, CROP, CROP, 3)
  assert prepare(config, _net(CROP)).info.skipped_images == 2  # reported on later starts


@pytest.mark.parametrize('case', [
    'missing', 'no_classes', 'one_class', 'stray_files', 'empty_class', 'unknown_val_class'
])
def test_folder_that_cannot_be_classes_of_images_is_an_error_saying_why(tmp_path, case):
  root = tmp_path / 'root'
  if case != 'missing':
    root.mkdir()
  if case == 'stray_files':
    fake_data.write_image_folder(str(root), {'': {'a': 1}})
    (root / 'loose.jpg').write_bytes(b'')
  elif case == 'empty_class':
    fake_data.write_image_folder(str(root), {'': {'a': 1}})
    (root / 'b').mkdir()
  elif case == 'one_class':
    fake_data.write_image_folder(str(root), {'': {'a': 2}})
  elif case == 'unknown_val_class':
    fake_data.write_image_folder(str(root),
                                 {'train': {'a': 1, 'b': 1}, 'val': {'a': 1, 'zebra': 1}})
  expected = {
      'missing': 'does not exist', 'no_classes': 'no class folders',
      'one_class': r'1 class folder \(a\): a classifier needs at least two',
      'stray_files': 'loose.jpg', 'empty_class': 'without images in .*: b',
      'unknown_val_class': 'that train lacks: zebra'
  }[case]
  config = _paper_data_config(dataset='image_folder', folder=str(root),
                              data_dir=str(tmp_path / 'tfds'))
  with pytest.raises(image_folder.FolderLayoutError, match=expected):
    prepare(config, _net(227))


@pytest.fixture(scope='session')
def fmnist(tmp_path_factory) -> tuple[ml_collections.ConfigDict, DatasetInfo]:
  """Fashion-MNIST built offline from idx files (small ones, in Debian's format)."""
  root = tmp_path_factory.mktemp('fmnist')
  fake_data.write_fashion_mnist_idx(str(root / 'manual'), train=40, test=10)
  config = runpy.run_path(os.path.join(_CONFIGS, 'fashion_mnist.py'))['get_config']().data
  # Raw 0–255 pixels, which the tests compute by hand; divide_by_std has its own test.
  config.update(data_dir=str(root / 'tfds'), manual_dir=str(root / 'manual'), resize_size=32,
                divide_by_std=False)
  return config, prepare(config, _net(FMNIST_CROP)).info


def test_fashion_mnist_builds_offline_from_idx_files(fmnist):
  _, info = fmnist
  assert info.num_examples == {'train': 40, 'test': 10}
  assert info.class_names[0] == 'T-shirt/top' and info.num_classes == 10
  assert info.stored_shape == (28, 28, 1)


def test_fashion_mnist_prepares_from_idx_files_without_tfds_extraction(tmp_path, monkeypatch):
  """TFDS's extraction waits on the ``promise`` package, where one preparation waited for
  good: the builder uncompresses local idx files itself."""

  def refused(*args, **kwargs):
    raise AssertionError('dl_manager.extract was called')

  monkeypatch.setattr(fashion_mnist.tfds.download.DownloadManager, 'extract', refused)
  fake_data.write_fashion_mnist_idx(str(tmp_path / 'manual'), train=8, test=4)
  config = runpy.run_path(os.path.join(_CONFIGS, 'fashion_mnist.py'))['get_config']().data
  config.update(data_dir=str(tmp_path / 'tfds'), manual_dir=str(tmp_path / 'manual'))
  assert prepare(config, _net(FMNIST_CROP)).info.num_examples == {'train': 8, 'test': 4}


def test_fashion_mnist_grey_images_become_three_equal_channels(fmnist):
  config, _ = fmnist
  batch = next(_train_batches(config, FMNIST_CROP, global_batch_size=8, seed=0))
  assert batch['image'].shape == (8, FMNIST_CROP, FMNIST_CROP, 3)
  np.testing.assert_allclose(batch['image'][..., 0], batch['image'][..., 2], atol=1e-3)
  evaluation = next(_eval_batches(config, FMNIST_CROP, 'test', global_batch_size=8, crops=10))
  assert evaluation['image'].shape == (8, 10, FMNIST_CROP, FMNIST_CROP, 3)


def test_fashion_mnist_training_crops_are_resized_crops_minus_the_mean(fmnist):
  config, _ = fmnist
  plain = _plain(config)
  plain.resize_size = 30  # enlarged to the crop size: the crop is the whole resized image
  statistics = pixel_statistics.load(prepare(plain, _net(30)).info.statistics_file)
  resized = tf.image.resize(_stored_images(plain, 'train').astype(np.float32), [30, 30]).numpy()
  batch = next(_train_batches(plain, 30, global_batch_size=8, seed=1))
  order = epoch_permutation(1, 0, 40)[:8]
  np.testing.assert_allclose(batch['image'], resized[order] - statistics.mean_image, atol=2e-3)


def test_without_translations_every_training_crop_is_the_centre_crop(fmnist):
  config, _ = fmnist
  plain = _plain(config)
  plain.translate = False  # the ablation of §4.1's random crops
  batch = next(_train_batches(plain, FMNIST_CROP, global_batch_size=8, seed=1))
  order = epoch_permutation(1, 0, 40)[:8]
  centre = next(_eval_batches(plain, FMNIST_CROP, 'train', global_batch_size=40, crops=1))
  centre_crops = centre['image'].reshape(40, FMNIST_CROP, FMNIST_CROP, -1)
  np.testing.assert_allclose(batch['image'], centre_crops[order], atol=1e-4)
  plain.translate = True
  moved = next(_train_batches(plain, FMNIST_CROP, global_batch_size=8, seed=1))['image']
  assert not np.allclose(moved, batch['image'], atol=1e-2)


def test_debian_fashion_mnist_files_are_found_when_installed():
  if not os.path.isdir(fashion_mnist.DEBIAN_DIR):
    pytest.skip("Debian's dataset-fashion-mnist is not installed here")
  assert fashion_mnist.local_idx_dir('') == fashion_mnist.DEBIAN_DIR


def test_divide_by_std_scales_the_pixels_by_the_training_sets_standard_deviation(fmnist):
  config, info = fmnist
  statistics = pixel_statistics.load(info.statistics_file)
  std = 255.0 * np.sqrt(np.diag(statistics.rgb_covariance))
  plain = next(_train_batches(config, FMNIST_CROP, global_batch_size=8, seed=0))['image']
  config = ml_collections.ConfigDict(config.to_dict())
  config.divide_by_std = True
  scaled = next(_train_batches(config, FMNIST_CROP, global_batch_size=8, seed=0))['image']
  np.testing.assert_allclose(scaled, plain / std, rtol=1e-5, atol=1e-5)
  evaluated = next(_eval_batches(config, FMNIST_CROP, 'test', global_batch_size=8,
                                 crops=1))['image']
  assert 0.2 < float(np.std(evaluated)) < 5.0 < float(std[0])


def test_one_channel_keeps_grey_images_grey_and_equals_the_rgb_pipelines_first_channel(fmnist):
  config, _ = fmnist
  rgb = next(_train_batches(config, FMNIST_CROP, global_batch_size=8, seed=4))['image']
  grey = next(_train_batches(config, FMNIST_CROP, 1, global_batch_size=8, seed=4))['image']
  assert grey.shape == (8, FMNIST_CROP, FMNIST_CROP, 1)
  np.testing.assert_array_equal(grey, rgb[..., :1])
  grey, rgb = (next(_eval_batches(config, FMNIST_CROP, 'test', c, global_batch_size=8,
                                  crops=10))['image'] for c in (1, 3))
  assert grey.shape == (8, 10, FMNIST_CROP, FMNIST_CROP, 1)
  np.testing.assert_array_equal(grey, rgb[..., :1])


def test_one_channel_is_refused_for_colour_images(folder):
  config, _ = folder
  with pytest.raises(ConfigError, match=r'model.input_channels=1 is not allowed'):
    _open(config, CROP, 1)


def test_a_class_none_of_whose_images_can_be_read_stops_the_preparation_naming_it(tmp_path):
  root = tmp_path / 'pets'
  fake_data.write_image_folder(str(root), {'': {'cat': 2, 'dog': 2}})
  for path in (root / 'dog').iterdir():
    path.write_bytes(b'not an image')
  config = _paper_data_config(dataset='image_folder', folder=str(root),
                              data_dir=str(tmp_path / 'tfds'), resize_size=RESIZE)
  with pytest.raises(image_folder.FolderLayoutError, match=r"no image of class 'dog' in .* could "
                     'be read'):
    prepare(config, _net(CROP))


def test_file_and_class_names_that_are_not_utf8_are_stored_with_their_bytes_escaped(tmp_path):
  root = tmp_path / 'pets'
  fake_data.write_image_folder(str(root), {'': {'cat': 2, 'dog': 1}})
  latin1 = os.fsdecode(b'caf\xe9')  # 'café' in Latin-1: not UTF-8
  os.rename(root / 'cat', root / latin1)
  os.rename(root / latin1 / '0.jpg', root / latin1 / f'{latin1}.jpg')
  config = _paper_data_config(dataset='image_folder', folder=str(root), eval_split='train',
                              data_dir=str(tmp_path / 'tfds'), resize_size=RESIZE)
  info = prepare(config, _net(CROP)).info
  assert info.class_names == ('caf\\xe9', 'dog') and info.num_examples == {'train': 3}
  builder = registry.spec(config).builder
  names = {example['file_name'].decode() for example in builder.as_data_source('train')}
  assert names == {'caf\\xe9/caf\\xe9.jpg', 'caf\\xe9/1.jpg', 'dog/0.jpg'}


def test_a_sixteen_bit_png_in_a_folder_trains_as_its_picture(tmp_path):
  root = tmp_path / 'scans'
  fake_data.write_image_folder(str(root), {'': {'a': 1, 'b': 1}})
  ramp = np.linspace(0, 65535, RESIZE * RESIZE).reshape(RESIZE, RESIZE).astype(np.uint16)
  Image.fromarray(ramp).save(root / 'a' / 'ramp.png')  # mode I;16
  config = _paper_data_config(dataset='image_folder', folder=str(root), eval_split='train',
                              data_dir=str(tmp_path / 'tfds'), resize_size=RESIZE)
  prepare(config, _net(CROP))
  stored = [
      example['image'] for example in registry.spec(config).builder.as_data_source('train')
      if example['file_name'].decode() == 'a/ramp.png'
  ]
  assert len(stored) == 1 and 100 < stored[0].mean() < 155  # a ramp, not a white square


def test_the_host_sends_uint8_windows_and_draws_and_each_test_image_once(imagenet):
  config, _ = imagenet
  dataset = _open(config, CROP)
  batch = next(dataset.train_batches(global_batch_size=8, seed=0))
  assert set(batch) == {'image', 'label', 'offset', 'flip', 'shift'}
  assert batch['image'].dtype == np.uint8 and batch['image'].shape == (8, CROP, CROP, 3)
  assert sum(v.nbytes for v in batch.values()) / 8 == CROP * CROP * 3 + 4 + 8 + 1 + 12
  ten = next(dataset.eval_batches('validation', global_batch_size=4, crops=10))
  assert ten['image'].dtype == np.uint8 and ten['image'].shape == (4, RESIZE, RESIZE, 3)
  centre = next(dataset.eval_batches('validation', global_batch_size=4, crops=1))
  assert centre['image'].shape == (4, CROP, CROP, 3)  # only the centre window is decoded
