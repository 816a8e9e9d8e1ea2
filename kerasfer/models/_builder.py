"""The one skeleton of kerasfer's model builders (private).

Every public builder is a `variant`: a function with the explicit public signature and the
docstring but no body, bound to its family's private builder (as the private builder and thin
variants of keras/src/applications/mobilenet_v3.py, or timm's `_create(variant, **kwargs)`). The
private builder takes the arguments every family shares (`SHARED_ARGS` and `name`) as
`**shared` and gives them to a `Skeleton`, which owns the steps that use them:
`Skeleton.image_input` -> the family's trunk (ending in a layer named `"features"`) ->
`Skeleton.classifier` (the common pooled head), or `Skeleton.top` and `Skeleton.finish` where
the model has more outputs than the head. The head convention, the same in every family: the
classifier is one `Dense` named `"predictions"` that carries `classifier_activation` (softmax by
default, `None` / `"linear"` for logits), with no separate activation layer after it, so
`model.get_layer("predictions")` tells what the model outputs.

Keras keys a `.weights.h5` file by each layer's class and position among the layers of its
class, not by layer name: the skeleton creates the same layers in the same order as the builders
did before it, so weight files saved from them still load.
"""

import functools
import inspect
import numbers
import operator
import textwrap

import keras

from kerasfer.layers.image_normalization import ImageNormalization
from kerasfer.layers.image_normalization import channel_stats
from kerasfer.models.weights import load_weights
from kerasfer.models.weights import resolve_weights

POOLINGS = (None, "avg")

# The arguments every builder shares, in signature order, described once. `{normalization}` is
# the statistics of the family's `ImageNormalization`.
SHARED_ARGS = {
    "num_classes": 'number of classes, the units of the Dense `"predictions"` (an int >= 1).',
    "input_shape": "`(H, W, C)` of raw `[0, 255]` pixels.",
    "weights": '`None`, the name of weights packaged with kerasfer (e.g. `"fer2013"`, see '
    "`kerasfer.models.weights.packaged_weights`) or the path of a local `.weights.h5` / `.keras` file to "
    "load; kerasfer never downloads weights.",
    "include_top": 'add the classifier head, ending in the Dense `"predictions"`; otherwise the model '
    'outputs the `"features"` map.',
    "include_preprocessing": 'start with `ImageNormalization` (layer `"normalization"`: {normalization}), so '
    "the model takes raw `[0, 255]` pixels; `False` for already-normalised input.",
    "classifier_activation": 'activation of the Dense `"predictions"`, the model\'s output: `"softmax"` '
    '(probabilities) or `None` / `"linear"` (logits); there is no separate activation layer.',
}
IMAGENET_STATS = "ImageNet mean/std, their channel averages for grayscale input"


def shared_args(normalization=IMAGENET_STATS, **overrides):
    """Decorator filling the `{args}` line of a builder's docstring with the shared arguments.

    `overrides` replace the text of a shared argument; other keys are appended after them, in
    order. The decorated function is returned unchanged otherwise (put it below `register_model`).
    """
    texts = dict(SHARED_ARGS)
    texts.update(overrides)
    texts["include_preprocessing"] = texts["include_preprocessing"].replace("{normalization}", normalization)

    def decorator(fn):
        if fn.__doc__ is None:  # python -OO strips docstrings
            return fn
        lines = fn.__doc__.split("\n")
        marks = [i for i, line in enumerate(lines) if line.strip() == "{args}"]
        if len(marks) != 1:
            raise ValueError(f"{fn.__name__}: the docstring needs exactly one '{{args}}' line, found {len(marks)}.")
        indent = lines[marks[0]][: len(lines[marks[0]]) - len(lines[marks[0]].lstrip())]
        block = []
        for arg, text in texts.items():
            block += textwrap.wrap(
                f"{arg}: {text}",
                width=100,
                initial_indent=indent,
                subsequent_indent=indent + "    ",
                break_on_hyphens=False,
            )
        fn.__doc__ = "\n".join(lines[: marks[0]] + block + lines[marks[0] + 1 :])
        return fn

    return decorator


