import keras
import numpy as np
import pytest

from kerasfer.layers import RoIAlign
from kerasfer.testing.test_case import run_layer_test
from kerasfer.utils import count_macs


def _reference(features, box, crop):
    """Loop RoIAlign (aligned=True, one sample per bin centre, clamped coordinates) in numpy."""
    h, w, c = features.shape
    ch, cw = crop
    y1, x1, y2, x2 = box
    out = np.zeros((ch, cw, c))
    for i in range(ch):
        y = np.clip(y1 * h + (i + 0.5) * (y2 - y1) * h / ch - 0.5, 0, h - 1)
        for j in range(cw):
            x = np.clip(x1 * w + (j + 0.5) * (x2 - x1) * w / cw - 0.5, 0, w - 1)
            y0, x0 = int(np.floor(y)), int(np.floor(x))
            ya, xa = min(y0 + 1, h - 1), min(x0 + 1, w - 1)
            dy, dx = y - y0, x - x0
            out[i, j] = (
                features[y0, x0] * (1 - dy) * (1 - dx)
                + features[y0, xa] * (1 - dy) * dx
                + features[ya, x0] * dy * (1 - dx)
                + features[ya, xa] * dy * dx
            )
    return out


def _data(batch=2, n=3, h=10, w=12, c=3, seed=0):
    rng = np.random.default_rng(seed)
    feats = rng.normal(size=(batch, h, w, c)).astype("float32")
    tl = rng.uniform(-0.1, 0.6, size=(batch, n, 2))
    size = rng.uniform(0.1, 0.6, size=(batch, n, 2))
    boxes = np.concatenate([tl, tl + size], -1).astype("float32")
    return feats, boxes


def test_layer_checks():
    feats, boxes = _data()
    run_layer_test(RoIAlign, {"crop_size": (4, 5), "box_index": 1}, [feats, boxes], expected_output_shape=(2, 4, 5, 3))
    run_layer_test(RoIAlign, {"crop_size": 3}, [feats, boxes], expected_output_shape=(2, 3, 3, 3, 3))
    fixed = [[0.1, 0.2, 0.7, 0.9], [0.0, 0.0, 1.0, 1.0]]
    run_layer_test(
        RoIAlign, {"crop_size": 2, "fixed_boxes": fixed, "box_index": 1}, feats, expected_output_shape=(2, 2, 2, 3)
    )


def test_matches_loop_reference():
    feats, boxes = _data()
    out = np.asarray(RoIAlign((4, 5))(feats, boxes))
    assert out.shape == (2, 3, 4, 5, 3)
    for b in range(2):
        for n in range(3):
            np.testing.assert_allclose(out[b, n], _reference(feats[b], boxes[b, n], (4, 5)), atol=1e-5)
    single = np.asarray(RoIAlign((4, 5), box_index=2)(feats, boxes))
    np.testing.assert_allclose(single, out[:, 2], atol=1e-6)
    two_d = np.asarray(RoIAlign((4, 5))(feats, boxes[:, 0]))
    np.testing.assert_allclose(two_d, out[:, 0], atol=1e-6)


def test_fixed_boxes_equal_dynamic_boxes():
    feats, boxes = _data(n=2)
    fixed = boxes[0].tolist()
    np.testing.assert_allclose(
        np.asarray(RoIAlign(3, fixed_boxes=fixed)(feats)),
        np.asarray(RoIAlign(3)(feats, np.broadcast_to(boxes[:1], boxes.shape))),
        atol=1e-5,  # the fixed-box path multiplies in another order (features first)
    )


def test_full_box_at_map_size_is_identity():
    feats, _ = _data(h=6, w=6)
    out = RoIAlign(6)(feats, np.tile([[0.0, 0.0, 1.0, 1.0]], (2, 1)).astype("float32"))
    np.testing.assert_allclose(np.asarray(out), feats, atol=1e-6)


@pytest.mark.tf_only
def test_matches_tf_crop_and_resize():
    import tensorflow as tf

    feats, boxes = _data(n=1, h=16, w=16)
    boxes = np.array([[[0.2, 0.1, 0.7, 0.8]], [[0.3, 0.25, 0.9, 0.6]]], "float32")  # inside the map: no clamping
    ch = cw = 5
    h = w = 16
    # crop_and_resize samples y1' (H-1) + i (y2'-y1') (H-1)/(ch-1); pick y1', y2' on our bin centres.
    y_first = boxes[..., 0] * h + 0.5 * (boxes[..., 2] - boxes[..., 0]) * h / ch - 0.5
    y_last = y_first + (ch - 1) * (boxes[..., 2] - boxes[..., 0]) * h / ch
    x_first = boxes[..., 1] * w + 0.5 * (boxes[..., 3] - boxes[..., 1]) * w / cw - 0.5
    x_last = x_first + (cw - 1) * (boxes[..., 3] - boxes[..., 1]) * w / cw
    tf_boxes = np.stack([y_first, x_first, y_last, x_last], -1)[:, 0] / (h - 1)
    expected = tf.image.crop_and_resize(feats, tf_boxes, [0, 1], (ch, cw)).numpy()
    ours = np.asarray(RoIAlign((ch, cw))(feats, boxes[:, 0]))
    np.testing.assert_allclose(ours, expected, atol=1e-5)


