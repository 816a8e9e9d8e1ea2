"""kerasfer.runtime: running a model, below everything that runs one.

`runners` (`KerasRunner`, `TFLiteRunner`, `make_interpreter`: one interface over a Keras model and a `.tflite` file)
and `flatbuffer` (reading a `.tflite` and its kerasfer metadata, adding metadata). Data, face detection, inference
and export import them from here, so no import runs from a lower layer to a higher one. Importing this package
imports neither Keras nor TensorFlow.
"""

from kerasfer._lazy import lazy_attributes

_LAZY_ATTRS = {
    "KerasRunner": "kerasfer.runtime.runners",
    "TFLiteRunner": "kerasfer.runtime.runners",
    "make_interpreter": "kerasfer.runtime.runners",
    "read_tflite": "kerasfer.runtime.flatbuffer",
    **{name: (f"kerasfer.runtime.{name}", None) for name in ("runners", "flatbuffer")},
}
__getattr__, __dir__ = lazy_attributes(__name__, _LAZY_ATTRS, globals())
