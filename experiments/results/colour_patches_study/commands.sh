#!/usr/bin/env bash
# Made by:
#   python experiments/ablations.py --config configs/colour_patches.py --seeds 5 --variants no_pca --config.data.folder=/tmp/colour_patches --out experiments/results/colour_patches_study
# which runs each of these in turn (and skips those already done):
set -e
python -m alexnet.main --config=configs/colour_patches.py --workdir=workdirs/ablations/colour_patches_study/base/seed0 --config.data.folder=/tmp/colour_patches --config.seed=0
python -m alexnet.main --config=configs/colour_patches.py --workdir=workdirs/ablations/colour_patches_study/no_pca/seed0 --config.data.folder=/tmp/colour_patches --config.data.pca_std=0.0 --config.seed=0
python -m alexnet.main --config=configs/colour_patches.py --workdir=workdirs/ablations/colour_patches_study/base/seed1 --config.data.folder=/tmp/colour_patches --config.seed=1
python -m alexnet.main --config=configs/colour_patches.py --workdir=workdirs/ablations/colour_patches_study/no_pca/seed1 --config.data.folder=/tmp/colour_patches --config.data.pca_std=0.0 --config.seed=1
python -m alexnet.main --config=configs/colour_patches.py --workdir=workdirs/ablations/colour_patches_study/base/seed2 --config.data.folder=/tmp/colour_patches --config.seed=2
python -m alexnet.main --config=configs/colour_patches.py --workdir=workdirs/ablations/colour_patches_study/no_pca/seed2 --config.data.folder=/tmp/colour_patches --config.data.pca_std=0.0 --config.seed=2
python -m alexnet.main --config=configs/colour_patches.py --workdir=workdirs/ablations/colour_patches_study/base/seed3 --config.data.folder=/tmp/colour_patches --config.seed=3
python -m alexnet.main --config=configs/colour_patches.py --workdir=workdirs/ablations/colour_patches_study/no_pca/seed3 --config.data.folder=/tmp/colour_patches --config.data.pca_std=0.0 --config.seed=3
python -m alexnet.main --config=configs/colour_patches.py --workdir=workdirs/ablations/colour_patches_study/base/seed4 --config.data.folder=/tmp/colour_patches --config.seed=4
python -m alexnet.main --config=configs/colour_patches.py --workdir=workdirs/ablations/colour_patches_study/no_pca/seed4 --config.data.folder=/tmp/colour_patches --config.data.pca_std=0.0 --config.seed=4
