"""Reading images for face processing: any file OpenCV decodes, or an array, as RGB `uint8` (H, W, 3).

`to_rgb` (`kerasfer.face.faces`) converts grayscale (H, W) / (H, W, 1), RGBA (H, W, 4, alpha dropped), BGR
(`bgr=True`, OpenCV order) and float images in [0, 1] or [0, 255]; `read_image` reads a file (EXIF orientation
applied).
"""

from __future__ import annotations

import os
import pathlib

import numpy as np

from kerasfer.face.faces import to_rgb

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".jp2")


def read_image(path) -> np.ndarray:
    """Reads an image file as RGB uint8 (H, W, 3) (gray, RGBA, 16-bit files converted; EXIF orientation applied).

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: OpenCV cannot decode the file (not an image, truncated, unsupported format).
    """
    import cv2

    path = pathlib.Path(path)
    if path.is_dir():
        raise IsADirectoryError(
            f"{path} is a folder, not an image: give its image files (`kerasfer predict FOLDER` searches folders)."
        )
    if not path.is_file():
        raise FileNotFoundError(f"No such image file: {path}")
    data = np.fromfile(str(path), dtype=np.uint8)  # works with non-ASCII paths, unlike cv2.imread
    if data.size == 0:
        raise ValueError(f"Cannot read image {path}: the file is empty.")
    image = cv2.imdecode(data, cv2.IMREAD_COLOR)  # always 8-bit BGR, EXIF orientation applied
    if image is None:
        raise ValueError(f"Cannot read image {path}: not an image OpenCV can decode, or the file is corrupt.")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def load_image(image, bgr: bool = False) -> np.ndarray:
    """A path (str / PathLike) or an array → RGB uint8 (H, W, 3) (see `read_image` and `to_rgb`)."""
    if isinstance(image, str | os.PathLike):
        return read_image(image)
    return to_rgb(image, bgr=bgr)
