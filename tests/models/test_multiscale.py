import keras
import numpy as np
import pytest

from kerasfer import models
from kerasfer.models.multiscale import DEFAULT_REGIONS_112
from kerasfer.models.multiscale import TEMPLATE_112
from kerasfer.models.multiscale import MultiScaleFER
from kerasfer.models.multiscale import decode_boxes
from kerasfer.models.multiscale import encode_boxes
from kerasfer.models.multiscale import generate_anchors
from kerasfer.models.multiscale import match_anchors
from kerasfer.models.multiscale import regions_from_landmarks
from kerasfer.testing.test_case import assert_finite_gradients
from kerasfer.testing.test_case import randomize_batchnorm
from kerasfer.testing.test_case import run_model_saving_test
from kerasfer.utils import count_macs
from kerasfer.utils import count_params

SMALL = {"input_shape": (64, 64, 3), "depth": 18, "fpn_filters": 16, "roi_filters": 8, "organ_size": 4, "face_size": 8}


def _images(batch, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (batch, 64, 64, 3)).astype("float32")


def _boxes(batch):
    return np.tile(DEFAULT_REGIONS_112, (batch, 1, 1))


# ------------------------------------------------------------------ regions
def test_regions_from_template_follow_the_rule():
    r = regions_from_landmarks(TEMPLATE_112, 112) * 112
    assert r.shape == (5, 4) and r.dtype == np.float32
    le, re_, nose, lm, rm = TEMPLATE_112.astype("float64")
    s = np.linalg.norm(re_ - le)  # inter-ocular distance beats 0.8 * eye-mouth distance on the template
    assert s > 0.8 * np.linalg.norm((lm + rm) / 2 - (le + re_) / 2)
    np.testing.assert_allclose(r[1], [le[1] - 0.3 * s, le[0] - 0.4 * s, le[1] + 0.3 * s, le[0] + 0.4 * s], atol=1e-3)
    np.testing.assert_allclose(r[3, [1, 3]], [nose[0] - 0.35 * s, nose[0] + 0.35 * s], atol=1e-3)
    np.testing.assert_allclose(r[0, 2], 112.0)  # the face box bottom is clipped to the image
    # Every box is a proper box and contains its landmarks.
    assert np.all(r[:, 2] > r[:, 0]) and np.all(r[:, 3] > r[:, 1])
    for box, pts in [(r[1], [le]), (r[2], [re_]), (r[4], [lm, rm]), (r[0], TEMPLATE_112)]:
        for x, y in pts:
            assert box[0] <= y <= box[2] and box[1] <= x <= box[3]


def test_regions_batch_and_rectangular_images():
    lm = np.stack([TEMPLATE_112, TEMPLATE_112 * 2.0])
    r = regions_from_landmarks(lm, (224, 112))
    assert r.shape == (2, 5, 4)
    # Scaling the landmarks and the image together gives the same normalised boxes.
    np.testing.assert_allclose(regions_from_landmarks(TEMPLATE_112 * 2, 224), DEFAULT_REGIONS_112, atol=1e-6)
    # y is normalised by the height, x by the width.
    np.testing.assert_allclose(r[0, 1:][:, [0, 2]], DEFAULT_REGIONS_112[1:, [0, 2]] / 2, atol=1e-6)
    np.testing.assert_allclose(r[0, 1:][:, [1, 3]], DEFAULT_REGIONS_112[1:, [1, 3]], atol=1e-6)


def test_regions_bad_input():
    with pytest.raises(ValueError, match=r"\(\.\.\., 5, 2\)"):
        regions_from_landmarks(np.zeros((4, 2)), 112)
    with pytest.raises(ValueError, match="NaN"):
        regions_from_landmarks(np.full((5, 2), np.nan), 112)
    with pytest.raises(ValueError, match="image_size"):
        regions_from_landmarks(TEMPLATE_112, (112, 0))


