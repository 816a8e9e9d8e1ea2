"""kerasfer.inference: face detection + alignment + classification for images, batches and videos.

`FER` is the entry point (also `kerasfer.FER`); the runners run a Keras model or a `.tflite` file.
"""

from kerasfer.inference.fer import FER
from kerasfer.inference.fer import FaceResult
from kerasfer.inference.fer import ImageResult
from kerasfer.inference.runners import KerasRunner
from kerasfer.inference.runners import TFLiteRunner
from kerasfer.inference.runners import load_runner
from kerasfer.inference.video import FrameResult
from kerasfer.inference.video import VideoResult
from kerasfer.inference.video import analyze_video
