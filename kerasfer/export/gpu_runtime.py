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

ACCELERATOR_LIBRARIES = (
    "libLiteRtWebGpuAccelerator.so",
    "libLiteRtWebGpuAccelerator.dylib",
    "LiteRtWebGpuAccelerator.dll",
)
VULKAN_LOADER = "libvulkan.so.1"
SWIFTSHADER_ICD_ENV = "KERASFER_SWIFTSHADER_ICD"
SWIFTSHADER_ICD_NAME = "vk_swiftshader_icd.json"
# Where browsers install SwiftShader next to themselves.
SWIFTSHADER_ICD_PATHS = (
    "/usr/lib/chromium/vk_swiftshader_icd.json",  # Debian / Ubuntu: chromium-common
    "/usr/lib64/chromium-browser/vk_swiftshader_icd.json",  # Fedora / RHEL
    "/usr/lib/chromium-browser/vk_swiftshader_icd.json",
    "/opt/google/chrome/vk_swiftshader_icd.json",  # Google Chrome
    "/snap/chromium/current/usr/lib/chromium-browser/vk_swiftshader_icd.json",
)
_ICD_VARIABLES = ("VK_ICD_FILENAMES", "VK_DRIVER_FILES")
_WORKER_MODULE = "kerasfer.export.gpu_runtime"


class GpuUnavailableError(RuntimeError):
    """No GPU adapter the accelerator accepts, or no accelerator library: the message says which and why."""


class GpuRuntimeError(RuntimeError):
    """The GPU run failed for another reason (compile error, crash, time-out); the message holds the log's gist."""


@dataclasses.dataclass(frozen=True)
class UnsupportedOp:
    """An op the GPU delegate refused, with the delegate's reason."""

    op: str
    reason: str

    def __str__(self):
        return f"{self.op}: {self.reason}" if self.reason else self.op


@dataclasses.dataclass
class GpuRunResult:
    """What `run_on_gpu` found.

    Attributes:
        fully_accelerated: every op ran on the GPU (`CompiledModel.is_fully_accelerated()`, and no op refused).
        not_accelerated: the ops the delegate refused (empty when fully accelerated).
        outputs: `(N, ...)` float32 GPU outputs (dequantized), or None when the GPU-only compile was refused.
        cpu_outputs: the CPU outputs of the same file (`TFLiteRunner(...).raw`), or None (`compare_cpu=False`).
        max_abs_diff: `max |outputs - cpu_outputs|`, or None.
        gpu_median_ms: median of `runs` GPU runs of one image (write input, run, read output), or None.
        cpu_median_ms: the same for the CPU (`TFLiteRunner.raw` of one image), or None.
        compile_ms: creating the compiled model (delegate, shaders), or None.
        first_run_ms: the first GPU run (lazy work), or None.
        adapter: Dawn's "Selected adapter" line (name, vendor, backend, type), when logged.
        accelerator: the GPU accelerator library LiteRT loaded.
        accelerators: `"gpu"` or `"gpu+cpu"` (with `allow_cpu_fallback`).
        enforce_f32: whether GPU math was forced to float32.
        runs: the number of timed runs.
        delegate_summary: the delegate's "N operations will run on the GPU, ..." line, when logged.
        error: why there are no outputs (the GPU-only compile refused), else None.
        log: the native log of the GPU process (stderr), for digging.
    """

    fully_accelerated: bool
    not_accelerated: tuple = ()
    outputs: np.ndarray | None = None
    cpu_outputs: np.ndarray | None = None
    max_abs_diff: float | None = None
    gpu_median_ms: float | None = None
    cpu_median_ms: float | None = None
    compile_ms: float | None = None
    first_run_ms: float | None = None
    adapter: str | None = None
    accelerator: str | None = None
    accelerators: str = "gpu"
    enforce_f32: bool = False
    runs: int = 0
    delegate_summary: str | None = None
    error: str | None = None
    log: str = dataclasses.field(default="", repr=False)

    def summary(self) -> str:
        """One line: accelerated or not (and which ops), the difference and the latencies."""
        parts = ["fully accelerated" if self.fully_accelerated else "NOT fully accelerated"]
        if self.not_accelerated:
            parts.append("refused: " + "; ".join(str(op) for op in self.not_accelerated))
        if self.max_abs_diff is not None:
            parts.append(f"max |GPU - CPU| = {self.max_abs_diff:.3g}")
        if self.gpu_median_ms is not None:
            parts.append(f"GPU {self.gpu_median_ms:.3f} ms")
        if self.cpu_median_ms is not None:
            parts.append(f"CPU {self.cpu_median_ms:.3f} ms")
        if self.adapter:
            parts.append(f"on {self.adapter.split(',')[0]}")
        if self.error:
            parts.append(self.error)
        return ", ".join(parts)


