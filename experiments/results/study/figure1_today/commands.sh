#!/usr/bin/env bash
# Made by:
#   python experiments/study.py --out experiments/results/study --regimes figure1_today
# which runs each of these in turn (and skips those already done):
# (a run that fails, such as a diverging rate, does not stop the others)
python -m alexnet.main --config=configs/study/figure1.py:today --workdir=workdirs/study/figure1_today/sweep/base_lr0.005/seed0 --config.optim.learning_rate=0.005 --config.seed=0
python -m alexnet.main --config=configs/study/figure1.py:today --workdir=workdirs/study/figure1_today/sweep/base_lr0.01/seed0 --config.optim.learning_rate=0.01 --config.seed=0
python -m alexnet.main --config=configs/study/figure1.py:today --workdir=workdirs/study/figure1_today/sweep/base_lr0.02/seed0 --config.optim.learning_rate=0.02 --config.seed=0
python -m alexnet.main --config=configs/study/figure1.py:today --workdir=workdirs/study/figure1_today/sweep/base_lr0.05/seed0 --config.optim.learning_rate=0.05 --config.seed=0
python -m alexnet.main --config=configs/study/figure1.py:today --workdir=workdirs/study/figure1_today/sweep/base_lr0.1/seed0 --config.optim.learning_rate=0.1 --config.seed=0
python -m alexnet.main --config=configs/study/figure1.py:today --workdir=workdirs/study/figure1_today/sweep/tanh_lr0.005/seed0 --config.model.activation=tanh --config.optim.learning_rate=0.005 --config.seed=0
python -m alexnet.main --config=configs/study/figure1.py:today --workdir=workdirs/study/figure1_today/sweep/tanh_lr0.01/seed0 --config.model.activation=tanh --config.optim.learning_rate=0.01 --config.seed=0
python -m alexnet.main --config=configs/study/figure1.py:today --workdir=workdirs/study/figure1_today/sweep/tanh_lr0.02/seed0 --config.model.activation=tanh --config.optim.learning_rate=0.02 --config.seed=0
python -m alexnet.main --config=configs/study/figure1.py:today --workdir=workdirs/study/figure1_today/sweep/tanh_lr0.05/seed0 --config.model.activation=tanh --config.optim.learning_rate=0.05 --config.seed=0
python -m alexnet.main --config=configs/study/figure1.py:today --workdir=workdirs/study/figure1_today/sweep/tanh_lr0.1/seed0 --config.model.activation=tanh --config.optim.learning_rate=0.1 --config.seed=0
python -m alexnet.main --config=configs/study/figure1.py:today --workdir=workdirs/study/figure1_today/sweep/base_lr0.005/seed1 --config.optim.learning_rate=0.005 --config.seed=1
python -m alexnet.main --config=configs/study/figure1.py:today --workdir=workdirs/study/figure1_today/sweep/base_lr0.01/seed1 --config.optim.learning_rate=0.01 --config.seed=1
python -m alexnet.main --config=configs/study/figure1.py:today --workdir=workdirs/study/figure1_today/sweep/base_lr0.02/seed1 --config.optim.learning_rate=0.02 --config.seed=1
python -m alexnet.main --config=configs/study/figure1.py:today --workdir=workdirs/study/figure1_today/sweep/base_lr0.05/seed1 --config.optim.learning_rate=0.05 --config.seed=1
python -m alexnet.main --config=configs/study/figure1.py:today --workdir=workdirs/study/figure1_today/sweep/base_lr0.1/seed1 --config.optim.learning_rate=0.1 --config.seed=1
python -m alexnet.main --config=configs/study/figure1.py:today --workdir=workdirs/study/figure1_today/sweep/tanh_lr0.005/seed1 --config.model.activation=tanh --config.optim.learning_rate=0.005 --config.seed=1
python -m alexnet.main --config=configs/study/figure1.py:today --workdir=workdirs/study/figure1_today/sweep/tanh_lr0.01/seed1 --config.model.activation=tanh --config.optim.learning_rate=0.01 --config.seed=1
python -m alexnet.main --config=configs/study/figure1.py:today --workdir=workdirs/study/figure1_today/sweep/tanh_lr0.02/seed1 --config.model.activation=tanh --config.optim.learning_rate=0.02 --config.seed=1
python -m alexnet.main --config=configs/study/figure1.py:today --workdir=workdirs/study/figure1_today/sweep/tanh_lr0.05/seed1 --config.model.activation=tanh --config.optim.learning_rate=0.05 --config.seed=1
python -m alexnet.main --config=configs/study/figure1.py:today --workdir=workdirs/study/figure1_today/sweep/tanh_lr0.1/seed1 --config.model.activation=tanh --config.optim.learning_rate=0.1 --config.seed=1
python -m alexnet.main --config=configs/study/figure1.py:today --workdir=workdirs/study/figure1_today/base/seed2 --config.optim.learning_rate=0.02 --config.seed=2
python -m alexnet.main --config=configs/study/figure1.py:today --workdir=workdirs/study/figure1_today/tanh/seed2 --config.optim.learning_rate=0.01 --config.model.activation=tanh --config.seed=2
python -m alexnet.main --config=configs/study/figure1.py:today --workdir=workdirs/study/figure1_today/base/seed3 --config.optim.learning_rate=0.02 --config.seed=3
python -m alexnet.main --config=configs/study/figure1.py:today --workdir=workdirs/study/figure1_today/tanh/seed3 --config.optim.learning_rate=0.01 --config.model.activation=tanh --config.seed=3
python -m alexnet.main --config=configs/study/figure1.py:today --workdir=workdirs/study/figure1_today/base/seed4 --config.optim.learning_rate=0.02 --config.seed=4
python -m alexnet.main --config=configs/study/figure1.py:today --workdir=workdirs/study/figure1_today/tanh/seed4 --config.optim.learning_rate=0.01 --config.model.activation=tanh --config.seed=4
python -m alexnet.main --config=configs/study/figure1.py:today --workdir=workdirs/study/figure1_today/base/seed5 --config.optim.learning_rate=0.02 --config.seed=5
python -m alexnet.main --config=configs/study/figure1.py:today --workdir=workdirs/study/figure1_today/tanh/seed5 --config.optim.learning_rate=0.01 --config.model.activation=tanh --config.seed=5
