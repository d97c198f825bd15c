"""The paper's recipe on ImageNet (ILSVRC-2012), every field at the paper's value.

  python -m alexnet.main --config configs/imagenet_paper.py --workdir runs/paper
  python -m alexnet.main --config configs/imagenet_paper.py:smoke ...   # a few tiny steps

Section numbers (§) refer to Krizhevsky, Sutskever and Hinton, NIPS 2012.
"""

import ml_collections


def get_config(variant: str = '') -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.seed = 0  # seeds parameters, dropout and the data order

  model = config.model = ml_collections.ConfigDict()
  model.num_classes = 1000  # §6: the 1000 ILSVRC classes
  model.towers = 2  # §3.2: two GPUs, each half the kernels; 1 = §3.5 footnote's one-GPU net
  model.width = 1.0  # not in the paper: multiplies every layer's kernel count
  model.image_size = 227  # §3.5 says 224; 227 gives 55×55 unpadded (224 pads conv1 by 3)
  model.input_channels = 3  # §2: raw RGB
  model.conv1_kernel = 11  # §3.5: 96 kernels of 11×11×3
  model.conv1_stride = 4  # §3.5: stride 4
  model.lrn = True  # §3.3: response normalisation after conv1 and conv2
  model.lrn_k = 2.0  # §3.3
  model.lrn_size = 5  # §3.3: n adjacent kernel maps
  model.lrn_alpha = 1e-4  # §3.3
  model.lrn_beta = 0.75  # §3.3
  model.lrn_alpha_over_size = False  # §3.3 uses α; cuda-convnet2 and Caffe use α/n
  model.overlapping_pool = True  # §3.4: window 3 stride 2; False = window 2 stride 2
  model.dropout_rate = 0.5  # §4.2: on fc6 and fc7
  model.init = 'paper'  # §5: N(0, 0.01), bias 1 on conv2/4/5, fc6/7; 'caffe' or 'he'
  model.activation = 'relu'  # §3.1; 'tanh' is Figure 1's saturating baseline
  model.compute_dtype = 'float32'  # not in the paper: 'bfloat16' keeps float32 parameters

  mesh = config.mesh = ml_collections.ConfigDict()
  mesh.data = -1  # data-parallel devices; -1 = every device the model axis leaves
  mesh.model = -1  # devices per model (tower split); -1 = one tower per device when possible

  data = config.data = ml_collections.ConfigDict()
  data.dataset = 'imagenet2012'  # §2: ILSVRC-2012; or 'fashion_mnist', 'image_folder'
  data.data_dir = ''  # not in the paper: TFDS data_dir; '' = $TFDS_DATA_DIR or ~/tensorflow_datasets
  data.manual_dir = ''  # not in the paper: holds the ILSVRC2012 tars; '' = <data_dir>/downloads/manual
  data.folder = ''  # not in the paper: root of <class>/<image> folders for dataset='image_folder'
  data.train_split = 'train'  # §2: the 1.2 million training images
  data.eval_split = 'validation'  # §6: ILSVRC-2012 results are on the 50,000 validation images
  data.resize_size = 256  # §2: shorter side to 256, central 256×256 crop (done once, at preparation)
  data.mean = 'pixel'  # §2: per-pixel mean image of the training set; 'channel' = per-channel mean
  data.divide_by_std = False  # §2 feeds raw values minus the mean; True also divides by the RGB std
  data.flip = True  # §4.1: horizontal reflections of the training crops
  data.pca_std = 0.1  # §4.1: α ~ N(0, 0.1) per image per use; 0 turns the colour shift off
  data.pca_eigen = 'computed'  # §4.1: PCA of the training set's RGB; 'imagenet' = published values
  data.pca_convention = 'lambda'  # §4.1's text: α·λ; 'sqrt_lambda' = α·√λ as in cuda-convnet2
  data.eval_crops = 10  # §4.1: average of the 10 patches' softmax; 1 = centre crop only
  data.threads = 0  # not in the paper: tf.data threads; 0 = as many as TF sees cores

  opt = config.optim = ml_collections.ConfigDict()
  opt.learning_rate = 0.01  # §5: "initialized at 0.01", equal for all layers
  opt.momentum = 0.9  # §5
  opt.weight_decay = 5e-4  # §5
  opt.weight_decay_on_biases = False  # §5 decays weights; cuda-convnet2 and Caffe spare biases
  opt.update_rule = 'paper'  # §5: v ← 0.9v − 0.0005εw − εg, w ← w + v; 'usual' = (μv + g)·ε
  opt.schedule = 'plateau'  # §5: ÷10 when validation error stops improving; 'step', 'cosine', 'constant'
  opt.plateau_patience = 4  # not in the paper: evaluations without improvement before ÷10
  opt.plateau_factor = 0.1  # §5: "divide the learning rate by 10"
  opt.plateau_max_reductions = 3  # §5: "reduced three times prior to termination"
  opt.plateau_min_improvement = 0.0  # not in the paper: top-1 error drop that counts as progress
  opt.step_epochs = 30.0  # schedule='step' only: epochs between divisions (not the paper's rule)
  opt.step_factor = 0.1  # schedule='step' only: factor at each division
  opt.warmup_epochs = 0.0  # not in the paper: linear warm-up from 0 over this many epochs

  train = config.train = ml_collections.ConfigDict()
  train.batch_size = 128  # §5: "batch size of 128 examples" (global, over all devices)
  train.num_epochs = 90.0  # §5: "roughly 90 cycles through the training set"
  train.num_steps = -1  # not in the paper: when positive, overrides num_epochs (smoke runs)
  train.eval_every_epochs = 1.0  # not in the paper: how often the plateau rule sees the error
  train.eval_batch_size = 128  # not in the paper: global batch of evaluation
  train.log_every_steps = 100  # not in the paper: metrics.jsonl, TensorBoard and console
  train.checkpoint_every_steps = 5000  # not in the paper: also at every evaluation and the end
  train.keep_checkpoints = 3  # not in the paper: the latest kept, plus the best by top-1 error

  if variant == 'smoke':
    model.width = 1 / 16
    model.image_size = 67
  elif variant:
    raise ValueError(f'Unknown variant {variant!r} of imagenet_paper.py; known: smoke.')
  return config
