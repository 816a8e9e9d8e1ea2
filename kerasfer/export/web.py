"""`export_web`: a static folder whose page recognises facial expressions in the browser, on the device.

    kerasfer export --web web/                      # the packaged default model, fp16, LiteRT.js from the CDN
    kerasfer export --web web/ --model RUN_DIR --litert-js node_modules/@litertjs/core   # offline copy

The folder holds `index.html` with plain ES modules (`app.js`, `pipeline.js`, `runtime.js`; no build step), the
classifier as `.tflite` (`kerasfer.export.tflite.export_tflite`, fp16 by default, with its labels and model card),
the BlazeFace model kerasfer ships (`kerasfer/face/assets/`, with its NOTICE and licence), `kerasfer_web.json`
(the labels and the model-card facts the page needs: input size and channels, the face-crop margin, the
detector's settings) and a README. Served by any static server, the page takes the webcam, a dropped image or a
video, finds faces with BlazeFace, aligns them as `kerasfer.FER` does (`pipeline.js` mirrors
`kerasfer.face.blazeface`, `kerasfer.face.align_face` and `prepare_images` function by function),
classifies them with LiteRT.js (npm `@litertjs/core`, Apache-2.0) on WebGPU or WebAssembly, and draws boxes,
labels and probabilities with the frame rate and the backend. Nothing leaves the device.

Detection: LiteRT.js compiles a model for fixed input shapes, so the page runs BlazeFace's whole-image pass (the
frame's longer side on 96 of the 128x128 input), which finds faces from about a sixth of the frame's longer
side (a face at webcam distance). That is the pass `FER(min_face_size=longer side / 6)` runs alone; FER's default
`min_face_size=20` adds passes at larger scales for smaller faces, which the page does not search.

Runtime: by default the page loads LiteRT.js `LITERT_JS_VERSION` from `CDN` with subresource-integrity hashes
(`LITERT_JS_FILES`, SHA-384 of the npm release's files): the two ES modules through the import map, the
WebAssembly glue and binary fetched with `integrity` by `runtime.js`. `litert_js=DIR` (`--litert-js`) copies
those files from an npm install (`node_modules/@litertjs/core`, with `@litertjs/wasm-utils` beside it or inside
it) into the folder instead, with their own hashes, so the page works offline.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import inspect
import json
import os
import pathlib
import shutil

LITERT_JS_VERSION = "2.5.3"
CDN = "https://cdn.jsdelivr.net/npm"
# SHA-384 (subresource integrity) of the files of the npm releases @litertjs/core and @litertjs/wasm-utils
# LITERT_JS_VERSION that the page loads (tests/export/test_web.py checks them against an npm install).
LITERT_JS_FILES = {
    "core/dist/index.js": "sha384-MapSVJ/DPwvaWpp7q+Bid9O3uY1oB0KOU1QRMP+Mm5zdz5oMme/BUyX6dVAMWnPg",
    "wasm-utils/dist/index.js": "sha384-HIPwlWsctS5BRqrnvJKDVJ8SvqKB0QmiImdr6+hpP7+8UqeMJX/qrBkdfKQV2WZ/",
    "core/wasm/litert_wasm_internal.js": "sha384-NB/Wc4iozynQO5jzJ2VFoMKbqMvwwFGWxJL/o63IJT6W2JfZbsSLxA2cF6H/mLpQ",
    "core/wasm/litert_wasm_internal.wasm": "sha384-AZ/Ak4CbDpjqpSr8WsnoL3Dcx6bDFA/k9b/jahok1TGHZ2OqIRjLBMiEmiNedhlC",
    "core/wasm/litert_wasm_compat_internal.js": (
        "sha384-oh4nb8zDq6eVOpGeZE5gwDOJ16QujHLL8k/HEXt3XiPxr+8zn3YnkXP8P3BlJET1"
    ),
    "core/wasm/litert_wasm_compat_internal.wasm": (
        "sha384-glAZ6WjS7tLRt89pbTPXvLC1c7DCaVSfL2ngn5gZJiUuPs76fWYJy7ZeFaD0PJXx"
    ),
}
PAGE_DIR = pathlib.Path(__file__).resolve().parent / "web_page"
PAGE_FILES = ("app.js", "pipeline.js", "runtime.js")
CONFIG_NAME = "kerasfer_web.json"
LOCAL_RUNTIME_DIR = "litert"
QUANTIZATIONS = ("fp32", "fp16", "dynamic")  # the float-input variants LiteRT.js runs on WebGPU and WASM


@dataclasses.dataclass
class WebExportResult:
    """What `export_web` wrote.

    Attributes:
        folder: the output folder (`index.html` in it).
        model_path: the classifier `.tflite`.
        config: `kerasfer_web.json`'s content (model facts, detector settings, runtime URLs and hashes).
        files: every file written, relative to `folder`.
        runtime: `"cdn"` or `"local"`.
        source: what was exported (a path or `model/weights`).
    """

    folder: str
    model_path: str
    config: dict
    files: list
    runtime: str
    source: str


def sri(path) -> str:
    """The subresource-integrity value (`sha384-<base64>`) of a file."""
    digest = hashlib.sha384(pathlib.Path(path).read_bytes()).digest()
    return "sha384-" + base64.b64encode(digest).decode()


def _local_runtime_files(litert_js) -> dict[str, pathlib.Path]:
    """`LITERT_JS_FILES`' keys -> files of an npm install of @litertjs/core (a clear error when one is missing)."""
    core = pathlib.Path(litert_js)
    if (core / "node_modules" / "@litertjs" / "core").is_dir():  # the folder npm installed into
        core = core / "node_modules" / "@litertjs" / "core"
    manifest = core / "package.json"
    try:
        name = json.loads(manifest.read_text()).get("name")
    except (OSError, ValueError):
        name = None
    if name != "@litertjs/core":
        raise FileNotFoundError(
            f"--litert-js {litert_js}: not an npm install of @litertjs/core (no package.json naming it); "
            f"run `npm install @litertjs/core@{LITERT_JS_VERSION}` and pass node_modules/@litertjs/core."
        )
    utils = next(
        (d for d in (core.parent / "wasm-utils", core / "node_modules" / "@litertjs" / "wasm-utils") if d.is_dir()),
        None,
    )
    if utils is None:
        raise FileNotFoundError(f"--litert-js {litert_js}: @litertjs/wasm-utils is not installed beside it.")
    files = {}
    for key in LITERT_JS_FILES:
        package, _, rest = key.partition("/")
        path = (core if package == "core" else utils) / rest
        if not path.is_file():
            raise FileNotFoundError(f"--litert-js {litert_js}: {path} is missing.")
        files[key] = path
    return files


