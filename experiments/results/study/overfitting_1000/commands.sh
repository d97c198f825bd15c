#!/usr/bin/env bash
# Made by:
#   python experiments/study.py --out experiments/results/study --regimes overfitting_1000
# which runs each of these in turn (and skips those already done):
# (a run that fails, such as a diverging rate, does not stop the others)
python -m alexnet.main --config=configs/study/overfitting.py:1000 --workdir=workdirs/study/overfitting_1000/base/seed0 --config.optim.learning_rate=0.01 --config.seed=0
python -m alexnet.main --config=configs/study/overfitting.py:1000 --workdir=workdirs/study/overfitting_1000/no_dropout/seed0 --config.optim.learning_rate=0.01 --config.model.dropout_rate=0.0 --config.seed=0
python -m alexnet.main --config=configs/study/overfitting.py:1000 --workdir=workdirs/study/overfitting_1000/no_augmentation/seed0 --config.optim.learning_rate=0.01 --config.data.translate=False --config.data.flip=False --config.seed=0
python -m alexnet.main --config=configs/study/overfitting.py:1000 --workdir=workdirs/study/overfitting_1000/no_dropout_no_augmentation/seed0 --config.optim.learning_rate=0.01 --config.model.dropout_rate=0.0 --config.data.translate=False --config.data.flip=False --config.seed=0
python -m alexnet.main --config=configs/study/overfitting.py:1000 --workdir=workdirs/study/overfitting_1000/base/seed1 --config.optim.learning_rate=0.01 --config.seed=1
python -m alexnet.main --config=configs/study/overfitting.py:1000 --workdir=workdirs/study/overfitting_1000/no_dropout/seed1 --config.optim.learning_rate=0.01 --config.model.dropout_rate=0.0 --config.seed=1
python -m alexnet.main --config=configs/study/overfitting.py:1000 --workdir=workdirs/study/overfitting_1000/no_augmentation/seed1 --config.optim.learning_rate=0.01 --config.data.translate=False --config.data.flip=False --config.seed=1
python -m alexnet.main --config=configs/study/overfitting.py:1000 --workdir=workdirs/study/overfitting_1000/no_dropout_no_augmentation/seed1 --config.optim.learning_rate=0.01 --config.model.dropout_rate=0.0 --config.data.translate=False --config.data.flip=False --config.seed=1