def variant(builder, *fixed_args, **fixed_kwargs):
    """Decorator making a public builder of a function that has the explicit public signature and the
    docstring but no body: a call binds its arguments to that signature (defaults filled in, an
    unknown argument the usual `TypeError`) and returns `builder(*fixed_args, **fixed_kwargs,
    **arguments)`, every argument by name (those of a `**kwargs` parameter passed on as they are).

    The builder keeps the function's signature (`__signature__`), docstring, name, module and
    `__wrapped__`, so `help()`, IDEs and `inspect.signature` (the registry) see the explicit
    signature. `builder` is a family's private builder, or another public one (`ResNet18` is
    `variant(ResNet, 18)`).
    """

    def decorator(fn):
        signature = inspect.signature(fn)
        kinds = {p.name: p.kind for p in signature.parameters.values()}
        if inspect.Parameter.VAR_POSITIONAL in kinds.values():
            raise TypeError(f"{fn.__name__}: a variant's signature cannot take *args.")
        var_keyword = [name for name, kind in kinds.items() if kind is inspect.Parameter.VAR_KEYWORD]

        @functools.wraps(fn)
        def public_builder(*args, **kwargs):
            try:
                bound = signature.bind(*args, **kwargs)
            except TypeError as error:
                raise TypeError(f"{fn.__name__}() {error}") from None
            bound.apply_defaults()
            arguments = dict(bound.arguments)
            for name in var_keyword:
                arguments.update(arguments.pop(name))
            return builder(*fixed_args, **fixed_kwargs, **arguments)

        public_builder.__signature__ = signature
        return public_builder

    return decorator


def _prefix(model):
    return f"{model}: " if model else ""


def check_num_classes(num_classes, model=None):
    """Returns `num_classes` as an int; raises a `ValueError` unless it is an int >= 1 (bools rejected)."""
    try:
        value = operator.index(num_classes)
    except TypeError:
        value = None
    if isinstance(num_classes, bool) or value is None or value < 1:
        raise ValueError(f"{_prefix(model)}num_classes must be an integer >= 1, got {num_classes!r}.")
    return value


def _is_positive_int(value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return False
    try:
        return int(value) == value and value >= 1
    except (ValueError, OverflowError):  # NaN, infinity
        return False


def check_input_shape(input_shape, *, min_size, multiple=1, channels=None, why="", model=None):
    """Validates a static `(H, W, C)` and returns it as ints.

    Args:
        input_shape: the builder's argument.
        min_size: the smallest accepted height and width.
        multiple: height and width must be multiples of it.
        channels: None (any), an int or a tuple of accepted channel counts.
        why: the architectural reason, quoted in the errors.
        model: the model name, prefixed to the errors.

    Raises:
        ValueError: naming the problem, the smallest accepted size and why.
    """
    prefix = _prefix(model)
    reason = f" ({why})" if why else ""
    try:
        shape = tuple(input_shape)
    except TypeError:
        raise ValueError(f"{prefix}input_shape must be (height, width, channels), got {input_shape!r}.") from None
    if len(shape) != 3:
        raise ValueError(f"{prefix}input_shape must be (height, width, channels), got {input_shape!r}.")
    if not all(_is_positive_int(d) for d in shape):
        raise ValueError(
            f"{prefix}input_shape must be a static (height, width, channels): a fixed height and width and a channel "
            f"count, positive ints{reason}; got {input_shape!r}."
        )
    h, w, c = (int(d) for d in shape)
    if h < min_size or w < min_size:
        raise ValueError(
            f"{prefix}input_shape {shape} is too small: the smallest accepted size is {min_size}x{min_size}{reason}."
        )
    if multiple > 1 and (h % multiple or w % multiple):
        raise ValueError(f"{prefix}input_shape {shape}: height and width must be multiples of {multiple}{reason}.")
    if channels is not None:
        accepted = (channels,) if isinstance(channels, int) else tuple(channels)
        if c not in accepted:
            names = " or ".join(str(a) for a in accepted)
            raise ValueError(f"{prefix}input_shape {shape}: this model takes {names} channels{reason}, got {c}.")
    return h, w, c


def image_input(input_shape, *, normalization, min_size, multiple=1, channels=None, why="", model=None):
    """Checks `input_shape` (see `check_input_shape`) and returns `(inputs, x)`: the `keras.Input`
    named `"image"` and, unless `normalization` is None, the `ImageNormalization` `"normalization"` on it.

    `normalization` is a `(mean, std)` pair of scalars (kept as they are) or of per-RGB-channel
    values, which a grayscale input gets as their averages (`channel_stats`), or a function of the
    channel count returning such a pair.
    """
    h, w, c = check_input_shape(
        input_shape, min_size=min_size, multiple=multiple, channels=channels, why=why, model=model
    )
    inputs = keras.Input(shape=(h, w, c), name="image")
    if normalization is None:
        return inputs, inputs
    mean, std = normalization(c) if callable(normalization) else normalization
    if isinstance(mean, list | tuple):
        mean, std = channel_stats(mean, std, c)
    return inputs, ImageNormalization(mean=mean, std=std, name="normalization")(inputs)


def top(x, *, num_classes, classifier_activation="softmax", pooling=None, dropout=0.0):
    """The end of every classifier: optional global average pooling `"avgpool"`, optional `"dropout"`,
    then the Dense `"predictions"` with `classifier_activation`."""
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}.")
    dropout = float(dropout or 0.0)
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout!r}.")
    if pooling == "avg":
        x = keras.layers.GlobalAveragePooling2D(name="avgpool")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    return keras.layers.Dense(num_classes, activation=classifier_activation, name="predictions")(x)


