#!/usr/bin/env bash
# Made by:
#   python experiments/study.py --out experiments/results/study --regimes base
# which runs each of these in turn (and skips those already done):
# (a run that fails, such as a diverging rate, does not stop the others)
python -m alexnet.main --config=configs/study/base.py --workdir=workdirs/study/base/base/seed0 --config.seed=0
python -m alexnet.main --config=configs/study/base.py --workdir=workdirs/study/base/one_tower/seed0 --config.model.towers=1 --config.mesh.model=1 --config.seed=0
python -m alexnet.main --config=configs/study/base.py --workdir=workdirs/study/base/base/seed1 --config.seed=1
python -m alexnet.main --config=configs/study/base.py --workdir=workdirs/study/base/one_tower/seed1 --config.model.towers=1 --config.mesh.model=1 --config.seed=1
python -m alexnet.main --config=configs/study/base.py --workdir=workdirs/study/base/base/seed2 --config.seed=2
python -m alexnet.main --config=configs/study/base.py --workdir=workdirs/study/base/one_tower/seed2 --config.model.towers=1 --config.mesh.model=1 --config.seed=2
python -m alexnet.main --config=configs/study/base.py --workdir=workdirs/study/base/base/seed3 --config.seed=3
python -m alexnet.main --config=configs/study/base.py --workdir=workdirs/study/base/one_tower/seed3 --config.model.towers=1 --config.mesh.model=1 --config.seed=3
python -m alexnet.main --config=configs/study/base.py --workdir=workdirs/study/base/base/seed4 --config.seed=4
python -m alexnet.main --config=configs/study/base.py --workdir=workdirs/study/base/one_tower/seed4 --config.model.towers=1 --config.mesh.model=1 --config.seed=4
