"""kerasfer.export

TFLite (LiteRT) export with post-training quantization, the model card, a strict static
GPU-delegate check and LiteRT benchmarks. Nothing here imports TensorFlow at import time;
the submodules load on first use: `tflite` (`export_tflite`, `convert`,
`QuantizationConfig`), `flatbuffer` (read a `.tflite`), `gpu_check` (`check`), `card`,
`evaluate` (`run_tflite`, `compare`, `layer_drift`) and `bench` (`benchmark`). `reparameterize(model)` (from
`reparam`, Keras only) fuses re-param blocks. Importing this package imports neither Keras nor TensorFlow.
"""

import importlib

_LAZY_ATTRS = {
    "reparameterize": "kerasfer.export.reparam",
    "export_tflite": "kerasfer.export.tflite",
    "convert": "kerasfer.export.tflite",
    "QuantizationConfig": "kerasfer.export.tflite",
    "ConversionError": "kerasfer.export.tflite",
    "read_tflite": "kerasfer.export.flatbuffer",
    "check_gpu_compatibility": ("kerasfer.export.gpu_check", "check"),
    "TFLiteRunner": "kerasfer.inference.runners",
    "benchmark": "kerasfer.export.bench",
}
_SUBMODULES = ("tflite", "flatbuffer", "gpu_check", "card", "evaluate", "bench", "cli", "reparam", "int8_rewrite")


def __getattr__(name):
    if name in _LAZY_ATTRS:
        target = _LAZY_ATTRS[name]
        module, attr = target if isinstance(target, tuple) else (target, name)
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        module = importlib.import_module(f"kerasfer.export.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'kerasfer.export' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY_ATTRS) | set(_SUBMODULES))
