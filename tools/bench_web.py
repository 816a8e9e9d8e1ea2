"""Frames per second of the web export (`kerasfer export --web`) in headless Chromium: WASM vs WebGPU in one run.

Exports the packaged default model (fp16, `--model` / `--quantization` for another) with LiteRT.js from the npm
cache (`kerasfer.export.browser.install_litert_js`), serves the folder on 127.0.0.1, and, for each backend, starts
Chromium with a fake 640x480 camera showing a face (`skimage.data.astronaut()`, about 200 px, one face per frame),
starts the page's camera loop, then times `kerasfer.benchmark(seconds)`: the whole page pipeline (frame to canvas,
BlazeFace, alignment, classifier) back to back on the camera's frames, without waiting for new frames or drawing.
The camera loop's own rate (capped by the fake camera's 25 fps) is printed too. WebGPU runs on the adapter
Chromium offers (SwiftShader, a CPU Vulkan, on machines without a GPU); where there is none the row says so.

Usage (figures depend on the machine's load; it is printed with them):

    python tools/bench_web.py                   # WASM and WebGPU, 8 s each
    python tools/bench_web.py --backends wasm --seconds 20 --json web_fps.json
"""

import argparse
import json
import os
import sys
import tempfile
import time


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="what `kerasfer export --web` takes (default: packaged default)")
    parser.add_argument("--quantization", default="fp16", choices=["fp32", "fp16", "dynamic"])
    parser.add_argument("--backends", nargs="+", default=["wasm", "webgpu"], choices=["wasm", "webgpu"])
    parser.add_argument("--seconds", type=float, default=8.0, help="timed seconds per backend")
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args(argv)

    import cv2
    import numpy as np
    import skimage.data

    from kerasfer.export import browser
    from kerasfer.export.bench import machine_info
    from kerasfer.export.web import export_web

    chromium = browser.find_chromium()
    if chromium is None:
        print("no Chromium found (apt-get install chromium, or set KERASFER_CHROMIUM)", file=sys.stderr)
        return 2
    core = browser.install_litert_js()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        result = export_web(os.path.join(tmp, "site"), args.model, quantization=args.quantization, litert_js=core)
        face = skimage.data.astronaut()[20:240, 120:330]
        big = cv2.resize(face, (face.shape[1] * 2, face.shape[0] * 2), interpolation=cv2.INTER_LINEAR)
        frames = np.full((25, 480, 640, 3), 90, np.uint8)
        for i, frame in enumerate(frames):
            x = 60 + 4 * i
            frame[20 : 20 + big.shape[0], x : x + big.shape[1]] = big
        camera = browser.write_y4m(os.path.join(tmp, "camera.y4m"), frames)
        with browser.serve_folder(result.folder) as url:
            for backend in args.backends:
                with browser.Chromium(chromium, fake_camera=camera, webgpu=backend == "webgpu", timeout=120) as page:
                    page.goto(f"{url}index.html?backend={backend}")
                    page.evaluate("window.kerasfer.ready")
                    stats = page.evaluate("kerasfer.stats()")
                    if stats["backend"] != backend:
                        rows.append({"backend": backend, "error": "no WebGPU adapter in this Chromium"})
                        continue
                    page.evaluate("kerasfer.startCamera()")
                    page.wait_for("kerasfer.stats().frames >= 5", timeout=120)  # warm-up
                    start = page.evaluate("kerasfer.stats().frames")
                    time.sleep(min(args.seconds, 5.0))
                    camera_fps = (page.evaluate("kerasfer.stats().frames") - start) / min(args.seconds, 5.0)
                    bench = page.evaluate(f"kerasfer.benchmark({args.seconds})", timeout=args.seconds + 120)
                    rows.append({"backend": backend, "adapter": stats["adapter"] if backend == "webgpu" else "CPU",
                                 "fully_accelerated": stats["fully_accelerated"], "camera_loop_fps": camera_fps,
                                 **bench})  # fmt: skip
    info = machine_info()
    print(f"# web page, {result.source} ({args.quantization}), LiteRT.js {result.config['litert']['version']}, "
          f"headless Chromium, 640x480 fake camera, one face")  # fmt: skip
    print("| backend | device | pipeline fps | detect ms | classify ms | camera-loop fps | faces/frame |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in rows:
        if "error" in r:
            print(f"| {r['backend']} | {r['error']} | - | - | - | - | - |")
            continue
        print(f"| {r['backend']} | {r['adapter']} | {r['fps']:.1f} | {r['detect_ms']:.1f} | {r['classify_ms']:.1f} "
              f"| {r['camera_loop_fps']:.1f} | {r['faces']:.2f} |")  # fmt: skip
    print(f"\nmachine: {info['cpu']}, {info['cpu_count']} cores, load {info['load_average']}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"machine": info, "rows": rows}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
