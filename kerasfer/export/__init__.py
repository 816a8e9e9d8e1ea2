"""kerasfer.export

TFLite (LiteRT) export with post-training quantization, the model card, a strict static
GPU-delegate check and LiteRT benchmarks. Nothing here imports TensorFlow at import time;
the submodules load on first use: `exporter` (`export_model`: what `kerasfer export` does, export + evaluation
+ card + drift report, as one call), `tflite` (`export_tflite`, `convert`,
`QuantizationConfig`), `flatbuffer` (read a `.tflite`), `gpu_check` (`check`), `card`,
`evaluate` (`run_tflite`, `compare`, `layer_drift`), `bench` (`benchmark`), `web` (`export_web`: a page that runs
the model in the browser with LiteRT.js) and `browser` (headless Chromium for testing that page).
`reparameterize(model)` (from `reparam`, Keras only) fuses re-param blocks. Importing this package imports neither
Keras nor TensorFlow.
"""

from kerasfer._lazy import lazy_attributes

_LAZY_ATTRS = {
    "reparameterize": "kerasfer.export.reparam",
    "export_tflite": "kerasfer.export.tflite",
    "convert": "kerasfer.export.tflite",
    "QuantizationConfig": "kerasfer.export.tflite",
    "ConversionError": "kerasfer.export.tflite",
    "read_tflite": "kerasfer.runtime.flatbuffer",
    "check_gpu_compatibility": ("kerasfer.export.gpu_check", "check"),
    "TFLiteRunner": "kerasfer.runtime.runners",
    "benchmark": "kerasfer.export.bench",
    "export_web": "kerasfer.export.web",
    "export_model": "kerasfer.export.exporter",
    "ExportRun": "kerasfer.export.exporter",
}
_SUBMODULES = (
    "exporter",
    "tflite",
    "flatbuffer",
    "gpu_check",
    "card",
    "evaluate",
    "bench",
    "cli",
    "reparam",
    "int8_rewrite",
    "web",
    "browser",
)


_LAZY_ATTRS.update({name: (f"kerasfer.export.{name}", None) for name in _SUBMODULES})
__getattr__, __dir__ = lazy_attributes(__name__, _LAZY_ATTRS, globals())