class Skeleton:
    """The arguments every builder shares (`SHARED_ARGS` and `name`) of one builder call, and the
    steps of the skeleton that use them.

    A family's private builder takes those arguments as `**shared` and makes `Skeleton(**shared)`
    (which checks `num_classes`), then builds `image_input` -> its trunk -> `classifier`, or `top`
    -> its other outputs -> `finish`. `named_errors` prefixes the argument errors with the model
    name (the LFNSB family's messages).
    """

    def __init__(
        self,
        *,
        num_classes,
        input_shape,
        weights,
        include_top,
        include_preprocessing,
        classifier_activation,
        name,
        named_errors=False,
    ):
        self.model = name if named_errors else None
        self.num_classes = check_num_classes(num_classes, model=self.model)
        self.input_shape, self.weights, self.name = input_shape, weights, name
        self.include_top, self.include_preprocessing = include_top, include_preprocessing
        self.classifier_activation = classifier_activation

    def image_input(self, normalization, **checks):
        """`image_input` (`checks`: those of `check_input_shape`), then checks `weights` (see
        `resolve_weights`; packaged names are looked up under `name`) before the trunk is built.
        The family's `normalization` applies only with `include_preprocessing`."""
        inputs, x = image_input(
            self.input_shape,
            normalization=normalization if self.include_preprocessing else None,
            model=self.model,
            **checks,
        )
        resolve_weights(self.weights, self.name)
        return inputs, x

    def top(self, x, *, pooling="avg", dropout=0.0):
        """`top` on `x` (with `num_classes` and `classifier_activation`) when `include_top`; otherwise `x`."""
        if not self.include_top:
            return x
        return top(
            x,
            num_classes=self.num_classes,
            classifier_activation=self.classifier_activation,
            pooling=pooling,
            dropout=dropout,
        )

    def finish(self, inputs, outputs):
        """`keras.Model(inputs, outputs, name=name)` with `weights` loaded (packaged names looked up under `name`)."""
        return load_weights(keras.Model(inputs, outputs, name=self.name), self.weights, self.name)

    def classifier(self, inputs, features, *, pooling="avg", dropout=0.0):
        """The common ending: `features` -> `top` (when `include_top`) -> `finish`."""
        return self.finish(inputs, self.top(features, pooling=pooling, dropout=dropout))
