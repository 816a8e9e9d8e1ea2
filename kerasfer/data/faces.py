"""`kerasfer.face.faces`, under the name it had before face processing moved to `kerasfer.face`."""

import sys

from kerasfer.face import faces as _faces

sys.modules[__name__] = _faces
