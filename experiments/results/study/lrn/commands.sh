#!/usr/bin/env bash
# Made by:
#   python experiments/study.py --out experiments/results/study --regimes lrn
# which runs each of these in turn (and skips those already done):
# (a run that fails, such as a diverging rate, does not stop the others)
python -m alexnet.main --config=configs/study/lrn.py --workdir=workdirs/study/lrn/sweep/lr0.003/seed0 --config.optim.learning_rate=0.003 --config.seed=0
python -m alexnet.main --config=configs/study/lrn.py --workdir=workdirs/study/lrn/sweep/lr0.01/seed0 --config.optim.learning_rate=0.01 --config.seed=0
python -m alexnet.main --config=configs/study/lrn.py --workdir=workdirs/study/lrn/sweep/lr0.03/seed0 --config.optim.learning_rate=0.03 --config.seed=0
python -m alexnet.main --config=configs/study/lrn.py --workdir=workdirs/study/lrn/base/seed0 --config.optim.learning_rate=0.01 --config.seed=0
python -m alexnet.main --config=configs/study/lrn.py --workdir=workdirs/study/lrn/no_lrn/seed0 --config.optim.learning_rate=0.01 --config.model.lrn=False --config.seed=0
python -m alexnet.main --config=configs/study/lrn.py --workdir=workdirs/study/lrn/lrn_scale_only/seed0 --config.optim.learning_rate=0.01 --config.model.lrn_alpha=0.0 --config.seed=0
python -m alexnet.main --config=configs/study/lrn.py --workdir=workdirs/study/lrn/base/seed1 --config.optim.learning_rate=0.01 --config.seed=1
python -m alexnet.main --config=configs/study/lrn.py --workdir=workdirs/study/lrn/no_lrn/seed1 --config.optim.learning_rate=0.01 --config.model.lrn=False --config.seed=1
python -m alexnet.main --config=configs/study/lrn.py --workdir=workdirs/study/lrn/lrn_scale_only/seed1 --config.optim.learning_rate=0.01 --config.model.lrn_alpha=0.0 --config.seed=1
python -m alexnet.main --config=configs/study/lrn.py --workdir=workdirs/study/lrn/base/seed2 --config.optim.learning_rate=0.01 --config.seed=2
python -m alexnet.main --config=configs/study/lrn.py --workdir=workdirs/study/lrn/no_lrn/seed2 --config.optim.learning_rate=0.01 --config.model.lrn=False --config.seed=2
python -m alexnet.main --config=configs/study/lrn.py --workdir=workdirs/study/lrn/lrn_scale_only/seed2 --config.optim.learning_rate=0.01 --config.model.lrn_alpha=0.0 --config.seed=2
python -m alexnet.main --config=configs/study/lrn.py --workdir=workdirs/study/lrn/base/seed3 --config.optim.learning_rate=0.01 --config.seed=3
python -m alexnet.main --config=configs/study/lrn.py --workdir=workdirs/study/lrn/no_lrn/seed3 --config.optim.learning_rate=0.01 --config.model.lrn=False --config.seed=3
python -m alexnet.main --config=configs/study/lrn.py --workdir=workdirs/study/lrn/lrn_scale_only/seed3 --config.optim.learning_rate=0.01 --config.model.lrn_alpha=0.0 --config.seed=3
python -m alexnet.main --config=configs/study/lrn.py --workdir=workdirs/study/lrn/base/seed4 --config.optim.learning_rate=0.01 --config.seed=4
python -m alexnet.main --config=configs/study/lrn.py --workdir=workdirs/study/lrn/no_lrn/seed4 --config.optim.learning_rate=0.01 --config.model.lrn=False --config.seed=4
python -m alexnet.main --config=configs/study/lrn.py --workdir=workdirs/study/lrn/lrn_scale_only/seed4 --config.optim.learning_rate=0.01 --config.model.lrn_alpha=0.0 --config.seed=4
