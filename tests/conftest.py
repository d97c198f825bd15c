"""Test-wide setup: eight CPU devices, so meshes up to (4, 2) can be tested on one CPU.

XLA reads the flag when JAX first initialises its backends, so it is set here,
before any test module imports JAX.
"""

import os

_DEVICES_FLAG = '--xla_force_host_platform_device_count=8'
if _DEVICES_FLAG not in os.environ.get('XLA_FLAGS', ''):
  os.environ['XLA_FLAGS'] = f"{os.environ.get('XLA_FLAGS', '')} {_DEVICES_FLAG}".strip()
# TensorFlow (the input pipeline) must never take a GPU from JAX, nor log at length.
os.environ.setdefault('CUDA_VISIBLE_DEVICES', '')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
