"""Label-distribution learning end to end (LFER-LDL): teacher -> distributions -> student.

1. Train the teacher on hard labels (or load trained teacher weights).
2. Write the teacher's output distribution for every training example, in the order the
   training split is read (`<out>/teacher_distributions.npy`, with the hard labels beside
   it in `teacher_labels.npy` and the teacher's train accuracy in `ldl.json`).
3. Train the student on those distributions (`soft_labels`), with `KL(P_teacher || Q_student)`
   plus Combo loss in the `lfer_ldl` preset; validation uses the hard labels.
4. Evaluate the student on `eval_split`.

The teacher only serves training; the student is a plain classifier at test time.
"""

from __future__ import annotations

import json
import os

import keras
import numpy as np

from kerasfer.training.config import TrainConfig


def teacher_distributions(teacher, config: TrainConfig, input_shape, temperature=1.0):
    """`(distributions (N, C), labels (N,))` of `teacher` over `config`'s training split, in order."""
    from kerasfer.data import datasets
    from kerasfer.training.distillation import teacher_targets

    if keras.backend.backend() == "tensorflow":
        from kerasfer.data import pipeline

        raw = datasets.load(config.dataset, config.train_split, data_dir=config.data_dir, manual_dir=config.manual_dir)
        if config.max_train_examples:
            raw = raw.take(config.max_train_examples)
        ds = pipeline.make_pipeline(raw, input_shape, config.batch_size, training=False)
        labels = np.concatenate([np.asarray(y) for _, y in ds.as_numpy_iterator()]).astype("int64")
        dist = teacher_targets(teacher, ds, temperature=temperature)
    else:
        x, labels = datasets.load_numpy(
            config.dataset, config.train_split, input_shape, data_dir=config.data_dir, manual_dir=config.manual_dir
        )
        if config.max_train_examples:
            x, labels = x[: config.max_train_examples], labels[: config.max_train_examples]
        labels = np.asarray(labels).astype("int64")
        dist = teacher_targets(teacher, x, temperature=temperature, batch_size=config.batch_size)
    if dist.shape[0] != labels.shape[0]:
        raise ValueError(f"The teacher gave {dist.shape[0]} distributions for {labels.shape[0]} examples.")
    return dist, labels


def run_ldl(
    teacher_config: TrainConfig,
    student_config: TrainConfig,
    output_dir,
    temperature=1.0,
    teacher_weights=None,
    eval_split="test",
):
    """Runs the whole LDL recipe; returns a summary dict (also written to `<output_dir>/ldl.json`).

    `teacher_config.output_dir` / `student_config.output_dir` are replaced by
    `<output_dir>/teacher` and `<output_dir>/student`. With `teacher_weights` (a run
    directory, `.keras` or `.weights.h5`) the teacher is loaded instead of trained.
    """
    from kerasfer.models.loading import load_trained
    from kerasfer.training import trainer
    from kerasfer.training.evaluate import evaluate

    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}.")
    if teacher_config.dataset != student_config.dataset or teacher_config.train_split != student_config.train_split:
        raise ValueError("The teacher and the student must use the same dataset and training split.")
    if teacher_config.max_train_examples != student_config.max_train_examples:
        raise ValueError("The teacher's distributions must cover the student's training examples (max_train_examples).")
    os.makedirs(output_dir, exist_ok=True)
    t_dir = os.path.join(output_dir, "teacher")
    s_dir = os.path.join(output_dir, "student")
    if teacher_weights:
        loaded = load_trained(teacher_weights, teacher_config.model)
        teacher, t_shape = loaded.model, loaded.input_shape
        teacher_path = str(teacher_weights)
    else:
        t_result = trainer.train(teacher_config.replace(output_dir=t_dir))
        teacher, t_shape, teacher_path = t_result.model, t_result.input_shape, t_result.model_path
    dist, labels = teacher_distributions(teacher, teacher_config, t_shape, temperature)
    dist_path = os.path.join(output_dir, "teacher_distributions.npy")
    np.save(dist_path, dist)
    np.save(os.path.join(output_dir, "teacher_labels.npy"), labels)
    teacher_train_acc = float((dist.argmax(1) == labels).mean())

    s_result = trainer.train(student_config.replace(output_dir=s_dir, soft_labels=os.path.abspath(dist_path)))
    summary = {
        "teacher_model": teacher_path,
        "teacher_input_shape": list(t_shape),
        "teacher_train_accuracy": teacher_train_acc,
        "temperature": float(temperature),
        "distributions": dist_path,
        "mean_teacher_entropy": float(-(dist * np.log(np.clip(dist, 1e-12, None))).sum(1).mean()),
        "student_model": s_result.model_path,
        "student_history": s_result.history,
        "eval_split": None,
        "report": None,
    }
    if eval_split and eval_split.lower() != "none":
        report_path = os.path.join(output_dir, "student_report.json")
        report = evaluate(
            s_result.model,
            dataset=student_config.dataset,
            split=eval_split,
            data_dir=student_config.data_dir,
            manual_dir=student_config.manual_dir,
            batch_size=student_config.batch_size,
            max_examples=student_config.max_val_examples,
            output=report_path,
        )
        summary.update({"eval_split": eval_split, "report": report, "report_path": report_path})
    with open(os.path.join(output_dir, "ldl.json"), "w") as f:
        json.dump(summary, f, indent=2)
    return summary


# The data and run settings the teacher shares with the student.
SHARED_WITH_TEACHER = (
    "dataset",
    "data_dir",
    "manual_dir",
    "train_split",
    "val_split",
    "max_train_examples",
    "max_val_examples",
    "seed",
    "verbose",
    "on_existing",
    "batch_size",
)


def ldl_configs(
    student, preset="lfer_ldl", *, epochs=None, teacher_model=None, teacher_epochs=None, teacher_input_size=None
):
    """`(teacher, student, temperature)` of the two-stage recipe `preset` for the `student` `TrainConfig`.

    The teacher is the preset's, with the student's data and run settings (`SHARED_WITH_TEACHER`);
    `teacher_epochs` (else `epochs`, the run's epochs given for both stages), `teacher_model` (a registry
    name, at its own input shape) and `teacher_input_size` (`(H, W, C or None)`) replace the preset's teacher
    settings.
    """
    from kerasfer.training.presets import get_ldl_preset

    teacher, _, temperature = get_ldl_preset(preset)
    t = teacher.to_dict()
    t.update({k: getattr(student, k) for k in SHARED_WITH_TEACHER})
    if teacher_epochs or epochs:
        t["epochs"] = teacher_epochs or epochs
    if teacher_model:
        from kerasfer.models import get_model_info

        t["model"] = teacher_model
        t["input_shape"] = get_model_info(teacher_model).input_shape
    if teacher_input_size is not None:
        h, w, c = teacher_input_size
        t["input_shape"] = (h, w, c or t["input_shape"][2])
    return TrainConfig.from_dict(t), student, temperature


def student_presets():
    from kerasfer.training.presets import PRESETS

    return PRESETS
