"""`kerasfer.face.blazeface`, under the name it had before face processing moved to `kerasfer.face`."""

import sys

from kerasfer.face import blazeface as _blazeface

sys.modules[__name__] = _blazeface