# ------------------------------------------------------------------ anchors
def test_anchors_encode_decode_and_matching():
    anchors = generate_anchors((64, 64))
    # P3..P7 at 64: 8, 4, 2, 1, 1 cells, 9 anchors each.
    assert anchors.shape == ((64 + 16 + 4 + 1 + 1) * 9, 4)
    gt = np.array([[0.1, 0.2, 0.6, 0.5], [0.0, 0.0, 1.0, 1.0]], "float32")
    deltas = encode_boxes(anchors[:2], gt)
    np.testing.assert_allclose(np.asarray(decode_boxes(anchors[:2], deltas)), gt, atol=1e-5)
    cls_t, box_t, cls_w, box_w = match_anchors(anchors, anchors[[5, 700]], [1, 0])
    assert cls_t[5, 1] == 1 and cls_t[700, 0] == 1 and cls_t.sum() >= 2
    np.testing.assert_allclose(box_t[5], 0.0, atol=1e-6)
    assert box_w[5] > 0 and box_w.sum() == pytest.approx(len(anchors))  # weights give (1/N_pos) sum per image
    assert np.all(cls_w[box_w > 0] > 0)
    with pytest.raises(ValueError, match="gt_classes"):
        match_anchors(anchors, gt, [0, 9])


# ------------------------------------------------------------------ model
def test_reference_defaults_param_count():
    model = models.create_model("multiscale_fer")
    assert model.name == "multiscale_fer"
    assert [tuple(i.shape) for i in model.inputs] == [(None, 224, 224, 3), (None, 5, 4)]
    # ResNet-50 trunk 23,508,032 + FPN to P3 1,508,352 + three region branches 3,674,112 + classifier 10,759.
    assert count_params(model) == 28_701_255
    assert model.get_layer("face_roi").crop_size == (56, 56)
    assert model.get_layer("organ1_roi").crop_size == (14, 14)


def test_forward_saving_and_gradients():
    model = MultiScaleFER(**SMALL)
    for batch in (1, 2):
        out = model([_images(batch), _boxes(batch)])
        assert out.shape == (batch, 7)
    x = [_images(2), _boxes(2)]
    run_model_saving_test(model, x)
    randomize_batchnorm(model)
    assert_finite_gradients(model, x)


def test_fixed_regions_variant_equals_region_input():
    with_input = MultiScaleFER(**SMALL)
    fixed = MultiScaleFER(region_input=False, **SMALL)
    assert len(fixed.inputs) == 1
    fixed.set_weights(with_input.get_weights())
    x = _images(2)
    np.testing.assert_allclose(
        np.asarray(fixed(x, training=False)), np.asarray(with_input([x, _boxes(2)], training=False)), atol=1e-5
    )
    # The regions matter: other boxes give other predictions.
    other = np.tile(np.array([[0.0, 0.0, 0.5, 0.5]], "float32"), (2, 5, 1))
    assert not np.allclose(np.asarray(with_input([x, other])), np.asarray(fixed(x)), atol=1e-6)
    assert count_macs(fixed) > 0


def test_detection_head_outputs():
    model = MultiScaleFER(detection_head=True, head_convs=1, **SMALL)
    assert model.output_names == ["predictions", "region_logits", "region_deltas"]
    pred, logits, deltas = model([_images(1), _boxes(1)])
    n = len(generate_anchors((64, 64)))
    assert pred.shape == (1, 7) and logits.shape == (1, n, 4) and deltas.shape == (1, n, 4)
    # RetinaNet prior: sigmoid(logits) starts near 0.01.
    assert abs(float(np.median(keras.ops.sigmoid(logits))) - 0.01) < 0.01


def test_config_round_trip_and_top():
    model = MultiScaleFER(**SMALL)
    clone = keras.Model.from_config(model.get_config())
    assert count_params(clone) == count_params(model)
    headless = MultiScaleFER(include_top=False, **SMALL)
    assert headless.output.shape == (None, 6 * 8)  # face + 4 organs + global, roi_filters each


def test_bad_arguments():
    with pytest.raises(ValueError, match="multiples of 32"):
        MultiScaleFER(input_shape=(112, 112, 3), depth=18)
    with pytest.raises(ValueError, match="smallest accepted size is 64x64"):
        MultiScaleFER(input_shape=(32, 32, 3), depth=18)
    with pytest.raises(ValueError, match="default_regions"):
        MultiScaleFER(region_input=False, default_regions=np.zeros((3, 4)), **SMALL)
    with pytest.raises(ValueError, match="depth"):
        MultiScaleFER(depth=101)
    with pytest.raises(ValueError, match="num_classes"):
        MultiScaleFER(num_classes=0)
