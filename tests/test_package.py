"""Package-level guarantees checked in fresh interpreters."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(code, backend="tensorflow", timeout=600):
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr[-4000:]}"
    return proc.stdout


def test_import_does_not_load_heavy_modules():
    """`import kerasfer` adds no TensorFlow, TFDS, OpenCV or TF-MOT to what `import keras` loads.

    (Keras 3.15 itself imports cv2 when it is installed, in `keras.src.visualization`, so the
    check is on the modules kerasfer adds. The JAX backend is used so that TensorFlow is
    not already loaded by Keras.)
    """
    out = _run(
        "import sys\n"
        "import keras\n"
        "before = set(sys.modules)\n"
        "import kerasfer\n"
        "heavy = ('tensorflow', 'tensorflow_datasets', 'cv2', 'tensorflow_model_optimization')\n"
        "new = sorted(m for m in set(sys.modules) - before if m.split('.')[0] in heavy)\n"
        "print('HEAVY', new, 'tensorflow_datasets' in sys.modules)\n",
        backend="jax",
    )
    assert "HEAVY [] False" in out


def test_lfnsb_param_count_line():
    out = _run("import kerasfer; m = kerasfer.models.LFNSB(); print(kerasfer.utils.count_params(m))")
    assert out.strip().splitlines()[-1] == "2676147"


def test_jax_without_tensorflow():
    pytest.importorskip("jax")
    code = """
import sys
sys.modules["tensorflow"] = None  # any import of TensorFlow now fails
import numpy as np
import keras
import kerasfer
from kerasfer import layers, models
assert keras.backend.backend() == "jax"
assert "tensorflow" not in [m for m in sys.modules if sys.modules[m] is not None]
x = np.random.default_rng(0).uniform(0, 255, (1, 32, 32, 3)).astype("float32")
for name in ("lfnsb",):  # the whole family runs on JAX in tests/models (multibackend)
    m = models.create_model(name, input_shape=(32, 32, 3))
    y = np.asarray(m(x, training=False))
    assert np.all(np.isfinite(y)), name
    print(name, y.shape)
f = np.zeros((1, 7, 7, 16), "float32")
for layer in (layers.Conv2dBN(8, 3, strides=2), layers.RepVGGDW(), layers.MixConv([3, 5]), layers.CoordinateAttention(),
              layers.MixBottleneck(16, 32, [3, 5], residual=True), layers.GDConv(8), layers.SpatialBias(6),
              layers.SpatialBias(6, mode="concat")):
    print(type(layer).__name__, tuple(layer(f).shape))
print("OK")
"""
    out = _run(code, backend="jax", timeout=900)  # JAX runs eagerly op by op: slow on a loaded CPU
    assert out.strip().splitlines()[-1] == "OK"
    assert "lfnsb (1, 7)" in out
