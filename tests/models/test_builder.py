"""The shared builder skeleton: argument checks, the normalised input, the head and the docstrings."""

import inspect

import keras
import numpy as np
import pytest

from kerasfer.models import _builder


def test_check_num_classes():
    assert _builder.check_num_classes(7) == 7
    assert _builder.check_num_classes(np.int64(3)) == 3
    for bad in (0, -1, True, 2.5, "7", None):
        with pytest.raises(ValueError, match="num_classes must be an integer >= 1"):
            _builder.check_num_classes(bad)
    with pytest.raises(ValueError, match="^lfnsb: num_classes"):
        _builder.check_num_classes(0, model="lfnsb")


@pytest.mark.parametrize(
    "shape, kwargs, match",
    [
        ((32, 32), {}, r"must be \(height, width, channels\)"),
        (None, {}, r"must be \(height, width, channels\)"),
        ((None, None, 3), {"why": "a static head"}, r"fixed height and width.*\(a static head\)"),
        ((32, 32, 0), {}, "positive ints"),
        ((float("nan"), 32, 3), {}, "positive ints"),
        ((24, 32, 3), {"why": "five stride-2 stages"}, r"smallest accepted size is 32x32 \(five stride-2 stages\)"),
        ((48, 48, 3), {"multiple": 32}, "multiples of 32"),
        ((32, 32, 4), {"channels": (1, 3)}, "takes 1 or 3 channels"),
        ((32, 32, 1), {"channels": 3}, "takes 3 channels"),
    ],
)
def test_check_input_shape_errors(shape, kwargs, match):
    with pytest.raises(ValueError, match=match):
        _builder.check_input_shape(shape, min_size=32, **kwargs)


def test_check_input_shape_returns_ints():
    assert _builder.check_input_shape([np.int64(64), 64.0, 1], min_size=32, multiple=32, channels=(1, 3)) == (64, 64, 1)


def test_image_input_normalization():
    _, x = _builder.image_input((32, 32, 1), normalization=((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)), min_size=32)
    layer = x._keras_history.operation
    assert (
        layer.name == "normalization" and layer.mean == pytest.approx([0.449]) and layer.std == pytest.approx([0.226])
    )
    _, x = _builder.image_input((32, 32, 3), normalization=(0.0, 1.0), min_size=32)
    assert x._keras_history.operation.mean == 0.0  # scalars stay scalars
    inputs, x = _builder.image_input((32, 32, 3), normalization=None, min_size=32)
    assert x is inputs and inputs.name == "image"


def test_top_is_one_dense_with_the_activation():
    inputs = keras.Input((4, 4, 8))
    model = keras.Model(inputs, _builder.top(inputs, num_classes=3, pooling="avg", dropout=0.5))
    assert [type(layer).__name__ for layer in model.layers] == [
        "InputLayer",
        "GlobalAveragePooling2D",
        "Dropout",
        "Dense",
    ]
    assert model.layers[-1].name == "predictions" and model.layers[-1].activation.__name__ == "softmax"
    logits = _builder.top(keras.Input((8,)), num_classes=3, classifier_activation=None)
    assert logits._keras_history.operation.activation.__name__ == "linear"
    with pytest.raises(ValueError, match="pooling must be one of"):
        _builder.top(inputs, num_classes=3, pooling="max")
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\)"):
        _builder.top(inputs, num_classes=3, dropout=1.0)


def test_shared_args_fills_the_docstring():
    @_builder.shared_args(normalization="x / 255", input_shape="`(H, W, C)`, at least 32x32.", depth="18 or 34.")
    def build():
        """Builds.

        Args:
            {args}
            name: model name.
        """

    doc = build.__doc__
    assert "{args}" not in doc
    flat = " ".join(doc.split())
    assert "input_shape: `(H, W, C)`, at least 32x32. weights:" in flat
    assert '(layer `"normalization"`: x / 255)' in flat
    indent = " " * 12  # that of the `{args}` line; continuation lines are indented further
    names = [
        line[len(indent) :].split(":")[0] for line in doc.split("\n") if line.startswith(indent) and line[12] != " "
    ]
    assert names == [*_builder.SHARED_ARGS, "depth", "name"]
    assert max(len(line) for line in doc.split("\n")) <= 100

    def undocumented():
        """No arguments section."""

    with pytest.raises(ValueError, match="exactly one"):
        _builder.shared_args()(undocumented)
    assert _builder.shared_args()(lambda: None).__doc__ is None  # python -OO: docstrings stripped


def test_variant_keeps_the_explicit_signature_and_binds_by_name():
    calls = []

    def build(*args, **kwargs):
        calls.append((args, kwargs))
        return "model"

    @_builder.variant(build, 18, stem="small")
    def Net(num_classes=7, name="net", **kwargs):
        """A variant."""

    assert str(inspect.signature(Net)) == "(num_classes=7, name='net', **kwargs)"
    assert (Net.__name__, Net.__doc__, Net.__module__) == ("Net", "A variant.", __name__)
    assert Net(3, dropout=0.5) == "model"
    assert calls == [((18,), {"stem": "small", "num_classes": 3, "name": "net", "dropout": 0.5})]

    @_builder.variant(build)
    def Strict(num_classes=7):
        """No **kwargs."""

    with pytest.raises(TypeError, match=r"^Strict\(\) got an unexpected keyword argument 'depth'"):
        Strict(depth=3)


def test_skeleton_owns_the_shared_arguments():
    shared = dict(weights=None, include_preprocessing=False, classifier_activation=None, name="tiny")
    with pytest.raises(ValueError, match="^tiny: num_classes"):
        _builder.Skeleton(num_classes=0, input_shape=(8, 8, 1), include_top=True, named_errors=True, **shared)
    skeleton = _builder.Skeleton(num_classes=3, input_shape=(8, 8, 1), include_top=True, **shared)
    inputs, x = skeleton.image_input((0.0, 1.0), min_size=8)
    assert x is inputs  # include_preprocessing=False
    model = skeleton.classifier(inputs, x)
    assert model.name == "tiny" and [layer.name for layer in model.layers] == ["image", "avgpool", "predictions"]
    assert model.get_layer("predictions").activation.__name__ == "linear"
    headless = _builder.Skeleton(num_classes=3, input_shape=(8, 8, 1), include_top=False, **shared)
    inputs, x = headless.image_input((0.0, 1.0), min_size=8)
    assert headless.top(x) is x
