"""The XLA flags of the tests' JAX processes: how many CPU devices, and how they compile.

Free of JAX, so that conftest.py can set them before anything imports it.
"""

# LLVM's optimisation of XLA's CPU code is most of the time the tests spend compiling. On
# the 2-core EPYC, two tests of test_parallel.py took 107 s at XLA's default level (3),
# 37 s at level 1 and 28 s at level 0; a 200-step smoke run, its programs already in the
# compilation cache, spent 13.4 CPU-seconds at level 3, 13.3 at level 1 and 16.9 at level 0.
# Level 1 is not used: there, test_lowering.py's sliced and plain pooling gave gradients
# that differ in the last bit (LLVM optimised the two programs differently); at levels 0
# and 3 they are identical. Every process the tests start compiles at level 0, so no test
# compares results compiled at two levels. The README's main command, the benchmarks and
# users' runs keep XLA's default.
UNOPTIMISED = '--xla_backend_optimization_level=0'


def cpu_devices(count: int) -> dict[str, str]:
  """The environment that gives a JAX process ``count`` CPU devices, compiling as the tests
  do."""
  return {'XLA_FLAGS': f'--xla_force_host_platform_device_count={count} {UNOPTIMISED}'}
