"""The package each face detector runs on, and what to do when it is missing (one home for detectors and
BlazeFace, which imports no detector module)."""

# The package each detector runs on, and what to do when it is missing (the detector classes raise it too).
DETECTOR_RUNTIMES = {
    "blazeface": (
        "ai_edge_litert",
        "The blazeface face detector runs on LiteRT: pip install 'kerasfer[tflite]' (ai-edge-litert), or use "
        "--detector mtcnn (pip install 'kerasfer[face]') or --detector haar.",
    ),
    "mtcnn": (
        "mtcnn",
        "The mtcnn face detector needs the mtcnn package: pip install 'kerasfer[face]' (or use --detector haar).",
    ),
}
