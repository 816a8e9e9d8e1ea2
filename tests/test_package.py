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
import importlib.abc
import sys


class NoTensorFlow(importlib.abc.MetaPathFinder):
    # Any import of TensorFlow fails, as on a machine without it. (Not sys.modules["tensorflow"] = None:
    # Keras takes a "tensorflow" key in sys.modules to mean that TensorFlow is loaded.)

    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in ("tensorflow", "tensorflow_datasets"):
            raise ImportError(f"{name} is not installed here")
        return None


sys.meta_path.insert(0, NoTensorFlow())
import numpy as np
import keras
import kerasfer
from kerasfer import layers, models
assert keras.backend.backend() == "jax"
assert "tensorflow" not in sys.modules
# The GPU-machine path: train from `kerasfer arrays` files with no TensorFlow (models run on JAX in tests/models).
import tempfile
from kerasfer.data import arrays, synthetic
from kerasfer.training import trainer
from kerasfer.training.config import TrainConfig
d = tempfile.mkdtemp()
for split, seed in (("train", 1), ("validation", 2)):
    xs, ys = synthetic.generate(8, seed=seed, image_size=32, channels=1)
    np.savez(arrays.array_file(d, "fer2013", split), images=xs.astype(np.uint8), labels=ys)
config = TrainConfig(model="shufflenet_v2_x0_5", dataset="fer2013", arrays_dir=d, input_shape=(32, 32, 1), epochs=1,
                     batch_size=8, augment="lfnsb", label_smoothing=0.1, output_dir=d + "/run", verbose=0)
result = trainer.train(config)
assert np.isfinite(result.history["loss"][0]) and "val_accuracy" in result.history
m = keras.saving.load_model(result.model_path)
y = np.asarray(m(np.zeros((1, 32, 32, 1), "float32"), training=False))
assert np.all(np.isfinite(y))
print("trained", y.shape)
f = np.zeros((1, 7, 7, 16), "float32")
for layer in (layers.Conv2dBN(8, 3, strides=2), layers.RepVGGDW(), layers.MixConv([3, 5]), layers.CoordinateAttention(),
              layers.MixBottleneck(16, 32, [3, 5], residual=True), layers.GDConv(8), layers.SpatialBias(6),
              layers.SpatialBias(6, mode="concat")):
    print(type(layer).__name__, tuple(layer(f).shape))
print("OK")
"""
    out = _run(code, backend="jax", timeout=900)  # JAX runs eagerly op by op: slow on a loaded CPU
    assert out.strip().splitlines()[-1] == "OK"
    assert "trained (1, 7)" in out


def test_wheel_is_self_contained(tmp_path):
    """The wheel holds no test modules or fake data, and nothing in it points at repository-only files
    (the project's specification, its tools/ scripts, ../shared/data)."""
    import re
    import zipfile

    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(tmp_path), ROOT],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (wheel,) = tmp_path.glob("kerasfer-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.startswith("kerasfer/tfds_builders/fer2013/") for n in names)
    assert "kerasfer/models/catalog.json" in names  # `kerasfer models` reads it
    blazeface = ("blazeface_short_range.tflite", "NOTICE.md", "LICENSE.txt")
    assert {f"kerasfer/face/assets/{f}" for f in blazeface} <= set(names)  # the detector's model and its terms
    assert {"kerasfer/runtime/runners.py", "kerasfer/export/gpu_runtime/__main__.py"} <= set(names)
    assert {f"kerasfer/export/web_page/{f}" for f in ("index.html", "app.js", "pipeline.js", "README.md")} <= set(names)
    assert not [n for n in names if n.endswith("_test.py") or "dummy_data" in n or n.startswith("tests/")]
    forbidden = re.compile(r"ARCHITECTURES\.md|GPU_DELEGATE\.md|USERS\.md|shared/(data|docs|papers)|tools/\w+\.py|"
                           r"tflite/README|paper 00\d")  # fmt: skip
    with zipfile.ZipFile(wheel) as z:
        hits = [
            (n, m.group(0))
            for n in names
            if n.endswith((".py", ".md", ".json", ".txt")) and not n.endswith("METADATA")
            for m in [forbidden.search(z.read(n).decode("utf-8", "replace"))]
            if m
        ]
    assert not hits, hits