def test_gradient_flows_to_features():
    feats, boxes = _data()
    inp = keras.Input(feats.shape[1:])
    binp = keras.Input(boxes.shape[1:])
    y = RoIAlign(3, box_index=0)(inp, binp)
    y = keras.layers.Conv2D(2, 1)(y)
    model = keras.Model([inp, binp], y)
    from kerasfer.testing.test_case import assert_finite_gradients

    assert_finite_gradients(model, [feats, boxes])


def test_compute_macs():
    inp = keras.Input((8, 8, 4))
    model = keras.Model(inp, RoIAlign((2, 3), fixed_boxes=[[0, 0, 1, 1], [0, 0, 0.5, 0.5]])(inp))
    # Two boxes x (ch*H*W*C + cw*W*ch*C).
    assert count_macs(model) == 2 * (2 * 8 * 8 * 4 + 3 * 8 * 2 * 4)


def test_bad_inputs():
    feats, boxes = _data()
    with pytest.raises(ValueError, match="crop_size"):
        RoIAlign(0)
    with pytest.raises(ValueError, match=r"\(B, 4\) or \(B, N, 4\)"):
        RoIAlign(2)(feats, boxes[..., :3])
    with pytest.raises(ValueError, match="out of range"):
        RoIAlign(2, box_index=3)(feats, boxes)
    with pytest.raises(ValueError, match="fixed_boxes"):
        RoIAlign(2, fixed_boxes=[0, 0, 1, 1])(feats, boxes)
    with pytest.raises(ValueError, match="NaN"):
        RoIAlign(2, fixed_boxes=[0, 0, np.nan, 1])
    with pytest.raises(ValueError, match="needs boxes"):
        RoIAlign(2)(feats)


@pytest.mark.tflite
@pytest.mark.tf_only
def test_tflite_ops_have_no_gather():
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    feats, boxes = _data(batch=1, n=2, h=8, w=8, c=4)
    inp = keras.Input((8, 8, 4), batch_size=1)
    binp = keras.Input((2, 4), batch_size=1)
    model = keras.Model([inp, binp], RoIAlign(3, box_index=1)(inp, binp))

    @tf.function(input_signature=[tf.TensorSpec((1, 8, 8, 4)), tf.TensorSpec((1, 2, 4))])
    def serve(f, b):
        return model([f, b])

    frozen = convert_variables_to_constants_v2(serve.get_concrete_function())
    converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen], model)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    interp = Interpreter(model_content=converter.convert())
    ops = {d["op_name"] for d in interp._get_ops_details()}
    assert not ops & {"GATHER", "GATHER_ND"}, ops
    assert "BATCH_MATMUL" in ops, ops
    interp.allocate_tensors()
    details = interp.get_input_details()
    for d in details:
        interp.set_tensor(d["index"], feats if len(d["shape"]) == 4 else boxes)
    interp.invoke()
    out = interp.get_tensor(interp.get_output_details()[0]["index"])
    np.testing.assert_allclose(out, np.asarray(model([feats, boxes])), atol=1e-5)


def test_fixed_boxes_n_boxes_and_box_index_equal_dynamic_boxes():
    feats, boxes = _data(n=3)
    fixed = boxes[0].tolist()
    same = np.broadcast_to(boxes[:1], boxes.shape)
    np.testing.assert_allclose(
        np.asarray(RoIAlign((2, 3), fixed_boxes=fixed)(feats)), np.asarray(RoIAlign((2, 3))(feats, same)), atol=1e-5
    )
    np.testing.assert_allclose(
        np.asarray(RoIAlign((2, 3), fixed_boxes=fixed, box_index=-1)(feats)),
        np.asarray(RoIAlign((2, 3), box_index=-1)(feats, same)),
        atol=1e-5,
    )


@pytest.mark.tf_only
@pytest.mark.tflite
def test_fixed_boxes_export_passes_the_gpu_check():
    # A constant first BATCH_MATMUL operand (the folded weights) is rejected by the GPU delegate.
    from kerasfer.export import gpu_check
    from kerasfer.export import tflite

    inp = keras.Input((8, 8, 4))
    model = keras.Model(inp, RoIAlign(3, fixed_boxes=[[0.1, 0.2, 0.9, 0.7], [0, 0, 0.5, 0.5]], box_index=0)(inp))
    content = tflite.convert(model, "fp32")
    report = gpu_check.check(content)
    assert report.ok, str(report)
    feats, _ = _data(batch=1, h=8, w=8, c=4)
    from kerasfer.export.evaluate import run_tflite

    np.testing.assert_allclose(run_tflite(content, feats), np.asarray(model(feats)), atol=1e-5)