# ---------------------------------------------------------------------------------------------------------------
# Finding the pieces


def _litert_dir() -> pathlib.Path:
    try:
        import ai_edge_litert
    except ImportError as e:
        raise GpuUnavailableError(
            "The GPU accelerator comes with ai-edge-litert, which is not installed: pip install 'kerasfer[tflite]'."
        ) from e
    return pathlib.Path(ai_edge_litert.__file__).resolve().parent


def accelerator_library() -> pathlib.Path:
    """The path of LiteRT's GPU (WebGPU) accelerator library inside the installed `ai_edge_litert`.

    Raises:
        GpuUnavailableError: ai-edge-litert is missing, or this build of it has no GPU accelerator.
    """
    folder = _litert_dir()
    for name in ACCELERATOR_LIBRARIES:
        if (folder / name).is_file():
            return folder / name
    try:
        from importlib.metadata import version

        installed = f"ai-edge-litert {version('ai-edge-litert')}"
    except Exception:  # noqa: BLE001 - only for the message
        installed = "the installed ai-edge-litert"
    raise GpuUnavailableError(
        f"{installed} has no GPU accelerator library ({' / '.join(ACCELERATOR_LIBRARIES)} not in {folder}); "
        "ai-edge-litert >= 2.3 ships libLiteRtWebGpuAccelerator.so for Linux x86_64."
    )


def _icd_in(path: pathlib.Path) -> pathlib.Path | None:
    if path.is_file():
        return path
    if path.is_dir():
        for candidate in (path / SWIFTSHADER_ICD_NAME, path / "usr" / "lib" / "chromium" / SWIFTSHADER_ICD_NAME):
            if candidate.is_file():
                return candidate
    return None


def find_swiftshader_icd(extra_paths=()) -> pathlib.Path | None:
    """A SwiftShader Vulkan ICD manifest (`vk_swiftshader_icd.json`) on this machine, or None.

    Looks at `extra_paths` (files, or folders holding the manifest directly or under `usr/lib/chromium/`, as
    `dpkg-deb -x chromium-common_*.deb DIR` lays it out), then `$KERASFER_SWIFTSHADER_ICD` (same forms), then
    `swiftshader_cache_dir()`, then where browsers install it (`SWIFTSHADER_ICD_PATHS`). Only manifests whose
    library sits beside them count.
    """
    candidates = [pathlib.Path(p) for p in extra_paths]
    if os.environ.get(SWIFTSHADER_ICD_ENV):
        candidates.append(pathlib.Path(os.environ[SWIFTSHADER_ICD_ENV]))
    candidates.append(swiftshader_cache_dir())
    candidates.extend(pathlib.Path(p) for p in SWIFTSHADER_ICD_PATHS)
    for candidate in candidates:
        icd = _icd_in(candidate)
        if icd is not None and _icd_library(icd) is not None:
            return icd.resolve()
    return None


