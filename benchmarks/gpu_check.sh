#!/usr/bin/env bash
# The GPU half of BENCHMARKS.md "Training step" in one call: the bare train step (batch 128
# and 1024, bf16/fp32, LRN on/off, plus the sliced max-pool A/B), the PyTorch reference
# (full plan: both layouts, eager and torch.compile) and, where TensorFlow is installed,
# the trainer against the bare step. From a session whose task has a GPU:
#
#   run(command="bash benchmarks/gpu_check.sh", carry=[".bench", ".whl"], timeout_s=600)
#
# Carried, git-ignored inputs (prepare them here first):
#   .bench/torch_reference.py   cp ../shared/bench/torch_reference.py .bench/
#   .whl/ml_collections-*.whl   the GPU image lacks ml-collections (README of the device tool:
#                               pip download --no-deps --only-binary=:all: --python-version 3.12
#                               --implementation cp --platform manylinux2014_x86_64 -d .whl
#                               ml-collections==1.1.0)
# Results: $OUT/step_throughput.json (written after every measurement) and the log.
# Expect 6-8 minutes (about 10 compilations of the paper net plus two torch.compile runs);
# extra arguments go to step_throughput.py, e.g. --skip_torch or --batch_sizes 1024.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1
OUT=${OUT:-.bench/gpu}
mkdir -p "$OUT"
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm,driver_version --format=csv \
  2>&1 | tee "$OUT/nvidia_smi.txt"
python3 -c 'import jax, torch; print("jax", jax.__version__, jax.devices(), "torch", torch.__version__)'
# The trainer's comparison needs TensorFlow + TFDS (the input pipeline) and the prepared
# Fashion-MNIST; without them it is skipped (recorded as an error in the JSON).
TRAINER=(--data_dir "${DATA_DIR:-.bench/tfds}")
python3 -c 'import tensorflow, tensorflow_datasets' 2>/dev/null || TRAINER=(--skip_trainer)
python3 benchmarks/step_throughput.py --out "$OUT/step_throughput.json" --torch_python python3 \
  --budget 3 --torch_budget 3 "${TRAINER[@]}" "$@" 2>&1 | tee "$OUT/step_throughput.log"
