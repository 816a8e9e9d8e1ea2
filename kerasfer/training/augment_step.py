"""Training-time augmentation inside the compiled training step, on the accelerator.

On backends without tf.data (JAX), `ArrayBatches` used to run the preset's Keras layers on each
batch on the host and copy to NumPy after every layer, which can bound a GPU's images/s. Here the
same preset runs inside the model's forward pass instead, so it is traced and compiled with the
step (XLA on JAX, `tf.function` on TensorFlow) and runs where the model does:

- `StepAugmentation(preset, input_shape, seed)`: a layer applying a `kerasfer.data.augment`
  preset to a float32 batch in `[0, 255]`, with the preset's very layers and probabilities. A
  stage with probability p < 1 transforms the whole batch and keeps the transformed image of each
  example with probability p (torchvision's `RandomApply` per image, as `BatchAugmenter` does
  with a gather instead: the same distribution). The layer is the identity unless it is called
  with `training=True`.
- `AugmentInStep(model, augmentation)`: the model to compile and fit. Its `call` augments only
  under `training=True` and calls the wrapped model with an explicit `training` flag. (Keras 3's
  image layers default to `training=True` and leave it in the call context, so prepending them to
  a model puts every later BatchNormalization of a `model(x)` call into training mode; here
  inference never runs them, and the wrapped model always gets its flag.) A wrapped model with
  its own `compute_loss` (`CosineHarmonyModel`) keeps it: the wrapper compiles it with the same
  loss and hands it the loss computation, so its extra term sees the augmented batch's features.
  Save the wrapped model (`.inner`), not the wrapper.
- Mixup (Zhang, Cisse, Dauphin and Lopez-Paz, "mixup: Beyond Empirical Risk Minimization", ICLR
  2018, arXiv:1710.09412): `AugmentInStep(model, augmentation, mixup=alpha)` also blends each
  training batch with itself reversed along the batch axis, `x' = lam x + (1 - lam) x[::-1]`, with one
  `lam ~ Beta(alpha, alpha)` per batch, after the augmentation, and trains on the targets blended
  the same way (so the targets must be one-hot or distributions: `TrainConfig.label_mode` is
  `"categorical"` when `mixup > 0`). The batches are already shuffled, so the reversed batch is a
  random partner (as timm's `Mixup` does); sample weights (class weights) are blended too. `lam`
  is drawn in `call` and kept for the `compute_loss` of the same step, the way
  `CosineHarmonyModel` keeps its features; a wrapped model's own loss (Cosine-Harmony) then sees
  the blended targets (its class-centre term takes their arg-max, the dominant class).
- Knowledge distillation: `AugmentInStep(model, ..., distiller=Distiller(...))`
  (`kerasfer.training.distillation`) also runs the frozen teacher(s) on the batch the student sees,
  augmented and mixed, with `training=False`, and keeps their probabilities for the `compute_loss`
  of the same step, which returns `(1 - alpha) * the student's own loss + alpha * T^2 * KL(teacher ||
  student)`, both weighted by the (blended) sample weights. Evaluation and prediction run the student
  alone, so validation losses compare with plain training's. The teachers are not tracked: neither
  trained nor saved.
- `augment_in_step(model, augmentation, mixup=0.0, distiller=None)`: the wrapper, or `model` itself
  when there is nothing to do in the step.

NumPy arrays in, the same augmentation statistics as the tf.data path, on JAX and TensorFlow. Mixup
runs here on both paths; on TensorFlow the preset itself runs in tf.data before it.
"""

from __future__ import annotations

import keras
from keras import ops

from kerasfer.training.config import check_mixup


class StepAugmentation(keras.layers.Layer):
    """A `kerasfer.data.augment` preset as one layer, for use inside a compiled training step.

    Args:
        augment: a preset name (`"lfnsb_affectnet"`, ...) or a `BatchAugmenter` (its `stages`).
        input_shape: the model's `(H, W, C)`.
        seed: seeds the preset's layers and this layer's per-image `RandomApply` draws.
    """

    def __init__(self, augment, input_shape, seed=None, **kwargs):
        super().__init__(**kwargs)
        from kerasfer.data.augment import get_augmentation
        from kerasfer.data.augment import patch_fill_values

        augmenter = get_augmentation(augment, tuple(input_shape), seed)
        if augmenter is None:
            raise ValueError(f"augment={augment!r} is the identity; use no StepAugmentation instead.")
        stages = getattr(augmenter, "stages", None)
        if stages is None:
            raise ValueError(
                f"StepAugmentation needs a preset name or a BatchAugmenter (with .stages), got {augment!r}."
            )
        patch_fill_values(augmenter)  # Keras 3.15's RandomErasing rejects list fill values on JAX
        self.augment_name = augment if isinstance(augment, str) else type(augmenter).__name__
        # One flat (tracked) list of the preset's layers; stage i is layers[bounds[i][0]:bounds[i][1]].
        self.augment_layers = [layer for _, layers in stages for layer in layers]
        ends = [sum(len(layers) for _, layers in stages[: i + 1]) for i in range(len(stages))]
        self.stages = [(float(p), end - len(layers), end) for (p, layers), end in zip(stages, ends)]
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, images, training=None):
        if not training:
            return images
        x = ops.cast(images, "float32")
        for prob, start, end in self.stages:
            y = x
            for layer in self.augment_layers[start:end]:
                y = ops.cast(layer(y, training=True), "float32")
            if prob >= 1.0:
                x = y
            else:
                keep = keras.random.uniform(ops.shape(x)[:1], seed=self.seed_generator) < prob
                x = ops.where(ops.reshape(keep, (-1, 1, 1, 1)), y, x)
        return ops.cast(ops.clip(x, 0.0, 255.0), keras.backend.standardize_dtype(images.dtype))

    def compute_output_shape(self, input_shape):
        return input_shape

    def __repr__(self):
        parts = [
            f"p={p}: " + ", ".join(type(layer).__name__ for layer in self.augment_layers[start:end])
            for p, start, end in self.stages
        ]
        return f"StepAugmentation({self.augment_name}; {'; '.join(parts)})"


