#!/usr/bin/env bash
# Made by:
#   python experiments/ablations.py --config configs/fashion_mnist_ablation.py --seeds 3 --out experiments/results/fashion_mnist
# which runs each of these in turn (and skips those already done):
set -e
python -m alexnet.main --config=configs/fashion_mnist_ablation.py --workdir=workdirs/ablations/fashion_mnist/base/seed0 --config.seed=0
python -m alexnet.main --config=configs/fashion_mnist_ablation.py --workdir=workdirs/ablations/fashion_mnist/no_lrn/seed0 --config.model.lrn=False --config.seed=0
python -m alexnet.main --config=configs/fashion_mnist_ablation.py --workdir=workdirs/ablations/fashion_mnist/no_overlap/seed0 --config.model.overlapping_pool=False --config.seed=0
python -m alexnet.main --config=configs/fashion_mnist_ablation.py --workdir=workdirs/ablations/fashion_mnist/no_dropout/seed0 --config.model.dropout_rate=0.0 --config.seed=0
python -m alexnet.main --config=configs/fashion_mnist_ablation.py --workdir=workdirs/ablations/fashion_mnist/one_tower/seed0 --config.model.towers=1 --config.mesh.model=1 --config.seed=0
python -m alexnet.main --config=configs/fashion_mnist_ablation.py --workdir=workdirs/ablations/fashion_mnist/no_pca/seed0 --config.data.pca_std=0.0 --config.seed=0
python -m alexnet.main --config=configs/fashion_mnist_ablation.py --workdir=workdirs/ablations/fashion_mnist/tanh/seed0 --config.model.activation=tanh --config.seed=0
python -m alexnet.main --config=configs/fashion_mnist_ablation.py --workdir=workdirs/ablations/fashion_mnist/base/seed1 --config.seed=1
python -m alexnet.main --config=configs/fashion_mnist_ablation.py --workdir=workdirs/ablations/fashion_mnist/no_lrn/seed1 --config.model.lrn=False --config.seed=1
python -m alexnet.main --config=configs/fashion_mnist_ablation.py --workdir=workdirs/ablations/fashion_mnist/no_overlap/seed1 --config.model.overlapping_pool=False --config.seed=1
python -m alexnet.main --config=configs/fashion_mnist_ablation.py --workdir=workdirs/ablations/fashion_mnist/no_dropout/seed1 --config.model.dropout_rate=0.0 --config.seed=1
python -m alexnet.main --config=configs/fashion_mnist_ablation.py --workdir=workdirs/ablations/fashion_mnist/one_tower/seed1 --config.model.towers=1 --config.mesh.model=1 --config.seed=1
python -m alexnet.main --config=configs/fashion_mnist_ablation.py --workdir=workdirs/ablations/fashion_mnist/no_pca/seed1 --config.data.pca_std=0.0 --config.seed=1
python -m alexnet.main --config=configs/fashion_mnist_ablation.py --workdir=workdirs/ablations/fashion_mnist/tanh/seed1 --config.model.activation=tanh --config.seed=1
python -m alexnet.main --config=configs/fashion_mnist_ablation.py --workdir=workdirs/ablations/fashion_mnist/base/seed2 --config.seed=2
python -m alexnet.main --config=configs/fashion_mnist_ablation.py --workdir=workdirs/ablations/fashion_mnist/no_lrn/seed2 --config.model.lrn=False --config.seed=2
python -m alexnet.main --config=configs/fashion_mnist_ablation.py --workdir=workdirs/ablations/fashion_mnist/no_overlap/seed2 --config.model.overlapping_pool=False --config.seed=2
python -m alexnet.main --config=configs/fashion_mnist_ablation.py --workdir=workdirs/ablations/fashion_mnist/no_dropout/seed2 --config.model.dropout_rate=0.0 --config.seed=2
python -m alexnet.main --config=configs/fashion_mnist_ablation.py --workdir=workdirs/ablations/fashion_mnist/one_tower/seed2 --config.model.towers=1 --config.mesh.model=1 --config.seed=2
python -m alexnet.main --config=configs/fashion_mnist_ablation.py --workdir=workdirs/ablations/fashion_mnist/no_pca/seed2 --config.data.pca_std=0.0 --config.seed=2
python -m alexnet.main --config=configs/fashion_mnist_ablation.py --workdir=workdirs/ablations/fashion_mnist/tanh/seed2 --config.model.activation=tanh --config.seed=2
