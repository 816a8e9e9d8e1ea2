"""kerasfer.face: face detection and five-point alignment (inference-time face processing).

- `faces`: `Face`, the ArcFace five-point template, `to_rgb` (NumPy only)
- `images`: `read_image`, `load_image`
- `detectors`: `DETECTORS`, `DEFAULT_DETECTOR`, `get_detector`, `detect_faces`; `blazeface`: the BlazeFace detector
  on LiteRT (its model and NOTICE in `kerasfer/face/assets/`)
- `alignment`: `align_face`, `align_faces`, `face_template`, `similarity_transform`
- `folder`: `align_folder`, the job behind `kerasfer align`

It sits below the models (it runs its detector through `kerasfer.runtime`), so `kerasfer.data`, inference and export
all use it; `kerasfer.data.align`, `kerasfer.data.faces` and `kerasfer.data.blazeface` re-export it under the names
they had. Importing this package imports nothing heavy; the names load their modules on first use.
"""

from kerasfer._lazy import lazy_attributes

_SUBMODULES = ("faces", "images", "detectors", "blazeface", "alignment", "folder")
_LAZY_ATTRS = {
    "align_face": "kerasfer.face.alignment",
    "align_faces": "kerasfer.face.alignment",
    "align_folder": "kerasfer.face.folder",
    "AlignSummary": "kerasfer.face.folder",
    "ARCFACE_TEMPLATE_112": "kerasfer.face.faces",
    "BlazeFaceDetector": "kerasfer.face.detectors",
    "check_detector": "kerasfer.face.detectors",
    "check_landmarks": "kerasfer.face.faces",
    "clip_box": "kerasfer.face.faces",
    "DEFAULT_DETECTOR": "kerasfer.face.detectors",
    "detect_faces": "kerasfer.face.detectors",
    "DETECTOR_RUNTIMES": "kerasfer.face.detectors",
    "DETECTORS": "kerasfer.face.detectors",
    "Face": "kerasfer.face.faces",
    "face_template": "kerasfer.face.alignment",
    "get_detector": "kerasfer.face.detectors",
    "HaarDetector": "kerasfer.face.detectors",
    "IMAGE_EXTENSIONS": "kerasfer.face.images",
    "LANDMARK_NAMES": "kerasfer.face.faces",
    "list_images": "kerasfer.face.folder",
    "load_image": "kerasfer.face.images",
    "MTCNNDetector": "kerasfer.face.detectors",
    "Progress": "kerasfer.face.folder",
    "read_image": "kerasfer.face.images",
    "similarity_transform": "kerasfer.face.alignment",
    "sort_faces": "kerasfer.face.faces",
    "to_rgb": "kerasfer.face.faces",
    "WholeImageDetector": "kerasfer.face.detectors",
    **{name: (f"kerasfer.face.{name}", None) for name in _SUBMODULES},
}
__getattr__, __dir__ = lazy_attributes(__name__, _LAZY_ATTRS, globals())
