#!/usr/bin/env bash
# Made by:
#   python experiments/figure1.py --config configs/fashion_mnist_figure1.py --seeds 5 --learning_rates 0.003,0.01,0.03,0.1,0.3,1 --out experiments/results/fashion_mnist_figure1
# which runs each of these in turn (and skips those already done):
# (a run that fails, such as a diverging rate, does not stop the others)
python -m alexnet.main --config=configs/fashion_mnist_figure1.py --workdir=workdirs/figure1/fashion_mnist_figure1/relu_lr0.003/seed0 --config.model.activation=relu --config.optim.learning_rate=0.003 --config.seed=0
python -m alexnet.main --config=configs/fashion_mnist_figure1.py --workdir=workdirs/figure1/fashion_mnist_figure1/relu_lr0.01/seed0 --config.model.activation=relu --config.optim.learning_rate=0.01 --config.seed=0
python -m alexnet.main --config=configs/fashion_mnist_figure1.py --workdir=workdirs/figure1/fashion_mnist_figure1/relu_lr0.03/seed0 --config.model.activation=relu --config.optim.learning_rate=0.03 --config.seed=0
python -m alexnet.main --config=configs/fashion_mnist_figure1.py --workdir=workdirs/figure1/fashion_mnist_figure1/relu_lr0.1/seed0 --config.model.activation=relu --config.optim.learning_rate=0.1 --config.seed=0
python -m alexnet.main --config=configs/fashion_mnist_figure1.py --workdir=workdirs/figure1/fashion_mnist_figure1/relu_lr0.3/seed0 --config.model.activation=relu --config.optim.learning_rate=0.3 --config.seed=0
python -m alexnet.main --config=configs/fashion_mnist_figure1.py --workdir=workdirs/figure1/fashion_mnist_figure1/relu_lr1/seed0 --config.model.activation=relu --config.optim.learning_rate=1.0 --config.seed=0
python -m alexnet.main --config=configs/fashion_mnist_figure1.py --workdir=workdirs/figure1/fashion_mnist_figure1/tanh_lr0.003/seed0 --config.model.activation=tanh --config.optim.learning_rate=0.003 --config.seed=0
python -m alexnet.main --config=configs/fashion_mnist_figure1.py --workdir=workdirs/figure1/fashion_mnist_figure1/tanh_lr0.01/seed0 --config.model.activation=tanh --config.optim.learning_rate=0.01 --config.seed=0
python -m alexnet.main --config=configs/fashion_mnist_figure1.py --workdir=workdirs/figure1/fashion_mnist_figure1/tanh_lr0.03/seed0 --config.model.activation=tanh --config.optim.learning_rate=0.03 --config.seed=0
python -m alexnet.main --config=configs/fashion_mnist_figure1.py --workdir=workdirs/figure1/fashion_mnist_figure1/tanh_lr0.1/seed0 --config.model.activation=tanh --config.optim.learning_rate=0.1 --config.seed=0
python -m alexnet.main --config=configs/fashion_mnist_figure1.py --workdir=workdirs/figure1/fashion_mnist_figure1/tanh_lr0.3/seed0 --config.model.activation=tanh --config.optim.learning_rate=0.3 --config.seed=0
python -m alexnet.main --config=configs/fashion_mnist_figure1.py --workdir=workdirs/figure1/fashion_mnist_figure1/tanh_lr1/seed0 --config.model.activation=tanh --config.optim.learning_rate=1.0 --config.seed=0
python -m alexnet.main --config=configs/fashion_mnist_figure1.py --workdir=workdirs/figure1/fashion_mnist_figure1/relu_lr0.01/seed1 --config.model.activation=relu --config.optim.learning_rate=0.01 --config.seed=1
python -m alexnet.main --config=configs/fashion_mnist_figure1.py --workdir=workdirs/figure1/fashion_mnist_figure1/tanh_lr0.01/seed1 --config.model.activation=tanh --config.optim.learning_rate=0.01 --config.seed=1
python -m alexnet.main --config=configs/fashion_mnist_figure1.py --workdir=workdirs/figure1/fashion_mnist_figure1/relu_lr0.01/seed2 --config.model.activation=relu --config.optim.learning_rate=0.01 --config.seed=2
python -m alexnet.main --config=configs/fashion_mnist_figure1.py --workdir=workdirs/figure1/fashion_mnist_figure1/tanh_lr0.01/seed2 --config.model.activation=tanh --config.optim.learning_rate=0.01 --config.seed=2
python -m alexnet.main --config=configs/fashion_mnist_figure1.py --workdir=workdirs/figure1/fashion_mnist_figure1/relu_lr0.01/seed3 --config.model.activation=relu --config.optim.learning_rate=0.01 --config.seed=3
python -m alexnet.main --config=configs/fashion_mnist_figure1.py --workdir=workdirs/figure1/fashion_mnist_figure1/tanh_lr0.01/seed3 --config.model.activation=tanh --config.optim.learning_rate=0.01 --config.seed=3
python -m alexnet.main --config=configs/fashion_mnist_figure1.py --workdir=workdirs/figure1/fashion_mnist_figure1/relu_lr0.01/seed4 --config.model.activation=relu --config.optim.learning_rate=0.01 --config.seed=4
python -m alexnet.main --config=configs/fashion_mnist_figure1.py --workdir=workdirs/figure1/fashion_mnist_figure1/tanh_lr0.01/seed4 --config.model.activation=tanh --config.optim.learning_rate=0.01 --config.seed=4