class AugmentInStep(keras.Model):
    """Trains `model` on batches augmented by `augmentation` (and mixup, and distilled from a teacher)
    inside the training step.

    `call(x, training=True)` returns `model(mix(augmentation(x, training=True)), training=True)`; any
    other call returns `model(x, training=False)` (evaluation and prediction see the images as they
    are). Compile and fit this wrapper; save `.inner`.

    Args:
        model: the model to train.
        augmentation: a `StepAugmentation`, or None.
        mixup: the Beta(alpha, alpha) parameter of mixup (0: no mixup); needs one-hot or
            distribution targets.
        seed: seeds the mixup draws.
        distiller: a `kerasfer.training.distillation.Distiller` (frozen teachers, alpha, temperature),
            or None; its teachers must give the model's classes in the model's order.
    """

    def __init__(self, model, augmentation=None, mixup=0.0, seed=None, distiller=None, **kwargs):
        kwargs.setdefault("name", f"{model.name}_augment_in_step")
        super().__init__(**kwargs)
        self.inner = model
        self.augmentation = augmentation
        self.mixup = check_mixup(mixup)
        if augmentation is None and not self.mixup and distiller is None:
            raise ValueError(
                "AugmentInStep needs an augmentation, mixup > 0 or a distiller; train the model itself instead."
            )
        self.mixup_seed = keras.random.SeedGenerator(seed) if self.mixup else None
        object.__setattr__(self, "_mix_lambda", None)  # this step's lam, from `call` to `compute_loss`
        # Not tracked (object.__setattr__): the teachers are neither trained nor saved with the model.
        object.__setattr__(self, "distiller", distiller)
        object.__setattr__(self, "_teacher_probs", None)  # this step's teacher probabilities, likewise
        if distiller is not None:
            from kerasfer.training.distillation import outputs_logits

            classifier = getattr(model, "classifier", model)  # CosineHarmonyModel's plain classifier
            width = classifier.outputs[0].shape[-1] if getattr(classifier, "outputs", None) else None
            if width is not None and int(width) != distiller.num_classes:
                raise ValueError(
                    f"The distillation teacher gives {distiller.num_classes} classes; the model {int(width)}."
                )
            self._student_from_logits = outputs_logits(classifier)
        # A model with its own loss logic (e.g. CosineHarmonyModel) keeps computing the loss.
        self._inner_loss = type(model).compute_loss is not keras.Model.compute_loss
        self.built = True  # the wrapped model is built; the augmentation has no weights

    def call(self, inputs, training=None):
        if training:
            if self.augmentation is not None:
                inputs = self.augmentation(inputs, training=True)
            if self.mixup:
                inputs = self._mix_inputs(inputs)
            if self.distiller is not None:
                object.__setattr__(self, "_teacher_probs", self.distiller.probabilities(inputs))
        return self.inner(inputs, training=bool(training))

    def _mix_inputs(self, x):
        lam = keras.random.beta((), self.mixup, self.mixup, seed=self.mixup_seed)
        object.__setattr__(self, "_mix_lambda", lam)
        return ops.cast(_blend(x, lam), keras.backend.standardize_dtype(x.dtype))

    def _mix_targets(self, y, sample_weight):
        lam = self._mix_lambda
        object.__setattr__(self, "_mix_lambda", None)
        if lam is None:
            raise RuntimeError("mixup: compute_loss(training=True) was called without this step's forward pass.")
        if len(y.shape) < 2:
            raise ValueError(
                f"mixup blends targets, so they must be one-hot or distributions (B, C); got shape {tuple(y.shape)} "
                "(integer labels). TrainConfig uses one-hot targets when mixup > 0."
            )
        return _blend(y, lam), None if sample_weight is None else _blend(sample_weight, lam)

    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, **kwargs):
        super().compile(optimizer=optimizer, loss=loss, loss_weights=loss_weights, **kwargs)
        if self._inner_loss:
            # The inner model computes the loss with the same compiled loss (it never trains by itself).
            self.inner.compile(optimizer=self.optimizer, loss=loss, loss_weights=loss_weights)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if training and self.mixup:
            y, sample_weight = self._mix_targets(y, sample_weight)
        if self._inner_loss:
            loss = self.inner.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=training)
        else:
            loss = super().compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=training)
        if training and self.distiller is not None:
            teacher_probs = self._teacher_probs
            object.__setattr__(self, "_teacher_probs", None)
            if teacher_probs is None:
                raise RuntimeError(
                    "distillation: compute_loss(training=True) was called without this step's forward pass."
                )
            loss = self.distiller.loss(loss, teacher_probs, y_pred, sample_weight, self._student_from_logits)
        return loss

    def compute_output_shape(self, input_shape):
        return self.inner.compute_output_shape(input_shape)


def _blend(t, lam):
    """`lam * t + (1 - lam) * t[::-1]` along the batch axis, in float32 (mixup's blend of inputs and targets)."""
    t = ops.cast(t, "float32")
    return lam * t + (1.0 - lam) * ops.flip(t, axis=0)


def augment_in_step(model, augmentation, mixup=0.0, seed=None, distiller=None):
    """`AugmentInStep(model, augmentation, mixup, seed, distiller)`, or `model` itself when `augmentation` and
    `distiller` are None and `mixup` is 0."""
    if augmentation is None and not mixup and distiller is None:
        return model
    return AugmentInStep(model, augmentation, mixup=mixup, seed=seed, distiller=distiller)
