#!/usr/bin/env bash
# Made by:
#   python experiments/study.py --out experiments/results/study --regimes pooling
# which runs each of these in turn (and skips those already done):
# (a run that fails, such as a diverging rate, does not stop the others)
python -m alexnet.main --config=configs/study/pooling.py --workdir=workdirs/study/pooling/base/seed0 --config.seed=0
python -m alexnet.main --config=configs/study/pooling.py --workdir=workdirs/study/pooling/no_overlap/seed0 --config.model.overlapping_pool=False --config.seed=0
python -m alexnet.main --config=configs/study/pooling.py --workdir=workdirs/study/pooling/base/seed1 --config.seed=1
python -m alexnet.main --config=configs/study/pooling.py --workdir=workdirs/study/pooling/no_overlap/seed1 --config.model.overlapping_pool=False --config.seed=1
python -m alexnet.main --config=configs/study/pooling.py --workdir=workdirs/study/pooling/base/seed2 --config.seed=2
python -m alexnet.main --config=configs/study/pooling.py --workdir=workdirs/study/pooling/no_overlap/seed2 --config.model.overlapping_pool=False --config.seed=2
python -m alexnet.main --config=configs/study/pooling.py --workdir=workdirs/study/pooling/base/seed3 --config.seed=3
python -m alexnet.main --config=configs/study/pooling.py --workdir=workdirs/study/pooling/no_overlap/seed3 --config.model.overlapping_pool=False --config.seed=3
