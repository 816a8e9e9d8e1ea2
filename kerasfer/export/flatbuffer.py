"""`kerasfer.runtime.flatbuffer` (the `.tflite` reader and metadata writer), under the name it had before it moved
below the runners that read a file's metadata."""

import sys

from kerasfer.runtime import flatbuffer as _flatbuffer

sys.modules[__name__] = _flatbuffer
