#!/usr/bin/env bash
# Made by:
#   python experiments/ablations.py --config configs/fashion_mnist_study.py --seeds 5 --variants no_lrn,no_overlap,no_dropout,one_tower,no_augmentation --out experiments/results/fashion_mnist_study --workdirs workdirs/ablations/fashion_mnist_study
# which runs each of these in turn (and skips those already done):
set -e
python -m alexnet.main --config=configs/fashion_mnist_study.py --workdir=workdirs/ablations/fashion_mnist_study/base/seed0 --config.seed=0
python -m alexnet.main --config=configs/fashion_mnist_study.py --workdir=workdirs/ablations/fashion_mnist_study/no_lrn/seed0 --config.model.lrn=False --config.seed=0
python -m alexnet.main --config=configs/fashion_mnist_study.py --workdir=workdirs/ablations/fashion_mnist_study/no_overlap/seed0 --config.model.overlapping_pool=False --config.seed=0
python -m alexnet.main --config=configs/fashion_mnist_study.py --workdir=workdirs/ablations/fashion_mnist_study/no_dropout/seed0 --config.model.dropout_rate=0.0 --config.seed=0
python -m alexnet.main --config=configs/fashion_mnist_study.py --workdir=workdirs/ablations/fashion_mnist_study/one_tower/seed0 --config.model.towers=1 --config.mesh.model=1 --config.seed=0
python -m alexnet.main --config=configs/fashion_mnist_study.py --workdir=workdirs/ablations/fashion_mnist_study/no_augmentation/seed0 --config.data.translate=False --config.data.flip=False --config.seed=0
python -m alexnet.main --config=configs/fashion_mnist_study.py --workdir=workdirs/ablations/fashion_mnist_study/base/seed1 --config.seed=1
python -m alexnet.main --config=configs/fashion_mnist_study.py --workdir=workdirs/ablations/fashion_mnist_study/no_lrn/seed1 --config.model.lrn=False --config.seed=1
python -m alexnet.main --config=configs/fashion_mnist_study.py --workdir=workdirs/ablations/fashion_mnist_study/no_overlap/seed1 --config.model.overlapping_pool=False --config.seed=1
python -m alexnet.main --config=configs/fashion_mnist_study.py --workdir=workdirs/ablations/fashion_mnist_study/no_dropout/seed1 --config.model.dropout_rate=0.0 --config.seed=1
python -m alexnet.main --config=configs/fashion_mnist_study.py --workdir=workdirs/ablations/fashion_mnist_study/one_tower/seed1 --config.model.towers=1 --config.mesh.model=1 --config.seed=1
python -m alexnet.main --config=configs/fashion_mnist_study.py --workdir=workdirs/ablations/fashion_mnist_study/no_augmentation/seed1 --config.data.translate=False --config.data.flip=False --config.seed=1
python -m alexnet.main --config=configs/fashion_mnist_study.py --workdir=workdirs/ablations/fashion_mnist_study/base/seed2 --config.seed=2
python -m alexnet.main --config=configs/fashion_mnist_study.py --workdir=workdirs/ablations/fashion_mnist_study/no_lrn/seed2 --config.model.lrn=False --config.seed=2
python -m alexnet.main --config=configs/fashion_mnist_study.py --workdir=workdirs/ablations/fashion_mnist_study/no_overlap/seed2 --config.model.overlapping_pool=False --config.seed=2
python -m alexnet.main --config=configs/fashion_mnist_study.py --workdir=workdirs/ablations/fashion_mnist_study/no_dropout/seed2 --config.model.dropout_rate=0.0 --config.seed=2
python -m alexnet.main --config=configs/fashion_mnist_study.py --workdir=workdirs/ablations/fashion_mnist_study/one_tower/seed2 --config.model.towers=1 --config.mesh.model=1 --config.seed=2
python -m alexnet.main --config=configs/fashion_mnist_study.py --workdir=workdirs/ablations/fashion_mnist_study/no_augmentation/seed2 --config.data.translate=False --config.data.flip=False --config.seed=2
python -m alexnet.main --config=configs/fashion_mnist_study.py --workdir=workdirs/ablations/fashion_mnist_study/base/seed3 --config.seed=3
python -m alexnet.main --config=configs/fashion_mnist_study.py --workdir=workdirs/ablations/fashion_mnist_study/no_lrn/seed3 --config.model.lrn=False --config.seed=3
python -m alexnet.main --config=configs/fashion_mnist_study.py --workdir=workdirs/ablations/fashion_mnist_study/no_overlap/seed3 --config.model.overlapping_pool=False --config.seed=3
python -m alexnet.main --config=configs/fashion_mnist_study.py --workdir=workdirs/ablations/fashion_mnist_study/no_dropout/seed3 --config.model.dropout_rate=0.0 --config.seed=3
python -m alexnet.main --config=configs/fashion_mnist_study.py --workdir=workdirs/ablations/fashion_mnist_study/one_tower/seed3 --config.model.towers=1 --config.mesh.model=1 --config.seed=3
python -m alexnet.main --config=configs/fashion_mnist_study.py --workdir=workdirs/ablations/fashion_mnist_study/no_augmentation/seed3 --config.data.translate=False --config.data.flip=False --config.seed=3
python -m alexnet.main --config=configs/fashion_mnist_study.py --workdir=workdirs/ablations/fashion_mnist_study/base/seed4 --config.seed=4
python -m alexnet.main --config=configs/fashion_mnist_study.py --workdir=workdirs/ablations/fashion_mnist_study/no_lrn/seed4 --config.model.lrn=False --config.seed=4
python -m alexnet.main --config=configs/fashion_mnist_study.py --workdir=workdirs/ablations/fashion_mnist_study/no_overlap/seed4 --config.model.overlapping_pool=False --config.seed=4
python -m alexnet.main --config=configs/fashion_mnist_study.py --workdir=workdirs/ablations/fashion_mnist_study/no_dropout/seed4 --config.model.dropout_rate=0.0 --config.seed=4
python -m alexnet.main --config=configs/fashion_mnist_study.py --workdir=workdirs/ablations/fashion_mnist_study/one_tower/seed4 --config.model.towers=1 --config.mesh.model=1 --config.seed=4
python -m alexnet.main --config=configs/fashion_mnist_study.py --workdir=workdirs/ablations/fashion_mnist_study/no_augmentation/seed4 --config.data.translate=False --config.data.flip=False --config.seed=4
