"""`kerasfer train | evaluate | cv | ldl`: the training command line.

Precedence of settings: TrainConfig defaults < `--preset` < `--config FILE` < explicit flags
(`kerasfer.training.args.config_from_args`). The choices come from the library's constants;
keras, TensorFlow and the training code are imported inside the commands, so building the
parser stays cheap. Errors are raised to the `kerasfer` error boundary (`kerasfer.cli`).
"""

from __future__ import annotations

import argparse
import json
import sys

from kerasfer.inference.tta import TTA_MODES
from kerasfer.paths import UserError
from kerasfer.training.args import config_from_args  # noqa: F401  (re-exported: the commands' settings)
from kerasfer.training.config import CLASS_WEIGHTS
from kerasfer.training.config import DISTRIBUTE
from kerasfer.training.config import KNOWN_LOSSES
from kerasfer.training.config import OPTIMIZERS
from kerasfer.training.config import SCHEDULES
from kerasfer.training.presets import list_presets


def parse_input_size(text):
    """`"112"` -> (112, 112, None); `"48x48x1"` / `"48,48,1"` -> (48, 48, 1); `"100x100"` -> (100, 100, None)."""
    if text is None:
        return None
    parts = [p for p in str(text).lower().replace(",", "x").split("x") if p]
    try:
        nums = [int(p) for p in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(f"input size {text!r} must look like 112, 100x100 or 48x48x1") from None
    if len(nums) == 1:
        nums = [nums[0], nums[0]]
    if len(nums) not in (2, 3) or min(nums) < 1:
        raise argparse.ArgumentTypeError(f"input size {text!r} must look like 112, 100x100 or 48x48x1")
    return tuple(nums) if len(nums) == 3 else (nums[0], nums[1], None)


def _add_data_args(p, split_default=None, dataset_default="synthetic_faces"):
    p.add_argument("--dataset", help=f"TFDS dataset name (default {dataset_default}), e.g. fer2013, ferplus/majority")
    p.add_argument("--data-dir", help="TFDS data directory")
    p.add_argument("--manual-dir", help="folder with manually downloaded dataset files")
    p.add_argument("--input-size", type=parse_input_size, help="112, 100x100 or 48x48x1 (default: the model's)")
    p.add_argument("--channels", type=int, choices=(1, 3), help="1 = grayscale, 3 = RGB (default: the model's)")
    p.add_argument("--batch-size", type=int, help="global batch size")


def _augmentation_names():
    from kerasfer.data.augment import AUGMENTATIONS  # NumPy only at import

    return sorted(AUGMENTATIONS)


def _add_train_args(p):
    p.add_argument("--model", help="registered model name (see `kerasfer models`); default lfnsb")
    p.add_argument("--preset", help=f"training recipe: {', '.join(list_presets())}")
    p.add_argument("--config", help="a config.json written by an earlier run (repeats it exactly)")
    _add_data_args(p)
    p.add_argument("--train-split", help="default train")
    p.add_argument("--val-split", help="default auto (validation, else test); 'none' for no validation")
    p.add_argument("--num-classes", type=int)
    p.add_argument("--epochs", type=int)
    p.add_argument("--max-train-examples", type=int, help="use only the first N training examples")
    p.add_argument("--max-val-examples", type=int)
    p.add_argument("--steps-per-epoch", type=int)
    p.add_argument("--optimizer", choices=OPTIMIZERS)
    p.add_argument("--lr", "--learning-rate", dest="learning_rate", type=float)
    p.add_argument("--momentum", type=float)
    p.add_argument("--weight-decay", type=float)
    p.add_argument("--clipnorm", type=float)
    p.add_argument("--schedule", choices=SCHEDULES)
    p.add_argument("--min-lr", type=float)
    p.add_argument("--gamma", type=float, help="decay factor of step/exponential/plateau schedules")
    p.add_argument("--step-size", type=int)
    p.add_argument("--plateau-patience", type=int, help="epochs without improvement before a plateau decay")
    p.add_argument("--warmup-epochs", type=int)
    p.add_argument("--loss", help=f"{', '.join(KNOWN_LOSSES)}, or a sum like ce+cosine_harmony")
    p.add_argument(
        "--model-kwargs", type=json.loads, help="JSON builder arguments, e.g. '{\"stem_pool\": false}' (ShuffleNetV2)"
    )
    p.add_argument("--loss-kwargs", type=json.loads, help='JSON, e.g. \'{"ro": {"lambda1": 0.9, "lambda2": 0.1}}\'')
    p.add_argument("--label-smoothing", type=float)
    p.add_argument("--class-weights", choices=CLASS_WEIGHTS)
    p.add_argument("--augment", help=f"augmentation preset: {', '.join(_augmentation_names())}")
    p.add_argument(
        "--mixup", type=float, metavar="ALPHA", help="mixup in the training step, lam ~ Beta(ALPHA, ALPHA) (0: off)"
    )
    p.add_argument("--mixed-precision", action="store_true", default=None)
    p.add_argument("--jit", dest="jit_compile", action="store_true", default=None, help="force XLA")
    p.add_argument("--no-jit", dest="jit_compile", action="store_false", help="disable XLA")
    p.add_argument("--seed", type=int)
    p.add_argument("--early-stopping", dest="early_stopping_patience", type=int, help="patience in epochs")
    p.add_argument(
        "--time-budget-min",
        dest="time_budget_minutes",
        type=float,
        help="stop before this many minutes (loading included) and fit the cosine schedule into the epochs that fit",
    )
    p.add_argument("--monitor", help="metric for the best checkpoint (default val_accuracy)")
    p.add_argument("--distribute", choices=DISTRIBUTE)
    p.add_argument("--soft-labels", help=".npy of target distributions for the training split")
    p.add_argument(
        "--target-feature",
        help="train on this feature of the examples as target distributions, e.g. distribution (FER+'s crowd "
        "votes, with --dataset ferplus/majority); validation keeps the labels",
    )
    p.add_argument("--arrays", dest="arrays_dir", help="train from the .npz splits `kerasfer arrays` wrote there")
    p.add_argument(
        "--init-weights",
        help="start from these weights (a run directory, .keras, .weights.h5 or packaged name of the same "
        "architecture): fine-tuning, or a second learning-rate cycle from an earlier run; with other classes "
        "(FER2013's 7 for FER+'s 8) the classifier keeps the shared classes' rows",
    )
    p.add_argument(
        "--distill-from",
        action="append",
        metavar="TEACHER",
        help="distil from this trained model (packaged name such as resnet18_small/fer2013, run directory or "
        ".keras) inside the training step; repeat it for an ensemble (probabilities averaged)",
    )
    p.add_argument("--distill-alpha", type=float, help="the teacher's share of the loss, in [0, 1] (default 0.5)")
    p.add_argument(
        "--distill-temperature", type=float, help="softmax temperature T > 0 of the distillation (default 4)"
    )
    p.add_argument(
        "--recalibrate-bn", type=int, metavar="BATCHES",
        help="after training, recompute BatchNorm's statistics over this many un-augmented training batches "
        "(kept when the validation accuracy does not drop; 0: off, the default)",
    )  # fmt: skip
    p.add_argument("--output", "-o", dest="output_dir", help="run directory (default runs/train)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--resume", dest="on_existing", action="store_const", const="resume", help="(default)")
    g.add_argument("--overwrite", dest="on_existing", action="store_const", const="overwrite")
    g.add_argument("--refuse", dest="on_existing", action="store_const", const="refuse")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _run_train(args):
    from kerasfer.training import trainer

    config = config_from_args(args)
    result = trainer.train(config)
    s = result.summary
    print(f"Trained {config.model} on {config.dataset}: {s['final']}")
    print(f"Model: {result.model_path}")
    print(f"Run directory (config.json, checkpoints, log.csv, result.json): {result.output_dir}")
    return 0


def _run_evaluate(args):
    from kerasfer.training.evaluate import evaluate

    shape = None
    if args.input_size is not None:
        if args.input_size[2] is None and args.channels is None:
            raise UserError("--input-size for evaluate needs the channels too (e.g. 48x48x1) or --channels.")
        shape = (args.input_size[0], args.input_size[1], args.input_size[2] or args.channels)
    if not args.model and not args.weights:
        raise UserError("Give the model to evaluate: --model (a run directory, .keras file, packaged name, ...).")
    report = evaluate(
        args.model,
        weights=args.weights,
        dataset=args.dataset,
        split=args.split,
        data_dir=args.data_dir,
        manual_dir=args.manual_dir,
        batch_size=args.batch_size or 64,
        input_shape=shape,
        max_examples=args.max_examples,
        output=args.output,
        tta=args.tta,
        progress=None if args.quiet else (lambda line: print(line, file=sys.stderr, flush=True)),
    )
    tta = "" if args.tta == "none" else f" (TTA {args.tta}: {report['tta_views']} views per image)"
    where = f" (dataset from {report['dataset_from']})" if report.get("dataset_from") else ""
    print(
        f"{report['dataset']}/{report['split']}{where}{tta}: {report['num_examples']} examples, "
        f"accuracy {100 * report['accuracy']:.2f}%, mean class accuracy {100 * report['mean_class_accuracy']:.2f}%, "
        f"macro-F1 {100 * report['macro_f1']:.2f}%"
    )
    if args.output:
        print(f"Report: {args.output}\nSummary: {report['summary_md']}\nConfusion matrix: {report['confusion_png']}")
    return 0


def _run_cv(args):
    from kerasfer.training import cv

    config = config_from_args(args)
    report = cv.cross_validate(
        config, folds=args.folds, split=args.split or config.train_split, subject_wise=not args.no_subjects
    )
    for k in ("accuracy", "mean_class_accuracy", "macro_f1"):
        m = report["summary"][k]
        print(f"{k}: {100 * m['mean']:.2f}% +- {100 * m['std']:.2f}% over {report['folds']} folds")
    print(f"Report: {report['report_path']}")
    return 0


def _run_ldl(args):
    from kerasfer.training import ldl

    preset = getattr(args, "preset", None) or getattr(args, "preset_default", None) or "lfer_ldl"
    args.preset = preset if preset in ldl.student_presets() else None
    teacher, student, temperature = ldl.ldl_configs(
        config_from_args(args),  # the preset's student + flags
        preset,
        epochs=args.epochs,
        teacher_model=args.teacher_model,
        teacher_epochs=args.teacher_epochs,
        teacher_input_size=args.teacher_input_size,
    )
    result = ldl.run_ldl(
        teacher,
        student,
        args.output_dir or "runs/ldl",
        temperature=args.temperature or temperature,
        teacher_weights=args.teacher_weights,
        eval_split=args.eval_split,
    )
    print(f"Teacher: {result['teacher_model']}\nDistributions: {result['distributions']}")
    print(f"Student: {result['student_model']}")
    if result.get("report"):
        print(f"Student {result['eval_split']} accuracy: {100 * result['report']['accuracy']:.2f}%")
        print(f"Report: {result['report_path']}")
    return 0


def register(sub):
    p = sub.add_parser("train", help="train a model (writes DIR/model.keras, checkpoints, config, logs)")
    _add_train_args(p)
    p.set_defaults(func=_run_train)

    p = sub.add_parser(
        "evaluate",
        help="evaluate trained weights: JSON + Markdown report, confusion-matrix PNG",
        description="Exit status: 0 done, 1 failure while working, 2 user error.",
    )
    p.add_argument(
        "--model",
        help="a run directory, .keras / .weights.h5 file or packaged name (resnet18_small/fer2013); with --weights, "
        "the registry name of the architecture",
    )
    p.add_argument("--weights", help="a run directory, .keras, .weights.h5 file or packaged weights name")
    _add_data_args(p, dataset_default="the run's own, from its config.json")
    p.add_argument("--split", help="default test (a run whose dataset has none: its validation split)")
    p.add_argument("--max-examples", type=int)
    p.add_argument("--tta", default="none", choices=TTA_MODES, help="test-time augmentation (default none)")
    p.add_argument("--output", "-o", help="report.json (a .md summary and _confusion.png are written beside)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=_run_evaluate)

    p = sub.add_parser("cv", help="stratified (subject-wise where possible) k-fold cross-validation")
    _add_train_args(p)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--split", help="split to cross-validate (default: the training split)")
    p.add_argument("--no-subjects", action="store_true", help="ignore subject ids even when the dataset has them")
    p.set_defaults(func=_run_cv)

    p = sub.add_parser("ldl", help="label-distribution learning: teacher -> distributions -> student")
    _add_train_args(p)
    p.add_argument("--teacher-model", help="teacher architecture (default: the preset's)")
    p.add_argument("--teacher-weights", help="use these trained teacher weights instead of training one")
    p.add_argument("--teacher-epochs", type=int)
    p.add_argument("--teacher-input-size", type=parse_input_size)
    p.add_argument("--temperature", type=float, help="softens the teacher's distributions (default 1)")
    p.add_argument("--eval-split", default="test", help="split to evaluate the student on ('none' to skip)")
    p.set_defaults(func=_run_ldl, preset_default="lfer_ldl")


def build_parser_for_tests():
    """The `kerasfer` parser with only the training commands (for tests)."""
    parser = argparse.ArgumentParser(prog="kerasfer")
    register(parser.add_subparsers(dest="command"))
    return parser