def swiftshader_cache_dir() -> pathlib.Path:
    """Where `find_swiftshader_icd` also looks: `$XDG_CACHE_HOME/kerasfer/swiftshader` (`~/.cache/...`).

    Copy `libvk_swiftshader.so`, `vk_swiftshader_icd.json` and, for machines without `libvulkan1`,
    `libvulkan.so.1` from Debian's `chromium-common` package (`usr/lib/chromium/`) there."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return pathlib.Path(cache) / "kerasfer" / "swiftshader"


def _icd_library(icd: pathlib.Path) -> pathlib.Path | None:
    """The driver library an ICD manifest names (resolved beside the manifest), when it exists."""
    try:
        library = json.loads(icd.read_text(encoding="utf-8"))["ICD"]["library_path"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    path = pathlib.Path(library)
    if not path.is_absolute():
        if "/" not in library:
            return path  # a bare name: the loader searches the library path; trust it
        path = icd.parent / path
    return path if path.is_file() else None


def _system_has_vulkan_loader() -> bool:
    import ctypes

    try:
        ctypes.CDLL(VULKAN_LOADER)
        return True
    except OSError:
        return False


def _resolve_icd(vulkan_icd) -> pathlib.Path | None:
    if vulkan_icd is None or vulkan_icd == "system":
        return None
    if vulkan_icd == "swiftshader":
        icd = find_swiftshader_icd()
        if icd is None:
            raise GpuUnavailableError(f"No SwiftShader Vulkan ICD found ({_swiftshader_hint()}).")
        return icd
    path = pathlib.Path(vulkan_icd)
    icd = _icd_in(path)
    if icd is None:
        raise GpuUnavailableError(f"No Vulkan ICD manifest at {path}.")
    if _icd_library(icd) is None:
        raise GpuUnavailableError(f"The Vulkan ICD manifest {icd} names a driver library that does not exist.")
    return icd.resolve()


def _swiftshader_hint() -> str:
    return (
        f"looked at ${SWIFTSHADER_ICD_ENV} and {', '.join(SWIFTSHADER_ICD_PATHS[:1])}, ...; on Debian/Ubuntu: "
        "apt-get install chromium-common, or without its dependencies: apt-get download chromium-common && "
        f"dpkg-deb -x chromium-common_*.deb DIR, then export {SWIFTSHADER_ICD_ENV}=DIR or copy DIR/usr/lib/chromium/"
        f"{{libvk_swiftshader.so,{SWIFTSHADER_ICD_NAME},{VULKAN_LOADER}}} to {swiftshader_cache_dir()}"
    )


def vulkan_environment(vulkan_icd=None, vulkan_loader=None, base=None) -> dict:
    """The environment for a process that should use `vulkan_icd` (see the module docstring) and `vulkan_loader`.

    Args:
        vulkan_icd: None / `"system"` (unchanged), `"swiftshader"`, or an ICD manifest path (or its folder).
        vulkan_loader: a `libvulkan.so.1` file, or its folder, put first on `LD_LIBRARY_PATH`; by default the one
            beside the ICD when the system has none (Chromium ships one beside SwiftShader).
        base: the environment to start from (default: `os.environ`).

    Returns:
        A new dict.
    """
    env = dict(os.environ if base is None else base)
    icd = _resolve_icd(vulkan_icd)
    if icd is not None:
        for name in _ICD_VARIABLES:
            env[name] = str(icd)
    loader_dir = None
    if vulkan_loader is not None:
        loader = pathlib.Path(vulkan_loader)
        loader_dir = loader if loader.is_dir() else loader.parent
        if not (loader_dir / VULKAN_LOADER).is_file():
            raise GpuUnavailableError(f"No {VULKAN_LOADER} at {loader_dir}.")
    elif icd is not None and (icd.parent / VULKAN_LOADER).is_file() and not _system_has_vulkan_loader():
        loader_dir = icd.parent
    if loader_dir is not None:
        env["LD_LIBRARY_PATH"] = os.pathsep.join(p for p in (str(loader_dir), env.get("LD_LIBRARY_PATH")) if p)
    return env


# ---------------------------------------------------------------------------------------------------------------
# The native log


_ADAPTER = re.compile(r"Selected adapter: (.*)")
_ACCELERATOR = re.compile(r"Dynamically loaded GPU accelerator\((.*?)\) registered")
_REFUSED_ADAPTER = re.compile(r"Warning: (.+)\n\s*- While initializing adapter \(backend=([^)]*)\)")
_NO_LOADER = re.compile(r"Couldn't load Vulkan: (.*)")
_DELEGATE_SUMMARY = re.compile(r"^(?:\d+|No) operations will run on the .*$", re.M)
_UNSUPPORTED_HEADER = "Following operations are not supported by GPU delegate:"
_OP_LINE = re.compile(r"^([A-Z][A-Z0-9_]*): (.*)$")


@dataclasses.dataclass
class _Log:
    text: str

    @property
    def adapter(self):
        m = _ADAPTER.search(self.text)
        return m.group(1).strip() if m else None

    @property
    def accelerator(self):
        found = _ACCELERATOR.findall(self.text)
        return found[-1] if found else None

    @property
    def delegate_summary(self):
        m = _DELEGATE_SUMMARY.search(self.text)
        return m.group(0).strip() if m else None

    def unsupported_ops(self) -> tuple:
        ops, seen = [], set()
        lines = self.text.splitlines()
        for i, line in enumerate(lines):
            if _UNSUPPORTED_HEADER not in line:
                continue
            for follow in lines[i + 1 :]:
                m = _OP_LINE.match(follow.strip())
                if not m:
                    break
                op = UnsupportedOp(m.group(1), m.group(2).strip())
                if op not in seen:
                    seen.add(op)
                    ops.append(op)
        return tuple(ops)

    def why_no_adapter(self) -> str | None:
        """Why Dawn found no adapter, from the log; None when it found one or the log does not say."""
        if self.adapter:
            return None
        reasons = []
        m = _NO_LOADER.search(self.text)
        if m:
            reasons.append(
                f"no Vulkan loader ({m.group(1).strip()}): install libvulkan1, or pass vulkan_loader= a folder "
                f"with {VULKAN_LOADER}"
            )
        if "Found no drivers" in self.text or "VK_ERROR_INCOMPATIBLE_DRIVER" in self.text:
            missing = re.findall(r"Failed to open JSON file (\S+)", self.text)
            detail = f" (cannot open {', '.join(missing)})" if missing else ""
            reasons.append(f"the Vulkan loader found no driver{detail}")
        for message, backend in _REFUSED_ADAPTER.findall(self.text):
            backend = backend.replace("BackendType::", "")
            reasons.append(f"Dawn refused the {backend} adapter: {message.strip().rstrip('.')}")
        if "No adapters found" in self.text or "No supported adapters" in self.text:
            reasons.append("no WebGPU adapter found")
        return "; ".join(reasons) if reasons else None

    def gist(self, limit: int = 12) -> str:
        """The error lines of the log (the last `limit` of them)."""
        keep = [
            line.strip()
            for line in self.text.splitlines()
            if re.match(r"^(ERROR|E\d{4}|Warning|F\d{4}|Fatal|Check failed|Traceback|\w+Error)", line.strip())
            and "compiler_plugin" not in line
            and "XDG_RUNTIME_DIR" not in line
        ]
        if not keep:  # nothing that looks like an error: the last lines, less the loader's chatter
            keep = [
                line.strip()
                for line in self.text.splitlines()
                if line.strip() and not re.search(r"registry|compiler_plugin|XDG_RUNTIME_DIR|^└", line)
            ]
            limit = min(limit, 4)
        return "\n".join(keep[-limit:])


# ---------------------------------------------------------------------------------------------------------------
# The child process


def _package_root() -> str:
    return str(pathlib.Path(__file__).resolve().parents[2])


def _run_worker(request: dict, env: dict, timeout: float) -> tuple[dict | None, _Log, int]:
    """Runs one request in a child process; returns (its result JSON or None, its log, its return code)."""
    env = dict(env)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_package_root(), env.get("PYTHONPATH")) if p)
    with tempfile.TemporaryDirectory(prefix="kerasfer_gpu_") as tmp:
        request = dict(request, result=os.path.join(tmp, "result.json"), outputs=os.path.join(tmp, "outputs.npy"))
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
# Availability


def probe_model() -> bytes:
    """A one-op `.tflite` (float32 `(1, 2, 2, 4)` input plus a constant: ADD), built without TensorFlow."""
    import flatbuffers

    from kerasfer.export import flatbuffer

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
    from kerasfer.inference.runners import make_interpreter

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
    from kerasfer.inference.runners import TFLiteRunner

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

    from kerasfer.inference.runners import dequantize
    from kerasfer.inference.runners import quantize_input

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
    ok, reason = gpu_available(args.vulkan_icd, args.vulkan_loader)
    print(("GPU available: " if ok else "GPU not available: ") + reason)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
