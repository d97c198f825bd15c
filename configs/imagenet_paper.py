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

  if variant == 'smoke':
    model.width = 1 / 16
    model.image_size = 67
  elif variant:
    raise ValueError(f'Unknown variant {variant!r} of imagenet_paper.py; known: smoke.')
  return config