def _runtime(folder: pathlib.Path, litert_js) -> tuple[dict, dict, list]:
    """(import map, the config's `litert` entry, files copied) for the CDN or a local copy."""
    if litert_js is None:
        version = LITERT_JS_VERSION
        urls = {
            key: f"{CDN}/@litertjs/{key.partition('/')[0]}@{version}/{key.partition('/')[2]}" for key in LITERT_JS_FILES
        }
        hashes = dict(LITERT_JS_FILES)
        copied = []
    else:
        sources = _local_runtime_files(litert_js)
        manifest = sources["core/dist/index.js"].parent.parent / "package.json"
        version = json.loads(manifest.read_text()).get("version", "unknown")
        urls, hashes, copied = {}, {}, []
        for key, path in sources.items():
            rel = f"{LOCAL_RUNTIME_DIR}/{key}"
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, folder / rel)
            urls[key] = f"./{rel}"
            hashes[key] = sri(folder / rel)
            copied.append(rel)
    core, utils = urls["core/dist/index.js"], urls["wasm-utils/dist/index.js"]
    import_map = {
        "imports": {"@litertjs/core": core, "@litertjs/wasm-utils": utils},
        "integrity": {core: hashes["core/dist/index.js"], utils: hashes["wasm-utils/dist/index.js"]},
    }
    wasm = {key.rsplit("/", 1)[1]: {"url": urls[key], "integrity": hashes[key]} for key in urls if "/wasm/" in key}
    entry = {"version": version, "source": "cdn" if litert_js is None else "local", "wasm": wasm}
    return import_map, entry, copied


def _detector_settings() -> dict:
    """BlazeFace's settings as `FER()` uses them (the detector's defaults), for the page's whole-image pass."""
    from kerasfer.face import blazeface

    defaults = inspect.signature(blazeface.BlazeFaceDetector.__init__).parameters
    return {
        "file": blazeface.MODEL_PATH.name,
        "threshold": defaults["threshold"].default,
        "iou_threshold": defaults["iou_threshold"].default,
        "input_size": blazeface.INPUT_SIZE,
        "whole_image_fill": blazeface.WHOLE_IMAGE_FILL,
        # the smallest face of the whole-image pass, as a share of the longer side: with min_face_size at that
        # share, pyramid_scales searches this pass alone
        "min_face_fraction": blazeface.MIN_INPUT_FACE / (blazeface.WHOLE_IMAGE_FILL * blazeface.INPUT_SIZE),
    }


def _output_mode(path) -> str:
    """`"probabilities"` when the `.tflite` ends in a softmax, else `"auto"` (as `TFLiteRunner` decides)."""
    from kerasfer.runtime.runners import TFLiteRunner

    return "probabilities" if TFLiteRunner(os.fspath(path)).output == "probabilities" else "auto"


def default_model() -> str:
    """The packaged default model `FER()` and `kerasfer predict` use, as `model/weights`."""
    from kerasfer.inference.fer import _default_model

    return _default_model()


