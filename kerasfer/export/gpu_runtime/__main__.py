"""`python -m kerasfer.export.gpu_runtime`: whether LiteRT's GPU accelerator finds an adapter here."""

import sys

from kerasfer.export.gpu_runtime.worker import _main

sys.exit(_main(sys.argv[1:]))
