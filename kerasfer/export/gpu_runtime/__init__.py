"""Runs a `.tflite` on LiteRT's GPU accelerator at run time and compares it with the CPU.

`kerasfer.export.gpu_check` reads the flatbuffer and applies the delegate's rules; this module runs the model.
`ai-edge-litert` ships LiteRT's desktop GPU accelerator (`libLiteRtWebGpuAccelerator.so`: ML Drift, the same GPU
code as on Android, over WebGPU through Dawn, on Vulkan under Linux). `run_on_gpu` compiles the model with the
GPU accelerator **only** (`HardwareAccelerator.GPU`, no CPU fallback), runs the images, and returns whether the
graph was fully accelerated (with the ops the delegate refused, from its log), the outputs, their largest
difference from the CPU run of the same file (`TFLiteRunner`), and median latencies.

With the GPU alone, LiteRT refuses to compile a graph that the delegate takes only in part; the delegate logs
which ops it refused ("Following operations are not supported by GPU delegate: ..."). That refusal comes back
as a result with `fully_accelerated=False` and `not_accelerated` naming the ops (no outputs);
`allow_cpu_fallback=True` compiles with GPU + CPU instead and runs the split graph.

Each GPU run happens in a child Python process (`python -m kerasfer.export.gpu_runtime --worker ...`):

* the reasons (no Vulkan loader, Dawn refusing an adapter, refused ops) are only written by the native code to
  the process's stderr, which the parent reads;
* the Vulkan loader's variables (`VK_ICD_FILENAMES` / `VK_DRIVER_FILES`, `LD_LIBRARY_PATH` for a carried
  `libvulkan.so.1`) are read when a process starts or first creates a Vulkan instance;
* a crash inside the accelerator (LiteRT 2.3 dies with SIGILL on a CUMSUM, for instance) is reported as a
  `GpuRuntimeError` instead of killing the caller.

Which Vulkan driver: `vulkan_icd=None` leaves the loader's own choice (the system's drivers, or the caller's
`VK_ICD_FILENAMES`); a path names one ICD manifest (`*.json`); `"swiftshader"` finds Google's SwiftShader (a
CPU Vulkan that Dawn accepts: Debian's `chromium-common` ships it as `/usr/lib/chromium/vk_swiftshader_icd.json`,
or set `KERASFER_SWIFTSHADER_ICD`); `"auto"` takes the system's adapter and else SwiftShader. Mesa's lavapipe as
shipped in Debian 12 (Mesa 22.3) is refused by Dawn ("Vulkan shaderUniform*ArrayDynamicIndexing required").
`gpu_available()` says, as `(bool, reason)`, whether an adapter is there and, if not, why.

Only numpy and ai-edge-litert are needed (no TensorFlow), so exported files can be carried to a GPU machine.

The work is split by job: `vulkan` (finding the accelerator, the Vulkan driver and loader), `log` (reading the native
log), `worker` (the child process, both sides), `types` (results and errors); this module is the API (`run_on_gpu`,
`gpu_available`, `probe_model`) and re-exports the rest. `python -m kerasfer.export.gpu_runtime` says whether a GPU
adapter is found here.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np

from kerasfer.export.gpu_runtime.log import _Log
from kerasfer.export.gpu_runtime.types import GpuRunResult
from kerasfer.export.gpu_runtime.types import GpuRuntimeError
from kerasfer.export.gpu_runtime.types import GpuUnavailableError
from kerasfer.export.gpu_runtime.types import UnsupportedOp
from kerasfer.export.gpu_runtime.vulkan import _ICD_VARIABLES
from kerasfer.export.gpu_runtime.vulkan import ACCELERATOR_LIBRARIES
from kerasfer.export.gpu_runtime.vulkan import SWIFTSHADER_ICD_ENV
from kerasfer.export.gpu_runtime.vulkan import SWIFTSHADER_ICD_NAME
from kerasfer.export.gpu_runtime.vulkan import SWIFTSHADER_ICD_PATHS
from kerasfer.export.gpu_runtime.vulkan import VULKAN_LOADER
from kerasfer.export.gpu_runtime.vulkan import _swiftshader_hint
from kerasfer.export.gpu_runtime.vulkan import accelerator_library
from kerasfer.export.gpu_runtime.vulkan import find_swiftshader_icd
from kerasfer.export.gpu_runtime.vulkan import swiftshader_cache_dir
from kerasfer.export.gpu_runtime.vulkan import vulkan_environment
from kerasfer.export.gpu_runtime.worker import _died
from kerasfer.export.gpu_runtime.worker import _run_worker

# ---------------------------------------------------------------------------------------------------------------
# Availability


def probe_model() -> bytes:
    """A one-op `.tflite` (float32 `(1, 2, 2, 4)` input plus a constant: ADD), built without TensorFlow."""
    import flatbuffers

    from kerasfer.runtime import flatbuffer

    s = flatbuffer.schema()
    shape = [1, 2, 2, 4]
    model = s.ModelT()
    model.version = 3
    model.description = "kerasfer GPU probe"
    constant = s.BufferT()
    constant.data = np.arange(16, dtype=np.float32).tobytes()
    model.buffers = [s.BufferT(), constant]

    def tensor(name, buffer):
        t = s.TensorT()
        t.name, t.shape, t.type, t.buffer = name, shape, s.TensorType.FLOAT32, buffer
        return t

    graph = s.SubGraphT()
    graph.tensors = [tensor("x", 0), tensor("c", 1), tensor("y", 0)]
    graph.inputs, graph.outputs = [0], [2]
    code = s.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = s.BuiltinOperator.ADD
    code.version = 1
    model.operatorCodes = [code]
    op = s.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = 0, [0, 1], [2]
    op.builtinOptionsType = s.BuiltinOptions.AddOptions
    op.builtinOptions = s.AddOptionsT()
    graph.operators = [op]
    model.subgraphs = [graph]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


_PROBES: dict = {}


def _probe(env: dict, timeout: float) -> tuple[bool, str]:
    """`_probe_uncached`, once per Vulkan set-up (the variables the loader reads) and interpreter."""
    key = (sys.executable, *(env.get(k) for k in (*_ICD_VARIABLES, "LD_LIBRARY_PATH", "VK_LOADER_DRIVERS_SELECT")))
    if key not in _PROBES:
        _PROBES[key] = _probe_uncached(env, timeout)
    return _PROBES[key]


def _probe_uncached(env: dict, timeout: float) -> tuple[bool, str]:
    images = np.ones((1, 2, 2, 4), np.float32)
    request = {"model": probe_model(), "images": images, "accelerators": "gpu", "runs": 0, "warmup": 0}
    try:
        result, log, code = _run_worker(request, env, timeout)
    except GpuRuntimeError as e:
        return False, f"the GPU probe failed: {e}"
    settings = [f"VK_ICD_FILENAMES={env['VK_ICD_FILENAMES']}"] if env.get("VK_ICD_FILENAMES") else []
    if env.get("LD_LIBRARY_PATH") != os.environ.get("LD_LIBRARY_PATH"):
        settings.append(f"Vulkan loader from {env['LD_LIBRARY_PATH'].split(os.pathsep)[0]}")
    where = f" ({', '.join(settings)})" if settings else ""
    if result is not None and result.get("ok"):
        expected = images + np.arange(16, dtype=np.float32).reshape(images.shape)
        if not np.allclose(result["outputs"].reshape(expected.shape), expected, atol=1e-3):
            return False, f"the GPU adapter ({log.adapter}) computed a wrong sum on the probe model{where}"
        return True, f"{log.adapter or 'a GPU adapter'} via {log.accelerator or 'the GPU accelerator'}{where}"
    why = log.why_no_adapter()
    if why:
        return False, why + where
    if result is not None and result.get("error"):
        return False, f"the GPU accelerator failed on the probe model: {result['error']}{where}\n{log.gist()}"
    return False, f"{_died(code)} on the probe model{where}\n{log.gist()}"


def _check(vulkan_icd, vulkan_loader, timeout) -> tuple[bool, str, dict | None]:
    try:
        accelerator_library()
        env = vulkan_environment(vulkan_icd, vulkan_loader)
    except GpuUnavailableError as e:
        return False, str(e), None
    ok, reason = _probe(env, float(timeout))
    return ok, reason, env


def _select(vulkan_icd, vulkan_loader, timeout) -> tuple[bool, str, dict | None]:
    if vulkan_icd != "auto":
        return _check(vulkan_icd, vulkan_loader, timeout)
    ok, reason, env = _check(None, vulkan_loader, timeout)
    if ok:
        return ok, reason, env
    if find_swiftshader_icd() is None:
        return False, f"{reason}; and no SwiftShader ICD to fall back on ({_swiftshader_hint()})", None
    ok2, reason2, env2 = _check("swiftshader", vulkan_loader, timeout)
    if ok2:
        return True, f"{reason2}; the system's Vulkan: {reason}", env2
    return False, f"system Vulkan: {reason}; SwiftShader: {reason2}", None


def gpu_available(vulkan_icd=None, vulkan_loader=None, timeout: float = 120.0) -> tuple[bool, str]:
    """Whether LiteRT's GPU accelerator finds an adapter here, and why not.

    Runs a one-op model on the GPU in a child process (cached per Vulkan set-up, so asking again is free).

    Args:
        vulkan_icd: None (the loader's choice), `"swiftshader"`, `"auto"` (the system's, else SwiftShader) or an
            ICD manifest path.
        vulkan_loader: a folder (or file) with `libvulkan.so.1` to use (see `vulkan_environment`).
        timeout: seconds for the probe.

    Returns:
        `(True, "<adapter> via <accelerator library>")` or `(False, reason)`: ai-edge-litert or its accelerator
        missing, no Vulkan loader, no driver, Dawn refusing the adapter (with Dawn's message), a crash.
    """
    ok, reason, _ = _select(vulkan_icd, vulkan_loader, timeout)
    return ok, reason


# ---------------------------------------------------------------------------------------------------------------
# Running


def _tensor_details(model):
    from kerasfer.runtime.runners import make_interpreter

    interpreter = make_interpreter(model)
    inputs, outputs = interpreter.get_input_details(), interpreter.get_output_details()
    if len(inputs) != 1 or len(outputs) != 1:
        raise ValueError(f"run_on_gpu needs one input and one output; the model has {len(inputs)} and {len(outputs)}.")
    return inputs[0], outputs[0]


def _check_images(images, input_details) -> np.ndarray:
    images = np.asarray(images, dtype=np.float32)
    shape = tuple(int(d) for d in input_details["shape"][1:])
    if images.ndim == len(shape):
        images = images[None]
    if images.ndim != len(shape) + 1 or tuple(images.shape[1:]) != shape:
        raise ValueError(f"Expected images of shape (N, {', '.join(map(str, shape))}); got {images.shape}.")
    if len(images) == 0:
        raise ValueError("run_on_gpu needs at least one image.")
    if not np.all(np.isfinite(images)):
        raise ValueError("The images contain NaN or inf values.")
    return images


def _cpu_reference(model, images, runs, warmup, threads):
    from kerasfer.runtime.runners import TFLiteRunner

    runner = TFLiteRunner(model, num_threads=threads, output="probabilities")
    outputs = runner.raw(images)
    if runs <= 0:
        return outputs, None
    one = images[:1]
    for _ in range(warmup):
        runner.raw(one)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        runner.raw(one)
        times.append(time.perf_counter() - t0)
    return outputs, float(np.median(times) * 1e3)


def run_on_gpu(
    model,
    images,
    runs: int = 20,
    warmup: int = 3,
    allow_cpu_fallback: bool = False,
    enforce_f32: bool = False,
    compare_cpu: bool = True,
    cpu_threads: int | None = None,
    vulkan_icd=None,
    vulkan_loader=None,
    timeout: float = 600.0,
) -> GpuRunResult:
    """Compiles a `.tflite` for LiteRT's GPU accelerator alone, runs `images`, and compares with the CPU.

    Args:
        model: a `.tflite` path or its bytes (one input, one output: kerasfer exports are batch 1).
        images: `(N, H, W, C)` (or one `(H, W, C)`) raw pixels; int8 inputs are quantized with the input's
            scale and zero point. Each image is one GPU run.
        runs / warmup: timed and untimed runs of the first image, on the GPU and on the CPU (0: no timing).
        allow_cpu_fallback: compile with GPU + CPU, so a graph the delegate takes in part runs split
            (`fully_accelerated` then says whether it did); default False: GPU alone, no fallback.
        enforce_f32: force float32 GPU math (`GpuOptions.enforce_f32`); default False lets the delegate use
            float16 where the adapter supports it, as on phones.
        compare_cpu: also run the CPU (`TFLiteRunner(model, output="probabilities").raw`) for `max_abs_diff`.
        cpu_threads: the CPU interpreter's threads (None: LiteRT's default).
        vulkan_icd / vulkan_loader: which Vulkan driver and loader (see `gpu_available`).
        timeout: seconds for the GPU process.

    Returns:
        A `GpuRunResult`. A GPU-only compile that the delegate refused gives `fully_accelerated=False`, the
        refused ops in `not_accelerated`, no outputs and the reason in `error`.

    Raises:
        GpuUnavailableError: no accelerator library or no adapter (the message says why).
        GpuRuntimeError: the GPU process failed otherwise (compile error, crash, time-out).
        FileNotFoundError / ValueError: no such file, not a `.tflite`, images of the wrong shape.
    """
    if runs < 0 or warmup < 0:
        raise ValueError(f"runs and warmup must be >= 0, got runs={runs}, warmup={warmup}.")
    if isinstance(model, bytes | bytearray):
        model = bytes(model)
    else:
        model = pathlib.Path(model)
        if not model.is_file():
            raise FileNotFoundError(f"No such .tflite file: {model}")
        model = str(model.resolve())
    input_details, output_details = _tensor_details(model)
    images = _check_images(images, input_details)
    ok, reason, env = _select(vulkan_icd, vulkan_loader, min(float(timeout), 120.0))
    if not ok:
        raise GpuUnavailableError(f"No GPU adapter for LiteRT's GPU accelerator: {reason}")

    from kerasfer.runtime.runners import dequantize
    from kerasfer.runtime.runners import quantize_input

    accelerators = "gpu+cpu" if allow_cpu_fallback else "gpu"
    request = {
        "model": model,
        "images": quantize_input(images, input_details),
        "accelerators": accelerators,
        "enforce_f32": bool(enforce_f32),
        "runs": int(runs),
        "warmup": int(warmup),
    }
    result, log, code = _run_worker(request, env, timeout)
    if result is None:
        raise GpuRuntimeError(f"{_died(code)}.\n{log.gist()}")
    refused = log.unsupported_ops()
    common = {
        "not_accelerated": refused,
        "adapter": log.adapter,
        "accelerator": log.accelerator,
        "accelerators": accelerators,
        "enforce_f32": bool(enforce_f32),
        "delegate_summary": log.delegate_summary,
        "log": log.text,
    }
    if not result.get("ok"):
        if refused:
            error = f"the GPU accelerator alone cannot run this graph ({log.delegate_summary or 'ops refused'})"
            return GpuRunResult(fully_accelerated=False, error=error, **common)
        why = log.why_no_adapter()
        if why:
            raise GpuUnavailableError(f"No GPU adapter for LiteRT's GPU accelerator: {why}")
        raise GpuRuntimeError(
            f"LiteRT could not compile or run the model on the GPU: {result.get('error')}\n{log.gist()}"
        )
    if code != 0:
        raise GpuRuntimeError(f"{_died(code)} after the run.\n{log.gist()}")
    outputs = dequantize(result["outputs"], output_details).astype(np.float32)
    cpu_outputs = cpu_ms = diff = None
    if compare_cpu:
        cpu_outputs, cpu_ms = _cpu_reference(model, images, runs, warmup, cpu_threads)
        diff = float(np.max(np.abs(outputs.reshape(cpu_outputs.shape) - cpu_outputs)))
    times = result.get("times_ms") or []
    return GpuRunResult(
        fully_accelerated=bool(result["fully_accelerated"]) and not refused,
        outputs=outputs,
        cpu_outputs=cpu_outputs,
        max_abs_diff=diff,
        gpu_median_ms=float(np.median(times)) if times else None,
        cpu_median_ms=cpu_ms,
        compile_ms=result.get("compile_ms"),
        first_run_ms=result.get("first_run_ms"),
        runs=len(times),
        **common,
    )
