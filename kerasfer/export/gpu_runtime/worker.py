"""The child process of a GPU run: the parent's side (`_run_worker`: a request in, its result and native log out)
and the worker's (`_worker`, run as `python -m kerasfer.export.gpu_runtime --worker REQUEST`; it imports
only numpy and ai_edge_litert)."""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np

from kerasfer.export.gpu_runtime.log import _Log
from kerasfer.export.gpu_runtime.types import GpuRuntimeError

_WORKER_MODULE = "kerasfer.export.gpu_runtime"  # its __main__ runs `_main`


# ---------------------------------------------------------------------------------------------------------------
# The child process


def _package_root() -> str:
    return str(pathlib.Path(__file__).resolve().parents[3])


def _run_worker(request: dict, env: dict, timeout: float) -> tuple[dict | None, _Log, int]:
    """Runs one request in a child process; returns (its result JSON or None, its log, its return code)."""
    env = dict(env)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_package_root(), env.get("PYTHONPATH")) if p)
    with tempfile.TemporaryDirectory(prefix="kerasfer_gpu_") as tmp:
        request = dict(
            request, result=os.path.join(tmp, "worker_result.json"), outputs=os.path.join(tmp, "outputs.npy")
        )
        if "images" in request and not isinstance(request["images"], str):
            path = os.path.join(tmp, "images.npy")
            np.save(path, request["images"])
            request["images"] = path
        if isinstance(request.get("model"), bytes | bytearray):
            path = os.path.join(tmp, "model.tflite")
            pathlib.Path(path).write_bytes(bytes(request["model"]))
            request["model"] = path
        request_path = os.path.join(tmp, "request.json")
        pathlib.Path(request_path).write_text(json.dumps(request), encoding="utf-8")
        command = [sys.executable, "-m", _WORKER_MODULE, "--worker", request_path]
        try:
            proc = subprocess.run(command, env=env, capture_output=True, text=True, errors="replace", timeout=timeout)
        except subprocess.TimeoutExpired as e:
            log = _Log((e.stderr or b"").decode("utf-8", "replace") if isinstance(e.stderr, bytes) else e.stderr or "")
            raise GpuRuntimeError(f"The GPU run did not finish within {timeout:.0f} s.\n{log.gist()}") from e
        log = _Log(proc.stderr + ("\n" + proc.stdout if proc.stdout.strip() else ""))
        result = None
        if os.path.isfile(request["result"]):
            result = json.loads(pathlib.Path(request["result"]).read_text(encoding="utf-8"))
            if os.path.isfile(request["outputs"]):
                result["outputs"] = np.load(request["outputs"])
        return result, log, proc.returncode


def _died(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"the GPU process died with {name} (a crash inside LiteRT's GPU accelerator or the Vulkan driver)"
    return f"the GPU process exited with status {returncode}"


# ---------------------------------------------------------------------------------------------------------------
# The worker (runs in the child process; imports only numpy and ai_edge_litert)


def _worker(request_path: str) -> int:
    request = json.loads(pathlib.Path(request_path).read_text(encoding="utf-8"))
    result_path = request["result"]

    def finish(**fields):
        pathlib.Path(result_path).write_text(json.dumps(fields), encoding="utf-8")

    from ai_edge_litert.compiled_model import CompiledModel
    from ai_edge_litert.hardware_accelerator import HardwareAccelerator
    from ai_edge_litert.options import GpuOptions
    from ai_edge_litert.options import Options

    accelerators = HardwareAccelerator.GPU
    if request.get("accelerators") == "gpu+cpu":
        accelerators |= HardwareAccelerator.CPU
    options = Options(
        hardware_accelerators=accelerators, gpu_options=GpuOptions(enforce_f32=request.get("enforce_f32", False))
    )
    images = np.load(request["images"])
    t0 = time.perf_counter()
    try:
        compiled = CompiledModel.from_file(request["model"], options=options)
    except Exception as e:  # noqa: BLE001 - reported to the parent, with the native log
        finish(ok=False, stage="compile", error=f"{type(e).__name__}: {e}")
        return 0
    compile_ms = (time.perf_counter() - t0) * 1e3
    try:
        fully = compiled.is_fully_accelerated()
        inputs = compiled.create_input_buffers(0)
        outputs = compiled.create_output_buffers(0)
        if len(inputs) != 1 or len(outputs) != 1:
            finish(
                ok=False, stage="buffers", error=f"{len(inputs)} inputs and {len(outputs)} outputs; expected 1 and 1"
            )
            return 0
        details = outputs[0].get_tensor_details()
        out_shape = [int(d) for d in details["shape"]]
        out_dtype = np.dtype(str(details["dtype"]))
        count = int(np.prod(out_shape))

        def run(image):
            inputs[0].write(np.ascontiguousarray(image[None]))
            compiled.run_by_index(0, inputs, outputs)
            return outputs[0].read(count, out_dtype)

        t0 = time.perf_counter()
        results = [run(images[0])]
        first_run_ms = (time.perf_counter() - t0) * 1e3
        results.extend(run(image) for image in images[1:])
        for _ in range(int(request.get("warmup", 0))):
            run(images[0])
        times = []
        for _ in range(int(request.get("runs", 0))):
            t0 = time.perf_counter()
            run(images[0])
            times.append((time.perf_counter() - t0) * 1e3)
    except Exception as e:  # noqa: BLE001 - reported to the parent, with the native log
        finish(ok=False, stage="run", error=f"{type(e).__name__}: {e}")
        return 0
    batch_shape = [len(images), *out_shape[1:]] if out_shape and out_shape[0] == 1 else [len(images), *out_shape]
    np.save(request["outputs"], np.stack(results).reshape(batch_shape))
    finish(ok=True, fully_accelerated=bool(fully), compile_ms=compile_ms, first_run_ms=first_run_ms, times_ms=times)
    return 0


def _main(argv) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog=f"python -m {_WORKER_MODULE}", description="Whether LiteRT's GPU accelerator finds an adapter here."
    )
    parser.add_argument("--worker", metavar="REQUEST", help=argparse.SUPPRESS)
    parser.add_argument("--vulkan-icd", default=None, help="'swiftshader', 'auto', or an ICD manifest path")
    parser.add_argument("--vulkan-loader", default=None, help="a folder with libvulkan.so.1")
    args = parser.parse_args(argv)
    if args.worker:
        return _worker(args.worker)
    from kerasfer.export.gpu_runtime import gpu_available

    ok, reason = gpu_available(args.vulkan_icd, args.vulkan_loader)
    print(("GPU available: " if ok else "GPU not available: ") + reason)
    return 0 if ok else 1