def export_web(
    out,
    model=None,
    weights=None,
    *,
    quantization: str = "fp16",
    litert_js=None,
    labels=None,
    num_classes: int | None = None,
    input_shape=None,
    max_faces: int | None = None,
    progress=None,
) -> WebExportResult:
    """Writes the web page folder `out` (see the module docstring).

    Args:
        out: the output folder (created; files of the same names are replaced).
        model, weights: what `kerasfer.models.loading.load_model_and_weights` takes (a run directory, a `.keras`
            / `.weights.h5` file, a packaged name such as `"resnet18_small/fer2013"`, a registry name with
            `weights`); None: the packaged default model (`FER()`'s).
        quantization: the classifier's `.tflite` variant, one of `QUANTIZATIONS` (default fp16).
        litert_js: an npm install of `@litertjs/core` to copy into the folder (offline page); None: the pinned
            CDN release.
        labels, num_classes, input_shape: as for `load_model_and_weights`.
        max_faces: the most faces the page classifies per frame, largest first (None: all).
        progress: optional `print`-like callable.

    Returns:
        A `WebExportResult`.

    Raises:
        ValueError: an unknown quantization, an untrained model, a model that is not a 1- or 3-channel image
            classifier; FileNotFoundError: `litert_js` is not an npm install of @litertjs/core.
    """
    from kerasfer.export import tflite
    from kerasfer.face import blazeface
    from kerasfer.models.loading import load_model_and_weights
    from kerasfer.paths import check_output_folder

    say = progress or (lambda *a: None)
    if quantization not in QUANTIZATIONS:
        raise ValueError(f"The web page runs float-input models: quantization must be one of {QUANTIZATIONS}.")
    if max_faces is not None and max_faces < 1:
        raise ValueError(f"max_faces must be None or >= 1, got {max_faces}.")
    if litert_js is not None:
        _local_runtime_files(litert_js)  # checked before any work
    folder = pathlib.Path(check_output_folder(out, flag="--web"))
    if model is None and weights is None:
        model = default_model()
    loaded = load_model_and_weights(model, weights, labels=labels, num_classes=num_classes, input_shape=input_shape)
    h, w, c = (int(v) for v in loaded.input_shape)
    if c not in (1, 3):
        raise ValueError(f"The page feeds 1- or 3-channel images; {loaded.source} takes {loaded.input_shape}.")
    say(f"exporting {loaded.source} ({quantization}) for the web ...")
    model_path = folder / f"{loaded.model.name}_{quantization}.tflite"
    result = tflite.export_tflite(loaded.model, model_path, quantization, labels=loaded.labels, progress=say,
                                  gpu_check=False, count_macs=False)  # fmt: skip
    files = [model_path.name]
    files += [os.path.basename(p) for p in (result.labels_path, result.card_json_path, result.card_markdown_path) if p]

    shutil.copyfile(blazeface.MODEL_PATH, folder / blazeface.MODEL_PATH.name)
    shutil.copyfile(blazeface.MODEL_DIR / "NOTICE.md", folder / "BLAZEFACE_NOTICE.md")
    shutil.copyfile(blazeface.MODEL_DIR / "LICENSE.txt", folder / "BLAZEFACE_LICENSE.txt")
    files += [blazeface.MODEL_PATH.name, "BLAZEFACE_NOTICE.md", "BLAZEFACE_LICENSE.txt"]

    import_map, litert, copied = _runtime(folder, litert_js)
    files += copied
    config = {
        "format": 1,
        "model": {
            "file": model_path.name,
            "name": loaded.model.name,
            "source": loaded.source,
            "quantization": quantization,
            "input_shape": [h, w, c],
            "labels": list(loaded.labels),
            "align_margin": float(loaded.align_margin or 0.0),  # FER(margin=None)'s choice
            "output": _output_mode(model_path),
            "gray_weights": "0.2989 R + 0.5870 G + 0.1140 B (kerasfer.data.pipeline.GRAY_WEIGHTS)" if c == 1 else None,
        },
        "detector": _detector_settings(),
        "max_faces": max_faces,
        "litert": litert,
    }
    (folder / CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    page = (PAGE_DIR / "index.html").read_text(encoding="utf-8")
    page = page.replace("{{IMPORT_MAP}}", json.dumps(import_map, indent=2))
    (folder / "index.html").write_text(page, encoding="utf-8")
    for name in PAGE_FILES:
        shutil.copyfile(PAGE_DIR / name, folder / name)
    readme = (PAGE_DIR / "README.md").read_text(encoding="utf-8")
    readme = readme.format(
        model=loaded.source,
        quantization=quantization,
        model_file=model_path.name,
        version=litert["version"],
        runtime=(
            f"from the CDN ({CDN}/@litertjs/core@{litert['version']}/), checked by subresource-integrity hashes"
            if litert_js is None
            else f"from `{LOCAL_RUNTIME_DIR}/` in this folder (copied from an npm install), checked by hashes"
        ),
    )
    (folder / "README.md").write_text(readme, encoding="utf-8")
    files += [CONFIG_NAME, "index.html", *PAGE_FILES, "README.md"]
    return WebExportResult(
        folder=os.fspath(folder),
        model_path=os.fspath(model_path),
        config=config,
        files=files,
        runtime=litert["source"],
        source=loaded.source,
    )
