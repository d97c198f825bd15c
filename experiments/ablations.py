"""A base config and its ablations, over seeds, in one command; the table of their outcomes.

  python experiments/ablations.py --config configs/study/base.py --seeds 5 \\
      --variants one_tower --out experiments/results/study/base
  python experiments/ablations.py --config configs/imagenet_paper.py --seeds 2 \\
      --out results/imagenet --workdirs /shared/runs/ablations --config.data.manual_dir=...

Each run is ``python -m alexnet.main`` with the base config, the variant's overrides and
``--config.seed=S``; any ``--config.x=y`` given here is passed to every run. The runs are
started, recorded and resumed by experiments/runner.py (its docstring says how). ``--out``
receives only what is worth keeping:

* ``results.md``: per variant, the test error with the centre crop (the view training saw)
  and with §4.1's ten patches, the test loss, the training images' error measured as the
  test's (``data.train_eval_split``: centre crop, no dropout) and the gap between the two;
  the paired differences from the base with 95 % intervals and p-values
  (experiments/stats.py). Verdicts on the paper's claims are experiments/study.py's, which
  adjusts for the whole family of them;
* ``training_loss.png``, ``eval_error.png`` (the evaluation split during training),
  ``train_and_eval_error.png`` (both errors per variant);
* ``commands.sh``: the exact command of every run; ``runs/<variant>/seed<S>/``: each
  run's ``config.json`` and ``metrics.jsonl`` (the table and plots are made from these).
"""

from __future__ import annotations

import shlex
import statistics
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from absl import flags

import curves
import runner
import stats
from alexnet import cli, errors
from alexnet.run.records import (
    EVALUATION_ERROR,
    FINAL,
    FINAL_CENTRE,
    FINAL_ERROR,
    FINAL_TRAIN,
    RANKING_FIELD,
    is_evaluation,
    is_final,
    key,
)
from alexnet.run.workdir import Workdir

BASE = 'base'
Variant = runner.Variant

VARIANTS = (
    Variant(BASE, "the paper's choices", (), '40.7 / 18.2 % (ILSVRC-2012 val, 1 CNN, §6)'),
    Variant('no_lrn', 'no local response normalisation (§3.3)', ('model.lrn=False',),
            '+1.4 / +1.2'),
    Variant('lrn_scale_only', 'LRN with α = 0: only its constant scaling k^-β (§3.3)',
            ('model.lrn_alpha=0.0',), 'the control that separates normalisation from scale'),
    Variant('no_overlap', 'max-pool 2/2 instead of the overlapping 3/2 (§3.4)',
            ('model.overlapping_pool=False',), '+0.4 / +0.3'),
    Variant('no_dropout', 'no dropout on fc6, fc7 (§4.2)', ('model.dropout_rate=0.0',),
            'no number: "substantial overfitting"; dropout ≈ doubles the steps to converge'),
    Variant('one_tower', "one tower: §3.5 footnote's one-GPU net",
            ('model.towers=1', 'mesh.model=1'), '+1.7 / +1.2'),
    Variant('no_augmentation', 'no random crop positions, no reflections (§4.1)',
            ('data.translate=False', 'data.flip=False'),
            'no number: without them "substantial overfitting"'),
    Variant('no_translate', 'no random crop positions; reflections kept (§4.1)',
            ('data.translate=False',), 'no number'),
    Variant('no_flip', 'no reflections; random crop positions kept (§4.1)', ('data.flip=False',),
            'no number'),
    Variant('no_dropout_no_augmentation', 'neither dropout nor crops and reflections',
            ('model.dropout_rate=0.0', 'data.translate=False', 'data.flip=False'), 'no number'),
    Variant('no_pca', 'no PCA colour noise (§4.1)', ('data.pca_std=0.0',), '> +1 top-1'),
    Variant('tanh', 'tanh units instead of ReLUs (§3.1)', ('model.activation=tanh',),
            'Figure 1: ReLUs reach 25 % training error 6× faster'),
)
VARIANT_NAMES = tuple(v.name for v in VARIANTS)

FLAGS = flags.FLAGS

# --- The report ----------------------------------------------------------------------------

