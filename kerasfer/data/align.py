"""Face detection and five-point alignment: `kerasfer.face`'s, re-exported under the names users import today.

Face processing lives in `kerasfer.face`: `images` (`read_image`, `load_image`), `detectors` (`DETECTORS`,
`get_detector`, `detect_faces`, BlazeFace in `blazeface`), `alignment` (`align_face`, `face_template`,
`similarity_transform`) and `folder` (`align_folder`, the `kerasfer align` job); `faces` holds the shared `Face`
and template. Every function takes and returns RGB `uint8` arrays of shape (H, W, 3).
"""

import os  # noqa: F401 - as before the move (tests reach `os.replace` through it)

from kerasfer.face.alignment import align_face
from kerasfer.face.alignment import align_faces
from kerasfer.face.alignment import face_template
from kerasfer.face.alignment import similarity_transform
from kerasfer.face.detectors import DEFAULT_DETECTOR
from kerasfer.face.detectors import DETECTOR_RUNTIMES
from kerasfer.face.detectors import DETECTORS
from kerasfer.face.detectors import BlazeFaceDetector
from kerasfer.face.detectors import HaarDetector
from kerasfer.face.detectors import MTCNNDetector
from kerasfer.face.detectors import WholeImageDetector
from kerasfer.face.detectors import check_detector
from kerasfer.face.detectors import detect_faces
from kerasfer.face.detectors import get_detector
from kerasfer.face.faces import ARCFACE_TEMPLATE_112
from kerasfer.face.faces import LANDMARK_NAMES
from kerasfer.face.faces import Face
from kerasfer.face.faces import check_landmarks
from kerasfer.face.faces import clip_box
from kerasfer.face.faces import sort_faces
from kerasfer.face.faces import to_rgb
from kerasfer.face.folder import AlignSummary
from kerasfer.face.folder import Progress
from kerasfer.face.folder import align_folder
from kerasfer.face.folder import list_images
from kerasfer.face.images import IMAGE_EXTENSIONS
from kerasfer.face.images import load_image
from kerasfer.face.images import read_image

__all__ = [
    "ARCFACE_TEMPLATE_112",
    "AlignSummary",
    "BlazeFaceDetector",
    "DEFAULT_DETECTOR",
    "DETECTORS",
    "DETECTOR_RUNTIMES",
    "Face",
    "HaarDetector",
    "IMAGE_EXTENSIONS",
    "LANDMARK_NAMES",
    "MTCNNDetector",
    "Progress",
    "WholeImageDetector",
    "align_face",
    "align_faces",
    "align_folder",
    "check_detector",
    "check_landmarks",
    "clip_box",
    "detect_faces",
    "face_template",
    "get_detector",
    "list_images",
    "load_image",
    "read_image",
    "similarity_transform",
    "sort_faces",
    "to_rgb",
]
