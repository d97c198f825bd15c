"""The records a run appends to ``metrics.jsonl``: the one place their keys are spelled.

Every record is one flat JSON object with the ``step`` it belongs to and the ``time`` it
was written; a run writes three kinds:

* **training**, every ``train.log_every_steps``: ``epoch``, ``loss``, ``train_top1_error``
  (of the augmented batch, with dropout), ``grad_norm``, ``learning_rate``,
  ``images_per_second``, ``host_memory_gib`` and, where the device reports it,
  ``device_memory_gib``;
* **evaluation**, every ``train.eval_every_epochs``: an evaluation's fields (below) on the
  centre crops of ``data.eval_split``, each prefixed ``eval_``;
* **final**, once, at the end: each final pass's evaluation prefixed with the pass's name —
  ``final`` (``data.final_split`` with ``data.eval_crops`` crops), ``final_centre`` (its
  centre crop alone) and ``final_train`` (``data.train_eval_split`` measured as the test is)
  — with ``final_crops`` and ``train_seconds``.

An evaluation's fields are :data:`EVALUATION_FIELDS`. The trainer, the workdir, the
TensorBoard tags, the tools and the experiments all read the keys from here.
"""

from __future__ import annotations

from collections.abc import Mapping

EVALUATION_FIELDS = ('top1_error', 'top5_error', 'loss', 'examples')
# The error that ranks the checkpoints for "best" and that §5's plateau rule watches.
RANKING_FIELD = 'top1_error'

EVALUATION = 'eval'  # the evaluations during training
FINAL = 'final'  # the final test, with data.eval_crops crops
FINAL_CENTRE = 'final_centre'  # the final test's centre crop alone
FINAL_TRAIN = 'final_train'  # the training images, measured as the test is
PASSES = (EVALUATION, FINAL, FINAL_CENTRE, FINAL_TRAIN)

TRAINING_ERROR = 'train_top1_error'
FINAL_CROPS = 'final_crops'
TRAIN_SECONDS = 'train_seconds'


def key(evaluation_pass: str, field: str) -> str:
  """The key of an evaluation's ``field`` in the record of ``evaluation_pass``."""
  return f'{evaluation_pass}_{field}'


EVALUATION_ERROR = key(EVALUATION, RANKING_FIELD)
FINAL_ERROR = key(FINAL, RANKING_FIELD)  # present in the final record alone

# Counts that do not change (images evaluated, crops), and the epoch, which the step axis
# already shows: kept in metrics.jsonl, not plotted.
_NOT_SCALARS = frozenset({
    'epoch', FINAL_CROPS, TRAIN_SECONDS,
    *(key(evaluation_pass, 'examples') for evaluation_pass in PASSES)
})


def training(*, epoch: float, loss: float, top1_error: float, grad_norm: float,
             learning_rate: float, images_per_second: float, host_memory_gib: float,
             device_memory_gib: float | None) -> dict[str, float]:
  """The record of a logged training step (``device_memory_gib`` left out when None)."""
  record = dict(epoch=epoch, loss=loss, **{TRAINING_ERROR: top1_error}, grad_norm=grad_norm,
                learning_rate=learning_rate, images_per_second=images_per_second,
                host_memory_gib=host_memory_gib)
  if device_memory_gib is not None:
    record['device_memory_gib'] = device_memory_gib
  return record


def evaluation(evaluation_pass: str, result: Mapping[str, float]) -> dict[str, float]:
  """An evaluation's ``result`` (:data:`EVALUATION_FIELDS`) as keys of ``evaluation_pass``."""
  return {key(evaluation_pass, field): value for field, value in result.items()}


def final(results: Mapping[str, Mapping[str, float]], *, crops: int,
          train_seconds: float) -> dict[str, float]:
  """The final record: {pass: evaluation} of the final passes, their crops and the time."""
  record = {}
  for evaluation_pass, result in results.items():
    record |= evaluation(evaluation_pass, result)
  return record | {FINAL_CROPS: crops, TRAIN_SECONDS: train_seconds}


def results_of(record: Mapping, evaluation_pass: str) -> dict[str, float]:
  """The evaluation of ``evaluation_pass`` held in ``record``."""
  return {field: record[key(evaluation_pass, field)] for field in EVALUATION_FIELDS}


def is_final(record: Mapping) -> bool:
  return FINAL_ERROR in record


def is_evaluation(record: Mapping) -> bool:
  return EVALUATION_ERROR in record


def tensorboard_tag(record_key: str) -> str | None:
  """The TensorBoard tag of a record's field ('eval_top1_error' → 'eval/top1_error',
  'final_centre_loss' → 'final/centre_loss', 'loss' → 'train/loss'), or None for a field
  that is not a scalar worth plotting."""
  if record_key in _NOT_SCALARS:
    return None
  group, _, name = record_key.partition('_')
  if group in (EVALUATION, FINAL):
    return f'{group}/{name}'
  return f'train/{record_key.removeprefix("train_")}'
