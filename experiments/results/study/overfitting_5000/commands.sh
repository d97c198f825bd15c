#!/usr/bin/env bash
# Made by:
#   python experiments/study.py --out experiments/results/study --regimes overfitting_5000
# which runs each of these in turn (and skips those already done):
# (a run that fails, such as a diverging rate, does not stop the others)
python -m alexnet.main --config=configs/study/overfitting.py:5000 --workdir=workdirs/study/overfitting_5000/sweep/lr0.01/seed0 --config.optim.learning_rate=0.01 --config.seed=0
python -m alexnet.main --config=configs/study/overfitting.py:5000 --workdir=workdirs/study/overfitting_5000/sweep/lr0.03/seed0 --config.optim.learning_rate=0.03 --config.seed=0
python -m alexnet.main --config=configs/study/overfitting.py:5000 --workdir=workdirs/study/overfitting_5000/base/seed0 --config.optim.learning_rate=0.01 --config.seed=0
python -m alexnet.main --config=configs/study/overfitting.py:5000 --workdir=workdirs/study/overfitting_5000/no_dropout/seed0 --config.optim.learning_rate=0.01 --config.model.dropout_rate=0.0 --config.seed=0
python -m alexnet.main --config=configs/study/overfitting.py:5000 --workdir=workdirs/study/overfitting_5000/no_augmentation/seed0 --config.optim.learning_rate=0.01 --config.data.translate=False --config.data.flip=False --config.seed=0
python -m alexnet.main --config=configs/study/overfitting.py:5000 --workdir=workdirs/study/overfitting_5000/no_translate/seed0 --config.optim.learning_rate=0.01 --config.data.translate=False --config.seed=0
python -m alexnet.main --config=configs/study/overfitting.py:5000 --workdir=workdirs/study/overfitting_5000/no_flip/seed0 --config.optim.learning_rate=0.01 --config.data.flip=False --config.seed=0
python -m alexnet.main --config=configs/study/overfitting.py:5000 --workdir=workdirs/study/overfitting_5000/no_dropout_no_augmentation/seed0 --config.optim.learning_rate=0.01 --config.model.dropout_rate=0.0 --config.data.translate=False --config.data.flip=False --config.seed=0
python -m alexnet.main --config=configs/study/overfitting.py:5000 --workdir=workdirs/study/overfitting_5000/base/seed1 --config.optim.learning_rate=0.01 --config.seed=1
python -m alexnet.main --config=configs/study/overfitting.py:5000 --workdir=workdirs/study/overfitting_5000/no_dropout/seed1 --config.optim.learning_rate=0.01 --config.model.dropout_rate=0.0 --config.seed=1
python -m alexnet.main --config=configs/study/overfitting.py:5000 --workdir=workdirs/study/overfitting_5000/no_augmentation/seed1 --config.optim.learning_rate=0.01 --config.data.translate=False --config.data.flip=False --config.seed=1
python -m alexnet.main --config=configs/study/overfitting.py:5000 --workdir=workdirs/study/overfitting_5000/no_translate/seed1 --config.optim.learning_rate=0.01 --config.data.translate=False --config.seed=1
python -m alexnet.main --config=configs/study/overfitting.py:5000 --workdir=workdirs/study/overfitting_5000/no_flip/seed1 --config.optim.learning_rate=0.01 --config.data.flip=False --config.seed=1
python -m alexnet.main --config=configs/study/overfitting.py:5000 --workdir=workdirs/study/overfitting_5000/no_dropout_no_augmentation/seed1 --config.optim.learning_rate=0.01 --config.model.dropout_rate=0.0 --config.data.translate=False --config.data.flip=False --config.seed=1
python -m alexnet.main --config=configs/study/overfitting.py:5000 --workdir=workdirs/study/overfitting_5000/base/seed2 --config.optim.learning_rate=0.01 --config.seed=2
python -m alexnet.main --config=configs/study/overfitting.py:5000 --workdir=workdirs/study/overfitting_5000/no_dropout/seed2 --config.optim.learning_rate=0.01 --config.model.dropout_rate=0.0 --config.seed=2
python -m alexnet.main --config=configs/study/overfitting.py:5000 --workdir=workdirs/study/overfitting_5000/no_augmentation/seed2 --config.optim.learning_rate=0.01 --config.data.translate=False --config.data.flip=False --config.seed=2
python -m alexnet.main --config=configs/study/overfitting.py:5000 --workdir=workdirs/study/overfitting_5000/no_translate/seed2 --config.optim.learning_rate=0.01 --config.data.translate=False --config.seed=2
python -m alexnet.main --config=configs/study/overfitting.py:5000 --workdir=workdirs/study/overfitting_5000/no_flip/seed2 --config.optim.learning_rate=0.01 --config.data.flip=False --config.seed=2
python -m alexnet.main --config=configs/study/overfitting.py:5000 --workdir=workdirs/study/overfitting_5000/no_dropout_no_augmentation/seed2 --config.optim.learning_rate=0.01 --config.model.dropout_rate=0.0 --config.data.translate=False --config.data.flip=False --config.seed=2
