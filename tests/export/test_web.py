"""`kerasfer export --web`: the page in headless Chromium (fake camera, still image) against `kerasfer predict`.

`pipeline.js` is also checked under Node.js against the Python crop (skipped without Node). The browser tests skip,
with the reason, where Chromium (`/usr/bin/chromium`, or `$KERASFER_CHROMIUM`), npm or the LiteRT.js package
cannot be had (`make browser` installs them; the npm install is cached in ~/.cache/kerasfer/npm). The page is
served from 127.0.0.1 and loads LiteRT.js from the folder (`--litert-js`): nothing leaves the machine.
Screenshots go to `$KERASFER_SCREENSHOT_DIR` (default: this test run's temporary folder, printed by the test).
"""

import json
import math
import os
import pathlib
import shutil

import cv2
import numpy as np
import pytest

from kerasfer.cli import main
from kerasfer.export import browser
from kerasfer.export import web

pytestmark = [pytest.mark.browser, pytest.mark.tflite, pytest.mark.tf_only]

MODEL = "resnet18_small/fer2013"  # the packaged default model
PROB_TOLERANCE = 0.02


def _face_image():
    """The astronaut's face (Eileen Collins, NASA, public domain; shipped by scikit-image)."""
    skimage_data = pytest.importorskip("skimage.data")
    return skimage_data.astronaut()[20:240, 120:330]


@pytest.fixture(scope="module")
def litert_core():
    try:
        return browser.install_litert_js()
    except browser.ChromiumError as e:
        pytest.skip(f"LiteRT.js cannot be had: {e}")


@pytest.fixture(scope="module")
def chromium():
    path = browser.find_chromium()
    if path is None:
        pytest.skip("no Chromium (apt-get install chromium, or set KERASFER_CHROMIUM)")
    return path