# What a finished run is compared on, read from its final record (evaluator.final_passes).
OUTCOMES = {  # name: its label in the table
    'centre': 'test error, centre crop %',
    'ten': 'test error, 10 patches %',
    'loss': 'test loss, 10 patches',
    'train': 'training error as at test %',
    'gap': 'gap: centre − training, points',
}
COMPARED = ('centre', 'ten', 'gap')  # the outcomes whose paired differences the table shows


def outcomes(records: Sequence[Mapping]) -> dict[str, float] | None:
  """A finished run's outcomes, errors as fractions; None for a run that did not finish
  (it diverged)."""
  final = next((r for r in reversed(records) if is_final(r)), None)
  if final is None:
    return None
  centre = final.get(key(FINAL_CENTRE, RANKING_FIELD), final[FINAL_ERROR])
  train = final.get(key(FINAL_TRAIN, RANKING_FIELD), float('nan'))
  return dict(centre=centre, ten=final[FINAL_ERROR], loss=final[key(FINAL, 'loss')], train=train,
              gap=centre - train)


def mean_std(values: Sequence[float], scale: float = 100.0) -> str:
  """'m ± s' (× ``scale``); s is the sample standard deviation (none for one value)."""
  mean = scale * statistics.fmean(values)
  if len(values) < 2:
    return f'{mean:.2f}'
  return f'{mean:.2f} ± {scale * statistics.stdev(values):.2f}'


def scale_of(name: str) -> float:
  return 1.0 if name == 'loss' else 100.0  # errors in percent or points


def shown_difference(name: str, own: Sequence[dict | None], base: Sequence[dict | None]) -> str:
  """The paired difference variant − base of one outcome over the seeds where both runs
  finished, its interval and p."""
  pairs = [(o[name], b[name]) for o, b in zip(own, base) if o and b]
  if len(pairs) < 2:
    return '–'
  estimate = stats.mean_difference(*zip(*pairs), scale=scale_of(name))
  return f'{estimate.shown()}, p = {estimate.p:.2g}'


def validation_error(records: Sequence[Mapping]) -> float:
  """The evaluation split's error (centre crop) at a run's last evaluation."""
  return [r for r in records if is_evaluation(r)][-1][EVALUATION_ERROR]


def read_records(out: Path, variants: Sequence[Variant],
                 seeds: Sequence[int]) -> dict[str, list[list]]:
  """{variant: [metrics records of each seed]} from the records in ``out``; a run that
  failed before it wrote any has none."""
  records = {}
  for variant in variants:
    runs = [Workdir(runner.record_dir(out, variant.name, s)) for s in seeds]
    records[variant.name] = [r.read_metrics() if r.metrics_file.exists() else [] for r in runs]
  return records


def table_lines(variants: Sequence[Variant], records: Mapping[str, Sequence]) -> list[str]:
  """The table: each outcome's mean ± sd per variant, the paired differences from the base."""
  measured = {name: [outcomes(r) for r in runs] for name, runs in records.items()}
  columns = [*OUTCOMES.values()
            ] + [f'Δ {OUTCOMES[name].removesuffix(" %")} [95 % CI], p' for name in COMPARED]
  lines = [
      '| variant | change | ' + ' | '.join(columns) + ' | paper, ImageNet |',
      '|---|---|' + '---|' * len(columns) + '---|'
  ]
  for variant in variants:
    own = measured[variant.name]
    finished = [o for o in own if o]
    cells = [
        mean_std([o[name] for o in finished], scale_of(name)) if finished else '–'
        for name in OUTCOMES
    ]
    cells += [
        '–' if variant.name == BASE else shown_difference(name, own, measured[BASE])
        for name in COMPARED
    ]
    diverged = len(own) - len(finished)
    name = variant.name + (f' ({diverged} of {len(own)} diverged)' if diverged else '')
    lines.append(f'| {name} | {variant.change} | ' + ' | '.join(cells) + f' | {variant.paper} |')
  return lines


