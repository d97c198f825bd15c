"""The XLA flags of the tests' JAX processes: how many CPU devices, and how they compile.

Free of JAX, so that conftest.py can set them before anything imports it.
"""

# LLVM's optimisation of XLA's CPU code is most of the time the tests spend compiling
# (two tests of test_parallel.py: 107 s at the default level, 28 s at level 0, on the
# 2-core EPYC), and the tests' networks are too small for the unoptimised code to cost
# more than that saves. Every process the tests start compiles at this level, so no test
# compares results compiled at two levels (which may differ by float32 round-off). The
# README's main command, the benchmarks and users' runs keep XLA's default.
UNOPTIMISED = '--xla_backend_optimization_level=0'


def cpu_devices(count: int) -> dict[str, str]:
  """The environment that gives a JAX process ``count`` CPU devices, compiling as the tests
  do."""
  return {'XLA_FLAGS': f'--xla_force_host_platform_device_count={count} {UNOPTIMISED}'}
