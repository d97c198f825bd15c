#!/usr/bin/env bash
# Made by:
#   python experiments/study.py --out experiments/results/study --regimes colour
# which runs each of these in turn (and skips those already done):
# (a run that fails, such as a diverging rate, does not stop the others)
python -m alexnet.main --config=configs/study/colour.py --workdir=workdirs/study/colour/base/seed0 --config.seed=0
python -m alexnet.main --config=configs/study/colour.py --workdir=workdirs/study/colour/no_pca/seed0 --config.data.pca_std=0.0 --config.seed=0
python -m alexnet.main --config=configs/study/colour.py --workdir=workdirs/study/colour/base/seed1 --config.seed=1
python -m alexnet.main --config=configs/study/colour.py --workdir=workdirs/study/colour/no_pca/seed1 --config.data.pca_std=0.0 --config.seed=1
python -m alexnet.main --config=configs/study/colour.py --workdir=workdirs/study/colour/base/seed2 --config.seed=2
python -m alexnet.main --config=configs/study/colour.py --workdir=workdirs/study/colour/no_pca/seed2 --config.data.pca_std=0.0 --config.seed=2
python -m alexnet.main --config=configs/study/colour.py --workdir=workdirs/study/colour/base/seed3 --config.seed=3
python -m alexnet.main --config=configs/study/colour.py --workdir=workdirs/study/colour/no_pca/seed3 --config.data.pca_std=0.0 --config.seed=3
python -m alexnet.main --config=configs/study/colour.py --workdir=workdirs/study/colour/base/seed4 --config.seed=4
python -m alexnet.main --config=configs/study/colour.py --workdir=workdirs/study/colour/no_pca/seed4 --config.data.pca_std=0.0 --config.seed=4
python -m alexnet.main --config=configs/study/colour.py --workdir=workdirs/study/colour/base/seed5 --config.seed=5
python -m alexnet.main --config=configs/study/colour.py --workdir=workdirs/study/colour/no_pca/seed5 --config.data.pca_std=0.0 --config.seed=5
python -m alexnet.main --config=configs/study/colour.py --workdir=workdirs/study/colour/base/seed6 --config.seed=6
python -m alexnet.main --config=configs/study/colour.py --workdir=workdirs/study/colour/no_pca/seed6 --config.data.pca_std=0.0 --config.seed=6
python -m alexnet.main --config=configs/study/colour.py --workdir=workdirs/study/colour/base/seed7 --config.seed=7
python -m alexnet.main --config=configs/study/colour.py --workdir=workdirs/study/colour/no_pca/seed7 --config.data.pca_std=0.0 --config.seed=7
python -m alexnet.main --config=configs/study/colour.py --workdir=workdirs/study/colour/base/seed8 --config.seed=8
python -m alexnet.main --config=configs/study/colour.py --workdir=workdirs/study/colour/no_pca/seed8 --config.data.pca_std=0.0 --config.seed=8
python -m alexnet.main --config=configs/study/colour.py --workdir=workdirs/study/colour/base/seed9 --config.seed=9
python -m alexnet.main --config=configs/study/colour.py --workdir=workdirs/study/colour/no_pca/seed9 --config.data.pca_std=0.0 --config.seed=9