@pytest.fixture(scope="module")
def site(tmp_path_factory, litert_core):
    """The exported folder (through the CLI), with the still image and its `kerasfer predict` result."""
    root = tmp_path_factory.mktemp("web")
    folder = root / "site"
    assert main(["export", "--web", str(folder), "--model", MODEL, "--litert-js", str(litert_core), "--quiet"]) == 0
    image = _face_image()
    cv2.imwrite(str(folder / "face.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    # The page searches BlazeFace's whole-image pass, which FER runs alone with min_face_size = longer side / 6.
    min_face = math.ceil(max(image.shape[:2]) / 6)
    ref = root / "predict.json"
    assert main(["predict", str(folder / "face.png"), "--model", MODEL, "--min-face-size", str(min_face),
                 "--quiet", "-o", str(ref)]) == 0  # fmt: skip
    (face,) = json.loads(ref.read_text())["images"][0]["faces"]
    # A 640x480 camera: the face at twice its size (about 200 px) moving over a still background.
    frames = np.full((12, 480, 640, 3), 90, np.uint8)
    big = cv2.resize(image, (image.shape[1] * 2, image.shape[0] * 2), interpolation=cv2.INTER_LINEAR)
    for i, frame in enumerate(frames):
        x = 60 + 10 * i
        frame[20 : 20 + big.shape[0], x : x + big.shape[1]] = big
    camera = browser.write_y4m(root / "camera.y4m", frames)
    return {"folder": folder, "reference": face, "camera": camera}


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory):
    folder = pathlib.Path(os.environ.get("KERASFER_SCREENSHOT_DIR") or tmp_path_factory.mktemp("web_screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_export_writes_a_self_contained_folder(site):
    folder = site["folder"]
    config = json.loads((folder / web.CONFIG_NAME).read_text())
    assert config["model"]["input_shape"] == [48, 48, 1] and config["model"]["quantization"] == "fp16"
    assert config["model"]["labels"][3] == "happy" and config["model"]["align_margin"] == 0.0
    assert config["model"]["output"] == "probabilities" and config["litert"]["source"] == "local"
    for name in ("index.html", "app.js", "pipeline.js", "runtime.js", "README.md", "blazeface_short_range.tflite",
                 "BLAZEFACE_NOTICE.md", "BLAZEFACE_LICENSE.txt", config["model"]["file"]):  # fmt: skip
        assert (folder / name).is_file(), name
    for entry in config["litert"]["wasm"].values():  # the page's hashes are those of the copied files
        assert entry["url"].startswith("./litert/")
        assert web.sri(folder / entry["url"]) == entry["integrity"]
    page = (folder / "index.html").read_text()
    assert "Every frame stays on this device" in page and "{{" not in page
    assert "http" not in page.split("<body>")[1]  # no third-party script, beacon or font
    readme = (folder / "README.md").read_text()
    assert "Apache License 2.0" in readme and "BLAZEFACE_NOTICE.md" in readme


def test_pinned_cdn_hashes_match_the_npm_release(litert_core):
    # The CDN serves the npm release's files unchanged: their hashes are the page's integrity values.
    files = web._local_runtime_files(litert_core)
    assert {key: web.sri(path) for key, path in files.items()} == web.LITERT_JS_FILES
    assert json.loads((litert_core / "package.json").read_text())["version"] == web.LITERT_JS_VERSION


def test_cdn_page_pins_the_runtime(tmp_path):
    import_map, litert, copied = web._runtime(tmp_path, None)
    assert not copied and litert["source"] == "cdn" and litert["version"] == web.LITERT_JS_VERSION
    core = import_map["imports"]["@litertjs/core"]
    assert core == f"{web.CDN}/@litertjs/core@{web.LITERT_JS_VERSION}/dist/index.js"
    assert import_map["integrity"][core] == web.LITERT_JS_FILES["core/dist/index.js"]
    assert litert["wasm"]["litert_wasm_internal.wasm"]["integrity"].startswith("sha384-")


def test_cli_errors(tmp_path, capsys):
    assert main(["export", "--web", str(tmp_path / "w"), "--model", MODEL, "--quantization", "fp16", "fp32"]) == 2
    assert "one --quantization" in capsys.readouterr().err
    assert main(["export", "--web", str(tmp_path / "w"), "--model", MODEL, "--litert-js", str(tmp_path)]) == 2
    assert "not an npm install of @litertjs/core" in capsys.readouterr().err
    assert main(["export", "--out", str(tmp_path / "o"), "--model", MODEL, "--litert-js", str(tmp_path)]) == 2
    assert "--litert-js goes with --web" in capsys.readouterr().err


_NODE_SCRIPT = """
import * as P from '%s';
let text = '';
process.stdin.on('data', (chunk) => (text += chunk));
process.stdin.on('end', () => {
  const q = JSON.parse(text);
  const image = {data: Uint8Array.from(q.image), width: q.width, height: q.height, channels: 3};
  const run = {
    crop48: () => P.alignFace(image, q.landmarks, 48, 48, 0.0),
    crop112: () => P.alignFace(image, q.landmarks, 112, 112, 0.25),
    area: () => P.resize(image, 91, 96, true),
    linear: () => P.resize(image, 301, 333, false),
  };
  const out = {};
  for (const [name, f] of Object.entries(run)) out[name] = Array.from(f().data);
  out.gray = Array.from(P.modelInput(P.alignFace(image, q.landmarks, 48, 48, 0.0), 1));
  out.probabilities = q.outputs.map(([values, mode]) => P.toProbabilities(values, mode));
  process.stdout.write(JSON.stringify(out));
});
"""


def test_pipeline_js_crops_as_python_does():
    """pipeline.js (under Node) against kerasfer.data.align / cv2 / prepare_images: within one grey level."""
    import subprocess

    from kerasfer.data import align
    from kerasfer.data.pipeline import prepare_images
    from kerasfer.inference.runners import _to_probabilities

    node = shutil.which("node")
    if node is None:
        pytest.skip("no Node.js")
    image = _face_image()
    landmarks = np.array([[83.4, 80.6], [126.0, 83.6], [101.6, 108.3], [83.2, 126.2], [118.5, 128.6]], np.float32)
    outputs = [
        [[1.0, 2.0, 3.0], "auto"],
        [[0.25, 0.75], "auto"],
        [[0.25, 0.75], "logits"],
        [[2.0, -1.0], "probabilities"],
    ]
    query = {"image": image.reshape(-1).tolist(), "width": image.shape[1], "height": image.shape[0],
             "landmarks": landmarks.tolist(), "outputs": outputs}  # fmt: skip
    script = _NODE_SCRIPT % (web.PAGE_DIR / "pipeline.js").as_uri()
    run = subprocess.run([node, "--input-type=module", "-e", script], input=json.dumps(query), capture_output=True,
                         text=True, timeout=60)  # fmt: skip
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    crop48 = align.align_face(image, landmarks=landmarks, output_size=48, margin=0.0)
    expected = {
        "crop48": crop48,
        "crop112": align.align_face(image, landmarks=landmarks, output_size=112, margin=0.25),
        "area": cv2.resize(image, (91, 96), interpolation=cv2.INTER_AREA),
        "linear": cv2.resize(image, (301, 333), interpolation=cv2.INTER_LINEAR),
    }
    for name, want in expected.items():
        got = np.array(out[name]).reshape(want.shape)
        diff = np.abs(got.astype(int) - want.astype(int))
        assert diff.max() <= 1 and diff.mean() < 0.2, (name, diff.max(), diff.mean())
    gray = np.array(out["gray"], np.float32).reshape(48, 48, 1)
    want = prepare_images(np.array(out["crop48"], np.uint8).reshape(48, 48, 3), (48, 48, 1))
    np.testing.assert_allclose(gray, want, atol=1e-3)
    for (values, mode), got in zip(query["outputs"], out["probabilities"]):
        want = _to_probabilities(np.array([values], np.float32), mode)[0]
        np.testing.assert_allclose(got, want, atol=1e-6)


@pytest.mark.parametrize("backend", ["wasm", "webgpu"])
def test_page_in_chromium(chromium, site, screenshots, backend):
    with (
        browser.serve_folder(site["folder"]) as url,
        browser.Chromium(chromium, fake_camera=site["camera"], webgpu=backend == "webgpu") as page,
    ):
        page.goto(f"{url}index.html?backend={backend}")
        page.evaluate("window.kerasfer.ready", timeout=120)
        stats = page.evaluate("kerasfer.stats()")
        if backend == "webgpu" and not stats["adapter"]:
            pytest.skip("this Chromium offers no WebGPU adapter")
        assert stats["backend"] == backend and stats["fully_accelerated"]

        # A still image: the same face, landmarks and probabilities as `kerasfer predict`.
        (face,) = page.evaluate("kerasfer.analyzeImage('face.png')", timeout=120)
        ref = site["reference"]
        assert face["box"] == ref["box"]
        np.testing.assert_allclose(face["landmarks"], ref["landmarks"], atol=0.05)
        expected = np.array([ref["probabilities"][name] for name in json.loads(
            (site["folder"] / web.CONFIG_NAME).read_text())["model"]["labels"]])  # fmt: skip
        got = np.array(face["probabilities"])
        assert face["label"] == ref["label"] and int(got.argmax()) == int(expected.argmax())
        diff = float(np.abs(got - expected).max())
        print(f"\n{backend}: {stats['adapter'] if backend == 'webgpu' else 'CPU'}; largest probability difference "
              f"from kerasfer predict {diff:.5f}")  # fmt: skip
        assert diff <= PROB_TOLERANCE
        shot = page.screenshot(screenshots / f"web_image_{backend}.png")

        # The fake camera: frames flow and the face is found in them.
        page.evaluate("kerasfer.startCamera()", timeout=60)
        stats = page.wait_for("(s => s.frames >= 3 && s.faces.length ? s : null)(kerasfer.stats())", timeout=90)
        (found,) = stats["faces"]
        assert found["box"][2] > 120 and 0.7 <= found["score"] <= 1.0
        page.screenshot(screenshots / f"web_camera_{backend}.png")
        print(f"{backend}: camera {stats['fps']:.1f} fps; screenshots {shot} and web_camera_{backend}.png")


def test_page_refuses_a_runtime_file_whose_hash_differs(chromium, site, tmp_path):
    folder = tmp_path / "site"
    shutil.copytree(site["folder"], folder)
    wasm = folder / "litert" / "core" / "wasm"
    for path in wasm.glob("*.wasm"):  # one changed byte in each build the page may pick
        data = bytearray(path.read_bytes())
        data[-1] ^= 0xFF
        path.write_bytes(bytes(data))
    with browser.serve_folder(folder) as url, browser.Chromium(chromium) as page:
        page.goto(f"{url}index.html?backend=wasm")
        with pytest.raises(browser.ChromiumError):
            page.evaluate("window.kerasfer.ready", timeout=60)
        assert page.evaluate("kerasfer.stats().backend") is None
        assert "hash differs" in page.evaluate("document.getElementById('error').textContent")
