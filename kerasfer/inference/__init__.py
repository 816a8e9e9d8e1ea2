"""kerasfer.inference: face detection + alignment + classification for images, batches and videos.

`FER` is the entry point (also `kerasfer.FER`); the runners run a Keras model or a `.tflite` file; `results`
holds the result types and writers, `tta` the test-time augmentation. The names below load their modules on
first use, so importing this package (or `kerasfer.inference.tta`) loads neither OpenCV nor TensorFlow.
"""

from kerasfer._lazy import lazy_attributes

_LAZY_ATTRS = {
    "FER": "kerasfer.inference.fer",
    "FaceResult": "kerasfer.inference.results",
    "ImageResult": "kerasfer.inference.results",
    "FrameResult": "kerasfer.inference.results",
    "VideoResult": "kerasfer.inference.results",
    "KerasRunner": "kerasfer.runtime.runners",
    "TFLiteRunner": "kerasfer.runtime.runners",
    "load_runner": "kerasfer.inference.runners",
    "analyze_video": "kerasfer.inference.video",
    "TTA_MODES": "kerasfer.inference.tta",
}


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY_ATTRS, globals())
