#!/usr/bin/env bash
# Made by:
#   python experiments/study.py --out experiments/results/study --regimes figure1_hypothesis
# which runs each of these in turn (and skips those already done):
# (a run that fails, such as a diverging rate, does not stop the others)
python -m alexnet.main --config=configs/study/figure1.py:hypothesis --workdir=workdirs/study/figure1_hypothesis/sweep/base_lr3e-06/seed0 --config.optim.learning_rate=3e-06 --config.seed=0
python -m alexnet.main --config=configs/study/figure1.py:hypothesis --workdir=workdirs/study/figure1_hypothesis/sweep/base_lr1e-05/seed0 --config.optim.learning_rate=1e-05 --config.seed=0
python -m alexnet.main --config=configs/study/figure1.py:hypothesis --workdir=workdirs/study/figure1_hypothesis/sweep/base_lr3e-05/seed0 --config.optim.learning_rate=3e-05 --config.seed=0
python -m alexnet.main --config=configs/study/figure1.py:hypothesis --workdir=workdirs/study/figure1_hypothesis/sweep/base_lr0.0001/seed0 --config.optim.learning_rate=0.0001 --config.seed=0
python -m alexnet.main --config=configs/study/figure1.py:hypothesis --workdir=workdirs/study/figure1_hypothesis/sweep/tanh_lr0.001/seed0 --config.model.activation=tanh --config.optim.learning_rate=0.001 --config.seed=0
python -m alexnet.main --config=configs/study/figure1.py:hypothesis --workdir=workdirs/study/figure1_hypothesis/sweep/tanh_lr0.003/seed0 --config.model.activation=tanh --config.optim.learning_rate=0.003 --config.seed=0
python -m alexnet.main --config=configs/study/figure1.py:hypothesis --workdir=workdirs/study/figure1_hypothesis/sweep/tanh_lr0.01/seed0 --config.model.activation=tanh --config.optim.learning_rate=0.01 --config.seed=0
python -m alexnet.main --config=configs/study/figure1.py:hypothesis --workdir=workdirs/study/figure1_hypothesis/sweep/tanh_lr0.03/seed0 --config.model.activation=tanh --config.optim.learning_rate=0.03 --config.seed=0
python -m alexnet.main --config=configs/study/figure1.py:hypothesis --workdir=workdirs/study/figure1_hypothesis/sweep/tanh_lr0.1/seed0 --config.model.activation=tanh --config.optim.learning_rate=0.1 --config.seed=0
python -m alexnet.main --config=configs/study/figure1.py:hypothesis --workdir=workdirs/study/figure1_hypothesis/sweep/base_lr3e-06/seed1 --config.optim.learning_rate=3e-06 --config.seed=1
python -m alexnet.main --config=configs/study/figure1.py:hypothesis --workdir=workdirs/study/figure1_hypothesis/sweep/base_lr1e-05/seed1 --config.optim.learning_rate=1e-05 --config.seed=1
python -m alexnet.main --config=configs/study/figure1.py:hypothesis --workdir=workdirs/study/figure1_hypothesis/sweep/base_lr3e-05/seed1 --config.optim.learning_rate=3e-05 --config.seed=1
python -m alexnet.main --config=configs/study/figure1.py:hypothesis --workdir=workdirs/study/figure1_hypothesis/sweep/base_lr0.0001/seed1 --config.optim.learning_rate=0.0001 --config.seed=1
python -m alexnet.main --config=configs/study/figure1.py:hypothesis --workdir=workdirs/study/figure1_hypothesis/sweep/tanh_lr0.001/seed1 --config.model.activation=tanh --config.optim.learning_rate=0.001 --config.seed=1
python -m alexnet.main --config=configs/study/figure1.py:hypothesis --workdir=workdirs/study/figure1_hypothesis/sweep/tanh_lr0.003/seed1 --config.model.activation=tanh --config.optim.learning_rate=0.003 --config.seed=1
python -m alexnet.main --config=configs/study/figure1.py:hypothesis --workdir=workdirs/study/figure1_hypothesis/sweep/tanh_lr0.01/seed1 --config.model.activation=tanh --config.optim.learning_rate=0.01 --config.seed=1
python -m alexnet.main --config=configs/study/figure1.py:hypothesis --workdir=workdirs/study/figure1_hypothesis/sweep/tanh_lr0.03/seed1 --config.model.activation=tanh --config.optim.learning_rate=0.03 --config.seed=1
python -m alexnet.main --config=configs/study/figure1.py:hypothesis --workdir=workdirs/study/figure1_hypothesis/sweep/tanh_lr0.1/seed1 --config.model.activation=tanh --config.optim.learning_rate=0.1 --config.seed=1
python -m alexnet.main --config=configs/study/figure1.py:hypothesis --workdir=workdirs/study/figure1_hypothesis/base/seed2 --config.optim.learning_rate=3e-05 --config.seed=2
python -m alexnet.main --config=configs/study/figure1.py:hypothesis --workdir=workdirs/study/figure1_hypothesis/tanh/seed2 --config.optim.learning_rate=0.03 --config.model.activation=tanh --config.seed=2
python -m alexnet.main --config=configs/study/figure1.py:hypothesis --workdir=workdirs/study/figure1_hypothesis/base/seed3 --config.optim.learning_rate=3e-05 --config.seed=3
python -m alexnet.main --config=configs/study/figure1.py:hypothesis --workdir=workdirs/study/figure1_hypothesis/tanh/seed3 --config.optim.learning_rate=0.03 --config.model.activation=tanh --config.seed=3
python -m alexnet.main --config=configs/study/figure1.py:hypothesis --workdir=workdirs/study/figure1_hypothesis/base/seed4 --config.optim.learning_rate=3e-05 --config.seed=4
python -m alexnet.main --config=configs/study/figure1.py:hypothesis --workdir=workdirs/study/figure1_hypothesis/tanh/seed4 --config.optim.learning_rate=0.03 --config.model.activation=tanh --config.seed=4
python -m alexnet.main --config=configs/study/figure1.py:hypothesis --workdir=workdirs/study/figure1_hypothesis/base/seed5 --config.optim.learning_rate=3e-05 --config.seed=5
python -m alexnet.main --config=configs/study/figure1.py:hypothesis --workdir=workdirs/study/figure1_hypothesis/tanh/seed5 --config.optim.learning_rate=0.03 --config.model.activation=tanh --config.seed=5
