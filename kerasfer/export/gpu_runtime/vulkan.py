"""Finding the pieces of a GPU run: LiteRT's GPU accelerator library, a Vulkan driver (ICD manifest, SwiftShader)
and the Vulkan loader, and the environment a child process needs to use them (`vulkan_environment`)."""

from __future__ import annotations

import json
import os
import pathlib

from kerasfer.export.gpu_runtime.types import GpuUnavailableError

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