def report(config_arg: str, runner_command: str, variants: Sequence[Variant], seeds: Sequence[int],
           out: Path) -> str:
  """results.md from the records in ``out``, and the plots beside it."""
  records = read_records(out, variants, seeds)
  config = runner.recorded_config(runner.record_dir(out, BASE, seeds[0]))
  data, train = config['data'], config['train']
  final = next(r for runs in records.values() for run in runs for r in run if is_final(r))
  test_split = data['test_split'] or data['eval_split']
  lines = [
      f'# Ablations of `{config_arg}`', '', f'Made by `{runner_command}`.', '',
      f'Seeds {", ".join(map(str, seeds))} of every variant; '
      f'{final["step"]} steps of {train["batch_size"]} images from '
      f'`{data["train_split"]}`; evaluated during training on `{data["eval_split"]}`; '
      f'tested once, at the end, on `{test_split}` ({final[key(FINAL, "examples")]} images); '
      f'training error as at test on `{data["train_eval_split"] or "(none)"}`.', ''
  ]
  lines += table_lines(variants, records)
  lines += [
      '', 'Mean ± standard deviation over the seeds whose runs finished (a run that '
      'diverged has no test). Δ: variant − base, the mean of the per-seed differences '
      '(seed S of every variant has the same initialisation seed and data order) where '
      "both runs finished, Student's t 95 % interval and two-sided p, not adjusted; "
      'experiments/study.py adjusts the p of its verdicts for their whole family. '
      'Training error as at test: the training images with the centre crop and no '
      'dropout, as the test is measured, so that the gap compares like with like.'
  ]
  finished = {name: [r for r in runs if outcomes(r)] for name, runs in records.items()}
  finished = {name: runs for name, runs in finished.items() if runs}
  curves.plot_training_curves(finished, data['eval_split'], out / 'training_loss.png',
                              out / 'eval_error.png')
  curves.plot_generalisation(finished, data['eval_split'], out / 'train_and_eval_error.png')
  lines += [
      '', '![training loss](training_loss.png)', '',
      f'![{data["eval_split"]} error during training](eval_error.png)', '',
      f'![training and {data["eval_split"]} error per variant](train_and_eval_error.png)'
  ]
  return '\n'.join(lines) + '\n'


# --- The command line ----------------------------------------------------------------------


def define_flags() -> None:
  flags.DEFINE_string('config', None, 'Base config file (path[:variant]), as for alexnet.main.',
                      required=True)
  flags.DEFINE_integer('seeds', 3, 'Seeds per variant: 0, 1, …, seeds − 1.', lower_bound=1)
  flags.DEFINE_list('variants', list(VARIANT_NAMES),
                    f'Variants to run, of {", ".join(VARIANT_NAMES)}; the base always runs.')
  flags.DEFINE_string('out', None, 'Directory of the table, plots, commands and run records.',
                      required=True)
  flags.DEFINE_string(
      'workdirs', None, 'Directory of the runs\' workdirs; default: '
      'workdirs/ablations/<name of --out>.')


def chosen_variants(names: Sequence[str]) -> list[Variant]:
  """The base and the named variants, in VARIANTS' order; an unknown name is a UsageError."""
  unknown = sorted(set(names) - set(VARIANT_NAMES))
  if unknown:
    raise errors.UsageError(f'Unknown variants {unknown}; known: {", ".join(VARIANT_NAMES)}.')
  return [v for v in VARIANTS if v.name == BASE or v.name in names]


def main(argv: Sequence[str], overrides: Sequence[str], runner_command: str) -> None:
  if len(argv) > 1:
    raise errors.UsageError(f'Unexpected arguments: {argv[1:]}')
  variants = chosen_variants(FLAGS.variants)
  out = Path(FLAGS.out)
  workdirs = Path(FLAGS.workdirs or Path('workdirs', 'ablations', out.name))
  seeds = range(FLAGS.seeds)
  specs = runner.run_specs(FLAGS.config, overrides, variants, seeds, workdirs, out)
  runner.check_configs(specs)
  out.mkdir(parents=True, exist_ok=True)
  runner.write_commands(out / 'commands.sh', runner_command, specs)
  runner.run_all(specs)
  table = report(FLAGS.config, runner_command, variants, seeds, out)
  (out / 'results.md').write_text(table)
  print(f'\n{table}\nWritten to {out}.')


if __name__ == '__main__':
  _overrides, _argv = runner.split_overrides(sys.argv)
  _runner_command = shlex.join(['python', *sys.argv])
  define_flags()
  cli.run(lambda argv: main(argv, _overrides, _runner_command), argv=_argv)
